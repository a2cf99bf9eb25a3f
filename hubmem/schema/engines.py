"""What an inference engine itself would print and hold at start-up (projected): the vLLM and llama.cpp views.

Each engine view has its own options (with the engine's own option names) and its own report; the
report's ``engine`` section holds the view that was asked for (``--engine``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hubmem.schema.common import Model

LLAMA_CPP_COMMIT = (
    "0c1e57098bba43ac29e6e3b677cdceebdd22334f"  # ggml-org/llama.cpp, as llama-cpp-python 0.3.36
)
# llama.cpp's KV cache types (common/arg.cpp kv_cache_types), as -ctk / -ctv take them
CacheType = Literal["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"]


class VllmOptions(Model):
    """``vllm serve`` settings (vLLM's own names). Filled in by the vLLM view (issue #12)."""


class VllmView(Model):
    """What ``vllm serve`` prints at start-up, per GPU rank (issue #12)."""


class LlamaCppOptions(Model):
    """llama.cpp context settings under llama-cli / llama-server's own names (common/arg.cpp), with their
    defaults (common/common.h). ``None`` where hubmem derives the value from the KV options."""

    ctx_size: int | None = Field(
        default=None,
        ge=0,
        description="-c/--ctx-size: context of all sequences together; 0 = the model's n_ctx_train; "
        "None = --context x the sequences",
    )
    batch_size: int = Field(default=2048, ge=1, description="-b/--batch-size: logical batch (n_batch)")
    ubatch_size: int = Field(default=512, ge=1, description="-ub/--ubatch-size: physical batch (n_ubatch)")
    parallel: int | None = Field(
        default=None, ge=1, le=256, description="-np/--parallel: sequences (n_seq_max); None = --batch"
    )
    cache_type_k: CacheType | None = Field(default=None, description="-ctk: K cache type; None = --kv-dtype")
    cache_type_v: CacheType | None = Field(default=None, description="-ctv: V cache type; None = --kv-dtype")
    flash_attn: Literal["on", "off", "auto"] = Field(default="auto", description="-fa/--flash-attn")
    swa_full: bool = Field(default=False, description="--swa-full: full-size cache for sliding-window layers")
    kv_unified: bool = Field(default=False, description="--kv-unified: one KV buffer shared by all sequences")
    n_gpu_layers: int = Field(
        default=0,
        ge=-1,
        description="-ngl/--n-gpu-layers: layers whose weights and KV go to the GPU (-1 = all); 0 = CPU only",
    )
    mmap: bool = Field(default=True, description="--mmap / --no-mmap: weights mapped from the file")


class LlamaCppBuffer(Model):
    """One backend buffer as llama.cpp names it (CPU_Mapped, CPU, CUDA0 ...)."""

    name: str
    bytes: int


class LlamaCppKVCache(Model):
    """One ``llama_kv_cache`` (an iSWA model has two: non-SWA and SWA)."""

    which: Literal["kv", "non-SWA", "SWA"]
    cells: int  # per stream (llama.cpp's "size = N cells")
    streams: int  # 1 with --kv-unified, else one per sequence
    layers: int
    type_k: str
    type_v: str
    k_bytes: int
    v_bytes: int  # 0 for MLA (V is a view of the K cache)
    bytes: int  # K + V (llama.cpp's "size")
    buffer_bytes: int  # the KV buffer: each tensor padded to 32 bytes


class LlamaCppRecurrent(Model):
    """The ``llama_memory_recurrent`` state (Mamba conv + SSM state, LFM2 short-conv state ...)."""

    cells: int  # max(1, n_seq_max)
    layers: int  # recurrent layers holding state
    r_bytes: int
    s_bytes: int
    bytes: int
    buffer_bytes: int


class LlamaCppSettings(Model):
    """The context as llama.cpp resolves it from the options (llama_context::llama_context)."""

    n_ctx: int
    n_ctx_seq: int
    n_seq_max: int
    n_batch: int
    n_ubatch: int
    n_outputs_max: int
    flash_attn: Literal["enabled", "disabled"]
    flash_attn_requested: Literal["on", "off", "auto"]
    kv_unified: bool
    swa_full: bool
    type_k: str
    type_v: str
    n_gpu_layers: int
    mmap: bool


class LlamaCppView(Model):
    """What llama.cpp allocates and prints at load (projected, from the GGUF metadata or config.json)."""

    basis: Literal["projected"] = "projected"
    llama_cpp_commit: str = LLAMA_CPP_COMMIT
    settings: LlamaCppSettings
    model_buffer_bytes: int
    model_buffers: list[LlamaCppBuffer] = Field(default_factory=list)
    kv_cache_bytes: int  # every KV buffer (both caches of an iSWA model)
    kv_cells: int  # cells of the (non-SWA) cache, per stream
    kv_caches: list[LlamaCppKVCache] = Field(default_factory=list)
    recurrent_state_bytes: int = 0  # the RS buffer
    recurrent: LlamaCppRecurrent | None = None
    output_buffer_bytes: int
    compute_buffer_bytes: int
    compute_phases: dict[str, int] = Field(default_factory=dict)  # the compute model's candidates
    total_bytes: int  # model + KV + recurrent state + output + compute buffers
    lines: list[str] = Field(default_factory=list)  # the lines llama.cpp prints for them, as it prints them
    assumptions: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)


class EngineReport(Model):
    """The engine view asked for; None where another engine was asked for."""

    vllm: VllmView | None = None
    llama_cpp: LlamaCppView | None = None
    notes: list[str] = Field(default_factory=list)
