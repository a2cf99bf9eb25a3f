"""KV cache and recurrent-state dtypes: ``--kv-dtype`` resolution and the SSM state dtype note."""

from __future__ import annotations

from hubmem.errors import BadOptionError
from hubmem.estimate.kv.state import DTYPE_BYTES
from hubmem.schema.architecture import Architecture
from hubmem.schema.kv import KVOptions

# --kv-dtype value -> (canonical name, bytes per element); "auto" is resolved from the architecture.
KV_DTYPES: dict[str, tuple[str, int]] = {
    "bfloat16": ("bfloat16", 2),
    "bf16": ("bfloat16", 2),
    "float16": ("float16", 2),
    "fp16": ("float16", 2),
    "half": ("float16", 2),
    "f16": ("float16", 2),  # llama.cpp's name
    "float32": ("float32", 4),
    "fp32": ("float32", 4),
    "f32": ("float32", 4),
    "fp8": ("float8_e4m3", 1),  # vLLM "fp8" = e4m3
    "fp8_e4m3": ("float8_e4m3", 1),
    "fp8_e5m2": ("float8_e5m2", 1),
    "fp8_ds_mla": ("fp8_ds_mla", 1),
}
# llama.cpp's block-quantized cache types (-ctk / -ctv): only the llama.cpp engine has them
LLAMA_CPP_ONLY = frozenset({"q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"})
FP8_DS_MLA_BYTES = 656  # 512 fp8 NoPE + 4 fp32 scales + 64 bf16 RoPE (vLLM flashmla_sparse.py)


class KVOptionError(BadOptionError):
    """A KV option that does not apply to this model or engine (e.g. fp8_ds_mla on a non-MLA model)."""

    default_hint = (
        "kv_dtype: auto, bf16, fp16, fp32, fp8, fp8_e4m3, fp8_e5m2; fp8_ds_mla for MLA models on vLLM; "
        "q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1 with --engine llama.cpp"
    )


def resolve_kv_dtype(arch: Architecture, options: KVOptions) -> tuple[str, int, list[str]]:
    """(canonical KV dtype, bytes per element, assumptions). Raises KVOptionError for inapplicable options."""
    notes: list[str] = []
    opt = options.kv_dtype
    if opt in LLAMA_CPP_ONLY:
        raise KVOptionError(
            f"kv_dtype {opt} is a llama.cpp cache type; {options.engine} has no such KV cache "
            "(use --engine llama.cpp, or fp8 for an 8-bit cache)"
        )
    if opt == "fp8_ds_mla":
        if arch.mla is None:
            raise KVOptionError("kv_dtype fp8_ds_mla is an MLA cache layout; this model has no MLA layers")
        if options.engine != "vllm":
            raise KVOptionError("kv_dtype fp8_ds_mla is vLLM's FlashMLA-sparse layout; use engine=vllm")
    sparse_mla = options.engine == "vllm" and arch.mla is not None and bool(arch.mla.index_head_dim)
    if sparse_mla and opt in ("auto", "fp8", "fp8_e4m3", "fp8_e5m2"):
        notes.append(
            "vLLM stores DeepSeek-V3.2's MLA cache as fp8_ds_mla when kv_dtype is auto or fp8 "
            "(DeepseekV32ForCausalLM.verify_and_update_config)"
        )
        opt = "fp8_ds_mla"
    if opt == "auto":
        act = arch.dtype if arch.dtype in DTYPE_BYTES else None
        if act is None:
            notes.append("kv_dtype auto: the model's activation dtype is unknown; bfloat16 assumed")
            act = "bfloat16"
        elif arch.dtype_source == "default":
            notes.append("kv_dtype auto: no dtype in config.json nor in the tensors; bfloat16 assumed")
        else:
            notes.append(f"kv_dtype auto = the model's activation dtype {act} (from {arch.dtype_source})")
        return act, DTYPE_BYTES[act], notes
    name, size = KV_DTYPES[opt]
    return name, size, notes


def ssm_auto_note(arch: Architecture, engine: str) -> str:
    if engine == "transformers":
        return " (transformers keeps the float32 state its scans return)"
    if arch.mamba is not None and arch.mamba.ssm_cache_dtype:
        return f" (config mamba_ssm_cache_dtype={arch.mamba.ssm_cache_dtype}, honoured by vLLM)"
    return " (vLLM mamba_ssm_cache_dtype auto = the conv dtype)"
