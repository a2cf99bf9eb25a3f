"""Where the weights of a repo are, decided from its file list alone (no I/O): safetensors (the file, its
index or every ``*.safetensors`` of the folder), else a GGUF model (:mod:`hubmem.fetch.gguf` picks which),
else config.json alone, with the weight files hubmem does not read (``pytorch_model*.bin``, ``*.pt``,
``consolidated.*.pth``) listed."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from typing import Any

import msgspec

from hubmem.errors import BadOptionError, CorruptHeaderError, NoSafetensorsError
from hubmem.fetch.gguf import choose_gguf, gguf_models
from hubmem.formats.json_reader import brief
from hubmem.formats.safetensors import MAX_HEADER_LENGTH
from hubmem.snapshot import GGUFSelection

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
CONFIG_FILE = "config.json"
COMPANIONS = ("quantize_config.json", "hf_quant_config.json", "params.json")
UNREAD_SUFFIXES = (".bin", ".pt", ".pth")  # weight formats whose headers hubmem does not read

# First range read of a shard: per tensor, its name plus the longest plausible entry
# ``"":{"dtype":"F8_E4M3","shape":[d0,d1,d2,d3],"data_offsets":[b,e]},`` (~110 bytes with
# 6-digit dims and 12-digit offsets), plus room for ``__metadata__`` and padding.
PER_TENSOR_BYTES = 128
HEADER_MARGIN = 2048


class Layout(msgspec.Struct, frozen=True):
    config_path: str | None  # config.json to read (subfolder first, then the root)
    files: list[str]  # weight files read directly (no index): safetensors, or the chosen GGUF's shards
    index_path: str | None  # the safetensors index when sharded
    companions: list[str]  # small JSON files read into Snapshot.extra
    warnings: list[str] = []
    gguf: GGUFSelection | None = None
    unread: list[str] = []  # weight files not read (no safetensors, no GGUF)

    @property
    def sized(self) -> list[str]:
        """Files whose sizes the report lists without reading them: the GGUF models, the unread files."""
        models = [p for m in self.gguf.models for p in m.paths] if self.gguf is not None else []
        return models + self.unread


def join(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


def _in_dir(paths: Iterable[str], base: str) -> list[str]:
    return sorted(p for p in paths if posixpath.dirname(p) == base)


def _is_variant(name: str, suffix: str) -> bool:
    """``diffusion_pytorch_model.fp16.safetensors``: a dot in the stem marks a variant."""
    return "." in name[: -len(suffix)]


def plan_layout(
    siblings: Iterable[str],
    subfolder: str | None = None,
    *,
    gguf_file: str | None = None,
    quant: str | None = None,
) -> Layout:
    """Pick config.json, the weight files or the index, and the companions for ``subfolder``. A GGUF model is
    read when there are no safetensors, or when ``gguf_file`` / ``quant`` ask for one."""
    paths = set(siblings)
    base = subfolder or ""
    config_path = _beside(paths, base, CONFIG_FILE)
    companions = [p for name in COMPANIONS if (p := _beside(paths, base, name)) is not None]
    here = _in_dir(paths, base)
    warnings: list[str] = []
    files, index_path = _weights(here, base, warnings)
    models = gguf_models(p for p in paths if not base or p.startswith(base + "/"))
    if models and (gguf_file or quant or (not files and index_path is None)):
        chosen, reason = choose_gguf(models, gguf_file=gguf_file, quant=quant)
        plan = GGUFSelection(models, chosen, reason)
        return Layout(config_path, list(chosen.paths), None, companions, warnings, gguf=plan)
    if gguf_file or quant:
        raise BadOptionError(f"--gguf-file / --quant: there is no GGUF file in {base or 'the repo'}")
    if not files and index_path is None:
        if config_path is None:
            raise _no_weights(paths, here, base)
        unread = [p for p in here if p.endswith(UNREAD_SUFFIXES)]
        return Layout(config_path, [], None, companions, warnings, unread=unread)
    return Layout(config_path, files, index_path, companions, warnings)


def _beside(paths: set[str], base: str, name: str) -> str | None:
    """``name`` in the subfolder, else in the root, else None."""
    if join(base, name) in paths:
        return join(base, name)
    return name if base and name in paths else None


def _weights(here: list[str], base: str, warnings: list[str]) -> tuple[list[str], str | None]:
    """(weight files read directly, the index): ``model.safetensors``, else its index, else another
    index (the plain one first), else every ``*.safetensors`` that is not a variant copy."""
    names = {posixpath.basename(p): p for p in here}
    if SINGLE_FILE in names:
        return [names[SINGLE_FILE]], None
    if INDEX_FILE in names:
        return [], names[INDEX_FILE]
    suffix = ".safetensors.index.json"
    indexes = sorted((n for n in names if n.endswith(suffix)), key=lambda n: (_is_variant(n, suffix), n))
    if indexes:
        if len(indexes) > 1:
            warnings.append(f"several safetensors indexes in {base or 'the root'}; read {indexes[0]}")
        return [], names[indexes[0]]
    direct = [n for n in names if n.endswith(".safetensors")]
    keep = [n for n in direct if not (_is_variant(n, ".safetensors") and _base_of_variant(n) in names)]
    if len(keep) < len(direct):
        skipped = sorted(set(direct) - set(keep))
        warnings.append("skipped variant copies of the weights: " + ", ".join(skipped))
    return [names[n] for n in sorted(keep)], None


def _no_weights(paths: set[str], here: list[str], base: str) -> NoSafetensorsError:
    """What to say when ``base`` holds neither weights hubmem reads nor a config.json: the formats it has,
    the folders that do."""
    where = f"'{base}/'" if base else "the repo root"
    folders = sorted({posixpath.dirname(p) for p in paths if p.endswith(".safetensors")} - {base})
    other = sorted({p.rsplit(".", 1)[-1] for p in here if p.endswith((*UNREAD_SUFFIXES, ".h5"))})
    message = f"no safetensors or GGUF weights and no config.json in {where}"
    if other:
        message += " (it has ." + ", .".join(other) + " files, which hubmem does not read)"
    hint = None
    if folders:
        shown = ", ".join(f or "(root)" for f in folders[:8])
        hint = f"safetensors files exist in: {shown}; pass --subfolder to read one of them."
    return NoSafetensorsError(message, hint=hint)


def _base_of_variant(name: str) -> str:
    stem = name[: -len(".safetensors")]
    return stem.split(".", 1)[0] + ".safetensors"


def shards_of(index: Any, index_path: str) -> dict[str, list[str]]:
    """Repo path of each shard -> the tensor names the index assigns to it (paths relative to the index)."""
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise CorruptHeaderError(f"{index_path}: not a safetensors index (no weight_map)")
    by_name: dict[str, tuple[str, list[str]]] = {}  # shard as the index writes it -> (it, tensor names)
    for name, shard in weight_map.items():
        if type(name) is not str or type(shard) is not str or not shard:
            raise CorruptHeaderError(
                f"{index_path}: weight_map entry {brief(name)} -> {brief(shard)} is not a file name"
            )
        entry = by_name.get(shard)
        if entry is None:
            entry = by_name[shard] = (shard, [])
        else:  # one string object per shard in the index held by the snapshot (not one per tensor)
            weight_map[name] = entry[0]
        entry[1].append(name)
    base = posixpath.dirname(index_path)
    shards: dict[str, list[str]] = {}
    for shard, (_, names) in by_name.items():
        path = posixpath.normpath(join(base, shard))
        if path.startswith("../") or path == "..":
            raise CorruptHeaderError(f"{index_path}: shard {brief(shard)} points outside the repo")
        shards.setdefault(path, []).extend(names)
    return dict(sorted(shards.items()))


def first_read_size(names: Iterable[str]) -> int:
    """Bytes to ask for in a shard's first range read, from the tensor names the index gives it."""
    estimate = 8 + HEADER_MARGIN + sum(len(n.encode("utf-8")) + PER_TENSOR_BYTES for n in names)
    return min(estimate, 8 + MAX_HEADER_LENGTH)
