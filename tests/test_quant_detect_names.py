"""The name-based quantization detection reads each suffix from a set of last name segments instead of a
pass over every name per suffix; it must decide exactly as the plain per-name tests do (the oracle below),
for any names, hostile ones (no dot, a newline, a NUL, suffixes mid-name) included."""

from __future__ import annotations

from collections.abc import Sequence, Set

from hypothesis import given, settings
from hypothesis import strategies as st

from hubmem.estimate.weights.names import mask_all
from hubmem.estimate.weights.quant_detect import _any_qweight, _infer_from_tensors, _looks_mlx
from hubmem.estimate.weights.quant_scheme import FP8_DTYPES
from hubmem.formats.safetensors import Tensor


def _oracle(tensors: Sequence[Tensor], names: Set[str]) -> tuple[str, str] | None:
    """(method, layout) by the per-name tests, in the detector's order of precedence."""
    if any(n.endswith(".qweight") for n in names):
        return ("gptq" if any(n.endswith(".g_idx") for n in names) else "awq", "gptq")
    if any(".quant_state.bitsandbytes__" in n or n.endswith(".weight.absmax") for n in names):
        return ("bitsandbytes-4bit", "bnb4")
    if any(n.endswith(".SCB") for n in names):
        return ("bitsandbytes-8bit", "bnb8")
    if any(t.dtype == "U8" and t.name.endswith("_blocks") for t in tensors) and any(
        n.endswith("_scales") for n in names
    ):
        return ("mxfp4", "mxfp4")
    if any(n.endswith(".weight_packed") for n in names):
        return ("compressed-tensors", "compressed")
    if any(n.endswith(".weight_scale_2") for n in names):
        return ("modelopt", "modelopt")
    if any(n.endswith(".weight_scale_inv") for n in names):
        return ("fp8", "fp8")
    if _looks_mlx(tensors, names):
        return ("mlx", "mlx")
    if any(t.dtype in FP8_DTYPES for t in tensors) and any(n.endswith(".weight_scale") for n in names):
        return ("fp8", "fp8")
    return None


_PIECES = [
    "model", "layers", "0", "7", "mlp", "weight", "qweight", "g_idx", "scales", "absmax", "SCB",
    "quant_state", "bitsandbytes__nf4", "w_blocks", "w_scales", "_blocks", "_scales", "weight_packed",
    "weight_scale", "weight_scale_2", "weight_scale_inv", "bias", "", "\n", "\0", "a\nb",
]  # fmt: skip
_NAMES = st.lists(st.sampled_from(_PIECES), min_size=1, max_size=5).map(".".join)
_TENSORS = st.lists(
    st.tuples(_NAMES, st.sampled_from(["BF16", "U8", "U32", "I32", "F8_E4M3", "F32"])), max_size=12
)


@settings(max_examples=400, deadline=None)
@given(_TENSORS)
def test_name_detection_decides_as_the_per_name_tests(spec: list[tuple[str, str]]) -> None:
    tensors = [Tensor(name, dtype, (8, 4), 0, 0) for name, dtype in spec]
    names = {t.name for t in tensors}
    got = _infer_from_tensors(tensors, names)
    assert (None if got is None else (got.method, got.layout)) == _oracle(tensors, names)


def test_each_format_is_found_by_its_names() -> None:
    """The oracle itself sees every format (so the property above compares decisions, not Nones)."""
    cases = {
        "x.qweight": ("awq", "gptq"),
        "x.quant_state.bitsandbytes__nf4": ("bitsandbytes-4bit", "bnb4"),
        "x.weight.absmax": ("bitsandbytes-4bit", "bnb4"),
        "x.SCB": ("bitsandbytes-8bit", "bnb8"),
        "x.weight_packed": ("compressed-tensors", "compressed"),
        "x.weight_scale_2": ("modelopt", "modelopt"),
        "x.weight_scale_inv": ("fp8", "fp8"),
    }
    for name, want in cases.items():
        tensors = [Tensor(name, "BF16", (8, 4), 0, 0), Tensor("x.weight", "BF16", (8, 4), 0, 0)]
        names = {t.name for t in tensors}
        got = _infer_from_tensors(tensors, names)
        assert got is not None and (got.method, got.layout) == want == _oracle(tensors, names)
    paired = {  # formats that need two tensors of the right dtypes
        ("x.w_blocks", "U8", "x.w_scales", "U8"): ("mxfp4", "mxfp4"),
        ("x.weight", "U32", "x.scales", "BF16"): ("mlx", "mlx"),
        ("x.weight", "F8_E4M3", "x.weight_scale", "F32"): ("fp8", "fp8"),
    }
    for (a, da, b, db), want in paired.items():
        tensors = [Tensor(a, da, (8, 4), 0, 0), Tensor(b, db, (8, 4), 0, 0)]
        names = {t.name for t in tensors}
        got = _infer_from_tensors(tensors, names)
        assert got is not None and (got.method, got.layout) == want == _oracle(tensors, names)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from([*_PIECES, "qweight", "7qweight", "qweight7", "#"]), max_size=4).map(
            ".".join
        )
    )
)
def test_qweight_is_found_in_the_patterns_as_in_the_names(names: list[str]) -> None:
    """``detect_scheme`` looks for ``.qweight`` in the name patterns (digits masked) when it has them."""
    assert _any_qweight(set(mask_all(names))) == any(n.endswith(".qweight") for n in names)
