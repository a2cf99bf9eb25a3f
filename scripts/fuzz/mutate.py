"""Mutation-based inputs for the long fuzz run (``python -m scripts.fuzz``): fast, seeded, no hypothesis.

Seeds are real bytes (the fixture repos' safetensors headers and configs, ``../shared/corpus`` configs,
small GGUF headers). Each input is a seed changed by a few of:

- byte damage: bit flips, random bytes, cuts, duplicated or truncated ranges, splices of hostile text
  (``[`` x 1000, 5,000 digits, NaN, lone surrogates, markup) and pieces of other seeds;
- JSON edits (when the seed parses): a value anywhere replaced by a hostile one (huge or negative numbers,
  NaN, floats where integers belong, markup strings, long lists, 1,000 levels of nesting, wrong types), a
  key dropped, a key hubmem reads added;
- for safetensors headers also well-formed sub-headers (a random subset of a real header's tensors laid out
  again from offset 0), so the checks past JSON are reached as often as the JSON reader's.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from typing import Any

from scripts.fuzz.strategies import BIG_INTS, MARKUP, SPLICES

_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_STRING = re.compile(rb'"[^"\\]{0,40}"')
HOSTILE_NUMBERS = [
    b"0",
    b"-1",
    b"1e18",
    b"1e400",
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"9" * 5000,
    b"0.5",
    b"-0",
    b"18446744073709551616",
    b"1" + b"0" * 39,
    b"true",
    b"null",
    b'"8"',
    b"[]",
    b"{}",
]
HOSTILE_VALUES: list[Any] = [
    *BIG_INTS,
    0,
    -1,
    -(10**18),
    10**18,
    1e18,
    1e300,
    -1e300,
    0.5,
    1e-300,
    float("nan"),
    float("inf"),
    float("-inf"),
    True,
    False,
    None,
    "",
    "x" * 5000,
    *MARKUP,
    [],
    [0] * 20_001,
    [None],
    {},
    {"a": None},
    "bf16",
    "float8_e4m3fn",
    "llama",
    "mamba",
    "deepseek_v3",
    "t5",
    "gptq",
    "bitsandbytes",
]


_NEST = re.compile(rb'"\\u0000nest(\d+)\\u0000"')


def nested(depth: int) -> str:
    """A marker that :func:`dump` writes as a value nested ``depth`` levels deep (json.dumps itself cannot
    write 1,000 levels)."""
    return f"\x00nest{depth}\x00"


def _nested_text(m: re.Match[bytes]) -> bytes:
    depth = int(m.group(1))
    return (
        b'{"a":' * (depth // 2)
        + b"[" * (depth - depth // 2)
        + b"]" * (depth - depth // 2)
        + b"}" * (depth // 2)
    )


def hostile_value(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.04:
        return nested(rng.choice([3, 70, 500, 1100]))
    if roll < 0.12:
        return rng.randint(-(2**70), 2**70)
    if roll < 0.16:
        return [hostile_value(rng) for _ in range(rng.randint(0, 4))]
    if roll < 0.20:
        return {rng.choice(["bits", "num_hidden_layers", "x", "quant_method"]): hostile_value(rng)}
    value = rng.choice(HOSTILE_VALUES)
    return value.copy() if isinstance(value, list | dict) else value  # flat: a shallow copy is a fresh one


def _paths(obj: Any, prefix: tuple[Any, ...] = (), depth: int = 0) -> list[tuple[Any, ...]]:
    """Every path to a value in ``obj`` (bounded: at most 4 levels, 64 items per container)."""
    out = [prefix]
    if depth >= 4:
        return out
    if isinstance(obj, dict):
        for k in list(obj)[:64]:
            out += _paths(obj[k], (*prefix, k), depth + 1)
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:64]):
            out += _paths(v, (*prefix, i), depth + 1)
    return out


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        obj = obj[p]
    return obj


def edit_json(rng: random.Random, obj: Any, keys: Sequence[str]) -> Any:
    """``obj`` (a fresh copy, changed in place) with one to four values replaced, dropped or added."""
    for _ in range(rng.randint(1, 4)):
        paths = _paths(obj)
        path = rng.choice(paths)
        if not path:
            if isinstance(obj, dict) and keys:
                obj[rng.choice(keys)] = hostile_value(rng)
            continue
        parent, last = _get(obj, path[:-1]), path[-1]
        roll = rng.random()
        if roll < 0.15 and isinstance(parent, dict):
            del parent[last]
        elif roll < 0.3 and isinstance(parent, dict) and keys:
            parent[rng.choice(keys)] = hostile_value(rng)
        else:
            parent[last] = hostile_value(rng)
    return obj


def dump(rng: random.Random, obj: Any) -> bytes:
    """JSON text as a careless writer makes it (NaN allowed, sometimes not ASCII)."""
    text = json.dumps(obj, ensure_ascii=rng.random() < 0.7, allow_nan=True)
    return _NEST.sub(_nested_text, text.encode("utf-8", "surrogatepass"))


def damage(rng: random.Random, data: bytes, others: Sequence[bytes]) -> bytes:
    """One to four byte-level changes."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        n = len(buf)
        at = rng.randint(0, n)
        op = rng.randrange(9)
        if op == 0 and n:
            buf[min(at, n - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[at:at] = rng.choice(SPLICES)
        elif op == 2:
            buf[at : at + rng.randint(1, 64)] = b""
        elif op == 3:
            buf[at:at] = rng.randbytes(rng.randint(1, 8))
        elif op == 4 and n:
            end = min(n, at + rng.randint(1, 256))
            buf[at:at] = buf[at:end] * rng.randint(1, 4)
        elif op == 5:
            del buf[rng.randint(0, n) :]
        elif op == 6 and others:
            other = rng.choice(others)
            start = rng.randint(0, len(other))
            buf[at:at] = other[start : start + rng.randint(1, 512)]
        else:
            _token_swap(rng, buf)
    return bytes(buf)


def _token_swap(rng: random.Random, buf: bytearray) -> None:
    """A number or a short string token replaced in place by a hostile one."""
    window = rng.randint(0, max(0, len(buf) - 4096))
    pattern = _NUMBER if rng.random() < 0.7 else _STRING
    matches = list(pattern.finditer(buf, window, window + 4096))
    if not matches:
        return
    m = rng.choice(matches)
    if pattern is _NUMBER:
        piece = rng.choice(HOSTILE_NUMBERS)
    else:
        piece = json.dumps(rng.choice([*MARKUP, "", "x" * 300, "F16", "I8", "model.layers.99999.x"])).encode()
    buf[m.start() : m.end()] = piece


def sub_header(rng: random.Random, header: dict[str, Any]) -> dict[str, Any]:
    """A random subset of a real header's tensors, laid out again contiguously from offset 0."""
    names = [k for k in header if k != "__metadata__"]
    chosen = rng.sample(names, min(len(names), rng.randint(0, 12)))
    out: dict[str, Any] = {}
    if "__metadata__" in header and rng.random() < 0.5:
        out["__metadata__"] = (
            dict(header["__metadata__"]) if isinstance(header["__metadata__"], dict) else None
        )
    cursor = 0
    for name in chosen:
        entry = {k: list(v) if isinstance(v, list) else v for k, v in header[name].items()}
        size = entry["data_offsets"][1] - entry["data_offsets"][0]
        entry["data_offsets"] = [cursor, cursor + size]
        cursor += size
        out[name] = entry
    return out
