"""The GPU catalog: built-in kinds (``gpus.json``) plus user files (JSON or TOML).

Capacities are the vendor's datasheet figure read as decimal GB (10^9 bytes) unless an entry says
``"memory_unit": "GiB"``; ``reported_bytes`` is the total the driver reports where a public source shows
it (nvidia-smi's MiB x 2^20). The vendor figure is the conservative default: an "80GB" H100 is
80,000,000,000 bytes here, while nvidia-smi reports 85,520,809,984 bytes and CUDA about 79.2 GiB usable.

User catalogs: ``HUBMEM_GPUS`` (one path, or several separated by ``os.pathsep``) and/or an explicit
path; entries with the same name replace built-in ones. File format: ``{"gpus": [{"name": ...,
"memory_gb": ..., ...}]}`` (JSON) or ``[[gpus]]`` tables (TOML), the fields of ``schema.fit.GPUSpec``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hubmem.errors import ConfigError
from hubmem.formats.json_reader import load_json, read_regular
from hubmem.schema.fit import GPUSpec

ENV_VAR = "HUBMEM_GPUS"
MAX_CATALOG_BYTES = 1 << 20  # a user catalog larger than this is refused
_CATALOG_HINT = (
    'A GPU catalog is JSON {"gpus": [{"name": "X", "memory_gb": 80}]} or TOML [[gpus]] tables; '
    "see hubmem/estimate/fit/gpus.json."
)


def normalize(name: str) -> str:
    """Lookup key: lower case, no spaces, dashes or underscores (``"H100 SXM"`` == ``"h100-sxm"``)."""
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def _entries(data: Any, where: str) -> list[GPUSpec]:
    raw = data.get("gpus") if isinstance(data, dict) else data
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: no 'gpus' list", hint=_CATALOG_HINT)
    out: list[GPUSpec] = []
    for i, item in enumerate(raw):
        try:
            out.append(GPUSpec.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first.get("loc", ()))
            raise ConfigError(f"{where}: gpus[{i}] {loc}: {first.get('msg')}", hint=_CATALOG_HINT) from None
    return out


def read_catalog_file(path: str | os.PathLike[str]) -> list[GPUSpec]:
    """GPU entries of a JSON or TOML file (by extension; JSON otherwise)."""
    p = Path(path)
    try:
        raw = read_regular(p, MAX_CATALOG_BYTES)
    except OSError as exc:
        raise ConfigError(
            f"GPU catalog {p}: cannot read ({exc.strerror or exc})", hint=_CATALOG_HINT
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8")) if p.suffix.lower() == ".toml" else load_json(raw)
    except (RecursionError, ValueError) as exc:  # tomllib recurses on nesting; ValueError: JSON, UTF-8
        raise ConfigError(
            f"GPU catalog {p}: not valid {p.suffix or 'JSON'} ({exc})", hint=_CATALOG_HINT
        ) from None
    return _entries(data, str(p))


@lru_cache(maxsize=1)
def builtin_gpus() -> tuple[GPUSpec, ...]:
    text = resources.files("hubmem.estimate.fit").joinpath("gpus.json").read_text(encoding="utf-8")
    return tuple(_entries(load_json(text), "gpus.json"))


def load_catalog(path: str | os.PathLike[str] | None = None, *, env: bool = True) -> dict[str, GPUSpec]:
    """Built-in GPUs, then ``$HUBMEM_GPUS`` files, then ``path``; later entries replace earlier ones."""
    specs: list[GPUSpec] = list(builtin_gpus())
    paths: list[str] = []
    if env and os.environ.get(ENV_VAR):
        paths.extend(p for p in os.environ[ENV_VAR].split(os.pathsep) if p)
    if path is not None:
        paths.append(os.fspath(path))
    for p in paths:
        specs.extend(read_catalog_file(p))
    catalog: dict[str, GPUSpec] = {}
    for spec in specs:
        catalog[normalize(spec.name)] = spec
    return catalog


def _index(catalog: dict[str, GPUSpec]) -> dict[str, GPUSpec]:
    index: dict[str, GPUSpec] = {}
    for spec in catalog.values():  # aliases first, so that a later entry's *name* wins over an alias
        for alias in spec.aliases:
            index[normalize(alias)] = spec
    for spec in catalog.values():
        index[normalize(spec.name)] = spec
    return index


def find_gpu(name: str, catalog: dict[str, GPUSpec] | None = None) -> GPUSpec:
    """The catalog entry for ``name`` (name or alias, case/space/dash-insensitive)."""
    catalog = load_catalog() if catalog is None else catalog
    spec = _index(catalog).get(normalize(name))
    if spec is None:
        known = ", ".join(sorted(s.name for s in catalog.values()))
        raise ConfigError(
            f"unknown GPU {name!r}",
            hint=f"Known: {known}. Add one with {ENV_VAR}=/path/gpus.json (or .toml).",
        )
    return spec


def gpu_names(catalog: dict[str, GPUSpec] | None = None) -> Iterable[str]:
    return [s.name for s in (load_catalog() if catalog is None else catalog).values()]
