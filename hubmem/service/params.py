"""Query parameters <-> ``hubmem.schema.Options`` (pydantic does all value validation).

Names are the CLI's long options with ``_`` for ``-`` (``kv_dtype``, ``max_num_batched_tokens``),
``train`` for the training method as in ``--train``. The table is derived from the schema, so a
field added to ``KVOptions`` or ``TrainingOptions`` becomes a query parameter without edits here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec
from pydantic import BaseModel, ValidationError

from hubmem.errors import InvalidOptionsError, InvalidRequestError
from hubmem.formats.json_reader import MAX_INT_DIGITS, brief
from hubmem.schema.options import Options

RENAMES = {("training", "method"): "train"}
# the CLI's other names of a parameter (vLLM's, transformers' and PEFT's names), accepted here too
ALIASES = {
    "max_model_len": "context",
    "kv_cache_dtype": "kv_dtype",
    "gpu_memory_utilization": "gpu_utilization",
    "utilization": "gpu_utilization",
    "checkpointing": "gradient_checkpointing",
    "per_device_train_batch_size": "micro_batch",
    "max_seq_length": "seq_len",
    "lora_r": "rank",
    "target_modules": "lora_targets",
    "optim": "optimizer",
    "tp": "tensor_parallel_size",
    "mamba_ssm_cache_dtype": "ssm_dtype",
    "mtp": "include_mtp",
    "kv_cache_memory": "kv_cache_memory_bytes",
}
INVERTED = {"no_mmap": "mmap"}  # a CLI flag that says no: no_mmap=true is mmap=false
_FALSE = ("0", "false", "no", "off")
MAX_REVISION_LENGTH = 256
MAX_ECHO = 120  # a refused value longer than this is echoed in its brief form
MAX_SUBFOLDER_LENGTH = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class QueryParam(msgspec.Struct, frozen=True):
    name: str  # query parameter name
    section: str | None  # None = top-level Options field; else the option group ("kv", "training" ...)
    field: str
    model: type[BaseModel]
    schema: dict[str, Any]  # the field's JSON schema

    @property
    def is_list(self) -> bool:
        """A list field: repeat the parameter or use commas (``lora_targets=q_proj,v_proj``)."""
        return self.schema.get("type") == "array"

    def coerce(self, values: list[str]) -> Any:
        """Query strings -> what pydantic's lax mode accepts (it converts numbers and booleans itself)."""
        if self.is_list:
            return [v for raw in values for v in raw.split(",") if v]
        raw = values[-1]
        enum = self.schema.get("enum")
        if enum and all(isinstance(e, int) and not isinstance(e, bool) for e in enum):
            try:
                return int(raw)  # Literal[0, 1, 2, 3] does not take "2"
            except ValueError:
                return raw
        return raw


def _sections() -> dict[str, type[BaseModel]]:
    """The Options fields that are option groups of their own (kv, training, the engine views)."""
    out: dict[str, type[BaseModel]] = {}
    for name, info in Options.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            out[name] = kind
    return out


SECTIONS = _sections()


def _table() -> dict[str, QueryParam]:
    table: dict[str, QueryParam] = {}
    props = Options.model_json_schema()["properties"]
    for name in Options.model_fields:
        if name not in SECTIONS:
            table[name] = QueryParam(name, None, name, Options, props[name])
    for section, model in SECTIONS.items():
        props = model.model_json_schema()["properties"]
        for field in model.model_fields:
            qname = RENAMES.get((section, field), field)
            if qname in table:
                raise RuntimeError(f"query parameter {qname!r} is ambiguous")  # pragma: no cover
            table[qname] = QueryParam(qname, section, field, model, props[field])
    return table


QUERY_PARAMS: dict[str, QueryParam] = _table()


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


def parse_options(query: Mapping[str, list[str]]) -> Options:
    """Query parameters (name -> every value given) -> Options. Unknown parameters, a repeated scalar
    parameter and bad values are 422s; an empty value means the default."""
    query = canonical_names(query)
    unknown = sorted(k for k in query if k not in QUERY_PARAMS)
    if unknown:
        shown = [_shown(k) for k in unknown[:5]] + ["..."] * (len(unknown) > 5)
        raise InvalidOptionsError(
            f"unknown query parameter(s): {', '.join(shown)}",
            errors=[{"param": _shown(k), "message": "unknown parameter"} for k in unknown[:20]],
        )
    repeated = sorted(k for k, v in query.items() if len(v) > 1 and not QUERY_PARAMS[k].is_list)
    if repeated:
        raise InvalidOptionsError(f"repeated query parameter(s): {', '.join(repeated)}")
    data: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for name, values in query.items():
        p = QUERY_PARAMS[name]
        if name != "revision" and all(v == "" for v in values):
            continue  # an empty form field means "default"
        value = p.coerce(values)
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


def canonical_names(query: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """The CLI's other names (ALIASES, INVERTED) as the parameters they name; both given = repeated."""
    out: dict[str, list[str]] = {}
    for name, values in query.items():
        if name in INVERTED:
            values = [v and ("true" if v.lower() in _FALSE else "false") for v in values]
            name = INVERTED[name]
        out.setdefault(ALIASES.get(name, name), []).extend(values)
    return out


def _shown(name: str) -> str:
    """A parameter name as sent, or its brief form when it is long or not printable."""
    return name if len(name) <= MAX_ECHO and name.isprintable() else brief(name)


def _param_error(err: Any) -> dict[str, Any]:
    loc = tuple(str(x) for x in err.get("loc", ()))
    name = ".".join(loc)
    if len(loc) >= 2:
        name = RENAMES.get((loc[0], loc[1]), loc[1])
    elif loc:
        name = loc[0]
    out: dict[str, Any] = {"param": name, "message": err.get("msg", "invalid")}
    value = err.get("input")
    if isinstance(value, str | int | float):  # a hostile value comes back abbreviated, never whole
        short = len(value) <= MAX_ECHO if isinstance(value, str) else abs(value) < 10**MAX_INT_DIGITS
        out["input"] = value if short else brief(value)
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
            out[p.name] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return out


def options_key(options: Options) -> str:
    """Everything but the revision, canonical (the commit replaces the revision in cache keys)."""
    return options.model_dump_json(exclude={"revision"})
