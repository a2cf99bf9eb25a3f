"""What an inference engine itself would print and hold at start-up (projected): the vLLM and llama.cpp views.

Each engine view has its own options (with the engine's own option names) and its own report; the
report's ``engine`` section holds the view that was asked for (``--engine``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from hubmem.schema.common import Basis, MemoryItem, Model

VLLM_DEFAULT_VERSION = (
    "0.19"  # the newest accounting the calibration logs validate (estimate/engines/vllm/era.py)
)

Sampler = Literal["auto", "pytorch", "triton", "flashinfer"]


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
    kv_cache_memory_bytes: int | None = Field(
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
    """llama.cpp context settings (its own names). Filled in by the llama.cpp view (issue #11)."""


class LlamaCppView(Model):
    """What llama.cpp allocates and prints at load (issue #11)."""


class EngineReport(Model):
    """The engine view asked for; None where another engine was asked for."""

    vllm: VllmView | None = None
    llama_cpp: LlamaCppView | None = None
    notes: list[str] = Field(default_factory=list)
