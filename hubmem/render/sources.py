"""The parts of the terminal report that depend on where the weights came from (a GGUF model, config.json
alone) and the llama.cpp view. Text from the repo (file names, reasons) is never read as rich markup."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from hubmem.render.safe import EXACT, PROJECTED, Basis, line, title
from hubmem.render.units import exact, human_bytes
from hubmem.schema.engines import LlamaCppView
from hubmem.schema.report import Report
from hubmem.schema.weights import WeightsReport


def architecture_source(r: Report) -> str:
    """Where the architecture was read: the GGUF metadata or config.json."""
    return "GGUF metadata" if r.weights.source == "gguf" else "config.json"


def weights_basis(w: WeightsReport) -> Basis:
    return PROJECTED if w.basis == "projected" else EXACT


def source_lines(w: WeightsReport) -> list[RenderableType]:
    """The GGUF model read and the others with their sizes; weight files that were not read."""
    items: list[RenderableType] = []
    if w.source == "config":
        items.append(line(("from config.json: no weight file was read", "yellow")))
    if w.gguf is not None:
        items.append(line(f"GGUF: {w.gguf.chosen} ({w.gguf.reason})"))
        if len(w.gguf.available) > 1:
            t = Table(box=None, pad_edge=False, show_edge=False)
            for column in ("GGUF model", "quant", "size", "files"):
                t.add_column(column, justify="right" if column in ("size", "files") else "left")
            for f in w.gguf.available:
                mark = " (read)" if f.name == w.gguf.chosen else " (mmproj)" if f.kind == "mmproj" else ""
                size = "?" if f.size is None else f"{human_bytes(f.size)} ({exact(f.size)} B)"
                t.add_row(line(f.name + mark), Text(f.quant or "-"), size, str(len(f.files)))
            items.append(t)
    for unread in w.unread_files:
        size = "size unknown" if unread.size is None else f"{exact(unread.size)} B, exact"
        items.append(line((f"not read: {unread.path} ({size})", "dim")))
    return items


def llama_cpp_section(view: LlamaCppView, show_bytes: bool) -> RenderableType:
    s = view.settings
    heading = title(f"llama.cpp view ({view.llama_cpp_commit[:9]})", PROJECTED)
    settings = (
        f"n_ctx {s.n_ctx:,} (n_ctx_seq {s.n_ctx_seq:,} x {s.n_seq_max} seq) · n_batch {s.n_batch:,} · "
        f"n_ubatch {s.n_ubatch:,} · flash_attn {s.flash_attn} · K {s.type_k} / V {s.type_v}"
        + (" · kv_unified" if s.kv_unified else "")
        + (" · swa_full" if s.swa_full else "")
        + (f" · n_gpu_layers {s.n_gpu_layers}" if s.n_gpu_layers else "")
    )
    t = Table(box=None, pad_edge=False, show_edge=False)
    t.add_column("buffer")
    t.add_column("bytes", justify="right")
    rows = [
        ("model", view.model_buffer_bytes),
        ("KV cache", view.kv_cache_bytes),
        ("recurrent state", view.recurrent_state_bytes),
        ("output", view.output_buffer_bytes),
        ("compute", view.compute_buffer_bytes),
        ("total", view.total_bytes),
    ]
    for name, n in rows:
        if n or name in ("model", "total"):
            t.add_row(name, f"{human_bytes(n)} ({exact(n)} B)" if show_bytes else human_bytes(n))
    items: list[RenderableType] = [heading, line(settings), t, line(("as llama.cpp prints it:", "dim"))]
    items += [line(("  " + printed, "dim")) for printed in view.lines]
    items += [line((f"assumes: {a}", "dim")) for a in view.assumptions]
    items += [line((f"missing: {m}", "yellow")) for m in view.missing]
    return Group(*items)
