"""A parsed GGUF header as a JSON-ready dict and back (what the header cache stores: a few KB of tensor infos
and short metadata instead of the header's megabytes; long arrays are kept as their :class:`GGUFArray`
summaries)."""

from __future__ import annotations

import math
from typing import Any

from hubmem.formats.gguf.header import DEFAULT_LIMITS, INT64_MAX, GGUFArray, GGUFHeader, GGUFTensor, align
from hubmem.formats.gguf.tables import ggml_type_sizes

_ARRAY = "$gguf_array"  # marks a GGUFArray summary in the record: [elem_type, count, nbytes]


def _encode(value: Any) -> Any:
    if isinstance(value, GGUFArray):
        return {_ARRAY: [value.elem_type, value.count, value.nbytes]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any, depth: int = 0) -> Any:
    """A metadata value of the record (ValueError for anything the parser could not have produced)."""
    if isinstance(value, dict):
        if set(value) != {_ARRAY} or not isinstance(value[_ARRAY], list) or len(value[_ARRAY]) != 3:
            raise ValueError("GGUF header record: a metadata object that is not an array summary")
        elem_type, count, nbytes = value[_ARRAY]
        _need(isinstance(elem_type, str) and _is_int(count) and _is_int(nbytes), "an invalid array summary")
        return GGUFArray(elem_type, count, nbytes)
    if isinstance(value, list):
        _need(depth < DEFAULT_LIMITS.max_array_depth, "arrays nested too deep")
        return [_decode(v, depth + 1) for v in value]
    _need(value is None or isinstance(value, str | int | float), "a metadata value of an unknown type")
    _need(not isinstance(value, int) or -(2**63) <= value < 2**64, "a metadata integer beyond 64 bits")
    return value


def _need(condition: bool, problem: str) -> None:
    if not condition:
        raise ValueError(f"GGUF header record: {problem}")


def _is_int(value: Any, high: int = INT64_MAX) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= high


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
    """The header of :func:`header_record`; ValueError for a record that the parser could not have produced
    (a cache entry of another hubmem version, or a forged one): every field typed and within the parser's
    limits, every tensor's byte size what its type and shape make, the tensors placed as the parser places
    them."""
    try:
        metadata, tensors, alignment = record["metadata"], record["tensors"], record["alignment"]
        version, header_end, file_size = record["version"], record["header_end"], record["file_size"]
        byte_order, file, notes = record["byte_order"], record["file"], record["notes"]
        n_tensors, n_kv = record["n_tensors"], record["n_kv"]
    except (KeyError, TypeError):
        raise ValueError("GGUF header record: a field is missing") from None
    _need(isinstance(metadata, dict) and isinstance(tensors, list) and isinstance(notes, list), "wrong types")
    _need(_is_int(alignment) and alignment > 0 and not alignment & (alignment - 1), "invalid alignment")
    _need(
        version in (2, 3) and _is_int(header_end, DEFAULT_LIMITS.max_header_bytes), "invalid version or end"
    )
    _need(file_size is None or _is_int(file_size), "invalid file size")
    _need(byte_order in ("little", "big") and isinstance(file, str), "invalid byte order or file")
    _need(all(isinstance(n, str) for n in notes), "invalid notes")
    _need(
        _is_int(n_tensors) and n_tensors == len(tensors) <= DEFAULT_LIMITS.max_tensors,
        "a tensor count that is not the tensors'",
    )
    _need(_is_int(n_kv, DEFAULT_LIMITS.max_kv) and len(metadata) <= n_kv, "an invalid key/value count")
    return GGUFHeader(
        version=version,
        n_tensors=n_tensors,
        n_kv=n_kv,
        metadata={str(k): _decode(v) for k, v in metadata.items()},
        tensors=_tensors(tensors, alignment),
        alignment=alignment,
        header_end=header_end,
        byte_order=byte_order,
        file=file,
        file_size=file_size,
        notes=tuple(notes),
    )


def _tensors(rows: list[Any], alignment: int) -> list[GGUFTensor]:
    """The tensor infos of a record, checked as the parser checks them (and their sizes recomputed)."""
    sizes = ggml_type_sizes()
    out: list[GGUFTensor] = []
    end = 0
    for row in rows:
        _need(isinstance(row, list) and len(row) == 5, "a tensor info is not [name, type, ne, offset, bytes]")
        name, ggml_type, ne, offset, nbytes = row
        _need(isinstance(name, str) and isinstance(ggml_type, str) and isinstance(ne, list), "invalid tensor")
        _need(ggml_type in sizes, "an unknown ggml type")
        _need(len(ne) <= DEFAULT_LIMITS.max_dims and all(_is_int(d) for d in ne), "invalid tensor shape")
        block, type_size = sizes[ggml_type]
        elements = math.prod(ne)
        _need(elements <= INT64_MAX and (ne[0] if ne else 1) % block == 0, "invalid tensor shape")
        _need(nbytes == elements // block * type_size, "a tensor's byte size does not match its shape")
        _need(_is_int(offset) and offset % alignment == 0 and offset >= end, "invalid tensor offset")
        _need(offset + nbytes <= INT64_MAX, "tensor data past 2^63")
        end = align(offset + nbytes, alignment)
        out.append(GGUFTensor(name, ggml_type, tuple(ne), offset, nbytes))
    return out
