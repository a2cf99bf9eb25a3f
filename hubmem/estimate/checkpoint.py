"""The checkpoint a snapshot holds, whatever its format: its architecture, its weights section and the tensors
the training projection works on.

* ``safetensors``: config.json -> architecture; the headers -> exact weights (``estimate_weights``);
* ``gguf``: the GGUF metadata -> architecture (:mod:`hubmem.parse.gguf`), its tensor infos -> exact weights
  (:mod:`hubmem.estimate.weights.gguf`); config.json, when the repo has one, is parsed too for the
  cross-checks;
* ``config``: no weight file read; config.json -> architecture and projected weights
  (:mod:`hubmem.estimate.weights.projected`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hubmem.errors import ConfigError
from hubmem.estimate.weights.gguf import estimate_gguf_weights, gguf_training_tensors
from hubmem.estimate.weights.projected import project_config_weights
from hubmem.estimate.weights.report import estimate_weights
from hubmem.formats.safetensors import Tensor, parse_tensors
from hubmem.parse.config import parse_config
from hubmem.parse.gguf.architecture import architecture_from_gguf
from hubmem.schema.architecture import Architecture
from hubmem.schema.weights import WeightsReport
from hubmem.snapshot import Snapshot

Source = Literal["safetensors", "gguf", "config"]


@dataclass(frozen=True)
class Checkpoint:
    source: Source
    architecture: Architecture  # GGUF: from its metadata
    weights: WeightsReport
    tensors: list[Tensor]  # the safetensors tensors (empty for the other sources)
    training_tensors: list[Tensor]  # what the training projection counts (GGUF: bf16 stand-ins)
    config_architecture: Architecture | None = None  # GGUF: config.json's, when the repo has one


def weight_source(snapshot: Snapshot) -> Source:
    if not snapshot.files:
        return "config"
    return "gguf" if any(f.gguf is not None for f in snapshot.files) else "safetensors"


def parse_snapshot_tensors(snapshot: Snapshot, *, check_sizes: bool = True) -> list[Tensor]:
    """Validate every safetensors header of the snapshot and return all tensors (file order, then offset
    order). ``check_sizes=False`` does not refuse a file whose size differs from 8 + N + data (the
    cross-check reports it instead)."""
    tensors: list[Tensor] = []
    for f in snapshot.files:
        data_size = None if f.size is None or not check_sizes else f.size - 8 - f.header_length
        tensors.extend(parse_tensors(f.header, file=f.path, data_size=data_size))
    return tensors


def _config_architecture(snapshot: Snapshot, tensors: list[Tensor] | None = None) -> Architecture:
    config = snapshot.config
    if config is not None and not isinstance(config, dict):
        raise ConfigError(f"{snapshot.repo_id}: config.json is not a JSON object")
    return parse_config(config, tensors=tensors, companions=snapshot.extra)


def read_checkpoint(snapshot: Snapshot, *, check_sizes: bool = True) -> Checkpoint:
    """Parse the snapshot's headers (or config.json alone) into the checkpoint the estimates work on."""
    source = weight_source(snapshot)
    if source == "gguf":
        first = next(f.gguf for f in snapshot.files if f.gguf is not None)
        arch = architecture_from_gguf(first)
        config_arch = _config_architecture(snapshot) if snapshot.config is not None else None
        weights = estimate_gguf_weights(snapshot, arch)
        return Checkpoint(source, arch, weights, [], gguf_training_tensors(snapshot), config_arch)
    if source == "config":
        arch = _config_architecture(snapshot)
        weights, stand_ins = project_config_weights(snapshot, arch)
        return Checkpoint(source, arch, weights, [], stand_ins)
    tensors = parse_snapshot_tensors(snapshot, check_sizes=check_sizes)
    arch = _config_architecture(snapshot, tensors)
    return Checkpoint(source, arch, estimate_weights(snapshot, tensors, arch), tensors, tensors)
