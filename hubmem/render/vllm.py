"""The "vLLM start-up" section of the human report: the lines as vLLM would print them, per GPU rank, and the
budget they come from. Every string from the report goes through ``Text`` (never rich markup)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from hubmem.render.safe import PROJECTED, line, title
from hubmem.render.units import exact, human_bytes
from hubmem.schema.engines import VllmBudgetItem, VllmView


def _size(n: int, show_bytes: bool) -> str:
    return f"{human_bytes(n)} ({exact(n)} B)" if show_bytes else human_bytes(n)


def _range(item: VllmBudgetItem) -> str:
    if item.low_bytes is None or item.high_bytes is None:
        return ""
    return f"{human_bytes(item.low_bytes)} - {human_bytes(item.high_bytes)}"


def _budget(view: VllmView, show_bytes: bool) -> list[RenderableType]:
    t = Table(box=None, pad_edge=False, show_edge=False)
    t.add_column("budget term")
    t.add_column("per rank", justify="right")
    t.add_column("documented range", justify="right")
    how: list[RenderableType] = []
    for item in view.budget:
        sign = "" if item.name == "requested" else ("- " if item.subtracted else "(not subtracted) ")
        t.add_row(line(sign + item.name), _size(item.bytes, show_bytes), _range(item))
        how.append(line((f"  {item.name}: {item.formula} (vLLM {item.source})", "dim")))
    t.add_row(Text("= available KV cache"), _size(view.available_kv_cache_bytes, show_bytes), "")
    return [t, *how]


def _ranks(view: VllmView, show_bytes: bool) -> list[RenderableType]:
    if len(view.ranks) < 2:
        return []
    t = Table(box=None, pad_edge=False, show_edge=False)
    for name in ("pipeline stage", "layers", "model loading", "available KV", "blocks"):
        t.add_column(name, justify="right")
    for r in view.ranks:
        t.add_row(
            str(r.pp_rank),
            str(r.layers),
            _size(r.model_loading_bytes, show_bytes),
            _size(r.available_kv_cache_bytes, show_bytes),
            exact(r.num_blocks),
        )
    return [line(""), t]


def _settings_line(view: VllmView) -> Text:
    s = view.settings
    parts = [
        f"vLLM {view.vllm_version}",
        f"{view.gpu} (CUDA total {human_bytes(view.cuda_total_bytes)}, "
        f"vendor {human_bytes(view.vendor_bytes)})",
        f"tp {s.get('tensor_parallel_size')} pp {s.get('pipeline_parallel_size')}",
        f"max_model_len {exact(view.max_model_len)}",
        f"max_num_seqs {s.get('max_num_seqs')}",
        f"max_num_batched_tokens {s.get('max_num_batched_tokens')}",
        f"gpu_memory_utilization {s.get('gpu_memory_utilization')}",
    ]
    return Text(" · ".join(parts))


def vllm_section(view: VllmView | None, show_bytes: bool) -> RenderableType | None:
    if view is None:
        return None
    items: list[RenderableType] = [title("vLLM start-up, per GPU rank", PROJECTED), _settings_line(view)]
    if view.refusal is not None:
        items.append(line(("vLLM would refuse: ", "bold red")) + line(view.refusal))
    items += [line(("  " + printed, "cyan")) for printed in view.lines]
    pool = (
        f"pool: {exact(view.num_blocks)} blocks · {exact(view.page_bytes_per_token)} B per token slot · "
        f"one request of {exact(view.max_model_len)} tokens reserves "
        f"{_size(view.kv_needed_bytes, show_bytes)}"
    )
    if view.estimated_max_model_len is not None:
        pool += f" · longest request the pool admits: {exact(view.estimated_max_model_len)}"
    items += [line(pool), *_budget(view, show_bytes), *_ranks(view, show_bytes)]
    items += [line((f"assumes: {a}", "dim")) for a in view.assumptions]
    items += [line((f"missing: {m}", "yellow")) for m in view.missing]
    return Group(*items)
