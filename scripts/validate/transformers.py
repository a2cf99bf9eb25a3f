"""Validate hubmem's config-derived parameter counts and KV-cache projections against transformers.

Dev-only: needs torch and transformers (installed in .venv for scripts; hubmem itself never imports them).

(a) Parameters. Every corpus config (fixtures/repos/*/files/config.json) plus a few inline configs from
    docs/theory.md section 6 is built by transformers on the meta device (no memory); hubmem's
    ``expected_parameters(config).total`` is compared with ``sum(p.numel() for p in model.parameters())``
    (``Module.parameters()`` yields a tied parameter once) and with the state dict ``save_pretrained`` would
    write (``model.state_dict()`` minus tied aliases, ``remove_tied_weights_from_state_dict``; persistent
    buffers included, non-persistent ones such as rotary ``inv_freq`` excluded).

(b) KV cache / recurrent state. For each attention kind a small copy of a real config (fewer layers, a smaller
    vocabulary / MLP / expert count, which no cache depends on) is run on CPU with random weights: a prefill
    of ``T`` tokens and one decode step, batch 1, with the model's own cache (DynamicCache; StaticCache too
    where it differs). The bytes of the tensors the cache actually holds (keys/values, conv/recurrent states,
    indexer keys) are summed and compared with hubmem's ``estimate_kv_cache`` for the SAME reduced config at
    context ``T + 1``. Where the reduction kept every cache-relevant dimension, the measured bytes per layer
    are also scaled to the full model's layer types (transformers' own ``layer_types``) and compared with
    hubmem on the full config.

Usage:
    .venv/bin/python -m scripts.validate.transformers            # print the tables
    .venv/bin/python -m scripts.validate.transformers --write    # also update scripts/VALIDATION.md

Exit status 1 when a difference is not explained (see ``EXPLAINED`` and the status rules below).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    PreTrainedConfig,
    PreTrainedModel,
    StaticCache,
)
from transformers.cache_utils import DYNAMIC_LAYER_TYPE_MAPPING, get_layer_types_and_kwargs
from transformers.modeling_utils import remove_tied_weights_from_state_dict

from hubmem.estimate.kv.report import estimate_kv_cache
from hubmem.estimate.params.formula import ConfigParams, expected_parameters
from hubmem.parse.config import parse_config
from hubmem.schema.kv import KVOptions
from scripts import ROOT, results

REPOS = ROOT / "fixtures" / "repos"
THEORY = ROOT / "fixtures" / "theory"
VALIDATION_MD = results.VALIDATION
SECTION = "## Validation against transformers"
COMMAND = ".venv/bin/python -m scripts.validate.transformers --write"

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
logging.getLogger("transformers").setLevel(logging.ERROR)


def load(repo: str, name: str = "config.json") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPOS / repo.replace("/", "__") / "files" / name).read_text())
    return data


def fmt(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def signed(n: int) -> str:
    return "0" if n == 0 else f"{n:+,}"


# Configs quoted in docs/theory.md section 6 (fixtures/theory/<name>.json; each file's "_source" cites it) --


def theory(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((THEORY / f"{name}.json").read_text())
    data.pop("_source", None)
    return data


QWEN2_5_7B: dict[str, Any] = theory("Qwen2.5-7B")  # docs/theory.md 6.3
GPT_OSS_120B: dict[str, Any] = theory("gpt-oss-120b")  # docs/theory.md 6.6
FALCON_MAMBA_7B: dict[str, Any] = theory("falcon-mamba-7b")  # docs/theory.md 6.7
T5_BASE: dict[str, Any] = theory("t5-base")  # docs/theory.md 6.8
QWEN3_NEXT_80B: dict[str, Any] = theory("Qwen3-Next-80B-A3B")  # docs/theory.md 6.9


def llama4_with_default_vision() -> dict[str, Any]:
    """Llama-4-Scout's corpus config (text_config only) plus transformers' default Llama4VisionConfig."""
    config = load("meta-llama/Llama-4-Scout-17B-16E-Instruct")
    vision = AutoConfig.for_model("llama4").vision_config.to_dict()
    config["vision_config"] = {k: v for k, v in vision.items() if not k.startswith("_")}
    return config


# Building models ----------------------------------------------------------------------------------------


def hf_config(config: dict[str, Any]) -> PreTrainedConfig:
    """transformers' own config object for this config.json (quantization and remote code dropped)."""
    clean = {k: v for k, v in config.items() if k not in ("quantization_config", "auto_map")}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(clean))
        cfg: PreTrainedConfig = AutoConfig.from_pretrained(tmp)
    return cfg


def build(config: dict[str, Any], *, meta: bool) -> PreTrainedModel:
    cfg = hf_config(config)
    names = config.get("architectures") or []
    cls = getattr(transformers, names[0], None) if names else None
    with torch.device("meta") if meta else contextlib.nullcontext():
        model: PreTrainedModel = cls(cfg) if cls is not None else AutoModelForCausalLM.from_config(cfg)
    return model


# (a) parameters ----------------------------------------------------------------------------------------


@dataclass
class ParamRow:
    name: str
    family: str | None
    hubmem: int | None
    params: int | None
    saved: int | None
    status: str
    explanation: str
    ok: bool


def param_cases() -> list[tuple[str, dict[str, Any]]]:
    cases = [
        (p.parent.parent.name.replace("__", "/"), json.loads(p.read_text()))
        for p in sorted(REPOS.glob("*/files/config.json"))
        if not p.parent.parent.name.startswith("hubmem-test__")  # synthetic fake-Hub repos (MiniLM copies)
    ]
    cases += [
        ("Qwen2.5-7B (theory 6.3)", QWEN2_5_7B),
        ("gpt-oss-120b (theory 6.6)", GPT_OSS_120B),
        ("Llama-4-Scout + default vision_config", llama4_with_default_vision()),
        ("falcon-mamba-7b (theory 6.7)", FALCON_MAMBA_7B),
        ("T5-base (theory 6.8)", T5_BASE),
        ("Qwen3-Next-80B-A3B (theory 6.9)", QWEN3_NEXT_80B),
    ]
    return cases


def _numel(tensors: dict[str, torch.Tensor], keep: Callable[[str], bool] = lambda _: True) -> int:
    return sum(t.numel() for k, t in tensors.items() if keep(k))


def param_row(name: str, config: dict[str, Any]) -> ParamRow:
    hub: ConfigParams = expected_parameters(parse_config(config))
    try:
        model = build(config, meta=True)
    except Exception as exc:  # transformers cannot build it (remote code only, ...)
        why = (
            f"transformers {transformers.__version__} cannot build it ({type(exc).__name__}: {str(exc)[:90]})"
        )
        return ParamRow(name, hub.family, hub.total, None, None, "not built", why, True)
    params = sum(p.numel() for p in model.parameters())
    state = model.state_dict()
    saved_sd = remove_tied_weights_from_state_dict(dict(state), model)
    saved = _numel(saved_sd)
    notes: list[str] = []
    tied = sorted(set(state) - set(saved_sd))
    if tied:
        notes.append("tied, saved once: " + ", ".join(tied))
    if saved != params:
        buffers = {n: b.numel() for n, b in model.named_buffers() if n in saved_sd}
        kinds = sorted({n.rsplit(".", 1)[-1] for n in buffers})
        if saved - params == sum(buffers.values()):
            notes.append(
                f"saved - parameters() = {saved - params:,} = persistent buffers ({', '.join(kinds)}), "
                "which checkpoints store and hubmem counts"
            )
        else:
            notes.append(f"saved - parameters() = {saved - params:,} is NOT the persistent buffers")
            return ParamRow(name, hub.family, hub.total, params, saved, "MISMATCH", "; ".join(notes), False)
    if hub.total is None:
        notes.insert(0, "hubmem: " + "; ".join(hub.missing))
        return ParamRow(name, hub.family, None, params, saved, "not covered", "; ".join(notes), True)
    if hub.total == saved:
        status = "match" if not hub.missing else "match (partial)"
        return ParamRow(name, hub.family, hub.total, params, saved, status, "; ".join(notes), True)
    diff = saved - hub.total
    if hub.missing and any("vision" in m for m in hub.missing):
        vision = _numel(saved_sd, lambda k: "vision" in k or "multi_modal_projector" in k)
        if vision == diff:
            notes.insert(
                0,
                f"hubmem counts the text model only ({hub.missing[0]}); transformers' default vision tower "
                f"+ projector = {vision:,} = the difference",
            )
            return ParamRow(name, hub.family, hub.total, params, saved, "partial", "; ".join(notes), True)
    notes.insert(0, f"saved - hubmem = {diff:,}")
    return ParamRow(name, hub.family, hub.total, params, saved, "MISMATCH", "; ".join(notes), False)


def param_table(rows: list[ParamRow]) -> str:
    out = [
        "| config | hubmem family | hubmem total | transformers parameters() | saved state_dict | status "
        "| notes |",
        "|---|---|--:|--:|--:|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r.name} | {r.family or '—'} | {fmt(r.hubmem)} | {fmt(r.params)} | {fmt(r.saved)} | "
            f"{r.status} | {r.explanation} |"
        )
    return "\n".join(out)


# (b) KV cache --------------------------------------------------------------------------------------------


@dataclass
class KVCase:
    name: str
    kind: str
    source: str
    full: dict[str, Any]
    reduce: dict[str, Any]  # overrides giving the small copy
    tokens: int  # prefill tokens; one decode token follows
    static: bool = True  # also run StaticCache
    encoder_tokens: int | None = None
    scalable: bool = True  # the reduction kept every cache-relevant dimension
    note: str = ""


@dataclass
class LayerMeasure:
    cls: str
    nbytes: int
    tokens: int | None
    shapes: str


@dataclass
class KVRow:
    case: KVCase
    context: int
    dynamic: int
    hub_dynamic: int
    static: int | None = None
    hub_static: int | None = None
    scaled: int | None = None
    hub_full: int | None = None
    layers: list[LayerMeasure] = field(default_factory=list)
    observations: list[str] = field(default_factory=list)
    explanations: list[str] = field(default_factory=list)
    ok: bool = True


def kv_cases() -> list[KVCase]:
    llama = load("meta-llama/Llama-3.1-8B")
    mistral = load("mistralai/Mistral-7B-v0.1")
    gemma = load("google/gemma-3-1b-it")
    gpt_oss = load("openai/gpt-oss-20b")
    deepseek = load("deepseek-ai/DeepSeek-V3")
    deepseek32 = load("deepseek-ai/DeepSeek-V3.2")
    nemotron = load("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16")
    llama4 = dict(load("meta-llama/Llama-4-Scout-17B-16E-Instruct")["text_config"])
    llama4["architectures"] = ["Llama4ForCausalLM"]
    small = {"vocab_size": 1024, "intermediate_size": 128}
    moe_ds = {
        **small,
        "num_hidden_layers": 2,
        "first_k_dense_replace": 1,
        "n_routed_experts": 8,
        "num_experts_per_tok": 2,
        "n_group": 1,
        "topk_group": 1,
        "moe_intermediate_size": 64,
        "num_nextn_predict_layers": 0,
    }
    return [
        KVCase("Llama-3.1-8B", "full / GQA", "corpus", llama, {**small, "num_hidden_layers": 2}, 8),
        KVCase(
            "Mistral-7B-v0.1",
            "sliding (4096, all layers)",
            "corpus",
            mistral,
            {**small, "num_hidden_layers": 2},
            4100,
        ),
        KVCase(
            "gemma-3-1b-it",
            "hybrid sliding (512) / full, pattern 6",
            "corpus",
            gemma,
            {**small, "num_hidden_layers": 6},
            600,
        ),
        KVCase(
            "gpt-oss-20b",
            "hybrid sliding (128) / full, alternating",
            "corpus",
            gpt_oss,
            {
                **small,
                "num_hidden_layers": 2,
                "layer_types": gpt_oss["layer_types"][:2],
                "num_local_experts": 4,
                "pad_token_id": 0,
                "eos_token_id": 1,
            },
            200,
        ),
        KVCase("DeepSeek-V3", "MLA", "corpus", deepseek, moe_ds, 8),
        KVCase("DeepSeek-V3.2", "MLA + DSA indexer keys", "corpus", deepseek32, moe_ds, 8, static=False),
        KVCase(
            "Llama-4-Scout (text)",
            "chunked (every 4th layer full)",
            "corpus text_config",
            llama4,
            {
                **small,
                "num_hidden_layers": 4,
                "intermediate_size_mlp": 128,
                "num_local_experts": 2,
                "attention_chunk_size": 64,
                "pad_token_id": 0,
            },
            100,
            scalable=False,
            note="attention_chunk_size reduced 8192 -> 64 for CPU, so no full-scale comparison",
        ),
        KVCase(
            "Nemotron-3-Nano-30B-A3B",
            "Mamba-2 + attention hybrid",
            "corpus",
            nemotron,
            {
                "vocab_size": 1024,
                "num_hidden_layers": 3,
                "hybrid_override_pattern": "M*E",
                "n_routed_experts": 4,
                "num_experts_per_tok": 2,
                "moe_intermediate_size": 64,
                "moe_shared_expert_intermediate_size": 64,
                "use_mamba_kernels": False,
            },
            8,
            static=False,
        ),
        KVCase(
            "falcon-mamba-7b",
            "Mamba-1",
            "theory 6.7",
            FALCON_MAMBA_7B,
            {"vocab_size": 1024, "num_hidden_layers": 2},
            8,
            static=False,
        ),
        KVCase(
            "Qwen3-Next-80B-A3B",
            "gated DeltaNet + full hybrid",
            "theory 6.9",
            QWEN3_NEXT_80B,
            {
                "vocab_size": 1024,
                "num_hidden_layers": 4,
                "num_experts": 4,
                "num_experts_per_tok": 2,
                "moe_intermediate_size": 64,
                "shared_expert_intermediate_size": 64,
                "intermediate_size": 128,
            },
            8,
            static=False,
        ),
        KVCase(
            "T5-base",
            "encoder-decoder (self + cross)",
            "theory 6.8",
            T5_BASE,
            {},
            4,
            static=False,
            encoder_tokens=16,
            note="full size; 16 encoder tokens, 4 decoder tokens + 1 decode step",
        ),
    ]


def _tensor_bytes(t: object) -> int:
    return t.numel() * t.element_size() if isinstance(t, torch.Tensor) else 0


def measure(cache: object) -> list[LayerMeasure]:
    """Bytes of every tensor each cache layer holds (EncoderDecoderCache: self layers, then cross layers)."""
    if hasattr(cache, "self_attention_cache"):
        return measure(cache.self_attention_cache) + measure(getattr(cache, "cross_attention_cache", None))
    out: list[LayerMeasure] = []
    for layer in getattr(cache, "layers", []):
        total, tokens, shapes = 0, None, []
        for attr in ("keys", "values", "indexer_keys", "indexer_position_ids"):
            t = getattr(layer, attr, None)
            if isinstance(t, torch.Tensor) and t.numel():
                total += _tensor_bytes(t)
                shapes.append(f"{attr}{list(t.shape)} {str(t.dtype).removeprefix('torch.')}")
                if attr == "keys":
                    tokens = int(t.shape[-2])
        for attr in ("conv_states", "recurrent_states"):
            states = getattr(layer, attr, None)
            if isinstance(states, dict):
                for t in states.values():
                    if isinstance(t, torch.Tensor):
                        total += _tensor_bytes(t)
                        shapes.append(f"{attr}{list(t.shape)} {str(t.dtype).removeprefix('torch.')}")
        out.append(LayerMeasure(type(layer).__name__, total, tokens, "; ".join(shapes)))
    return out


def _dtype(config: dict[str, Any]) -> torch.dtype:
    name = config.get("torch_dtype") or config.get("dtype") or "float32"
    return {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(str(name), torch.float32)


def _run(case: KVCase, config: dict[str, Any], cache: str) -> list[LayerMeasure]:
    torch.manual_seed(0)
    model = build(config, meta=False)
    torch.nn.Module.to(model, _dtype(config))  # PreTrainedModel.to's decorator confuses mypy
    model.eval()
    vocab = int(config.get("vocab_size") or 1024)
    ids = torch.randint(3, min(vocab, 1000), (1, case.tokens))
    with torch.no_grad():
        if case.encoder_tokens is not None:
            enc = torch.randint(3, min(vocab, 1000), (1, case.encoder_tokens))
            out = model(input_ids=enc, decoder_input_ids=ids, use_cache=True)
            out = model(
                encoder_outputs=(out.encoder_last_hidden_state,),
                decoder_input_ids=ids[:, -1:],
                past_key_values=out.past_key_values,
                use_cache=True,
            )
            return measure(out.past_key_values)
        kwargs: dict[str, Any] = {}
        if cache == "static":
            kwargs["past_key_values"] = StaticCache(config=model.config, max_cache_len=case.tokens + 1)
        out = model(input_ids=ids, use_cache=True, **kwargs)
        if hasattr(out, "cache_params"):  # Mamba-1 models name their cache cache_params
            past = out.cache_params
            model(input_ids=ids[:, -1:], cache_params=past, use_cache=True)
            return measure(past)
        past = out.past_key_values
        out = model(input_ids=ids[:, -1:], past_key_values=past, use_cache=True)
        return measure(out.past_key_values if out.past_key_values is not None else past)


def _hub(config: dict[str, Any], case: KVCase, context: int, cache: str, kv_dtype: str = "auto") -> int:
    options = KVOptions(
        context=context,
        batch=1,
        kv_dtype=kv_dtype,
        engine="transformers",
        transformers_cache="static" if cache == "static" else "dynamic",
        encoder_length=case.encoder_tokens,
    )
    report = estimate_kv_cache(parse_config(config), options)
    if not report.complete:
        raise RuntimeError(f"hubmem incomplete for {case.name}: {report.missing}")
    return report.total_bytes


def _full_layer_classes(config: dict[str, Any]) -> Counter[str]:
    cfg = hf_config(config).get_text_config(decoder=True)
    types, _ = get_layer_types_and_kwargs(cfg)
    return Counter(DYNAMIC_LAYER_TYPE_MAPPING[t].__name__ for t in types)


def _observe(layers: list[LayerMeasure], context: int) -> list[str]:
    seen: dict[str, LayerMeasure] = {}
    for m in layers:
        seen.setdefault(m.cls, m)
    notes = []
    for cls, m in seen.items():
        held = f", holds {m.tokens} of {context} tokens" if m.tokens is not None else ""
        notes.append(f"{cls}: {m.shapes or 'nothing'}{held}")
    return notes


def _explain(row: KVRow, label: str, measured: int, predicted: int, recompute: Callable[[str], int]) -> bool:
    """A difference is explained only by a hypothesis that reproduces the measured bytes exactly."""
    if measured == predicted:
        return True
    config = row.case.full
    if not (config.get("torch_dtype") or config.get("dtype")) and recompute("float32") == measured:
        row.explanations.append(
            f"{label}: config.json has no dtype, so transformers builds the model (and its cache) in "
            "float32, docs/theory.md 1.2's last fallback; hubmem's parse_config, given no tensors, assumes "
            f"bfloat16 (Architecture.missing says so) and projects {predicted:,} B. With kv_dtype=float32 "
            f"hubmem gives exactly the measured {measured:,} B. (With the real safetensors headers hubmem "
            "takes the dtype from the tensors.)"
        )
        return True
    row.explanations.append(f"{label}: UNEXPLAINED, measured {measured:,} B vs hubmem {predicted:,} B")
    return False


def kv_row(case: KVCase) -> KVRow:
    reduced = copy.deepcopy(case.full)
    reduced.update(case.reduce)
    context = case.tokens + 1
    layers = _run(case, reduced, "dynamic")
    row = KVRow(case, context, sum(m.nbytes for m in layers), _hub(reduced, case, context, "dynamic"))
    row.layers = layers
    row.observations = _observe(layers, context)
    ok = _explain(
        row,
        "DynamicCache",
        row.dynamic,
        row.hub_dynamic,
        lambda dt: _hub(reduced, case, context, "dynamic", dt),
    )
    if case.static:
        static_layers = _run(case, reduced, "static")
        row.static = sum(m.nbytes for m in static_layers)
        row.hub_static = _hub(reduced, case, context, "static")
        row.observations += [o + " (StaticCache)" for o in _observe(static_layers, context) if "Static" in o]
        ok &= _explain(
            row,
            "StaticCache",
            row.static,
            row.hub_static,
            lambda dt: _hub(reduced, case, context, "static", dt),
        )
    if not case.reduce:  # measured at full size already
        row.scaled, row.hub_full = row.dynamic, row.hub_dynamic
    elif case.scalable:
        per_class: dict[str, set[int]] = {}
        for m in layers:
            per_class.setdefault(m.cls, set()).add(m.nbytes)
        full = _full_layer_classes(case.full)
        if all(c in per_class and len(per_class[c]) == 1 for c in full):
            row.scaled = sum(n * next(iter(per_class[c])) for c, n in full.items())
            row.hub_full = _hub(case.full, case, context, "dynamic")
            ok &= _explain(
                row,
                "full model",
                row.scaled,
                row.hub_full,
                lambda dt: _hub(case.full, case, context, "dynamic", dt),
            )
        else:
            row.observations.append(
                f"not scaled: full layer classes {dict(full)} vs measured {sorted(per_class)}"
            )
            ok = False
    row.ok = ok
    return row


def kv_tables(rows: list[KVRow]) -> str:
    out = [
        "Same (reduced) config, context = T + 1 tokens, batch 1, model dtype; bytes of the tensors the cache "
        "holds:",
        "",
        "| case | kind | reduced copy | T+1 | transformers DynamicCache | hubmem dynamic | Δ | "
        "transformers StaticCache | hubmem static | Δ |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        c = r.case
        red = ", ".join(f"{k}={v}" for k, v in c.reduce.items() if k != "layer_types") or "none"
        sd = "—" if r.static is None or r.hub_static is None else signed(r.hub_static - r.static)
        out.append(
            f"| {c.name} ({c.source}) | {c.kind} | {red} | {r.context:,} | {fmt(r.dynamic)} | "
            f"{fmt(r.hub_dynamic)} | {signed(r.hub_dynamic - r.dynamic)} | {fmt(r.static)} | "
            f"{fmt(r.hub_static)} | {sd} |"
        )
    out += [
        "",
        "Scaled to the full model (measured bytes per layer x the full config's layer types, same context) "
        "vs hubmem on the full config:",
        "",
        "| case | full layer types (transformers) | transformers, scaled | hubmem full config | Δ |",
        "|---|---|--:|--:|--:|",
    ]
    for r in rows:
        if r.scaled is None or r.hub_full is None:
            why = r.case.note or "not scaled"
            out.append(f"| {r.case.name} | {why} | — | — | — |")
            continue
        kinds = ", ".join(f"{n} {c}" for c, n in _full_layer_classes(r.case.full).items())
        if r.case.encoder_tokens is not None:
            kinds += " self-attention + as many cross-attention layers (EncoderDecoderCache); full size"
        out.append(
            f"| {r.case.name} | {kinds} | {fmt(r.scaled)} | {fmt(r.hub_full)} | "
            f"{signed(r.hub_full - r.scaled)} |"
        )
    out += ["", "What the caches held (first layer of each cache class, after prefill + 1 decode step):", ""]
    for r in rows:
        out.append(f"* **{r.case.name}** — " + "; ".join(r.observations))
    explained = [(r.case.name, e) for r in rows for e in r.explanations]
    if explained:
        out += [
            "",
            "Differences between hubmem and the measurement, each checked by reproducing the bytes exactly:",
            "",
        ]
        out += [f"* **{name}** — {e}" for name, e in explained]
    return "\n".join(out)


NOTES = """\
### Notes: what differs from a naive formula, and why

* **Sliding / chunked windows.** transformers' `DynamicSlidingWindowLayer` keeps only the last
  `window - 1` tokens ("Only cache the last `self.sliding_window - 1` tokens", `cache_utils.py`):
  Mistral-7B-v0.1 holds 4,095 of 4,101 tokens, gemma-3 511 of 601, gpt-oss 127 of 201.
  `StaticSlidingWindowLayer` allocates `min(window, max_cache_len)`: one token more per sliding layer
  (4,096 / 512 / 128). hubmem models both (`KVOptions.transformers_cache`), hence Δ 0 in both columns; a
  naive "window tokens" formula would be 1 token x per-token bytes too high per sliding layer for
  DynamicCache. Llama 4's chunked layers use the same classes with `attention_chunk_size` as the window
  (63 of 101 tokens at chunk 64), i.e. transformers keeps the most recent `chunk - 1` tokens, not "the
  tokens since the current chunk started" as vLLM's ChunkedLocalAttention.
* **MLA.** transformers 5.x DeepSeek attention caches the compressed latent (`keys` = kv_lora_rank 512)
  and the shared rotary key (`values` = qk_rope_head_dim 64): 576 elements per token per layer,
  docs/theory.md 2.2's MLA figure, not the decompressed 128 heads x (192 + 128) of a naive MHA view (71x
  more). DeepSeek-V3.2's `DynamicIndexedLayer` adds the DSA indexer key (index_head_dim 128 per token
  per layer, model dtype).
* **Recurrent state.** transformers keeps `conv_kernel` conv columns (4; vLLM keeps `conv_kernel - 1`)
  and the SSM / DeltaNet state as float32 even in a bfloat16 model (the torch scans return float32 and
  the cache copies them): falcon-mamba-7b = 589,824 B per layer, 37,748,736 B for 64 layers, where
  docs/theory.md 6.7's "transformers MambaCache (bf16 ...)" 20,971,520 B describes the older bf16 MambaCache.
  Measured on the CPU (torch) path; with the CUDA mamba kernels the returned state dtype may differ.
  Nemotron-H's config asks for `mamba_ssm_cache_dtype: float32` anyway.
* **Encoder-decoder.** `EncoderDecoderCache` = a self-attention DynamicCache (decoder tokens) + a
  cross-attention cache holding the encoder tokens (16 here) in each of the 12 decoder layers; T5-base
  per token per layer = 12 heads x 64 x 2 (K, V) x 4 B = 6,144 B.
* **dtype.** Where config.json has no dtype (gpt-oss-20b's corpus config, T5-base), transformers builds
  float32 (docs/theory.md 1.2's last fallback) and hubmem without tensors assumes bfloat16 (and says so); the
  table rows show the exact reproduction with `kv_dtype=float32`.
* **Parameters.** `Module.parameters()` leaves out persistent buffers that checkpoints store (DeepSeek /
  Nemotron-H `e_score_correction_bias`); hubmem counts them, as the saved state dict does. Tied tensors
  are yielded once by `parameters()` and saved once by `save_pretrained`. Llama-4-Scout's corpus config
  has no `vision_config`: transformers builds a default vision tower, hubmem reports the vision part
  missing; with that default vision_config written into the config, hubmem's vision formula matches
  transformers exactly. falcon-180B-chat's config has no `tie_word_embeddings`, so `FalconConfig` ties
  lm_head (hubmem follows the config and matches transformers), yet the real index stores a separate
  `lm_head.weight` (V x H = 965,476,352 more in the checkpoint: tests/test_config_params_corpus.py).
  Nemotron-Super-49B (nemotron-nas / DeciLM) is remote code only, so transformers cannot build it
  offline; hubmem's count follows DeciLM's `_ffn_mult_to_intermediate_size` (as in vLLM's
  nemotron_nas.py) (49,867,145,216; not checked against transformers).

"""


# Output ----------------------------------------------------------------------------------------------------


def write_section(body: str) -> None:
    section = SECTION + "\n\n" + body.strip() + "\n"
    results.write_section(VALIDATION_MD, "validate.transformers", section, new_doc="# Validation\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m scripts.validate.transformers",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    ap.add_argument(
        "--write", action="store_true", help=f"update the '{SECTION}' section of {VALIDATION_MD.name}"
    )
    ap.add_argument("--skip-params", action="store_true")
    ap.add_argument("--skip-kv", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()
    parts = [
        f"Produced by `{COMMAND}` with transformers {transformers.__version__}, torch {torch.__version__} "
        f"(CPU), Python {sys.version.split()[0]}.",
    ]
    ok = True
    if not args.skip_params:
        prows = [param_row(name, config) for name, config in param_cases()]
        ok &= all(r.ok for r in prows)
        parts += ["", "### Parameter counts (meta device)", "", param_table(prows)]
    if not args.skip_kv:
        krows = [kv_row(case) for case in kv_cases()]
        ok &= all(r.ok for r in krows)
        parts += ["", "### KV cache and recurrent state (CPU forward, random weights)", "", kv_tables(krows)]
    parts += ["", NOTES]
    parts += [
        "",
        f"Result: {'every difference explained' if ok else 'UNEXPLAINED DIFFERENCES'} "
        f"({time.time() - t0:.0f} s).",
    ]
    body = "\n".join(parts)
    print(body)
    if args.write:
        write_section(body)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
