"""What the fetch stage hands to the parse stage: one consistent snapshot of a repo.

Everything here is raw (JSON dicts) but the safetensors headers, which are validated as they arrive
(:class:`hubmem.formats.safetensors.SafetensorsHeader`: the decoded JSON of 100k tensors is not kept);
config parsing happens in ``hubmem.parse``. Local directories, the HF cache and the Hub all produce
the same ``Snapshot`` so that every later stage has exactly one code path.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from hubmem.formats.safetensors import SafetensorsHeader


class WeightFile(msgspec.Struct, frozen=True):
    """One weight file's header, the real file size and the commit it was read at. The one record of a
    header, whether read over HTTP, from the header cache or from disk.

    safetensors: ``header`` is the validated header and ``header_length`` its length N (the u64 at offset 0).
    GGUF: ``header`` is the header's record (:func:`hubmem.formats.gguf.record.header_record`: the metadata,
    long arrays summarised, and the tensor infos), ``header_length`` the bytes up to the end of the tensor
    infos."""

    path: str  # path inside the repo (or the local folder)
    header_length: int
    header: SafetensorsHeader | dict[str, Any]  # not in repr (see __repr__)
    size: int | None = None  # real file size in bytes when known (X-Linked-Size, Content-Range, stat)
    commit: str | None = None  # the commit the header was read at, when the source said (X-Repo-Commit)
    format: Literal["safetensors", "gguf"] = "safetensors"

    def __repr__(self) -> str:
        # not the header: a repr of a snapshot (asyncio.run formats its main task's result on the way out
        # under Python 3.11) would otherwise write out every header, ~0.5 s for 92k tensors
        return f"WeightFile({self.path!r}, {self.header_length}, <{self.format} header>, size={self.size})"

    @property
    def safetensors(self) -> SafetensorsHeader:
        """The safetensors header (a GGUF file has none)."""
        if not isinstance(self.header, SafetensorsHeader):
            raise TypeError(f"{self.path} is a {self.format} file, not safetensors")
        return self.header

    @property
    def gguf_record(self) -> dict[str, Any]:
        """The GGUF header's record (a safetensors file has none)."""
        if isinstance(self.header, SafetensorsHeader):
            raise TypeError(f"{self.path} is a safetensors file, not GGUF")
        return self.header

    def tensor_names(self) -> list[str]:
        """Names of the tensors the header lists (safetensors entries, or GGUF tensor infos)."""
        if isinstance(self.header, SafetensorsHeader):
            return self.header.names()
        return [str(row[0]) for row in self.header.get("tensors", [])]


class GGUFModel(msgspec.Struct, frozen=True):
    """A GGUF model of a repo: one file, or the shards of a split file (in order)."""

    name: str
    paths: tuple[str, ...]
    quant: str | None  # the quantization its name carries (Q4_K_M ...)
    mmproj: bool  # a multimodal projector, not a language model


class GGUFSelection(msgspec.Struct, frozen=True):
    """Which GGUF model was read (its shards are the snapshot's ``files``), why, and every one of the repo."""

    models: list[GGUFModel]
    chosen: GGUFModel
    reason: str


class FetchStats(msgspec.Struct):
    """What it cost to build the snapshot (for benchmarks and the report)."""

    requests: int = 0
    bytes_received: int = 0
    round_trips: int = 0  # longest chain of sequential requests
    cache_hits: int = 0


class Snapshot(msgspec.Struct):
    repo_id: str  # repo id, or the local path for local checkpoints
    revision: str  # what the user asked for ("main", a branch, tag, sha, refs/pr/N)
    commit: str | None  # the 40-hex sha everything was read at (None for local folders)
    source: str  # "hub" | "local" | "cache"
    endpoint: str | None = None
    subfolder: str | None = None
    config: dict[str, Any] | None = None  # config.json (None when the repo has none)
    index: dict[str, Any] | None = None  # model.safetensors.index.json (sharded); not in repr (see __repr__)
    index_path: str | None = None
    files: list[WeightFile] = []
    gguf: GGUFSelection | None = (
        None  # a GGUF repo: the model read (``files`` holds its shards) and the others
    )
    # exact sizes the listing gave for files that are not read: the other GGUF models, and the weight files
    # of formats hubmem does not read (pytorch_model*.bin, *.pt, consolidated.*.pth), which ``unread`` names
    sizes: dict[str, int] = {}
    unread: list[str] = []
    # other small JSON files read alongside (quantize_config.json, params.json ...), path -> content
    extra: dict[str, Any] = {}
    # the Hub's own view when fetched (model_info ``safetensors``, ``gated``, file sizes from the tree)
    hub_info: dict[str, Any] | None = None
    stats: FetchStats = msgspec.field(default_factory=FetchStats)
    warnings: list[str] = []

    def __repr__(self) -> str:
        # not the index nor the config: a 92k-entry weight_map would be written out whole (see WeightFile)
        return (
            f"Snapshot({self.repo_id!r}, {self.revision!r}, {self.commit!r}, {self.source!r}, "
            f"files={len(self.files)}, warnings={len(self.warnings)})"
        )
