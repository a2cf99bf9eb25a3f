"""The lines llama.cpp prints for the buffers it allocates at load, with its own printf formats (ggml-org/
llama.cpp @ 0c1e570): ``%8.2f`` of ``bytes / 1024.0 / 1024.0`` for buffer sizes; the KV and RS ``size`` lines
divide in single precision (``(float)bytes / (1024.0f * 1024.0f)``), which :func:`mib_f32` reproduces.
Python's float formatting rounds the exact binary value like glibc's printf."""

from __future__ import annotations

import struct

from hubmem.schema.engines import LlamaCppBuffer, LlamaCppKVCache, LlamaCppRecurrent, LlamaCppSettings

MiB = 1 << 20
CPU = "CPU"


def mib(n: int) -> float:
    """``n / 1024.0 / 1024.0`` in double precision (the buffer-size lines)."""
    return n / MiB


def mib_f32(n: int) -> float:
    """``(float) n / (1024.0f * 1024.0f)``: rounded to single precision first (the size lines)."""
    (as_float,) = struct.unpack("<f", struct.pack("<f", float(n)))
    return float(as_float) / MiB


def model_buffer_line(b: LlamaCppBuffer) -> str:
    """src/llama-model.cpp:1930."""
    return f"load_tensors: {b.name:>12} model buffer size = {mib(b.bytes):8.2f} MiB"


def output_buffer_line(nbytes: int) -> str:
    """src/llama-context.cpp:381."""
    return f"llama_context: {CPU:>10}  output buffer size = {mib(nbytes):8.2f} MiB"


def kv_lines(c: LlamaCppKVCache, cp: LlamaCppSettings) -> list[str]:
    """src/llama-kv-cache-iswa.cpp:76,83 and src/llama-kv-cache.cpp:291,301-305."""
    out = []
    if c.which != "kv":
        out.append(f"llama_kv_cache_iswa: creating {c.which:>7} KV cache, size = {c.cells} cells")
    out.append(f"llama_kv_cache: {CPU:>10} KV buffer size = {mib(c.buffer_bytes):8.2f} MiB")
    out.append(
        f"llama_kv_cache: size = {mib_f32(c.bytes):7.2f} MiB ({c.cells:6d} cells, {c.layers:3d} layers, "
        f"{cp.n_seq_max:2d}/{c.streams} seqs), K ({c.type_k}): {mib_f32(c.k_bytes):7.2f} MiB, "
        f"V ({c.type_v}): {mib_f32(c.v_bytes):7.2f} MiB"
    )
    return out


def recurrent_lines(r: LlamaCppRecurrent, n_layer: int) -> list[str]:
    """src/llama-memory-recurrent.cpp:124,133-137 (``layers`` prints n_layer, not the recurrent layers)."""
    return [
        f"llama_memory_recurrent: {CPU:>10} RS buffer size = {mib(r.buffer_bytes):8.2f} MiB",
        f"llama_memory_recurrent: size = {mib_f32(r.bytes):7.2f} MiB ({r.cells:6d} cells, "
        f"{n_layer:3d} layers, {r.cells:2d} seqs {0:2d} rs_seq), R (f32): {mib_f32(r.r_bytes):7.2f} MiB, "
        f"S (f32): {mib_f32(r.s_bytes):7.2f} MiB, P (f32): {0.0:7.2f} MiB",
    ]


def compute_line(nbytes: int) -> str:
    """src/llama-context.cpp:740."""
    return f"sched_reserve: {CPU:>10} compute buffer size = {mib(nbytes):8.2f} MiB"
