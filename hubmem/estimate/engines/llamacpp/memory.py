"""llama.cpp's context and memory for an architecture and options (no weights), and the report's KV section
under llama.cpp's rules (``--engine llama.cpp``), following ggml-org/llama.cpp @
0c1e57098bba43ac29e6e3b677cdceebdd22334f: the KV caches with their cells (both caches of an iSWA model) and
the recurrent state, per sequence as llama.cpp allocates them."""

from __future__ import annotations

import msgspec

from hubmem.estimate.engines.llamacpp.caches import kv_caches, recurrent_state
from hubmem.estimate.engines.llamacpp.cparams import resolve
from hubmem.estimate.engines.llamacpp.hparams import Hparams, hparams_of
from hubmem.schema.architecture import Architecture
from hubmem.schema.engines import (
    LLAMA_CPP_COMMIT,
    LlamaCppKVCache,
    LlamaCppOptions,
    LlamaCppRecurrent,
    LlamaCppSettings,
)
from hubmem.schema.kv import KVCacheReport, KVOptions, LayerKindKV

SOURCE = f"llama.cpp {LLAMA_CPP_COMMIT[:9]} (as llama-cpp-python 0.3.36 vendors it), CPU backend"


class Memory(msgspec.Struct, frozen=True):
    """The context and the memory llama.cpp creates for it (no weights)."""

    hp: Hparams
    cp: LlamaCppSettings
    caches: list[LlamaCppKVCache]
    recurrent: LlamaCppRecurrent | None

    @property
    def kv_bytes(self) -> int:
        return sum(c.buffer_bytes for c in self.caches)

    @property
    def state_bytes(self) -> int:
        return self.recurrent.buffer_bytes if self.recurrent is not None else 0


def memory(arch: Architecture, options: LlamaCppOptions, kv: KVOptions) -> Memory:
    hp = hparams_of(arch)
    cp = resolve(hp, options, kv)
    return Memory(hp, cp, kv_caches(hp, cp), recurrent_state(hp, cp))


def kv_report(arch: Architecture, kv: KVOptions, options: LlamaCppOptions | None = None) -> KVCacheReport:
    """The report's KV section under llama.cpp's rules: each cache's cells and buffer, the recurrent state."""
    mem = memory(arch, options or LlamaCppOptions(), kv)
    cp = mem.cp
    if mem.hp.missing:
        return KVCacheReport(
            engine="llama.cpp",
            dtype=cp.type_k,
            context=cp.n_ctx_seq,
            batch=cp.n_seq_max,
            bytes_per_token=0,
            total_bytes=0,
            complete=False,
            assumptions=[SOURCE, "incomplete: totals are 0 rather than a partial figure; see missing"],
            missing=mem.hp.missing,
        )
    by_kind: dict[str, LayerKindKV] = {}
    for c in mem.caches:
        by_kind[c.which] = LayerKindKV(
            layers=c.layers,
            bytes_per_token=c.bytes // max(1, c.cells * c.streams),
            tokens_held=c.cells,
            bytes=c.buffer_bytes,
            window=mem.hp.n_swa if c.which == "SWA" else None,
            formula=f"{c.cells:,} cells x {c.streams} stream(s): K {c.type_k}, V {c.type_v}",
        )
    state_per_seq = 0
    if mem.recurrent is not None:
        r = mem.recurrent
        state_per_seq = r.bytes // r.cells
        by_kind["recurrent"] = LayerKindKV(
            layers=r.layers,
            bytes_per_token=0,
            tokens_held=0,
            bytes=r.buffer_bytes,
            state_bytes_per_sequence=state_per_seq,
        )
    main = mem.caches[0] if mem.caches else None
    dtype = cp.type_k if cp.type_k == cp.type_v else f"K {cp.type_k} / V {cp.type_v}"
    return KVCacheReport(
        engine="llama.cpp",
        dtype=dtype,
        state_dtype="f32" if mem.recurrent is not None else None,
        bytes_per_token=main.bytes // max(1, main.cells * main.streams) if main is not None else 0,
        context=cp.n_ctx_seq,
        batch=cp.n_seq_max,
        total_bytes=mem.kv_bytes + mem.state_bytes,
        kv_bytes=mem.kv_bytes,
        state_bytes=mem.state_bytes,
        state_bytes_per_sequence=state_per_seq,
        by_layer_kind=by_kind,
        assumptions=[
            SOURCE,
            f"n_ctx {cp.n_ctx:,} = {cp.n_seq_max} sequence(s) x n_ctx_seq {cp.n_ctx_seq:,}"
            + (" (--kv-unified: one stream)" if cp.kv_unified else ""),
        ],
    )
