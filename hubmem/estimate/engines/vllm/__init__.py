"""vLLM's start-up memory accounting, rule by rule, as vLLM's own code does it (issue #12).

``era`` (which version's rules), ``settings`` (vLLM's defaults resolved), ``rope``, ``shard`` and
``weights`` ("Model loading took", quantized repacking included), ``budget`` (activation peak, non-torch,
CUDA graphs), ``pages`` and ``groups`` (page sizes, the hybrid block rule, groups, the per-request
reservation), ``pool`` (blocks, tokens, concurrency), ``refusals`` (vLLM's own messages), ``lines`` (the
printed lines) and ``startup`` (the report). Sources: vLLM's released wheels
0.6.4 ... 0.34.0 as cited per rule; the research note and calibration rows are in ../shared (engine-logs/).
"""
