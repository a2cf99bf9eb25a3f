"""The OpenAPI 3.1 document, generated from the pydantic models (nothing is written by hand twice)."""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from hubmem._version import __version__
from hubmem.schema.catalog import CatalogPage, CatalogQuery
from hubmem.schema.check import CheckReport
from hubmem.schema.fit import GPUSpec
from hubmem.schema.report import Report
from hubmem.service.params import QUERY_PARAMS
from hubmem.service.settings import Settings
from hubmem.service.statuses import STATUS_BY_KIND

REF = "#/components/schemas/{model}"
API_NAMES = {"ScanLine": "ScanRow"}  # a model's name in the document, where it is not the class name


class ErrorInfo(BaseModel):
    kind: str = Field(description="Stable error kind: " + ", ".join(sorted(STATUS_BY_KIND)))
    message: str
    hint: str | None = None
    repo_id: str | None = None
    status: int = Field(description="The HTTP status of the response (or of the scan row)")
    errors: list[dict[str, Any]] | None = Field(default=None, description="Per-parameter problems (422)")


class ErrorBody(BaseModel):
    error: ErrorInfo


# the document calls it ScanRow (API_NAMES); hubmem.schema.scan.ScanRow is the CLI's row, another shape
class ScanLine(BaseModel):
    """One NDJSON line of POST /v1/scan: ``report`` when ok, ``error`` otherwise."""

    model_config = ConfigDict(title="ScanRow")

    repo_id: str
    ok: bool
    status: int
    cache: Literal["hit", "revalidated", "miss", "coalesced"] | None = None
    report: Report | None = None
    error: ErrorInfo | None = None
    retry_after: int | None = None


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    endpoint: str
    cache: dict[str, int]


class _ApiSchema(GenerateJsonSchema):
    def normalize_name(self, name: str) -> str:
        return super().normalize_name(API_NAMES.get(name, name))


_ERRORS: dict[str, str] = {
    "400": "Invalid repo id, revision, subfolder or request",
    "401": "Gated repo without a token, or the token was refused",
    "403": "The token has no access to this gated repo",
    "404": "Repo, revision or file not found (private repos look missing)",
    "422": "Invalid option values, or the repo has no safetensors weights / a broken config",
    "429": "Rate limited by the Hub (see Retry-After)",
    "500": "Internal error",
    "502": "Upstream error or corrupt safetensors header",
    "504": "The Hub did not answer in time",
}


def _error_responses(codes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in codes:
        resp: dict[str, Any] = {
            "description": _ERRORS[code],
            "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}},
        }
        if code == "429":
            resp["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds"}}
        out[code] = resp
    return out


def _query_parameters() -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for p in QUERY_PARAMS.values():
        field_schema = dict(p.model.model_json_schema(ref_template=REF)["properties"][p.field])
        description = field_schema.pop("description", None) or p.model.model_fields[p.field].description
        field_schema.pop("title", None)
        where = "Options" if p.section is None else f"Options.{p.section}"
        param: dict[str, Any] = {
            "name": p.name,
            "in": "query",
            "required": False,
            "schema": field_schema,
            "description": (f"{description} " if description else "") + f"({where}.{p.field})",
        }
        params.append(param)
    return params


def _path_params(namespaced: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if namespaced:
        out.append({"name": "org", "in": "path", "required": True, "schema": {"type": "string"}})
    out.append({"name": "name", "in": "path", "required": True, "schema": {"type": "string"}})
    return out


def _json_response(model: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}},
    }


AUTH_NOTE = (
    "Send `Authorization: Bearer <Hub token>` for gated or private repos; the token is used for this "
    "request's Hub calls only."
)


@functools.cache
def openapi_document() -> dict[str, Any]:
    _, defs = models_json_schema(
        [
            (Report, "serialization"),
            (CheckReport, "serialization"),
            (ErrorBody, "serialization"),
            (ScanLine, "serialization"),
            (Health, "serialization"),
            (CatalogPage, "serialization"),
            (GPUSpec, "serialization"),
        ],
        ref_template=REF,
        schema_generator=_ApiSchema,
    )
    query = _query_parameters()
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "hubmem",
            "version": __version__,
            "description": "Exact weights, projected KV cache and training memory of Hugging Face models.",
        },
        "paths": {
            **_model_paths(query),
            "/v1/scan": _scan_path(query),
            **_catalog_paths(),
            **_other_paths(),
        },
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A Hub token"}},
        },
    }


def _model_paths(query: list[dict[str, Any]]) -> dict[str, Any]:
    """GET /v1/models/{org}/{name} and its /check, and the same for single-segment repo ids."""
    model_codes = ["400", "401", "403", "404", "422", "429", "500", "502", "504"]
    paths: dict[str, Any] = {}
    for namespaced in (True, False):
        base = "/v1/models/{org}/{name}" if namespaced else "/v1/models/{name}"
        suffix = "" if namespaced else " (single-segment repo id)"
        paths[base] = {
            "get": {
                "operationId": "getModel" if namespaced else "getModelSingle",
                "summary": "Memory report of one repo" + suffix,
                "description": "The same report as `hubmem REPO --json`. " + AUTH_NOTE,
                "parameters": _path_params(namespaced) + query,
                "security": [{}, {"bearer": []}],
                "responses": {
                    "200": _json_response("Report", "The report"),
                    **_error_responses(model_codes),
                },
            }
        }
        paths[base + "/check"] = {
            "get": {
                "operationId": "checkModel" if namespaced else "checkModelSingle",
                "summary": "Cross-check of one repo" + suffix,
                "description": "The checkpoint against its index, the Hub's summary, config.json, file sizes "
                "and its name. " + AUTH_NOTE,
                "parameters": _path_params(namespaced)
                + [p for p in query if p["name"] in ("revision", "subfolder")],
                "security": [{}, {"bearer": []}],
                "responses": {
                    "200": _json_response("CheckReport", "The cross-check (as `hubmem check --json`)"),
                    **_error_responses(model_codes),
                },
            }
        }
    return paths


def _scan_path(query: list[dict[str, Any]]) -> dict[str, Any]:
    row = API_NAMES["ScanLine"]
    return {
        "post": {
            "operationId": "scan",
            "summary": "Reports for many repos, streamed as NDJSON, one line per repo as each finishes",
            "description": AUTH_NOTE + " The query parameters apply to every repo.",
            "parameters": query,
            "security": [{}, {"bearer": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "array",
                            "items": {"type": "string"},
                            "maxItems": Settings().scan_max_repos,
                        },
                        "example": ["meta-llama/Llama-3.1-8B", "Qwen/Qwen3-8B"],
                    }
                },
            },
            "responses": {
                "200": {
                    "description": f"One {row} per line",
                    "content": {"application/x-ndjson": {"schema": {"$ref": REF.format(model=row)}}},
                },
                **_error_responses(["400", "401", "422", "500"]),
                "413": {
                    "description": "Too many repo ids or body too large",
                    "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}},
                },
            },
        }
    }


def _catalog_paths() -> dict[str, Any]:
    """GET /v1/catalog (parameters: the CatalogQuery fields, as `hubmem catalog query` has them), the page."""
    props = CatalogQuery.model_json_schema(ref_template=REF)["properties"]
    params = []
    for name, field in CatalogQuery.model_fields.items():
        schema = {k: v for k, v in props[name].items() if k not in ("title", "description")}
        params.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": schema,
                "description": field.description,
            }
        )
    return {
        "/v1/catalog": {
            "get": {
                "operationId": "catalog",
                "summary": "Rows of the catalog that `hubmem scan --db` writes (`hubmem serve --catalog DB`)",
                "description": "The current row of every scanned repo that passes every filter given; "
                "at most 1,000 rows per answer (limit, offset).",
                "parameters": params,
                "responses": {
                    "200": _json_response("CatalogPage", "A page of rows"),
                    **_error_responses(["422", "500"]),
                    "503": {
                        "description": "The service has no catalog, or it cannot be read",
                        "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}},
                    },
                },
            }
        },
        "/catalog": {
            "get": {
                "operationId": "catalogPage",
                "responses": {"200": {"description": "The catalog page", "content": {"text/html": {}}}},
            }
        },
    }


def _other_paths() -> dict[str, Any]:
    """/healthz, /metrics, /openapi.json, the page and the GPU catalog."""
    gpu = REF.format(model="GPUSpec")

    def plain(operation: str, response: dict[str, Any]) -> dict[str, Any]:
        return {"get": {"operationId": operation, "responses": {"200": response}}}

    return {
        "/healthz": plain("healthz", _json_response("Health", "OK")),
        "/metrics": plain(
            "metrics", {"description": "Prometheus text format", "content": {"text/plain": {}}}
        ),
        "/openapi.json": plain(
            "openapi", {"description": "This document", "content": {"application/json": {}}}
        ),
        "/": plain("page", {"description": "The web page", "content": {"text/html": {}}}),
        "/v1/gpus": plain(
            "gpus",
            {
                "description": "The GPU catalog of the fit verdicts (the page's picker), with memory_bytes",
                "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": gpu}}}},
            },
        ),
    }
