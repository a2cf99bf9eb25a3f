"""Typed, forgiving lookups in a config dict.

config.json files in the wild hold nulls, strings where numbers belong, and nested objects where a
value belongs. A lookup here never raises: a key that is absent or null falls through to the next
candidate; a value of the wrong type is recorded in ``problems`` (it ends up in
``Architecture.missing``) and also falls through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def positive_int(value: Any) -> int | None:
    """``value`` if it is an integer > 0 (bool excluded), else None: a raw value's check outside a Reader."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class Reader:
    def __init__(
        self, data: Mapping[str, Any], *, where: str = "", problems: list[str] | None = None
    ) -> None:
        self.data = data
        self.where = where  # prefix for messages, e.g. "text_config."
        self.problems: list[str] = problems if problems is not None else []

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def _bad(self, key: str, value: Any, expected: str) -> None:
        msg = f"{self.where}{key}: expected {expected}, got {value!r}"[:200]
        if msg not in self.problems:
            self.problems.append(msg)

    def int_(self, *keys: str, minimum: int = 1) -> tuple[int | None, str | None]:
        """First key holding an integer >= ``minimum`` (integral floats accepted); (value, key)."""
        for key in keys:
            value = self.data.get(key)
            if value is None:
                continue
            if isinstance(value, bool):
                self._bad(key, value, "an integer")
                continue
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, int):
                if value >= minimum:
                    return value, key
                if not (minimum == 1 and value == 0):  # 0 commonly means "unset" (head_dim: 0)
                    self._bad(key, value, f"an integer >= {minimum}")
                continue
            self._bad(key, value, "an integer")
        return None, None

    def get_int(self, *keys: str, minimum: int = 1) -> int | None:
        return self.int_(*keys, minimum=minimum)[0]

    def get_float(self, *keys: str) -> float | None:
        for key in keys:
            value = self.data.get(key)
            if value is None:
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            self._bad(key, value, "a number")
        return None

    def get_bool(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        self._bad(key, value, "true or false")
        return None

    def get_str(self, *keys: str) -> str | None:
        for key in keys:
            value = self.data.get(key)
            if value is None:
                continue
            if isinstance(value, str):
                return value
            self._bad(key, value, "a string")
        return None

    def get_dict(self, key: str) -> dict[str, Any] | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, dict):
            return value
        self._bad(key, value, "an object")
        return None

    def get_list(self, key: str) -> list[Any] | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, list):
            return value
        self._bad(key, value, "a list")
        return None

    def get_int_list(self, key: str, *, minimum: int = 0) -> list[int] | None:
        values = self.get_list(key)
        if values is None:
            return None
        out: list[int] = []
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
                self._bad(key, values, f"a list of integers >= {minimum}")
                return None
            out.append(v)
        return out

    def get_str_list(self, key: str) -> list[str] | None:
        values = self.get_list(key)
        if values is None:
            return None
        if not all(isinstance(v, str) for v in values):
            self._bad(key, values, "a list of strings")
            return None
        return [str(v) for v in values]

    def sub(self, key: str) -> Reader | None:
        """A reader over a nested object, sharing this reader's problem list."""
        d = self.get_dict(key)
        if d is None:
            return None
        return Reader(d, where=f"{self.where}{key}.", problems=self.problems)
