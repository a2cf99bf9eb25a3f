"""The compute buffer by simulation: ``llama_context::sched_reserve`` (src/llama-context.cpp @ 0c1e570)
reserves the prompt graph (``n_tokens = min(n_ctx, n_ubatch)`` rounded up to a multiple of ``n_seqs``,
``n_outputs = min(n_tokens, n_outputs_max)``), the token-generation graph (``n_seqs`` tokens and outputs)
and the prompt graph again; the scheduler's buffer (one CPU backend, one split, no copies:
ggml-backend.cpp ``ggml_backend_sched_split_graph``) grows to the largest ``ggml_gallocr_reserve_n`` asks
for, so the compute buffer is the larger of the two graphs' high-water marks.

Repeated layers: a deep model repeats one layer many times, and the allocator soon settles into a cycle —
after some layer ``k`` its state (free list, high-water mark, where each live tensor sits) is the state it
had after layer ``k - p`` (p = 1 or 2). From there every further identical layer replays the same steps,
so a model with fewer repeats (the same count modulo p) reaches the same buffer. :func:`graph_buffer`
simulates such a shortened graph and checks the cycle in it; without a proven cycle it simulates all
layers."""

from __future__ import annotations

from dataclasses import replace

from hubmem.estimate.engines.llamacpp.graph.alloc import Snapshot, reserve_traced
from hubmem.estimate.engines.llamacpp.graph.models import LAYERS, Frame, head
from hubmem.estimate.engines.llamacpp.graph.ops import Ctx
from hubmem.estimate.engines.llamacpp.graph.spec import GraphSpec
from hubmem.estimate.engines.llamacpp.graph.tensor import Tensor

KEPT = 6  # repeats kept in a shortened graph (7 when the count's parity asks)


def build_graph(s: GraphSpec, outs: list[Tensor] | None = None) -> Ctx:
    """The graph ``llama_model::build_graph`` makes for this batch (``outs``: each layer's output, filled)."""
    c = Ctx()
    f = Frame(c, s)
    cur = f.embd
    layer = LAYERS[s.arch]
    for il in range(s.n_layer):
        cur = layer(f, il, cur)
        if outs is not None:
            outs.append(cur)
    head(f, cur)
    return c


def _run(s: GraphSpec) -> tuple[int, int]:
    """The repeated layers: (the first, how many) — all layers but the last (and DeepSeek-2's dense lead);
    LFM2 and Gemma 3 mix layer kinds, so they have none. (A recurrent layer's state reads come before the
    previous layer's residual in the node order; the cut after each residual still falls at the same place
    of every repeat.)"""
    if (any(s.recurrent) and not all(s.recurrent)) or len(set(s.swa)) > 1:
        return 0, 0
    first = s.moe.n_dense_lead if s.moe is not None else 0
    return first, max(0, s.n_layer - 1 - first)


def _cycle(snaps: list[Snapshot], dropped: int) -> bool:
    """A state after repeat k equal to the one after repeat k - p, p dividing the dropped repeats' count."""
    return any(snaps[k] == snaps[k - p] for p in (1, 2) for k in range(p, len(snaps)) if dropped % p == 0)


def full_buffer(s: GraphSpec) -> int:
    """The high-water mark of the whole graph, every layer simulated."""
    g = build_graph(s).graph
    return reserve_traced(g.nodes, g.leafs, set())[0]


def graph_buffer(s: GraphSpec) -> int:
    """The high-water mark of the graph: a shortened graph where a cycle proves it equal, else the whole."""
    first, repeats = _run(s)
    keep = KEPT + (repeats - KEPT) % 2
    if repeats <= keep + 1:
        return full_buffer(s)
    short = replace(s, n_layer=s.n_layer - repeats + keep)
    outs: list[Tensor] = []
    g = build_graph(short, outs).graph
    index = {id(t): i for i, t in enumerate(g.nodes)}
    after = [index[id(outs[il])] for il in range(first, first + keep)]
    if after != sorted(after):
        return full_buffer(s)
    peak, snaps = reserve_traced(g.nodes, g.leafs, set(after))
    return peak if _cycle(snaps, repeats - keep) else full_buffer(s)


def graph_buffers(s: GraphSpec) -> tuple[int, int]:
    """The high-water marks of the prompt graph and of the token-generation graph (``n_seqs`` tokens and
    outputs); llama.cpp's compute buffer is the larger."""
    return graph_buffer(s), graph_buffer(replace(s, n_tokens=s.n_seqs, n_outputs=s.n_seqs))
