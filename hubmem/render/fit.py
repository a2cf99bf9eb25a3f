"""The fit section of the terminal report (verdict, largest context / batch, fewest GPUs, per-count table)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from hubmem.render.safe import PROJECTED, cells, line, title
from hubmem.render.units import exact, human_bytes
from hubmem.schema.fit import FitReport
from hubmem.schema.report import Report


def _size(n: int, show_bytes: bool) -> str:
    return f"{human_bytes(n)} ({exact(n)} B)" if show_bytes else human_bytes(n)


def verdict(fit: FitReport) -> Text:
    if fit.refusal is not None:
        return line(("vLLM would refuse", "bold red"))
    return line(("fits", "bold green") if fit.fits else ("does not fit", "bold red"))


def _fit_facts(fit: FitReport) -> list[str]:
    facts = []
    if fit.mode == "training":
        return _training_facts(fit)
    if fit.max_context is not None:
        capped = " (the model's maximum)" if fit.max_context_capped else ""
        facts.append(f"largest context at batch {fit.batch}: {exact(fit.max_context)}{capped}")
    if fit.max_batch is not None and fit.context:
        facts.append(f"largest batch at context {exact(fit.context)}: {exact(fit.max_batch)}")
    if fit.mode == "inference" or fit.min_gpus is not None:
        facts.append(f"fewest GPUs: {fit.min_gpus}" if fit.min_gpus else "fewest GPUs: more than tried")
    return facts


def _training_facts(fit: FitReport) -> list[str]:
    """A training plan that does not fit: the largest --seq-len and --micro-batch that would."""
    facts = []
    if fit.max_context is not None:
        at = f"largest --seq-len at micro-batch {fit.batch}: "
        facts.append(at + (exact(fit.max_context) if fit.max_context else "none (not even 1 token)"))
    if fit.max_batch is not None:
        at = f"largest --micro-batch at seq len {exact(fit.context or 0)}: "
        facts.append(at + (exact(fit.max_batch) if fit.max_batch else "none"))
    if fit.min_gpus is not None:
        facts.append(f"fewest GPUs: {fit.min_gpus}")
    return facts


def _short_verdict(fit: FitReport) -> Text:
    """The verdict in at most 12 characters, for the table's column."""
    if fit.refusal is not None:
        return line(("vLLM refuses", "bold red"))
    return verdict(fit)


def _scenario_table(fit: FitReport, scenarios: list[FitReport]) -> RenderableType:
    """The same verdict on 1, 2, 4 and 8 GPUs (narrow enough for 80 columns: the batch and context the
    maxima are for are said on the line above)."""
    with_context = any(sc.max_context is not None for sc in scenarios)
    with_batch = any(sc.max_batch is not None for sc in scenarios)
    st = Table(box=None, pad_edge=False, show_edge=False)
    st.add_column("GPUs", justify="right", no_wrap=True)
    st.add_column("verdict", no_wrap=True, min_width=12)
    st.add_column("need/GPU", justify="right", no_wrap=True)
    st.add_column("usable/GPU", justify="right", no_wrap=True)
    said = []
    if with_context:
        st.add_column("max context", justify="right", no_wrap=True)
        said.append(f"max context at batch {fit.batch}")
    if with_batch:
        st.add_column("max batch", justify="right", no_wrap=True)
        said.append(f"max batch at {exact(fit.context or 0)} tokens")
    for sc in scenarios:
        row: list[object] = [
            sc.gpus,
            _short_verdict(sc),
            human_bytes(sc.required_bytes),
            human_bytes(sc.usable_bytes),
        ]
        if with_context:
            row.append("-" if sc.max_context is None else exact(sc.max_context))
        if with_batch:
            row.append("-" if sc.max_batch is None else exact(sc.max_batch))
        st.add_row(*cells(*row))
    if not said:
        return st
    return Group(line(("; ".join(said), "dim")), st)


def verdict_line(fit: FitReport, show_bytes: bool = False) -> Text:
    """``fits: needs 15.96 GiB of 70.97 GiB usable per GPU (headroom 55.01 GiB)``, or vLLM's refusal."""
    required, usable = _size(fit.required_bytes, show_bytes), _size(fit.usable_bytes, show_bytes)
    need = f"needs {required} of {usable} usable per GPU"
    if fit.refusal is not None:  # vLLM's own words
        return line((fit.refusal, "bold red"), f" ({need})")
    return line(verdict(fit), f": {need} (headroom {human_bytes(fit.headroom_bytes)})")


def fit_section(r: Report, show_bytes: bool) -> RenderableType | None:
    fit = r.fit
    if fit is None:
        return None
    accounting = ", vLLM's accounting" if fit.engine == "vllm" else ""
    items: list[RenderableType] = [
        title(f"Fit on {fit.gpus} x {fit.gpu} ({fit.mode}{accounting})", PROJECTED)
    ]
    items.append(verdict_line(fit, show_bytes))
    if facts := _fit_facts(fit):
        items.append(line(" · ".join(facts)))
    if fit.suggestions:
        items.append(line(("would fit: ", "bold"), "; ".join(fit.suggestions)))
    t = Table(box=None, pad_edge=False, show_edge=False)
    t.add_column("item")
    t.add_column("per GPU", justify="right", no_wrap=True)
    t.add_column("how", style="dim")
    for it in fit.breakdown:
        t.add_row(*cells(it.name, _size(it.bytes, show_bytes), it.formula or ""))
    items.append(t)
    if len(r.fit_scenarios) > 1:
        items += [Text(""), _scenario_table(fit, r.fit_scenarios)]
    shown = set(r.training.assumptions) if r.training is not None and fit.mode == "training" else set()
    items += [line((f"assumes: {a}", "dim")) for a in fit.assumptions if a not in shown]
    return Group(*items)
