"""Query parameters <-> ``hubmem.schema.Options`` (pydantic does all value validation).

Names are the CLI's long options with ``_`` for ``-`` (``kv_dtype``, ``max_num_batched_tokens``),
``train`` for the training method as in ``--train``. The table is derived from the schema, so a
field added to ``KVOptions`` or ``TrainingOptions`` becomes a query parameter without edits here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from huggingface_hub.utils import validate_repo_id
from pydantic import BaseModel, ValidationError

from ..errors import InvalidRepoIdError
from ..schema.kv import KVOptions
from ..schema.options import Options
from ..schema.training import TrainingOptions
from .errors import InvalidOptionsError, InvalidRequestError

RENAMES = {("training", "method"): "train"}
MAX_REVISION_LENGTH = 256
MAX_SUBFOLDER_LENGTH = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class QueryParam:
    name: str  # query parameter name
    section: str | None  # None = top-level Options field; else "kv" / "training"
    field: str
    model: type[BaseModel]


def _table() -> dict[str, QueryParam]:
    table: dict[str, QueryParam] = {}
    for name in Options.model_fields:
        if name in ("kv", "training"):
            continue
        table[name] = QueryParam(name, None, name, Options)
    for section, model in (("kv", KVOptions), ("training", TrainingOptions)):
        for field in model.model_fields:
            qname = RENAMES.get((section, field), field)
            if qname in table:
                raise RuntimeError(f"query parameter {qname!r} is ambiguous")  # pragma: no cover
            table[qname] = QueryParam(qname, section, field, model)
    return table


QUERY_PARAMS: dict[str, QueryParam] = _table()


def validate_repo(repo_id: str) -> str:
    """huggingface_hub's rules ('name' or 'namespace/name'); anything else is a 400."""
    try:
        validate_repo_id(repo_id)
    except Exception as exc:  # HFValidationError
        raise InvalidRepoIdError(f"Invalid repo id {repo_id!r}: {exc}", repo_id=None) from None
    return repo_id


def validate_revision(revision: str) -> str:
    """A revision goes upstream as one percent-encoded path segment; refuse what cannot be one."""
    if not revision or len(revision) > MAX_REVISION_LENGTH or _CONTROL.search(revision):
        raise InvalidRequestError("revision must be 1-256 printable characters")
    if revision in (".", "..") or "\\" in revision:
        raise InvalidRequestError(f"invalid revision {revision!r}")
    return revision


def validate_subfolder(subfolder: str) -> str:
    """A relative folder inside the repo: no '.', '..' or empty segments, no backslashes or control chars."""
    if len(subfolder) > MAX_SUBFOLDER_LENGTH or _CONTROL.search(subfolder) or "\\" in subfolder:
        raise InvalidRequestError("subfolder must be a relative folder path inside the repo")
    parts = subfolder.strip("/").split("/")
    if any(p in ("", ".", "..") for p in parts) or subfolder.startswith("/"):
        raise InvalidRequestError(f"invalid subfolder {subfolder!r}")
    return subfolder.strip("/")


def parse_options(query: Mapping[str, str], *, getall: Mapping[str, list[str]] | None = None) -> Options:
    """Query parameters -> Options. Unknown or repeated parameters and bad values are 422s."""
    unknown = sorted(k for k in query if k not in QUERY_PARAMS)
    if unknown:
        raise InvalidOptionsError(
            f"unknown query parameter(s): {', '.join(unknown)}",
            errors=[{"param": k, "message": "unknown parameter"} for k in unknown],
        )
    if getall is not None:
        repeated = sorted(k for k, v in getall.items() if len(v) > 1)
        if repeated:
            raise InvalidOptionsError(f"repeated query parameter(s): {', '.join(repeated)}")
    data: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {"kv": {}, "training": {}}
    for name, raw in query.items():
        p = QUERY_PARAMS[name]
        value: Any = raw
        if raw == "" and name not in ("revision",):
            continue  # an empty form field means "default"
        if p.section is None:
            data[p.field] = value
        else:
            sections[p.section][p.field] = value
    if "revision" in data:
        validate_revision(data["revision"])
    if data.get("subfolder") is not None:
        data["subfolder"] = validate_subfolder(data["subfolder"])
    data.update({k: v for k, v in sections.items() if v})
    try:
        return Options.model_validate(data)
    except ValidationError as exc:
        errors = [_param_error(e) for e in exc.errors(include_url=False, include_context=False)]
        msg = "; ".join(f"{e['param']}: {e['message']}" for e in errors)
        raise InvalidOptionsError(f"invalid option value(s): {msg}", errors=errors) from None


def _param_error(err: Any) -> dict[str, Any]:
    loc = tuple(str(x) for x in err.get("loc", ()))
    name = ".".join(loc)
    if len(loc) >= 2:
        name = RENAMES.get((loc[0], loc[1]), loc[1])
    elif loc:
        name = loc[0]
    out: dict[str, Any] = {"param": name, "message": err.get("msg", "invalid")}
    if "input" in err and isinstance(err["input"], str | int | float):
        out["input"] = err["input"]
    return out


def options_to_query(options: Options) -> dict[str, str]:
    """The inverse (non-default values only), for links and the page."""
    out: dict[str, str] = {}
    defaults = Options()
    for p in QUERY_PARAMS.values():
        if p.section is None:
            value, default = getattr(options, p.field), getattr(defaults, p.field)
        else:
            value = getattr(getattr(options, p.section), p.field)
            default = getattr(getattr(defaults, p.section), p.field)
        if value != default and value is not None:
            out[p.name] = str(value)
    return out


def options_key(options: Options) -> str:
    """Everything but the revision, canonical (the commit replaces the revision in cache keys)."""
    return options.model_dump_json(exclude={"revision"})
