"""The catalog's shapes: a stored row's typed columns, a query's filters and a page of results (one schema for
``hubmem catalog query``, ``GET /v1/catalog`` and the database tables).

A row's figures are the scan's summary columns (:func:`hubmem.schema.scan.summary_row`), under the same
names; the catalog adds the row's key (repo, commit, options) and when it was scanned.
"""

import math
import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator

from hubmem.schema.common import Model

_SUFFIX = {
    "": 1,
    "k": 10**3,
    "m": 10**6,
    "b": 10**9,
    "g": 10**9,
    "t": 10**12,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SURROGATE = re.compile("[\ud800-\udfff]")
_AMOUNT = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9]*)?(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def parse_amount(value: object) -> object:
    """``10e9``, ``7B`` / ``1.5T`` (parameters: K M B T = 10^3 ... 10^12), ``24GB`` / ``16GiB`` (bytes)
    -> int; anything else is left to pydantic's own validation (which then reports it)."""
    if not isinstance(value, str):
        return value
    m = _AMOUNT.match(value)
    if m is None or m.group(2).lower() not in _SUFFIX:
        return value
    number = float(m.group(1).replace("_", "")) * _SUFFIX[m.group(2).lower()]
    return round(number) if math.isfinite(number) else value  # 1e400: pydantic refuses the text


SQL_INT_MAX = 2**63 - 1  # every integer a query binds fits a database integer (SQLite, PostgreSQL bigint)
Amount = Annotated[int, BeforeValidator(parse_amount), Field(ge=0, le=SQL_INT_MAX)]
Count = Annotated[int, Field(ge=1, le=SQL_INT_MAX)]


class CatalogRow(Model):
    """One stored result: the key, whether it worked, and the columns people filter on."""

    repo_id: str
    revision: str = Field(description="the revision asked for (main for listing scans)")
    commit_sha: str = Field(description="the commit the report was read at ('' when a failure came first)")
    options_hash: str = Field(description="the scan options (projection, GPU, training) as a hash")
    scanned_at: str = Field(description="when the row was written, ISO 8601 UTC")
    hubmem_version: str
    ok: bool
    error_kind: str | None = None
    error_message: str | None = None
    model_type: str | None = None
    architecture: str | None = None
    format: str | None = Field(default=None, description="safetensors, gguf or config")
    dtype: str | None = Field(default=None, description="the dtype holding the most weight bytes")
    quantization: str | None = None
    parameters: int | None = None
    active_parameters: int | None = Field(default=None, description="per token (MoE); = parameters if dense")
    total_bytes: int | None = Field(default=None, description="exact weight bytes")
    tensors: int | None = None
    files: int | None = None
    layers: int | None = None
    num_experts: int | None = None
    kv_bytes_per_token: int | None = None
    max_context: int | None = Field(default=None, description="the model's maximum context (config)")
    engine: str | None = None
    context: int | None = Field(default=None, description="the context of the KV projection and the verdict")
    batch: int | None = None
    gpu: str | None = Field(default=None, description="GPU kind of the fit verdict (scan --gpu)")
    gpus: int | None = None
    fits: bool | None = None
    fit_max_context: int | None = Field(default=None, description="largest context that fits at the batch")
    fit_max_batch: int | None = Field(default=None, description="largest batch that fits at the context")
    fit_min_gpus: int | None = None
    check_ok: bool | None = None
    check_mismatches: int | None = None
    seconds: float | None = None
    requests: int | None = None


ROW_COLUMNS: tuple[str, ...] = tuple(CatalogRow.model_fields)


class CatalogQuery(Model):
    """Plain filters over the current rows (the latest commit of every repo). Each given filter narrows."""

    fits: str | None = Field(
        default=None,
        description="GPU kind (h100, a100-80 ...): rows scanned with --gpu that kind that fit",
    )
    gpus: Count | None = Field(default=None, description="rows whose verdict is for this many GPUs")
    context: Count | None = Field(default=None, description="rows projected at this context")
    min_context: Count | None = Field(
        default=None, description="rows whose largest context that fits is at least this"
    )
    min_params: Amount | None = Field(default=None, description="at least this many parameters (7B, 10e9)")
    max_params: Amount | None = Field(default=None, description="at most this many parameters (7B, 10e9)")
    max_active_params: Amount | None = Field(default=None, description="at most this many active parameters")
    max_weight_bytes: Amount | None = Field(default=None, description="at most this many weight bytes (24GB)")
    format: Literal["safetensors", "gguf", "config"] | None = None
    quantization: str | None = Field(default=None, description="method (gptq, awq, fp8 ...) or none")
    dtype: str | None = Field(default=None, description="the dtype holding the most weight bytes (BF16 ...)")
    model_type: str | None = None
    author: str | None = Field(default=None, description="the namespace of the repo id")
    search: str | None = Field(default=None, description="a substring of the repo id (any case)")
    status: Literal["ok", "failed", "all"] = "all"
    history: bool = Field(default=False, description="also rows of earlier commits")
    sort: str = Field(default="repo_id", description="a column: " + ", ".join(ROW_COLUMNS))
    order: Literal["asc", "desc"] = "asc"
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=SQL_INT_MAX)

    @field_validator("fits", "quantization", "dtype", "model_type", "author", "search")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        """Text a database can bind: UTF-8 (no lone surrogate, which a non-UTF-8 argument becomes) and no
        NUL (PostgreSQL refuses it)."""
        if value is not None and ("\x00" in value or (not value.isascii() and _SURROGATE.search(value))):
            raise ValueError("must be UTF-8 text without NUL characters")
        return value

    @field_validator("sort")
    @classmethod
    def _known_column(cls, value: str) -> str:
        if value not in ROW_COLUMNS:
            raise ValueError(f"sort must be a column: {', '.join(ROW_COLUMNS)}")
        return value


class CatalogPage(Model):
    """A page of :class:`CatalogRow` (``GET /v1/catalog``): ``total`` rows match, ``rows`` from ``offset``."""

    rows: list[CatalogRow]
    total: int
    limit: int
    offset: int
