"""Configurations vLLM refuses to start, with the message vLLM itself raises.

* ``config/model.py:ModelConfig.verify_with_parallel_config`` (same text 0.10.2 ... 0.34): query heads not
  divisible by the tensor-parallel size. KV heads are not checked there; ``QKVParallelLinear`` then replicates
  them when ``nkv < tp`` and asserts through ``distributed/utils.py:ensure_divisibility``
  (``"{} is not divisible by {}"``) when the two do not divide each other.
* ``config/model.py:_get_and_verify_max_len`` @0.14.1: ``max_model_len`` above the derived maximum (without
  ``VLLM_ALLOW_LONG_MAX_MODEL_LEN=1``).
* ``quantization/fp8.py`` @0.10.2: block-FP8 partitions not divisible by the quantization block
  (``Fp8MoEMethod.create_weights``, ``validate_fp8_block_shape``).
* ``kv_cache_utils.py:_check_enough_kv_cache_memory`` @0.14.1 (text since 0.10.2, ``%.2f`` numbers before
  0.14, ``format_gib`` from 0.14; the "models's" typo and the open parenthesis are vLLM's, fixed after 0.19):
  no memory for the cache, or less than one request of ``max_model_len`` needs. V0 (``llm_engine.py`` @0.6):
  the pool holds fewer tokens than ``max_model_len``.
* ``--kv-cache-dtype``: a value the release does not know fails argument parsing (argparse's words).
"""

from __future__ import annotations

from hubmem.estimate.engines.vllm.lines import gib_text
from hubmem.estimate.engines.vllm.settings import Settings
from hubmem.schema.architecture import Architecture

CONSERVING = " See https://docs.vllm.ai/en/latest/configuration/conserving_memory/ for more details."
LONG_LEN = (
    " To allow overriding this maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1. "
    "VLLM_ALLOW_LONG_MAX_MODEL_LEN must be used with extreme caution. If the model uses relative position "
    "encoding (RoPE), positions exceeding derived_max_model_len lead to nan. If the model uses absolute "
    "position encoding, positions exceeding derived_max_model_len will cause a CUDA array out-of-bounds "
    "error."
)


def heads(arch: Architecture, tp: int) -> str | None:
    nh = arch.num_attention_heads
    if tp > 1 and nh and nh % tp:
        return f"Total number of attention heads ({nh}) must be divisible by tensor parallel size ({tp})."
    nkv = arch.num_kv_heads
    if tp > 1 and nkv and arch.mla is None and nkv % tp and tp % nkv:
        big, small = (nkv, tp) if nkv > tp else (tp, nkv)
        return f"{big} is not divisible by {small}"
    return None


def max_len(settings: Settings, derived: int | None, key: str | None) -> str | None:
    if derived is None or settings.max_model_len <= derived:
        return None
    return (
        f"User-specified max_model_len ({settings.max_model_len}) is greater than the derived max_model_len "
        f"({key}={derived} or model_max_length=None in model's config.json)." + LONG_LEN
    )


def _fp8_block(arch: Architecture) -> tuple[int, int] | None:
    quant = arch.quant
    if quant is None or quant.method != "fp8" or not quant.weight_block_size:
        return None
    block = quant.weight_block_size
    return (block[0], block[1]) if len(block) >= 2 else (block[0], block[0])


def fp8_blocks(arch: Architecture, settings: Settings) -> str | None:
    """Block-FP8 partitions per rank must be whole blocks."""
    block = _fp8_block(arch)
    if block is None or settings.tp == 1:
        return None
    block_n, block_k = block
    if arch.num_experts and settings.ep == 1 and arch.moe_intermediate_size:
        part = arch.moe_intermediate_size // settings.tp
        if part % block_n:
            return (
                f"The output_size of gate's and up's weight = {part} is not divisible by weight "
                f"quantization block_n = {block_n}."
            )
    dense = arch.intermediate_size if not arch.num_experts or arch.first_dense_layers else None
    if dense and (dense // settings.tp) % block_k:
        return (
            f"Weight input_size_per_partition = {dense // settings.tp} is not divisible by weight "
            f"quantization block_k = {block_k}."
        )
    return None


_HUBMEM_SPELLINGS = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32"}


def kv_dtype(settings: Settings) -> str | None:
    allowed = settings.era.kv_cache_dtypes()
    if _HUBMEM_SPELLINGS.get(settings.kv_dtype, settings.kv_dtype) in allowed:
        return None
    choices = ", ".join(repr(a) for a in allowed)
    value = _HUBMEM_SPELLINGS.get(settings.kv_dtype, settings.kv_dtype)
    return f"argument --kv-cache-dtype: invalid choice: {value!r} (choose from {choices})"


def no_memory(settings: Settings) -> str:
    text = (
        "No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
        "initializing the engine."
    )
    return text + (CONSERVING if settings.era.format_gib else "")


def too_little(settings: Settings, needed: int, available: int, estimate: int) -> str:
    era = settings.era
    need_text, avail_text = gib_text(needed, era), gib_text(available, era)
    based = (
        f" Based on the available memory, the estimated maximum model length is {estimate}."
        if estimate > 0
        else ""
    )
    if era.at_least(0, 21):
        head = (
            f"To serve at least one request with the model's max seq len ({settings.max_model_len}), "
            f"{need_text} GiB KV cache is needed, which is larger than the available KV cache memory "
            f"({avail_text} GiB)."
        )
    else:
        head = (
            f"To serve at least one request with the models's max seq len ({settings.max_model_len}), "
            f"({need_text} GiB KV cache is needed, which is larger than the available KV cache memory "
            f"({avail_text} GiB)."
        )
    tail = (
        " Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine."
    )
    return head + based + tail + (CONSERVING if era.format_gib else "")


def v0_too_little(settings: Settings, tokens: int) -> str:
    return (
        f"The model's max seq len ({settings.max_model_len}) is larger than the maximum number of tokens "
        f"that can be stored in KV cache ({tokens}). Try increasing `gpu_memory_utilization` or decreasing "
        "`max_model_len` when initializing the engine."
    )


def kv_budget(settings: Settings, available: int, needed: int, tokens: int, estimate: int) -> str | None:
    """The admission check after the pool is sized."""
    if settings.era.v0:
        return v0_too_little(settings, tokens) if tokens < settings.max_model_len else None
    if available <= 0:
        return no_memory(settings)
    if needed > available:
        return too_little(settings, needed, available, estimate)
    return None
