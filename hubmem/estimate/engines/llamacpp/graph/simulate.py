"""The compute buffer by simulation: ``llama_context::sched_reserve`` (src/llama-context.cpp @ 0c1e570)
reserves the prompt graph (``n_tokens = min(n_ctx, n_ubatch)`` rounded up to a multiple of ``n_seqs``,
``n_outputs = min(n_tokens, n_outputs_max)``), the token-generation graph (``n_seqs`` tokens and outputs)
and the prompt graph again; the scheduler's buffer (one CPU backend, one split, no copies:
ggml-backend.cpp ``ggml_backend_sched_split_graph``) grows to the largest ``ggml_gallocr_reserve_n`` asks
for, so the compute buffer is the larger of the two graphs' high-water marks.

Repeated layers: a deep model repeats one layer (or a short pattern of layers, Gemma 3's 5 sliding + 1
global) many times, and the allocator soon settles into a cycle — after some layer ``k`` its state (free
list, high-water mark, where each live tensor sits) is the state it had after layer ``k - p`` (p one or two
periods of the pattern). From there every further period replays the same steps, so a model with fewer
repeats (the same count modulo p) reaches the same buffer. :func:`graph_buffer` simulates such a shortened
graph and checks the cycle in it; without a proven cycle it simulates all layers."""

from __future__ import annotations

import msgspec

from hubmem.estimate.engines.llamacpp.graph.alloc import Snapshot, reserve_traced
from hubmem.estimate.engines.llamacpp.graph.models import LAYERS, Frame, head
from hubmem.estimate.engines.llamacpp.graph.ops import Ctx
from hubmem.estimate.engines.llamacpp.graph.spec import GraphSpec
from hubmem.estimate.engines.llamacpp.graph.tensor import Tensor

PERIODS_KEPT = 3  # whole periods of the layer pattern kept in a shortened graph (up to 2 more) ...
LAYERS_KEPT = 6  # ... and at least this many layers


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


def _kind(s: GraphSpec, il: int) -> tuple[bool, bool]:
    return (bool(s.swa) and s.swa[il], s.recurrent[il])


def _run(s: GraphSpec) -> tuple[int, int, int]:
    """The repeated layers: (the first, how many, the period of their kinds) — all layers but the last (and
    DeepSeek-2's dense lead), whose kinds (sliding window, recurrent) repeat with the period: 1 for most
    models, 6 for Gemma 3's five sliding layers and one global. (A recurrent layer's state reads come before
    the previous layer's residual in the node order; the cut after each residual still falls at the same
    place of every period.)"""
    first = s.moe.n_dense_lead if s.moe is not None else 0
    repeats = max(0, s.n_layer - 1 - first)
    kinds = [_kind(s, il) for il in range(first, first + repeats)]
    for period in range(1, repeats // (2 * PERIODS_KEPT) + 1):  # the shortest period
        if all(kinds[i] == kinds[i - period] for i in range(period, repeats)):
            return first, repeats, period
    return first, 0, 1


def _cycle(snaps: list[Snapshot], period: int, dropped: int) -> bool:
    """A state after layer k equal to the one after layer k - p (p one or two periods), p dividing the count
    of dropped layers."""
    return any(
        snaps[k] == snaps[k - p]
        for p in (period, 2 * period)
        if dropped % p == 0
        for k in range(p, len(snaps))
    )


def full_buffer(s: GraphSpec) -> int:
    """The high-water mark of the whole graph, every layer simulated."""
    g = build_graph(s).graph
    return reserve_traced(g.nodes, g.leafs, set())[0]


def graph_buffer(s: GraphSpec) -> int:
    """The high-water mark of the graph: a shortened graph where a cycle proves it equal, else the whole."""
    first, repeats, period = _run(s)
    periods = max(PERIODS_KEPT, -(-LAYERS_KEPT // period))
    keep = periods * period + (repeats - periods * period) % (2 * period)
    if repeats <= keep + 2 * period:
        return full_buffer(s)
    n = first + keep
    short = msgspec.structs.replace(
        s,
        n_layer=n + 1,
        swa=(*s.swa[:n], s.swa[-1]) if s.swa else (),
        recurrent=(*s.recurrent[:n], s.recurrent[-1]),
    )
    outs: list[Tensor] = []
    g = build_graph(short, outs).graph
    index = {id(t): i for i, t in enumerate(g.nodes)}
    after = [index[id(outs[il])] for il in range(first, n)]
    if after != sorted(after):
        return full_buffer(s)
    peak, snaps = reserve_traced(g.nodes, g.leafs, set(after))
    return peak if _cycle(snaps, period, repeats - keep) else full_buffer(s)


def graph_buffers(s: GraphSpec) -> tuple[int, int]:
    """The high-water marks of the prompt graph and of the token-generation graph (``n_seqs`` tokens and
    outputs); llama.cpp's compute buffer is the larger."""
    return graph_buffer(s), graph_buffer(msgspec.structs.replace(s, n_tokens=s.n_seqs, n_outputs=s.n_seqs))
