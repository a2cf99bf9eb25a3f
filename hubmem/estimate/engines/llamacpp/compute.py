"""llama.cpp's output buffer (exact) and compute buffer at load, on the CPU backend (ggml-org/llama.cpp @
0c1e570).

Output buffer (``llama_context::output_reserve(n_seq_max)``, src/llama-context.cpp:2116-2172): the logits
of ``n_seq_max`` rows, ``n_vocab x n_seq_max x 4`` bytes.

Compute buffer (``sched_reserve``, src/llama-context.cpp:615-767): the high-water mark of ggml's best-fit
allocator over the worst-case prompt graph (``n_ubatch`` tokens, a full cache) and the token-generation
graph. For the architectures whose graph is ported (:mod:`hubmem.estimate.engines.llamacpp.graph`: llama,
dense or MoE (Mistral and Mixtral configs convert to it), qwen2, qwen3, qwen3moe, deepseek2 with MLA from a
GGUF, lfm2, mamba (1), gemma3) :func:`compute_buffer` simulates it: the graph llama.cpp builds, node for
node, and ggml-alloc's allocator over it (equal to llama.cpp's figure on every row of
scripts/VALIDATION.md). For the others no closed form is exact, and the phase model below stays the
fallback: the largest of three phases, each the live tensors at that point (T = ``n_ubatch`` rounded up to
a multiple of ``n_seq_max``; all f32 unless said; e = ``n_embd``, q = ``n_head x n_embd_head_k``):

* inputs, allocated first: token ids, positions, output ids (``12 T``), per cache the K (and with flash
  attention V) row indices (``8 T`` each); the KQ mask per cache ``n_kv x T`` (f16 with flash attention,
  f32 without); without flash attention the transposed V indices ``8 T x n_embd_v_gqa_max`` per cache;
* logits: ``[n_vocab, T_out]`` (a graph output, never freed) over k blocks of ``[e, T]`` (k = 2, 3 with a
  rotated quantized cache, 3 for recurrent models, 6 for MLA);
* attention without flash attention: the scores ``n_kv x T x n_head x 4`` + the inputs + ``3 e + 2 max(e, q)``
  blocks (MLA: ``3 e + 3 q``);
* feed-forward: ``3 n_ff`` blocks (MoE: ``n_ff_exp x n_expert_used``) + ``2 e + 2 q`` (flash attention) or
  ``3 e`` blocks + the inputs still live (with a single attention layer they are already freed).

Measured on llama.cpp's own logs before the simulation: gemma-3-270m within 0.24 %, Llama GQA within 0.01 %;
the residual elsewhere (up to 8.6 % for DeepSeek-2 MLA) is 1-3 blocks of ``[e, T]`` placed differently by the
allocator.
"""

from __future__ import annotations

from collections.abc import Mapping

from hubmem.estimate.engines.llamacpp.cparams import UNQUANTIZED
from hubmem.estimate.engines.llamacpp.graph.fromarch import graph_spec
from hubmem.estimate.engines.llamacpp.graph.simulate import graph_buffers
from hubmem.estimate.engines.llamacpp.hparams import Hparams
from hubmem.schema.architecture import Architecture
from hubmem.schema.engines import LlamaCppKVCache, LlamaCppSettings


def output_buffer(hp: Hparams, cp: LlamaCppSettings) -> int:
    return hp.n_vocab * cp.n_seq_max * 4


def _inputs(
    hp: Hparams, cp: LlamaCppSettings, caches: list[LlamaCppKVCache], t: int
) -> tuple[int, int, int, int]:
    """(small inputs, KQ masks, transposed-V indices, the largest KQ score tensor) in bytes."""
    flash = cp.flash_attn == "enabled"
    small, masks, vidx, kq = 12 * t, 0, 0, 0
    for c in caches:
        if not c.layers:
            continue
        masks += c.cells * t * (2 if flash else 4)
        small += 8 * t
        if hp.mla:
            pass  # V is a view of K: no V indices
        elif not flash:
            vidx += 8 * t * hp.n_embd_v_gqa_max
        else:
            small += 8 * t
        kq = max(kq, c.cells * t * max(hp.n_head, default=0) * 4)
    return small, masks, vidx, kq


def compute_phases(hp: Hparams, cp: LlamaCppSettings, caches: list[LlamaCppKVCache]) -> dict[str, int]:
    """The bytes of each phase of the prompt graph (the compute buffer is the largest)."""
    t = -(-cp.n_ubatch // cp.n_seq_max) * cp.n_seq_max
    t_out = min(t, cp.n_outputs_max)
    e, q = hp.n_embd, (hp.n_head[0] * hp.head_k[0] if hp.n_head and hp.n_head[0] else hp.n_embd)
    flash = cp.flash_attn == "enabled"
    small, masks, vidx, kq = _inputs(hp, cp, caches, t)
    rotated = (cp.type_k not in UNQUANTIZED and hp.head_k[0] % 64 == 0) or (
        cp.type_v not in UNQUANTIZED and hp.head_v[0] % 64 == 0
    )
    blocks = 3 if hp.recurrent_only else 6 if hp.mla else 2 + rotated
    phases = {
        "logits": 4 * t_out * hp.n_vocab + 4 * t * blocks * e + 4 * t + (4 * t if hp.recurrent_only else 0)
    }
    if hp.recurrent_only or not caches:
        return phases
    if not flash:
        qc = 3 * q if hp.mla else 2 * max(e, q)
        phases["attention"] = kq + masks + vidx + small + 4 * t * (3 * e + qc)
    ff = hp.n_ff_exp * hp.n_expert_used if hp.n_expert_used else hp.n_ff
    if sum(c.layers for c in caches) >= 2:
        phases["feed-forward"] = masks + vidx + small + 4 * t * (3 * ff + (2 * e + 2 * q if flash else 3 * e))
    else:
        phases["feed-forward"] = small + 4 * t * (3 * ff + 3 * e)
    return phases


def compute_buffer(
    arch: Architecture,
    hp: Hparams,
    cp: LlamaCppSettings,
    caches: list[LlamaCppKVCache],
    meta: Mapping[str, object] | None = None,
    biases: frozenset[str] = frozenset(),
) -> tuple[int, dict[str, int], bool]:
    """(the compute buffer, its candidates, whether it was simulated): the simulation's prompt and
    token-generation graphs where the graph is ported, else the phase model's phases."""
    spec = graph_spec(arch, hp, cp, caches, meta, biases)
    if spec is not None:
        pp, tg = graph_buffers(spec)
        phases = {"simulated prompt graph": pp, "simulated token-generation graph": tg}
        return max(pp, tg), phases, True
    phases = compute_phases(hp, cp, caches)
    return max(phases.values()), phases, False
