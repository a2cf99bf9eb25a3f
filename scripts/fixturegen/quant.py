"""On-disk layouts of quantized checkpoints (theory.md section 3.2), applied to unquantized tensor lists."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from fixturegen.stheader import TensorSpec


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _module(name: str) -> str:
    return name.rsplit(".", 1)[0]


def not_converted(name: str, patterns: Iterable[str]) -> bool:
    """transformers ``modules_to_not_convert``: substring match, or glob when the pattern has '*'."""
    mod = _module(name)
    for p in patterns:
        if "*" in p:
            if fnmatch.fnmatchcase(mod, p) or fnmatch.fnmatchcase(mod, p + ".*"):
                return True
        elif p in mod:
            return True
    return False


def gptq(
    tensors: list[TensorSpec],
    linear: set[str],
    *,
    bits: int,
    group_size: int,
    skip: Iterable[str] = ("lm_head",),
    bias: bool = False,
    float_dtype: str = "F16",
) -> list[TensorSpec]:
    """AutoGPTQ QuantLinear: qweight I32 [in*bits/32, out], qzeros I32 [groups, out*bits/32],
    scales F16 [groups, out], g_idx I32 [in] (+ bias F16 [out] when the packer registers one).
    Everything else (embeddings, norms, lm_head) stays in ``float_dtype``."""
    skip = tuple(skip)
    out: list[TensorSpec] = []
    for t in tensors:
        if t.name in linear and not not_converted(t.name, skip):
            o, i = t.shape
            groups = 1 if group_size == -1 else cdiv(i, group_size)
            m = _module(t.name)
            out.append(TensorSpec(f"{m}.qweight", "I32", (i * bits // 32, o)))
            out.append(TensorSpec(f"{m}.qzeros", "I32", (groups, o * bits // 32)))
            out.append(TensorSpec(f"{m}.scales", "F16", (groups, o)))
            out.append(TensorSpec(f"{m}.g_idx", "I32", (i,)))
            if bias:
                out.append(TensorSpec(f"{m}.bias", "F16", (o,)))
        else:
            out.append(TensorSpec(t.name, float_dtype, t.shape))
    return out


def fp8_block(
    tensors: list[TensorSpec],
    linear: set[str],
    *,
    block: tuple[int, int] = (128, 128),
    not_convert: Iterable[str] = ("lm_head",),
) -> list[TensorSpec]:
    """DeepSeek-V3 / Qwen FP8: weight F8_E4M3 [out, in] + weight_scale_inv F32 [cdiv(out,bo), cdiv(in,bi)]."""
    not_convert = tuple(not_convert)
    out: list[TensorSpec] = []
    for t in tensors:
        if t.name in linear and not not_converted(t.name, not_convert):
            o, i = t.shape
            out.append(TensorSpec(t.name, "F8_E4M3", t.shape))
            out.append(
                TensorSpec(
                    f"{_module(t.name)}.weight_scale_inv", "F32", (cdiv(o, block[0]), cdiv(i, block[1]))
                )
            )
        else:
            out.append(t)
    return out


def modelopt_fp8(
    tensors: list[TensorSpec],
    linear: set[str],
    *,
    exclude: Iterable[str] = ("lm_head",),
    kv_cache: bool = False,
) -> list[TensorSpec]:
    """NVIDIA ModelOpt FP8 (hf_quant_config.json quant_algo FP8): weight F8_E4M3, weight_scale F32 [],
    input_scale F32 []; with kv_cache_quant_algo FP8 also self_attn.k_proj.k_scale / v_proj.v_scale F32 []."""
    exclude = tuple(exclude)
    out: list[TensorSpec] = []
    for t in tensors:
        if t.name in linear and not not_converted(t.name, exclude):
            m = _module(t.name)
            out.append(TensorSpec(t.name, "F8_E4M3", t.shape))
            out.append(TensorSpec(f"{m}.weight_scale", "F32", ()))
            out.append(TensorSpec(f"{m}.input_scale", "F32", ()))
            if kv_cache and m.endswith("self_attn.k_proj"):
                out.append(TensorSpec(f"{m}.k_scale", "F32", ()))
            if kv_cache and m.endswith("self_attn.v_proj"):
                out.append(TensorSpec(f"{m}.v_scale", "F32", ()))
        else:
            out.append(t)
    return out


def mxfp4_gpt_oss(tensors: list[TensorSpec]) -> list[TensorSpec]:
    """gpt-oss: transformers' in-memory experts.gate_up_proj [E, in, out] / down_proj [E, in, out] become
    ``*_blocks`` U8 [E, out, in/32, 16] and ``*_scales`` U8 [E, out, in/32] (transformers
    integrations/mxfp4.py); biases and everything else stay BF16."""
    out: list[TensorSpec] = []
    for t in tensors:
        if t.name.endswith((".experts.gate_up_proj", ".experts.down_proj")):
            e, i, o = t.shape
            if i % 32:
                raise SystemExit(f"FATAL: {t.name}: K={i} is not a multiple of 32")
            out.append(TensorSpec(t.name + "_blocks", "U8", (e, o, i // 32, 16)))
            out.append(TensorSpec(t.name + "_scales", "U8", (e, o, i // 32)))
        else:
            out.append(t)
    return out
