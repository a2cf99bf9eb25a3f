"""What the GGUF reader returns (the header, its tensors, summarised arrays) and the limits it reads under."""

from __future__ import annotations

import math
from typing import Any

import msgspec

from hubmem.formats.gguf.tables import tables

MiB = 1 << 20
INT64_MAX = (1 << 63) - 1  # dimensions, element counts and offsets are int64 in llama.cpp


class Limits(msgspec.Struct, frozen=True):
    """Caps that keep a hostile header from costing unbounded memory or CPU (refusals: CorruptHeaderError).

    ``max_header_bytes`` (64 MiB) bounds everything else: no read goes past it, and a count whose smallest
    possible encoding cannot fit is refused before anything more is read. The largest real headers are those
    of 256k-vocabulary models: gemma-3's is about 6 MB (262,144 token strings, scores and token types), and
    Llama-3 / Qwen tokenizers with BPE merges run 3-5 MB, so 64 MiB is 10x headroom while still finite (the
    safetensors cap is 25 MB, but those headers never hold a vocabulary).
    ``max_string_bytes`` (16 MiB): the longest real strings are chat templates, tens of KB.
    ``max_tensors`` / ``max_kv`` (1,000,000): real files have a few thousand tensors at most (MoE experts
    are stacked into 3-D tensors) and well under 100 keys.
    ``max_array_count`` (100M) and ``max_array_depth`` (8; llama.cpp refuses nested arrays outright, the
    spec and gguf-py allow them). ``max_dims`` is GGML_MAX_DIMS (4).
    ``keep_array_values`` (4096): longer arrays become a :class:`GGUFArray` summary; per-layer arrays
    (``{arch}.attention.head_count_kv``, ``sliding_window_pattern``...) have a few hundred entries at most.
    """

    max_header_bytes: int = 64 * MiB
    max_string_bytes: int = 16 * MiB
    max_tensors: int = 1_000_000
    max_kv: int = 1_000_000
    max_array_count: int = 100_000_000
    max_array_depth: int = 8
    max_dims: int = 4
    keep_array_values: int = 4096


DEFAULT_LIMITS = Limits()


class GGUFArray(msgspec.Struct, frozen=True):
    """A metadata array too long to keep (a tokenizer vocabulary): element type, length, encoded size."""

    elem_type: str  # gguf.GGUFValueType name, e.g. "STRING"
    count: int
    nbytes: int  # bytes of the elements in the file (the 12-byte type + count prefix not included)


class GGUFTensor(msgspec.Struct, frozen=True):
    name: str
    ggml_type: str  # gguf.GGMLQuantizationType name, e.g. "Q4_K"
    ne: tuple[int, ...]  # ggml order: ne[0] is the row length (the fastest-varying dimension)
    offset: int  # from the start of the data section
    nbytes: int  # exact: elements / block size * type size

    @property
    def shape(self) -> tuple[int, ...]:
        """numpy / PyTorch order (ne reversed)."""
        return self.ne[::-1]

    @property
    def elements(self) -> int:
        return math.prod(self.ne)


def align(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


class GGUFHeader(msgspec.Struct, frozen=True):
    version: int
    n_tensors: int
    n_kv: int
    metadata: dict[str, Any]  # scalars as int/float/bool/str, short arrays as lists, long ones as GGUFArray
    tensors: list[GGUFTensor]
    alignment: int
    header_end: int  # file offset just after the last tensor info
    byte_order: str = "little"
    file: str = ""
    file_size: int | None = None
    # irregularities llama.cpp refuses but the bytes can still be counted (tensors not packed back to back,
    # tensor names of 64 bytes or more)
    notes: tuple[str, ...] = ()

    @property
    def data_offset(self) -> int:
        """Start of the data section: header_end rounded up to the alignment."""
        return align(self.header_end, self.alignment)

    @property
    def architecture(self) -> str | None:
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None

    @property
    def file_type(self) -> int | None:
        value = self.metadata.get("general.file_type")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def file_type_name(self) -> str | None:
        """The gguf.LlamaFileType name, e.g. "MOSTLY_Q4_K_M" (None when absent or unknown)."""
        ftype = self.file_type
        return None if ftype is None else tables().file_types.get(ftype)

    @property
    def file_type_label(self) -> str | None:
        """The usual short name, e.g. "Q4_K_M", "F32", "MXFP4_MOE"."""
        name = self.file_type_name
        return None if name is None else name.removeprefix("MOSTLY_").removeprefix("ALL_")

    @property
    def tensor_bytes(self) -> int:
        """Exact bytes of all tensors (padding between them not counted)."""
        return sum(t.nbytes for t in self.tensors)

    @property
    def parameters(self) -> int:
        return sum(t.elements for t in self.tensors)

    @property
    def data_end(self) -> int:
        """End of the last tensor's data, relative to the data section, padded to the alignment."""
        return max((align(t.offset + t.nbytes, self.alignment) for t in self.tensors), default=0)

    @property
    def expected_file_size(self) -> int:
        return self.data_offset + self.data_end

    def check_file_size(self, file_size: int) -> str | None:
        """None when ``file_size`` is what the tensor infos imply for an unsplit file, else the mismatch.

        The last tensor's padding may be left out (some writers do); a file with no tensors may end at
        header_end. Each shard of a split model (``split.count``) is a GGUF of its own and checks alone.
        """
        expected = self.expected_file_size
        unpadded = self.data_offset + max((t.offset + t.nbytes for t in self.tensors), default=0)
        if file_size in (expected, unpadded) or (not self.tensors and file_size == self.header_end):
            return None
        what = "missing" if file_size < expected else "unaccounted for"
        return (
            f"{self.file or 'GGUF file'}: the tensor infos end the data at byte {expected:,} but the file is "
            f"{file_size:,} bytes ({abs(file_size - expected):,} bytes {what})"
        )

    @property
    def size_problem(self) -> str | None:
        """:meth:`check_file_size` against the size given to the parser (None when none was given)."""
        return None if self.file_size is None else self.check_file_size(self.file_size)
