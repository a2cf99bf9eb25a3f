"""Snapshots from disk: a local checkpoint folder or ``.safetensors`` file, or a repo in the local
Hugging Face cache (``--offline``). Same :class:`~hubmem.snapshot.Snapshot` as the Hub fetch, so the
report is built by the same code; only the first ``8 + N`` bytes of each weight file are read.

* A folder is laid out like a repo: the weight files are chosen by the same rules as on the Hub
  (:func:`hubmem.fetch.layout.plan_layout`: ``model.safetensors``, else the index, else every
  ``*.safetensors`` of the folder), config.json and the companions are read beside them.
* A single ``.safetensors`` or ``.gguf`` file is read alone, with the ``config.json`` of its folder when
  there is one. A GGUF header is read in pieces sized by the parser, up to the end of its tensor infos.
* The Hugging Face cache is found with ``huggingface_hub.try_to_load_from_cache`` (which resolves
  ``refs/<revision>`` to the commit, and never touches the network); the snapshot folder at that
  commit is then read like a local folder. Nothing cached -> :class:`~hubmem.errors.OfflineError`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from hubmem._gc import cyclic_gc_paused
from hubmem.errors import CorruptHeaderError, HubmemError, NoSafetensorsError, OfflineError
from hubmem.fetch.assemble import finish_snapshot
from hubmem.fetch.gguf import gguf_models
from hubmem.fetch.ids import validate_repo_id
from hubmem.fetch.layout import (
    CONFIG_FILE,
    INDEX_FILE,
    SINGLE_FILE,
    Layout,
    join,
    plan_layout,
    shards_of,
)
from hubmem.formats.gguf.record import header_record
from hubmem.formats.json_reader import load_json_file, open_regular
from hubmem.formats.safetensors import read_header_length
from hubmem.formats.safetensors_load import load_header
from hubmem.snapshot import GGUFSelection, Snapshot, WeightFile

MAX_LISTED_FILES = 100_000  # a folder with more files than this is not a checkpoint
LOCAL_REVISION = "local"


PICKLES = (".bin", ".pt", ".pth")  # PyTorch pickles: never opened
SHARD = re.compile(r"-(\d{5})-of-(\d{5})\.safetensors$")  # transformers' shard names


def looks_local(arg: str) -> bool:
    """Whether a CLI argument names a path rather than a Hub repo id: it starts like a path
    (``./``, ``../``, ``/``, ``~``, a drive letter), names a ``.safetensors`` or ``.gguf`` file, or is an
    existing folder (a relative ``org/name`` folder wins over the Hub repo, as in transformers)."""
    if arg.startswith((".", "/", "~", "\\")) or (len(arg) > 2 and arg[1] == ":" and arg[2] in "/\\"):
        return True
    if arg.endswith((".safetensors", ".gguf")):
        return True
    if arg.endswith(PICKLES) and os.path.isfile(arg):
        return True
    return os.path.isdir(arg)


def read_local_header(file: Path, rel: str, names: list[str] | None = None) -> WeightFile:
    """The header of one safetensors file on disk (8 + N bytes read), with the real file size; a FIFO,
    device or folder under the name is refused at once."""
    try:
        with open_regular(file) as fh:
            size = os.fstat(fh.fileno()).st_size
            n = read_header_length(fh.read(8), file=rel)
            if 8 + n > size:
                raise CorruptHeaderError(
                    f"{rel}: header length {n:,} needs {8 + n:,} bytes but the file has {size:,}"
                )
            raw = fh.read(n)
    except OSError as exc:
        raise CorruptHeaderError(f"{rel}: cannot read ({exc.strerror or exc})") from None
    if len(raw) < n:
        raise CorruptHeaderError(f"{rel}: file ends inside the {n:,}-byte header")
    return WeightFile(rel, n, load_header(raw, file=rel, names=names or ()), size)


def read_local_gguf(file: Path, rel: str) -> WeightFile:
    """The GGUF header of one file on disk (read up to the end of its tensor infos), with the file size."""
    from hubmem.formats.gguf.parser import GGUFParser  # the GGUF grammar: not for safetensors folders

    try:
        with open_regular(file) as fh:
            size = os.fstat(fh.fileno()).st_size
            parser = GGUFParser(file=rel, file_size=size)
            while not parser.done:
                chunk = fh.read(max(parser.wanted(), 1 << 16))
                if not chunk:
                    break
                parser.feed(chunk)
    except OSError as exc:
        raise CorruptHeaderError(f"{rel}: cannot read ({exc.strerror or exc})") from None
    header = parser.finish()
    return WeightFile(rel, header.header_end, header_record(header), size, format="gguf")


def _read_weights(root: Path, shards: dict[str, list[str]], layout: Layout) -> list[WeightFile]:
    """Each weight file's header (``shards``: path -> the index's tensor names for it, when sharded)."""
    if layout.gguf is not None:
        return [read_local_gguf(root / p, p) for p in shards]
    with cyclic_gc_paused():  # once for every shard: re-enabled after each, it collects their tensors again
        return [read_local_header(root / p, p, names) for p, names in shards.items()]


def _sizes(root: Path, paths: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in paths:
        try:
            out[p] = (root / p).stat().st_size
        except OSError:
            continue
    return out


def _read_json(file: Path, rel: str, warnings: list[str]) -> Any:
    """A small JSON file (config.json, a companion, the index) through the bounded reader: a regular
    file of at most ``MAX_JSON_BYTES``; anything else is a warning and None."""
    try:
        return load_json_file(file)
    except OSError as exc:
        warnings.append(f"{rel}: cannot read ({exc.strerror or exc}); ignored")
    except (UnicodeDecodeError, ValueError) as exc:
        warnings.append(f"{rel} is not valid JSON ({exc}); ignored")
    return None


def _list_files(root: Path) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # .cache/, .git/
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            out.append(name if rel_dir == "." else f"{Path(rel_dir).as_posix()}/{name}")
            if len(out) > MAX_LISTED_FILES:
                raise NoSafetensorsError(
                    f"{root}: more than {MAX_LISTED_FILES:,} files; not a checkpoint folder"
                )
    return out


def load_local(
    path: str | os.PathLike[str],
    *,
    subfolder: str | None = None,
    repo_id: str | None = None,
    revision: str = LOCAL_REVISION,
    commit: str | None = None,
    source: str = "local",
    missing_error: type[HubmemError] = NoSafetensorsError,
    gguf_file: str | None = None,
    quant: str | None = None,
) -> Snapshot:
    """A snapshot of a checkpoint folder or a single ``.safetensors`` / ``.gguf`` file (``gguf_file`` /
    ``quant`` pick the GGUF model of a folder, as on the Hub)."""
    root = Path(path).expanduser()
    shown = repo_id or str(path)
    if root.is_file():
        if subfolder:
            raise NoSafetensorsError(f"{path} is a file; --subfolder applies to folders only")
        return _load_file(root, Snapshot(shown, revision, commit, source))
    if not root.is_dir():
        what = "not a regular file or folder" if os.path.lexists(root) else "no such file or folder"
        raise NoSafetensorsError(
            f"{path}: {what}", hint="Pass a checkpoint folder, a .safetensors file or a Hub repo id."
        )
    sub = (subfolder.strip("/") if subfolder else None) or None
    siblings = _list_files(root)
    layout = plan_layout(siblings, sub, gguf_file=gguf_file, quant=quant)
    snapshot = Snapshot(shown, revision, commit, source, subfolder=sub, warnings=list(layout.warnings))
    config_path = layout.config_path
    config = _read_json(root / config_path, config_path, snapshot.warnings) if config_path else None
    companions = [_read_json(root / rel, rel, snapshot.warnings) for rel in layout.companions]
    snapshot.index, paths = _weight_paths(root, layout)
    snapshot.index_path = layout.index_path
    present = set(siblings)
    absent = [p for p in paths if p not in present]
    if absent:
        raise missing_error(
            f"{shown}: {len(absent)} weight file(s) named by {layout.index_path or 'the layout'} "
            f"are not on disk (e.g. {absent[0]})"
        )
    snapshot.files = _read_weights(root, paths, layout)
    sizes = _sizes(root, layout.sized)
    return finish_snapshot(snapshot, layout, config, companions, where=f"in {root}", sizes=sizes)


def _weight_paths(root: Path, layout: Layout) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """The index (when sharded) and the weight files to read, with the tensor names the index gives each."""
    if layout.index_path is None:
        return None, {p: [] for p in layout.files}
    index = _read_json(root / layout.index_path, layout.index_path, [])
    if not isinstance(index, dict):
        raise CorruptHeaderError(f"{layout.index_path}: not a valid safetensors index")
    return index, shards_of(index, layout.index_path)


def _load_file(file: Path, snapshot: Snapshot) -> Snapshot:
    """A lone ``.safetensors`` or ``.gguf`` file, with the config.json of its folder when there is one."""
    config_file = file.parent / CONFIG_FILE
    has_config = config_file.is_file()
    config = _read_json(config_file, CONFIG_FILE, snapshot.warnings) if has_config else None
    plan = None
    if file.name.endswith(PICKLES):
        return _load_pickle(file, snapshot, config, has_config)
    if (shard := SHARD.search(file.name)) is not None and int(shard.group(2)) > 1:
        snapshot.warnings.append(
            f"{file.name} is one shard of {int(shard.group(2))}: the figures are for this file only; pass "
            "the folder (with its model.safetensors.index.json) for the whole checkpoint"
        )
    if file.name.endswith(".gguf"):
        models = gguf_models([file.name])
        plan = GGUFSelection(models, models[0], "the file given")
        snapshot.files = [read_local_gguf(file, file.name)]
    else:
        snapshot.files = [read_local_header(file, file.name)]
    layout = Layout(CONFIG_FILE if has_config else None, [file.name], None, [], gguf=plan)
    return finish_snapshot(snapshot, layout, config, [], where=f"beside {file.name}")


def _load_pickle(file: Path, snapshot: Snapshot, config: Any, has_config: bool) -> Snapshot:
    """A ``.bin`` / ``.pt`` / ``.pth`` file: a pickle that hubmem does not open (unpickling runs code), so the
    weights are projected from the config.json beside it, with a warning."""
    if not has_config:
        raise NoSafetensorsError(
            f"{file.name} is a PyTorch pickle (torch.save), which hubmem does not read, and there is no "
            "config.json beside it",
            hint="Pass a .safetensors file or a checkpoint folder with its config.json.",
        )
    snapshot.warnings.append(
        f"{file.name} is a PyTorch pickle (torch.save), which hubmem does not read: weights projected from "
        "the config.json beside it; pass .safetensors files for exact bytes"
    )
    layout = Layout(CONFIG_FILE, [], None, [], unread=[file.name])
    snapshot.files = []
    return finish_snapshot(snapshot, layout, config, [], where=f"beside {file.name}")


# -- the Hugging Face cache ------------------------------------------------------------------------------


def find_cached_snapshot(
    repo_id: str, *, revision: str = "main", subfolder: str | None = None, cache_dir: str | Path | None = None
) -> Path | None:
    """``.../models--org--name/snapshots/<commit>`` holding this revision's files, or None."""
    from huggingface_hub import try_to_load_from_cache

    base = subfolder.strip("/") if subfolder else ""
    candidates = [join(base, SINGLE_FILE), join(base, INDEX_FILE), join(base, CONFIG_FILE)]
    if base:
        candidates.append(CONFIG_FILE)
    for rel in candidates:
        found = try_to_load_from_cache(repo_id, rel, cache_dir=cache_dir, revision=revision)
        if isinstance(found, str):
            return Path(found).parents[len(Path(rel).parts) - 1]
    return None


def _cached_revisions(repo_id: str, cache_dir: str | Path | None) -> list[str]:
    """What the cache holds for the repo (for the error hint); never raises."""
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir(cache_dir)
    except Exception:
        return []
    out: list[str] = []
    for repo in info.repos:
        if repo.repo_id == repo_id and repo.repo_type == "model":
            for rev in repo.revisions:
                refs = ",".join(sorted(rev.refs))
                out.append(rev.commit_hash[:12] + (f" ({refs})" if refs else ""))
    return sorted(out)


def load_cached(
    repo_id: str, *, revision: str = "main", subfolder: str | None = None, cache_dir: str | Path | None = None
) -> Snapshot:
    """A snapshot of ``repo_id`` at ``revision`` from the local Hugging Face cache, no network."""
    validate_repo_id(repo_id)
    revision = (revision or "main").strip() or "main"
    folder = find_cached_snapshot(repo_id, revision=revision, subfolder=subfolder, cache_dir=cache_dir)
    if folder is None:
        held = _cached_revisions(repo_id, cache_dir)
        hint = f"The cache holds {repo_id} at: {', '.join(held)}; pass one with --revision." if held else None
        raise OfflineError(
            f"{repo_id}@{revision} is not in the local Hugging Face cache", repo_id=repo_id, hint=hint
        )
    try:
        snapshot = load_local(
            folder,
            subfolder=subfolder,
            repo_id=repo_id,
            revision=revision,
            commit=folder.name,
            source="cache",
            missing_error=OfflineError,
        )
    except NoSafetensorsError as exc:
        raise _no_cached_weights(repo_id, revision, folder, str(exc)) from None
    if not snapshot.files:  # the cache cannot tell a config-only repo from weights never downloaded
        raise _no_cached_weights(repo_id, revision, folder, "only config.json is cached")
    return snapshot


def _no_cached_weights(repo_id: str, revision: str, folder: Path, why: str) -> OfflineError:
    return OfflineError(
        f"{repo_id}@{revision}: the cached snapshot {folder.name[:12]} holds no weight headers ({why})",
        repo_id=repo_id,
        hint="Download the weights (hf download) or run without --offline.",
    )
