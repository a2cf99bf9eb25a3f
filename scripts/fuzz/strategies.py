"""Hypothesis strategies for hostile input: safetensors header bytes, config.json bytes, caller options,
header-cache entry bytes and service query strings, for the bounded property tests
(``tests/test_properties_*.py``). The long fuzz run (``python -m scripts.fuzz``) shares the hostile atoms
below but draws its inputs with the faster mutations of ``scripts.fuzz.inputs``.

Each strategy mixes what real files hold (tensor names and configs of the fixture repos) with what an
attacker writes: markup and control characters in names, dimensions and offsets around 2^64, shape
products beyond it, 5,000-digit integers, layer indexes of thousands of digits, NaN and Infinity, 1,000
levels of nesting, wrong types at every key hubmem reads, and random byte damage on top.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from hubmem.formats.dtypes import DTYPE_ALIASES, DTYPE_BITS
from scripts import ROOT

FIXTURES = ROOT / "fixtures"
_INDEX_RUN = re.compile(r"\.\d+\.")

# -- what real repos hold ----------------------------------------------------------------------------------


@functools.cache
def real_name_patterns() -> tuple[str, ...]:
    """Tensor names of the fixture repos with their layer / expert indexes replaced by ``{}``."""
    patterns: set[str] = set()
    for path in sorted(FIXTURES.glob("repos/*/headers/*.json*")):
        raw = path.read_bytes()
        try:
            header = json.loads(gzip.decompress(raw) if path.name.endswith(".gz") else raw)
        except ValueError:  # hubmem-test/corrupt-header
            continue
        patterns.update(_INDEX_RUN.sub(".{}.", name) for name in header if name != "__metadata__")
    return tuple(sorted(patterns))


@functools.cache
def real_configs() -> tuple[dict[str, Any], ...]:
    """The fixture repos' config.json files and the theory configs."""
    paths = sorted(FIXTURES.glob("repos/*/files/config.json")) + sorted(FIXTURES.glob("theory/*.json"))
    return tuple(json.loads(Path(p).read_text()) for p in paths)


@functools.cache
def config_keys() -> tuple[str, ...]:
    """Every key hubmem's config parser asks for (the string constants of hubmem/parse)."""
    found: set[str] = set()
    for path in (ROOT / "hubmem" / "parse").rglob("*.py"):
        found.update(re.findall(r'"([a-z][a-z0-9_]{2,40})"', path.read_text()))
    return tuple(sorted(found))


# -- hostile atoms -----------------------------------------------------------------------------------------

MARKUP = ["[/x]", "[red]spoof[/red]", "[[gpus]]", "\x1b[31m", "a\nb", "\x00", "\u202e", "é", "\\"]
BIG_INTS = [2**31, 2**32, 2**53, 2**63, 2**64 - 1, 2**64, 2**64 + 1, 10**18, 10**30, 10**39, 10**40, -(2**63)]
LONG_LIST = [0] * 20_001
HUGE_FLOATS = [1e18, 1e300, -1e300, 1.5, -0.0, 0.5, 1e-300]


@functools.cache
def hostile_ints() -> st.SearchStrategy[int]:
    return st.one_of(st.integers(-3, 64), st.sampled_from(BIG_INTS), st.integers(-(2**70), 2**70))


@functools.cache
def hostile_text(max_size: int = 24) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(MARKUP), st.text(max_size=max_size), st.just("x" * 5000))


@functools.cache
def json_values(depth: int = 2) -> st.SearchStrategy[Any]:
    """Any JSON value a file may hold where a number, string or list belongs."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        hostile_ints(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(HUGE_FLOATS),
        hostile_text(),
    )
    if depth <= 0:
        return scalars
    inner = json_values(depth - 1)
    return st.one_of(
        scalars,
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8), inner, max_size=3),
        st.just(LONG_LIST),  # a per-layer list longer than any model
    )


# -- byte damage -------------------------------------------------------------------------------------------

SPLICES = [
    b"[" * 1000 + b"]" * 1000,
    b"9" * 5000,
    b"NaN",
    b"-Infinity",
    b"1e400",
    b'"\\ud800"',
    b"\xff\xfe",
    b"\x00",
    b"{" * 70,
    b"}",
    b",",
    b'"',
]


_SPLICE = st.one_of(st.sampled_from(SPLICES), st.binary(max_size=6))
_EDIT = st.sampled_from(["insert", "replace", "cut"])


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with up to three splices, cuts or replacements at random places."""
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        kind = draw(_EDIT)
        piece = draw(_SPLICE)
        if kind == "insert":
            data = data[:at] + piece + data[at:]
        elif kind == "replace":
            data = data[:at] + piece + data[at + len(piece) :]
        else:
            data = data[:at] + data[at + draw(st.integers(1, 16)) :]
    return data


# -- safetensors headers -----------------------------------------------------------------------------------


@functools.cache
def tensor_names() -> st.SearchStrategy[str]:
    patterns = real_name_patterns()
    index = st.one_of(st.integers(0, 80).map(str), st.sampled_from(["9" * 12, "9" * 5000, "-1", "01", "٣"]))
    real = st.builds(lambda p, i: p.replace("{}", i), st.sampled_from(patterns), index)
    return st.one_of(
        real, hostile_text(40), st.builds(lambda a, b: f"{a}.{b}", st.sampled_from(patterns), hostile_text())
    )


DTYPES = [*DTYPE_BITS, *DTYPE_ALIASES, "X", "", "f16", "BF16 ", "F8"]
_FIELDS = ["dtype", "shape", "data_offsets"]


@functools.cache
def _entry_parts() -> tuple[st.SearchStrategy[Any], ...]:
    """The strategies a header entry is drawn from, built (and validated by hypothesis) once."""
    metadata = st.one_of(
        st.none(), st.just({"format": "pt"}), st.dictionaries(hostile_text(8), json_values(1), max_size=3)
    )
    names = st.lists(tensor_names(), max_size=8, unique=True)
    shape = st.lists(st.one_of(st.integers(0, 6), hostile_ints()), max_size=4)
    return metadata, names, st.sampled_from(DTYPES), shape, st.integers(0, 9), st.sampled_from(_FIELDS)


@st.composite
def header_entries(draw: st.DrawFn) -> dict[str, Any]:
    """A header object: tensors laid out contiguously (as a writer would), then some fields perturbed."""
    metadata, names, dtypes, shapes, dice, fields = _entry_parts()
    out: dict[str, Any] = {}
    if (meta := draw(metadata)) is not None:
        out["__metadata__"] = meta
    cursor = 0
    for name in draw(names):
        dtype, shape = draw(dtypes), draw(shapes)
        bits = DTYPE_BITS.get(DTYPE_ALIASES.get(dtype, dtype), 8)
        numel = 1
        for d in shape:
            numel = min(numel * d, 2**70)
        size = max(0, numel * bits // 8)
        entry: dict[str, Any] = {"dtype": dtype, "shape": shape, "data_offsets": [cursor, cursor + size]}
        cursor += size
        if draw(dice) == 0:  # one field replaced by anything
            entry[draw(fields)] = draw(json_values())
        out[name] = entry
    return out


@st.composite
def header_bytes(draw: st.DrawFn) -> bytes:
    """The N header bytes of a safetensors file: well-formed, damaged, or anything at all."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return draw(st.sampled_from(SPLICES))
    raw = json.dumps(draw(header_entries()), ensure_ascii=draw(st.booleans())).encode(
        "utf-8", "surrogatepass"
    )
    raw += b" " * (-len(raw) % 8)
    return draw(damaged(raw)) if kind <= 4 else raw


# -- config.json -------------------------------------------------------------------------------------------


@st.composite
def config_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A real config with values replaced, keys hubmem reads added with any value, nested objects edited."""
    config: dict[str, Any] = json.loads(json.dumps(draw(st.sampled_from(real_configs()))))
    keys = config_keys()
    for _ in range(draw(st.integers(1, 6))):
        target = config
        nested = [k for k, v in config.items() if isinstance(v, dict)]
        if nested and draw(st.integers(0, 3)) == 0:
            target = config[draw(st.sampled_from(nested))]
        key = draw(st.one_of(st.sampled_from(keys), st.sampled_from(sorted(target) or ["model_type"])))
        target[key] = draw(json_values())
    return config


@st.composite
def config_bytes(draw: st.DrawFn) -> bytes:
    """config.json as it arrives: well-formed (NaN where Python's json writes it), damaged, or not JSON."""
    raw = json.dumps(draw(config_objects())).encode("utf-8", "surrogatepass")
    return draw(damaged(raw)) if draw(st.integers(0, 4)) == 0 else raw


# -- caller options ----------------------------------------------------------------------------------------


@st.composite
def option_sets(draw: st.DrawFn) -> dict[str, Any]:
    """Options as the CLI or the service would build them (valid combinations; refused ones are usage
    errors before any report is built)."""
    tp = draw(st.sampled_from([1, 1, 2]))
    kv = {
        "context": draw(st.one_of(st.none(), st.integers(1, 2**40), st.sampled_from([1, 8192, 2**20]))),
        "batch": draw(st.one_of(st.just(1), st.integers(1, 2**20))),
        "engine": draw(st.sampled_from(["transformers", "vllm"])),
        "include_mtp": draw(st.booleans()),
        "kv_dtype": draw(st.sampled_from(["auto", "fp8", "fp32", "fp8_ds_mla"])),
        "transformers_cache": draw(st.sampled_from(["dynamic", "static"])),
    }
    training = {
        "method": draw(st.sampled_from(["full", "lora", "qlora"])),
        "gpus": tp * draw(st.sampled_from([1, 2, 8])),
        "tensor_parallel": tp,
        "zero": draw(st.sampled_from([0, 3])),
        "seq_len": draw(st.integers(1, 2**20)),
    }
    return {
        "kv": kv,
        "training": training,
        "gpu": draw(st.sampled_from([None, "h100", "l4"])),
        "fit": draw(st.sampled_from(["inference", "training"])),
        "gpu_utilization": draw(st.one_of(st.none(), st.floats(1e-12, 1.0))),
    }


# -- cache entries and service queries ---------------------------------------------------------------------


def cache_entry_bytes(valid: bytes) -> st.SearchStrategy[bytes]:
    """A header-cache entry file: the real one, damaged, or anything."""
    return st.one_of(st.just(valid), damaged(valid), st.binary(max_size=300), st.sampled_from(SPLICES))


@functools.cache
def query_values() -> st.SearchStrategy[list[str]]:
    numbers = st.one_of(hostile_ints(), st.floats(allow_nan=True)).map(str)
    return st.lists(
        st.one_of(numbers, hostile_text(12), st.sampled_from(["", "true", "vllm", "fp8"])),
        min_size=1,
        max_size=3,
    )
