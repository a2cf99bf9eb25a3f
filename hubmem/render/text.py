"""The human report (rich). Every section title says whether its numbers are exact or projected."""

from __future__ import annotations

from collections import Counter

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from hubmem.render.fit import fit_section
from hubmem.render.headline import brief, headline, without_assumptions
from hubmem.render.safe import PROJECTED, cells, line, title
from hubmem.render.sources import architecture_source, llama_cpp_section, source_lines, weights_basis
from hubmem.render.units import Units, exact, human_bytes, human_count, plural
from hubmem.render.units import units as units_of
from hubmem.render.vllm import vllm_section
from hubmem.schema.architecture import Architecture
from hubmem.schema.report import Report


def _size(n: int, show_bytes: bool) -> str:
    return f"{human_bytes(n)} ({exact(n)} B)" if show_bytes else human_bytes(n)


def _header(r: Report) -> RenderableType:
    commit = (r.commit or "local")[:12]
    where = f"{r.repo_id} @ {r.revision}" + (f" / {r.subfolder}" if r.subfolder else "")
    f = r.fetch
    cost = f"{f.requests} requests, {human_bytes(f.bytes_received)} read"
    if f.seconds is not None:
        cost += f", {f.seconds:.2f} s"
    return line((where, "bold cyan"), " -> commit ", (commit, "bold"), "  ", (f"({r.source}: {cost})", "dim"))


def _arch_parts(a: Architecture) -> list[str]:
    """The one-line summary: family, layers, hidden size, heads, head dim, vocab, context, dtype."""
    parts = [a.model_type or "unknown family"]
    if a.num_layers is not None:
        parts.append(f"{a.num_layers} layers")
    if a.hidden_size:
        parts.append(f"hidden {a.hidden_size:,}")
    if a.num_attention_heads:
        kv = a.num_kv_heads
        heads = plural(a.num_attention_heads, "head")
        if a.mla is not None:  # one latent per token, not KV heads: "MLA latent 512+64"
            heads += f" · MLA latent {a.mla.kv_lora_rank}+{a.mla.qk_rope_head_dim}"
        elif kv not in (None, a.num_attention_heads):
            heads += f" / {plural(kv or 0, 'KV head')}"
        parts.append(heads)
    for value, text in (
        (a.head_dim if a.mla is None else None, "head dim {}"),
        (a.vocab_size, "vocab {:,}"),
        (a.max_context, "max context {:,}"),
    ):
        if value:
            parts.append(text.format(value))
    if a.dtype:
        parts.append(a.dtype)
    return parts


def layer_kind(kind: str, a: Architecture) -> str:
    """A layer kind as users name it: a layer without attention is its feed-forward (moe or mlp)."""
    return ("moe" if a.num_experts else "mlp") if kind == "none" else kind


def _arch_details(a: Architecture) -> list[Text]:
    lines = []
    if a.num_experts:
        moe = f"MoE: {a.num_experts} experts, {a.experts_per_token or '?'} per token"
        lines.append(line(moe + (f", {a.shared_experts} shared" if a.shared_experts else "")))
    if a.mla is not None and a.mla.qk_nope_head_dim is not None:
        dims = (
            f"q/k head dim {a.mla.qk_nope_head_dim}+{a.mla.qk_rope_head_dim}, v head dim {a.mla.v_head_dim}"
        )
        lines.append(
            line(f"MLA: latent kv_lora_rank {a.mla.kv_lora_rank} + rope {a.mla.qk_rope_head_dim}; {dims}")
        )
    if a.layer_kinds:
        counts = Counter(layer_kind(k, a) + (" (no attention)" if k == "none" else "") for k in a.layer_kinds)
        kinds = ", ".join(f"{n} x {k}" for k, n in counts.most_common())
        window = f" (window {a.sliding_window:,})" if a.sliding_window and "sliding" in counts else ""
        lines.append(line(f"layers: {kinds}{window}"))
    if a.missing:
        lines.append(line((f"not derivable from config: {', '.join(a.missing)}", "yellow")))
    return lines


def _architecture(r: Report) -> RenderableType:
    a = r.architecture
    title = Text("\n") + line(("Architecture", "bold"), " ", (f"({architecture_source(r)})", "dim"))
    return Group(title, line(" · ".join(_arch_parts(a))), *_arch_details(a))


def _weights(r: Report, show_bytes: bool) -> RenderableType:
    w = r.weights
    params = w.parameters if w.model_parameters is None else w.model_parameters
    head = f"{_size(w.total_bytes, show_bytes)} · {human_count(params)} parameters ({exact(params)})"
    if w.buffer_elements:  # stored, in the bytes, but not parameters of the model
        head += f" + {exact(w.buffer_elements)} elements of stored buffers"
    head += f" · {plural(w.tensors, 'tensor')} in {plural(len(w.files), 'file')}"
    dt = Table(box=None, pad_edge=False, show_edge=False)
    dt.add_column("dtype")
    dt.add_column("bytes", justify="right", no_wrap=True)
    dt.add_column("parameters", justify="right", no_wrap=True)
    dt.add_column("tensors", justify="right", no_wrap=True)
    for name, d in sorted(w.by_dtype.items(), key=lambda kv: -kv[1].bytes):
        dt.add_row(*cells(name, _size(d.bytes, show_bytes), exact(d.parameters), exact(d.tensors)))
    ct = Table(box=None, pad_edge=False, show_edge=False)
    ct.add_column("component")
    ct.add_column("bytes", justify="right", no_wrap=True)
    ct.add_column("parameters", justify="right", no_wrap=True)
    ct.add_column("share", justify="right", no_wrap=True)
    for name, c in sorted(w.by_component.items(), key=lambda kv: -kv[1].bytes):
        share = f"{100 * c.bytes / w.total_bytes:.1f}%" if w.total_bytes else "-"
        ct.add_row(*cells(name, _size(c.bytes, show_bytes), exact(c.parameters), share))
    items: list[RenderableType] = [title("Weights", weights_basis(w)), line(head), *source_lines(w)]
    items += [dt, Text(""), ct]
    notes = list(dict.fromkeys(w.notes))  # each note once
    q = w.quantization
    if q is not None:
        bpp = f", {q.bits_per_parameter:.3f} bits/parameter incl. scales" if q.bits_per_parameter else ""
        items.append(
            line(
                f"quantization: {q.method}"
                + (f" {q.format}" if q.format else "")
                + (f" {q.bits:g}-bit" if q.bits else "")
                + (f", group {q.group_size}" if q.group_size else "")
                + f"{bpp}; {q.aux_tensors:,} auxiliary tensors ({human_bytes(q.aux_bytes)})"
                + " not counted as parameters"
            )
        )
    m = w.moe
    if m is not None:
        active = f"{human_count(m.active_parameters)} active per token"
        if m.active_parameters_no_embedding:
            active += f" ({human_count(m.active_parameters_no_embedding)} without the input embedding)"
        experts = f"{m.experts_per_token} of {m.num_experts} routed experts"
        if m.shared_experts:
            experts += f" + {m.shared_experts} shared"
        items.append(line(f"MoE: {human_count(m.total_parameters)} total, {active}; {experts}"))
        notes += m.notes
    items += [line((f"note: {n}", "dim")) for n in notes]
    return Group(*items)


def _kv(r: Report, show_bytes: bool) -> RenderableType | None:
    kv = r.kv_cache
    if kv is None:
        return None
    items: list[RenderableType] = [title(f"KV cache ({kv.engine} view)", PROJECTED)]
    if kv.missing and not kv.total_bytes:
        items.append(line((f"cannot project: {'; '.join(kv.missing)}", "yellow")))
        return Group(*items)
    if set(kv.by_layer_kind) <= {"encoder"} and not kv.total_bytes:  # BERT & co: nothing cached
        return Group(Text("\n") + line(("KV cache: ", "bold"), "none (encoder-only model: no KV cache)"))
    if kv.bytes_per_token or not kv.bytes_per_token_all_layers:
        summary = f"{kv.dtype} · {_size(kv.bytes_per_token, True)} per token"
    else:  # every attention layer is windowed: growth stops once the windows fill
        growth = _size(kv.bytes_per_token_all_layers, True)
        summary = f"{kv.dtype} · {growth} per token until the windows fill, then constant"
    if kv.state_bytes_per_sequence:
        summary += f" · recurrent state {_size(kv.state_bytes_per_sequence, show_bytes)} per sequence"
    items.append(line(summary))
    t = Table(box=None, pad_edge=False, show_edge=False)
    t.add_column("context", justify="right", no_wrap=True)
    t.add_column("batch", justify="right", no_wrap=True)
    t.add_column("KV + state", justify="right", no_wrap=True)
    t.add_column("+ weights", justify="right", no_wrap=True)
    rows = [(kv.context, kv.batch, kv.total_bytes)]
    rows += [
        (s.context, s.batch, s.total_bytes)
        for s in kv.scenarios
        if (s.context, s.batch) != (kv.context, kv.batch)
    ]
    for ctx, batch, total in rows:
        t.add_row(
            *cells(exact(ctx), batch, _size(total, show_bytes), human_bytes(total + r.weights.total_bytes))
        )
    items.append(t)
    if len(kv.by_layer_kind) > 1 or kv.state_bytes_per_sequence:
        parts = [
            f"{layer_kind(k, r.architecture)}: {plural(v.layers, 'layer')}, {human_bytes(v.bytes)}"
            for k, v in kv.by_layer_kind.items()
        ]
        items.append(line("by layer kind: " + "; ".join(parts)))
    items += [line((f"assumes: {a}", "dim")) for a in kv.assumptions]
    items += [line((f"missing: {m}", "yellow")) for m in kv.missing]
    return Group(*items)


def _training(r: Report, show_bytes: bool) -> RenderableType | None:
    tr = r.training
    if tr is None:
        return None
    per = f"{tr.gpus} GPU" + ("s" if tr.gpus != 1 else "")
    items: list[RenderableType] = [
        title(f"Training ({tr.method}, {tr.optimizer}, {per})", PROJECTED),
        line(
            f"{_size(tr.per_gpu_bytes, show_bytes)} per GPU"
            f" · model states {_size(tr.model_states_bytes, show_bytes)}"
            f" · {human_count(tr.trainable_parameters)} trainable"
            f" / {human_count(tr.frozen_parameters)} frozen"
        ),
    ]
    t = Table(box=None, pad_edge=False, show_edge=False)
    t.add_column("item")
    t.add_column("bytes", justify="right", no_wrap=True)
    t.add_column("how", style="dim")
    for it in tr.breakdown:
        t.add_row(*cells(it.name, _size(it.bytes, show_bytes), it.formula or ""))
    items.append(t)
    items += [line((f"assumes: {a}", "dim")) for a in tr.assumptions]
    return Group(*items)


def render_report(report: Report, *, show_bytes: bool = False, headline_first: bool = True) -> Group:
    parts: list[RenderableType | None] = [
        line((headline(report), "bold")) if headline_first else None,
        _header(report),
        _architecture(report),
        _weights(report, show_bytes),
        _kv(report, show_bytes),
        vllm_section(report.engine.vllm if report.engine else None, show_bytes),
        llama_cpp_section(report.engine.llama_cpp, show_bytes)
        if report.engine is not None and report.engine.llama_cpp is not None
        else None,
        _training(report, show_bytes),
        fit_section(report, show_bytes),
    ]
    return Group(*(p for p in parts if p is not None))


def print_report(
    report: Report,
    *,
    console: Console | None = None,
    show_bytes: bool = False,
    verbose: bool = True,
    brief_only: bool = False,
    units: Units = "binary",
) -> None:
    """The terminal report: the one-line answer, then the sections (``brief_only``: the line and the verdict);
    ``verbose=False`` keeps only the ``assumes:`` lines that change the answer. Warnings are the caller's
    (the CLI prints them on stderr)."""
    console = console or Console()
    shown = report if verbose else without_assumptions(report)
    with units_of(units):
        body = brief(shown, show_bytes) if brief_only else render_report(shown, show_bytes=show_bytes)
        console.print(body, soft_wrap=not console.is_terminal)
