"""Typed, bounded lookups in a config dict: where every config value enters hubmem, and the limits it
must respect to be used.

config.json files in the wild hold nulls, strings where numbers belong, and nested objects where a
value belongs; hostile ones hold 10^18 layers, NaN, or lists of a million entries. A lookup here never
raises: a key that is absent or null falls through to the next candidate; a value of the wrong type or
beyond its limit is recorded in ``problems`` as an *invalid value* naming the key and the value (it ends
up in ``Architecture.missing``, and the quantity is then not reported as missing a key) and also falls
through. Every number the estimators receive is therefore finite and bounded, so no loop runs for ever,
no list grows without end and every figure of a report stays a JSON integer that reads back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hubmem.formats.json_reader import brief

MAX_LAYERS = 10_000  # any layer count (decoder, encoder, MTP, leading dense, vision depth) and list length
MAX_INT = 2**32  # any other integer of a config: sizes, heads, experts, vocab, windows, context lengths
MAX_FACTOR = 2.0**16  # a multiplier (Mamba expand, Nemotron-NAS ffn_mult)


def positive_int(value: Any, maximum: int = MAX_INT) -> int | None:
    """``value`` if it is an integer in [1, ``maximum``] (bool excluded), else None: a raw value's check
    outside a Reader."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= maximum
    return value if ok else None


class Reader:
    def __init__(
        self, data: Mapping[str, Any], *, where: str = "", problems: list[str] | None = None
    ) -> None:
        self.data = data
        self.where = where  # prefix for messages, e.g. "text_config."
        self.problems: list[str] = problems if problems is not None else []
        self.invalid: set[str] = set()  # keys of this object that held an invalid value

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def bad(self, key: str, value: Any, expected: str) -> None:
        """Record that ``key`` holds ``value``, which is not ``expected``."""
        self.invalid.add(key)
        msg = f"{self.where}{key}: invalid value {brief(value)} (expected {expected})"
        if msg not in self.problems:
            self.problems.append(msg)

    def is_invalid(self, *keys: str) -> bool:
        """Whether one of ``keys`` held an invalid value (so the quantity is not *missing* a key)."""
        return any(k in self.invalid for k in keys)

    def int_(self, *keys: str, minimum: int = 1, maximum: int = MAX_INT) -> tuple[int | None, str | None]:
        """First key holding an integer in [``minimum``, ``maximum``] (integral floats accepted):
        (value, key)."""
        for key in keys:
            value = self.data.get(key)
            if value is None:
                continue
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                if minimum <= value <= maximum:
                    return value, key
                if not (minimum == 1 and value == 0):  # 0 commonly means "unset" (head_dim: 0)
                    self.bad(key, value, f"an integer from {minimum:,} to {maximum:,}")
                continue
            self.bad(key, value, "an integer")
        return None, None

    def get_int(self, *keys: str, minimum: int = 1, maximum: int = MAX_INT) -> int | None:
        return self.int_(*keys, minimum=minimum, maximum=maximum)[0]

    def get_float(self, *keys: str, maximum: float = MAX_FACTOR) -> float | None:
        """First key holding a finite number in (0, ``maximum``]."""
        for key in keys:
            value = self.data.get(key)
            if value is None:
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                if math.isfinite(value) and 0 < value <= maximum:
                    return float(value)
                self.bad(key, value, f"a number above 0, at most {maximum:g}")
                continue
            self.bad(key, value, "a number")
        return None

    def get_bool(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        self.bad(key, value, "true or false")
        return None

    def get_str(self, *keys: str) -> str | None:
        for key in keys:
            value = self.data.get(key)
            if value is None:
                continue
            if isinstance(value, str):
                return value
            self.bad(key, value, "a string")
        return None

    def get_dict(self, key: str) -> dict[str, Any] | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, dict):
            return value
        self.bad(key, value, "an object")
        return None

    def get_list(self, key: str) -> list[Any] | None:
        """A list of at most ``MAX_LAYERS`` items (a per-layer list, module names ...)."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, list) and len(value) <= MAX_LAYERS:
            return value
        self.bad(key, value, f"a list of at most {MAX_LAYERS:,} items")
        return None

    def get_int_list(self, key: str, *, minimum: int = 0, maximum: int = MAX_INT) -> list[int] | None:
        values = self.get_list(key)
        if values is None:
            return None
        out: list[int] = []
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int) or not minimum <= v <= maximum:
                self.bad(key, values, f"a list of integers from {minimum:,} to {maximum:,}")
                return None
            out.append(v)
        return out

    def get_str_list(self, key: str) -> list[str] | None:
        values = self.get_list(key)
        if values is None:
            return None
        if not all(isinstance(v, str) for v in values):
            self.bad(key, values, "a list of strings")
            return None
        return [str(v) for v in values]

    def sub(self, key: str) -> Reader | None:
        """A reader over a nested object, sharing this reader's problem list."""
        d = self.get_dict(key)
        if d is None:
            return None
        return Reader(d, where=f"{self.where}{key}.", problems=self.problems)
