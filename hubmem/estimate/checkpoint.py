"""The checkpoint a snapshot holds, whatever its format, once its architecture is known: the weights section
and the tensors the training projection works on (the pipeline parses the architecture and calls these).

* ``safetensors``: the headers -> exact weights (``estimate_weights``);
* ``gguf``: the GGUF tensor infos -> exact weights (:mod:`hubmem.estimate.weights.gguf`), the architecture
  read from its metadata; config.json's, when the repo has one, is kept for the cross-checks;
* ``config``: no weight file read; weights projected from config.json
  (:mod:`hubmem.estimate.weights.projected`).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from hubmem.errors import CorruptHeaderError
from hubmem.estimate.table import TensorTable, tensor_table
from hubmem.estimate.weights.gguf import estimate_gguf_weights, gguf_training_tensors
from hubmem.estimate.weights.projected import project_config_weights
from hubmem.estimate.weights.report import estimate_weights
from hubmem.formats.gguf.header import GGUFHeader
from hubmem.formats.gguf.record import header_from_record
from hubmem.formats.json_reader import brief
from hubmem.formats.safetensors import Tensor, check_data_size
from hubmem.schema.architecture import Architecture
from hubmem.schema.weights import WeightsReport
from hubmem.snapshot import Snapshot

Source = Literal["safetensors", "gguf", "config"]


class Checkpoint(msgspec.Struct, frozen=True):
    source: Source
    architecture: Architecture  # GGUF: from its metadata
    weights: WeightsReport
    tensors: list[Tensor]  # the safetensors tensors (empty for the other sources)
    training_tensors: list[Tensor]  # what the training projection counts (GGUF: bf16 stand-ins)
    config_architecture: Architecture | None = None  # GGUF: config.json's, when the repo has one
    table: TensorTable | None = None  # the safetensors tensors grouped (hubmem.estimate.table)
    gguf: list[tuple[str, GGUFHeader]] = []  # every GGUF shard read: path, header


def weight_source(snapshot: Snapshot) -> Source:
    if not snapshot.files:
        return "config"
    return "gguf" if any(f.format == "gguf" for f in snapshot.files) else "safetensors"


def gguf_headers(snapshot: Snapshot) -> list[tuple[str, GGUFHeader]]:
    """The GGUF header of every shard read (rebuilt from the snapshot's records)."""
    out = []
    for f in snapshot.files:
        if f.format == "gguf":
            try:
                out.append((f.path, header_from_record(f.gguf_record)))
            except ValueError as exc:  # the header cache checks records first; this is the last line
                raise CorruptHeaderError(f"{brief(f.path)}: {exc}") from None
    return out


def parse_snapshot_tensors(snapshot: Snapshot, *, check_sizes: bool = True) -> list[Tensor]:
    """Every tensor of the snapshot's safetensors headers (validated as they were read), in file order, then
    offset order, each file's size checked against 8 + N + the data its tensors cover. ``check_sizes=False``
    does not refuse a file whose size differs (the cross-check reports it instead)."""
    tensors: list[Tensor] = []
    for f in snapshot.files:
        header = f.safetensors
        if f.size is not None and check_sizes:
            check_data_size(header, f.size - 8 - f.header_length, file=f.path)
        tensors.extend(header.tensors)
    return tensors


def gguf_checkpoint(
    snapshot: Snapshot, headers: list[tuple[str, GGUFHeader]], arch: Architecture, config: Architecture | None
) -> Checkpoint:
    weights = estimate_gguf_weights(snapshot, headers, arch)
    training = gguf_training_tensors(headers)
    return Checkpoint("gguf", arch, weights, [], training, config_architecture=config, gguf=headers)


def config_checkpoint(snapshot: Snapshot, arch: Architecture) -> Checkpoint:
    weights, stand_ins = project_config_weights(snapshot, arch)
    return Checkpoint("config", arch, weights, [], stand_ins)


def safetensors_checkpoint(snapshot: Snapshot, tensors: list[Tensor], arch: Architecture) -> Checkpoint:
    table = tensor_table(tensors)
    weights = estimate_weights(snapshot, tensors, arch, table)
    return Checkpoint("safetensors", arch, weights, tensors, tensors, table=table)
