"""Fuzzing hubmem with hostile input (issue #10): ``python -m scripts.fuzz`` (``run``: the long in-process run
with a watchdog, results in scripts/FUZZING.md) drives the code paths of ``targets`` with the mutation-based
inputs of ``inputs`` (``mutate``, ``seeds``, ``gguf_bytes``); ``strategies`` holds the hypothesis
strategies of the bounded property tests (tests/test_properties_*.py)."""
