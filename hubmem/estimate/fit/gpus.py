"""The GPU catalog: built-in kinds (``gpus.json``) plus user files (JSON or TOML), ad-hoc sizes and the names
nvidia-smi and torch print.

Capacities are the vendor's datasheet figure read as decimal GB (10^9 bytes) unless an entry says
``"memory_unit": "GiB"``. ``reported_bytes`` is the total **CUDA** reports (``cudaMemGetInfo``, what vLLM
multiplies by ``gpu_memory_utilization``) where a public print shows it (``reported_source`` says which:
torch's ``total_memory=...MB`` is MiB truncated, vLLM's ``Free memory on device (f/t GiB)`` is GiB to two
decimals); nvidia-smi's ``memory.total`` (``nvidia_smi_mib``) is larger and is not what CUDA reports. An
"80GB" H100 SXM is 80,000,000,000 B (vendor), 81,559 MiB (nvidia-smi) and 81,090 MiB (CUDA).

Names: ``find_gpu`` accepts catalog names and aliases case/space/dash-insensitively, the names nvidia-smi and
torch print (``"NVIDIA H100 80GB HBM3"``, ``"Tesla T4"``: a leading vendor word is dropped), and ad-hoc sizes
(``48GiB``, ``80GB``, ``24G`` = GiB) taken as the total CUDA reports.

User catalogs: ``HUBMEM_GPUS`` (one path, or several separated by ``os.pathsep``) and/or an explicit
path; entries with the same name replace built-in ones. File format: ``{"gpus": [{"name": ...,
"memory_gb": ..., ...}]}`` (JSON) or ``[[gpus]]`` tables (TOML), the fields of ``schema.fit.GPUSpec``.
"""

from __future__ import annotations

import os
import re
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
    import tomllib  # only for a catalog file the user names: not imported by every report

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


_VENDOR_WORDS = ("nvidia", "amd", "tesla", "geforce", "quadro", "instinct", "radeon")
_AD_HOC = re.compile(r"^(\d+(?:\.\d+)?)\s*(gib|gb|g)$", re.IGNORECASE)


def ad_hoc_gpu(name: str) -> GPUSpec | None:
    """``48GiB`` / ``80GB`` / ``24G`` (= GiB): a GPU of that size, taken as the total CUDA reports."""
    m = _AD_HOC.match(name.strip())
    if m is None:
        return None
    size, unit = float(m.group(1)), m.group(2).lower()
    if size <= 0:
        return None
    memory_unit = "GB" if unit == "gb" else "GiB"
    spec = GPUSpec(name=name.strip(), memory_gb=size, memory_unit=memory_unit)
    return spec.model_copy(
        update={
            "reported_bytes": spec.memory_bytes,
            "reported_source": "ad-hoc size, taken as the CUDA total",
        }
    )


def _without_vendor(name: str) -> str:
    """``"NVIDIA GeForce RTX 4090"`` -> ``"GeForce RTX 4090"`` (nvidia-smi / torch device names)."""
    first, _, rest = name.strip().partition(" ")
    return rest if first.lower() in _VENDOR_WORDS and rest else name


def find_gpu(name: str, catalog: dict[str, GPUSpec] | None = None) -> GPUSpec:
    """The catalog entry for ``name`` (name or alias, case/space/dash-insensitive; an nvidia-smi / torch
    device name; or an ad-hoc size such as ``48GiB``)."""
    catalog = load_catalog() if catalog is None else catalog
    index = _index(catalog)
    candidates = [name, _without_vendor(name), _without_vendor(_without_vendor(name))]
    for candidate in candidates:
        spec = index.get(normalize(candidate))
        if spec is not None:
            return spec
    spec = ad_hoc_gpu(name)
    if spec is None:
        known = ", ".join(sorted(s.name for s in catalog.values()))
        raise ConfigError(
            f"unknown GPU {name!r}",
            hint=f"Known: {known}; or a size such as 48GiB / 80GB. Add one with {ENV_VAR}=/path/gpus.json "
            "(or .toml).",
        )
    return spec


def gpu_names(catalog: dict[str, GPUSpec] | None = None) -> Iterable[str]:
    return [s.name for s in (load_catalog() if catalog is None else catalog).values()]
