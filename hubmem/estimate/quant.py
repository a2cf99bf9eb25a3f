"""Quantized checkpoints: which format, and how many *logical* parameters each stored tensor holds.

The rules follow huggingface.js ``parse-safetensors-metadata.ts`` (``getQuantizationMultiplier``,
``shouldSkipTensor``; theory.md 3.2), which is what the Hub's model page shows, with three
deliberate refinements: the packing factor is the exact ratio ``container_bits / bits`` (3-bit
GPTQ in I32 is 32/3, not ``floor(32/3) = 10``); bitsandbytes 4-bit follows the storage dtype
(``bnb_4bit_quant_storage``: ``nbytes * 2`` values); and a scalar that is a real parameter counts
1 (huggingface_hub semantics) instead of being skipped.

Each tensor gets a role:

* ``plain``      an ordinary tensor, parameters = elements;
* ``quantized``  a quantized weight, parameters = elements x packing factor (1 for fp8 / int8);
* ``aux``        quantization bookkeeping (scales, zero points, g_idx, absmax ...): never parameters.

Where the config says nothing (older repos) the format is inferred from tensor names and said so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..parse.header import Tensor

Role = Literal["plain", "quantized", "aux"]

# huggingface.js QUANTIZATION_AUXILIARY_SUFFIXES, plus scales that are scalars in the files where
# they occur (huggingface.js skips every scalar, so it never needed to name them): FBGEMM
# ``input_scale_ub``, KV-cache / attention scales of ModelOpt and compressed-tensors.
AUX_SUFFIXES = frozenset(
    {
        "weight_scale",
        "weight_scale_inv",
        "weight_scale_2",
        "weight_global_scale",
        "weight_zero_point",
        "input_scale",
        "input_global_scale",
        "input_zero_point",
        "zero_point",
        "weight_shape",
        "weight_g_idx",
        "input_scale_ub",
        "activation_scale",
        "output_scale",
        "k_scale",
        "v_scale",
        "q_scale",
        "kv_scale",
        "prob_scale",
    }
)
GPTQ_AUX_SUFFIXES = frozenset({"qzeros", "g_idx", "scales"})
BNB4_AUX_SUFFIXES = frozenset({"absmax", "quant_map", "nested_absmax", "nested_quant_map"})
BNB8_AUX_SUFFIXES = frozenset({"SCB", "weight_format"})
SCALE_ONLY_DTYPES = frozenset({"F8_E8M0"})  # MX block exponents, never parameters
FP8_DTYPES = frozenset({"F8_E4M3", "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ"})
INT_CONTAINER_BITS: dict[str, int] = {"U8": 8, "I8": 8, "U16": 16, "I16": 16, "U32": 32, "I32": 32}
_SUB_BYTE_FORMAT_BITS = (
    ("nvfp4", 4),
    ("mxfp4", 4),
    ("fp4", 4),
    ("int4", 4),
    ("uint4", 4),
    ("nf4", 4),
    ("int2", 2),
)


def bits_from_format(text: str | None) -> int | None:
    """Bit width named in a free-form format string (``"nvfp4-pack-quantized"`` -> 4)."""
    if not text:
        return None
    low = text.lower()
    for pattern, bits in _SUB_BYTE_FORMAT_BITS:
        if pattern in low:
            return bits
    return None


def packed_parameters(numel: int, dtype: str, bits: float | None) -> tuple[int, bool]:
    """Logical values in ``numel`` integer containers holding ``bits``-bit values.

    Returns ``(parameters, exact)``; ``exact`` is false when the ratio is not a whole number of
    values (the last container of a row may be padding, so the count is an upper bound).
    """
    container = INT_CONTAINER_BITS.get(dtype)
    if not container or not bits or bits <= 0 or bits >= container:
        return numel, True
    total = numel * container
    if float(bits).is_integer() and total % int(bits) == 0:
        return total // int(bits), True
    return round(total / bits), False


def suffix(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def module_of(name: str) -> str:
    """``a.b.weight_packed`` -> ``a.b``; ``a.b.weight.absmax`` -> ``a.b``."""
    i = name.rfind(".weight")
    if i != -1:
        return name[:i]
    return name.rsplit(".", 1)[0]


def _is_routed_expert(name: str) -> bool:
    return ".experts." in name and "shared_expert" not in name


def _glob_match(pattern: str, text: str) -> bool:
    """``*``-only glob, no regex (untrusted config.json patterns; same as huggingface.js globMatch)."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == text
    if not text.startswith(parts[0]) or not text.endswith(parts[-1]):
        return False
    pos, end = len(parts[0]), len(text) - len(parts[-1])
    for part in parts[1:-1]:
        idx = text.find(part, pos)
        if idx == -1 or idx + len(part) > end:
            return False
        pos = idx + len(part)
    return pos <= end


def matches_target(target: str, module: str) -> bool:
    """compressed-tensors target: exact module name, or ``re:`` regex (the ``.*`` / anchor / ``\\.`` subset).

    Class-name targets (``Linear``) cannot be resolved from tensor names and never match; regex
    syntax beyond the subset never matches (no evaluation of config-supplied regexes).
    """
    if not target.startswith("re:"):
        return target == module
    pat = target[3:]
    pat = pat.removeprefix("^")
    pat = pat[:-1] if pat.endswith("$") else pat + ".*"
    glob = pat.replace(".*", "*").replace("\\.", ".")
    if re.search(r"[\\+?()\[\]{}|^$]", glob):
        return False
    return _glob_match(glob, module)


def not_converted(name: str, patterns: Iterable[str]) -> bool:
    """transformers ``modules_to_not_convert``: substring match, glob when the pattern has ``*``."""
    return any(_glob_match(p, name) if "*" in p else p in name for p in patterns)


@dataclass
class QuantScheme:
    """A checkpoint's quantization format as far as counting needs it."""

    method: str  # gptq, awq, bitsandbytes-4bit/-8bit, compressed-tensors, fp8, mxfp4, modelopt, mlx ...
    layout: str  # the counting rules used: gptq, bnb4, bnb8, mxfp4, fp8, compressed, modelopt, mlx, generic
    source: str  # where it was found
    bits: float | None = None
    group_size: int | None = None
    format: str | None = None  # compressed-tensors format / ModelOpt quant_algo / fp8 fmt
    modules_to_not_convert: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    # compressed-tensors config groups: (targets, num_bits, format)
    groups: tuple[tuple[tuple[str, ...], int | None, str | None], ...] = ()
    expert_bits: int | None = None  # ``expert_dtype`` (DeepSeek-V4 "fp4"): packing of routed experts
    per_module: dict[str, Any] = field(default_factory=dict)  # MLX / ModelOpt per-module overrides
    notes: list[str] = field(default_factory=list)


def _as_int(v: object) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None


def _dict(v: object) -> dict[str, Any] | None:
    return v if isinstance(v, dict) else None


def _nested(config: Mapping[str, Any] | None, key: str) -> Any:
    """``config[key]`` or the text sub-config's (theory.md 1.1: quantization from cfg then tc)."""
    if not config:
        return None
    if config.get(key) is not None:
        return config[key]
    for sub in ("text_config", "language_config", "llm_config", "decoder", "generator"):
        d = _dict(config.get(sub))
        if d and d.get(key) is not None:
            return d[key]
    thinker = _dict(config.get("thinker_config"))
    if thinker:
        tc = _dict(thinker.get("text_config"))
        if tc and tc.get(key) is not None:
            return tc[key]
    return None


def detect_scheme(
    *,
    quantization_config: Mapping[str, Any] | None,
    config: Mapping[str, Any] | None,
    extra: Mapping[str, Any],
    tensors: list[Tensor],
) -> QuantScheme | None:
    """Find the quantization format: config.json, then quantize_config.json / quant_config.json /
    hf_quant_config.json, MLX ``quantization``, and finally the tensor names themselves."""
    names = {t.name for t in tensors}
    expert_bits = bits_from_format(str(_nested(config, "expert_dtype") or "")) or None
    qc = dict(quantization_config) if quantization_config else None
    source = "config.json quantization_config"
    if qc is None:
        for key in ("quantization_config", "compression_config"):
            d = _dict(_nested(config, key))
            if d:
                qc, source = dict(d), f"config.json {key}"
                break
    if qc is None and _dict(extra.get("quantize_config.json")):
        qc, source = dict(extra["quantize_config.json"]), "quantize_config.json"
        qc.setdefault("quant_method", str(qc.get("checkpoint_format") or "gptq"))
    if qc is None and _dict(extra.get("quant_config.json")):  # AutoAWQ
        qc, source = dict(extra["quant_config.json"]), "quant_config.json"
        qc.setdefault("quant_method", "awq")
    if qc is None and _dict(extra.get("hf_quant_config.json")):
        q = _dict(extra["hf_quant_config.json"].get("quantization")) or {}
        qc, source = {"quant_method": "modelopt", **q}, "hf_quant_config.json"
    if qc is None and config and _dict(config.get("quantization")):  # MLX
        qc, source = {"quant_method": "mlx", **config["quantization"]}, "config.json quantization (MLX)"
    if qc is None:
        scheme = _infer_from_tensors(tensors, names)
        if scheme is not None:
            scheme.expert_bits = expert_bits
        return scheme
    scheme = _from_config(qc, source, tensors, names)
    scheme.expert_bits = expert_bits
    return scheme


def _from_config(qc: dict[str, Any], source: str, tensors: list[Tensor], names: set[str]) -> QuantScheme:
    method = str(qc.get("quant_method") or "").lower()
    has_qweight = any(n.endswith(".qweight") for n in names)
    mtnc = tuple(str(p) for p in (qc.get("modules_to_not_convert") or qc.get("exclude_modules") or []))
    if not method:
        if (
            qc.get("load_in_4bit")
            or qc.get("_load_in_4bit")
            or qc.get("load_in_8bit")
            or qc.get("_load_in_8bit")
        ):
            method = "bitsandbytes"
        elif _looks_mlx(tensors, names):
            method = "mlx"
        elif has_qweight:
            method = "gptq"
        else:
            inferred = _infer_from_tensors(tensors, names)
            if inferred is not None:
                inferred.source = f"{source} (no quant_method) + tensor names"
                return inferred
            return QuantScheme(method="unknown", layout="generic", source=source)
    bits = qc.get("bits", qc.get("w_bit"))
    bits_f = float(bits) if isinstance(bits, int | float) and not isinstance(bits, bool) else None
    group = _as_int(qc.get("group_size", qc.get("q_group_size")))
    if method in ("gptq", "awq") or (has_qweight and method not in ("compressed-tensors", "mlx")):
        s = QuantScheme(method, "gptq", source, bits_f, group if group and group > 0 else None)
        s.modules_to_not_convert = mtnc
        if s.bits is None:
            s.bits = _infer_gptq_bits(tensors, names)
            s.notes.append(f"bits not in the config; {s.bits:g} inferred from qweight / g_idx shapes")
        if method not in ("gptq", "awq"):
            s.notes.append(f"{method}: counted with the GPTQ qweight/qzeros/scales layout")
        return s
    if method == "bitsandbytes":
        if qc.get("load_in_4bit") or qc.get("_load_in_4bit"):
            fmt = str(qc.get("bnb_4bit_quant_type") or "nf4")
            s = QuantScheme("bitsandbytes-4bit", "bnb4", source, 4, _bnb_blocksize(tensors), fmt)
            if qc.get("bnb_4bit_use_double_quant"):
                s.notes.append(
                    "double quantization: absmax stored 8-bit with nested_absmax / nested_quant_map"
                )
        else:
            s = QuantScheme("bitsandbytes-8bit", "bnb8", source, 8, None, "int8")
        s.modules_to_not_convert = tuple(str(p) for p in (qc.get("llm_int8_skip_modules") or mtnc))
        return s
    if method == "mxfp4":
        return QuantScheme("mxfp4", "mxfp4", source, 4, 32, "mxfp4", modules_to_not_convert=mtnc)
    if method in ("compressed-tensors", "sparseml"):
        return _compressed(qc, source)
    if method in ("fp8", "fbgemm_fp8", "finegrained_fp8"):
        block = qc.get("weight_block_size")
        s = QuantScheme(
            method, "fp8", source, 8, None, str(qc.get("fmt") or "e4m3"), modules_to_not_convert=mtnc
        )
        if isinstance(block, list) and block:
            s.notes.append(
                "block-wise scales " + "x".join(str(b) for b in block) + " (weight_scale_inv, F32)"
            )
        return s
    if method == "modelopt":
        algo = str(qc.get("quant_algo") or "").upper()
        bits4 = any(k in algo for k in ("FP4", "INT4", "W4"))
        s = QuantScheme(
            "modelopt",
            "modelopt",
            source,
            4 if bits4 else 8 if "FP8" in algo or "INT8" in algo else None,
            _as_int(qc.get("group_size")) or (16 if "NVFP4" in algo else None),
            algo or None,
            modules_to_not_convert=mtnc,
        )
        layers = _dict(qc.get("quantized_layers"))
        if layers:
            s.per_module = layers
        return s
    if method == "mlx":
        s = QuantScheme("mlx", "mlx", source, bits_f or 4, group)
        s.per_module = {k: v for k, v in qc.items() if isinstance(v, dict | bool)}
        s.notes.append("MLX packs into U32; the Hub does not unpack these (hub-docs #2704)")
        return s
    s = QuantScheme(method, "generic", source, bits_f, group, modules_to_not_convert=mtnc)
    s.notes.append(f"{method}: packed layouts are not decoded; parameters counted as stored elements")
    return s


def _compressed(qc: dict[str, Any], source: str) -> QuantScheme:
    groups: list[tuple[tuple[str, ...], int | None, str | None]] = []
    for g in (_dict(qc.get("config_groups")) or {}).values():
        if not isinstance(g, dict):
            continue
        w = _dict(g.get("weights")) or {}
        targets = tuple(str(t) for t in (g.get("targets") or []))
        fmt = g.get("format")
        groups.append((targets, _as_int(w.get("num_bits")), str(fmt) if fmt else None))
    fmt = str(qc.get("format") or "") or None
    widths = {b for _, b, _ in groups if b}
    bits: float | None = float(next(iter(widths))) if len(widths) == 1 else None
    group_size = None
    for g in (_dict(qc.get("config_groups")) or {}).values():
        gw = _dict(g.get("weights")) if isinstance(g, dict) else None
        if gw and _as_int(gw.get("group_size")):
            group_size = _as_int(gw.get("group_size"))
            break
    s = QuantScheme("compressed-tensors", "compressed", source, bits, group_size, fmt)
    s.groups = tuple(groups)
    s.ignore = tuple(str(t) for t in (qc.get("ignore") or []))
    if len(widths) > 1:
        s.notes.append("mixed precision: bit widths " + ", ".join(str(b) for b in sorted(widths)))
    return s


def _looks_mlx(tensors: list[Tensor], names: set[str]) -> bool:
    return any(
        t.dtype == "U32" and t.name.endswith(".weight") and t.name[:-7] + ".scales" in names for t in tensors
    )


def _infer_gptq_bits(tensors: list[Tensor], names: set[str]) -> float:
    by_name = {t.name: t for t in tensors}
    for t in tensors:
        if not t.name.endswith(".qweight") or len(t.shape) != 2:
            continue
        mod = t.name[: -len(".qweight")]
        gidx = by_name.get(mod + ".g_idx")
        if gidx is not None and gidx.shape and gidx.shape[0]:
            return t.shape[0] * INT_CONTAINER_BITS.get(t.dtype, 32) / gidx.shape[0]
        scales = by_name.get(mod + ".scales")
        if scales is not None and len(scales.shape) == 2 and scales.shape[1]:  # AWQ [in, out*bits/32]
            return t.shape[1] * INT_CONTAINER_BITS.get(t.dtype, 32) / scales.shape[1]
    return 4.0


def _bnb_blocksize(tensors: list[Tensor]) -> int | None:
    """bitsandbytes 4-bit block size = values / absmax entries (64 by default)."""
    by_name = {t.name: t for t in tensors}
    for t in tensors:
        if t.name.endswith(".weight.absmax") and t.numel:
            w = by_name.get(t.name[: -len(".absmax")])
            if w is not None:
                return round(w.nbytes * 2 / t.numel)
    return None


def _infer_from_tensors(tensors: list[Tensor], names: set[str]) -> QuantScheme | None:
    src = "tensor names (no quantization config found)"
    if any(n.endswith(".qweight") for n in names):
        method = "gptq" if any(n.endswith(".g_idx") for n in names) else "awq"
        bits = _infer_gptq_bits(tensors, names)
        s = QuantScheme(method, "gptq", src, bits)
        s.notes.append(f"bits {bits:g} inferred from qweight shapes")
        return s
    if any(".quant_state.bitsandbytes__" in n or n.endswith(".weight.absmax") for n in names):
        return QuantScheme("bitsandbytes-4bit", "bnb4", src, 4, _bnb_blocksize(tensors))
    if any(n.endswith(".SCB") for n in names):
        return QuantScheme("bitsandbytes-8bit", "bnb8", src, 8)
    if any(t.dtype == "U8" and t.name.endswith("_blocks") for t in tensors) and any(
        n.endswith("_scales") for n in names
    ):
        return QuantScheme("mxfp4", "mxfp4", src, 4, 32, "mxfp4")
    if any(n.endswith(".weight_packed") for n in names):
        s = QuantScheme("compressed-tensors", "compressed", src, None)
        s.notes.append("no config_groups: 4-bit packing assumed")
        return s
    if any(n.endswith(".weight_scale_2") for n in names):
        return QuantScheme("modelopt", "modelopt", src, 4, 16, "NVFP4")
    if any(n.endswith(".weight_scale_inv") for n in names):
        return QuantScheme("fp8", "fp8", src, 8, None, "e4m3")
    if _looks_mlx(tensors, names):
        s = QuantScheme("mlx", "mlx", src, 4)
        s.notes.append("MLX bits not in a config; 4 assumed")
        return s
    if any(t.dtype in FP8_DTYPES for t in tensors) and any(n.endswith(".weight_scale") for n in names):
        return QuantScheme("fp8", "fp8", src, 8)
    return None


class QuantCounter:
    """Role and logical parameter count of each tensor under one scheme."""

    def __init__(self, scheme: QuantScheme | None, tensors: list[Tensor]) -> None:
        self.scheme = scheme
        self.inexact = 0  # tensors whose packing ratio was not whole (upper bound)
        self._gptq_modules: set[str] = set()
        self._bnb4_weights: set[str] = set()
        self._u32_weight_modules: set[str] = set()
        self._scaled_modules: set[str] = set()
        if scheme is None:
            return
        for t in tensors:  # one pass: which modules carry which bookkeeping
            n = t.name
            if n.endswith(".qweight"):
                self._gptq_modules.add(n[: -len(".qweight")])
            elif n.endswith(".weight.absmax"):
                self._bnb4_weights.add(n[: -len(".absmax")])
            elif ".quant_state." in n:
                self._bnb4_weights.add(n.split(".quant_state.")[0])
            elif n.endswith(".weight"):
                if t.dtype == "U32":
                    self._u32_weight_modules.add(n[: -len(".weight")])
            elif n.endswith((".weight_scale", ".weight_scale_inv")):
                self._scaled_modules.add(n.rsplit(".", 1)[0])

    def count(self, t: Tensor) -> tuple[Role, int]:
        """``(role, logical parameters)`` of one tensor."""
        if t.dtype in SCALE_ONLY_DTYPES:
            return "aux", 0
        s = self.scheme
        if s is None:
            return "plain", t.numel
        suf = suffix(t.name)
        layout = s.layout
        if layout == "gptq":
            if suf == "qweight":
                return "quantized", self._packed(t, s.bits)
            if suf in GPTQ_AUX_SUFFIXES and t.name[: -len(suf) - 1] in self._gptq_modules:
                return "aux", 0
        if suf in AUX_SUFFIXES:
            return "aux", 0
        if layout == "bnb4":
            if suf in BNB4_AUX_SUFFIXES or suf.startswith("bitsandbytes__") or ".quant_state." in t.name:
                return "aux", 0
            if t.name in self._bnb4_weights or (t.dtype == "U8" and suf == "weight"):
                return "quantized", t.nbytes * 2  # two 4-bit values per stored byte, any storage dtype
        elif layout == "bnb8":
            if suf in BNB8_AUX_SUFFIXES:
                return "aux", 0
            if t.dtype == "I8" and suf == "weight":
                return "quantized", t.numel
        elif layout == "mxfp4":
            if t.dtype == "U8" and suf.endswith("_scales"):
                return "aux", 0
            if t.dtype == "U8" and suf.endswith("_blocks"):
                return "quantized", t.numel * 2
        elif layout == "compressed":
            if suf == "weight_packed" and t.dtype in INT_CONTAINER_BITS:
                return "quantized", self._packed(t, self._ct_bits(module_of(t.name)))
            if (
                suf == "weight"
                and (t.dtype in FP8_DTYPES or t.dtype == "I8")
                and module_of(t.name) in self._scaled_modules
            ):
                return "quantized", t.numel
        elif layout == "modelopt":
            if suf == "weight" and t.dtype in ("U8", "I8") and self._modelopt_4bit(module_of(t.name)):
                return "quantized", t.numel * 2
            if suf == "weight" and (t.dtype in FP8_DTYPES or t.dtype in ("U8", "I8")):
                return "quantized", t.numel
        elif layout == "mlx":
            mod = module_of(t.name)
            if mod in self._u32_weight_modules:
                if suf in ("scales", "biases"):
                    return "aux", 0
                if suf == "weight":
                    return "quantized", self._packed(t, self._mlx_bits(mod))
        if (
            layout in ("fp8", "generic", "modelopt", "compressed")
            and suf == "weight"
            and t.dtype in FP8_DTYPES
        ):
            return "quantized", t.numel
        if s.expert_bits and _is_routed_expert(t.name) and t.dtype in INT_CONTAINER_BITS:
            return "quantized", self._packed(t, s.expert_bits)
        return "plain", t.numel

    def _packed(self, t: Tensor, bits: float | None) -> int:
        n, exact = packed_parameters(t.numel, t.dtype, bits)
        if not exact:
            self.inexact += 1
        return n

    def _ct_bits(self, module: str) -> int:
        s = self.scheme
        assert s is not None
        for targets, bits, fmt in s.groups:
            if any(matches_target(tg, module) for tg in targets):
                return bits or bits_from_format(fmt) or bits_from_format(s.format) or 4
        for _targets, bits, _fmt in s.groups:
            if bits:
                return bits
        return bits_from_format(s.format) or 4

    def _modelopt_4bit(self, module: str) -> bool:
        s = self.scheme
        assert s is not None
        layer = _dict(s.per_module.get(module))
        algo = str(layer.get("quant_algo") or "").upper() if layer else (s.format or "")
        return any(k in algo for k in ("FP4", "INT4", "W4")) or (not algo and s.bits == 4)

    def _mlx_bits(self, module: str) -> float | None:
        s = self.scheme
        assert s is not None
        override = _dict(s.per_module.get(module))
        if override and isinstance(override.get("bits"), int):
            return float(override["bits"])
        return s.bits
