"""Weights projected from config.json alone, for repos whose weight files hubmem does not read
(``pytorch_model*.bin``, ``*.pt``, ``consolidated.*.pth``) or that hold no weights at all.

``parameters`` is the config-derived count (:func:`hubmem.estimate.params.formula.expected_parameters`, the
checkpoint total with any MTP module), ``total_bytes`` that count at the config's dtype (bfloat16 when it
names none): both projected, never read. The weight files that exist are listed with their exact sizes
(the Hub's file listing, or ``stat`` on disk)."""

from __future__ import annotations

from hubmem.errors import ConfigError
from hubmem.estimate.kv.state import DTYPE_BYTES
from hubmem.estimate.params.formula import expected_parameters
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture
from hubmem.schema.weights import ComponentWeights, DtypeWeights, ListedFile, WeightsReport
from hubmem.snapshot import Snapshot

# config-formula component -> weights-section component
_COMPONENTS = {"mamba": "ssm", "linear_attention": "ssm", "vision": "vision_tower", "head": "other"}
_SAFETENSORS_DTYPES = {"bfloat16": "BF16", "float16": "F16", "float32": "F32", "float64": "F64"}


def _dtype(arch: Architecture) -> tuple[str, str]:
    """(activation dtype, why) the projected bytes use."""
    if arch.dtype in DTYPE_BYTES:
        return arch.dtype, f"config.json's dtype {arch.dtype}"
    return "bfloat16", "bfloat16 (config.json names no dtype)"


def project_config_weights(snapshot: Snapshot, arch: Architecture) -> tuple[WeightsReport, list[Tensor]]:
    """The weights section, and stand-in tensors (one per component, at the config dtype) for the training
    projection."""
    cp = expected_parameters(arch)
    if not cp.checkpoint_total:  # no weights read and none projected: "0 B" would be a wrong answer
        why_not = "; ".join([*arch.missing, *cp.missing]) or "no parameter count"
        raise ConfigError(
            f"{snapshot.repo_id}: no weight file was read and config.json does not give the parameters "
            f"({why_not})",
            hint="Weights are read from safetensors or GGUF headers; without them the parameters come "
            "from config.json, which needs a valid layer count and hidden size.",
            repo_id=snapshot.repo_id,
        )
    dtype, why = _dtype(arch)
    size = DTYPE_BYTES[dtype]
    total = cp.checkpoint_total
    components: dict[str, int] = {}
    for name, n in cp.components.items():
        key = _COMPONENTS.get(name, name)
        components[key] = components.get(key, 0) + n
    if cp.mtp:
        components["mtp"] = cp.mtp
    notes = [
        f"no weight file read: parameters from the {cp.family or '?'} formula on config.json (projected), "
        f"bytes at {why}"
    ]
    notes += cp.missing + cp.notes
    st_dtype = _SAFETENSORS_DTYPES[dtype]
    report = WeightsReport(
        basis="projected",
        source="config",
        total_bytes=total * size,
        parameters=total,
        elements=total,
        tensors=0,
        by_dtype={st_dtype: DtypeWeights(bytes=total * size, parameters=total, elements=total, tensors=0)}
        if total
        else {},
        by_component={
            k: ComponentWeights(bytes=n * size, parameters=n, tensors=0, elements=n)
            for k, n in components.items()
        },
        files=[],
        unread_files=[ListedFile(path=p, size=snapshot.sizes.get(p)) for p in snapshot.unread],
        notes=notes,
    )
    stand_ins = [Tensor(f"config.{k}", st_dtype, (n,), 0, n * size) for k, n in components.items() if n > 0]
    return report, stand_ins
