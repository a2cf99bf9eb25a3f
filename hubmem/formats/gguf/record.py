"""A parsed GGUF header as a JSON-ready dict and back (what the header cache stores: a few KB of tensor infos
and short metadata instead of the header's megabytes; long arrays are kept as their :class:`GGUFArray`
summaries)."""

from __future__ import annotations

from typing import Any

from hubmem.formats.gguf.header import GGUFArray, GGUFHeader, GGUFTensor

_ARRAY = "$gguf_array"  # marks a GGUFArray summary in the record: [elem_type, count, nbytes]


def _encode(value: Any) -> Any:
    if isinstance(value, GGUFArray):
        return {_ARRAY: [value.elem_type, value.count, value.nbytes]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and _ARRAY in value:
        elem_type, count, nbytes = value[_ARRAY]
        return GGUFArray(str(elem_type), int(count), int(nbytes))
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def header_record(header: GGUFHeader) -> dict[str, Any]:
    """Everything :func:`header_from_record` needs to rebuild ``header``."""
    return {
        "version": header.version,
        "n_tensors": header.n_tensors,
        "n_kv": header.n_kv,
        "metadata": {k: _encode(v) for k, v in header.metadata.items()},
        "tensors": [[t.name, t.ggml_type, list(t.ne), t.offset, t.nbytes] for t in header.tensors],
        "alignment": header.alignment,
        "header_end": header.header_end,
        "byte_order": header.byte_order,
        "file": header.file,
        "file_size": header.file_size,
        "notes": list(header.notes),
    }


def header_from_record(record: dict[str, Any]) -> GGUFHeader:
    """The header of :func:`header_record`; KeyError / TypeError / ValueError for a damaged record."""
    tensors = [
        GGUFTensor(str(n), str(t), tuple(int(d) for d in ne), int(o), int(b))
        for n, t, ne, o, b in record["tensors"]
    ]
    return GGUFHeader(
        version=int(record["version"]),
        n_tensors=int(record["n_tensors"]),
        n_kv=int(record["n_kv"]),
        metadata={str(k): _decode(v) for k, v in record["metadata"].items()},
        tensors=tensors,
        alignment=int(record["alignment"]),
        header_end=int(record["header_end"]),
        byte_order=str(record["byte_order"]),
        file=str(record["file"]),
        file_size=None if record["file_size"] is None else int(record["file_size"]),
        notes=tuple(str(n) for n in record["notes"]),
    )
