"""The compute buffer by simulation: ``llama_context::sched_reserve`` (src/llama-context.cpp @ 0c1e570)
reserves the prompt graph (``n_tokens = min(n_ctx, n_ubatch)`` rounded up to a multiple of ``n_seqs``,
``n_outputs = min(n_tokens, n_outputs_max)``), the token-generation graph (``n_seqs`` tokens and outputs)
and the prompt graph again; the scheduler's buffer (one CPU backend, one split, no copies:
ggml-backend.cpp ``ggml_backend_sched_split_graph``) grows to the largest ``ggml_gallocr_reserve_n`` asks
for, so the compute buffer is the larger of the two graphs' high-water marks."""

from __future__ import annotations

from dataclasses import replace

from hubmem.estimate.engines.llamacpp.graph.alloc import reserve
from hubmem.estimate.engines.llamacpp.graph.models import LAYERS, Frame, head
from hubmem.estimate.engines.llamacpp.graph.ops import Ctx
from hubmem.estimate.engines.llamacpp.graph.spec import GraphSpec


def build_graph(s: GraphSpec) -> Ctx:
    """The graph ``llama_model::build_graph`` makes for this batch."""
    c = Ctx()
    f = Frame(c, s)
    cur = f.embd
    layer = LAYERS[s.arch]
    for il in range(s.n_layer):
        cur = layer(f, il, cur)
    head(f, cur)
    return c


def graph_buffer(s: GraphSpec) -> int:
    g = build_graph(s).graph
    return reserve(g.nodes, g.leafs)


def graph_buffers(s: GraphSpec) -> tuple[int, int]:
    """The high-water marks of the prompt graph and of the token-generation graph (``n_seqs`` tokens and
    outputs); llama.cpp's compute buffer is the larger."""
    return graph_buffer(s), graph_buffer(replace(s, n_tokens=s.n_seqs, n_outputs=s.n_seqs))
