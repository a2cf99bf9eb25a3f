"""The one-line answer printed first (``Llama-3.1-8B: 14.96 GiB weights; inference at 8k 15.96 GiB; fits 1x
H100-SXM up to 128k; full fine-tune 142.13 GiB/GPU``), ``--brief`` (that line and the verdict) and the
``--verbose`` filter of the ``assumes:`` lines."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.text import Text

from hubmem.render.fit import verdict_line
from hubmem.render.safe import line
from hubmem.render.units import human_bytes, short_tokens
from hubmem.schema.fit import FitReport
from hubmem.schema.report import Report

_NO_GPU = "no verdict without a GPU: add --gpu h100 (a catalog name, or a size: --gpu 48GiB)"
_METHODS = {"full": "full fine-tune", "lora": "LoRA", "qlora": "QLoRA"}
# assumptions that change the answer itself, shown without --verbose too
_ALWAYS = ("GGUF: training projected", "no weight file read")


def _name(r: Report) -> str:
    return r.repo_id.rstrip("/").rsplit("/", 1)[-1] or r.repo_id


def _inference(r: Report) -> str | None:
    kv = r.kv_cache
    if kv is None or kv.context is None or (kv.missing and not kv.total_bytes):
        return None
    if set(kv.by_layer_kind) <= {"encoder"} and not kv.total_bytes:
        return f"inference {human_bytes(r.weights.total_bytes)} (encoder-only: no KV cache)"
    seqs = f" x {kv.batch} sequences" if kv.batch > 1 else ""
    total = human_bytes(kv.total_bytes + r.weights.total_bytes)
    return f"inference at {short_tokens(kv.context)}{seqs} {total}"


def _gpus(fit: FitReport) -> str:
    return f"{fit.gpus}x {fit.gpu}"


def _fit(fit: FitReport) -> str:
    """The verdict in a few words: fits / does not fit / vLLM would refuse, with how far it goes."""
    if fit.refusal is not None:
        return f"vLLM would refuse on {_gpus(fit)}"
    if not fit.fits:
        more = f" (fits {fit.min_gpus}x)" if fit.min_gpus and fit.min_gpus != fit.gpus else ""
        if not more and fit.suggestions:
            more = f" (fits with {fit.suggestions[0].split(':')[0]})"
        return f"does not fit {_gpus(fit)}{more}"
    if fit.mode == "inference" and fit.max_context:
        capped = " (the model's maximum)" if fit.max_context_capped else ""
        return f"fits {_gpus(fit)} up to {short_tokens(fit.max_context)}{capped}"
    return f"fits {_gpus(fit)}"


def _training(r: Report) -> str | None:
    tr = r.training
    if tr is None:
        return None
    on = f" on {tr.gpus} GPUs" if tr.gpus > 1 else ""
    text = f"{_METHODS.get(tr.method, tr.method)} {human_bytes(tr.per_gpu_bytes)}/GPU{on}"
    if r.fit is not None and r.fit.mode == "training":
        text += f", {_fit(r.fit)}"
    return text


def headline(r: Report) -> str:
    """The answer at a glance, from the figures the report holds."""
    parts = [f"{human_bytes(r.weights.total_bytes)} weights"]
    if (inference := _inference(r)) is not None:
        parts.append(inference)
    if r.fit is not None and r.fit.mode == "inference":
        parts.append(_fit(r.fit))
    if (training := _training(r)) is not None:
        parts.append(training)
    return f"{_name(r)}: " + "; ".join(parts)


def brief(r: Report, show_bytes: bool = False) -> Group:
    """``--brief``: the headline and the verdict (or how to get one)."""
    lines: list[Text] = [line((headline(r), "bold"))]
    if r.fit is not None:
        lines.append(verdict_line(r.fit, show_bytes))
    else:
        lines.append(line((_NO_GPU, "dim")))
    return Group(*lines)


def matters(assumption: str) -> bool:
    """An assumption shown without ``--verbose``: it changes what the figures mean."""
    return assumption.startswith(_ALWAYS)


def _kept(section: Any) -> Any:
    if section is None or not section.assumptions:
        return section
    return section.model_copy(update={"assumptions": [a for a in section.assumptions if matters(a)]})


def without_assumptions(r: Report) -> Report:
    """The report as printed without ``--verbose``: only the assumptions that change the answer."""
    update: dict[str, Any] = {name: _kept(getattr(r, name)) for name in ("kv_cache", "training", "fit")}
    if r.engine is not None:
        engine = {"vllm": _kept(r.engine.vllm), "llama_cpp": _kept(r.engine.llama_cpp)}
        update["engine"] = r.engine.model_copy(update=engine)
    return r.model_copy(update=update)
