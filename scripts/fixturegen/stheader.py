"""Serialise safetensors headers byte-for-byte the way the safetensors library does.

safetensors (Rust, ``tensor.rs``): ``prepare`` sorts tensors by dtype (enum order, descending) and then by
name; offsets are assigned contiguously in that order; ``Metadata`` serialises ``__metadata__`` first and
then the tensors in offset order, with serde_json's compact form (no spaces, non-ASCII kept as UTF-8);
since safetensors 0.3 the header is padded with spaces to a multiple of 8 bytes. ``verify_against_library``
checks all of this against the installed library on tiny tensors.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F4": 4, "F6_E2M3": 6,
    "F6_E3M2": 6, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
    "F64": 64, "I64": 64, "U64": 64,
}  # fmt: skip

# safetensors ``Dtype`` declaration order (derive(Ord)); the library sorts descending by this rank.
# Verified against the installed library by ``verify_against_library``.
DTYPE_RANK: dict[str, int] = {
    name: i
    for i, name in enumerate(
        ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0",
         "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]
    )
}  # fmt: skip

TORCH_TO_ST = {
    "torch.float32": "F32", "torch.float16": "F16", "torch.bfloat16": "BF16", "torch.float64": "F64",
    "torch.int64": "I64", "torch.int32": "I32", "torch.int16": "I16", "torch.int8": "I8", "torch.uint8": "U8",
    "torch.bool": "BOOL", "torch.float8_e4m3fn": "F8_E4M3", "torch.float8_e5m2": "F8_E5M2",
    "torch.float8_e8m0fnu": "F8_E8M0", "torch.uint32": "U32", "torch.uint16": "U16", "torch.uint64": "U64",
}  # fmt: skip


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        bits = self.numel * DTYPE_BITS[self.dtype]
        if bits % 8:
            raise ValueError(f"{self.name}: {self.dtype}{list(self.shape)} is not byte aligned")
        return bits // 8


def library_order(tensors: Iterable[TensorSpec]) -> list[TensorSpec]:
    """The order in which the safetensors library lays tensors out in the data buffer."""
    return sorted(tensors, key=lambda t: (-DTYPE_RANK[t.dtype], t.name))


def serialize_header(
    tensors: Sequence[TensorSpec],
    metadata: dict[str, str] | None = None,
    *,
    align: int = 8,
    pad_to: int | None = None,
    keep_order: bool = False,
) -> tuple[bytes, int]:
    """Return (the exact N header bytes, data size). ``align=1`` mimics pre-0.3 files (no padding).

    ``pad_to`` pads with trailing spaces to exactly that many bytes (used only for special fixtures);
    ``keep_order`` lays tensors out in the given order instead of the library's (dtype, name) order.
    """
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise ValueError("duplicate tensor names")
    obj: dict[str, object] = {}
    if metadata is not None:
        obj["__metadata__"] = metadata
    offset = 0
    for t in tensors if keep_order else library_order(tensors):
        end = offset + t.nbytes
        obj[t.name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [offset, end]}
        offset = end
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if pad_to is not None:
        if pad_to < len(raw):
            raise ValueError(f"header is {len(raw)} bytes, cannot pad to {pad_to}")
        raw += b" " * (pad_to - len(raw))
    elif align > 1:
        raw += b" " * (-len(raw) % align)
    return raw, offset


def parse_header(raw: bytes) -> list[TensorSpec]:
    """Tensors of a header, in offset order (checks contiguity and sizes)."""
    obj = json.loads(raw.decode("utf-8"))
    items = sorted(
        ((k, v) for k, v in obj.items() if k != "__metadata__"), key=lambda kv: kv[1]["data_offsets"][0]
    )
    out: list[TensorSpec] = []
    cursor = 0
    for name, info in items:
        t = TensorSpec(name, info["dtype"], tuple(info["shape"]))
        b, e = info["data_offsets"]
        if b != cursor or e - b != t.nbytes:
            raise ValueError(f"{name}: bad offsets {b}..{e} (cursor {cursor}, nbytes {t.nbytes})")
        cursor = e
        out.append(t)
    return out


def file_size(header: bytes, data_size: int) -> int:
    return 8 + len(header) + data_size


def verify_against_library() -> None:
    """Fail loudly unless serialize_header reproduces safetensors' own bytes (needs torch + safetensors)."""
    import torch
    from safetensors.torch import save

    dtypes = {
        "F32": torch.float32, "U32": torch.uint32, "I32": torch.int32, "BF16": torch.bfloat16,
        "F16": torch.float16, "I64": torch.int64, "F64": torch.float64, "F8_E4M3": torch.float8_e4m3fn,
        "F8_E5M2": torch.float8_e5m2, "F8_E8M0": torch.float8_e8m0fnu, "U8": torch.uint8, "I8": torch.int8,
        "BOOL": torch.bool, "I16": torch.int16, "U16": torch.uint16,
    }  # fmt: skip
    specs = []
    tensors = {}
    for i, (dt, tdt) in enumerate(sorted(dtypes.items())):
        for j, shape in enumerate([(3, 5), (7,), ()]):
            name = f"m.{(i * 7 + j * 3) % 11}.{dt.lower()}.w{j}"
            specs.append(TensorSpec(name, dt, shape))
            tensors[name] = torch.zeros(shape, dtype=tdt)
    blob = save(tensors, metadata={"format": "pt"})
    (n,) = struct.unpack("<Q", blob[:8])
    mine, data = serialize_header(specs, {"format": "pt"})
    if mine != blob[8 : 8 + n] or 8 + n + data != len(blob):
        raise SystemExit("FATAL: serialize_header does not reproduce the safetensors library's header bytes")
