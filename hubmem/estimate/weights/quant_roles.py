"""Quantized checkpoints: which format, and how many *logical* parameters each stored tensor holds.

The rules follow huggingface.js ``parse-safetensors-metadata.ts`` (``getQuantizationMultiplier``,
``shouldSkipTensor``; docs/theory.md 3.2), which is what the Hub's model page shows, with three
deliberate refinements: the packing factor is the exact ratio ``container_bits / bits`` (3-bit
GPTQ in I32 is 32/3, not ``floor(32/3) = 10``); bitsandbytes 4-bit follows the storage dtype
(``bnb_4bit_quant_storage``: ``nbytes * 2`` values); and a scalar that is a real parameter counts
1 (huggingface_hub semantics) instead of being skipped.

Each tensor gets a role:

* ``plain``      an ordinary tensor, parameters = elements;
* ``quantized``  a quantized weight, parameters = elements x packing factor (1 for fp8 / int8);
* ``aux``        quantization bookkeeping (scales, zero points, g_idx, absmax ...): never parameters.

Where the config says nothing (older repos) the format is inferred from tensor names and said so.

The roles are assigned by :class:`QuantCounter` under the ``QuantScheme`` (``quant_scheme.py``) that
``detect_scheme`` (``quant_detect.py``) found.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Literal

from hubmem.estimate.weights.names import is_routed_expert, module_of, suffix
from hubmem.estimate.weights.quant_scheme import (
    AUX_SUFFIXES,
    BNB4_AUX_SUFFIXES,
    BNB8_AUX_SUFFIXES,
    FP8_DTYPES,
    GPTQ_AUX_SUFFIXES,
    INT_CONTAINER_BITS,
    SCALE_ONLY_DTYPES,
    QuantScheme,
    as_dict,
    bits_from_format,
    packed_parameters,
)
from hubmem.formats.safetensors import Tensor

Role = Literal["plain", "quantized", "aux"]
_FP8_WEIGHT_LAYOUTS = frozenset({"fp8", "generic", "modelopt", "compressed"})
# layouts whose rules look at the other tensors of a module (qweight beside scales, absmax beside weight ...)
_SIBLING_LAYOUTS = frozenset({"gptq", "bnb4", "compressed", "mlx"})


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


class QuantCounter:
    """Role and logical parameter count of each tensor under one scheme."""

    def __init__(self, scheme: QuantScheme | None, tensors: list[Tensor]) -> None:
        self.scheme = scheme
        self.inexact = 0  # tensors whose packing ratio was not whole (upper bound)
        self._gptq_modules: set[str] = set()
        self._bnb4_weights: set[str] = set()
        self._u32_weight_modules: set[str] = set()
        self._scaled_modules: set[str] = set()
        rules: dict[str, Callable[[Tensor, str], tuple[Role, int] | None]] = {
            "bnb4": self._bnb4,
            "bnb8": self._bnb8,
            "mxfp4": self._mxfp4,
            "compressed": self._compressed,
            "modelopt": self._modelopt,
            "mlx": self._mlx,
        }
        self._rule = rules.get(scheme.layout) if scheme is not None else None
        # a tensor's role depends only on its dtype, shape and name pattern, never on its siblings' names
        self.by_pattern = scheme is None or scheme.layout not in _SIBLING_LAYOUTS
        if not self.by_pattern:
            self._index_siblings(tensors)

    def _index_siblings(self, tensors: list[Tensor]) -> None:
        """One pass: which modules carry which bookkeeping (the layouts whose roles depend on it)."""
        for t in tensors:
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
        if s.layout == "gptq" and (found := self._gptq(t, suf)) is not None:
            return found
        if suf in AUX_SUFFIXES:
            return "aux", 0
        if self._rule is not None and (found := self._rule(t, suf)) is not None:
            return found
        if s.layout in _FP8_WEIGHT_LAYOUTS and suf == "weight" and t.dtype in FP8_DTYPES:
            return "quantized", t.numel
        if s.expert_bits and is_routed_expert(t.name) and t.dtype in INT_CONTAINER_BITS:
            return "quantized", self._packed(t, s.expert_bits)
        return "plain", t.numel

    # -- one rule per packing layout: None = not decided here -------------------------------------

    def _gptq(self, t: Tensor, suf: str) -> tuple[Role, int] | None:
        if suf == "qweight":
            return "quantized", self._packed(t, self.scheme.bits if self.scheme else None)
        if suf in GPTQ_AUX_SUFFIXES and t.name[: -len(suf) - 1] in self._gptq_modules:
            return "aux", 0
        return None

    def _bnb4(self, t: Tensor, suf: str) -> tuple[Role, int] | None:
        if suf in BNB4_AUX_SUFFIXES or suf.startswith("bitsandbytes__") or ".quant_state." in t.name:
            return "aux", 0
        if t.name in self._bnb4_weights or (t.dtype == "U8" and suf == "weight"):
            return "quantized", t.nbytes * 2  # two 4-bit values per stored byte, any storage dtype
        return None

    def _bnb8(self, t: Tensor, suf: str) -> tuple[Role, int] | None:
        if suf in BNB8_AUX_SUFFIXES:
            return "aux", 0
        return ("quantized", t.numel) if t.dtype == "I8" and suf == "weight" else None

    def _mxfp4(self, t: Tensor, suf: str) -> tuple[Role, int] | None:
        if t.dtype == "U8" and suf.endswith("_scales"):
            return "aux", 0
        return ("quantized", t.numel * 2) if t.dtype == "U8" and suf.endswith("_blocks") else None

    def _compressed(self, t: Tensor, suf: str) -> tuple[Role, int] | None:
        if suf == "weight_packed" and t.dtype in INT_CONTAINER_BITS:
            return "quantized", self._packed(t, self._ct_bits(module_of(t.name)))
        scaled = module_of(t.name) in self._scaled_modules
        if suf == "weight" and (t.dtype in FP8_DTYPES or t.dtype == "I8") and scaled:
            return "quantized", t.numel
        return None

    def _modelopt(self, t: Tensor, suf: str) -> tuple[Role, int] | None:
        if suf != "weight":
            return None
        if t.dtype in ("U8", "I8") and self._modelopt_4bit(module_of(t.name)):
            return "quantized", t.numel * 2
        return ("quantized", t.numel) if t.dtype in FP8_DTYPES or t.dtype in ("U8", "I8") else None

    def _mlx(self, t: Tensor, suf: str) -> tuple[Role, int] | None:
        mod = module_of(t.name)
        if mod not in self._u32_weight_modules:
            return None
        if suf in ("scales", "biases"):
            return "aux", 0
        return ("quantized", self._packed(t, self._mlx_bits(mod))) if suf == "weight" else None

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
        layer = as_dict(s.per_module.get(module))
        algo = str(layer.get("quant_algo") or "").upper() if layer else (s.format or "")
        return any(k in algo for k in ("FP4", "INT4", "W4")) or (not algo and s.bits == 4)

    def _mlx_bits(self, module: str) -> float | None:
        s = self.scheme
        assert s is not None
        override = as_dict(s.per_module.get(module))
        if override and isinstance(override.get("bits"), int):
            return float(override["bits"])
        return s.bits
