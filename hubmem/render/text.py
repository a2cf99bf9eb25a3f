"""The human report (rich). Every section title says whether its numbers are exact or projected."""

from __future__ import annotations

from collections import Counter

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from hubmem.render.safe import PROJECTED, cells, line, title
from hubmem.render.sources import architecture_source, llama_cpp_section, source_lines, weights_basis
from hubmem.render.units import exact, human_bytes, human_count
from hubmem.render.vllm import vllm_section
from hubmem.schema.architecture import Architecture
from hubmem.schema.fit import FitReport
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
        parts.append(
            f"{a.num_attention_heads} heads"
            + (f" / {kv} KV heads" if kv not in (None, a.num_attention_heads) else "")
        )
    for value, text in (
        (a.head_dim, "head dim {}"),
        (a.vocab_size, "vocab {:,}"),
        (a.max_context, "max context {:,}"),
    ):
        if value:
            parts.append(text.format(value))
    if a.dtype:
        parts.append(a.dtype)
    return parts


def _arch_details(a: Architecture) -> list[Text]:
    lines = []
    if a.num_experts:
        moe = f"MoE: {a.num_experts} experts, {a.experts_per_token or '?'} per token"
        lines.append(line(moe + (f", {a.shared_experts} shared" if a.shared_experts else "")))
    if a.mla is not None:
        lines.append(line(f"MLA: kv_lora_rank {a.mla.kv_lora_rank} + rope {a.mla.qk_rope_head_dim}"))
    if a.layer_kinds:
        counts = Counter(a.layer_kinds)
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
    head = (
        f"{_size(w.total_bytes, show_bytes)} · {human_count(w.parameters)} parameters "
        f"({exact(w.parameters)}) · {w.tensors:,} tensors in {len(w.files)} file{'s' * (len(w.files) != 1)}"
    )
    dt = Table(box=None, pad_edge=False, show_edge=False)
    dt.add_column("dtype")
    dt.add_column("bytes", justify="right")
    dt.add_column("parameters", justify="right")
    dt.add_column("tensors", justify="right")
    for name, d in sorted(w.by_dtype.items(), key=lambda kv: -kv[1].bytes):
        dt.add_row(*cells(name, _size(d.bytes, show_bytes), exact(d.parameters), exact(d.tensors)))
    ct = Table(box=None, pad_edge=False, show_edge=False)
    ct.add_column("component")
    ct.add_column("bytes", justify="right")
    ct.add_column("parameters", justify="right")
    ct.add_column("share", justify="right")
    for name, c in sorted(w.by_component.items(), key=lambda kv: -kv[1].bytes):
        share = f"{100 * c.bytes / w.total_bytes:.1f}%" if w.total_bytes else "-"
        ct.add_row(*cells(name, _size(c.bytes, show_bytes), exact(c.parameters), share))
    items: list[RenderableType] = [title("Weights", weights_basis(w)), line(head), *source_lines(w)]
    items += [dt, Text(""), ct]
    notes = list(w.notes)
    if w.tied_embeddings:
        notes.append("lm_head is tied to the input embeddings (stored once)")
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
    if kv.bytes_per_token or not kv.bytes_per_token_all_layers:
        summary = f"{kv.dtype} · {_size(kv.bytes_per_token, True)} per token"
    else:  # every attention layer is windowed: growth stops once the windows fill
        growth = _size(kv.bytes_per_token_all_layers, True)
        summary = f"{kv.dtype} · {growth} per token until the windows fill, then constant"
    if kv.state_bytes_per_sequence:
        summary += f" · recurrent state {_size(kv.state_bytes_per_sequence, show_bytes)} per sequence"
    items.append(line(summary))
    t = Table(box=None, pad_edge=False, show_edge=False)
    t.add_column("context", justify="right")
    t.add_column("batch", justify="right")
    t.add_column("KV + state", justify="right")
    t.add_column("+ weights", justify="right")
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
        parts = [f"{k}: {v.layers} layers, {human_bytes(v.bytes)}" for k, v in kv.by_layer_kind.items()]
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
    t.add_column("bytes", justify="right")
    t.add_column("how", style="dim")
    for it in tr.breakdown:
        t.add_row(*cells(it.name, _size(it.bytes, show_bytes), it.formula or ""))
    items.append(t)
    items += [line((f"assumes: {a}", "dim")) for a in tr.assumptions]
    return Group(*items)


def _verdict(fit: FitReport) -> Text:
    if fit.refusal is not None:
        return line(("vLLM would refuse", "bold red"))
    return line(("fits", "bold green") if fit.fits else ("does not fit", "bold red"))


def _fit_facts(fit: FitReport) -> list[str]:
    facts = []
    if fit.max_context is not None:
        capped = " (the model's maximum)" if fit.max_context_capped else ""
        facts.append(f"largest context at batch {fit.batch}: {exact(fit.max_context)}{capped}")
    if fit.max_batch is not None and fit.context:
        facts.append(f"largest batch at context {exact(fit.context)}: {exact(fit.max_batch)}")
    if fit.mode == "inference" or fit.min_gpus is not None:
        facts.append(f"fewest GPUs: {fit.min_gpus}" if fit.min_gpus else "fewest GPUs: more than tried")
    return facts


def _scenario_table(fit: FitReport, scenarios: list[FitReport]) -> Table:
    """The same verdict on 1, 2, 4 and 8 GPUs."""
    with_context = any(sc.max_context is not None for sc in scenarios)
    with_batch = any(sc.max_batch is not None for sc in scenarios)
    st = Table(box=None, pad_edge=False, show_edge=False)
    st.add_column("GPUs", justify="right")
    st.add_column("verdict")
    st.add_column("needed / GPU", justify="right")
    st.add_column("usable / GPU", justify="right")
    if with_context:
        st.add_column(f"max context (batch {fit.batch})", justify="right")
    if with_batch:
        st.add_column(f"max batch ({exact(fit.context or 0)} tok)", justify="right")
    for sc in scenarios:
        row: list[object] = [
            sc.gpus,
            _verdict(sc),
            human_bytes(sc.required_bytes),
            human_bytes(sc.usable_bytes),
        ]
        if with_context:
            row.append("-" if sc.max_context is None else exact(sc.max_context))
        if with_batch:
            row.append("-" if sc.max_batch is None else exact(sc.max_batch))
        st.add_row(*cells(*row))
    return st


def _fit(r: Report, show_bytes: bool) -> RenderableType | None:
    fit = r.fit
    if fit is None:
        return None
    accounting = ", vLLM's accounting" if fit.engine == "vllm" else ""
    items: list[RenderableType] = [
        title(f"Fit on {fit.gpus} x {fit.gpu} ({fit.mode}{accounting})", PROJECTED)
    ]
    required, usable = _size(fit.required_bytes, show_bytes), _size(fit.usable_bytes, show_bytes)
    need = f"needs {required} of {usable} usable per GPU"
    if fit.refusal is not None:  # vLLM's own words
        items.append(line((fit.refusal, "bold red"), f" ({need})"))
    else:
        items.append(line(_verdict(fit), f": {need} (headroom {human_bytes(fit.headroom_bytes)})"))
    if facts := _fit_facts(fit):
        items.append(line(" · ".join(facts)))
    t = Table(box=None, pad_edge=False, show_edge=False)
    t.add_column("item")
    t.add_column("per GPU", justify="right")
    t.add_column("how", style="dim")
    for it in fit.breakdown:
        t.add_row(*cells(it.name, _size(it.bytes, show_bytes), it.formula or ""))
    items.append(t)
    if len(r.fit_scenarios) > 1:
        items += [Text(""), _scenario_table(fit, r.fit_scenarios)]
    shown = set(r.training.assumptions) if r.training is not None and fit.mode == "training" else set()
    items += [line((f"assumes: {a}", "dim")) for a in fit.assumptions if a not in shown]
    return Group(*items)


def render_report(report: Report, *, show_bytes: bool = False) -> Group:
    parts: list[RenderableType | None] = [
        _header(report),
        _architecture(report),
        _weights(report, show_bytes),
        _kv(report, show_bytes),
        vllm_section(report.engine.vllm if report.engine else None, show_bytes),
        llama_cpp_section(report.engine.llama_cpp, show_bytes)
        if report.engine is not None and report.engine.llama_cpp is not None
        else None,
        _training(report, show_bytes),
        _fit(report, show_bytes),
    ]
    parts += [line((f"warning: {w}", "yellow")) for w in report.warnings]
    return Group(*(p for p in parts if p is not None))


def print_report(report: Report, *, console: Console | None = None, show_bytes: bool = False) -> None:
    (console or Console()).print(render_report(report, show_bytes=show_bytes))
