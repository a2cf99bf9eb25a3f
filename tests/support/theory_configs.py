"""The model configs quoted in docs/theory.md section 6, stored once under fixtures/theory/<name>.json.

Each file is a config.json shape plus a top-level "_source" string (where docs/theory.md quotes it from);
``theory_config`` returns a fresh copy without that key.
"""

from __future__ import annotations

from typing import Any

from support.paths import fixture_path, load_json


def theory_config(name: str) -> dict[str, Any]:
    data: dict[str, Any] = load_json(fixture_path("theory", f"{name}.json"))
    data.pop("_source", None)
    return data
