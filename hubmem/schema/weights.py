"""Weights section: exact bytes from ``data_offsets``, parameters per dtype and per component."""

from typing import Literal

from pydantic import Field

from hubmem.schema.common import Model


class DtypeWeights(Model):
    bytes: int  # sum of end - begin over tensors of this dtype
    parameters: int  # logical parameters (packed formats unpacked; aux tensors excluded)
    elements: int  # raw element count, as the header states (huggingface_hub semantics)
    tensors: int


class ComponentWeights(Model):
    bytes: int  # includes the component's quantization aux tensors (scales ...)
    parameters: int  # logical
    tensors: int
    elements: int = 0  # raw element count


class FileWeights(Model):
    path: str
    size: int | None  # real file size when known
    header_length: int
    tensors: int
    bytes: int  # sum of tensor data (end - begin)


class QuantizationInfo(Model):
    method: str  # gptq, awq, bitsandbytes-4bit, bitsandbytes-8bit, compressed-tensors, fp8, mxfp4, nvfp4 ...
    bits: float | None = None  # nominal bits of quantized weights
    group_size: int | None = None
    quantized_parameters: int = 0  # logical parameters stored packed
    quantized_bytes: int = 0  # bytes of packed weight tensors
    aux_tensors: int = 0  # scales, zeros, g_idx, absmax ... (never parameters)
    aux_bytes: int = 0
    aux_by_kind: dict[str, int] = Field(
        default_factory=dict
    )  # bytes per aux kind (scales, qzeros, absmax ...)
    bits_per_parameter: float | None = None  # (quantized_bytes + aux_bytes) * 8 / quantized_parameters
    source: str | None = (
        None  # where the format was read: config.json, quantize_config.json, tensor names ...
    )
    format: str | None = None  # nf4, e4m3, NVFP4, pack-quantized ... as the config names it
    unquantized_parameters: int = (
        0  # parameters stored as ordinary tensors (embeddings, norms, excluded modules)
    )
    notes: list[str] = Field(default_factory=list)


class MoEInfo(Model):
    num_experts: int
    experts_per_token: int
    shared_experts: int = 0
    moe_layers: int = 0  # main-model layers with routed experts
    dense_layers: int = 0  # main-model layers with a dense MLP instead (DeepSeek first_k_dense_replace)
    fused_experts: bool = (
        False  # experts stored stacked [E, ...] (gpt-oss, Llama 4) rather than one tensor each
    )
    expert_parameters: int = 0  # all routed-expert parameters of the main model (MTP excluded)
    expert_bytes: int = 0
    parameters_per_expert: int = 0  # routed-expert parameters / (num_experts x moe_layers)
    shared_expert_parameters: int = 0
    router_parameters: int = 0
    total_parameters: int = 0  # every logical parameter, MTP included
    mtp_parameters: int = 0  # multi-token-prediction module(s), not used for normal decoding
    # per token: everything but the routed experts not selected; MTP modules and vision / audio
    # encoders (run per image, not per token) excluded
    active_parameters: int = 0
    # the same without the input-embedding table (one row is read per token); equal when tied
    active_parameters_no_embedding: int = 0
    active_bytes: int = 0  # bytes read per token on the same basis (quantization aux tensors included)
    basis: Literal["exact", "projected"] = "exact"
    notes: list[str] = Field(default_factory=list)


class GGUFFile(Model):
    """One GGUF model of a repo: a file, or the shards of a split file (``-00001-of-00003.gguf``)."""

    name: str  # the file name; for split files, the name without the ``-0000k-of-0000n`` part
    files: list[str]  # repo paths (split shards in order)
    size: int | None = None  # bytes, exact (the Hub's file listing or the range reads), None when unknown
    quant: str | None = None  # quantization from the name (Q4_K_M, Q8_0, F16 ...)
    kind: Literal["model", "mmproj"] = "model"  # mmproj-*: a multimodal projector, not a language model


class GGUFChoice(Model):
    """Which GGUF model was read, why, and every GGUF the repo has."""

    chosen: str  # GGUFFile.name of the one read
    reason: str
    available: list[GGUFFile] = Field(default_factory=list)


class ListedFile(Model):
    path: str
    size: int | None  # bytes, exact, from the Hub's file listing (or the file system); not read


class WeightsReport(Model):
    basis: Literal["exact", "projected"] = "exact"  # projected: source "config" (no weight file read)
    # where the figures come from: safetensors headers, a GGUF header, or config.json alone
    source: Literal["safetensors", "gguf", "config"] = "safetensors"
    total_bytes: int
    parameters: int  # logical parameters
    elements: int  # raw element count (what huggingface_hub's get_safetensors_metadata sums)
    tensors: int
    by_dtype: dict[str, DtypeWeights]
    by_component: dict[str, ComponentWeights]
    files: list[FileWeights]
    tied_embeddings: bool | None = None  # lm_head shares the embedding (stored once)
    # an lm_head stored although tied (Qwen3-0.6B): counted in total_bytes / parameters as the Hub does,
    # but loaders tie it and never load it; subtract for memory in use
    tied_duplicate_bytes: int = 0
    tied_duplicate_parameters: int = 0
    # stored buffers (GPT-2's attn.bias causal masks, BERT's position_ids, rotary inv_freq): in the bytes and
    # in ``parameters`` as the Hub counts them, but not parameters of the model
    buffer_elements: int = 0
    # the model's parameters, the headline figure: ``parameters`` without stored buffers and without a tied
    # lm_head stored anyway (GPT-2: 124,439,808, not 137,022,720); None = ``parameters``
    model_parameters: int | None = None
    total_parameters_metadata: int | None = None  # index/header metadata.total_parameters when present
    index_total_size: int | None = None  # model.safetensors.index.json metadata.total_size when present
    quantization: QuantizationInfo | None = None
    moe: MoEInfo | None = None
    gguf: GGUFChoice | None = None  # source "gguf": the file read and the others
    # weight files not read (pytorch_model*.bin, *.pt, consolidated.*.pth) with their listed sizes
    unread_files: list[ListedFile] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
