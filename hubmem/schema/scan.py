"""Rows of ``hubmem scan``: one JSON line per repo (JSONL), and a flat summary row per repo (CSV).

JSONL, ok:     {"repo_id", "revision", "ok": true, "commit", "seconds", "requests", "report": {Report}}
JSONL, failed: {"repo_id", "revision", "ok": false, "error": {"kind", "message", "hint"}, "seconds"}
"""

import csv
import io
from collections.abc import Iterable
from typing import Any

from hubmem.schema.check import CHECK_NAMES
from hubmem.schema.common import Model
from hubmem.schema.fit import FitReport
from hubmem.schema.report import Report
from hubmem.schema.weights import WeightsReport


class ScanError(Model):
    kind: str  # hubmem.errors kind ("not_found", "gated", "rate_limited", "network", ... or "internal")
    message: str
    hint: str | None = None


class ScanRow(Model):
    repo_id: str
    revision: str
    ok: bool
    commit: str | None = None  # the sha the report was read at (ok rows)
    seconds: float | None = None
    requests: int | None = None  # HTTP requests this repo cost
    report: Report | None = None
    error: ScanError | None = None


SUMMARY_COLUMNS: tuple[str, ...] = (
    "repo_id",
    "revision",
    "commit",
    "ok",
    "error_kind",
    "error_message",
    "model_type",
    "architecture",
    "dtype",
    "total_bytes",
    "parameters",
    "elements",
    "tensors",
    "files",
    "quantization",
    "num_experts",
    "active_parameters",
    "kv_bytes_per_token",
    "max_context",
    "format",
    "layers",
    "engine",
    "context",
    "batch",
    "gpu",
    "gpus",
    "fits",
    "fit_max_context",
    "fit_max_batch",
    "fit_min_gpus",
    "check_ok",
    "check_mismatches",
    *(c for name in CHECK_NAMES for c in (name, f"{name}_difference")),
    "seconds",
    "requests",
    "bytes_received",
    "cache_hits",
)


def csv_line(values: Iterable[Any]) -> bytes:
    """One CSV line (``None`` as an empty field), as ``hubmem scan --csv`` and ``catalog export`` write it."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return buf.getvalue().encode()


def summary_row(row: ScanRow) -> dict[str, Any]:
    """The CSV row of a scan row (every column of :data:`SUMMARY_COLUMNS`, None when not applicable)."""
    out: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS)
    out.update(repo_id=row.repo_id, revision=row.revision, commit=row.commit, ok=row.ok)
    out.update(seconds=row.seconds, requests=row.requests)
    if row.error is not None:
        out.update(error_kind=row.error.kind, error_message=row.error.message)
    r = row.report
    if r is None:
        return out
    w = r.weights
    a = r.architecture
    main_dtype = max(w.by_dtype.items(), key=lambda kv: kv[1].bytes)[0] if w.by_dtype else None
    out.update(
        model_type=a.model_type,
        architecture=",".join(a.architectures) or None,
        dtype=main_dtype,
        total_bytes=w.total_bytes,
        parameters=w.parameters,
        elements=w.elements,
        tensors=w.tensors,
        files=len(w.files),
        quantization=w.quantization.method if w.quantization else None,
        num_experts=w.moe.num_experts if w.moe else None,
        active_parameters=w.moe.active_parameters if w.moe else w.parameters,
        kv_bytes_per_token=r.kv_cache.bytes_per_token if r.kv_cache and r.kv_cache.complete else None,
        max_context=a.max_context,
        format=weights_format(w),
        layers=a.num_layers,
        bytes_received=r.fetch.bytes_received,
        cache_hits=r.fetch.cache_hits,
    )
    if r.kv_cache is not None:
        out.update(engine=r.kv_cache.engine, context=r.kv_cache.context, batch=r.kv_cache.batch)
    if r.fit is not None:
        out.update(fit_columns(r.fit))
    if r.check is not None:
        out.update(check_ok=r.check.ok, check_mismatches=r.check.mismatches)
        for item in r.check.items:
            if item.name in CHECK_NAMES:
                out[item.name] = item.status
                out[f"{item.name}_difference"] = item.difference
    return out


def weights_format(weights: WeightsReport) -> str:
    """``safetensors``, ``gguf`` or ``config`` (no weight file read: config-derived figures only); the
    report's ``weights.source`` where the report has that field, else the weight files' suffixes."""
    source = getattr(weights, "source", None)
    if isinstance(source, str) and source:
        return source
    if any(f.path.endswith(".gguf") for f in weights.files):
        return "gguf"
    return "safetensors" if weights.files else "config"


def fit_columns(fit: FitReport) -> dict[str, Any]:
    """The fit verdict's columns: the GPU kind and count, the verdict, the largest context / batch that fit
    and the fewest GPUs that do."""
    return {
        "gpu": fit.gpu,
        "gpus": fit.gpus,
        "fits": fit.fits,
        "fit_max_context": fit.max_context,
        "fit_max_batch": fit.max_batch,
        "fit_min_gpus": fit.min_gpus,
    }
