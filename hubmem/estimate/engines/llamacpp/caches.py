"""llama.cpp's KV caches and recurrent state at load (ggml-org/llama.cpp @ 0c1e570).

KV cache (``llama_kv_cache::llama_kv_cache``, src/llama-kv-cache.cpp:64-306): ``n_stream = 1`` with
``--kv-unified`` else ``n_seq_max``; per attention layer a K tensor ``[n_embd_head_k x n_head_kv, cells,
n_stream]`` of ``type_k`` and, except for MLA (V is a view of the latent), a V tensor of ``type_v`` whose rows
are padded to the widest layer's when flash attention is off (``v_trans``). Bytes per row are
``ggml_row_size`` (the ggml type tables of the ``gguf`` package: q8_0 34 B / 32 values, q4_0 18 B / 32). The
printed ``size`` is the sum of the tensors; the KV buffer pads each tensor to 32 bytes.

iSWA (``llama_kv_cache_iswa``, src/llama-kv-cache-iswa.cpp:34-104): a non-SWA cache of ``n_ctx_seq`` cells
and a SWA cache of ``PAD(min(n_ctx_seq, n_swa x (n_seq_max if unified else 1) + n_ubatch), 256)`` cells, or
``n_ctx_seq`` with ``--swa-full``.

Recurrent state (``llama_memory_recurrent``, src/llama-memory-recurrent.cpp:20-137): ``max(1, n_seq_max)``
cells; per recurrent layer ``r`` = ``n_embd_r`` and ``s`` = ``n_embd_s`` f32 values per cell. Hybrids
(lfm2, jamba, qwen3next ...) have both: a KV cache over their attention layers and this state.
"""

from __future__ import annotations

from typing import Literal

from hubmem.estimate.engines.llamacpp.cparams import pad
from hubmem.estimate.engines.llamacpp.hparams import Hparams
from hubmem.formats.gguf.tables import row_size
from hubmem.schema.engines import LlamaCppKVCache, LlamaCppRecurrent, LlamaCppSettings

BUFFER_ALIGN = 32  # the CPU buffer type's alignment (ggml-alloc.c: each tensor padded to it)


def _cache(
    hp: Hparams, cp: LlamaCppSettings, which: Literal["kv", "non-SWA", "SWA"], cells: int, layers: list[int]
) -> LlamaCppKVCache:
    streams = 1 if cp.kv_unified else cp.n_seq_max
    v_trans = cp.flash_attn == "disabled"
    k_total = v_total = buffer = 0
    for il in layers:
        k = row_size(cp.type_k, hp.head_k[il] * hp.n_head_kv[il]) * cells * streams
        v = 0
        if not hp.mla:
            width = hp.n_embd_v_gqa_max if v_trans else hp.head_v[il] * hp.n_head_kv[il]
            v = row_size(cp.type_v, width) * cells * streams
        k_total += k
        v_total += v
        buffer += pad(k, BUFFER_ALIGN) + (pad(v, BUFFER_ALIGN) if v else 0)
    return LlamaCppKVCache(
        which=which,
        cells=cells,
        streams=streams,
        layers=len(layers),
        type_k=cp.type_k,
        type_v=cp.type_v,
        k_bytes=k_total,
        v_bytes=v_total,
        bytes=k_total + v_total,
        buffer_bytes=buffer,
    )


def kv_caches(hp: Hparams, cp: LlamaCppSettings) -> list[LlamaCppKVCache]:
    """The KV caches llama.cpp creates (none for recurrent-only models), in the order it creates them."""
    attn = [il for il in range(hp.n_layer) if hp.n_head_kv[il] > 0 and not hp.is_recr[il]]
    if hp.recurrent_only or not attn:
        return []
    if not any(hp.is_swa[il] for il in attn):
        return [_cache(hp, cp, "kv", cp.n_ctx_seq, attn)]
    size_swa = cp.n_ctx_seq
    if not cp.swa_full:
        per_seq = hp.n_swa * (cp.n_seq_max if cp.kv_unified else 1) + cp.n_ubatch
        size_swa = pad(min(cp.n_ctx_seq, per_seq), 256)
    return [
        _cache(hp, cp, "non-SWA", cp.n_ctx_seq, [il for il in attn if not hp.is_swa[il]]),
        _cache(hp, cp, "SWA", size_swa, [il for il in attn if hp.is_swa[il]]),
    ]


def recurrent_state(hp: Hparams, cp: LlamaCppSettings) -> LlamaCppRecurrent | None:
    """The recurrent state of a recurrent or hybrid model, else None."""
    layers = sum(hp.is_recr)
    if not layers:
        return None
    cells = max(1, cp.n_seq_max)
    r = hp.n_embd_r * cells * 4  # f32 (llama_model::create_memory passes GGML_TYPE_F32 for r and s)
    s = hp.n_embd_s * cells * 4
    return LlamaCppRecurrent(
        cells=cells,
        layers=layers,
        r_bytes=r * layers,
        s_bytes=s * layers,
        bytes=(r + s) * layers,
        buffer_bytes=(pad(r, BUFFER_ALIGN) + pad(s, BUFFER_ALIGN)) * layers,
    )
