"""The model configs quoted in theory.md section 6, stored once under fixtures/theory/<name>.json.

Each file is a config.json shape plus a top-level "_source" string (where theory.md quotes it from);
``theory_config`` returns a fresh copy without that key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

THEORY = Path(__file__).resolve().parent.parent / "fixtures" / "theory"


def theory_config(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((THEORY / f"{name}.json").read_text())
    data.pop("_source", None)
    return data
