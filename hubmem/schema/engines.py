"""What an inference engine itself would print and hold at start-up (projected): the vLLM and llama.cpp views.

Each engine view has its own options (with the engine's own option names) and its own report; the
report's ``engine`` section holds the view that was asked for (``--engine``).
"""

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator

from hubmem.schema.common import LLAMA_CPP_DTYPES, Basis, MemoryItem, Model, renamed, size_bytes

VLLM_DEFAULT_VERSION = (
    "0.19"  # the newest accounting the calibration logs validate (estimate/engines/vllm/era.py)
)

Sampler = Literal["auto", "pytorch", "triton", "flashinfer"]

LLAMA_CPP_COMMIT = (
    "0c1e57098bba43ac29e6e3b677cdceebdd22334f"  # ggml-org/llama.cpp, as llama-cpp-python 0.3.36
)
# llama.cpp's KV cache types (common/arg.cpp kv_cache_types), as -ctk / -ctv take them
CacheType = Literal["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"]
# also bfloat16 / float16 / half / float32, as torch names them
LlamaCacheType = Annotated[CacheType, BeforeValidator(renamed(LLAMA_CPP_DTYPES))]


class VllmOptions(Model):
    """``vllm serve`` settings, vLLM's own names (issue #12).

    Settings another option group already holds keep that one home; the CLI's vLLM names are aliases of
    them: ``--max-model-len`` = ``kv.context`` (None: vLLM's derived maximum), ``--kv-cache-dtype`` =
    ``kv.kv_dtype``, ``--block-size`` = ``kv.block_size``, ``--max-num-batched-tokens`` =
    ``kv.max_num_batched_tokens``, MTP speculative decoding on/off = ``kv.include_mtp``,
    ``--gpu-memory-utilization`` = ``gpu_utilization``."""

    vllm_version: str = Field(
        default=VLLM_DEFAULT_VERSION,
        pattern=r"^0\.\d+(\.\d+)*$",
        description="whose start-up accounting to reproduce: 0.6 (V0 engine), 0.8, 0.10, 0.13, 0.14, 0.19, "
        "0.22, 0.28 (any 0.x; rules change at those releases)",
    )
    tensor_parallel_size: int | None = Field(
        default=None,
        ge=1,
        description="-tp; None = the fit's GPU count (training.gpus) / pipeline_parallel_size",
    )
    pipeline_parallel_size: int = Field(default=1, ge=1, description="-pp")
    enable_expert_parallel: bool = Field(
        default=False, description="MoE experts split over tp x dp ranks instead of tensor-parallel"
    )
    max_num_seqs: int | None = Field(default=None, ge=1, description="None = vLLM's default for the GPU")
    kv_cache_memory_bytes: Annotated[int | None, BeforeValidator(size_bytes)] = Field(
        default=None, ge=0, description="--kv-cache-memory: replaces the profiled KV budget (vLLM >= 0.10.2)"
    )
    enforce_eager: bool = Field(default=False, description="no CUDA graphs")

    @field_validator("vllm_version")
    @classmethod
    def _followed(cls, value: str) -> str:
        if int(value.split(".")[1]) < 5:
            raise ValueError(f"vllm_version {value}: hubmem follows vLLM 0.5 ... 0.28 (0.6 = the V0 engine)")
        return value

    sampler: Sampler = Field(
        default="auto",
        description="top-k/top-p path of the profiled sampler: auto = the version's default without "
        "FlashInfer",
    )


class VllmBudgetItem(Model):
    """One term of the start-up budget, with the vLLM code it comes from."""

    name: str
    bytes: int
    low_bytes: int | None = None  # documented range where the term is measured by vLLM, not derivable
    high_bytes: int | None = None
    basis: Basis = "projected"
    subtracted: bool = True  # False: reported beside the budget (vLLM measures it after sizing the pool)
    source: str = ""  # vLLM file:function@version
    formula: str = ""


class VllmGroup(Model):
    """One KV-cache group of the pool (layers sharing a block table)."""

    kind: str
    layers: int
    padding_layers: int = 0
    block_size: int
    page_size_bytes: int  # per layer slot per block
    blocks_per_request: int  # for one request of max_model_len


class VllmRank(Model):
    """One GPU rank (all tensor-parallel ranks of a pipeline stage hold the same)."""

    pp_rank: int = 0
    layers: int  # decoder layers on this stage
    model_loading_bytes: int  # "Model loading took ..."
    weights: list[MemoryItem] = Field(default_factory=list)
    budget: list[VllmBudgetItem] = Field(default_factory=list)
    available_kv_cache_bytes: int  # "Available KV cache memory: ..."
    num_blocks: int  # this rank's own pool (the engine takes the minimum over ranks)


class VllmView(Model):
    """What ``vllm serve`` prints at start-up, per GPU rank (issue #12). Projected throughout; the
    weights come from the exact tensor list, split by vLLM's parallel layers."""

    basis: Literal["projected"] = "projected"
    vllm_version: str
    gpu: str
    cuda_total_bytes: int  # what CUDA reports as total memory (GPU catalog reported_bytes)
    cuda_total_source: str
    vendor_bytes: int  # the datasheet capacity, for comparison
    settings: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    requested_bytes: int  # gpu_memory_utilization x CUDA-reported total
    model_loading_bytes: int  # rank 0
    available_kv_cache_bytes: int  # the smallest over ranks: what sizes the pool
    num_blocks: int
    kv_cache_tokens: int  # "GPU KV cache size: N tokens"
    max_concurrency: float  # "Maximum concurrency for L tokens per request: Z x"
    max_model_len: int
    page_bytes_per_token: int  # pool bytes one token slot costs on a rank, over every group
    groups: list[VllmGroup] = Field(default_factory=list)
    kv_needed_bytes: int  # for one request of max_model_len (the admission check)
    estimated_max_model_len: int | None = None  # the longest request the pool admits
    budget: list[VllmBudgetItem] = Field(default_factory=list)  # of the rank that decides
    ranks: list[VllmRank] = Field(default_factory=list)
    refusal: str | None = None  # vLLM's own words when it would not start
    lines: list[str] = Field(default_factory=list)  # the start-up lines as this vLLM version prints them
    assumptions: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)


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
    cache_type_k: LlamaCacheType | None = Field(
        default=None, description="-ctk: K cache type; None = --kv-dtype"
    )
    cache_type_v: LlamaCacheType | None = Field(
        default=None, description="-ctv: V cache type; None = --kv-dtype"
    )
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
