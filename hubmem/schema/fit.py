"""Will it fit? Inference and training fit verdicts on a GPU kind (issue #4, docs/theory.md sections 2.1
and 5)."""

from typing import Literal

from pydantic import Field, field_validator

from hubmem.schema.common import MAX_COUNT, MAX_TOKENS, MemoryItem, Model


class GPUSpec(Model):
    """One GPU kind. ``memory_bytes`` is the capacity the vendor states, in the vendor's unit
    (``memory_unit``); ``reported_bytes`` is the total **CUDA reports** (``cudaMemGetInfo`` /
    ``torch.cuda.mem_get_info()[1]``, what vLLM multiplies by ``gpu_memory_utilization``) where a public
    source shows it, with ``reported_source`` saying which print it is; ``nvidia_smi_mib`` is the
    ``memory.total`` nvidia-smi prints (MiB), a different and larger number."""

    name: str
    aliases: list[str] = Field(default_factory=list)
    vendor: str = ""
    memory_gb: float = Field(gt=0)  # as printed on the datasheet
    memory_unit: Literal["GB", "GiB"] = "GB"  # GB = 10^9 bytes, GiB = 2^30 bytes
    memory_type: str = ""
    reported_bytes: int | None = Field(default=None, gt=0)  # CUDA-reported total (not nvidia-smi)
    reported_source: str = ""  # the print reported_bytes comes from, with its rounding
    nvidia_smi_mib: int | None = Field(default=None, gt=0)  # nvidia-smi memory.total (MiB)
    nvlink: bool | None = None  # GPUs of this kind talk over NVLink (SXM boards); None = unknown
    compute_capability: str | None = None  # CUDA SM version, e.g. "9.0" (picks vLLM kernels)
    source: str = ""
    note: str = ""

    @property
    def memory_bytes(self) -> int:
        scale = 10**9 if self.memory_unit == "GB" else 2**30
        return round(self.memory_gb * scale)


class FitOptions(Model):
    gpu: str = "H100-SXM"
    gpus: int = Field(
        default=1, ge=1, le=MAX_COUNT, description="tensor-parallel degree for inference; GPUs for training"
    )
    context: int | None = Field(default=None, ge=1, le=MAX_TOKENS, description="tokens per sequence")
    batch: int = Field(default=1, ge=1, le=MAX_COUNT)
    utilization: float | None = Field(
        default=None, gt=0, le=1, description="fraction of memory the engine may use; None = 0.9 (vLLM)"
    )
    reserve_bytes: int | None = Field(
        default=None, ge=0, description="CUDA context / non-torch memory; None = 1.5 GiB"
    )
    workspace_bytes: int | None = Field(default=None, ge=0, description="override the activation workspace")
    max_num_batched_tokens: int = Field(
        default=8192, ge=1, le=MAX_TOKENS
    )  # vLLM default chunked-prefill budget
    max_num_seqs: int = Field(
        default=256, ge=1, le=MAX_COUNT
    )  # vLLM default; sampler logits are counted for these
    # reported: the CUDA-reported total where the catalog knows it (what vLLM budgets), else the vendor figure
    memory_basis: Literal["vendor", "reported"] = "reported"
    max_gpus: int = Field(default=8, ge=1, le=MAX_COUNT)
    gpu_counts: Literal["pow2", "any"] = "pow2"
    context_limit: int | None = Field(
        default=None, ge=1, le=MAX_TOKENS, description="cap of the max-context search"
    )
    catalog: str | None = None  # path of a JSON/TOML GPU catalog to add (HUBMEM_GPUS also works)

    @field_validator("gpu")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("gpu name is empty")
        return value


class FitReport(Model):
    basis: Literal["projected"] = "projected"
    mode: Literal["inference", "training"] = "inference"
    gpu: str
    gpus: int = 1
    memory_per_gpu_bytes: int = 0  # capacity used for the verdict (see memory_basis)
    memory_basis: str = "reported"
    utilization: float = 0.9
    reserve_bytes: int = 0
    usable_bytes: int = 0  # floor(memory x utilization) - reserve
    weights_bytes: int = 0  # per GPU
    kv_bytes: int = 0  # per GPU, at context x batch
    workspace_bytes: int = 0  # per GPU activation workspace (inference) / activations + logits (training)
    other_bytes: int = 0  # training: gradients + optimizer states + gathered units
    required_bytes: int = 0  # per GPU
    headroom_bytes: int = 0  # usable - required (negative = short by that much)
    fits: bool
    refusal: str | None = None  # "vLLM would refuse: <vLLM's message>" (then fits is False)
    engine: str = "transformers"  # whose accounting: transformers (fixed reserve) or vllm (its own budget)
    context: int | None = None
    batch: int | None = None
    max_context: int | None = None  # largest context that fits for ``batch`` (0 = not even one token)
    max_context_capped: bool = False  # True: the search stopped at its cap (the model's max context)
    max_batch: int | None = None  # largest batch that fits at ``context``
    min_gpus: int | None = None  # fewest GPUs of this kind that fit (None = not within max_gpus)
    # training that does not fit: one-change alternatives that would ("--zero 3 --gpus 4: 61.20 GiB per H100")
    suggestions: list[str] = Field(default_factory=list)
    candidates: list[int] = Field(default_factory=list)  # GPU counts tried for min_gpus
    breakdown: list[MemoryItem] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)


class CurvePoint(Model):
    """Per-GPU memory at one context (the batch and GPU count of the verdict)."""

    context: int
    weights_bytes: int
    kv_bytes: int  # KV cache + recurrent state, per GPU
    overhead_bytes: (
        int  # the engine's terms besides weights and KV (activation workspace, vLLM's non-torch ...)
    )
    required_bytes: int
    fits: bool


class MemoryCurve(Model):
    """Memory against context (``curve=true``, the web page's plot): the verdict's own terms at log-spaced
    contexts up to the model's maximum, with the chosen GPUs' usable memory per GPU."""

    basis: Literal["projected"] = "projected"
    engine: str = "transformers"
    gpu: str | None = None  # None: no GPU chosen, no usable line
    gpus: int = 1
    batch: int = 1
    memory_per_gpu_bytes: int | None = None
    usable_bytes: int | None = None
    max_context: int  # the model's maximum context (the axis' end)
    context: int | None = (
        None  # the verdict's context the curve is drawn for (its other terms are taken there)
    )
    points: list[CurvePoint] = Field(default_factory=list)
    assumptions: list[str] = Field(default_factory=list)


class GPUFitRow(Model):
    """One GPU kind of the catalog at the verdict's context and batch ("which cards can serve this?")."""

    gpu: str
    vendor: str = ""
    memory_gb: float
    memory_unit: Literal["GB", "GiB"] = "GB"
    memory_per_gpu_bytes: int  # what the verdict uses (the CUDA-reported total where known)
    usable_bytes: int  # per GPU
    required_bytes: int  # per GPU, on min_gpus GPUs (on 1 when none fits)
    min_gpus: int | None  # fewest GPUs of this kind that fit (None: not within max_gpus)
    max_context: int | None  # on one GPU, at the batch
    refusal: str | None = None
