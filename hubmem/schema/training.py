"""Training memory section (projected): options and report (issue #4, docs/theory.md section 4)."""

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from hubmem.schema.common import MAX_COUNT, MAX_TOKENS, SHORT_DTYPES, MemoryItem, Model, renamed

TrainingMethod = Literal["full", "lora", "qlora"]
Optimizer = Literal["adamw", "adamw-8bit", "sgd", "sgd-no-momentum", "adafactor"]
Precision = Literal["mixed", "fp32", "bf16"]
Accounting = Literal["zero", "hf", "megatron"]
FSDPStrategy = Literal["none", "full_shard", "shard_grad_op", "no_shard", "hybrid_shard"]
Checkpointing = Literal["none", "selective", "full"]
ActivationFormula = Literal["auto", "korthikanti", "llama"]
LogitsMode = Literal["fp32", "hf"]

# Legacy spellings accepted for ``optimizer`` (precision folded into the name).
_OPTIMIZER_ALIASES: dict[str, tuple[str, str]] = {
    "adamw-fp32": ("adamw", "fp32"),
    "adamw-bf16": ("adamw", "bf16"),
    "adam": ("adamw", ""),
    "adamw8bit": ("adamw-8bit", ""),
    "adamw_8bit": ("adamw-8bit", ""),
    "sgd-momentum": ("sgd", ""),
    # transformers' TrainingArguments --optim names
    "adamw_torch": ("adamw", ""),
    "adamw_torch_fused": ("adamw", ""),
    "adamw_hf": ("adamw", ""),
    "adamw_apex_fused": ("adamw", ""),
    "paged_adamw_32bit": ("adamw", ""),
    "adamw_bnb_8bit": ("adamw-8bit", ""),
    "paged_adamw_8bit": ("adamw-8bit", ""),
    "adamw_8bit_bnb": ("adamw-8bit", ""),
}
HF_OPTIMIZERS = ("adamw_torch", "adamw_torch_fused", "adamw_bnb_8bit", "paged_adamw_8bit", "adafactor", "sgd")
# transformers' --gradient_checkpointing is a boolean: true = every layer recomputed (full)
_CHECKPOINTING = {"true": "full", "false": "none", "1": "full", "0": "none", "yes": "full", "no": "none"}


def _checkpointing(value: Any) -> Any:
    if isinstance(value, bool):
        return "full" if value else "none"
    return renamed(_CHECKPOINTING)(value)


class TrainingOptions(Model):
    """What to train and how. Defaults: full fine-tune, mixed-precision AdamW (ZeRO 2+2+12 accounting),
    one GPU, micro-batch 1 x 4096 tokens, FlashAttention, no checkpointing."""

    method: TrainingMethod = "full"
    optimizer: Optimizer = "adamw"
    precision: Annotated[Precision, BeforeValidator(renamed(SHORT_DTYPES))] = Field(
        default="mixed",
        description="mixed: 16-bit weights/grads + fp32 master copy; fp32: everything fp32; "
        "bf16: pure bf16 weights, grads and optimizer states (no master copy)",
    )
    accounting: Accounting = Field(
        default="zero",
        description="mixed precision split: zero = 2+2+12 (ZeRO paper), hf = 6+4+8 (HF anatomy), "
        "megatron = 2+4+12 (fp32 main grads)",
    )
    adafactor_beta1: bool = False  # transformers Adafactor keeps exp_avg only when beta1 is set
    # LoRA / QLoRA
    rank: int = Field(default=16, ge=1, le=MAX_COUNT)
    lora_targets: list[str] = Field(
        default_factory=lambda: ["all-linear"],
        description="module names matched against the real tensor names (PEFT semantics: exact name or "
        "suffix after a dot), or 'all-linear' = every 2-D linear weight except embeddings and the head",
    )
    lora_bias: bool = False  # lora_B with bias adds `out` per adapted module
    lora_experts: bool = Field(
        default=False,
        description="adapt routed MoE experts too (per-expert Linear in transformers 4, target_parameters); "
        "by default they get none, like PEFT on transformers >= 5 where experts are fused parameters",
    )
    adapter_dtype: Annotated[Literal["fp32", "bf16"], BeforeValidator(renamed(SHORT_DTYPES))] = "fp32"
    qlora_double_quant: bool = True
    # parallelism
    gpus: int = Field(default=1, ge=1, le=MAX_COUNT)
    zero: Literal[0, 1, 2, 3] = 0
    fsdp: FSDPStrategy = "none"
    gpus_per_node: int = Field(default=8, ge=1, le=MAX_COUNT)  # HYBRID_SHARD shards within a node
    tensor_parallel: int = Field(default=1, ge=1, le=MAX_COUNT)
    sequence_parallel: bool = False
    # activations
    micro_batch: int = Field(default=1, ge=1, le=MAX_COUNT)
    seq_len: int = Field(default=4096, ge=1, le=MAX_TOKENS)
    gradient_checkpointing: Annotated[Checkpointing, BeforeValidator(_checkpointing)] = "none"
    flash_attention: bool = True
    activation_formula: ActivationFormula = "auto"
    logits: LogitsMode = Field(
        default="fp32",
        description="fp32: s*b*V*4 (Korthikanti/Megatron); hf: (2+4+4)*s*b*V peak of HF causal-LM heads",
    )

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("method") == "qlora" and "gradient_checkpointing" not in data:
            data = {**data, "gradient_checkpointing": "full"}  # PEFT's QLoRA recipes checkpoint every layer
        if isinstance(data, dict) and isinstance(data.get("optimizer"), str):
            alias = _OPTIMIZER_ALIASES.get(data["optimizer"].lower())
            if alias is not None:
                data = dict(data)
                data["optimizer"] = alias[0]
                if alias[1]:
                    data.setdefault("precision", alias[1])
        return data

    @field_validator("lora_targets", mode="before")
    @classmethod
    def _split_targets(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if isinstance(value, list | tuple):
            out = [str(v).strip() for v in value if str(v).strip()]
            if not out:
                raise ValueError("lora_targets is empty")
            return out
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "TrainingOptions":
        if self.zero and self.fsdp != "none":
            raise ValueError("choose either DeepSpeed ZeRO (zero=1/2/3) or FSDP, not both")
        if self.gpus % self.tensor_parallel:
            raise ValueError(
                f"gpus ({self.gpus}) must be a multiple of tensor_parallel ({self.tensor_parallel})"
            )
        if self.sequence_parallel and self.tensor_parallel == 1:
            raise ValueError(
                "sequence_parallel needs tensor_parallel > 1 (it splits the TP-replicated regions)"
            )
        return self


class LoRAInfo(Model):
    rank: int
    targets: list[str]
    adapted_modules: int  # Linear layers that received an adapter
    matched_names: list[str] = Field(
        default_factory=list
    )  # distinct module names matched (e.g. q_proj, v_proj)
    unmatched_targets: list[str] = Field(default_factory=list)  # targets that matched no tensor
    trainable_parameters: int


class TrainingReport(Model):
    basis: Literal["projected"] = "projected"
    method: str
    optimizer: str
    precision: str = "mixed"
    gpus: int = 1
    data_parallel: int = 1
    tensor_parallel: int = 1
    sharding: str = "none"  # none | zero-1 | zero-2 | zero-3 | fsdp-full_shard ...
    trainable_parameters: int
    frozen_parameters: int = 0
    weights_bytes: int = 0  # per GPU: trainable + frozen weights as held in memory
    gradients_bytes: int = 0  # per GPU
    optimizer_bytes: int = 0  # per GPU: optimizer states incl. fp32 master copy
    gathered_bytes: int = 0  # per GPU: ZeRO-3 / FSDP largest unit gathered (params + grads)
    model_states_bytes: int  # weights + gradients + optimizer states, per GPU
    activations_bytes: int = 0  # per GPU, per micro-batch, all layers
    activations_per_layer_bytes: int = 0  # the per-layer formula (largest layer), LSE excluded
    flash_lse_per_layer_bytes: int = 0  # FlashAttention fp32 log-sum-exp per layer (4*a*s*b)
    logits_bytes: int = 0
    per_gpu_bytes: int  # everything counted, per GPU (CUDA context / fragmentation not included)
    seq_len: int = 0
    micro_batch: int = 1
    lora: LoRAInfo | None = None
    breakdown: list[MemoryItem] = Field(default_factory=list)
    alternatives: list[MemoryItem] = Field(
        default_factory=list
    )  # the same quantity under other published accountings
    assumptions: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)
