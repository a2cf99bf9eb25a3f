"""Measured vs projected memory: real transformers models (random weights) against hubmem's projections.

    .venv/bin/python -m scripts.validate.memory                     # CPU, the default repos, prints a table
    .venv/bin/python -m scripts.validate.memory --write             # ... and updates scripts/VALIDATION.md
    .venv/bin/python -m scripts.validate.memory --only meta-llama__Llama-3.1-8B --layers 2 --vocab 8192
    .venv/bin/python -m scripts.validate.memory --device cuda       # GPU peaks (UNTESTED: no GPU here)

For each corpus config (fixtures/repos/<repo>/files/config.json) a *reduced* copy is built (``--layers``
decoder layers, vocabulary capped at ``--vocab``, routed experts capped at ``--experts``, sliding windows
capped at ``--window`` so that a ``--context`` prefill crosses them). Then, for that same reduced config:

* weights: the model is instantiated in the checkpoint dtype and saved with safetensors; hubmem parses the
  file's header (``parse_tensors``) and runs ``estimate_weights``; measured = bytes of the model's unique
  tensors in memory.
* KV cache: a prefill of ``--batch`` x ``--context`` tokens; measured = bytes of every key/value tensor of
  the DynamicCache transformers returns, and of a StaticCache(max_cache_len=context);
  projected = ``estimate_kv_cache`` (engine transformers, dynamic / static).
* training (fp32 on CPU): one forward/backward/optimizer step; measured = gradient bytes and optimizer-state
  bytes (``optimizer.state`` tensors; torch's per-parameter ``step`` scalars listed apart) for AdamW, SGD
  with momentum and transformers' Adafactor; projected = ``estimate_training(precision="fp32")``.
* LoRA: a minimal LoRA (``lora_A [r, in]`` + ``lora_B [out, r]`` fp32 on every Linear / Conv1D but the
  output head; peft is not installed) - trainable parameters and AdamW states after one step.
* activations: bytes of the distinct tensors autograd saves for backward during forward + loss
  (``torch.autograd.graph.saved_tensors_hooks``; parameters and buffers excluded), with
  attn_implementation "sdpa" (PyTorch's CPU flash kernel) vs hubmem with flash_attention=True, and "eager"
  vs flash_attention=False. CPU saved-tensor bytes are not an allocator peak; see VALIDATION.md.

``--device cuda`` measures ``torch.cuda.memory_allocated`` / ``max_memory_allocated`` instead (weights
after loading, the KV tensors, the peak of one bf16-autocast AdamW step vs ``per_gpu_bytes`` with the HF
accounting). That path has not been run: no GPU was available when this script was written.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hubmem.estimate.kv.report import estimate_kv_cache
from hubmem.estimate.training.report import estimate_training
from hubmem.estimate.weights.report import estimate_weights
from hubmem.formats.safetensors import decode_header, parse_header, parse_tensors, read_header_length
from hubmem.parse.config import parse_config
from hubmem.schema.kv import KVOptions
from hubmem.schema.training import TrainingOptions
from hubmem.snapshot import Snapshot, WeightFile
from scripts import ROOT, results

FIXTURES = ROOT / "fixtures" / "repos"
VALIDATION_MD = results.VALIDATION
DEFAULT_REPOS = [
    "meta-llama__Llama-3.1-8B",
    "Qwen__Qwen3-0.6B",
    "mistralai__Mistral-7B-v0.1",
    "google__gemma-3-1b-it",
    "microsoft__Phi-3.5-mini-instruct",
    "openai-community__gpt2",
    "openai__gpt-oss-20b",
    "Qwen__Qwen3-30B-A3B",
]
TORCH_TO_ST = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float64: "F64",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


@dataclass
class Row:
    repo: str
    quantity: str
    measured: int
    projected: int
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.measured / self.projected if self.projected else math.inf


@dataclass
class Result:
    repo: str
    reduced: str
    rows: list[Row] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


# ------------------------------------------------------------------------------------------ configs


def reduced_config(cfg: dict[str, Any], args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """A small copy of a real config: fewer layers, capped vocabulary / experts / windows."""
    cfg = copy.deepcopy(cfg)
    cfg.pop("quantization_config", None)  # validate the dequantized (bf16) model
    changes: list[str] = []
    _cap_layers(cfg, args.layers, changes)
    _cap_vocab(cfg, args.vocab, changes)
    _cap_experts(cfg, args.experts, changes)
    window = cfg.get("sliding_window")
    if isinstance(window, int) and window > args.window:
        changes.append(f"sliding_window {window}->{args.window}")
        cfg["sliding_window"] = args.window
    return cfg, ", ".join(changes) or "as published"


def _cap_layers(cfg: dict[str, Any], layers: int, changes: list[str]) -> None:
    layer_key = next(k for k in ("num_hidden_layers", "n_layer", "num_layers") if k in cfg)
    if cfg[layer_key] <= layers:
        return
    changes.append(f"layers {cfg[layer_key]}->{layers}")
    cfg[layer_key] = layers
    if isinstance(cfg.get("layer_types"), list):
        cfg["layer_types"] = cfg["layer_types"][:layers]
    if "max_window_layers" in cfg:
        cfg["max_window_layers"] = min(cfg["max_window_layers"], layers)


def _cap_vocab(cfg: dict[str, Any], vocab: int, changes: list[str]) -> None:
    if cfg.get("vocab_size", 0) <= vocab:
        return
    changes.append(f"vocab {cfg['vocab_size']}->{vocab}")
    cfg["vocab_size"] = vocab
    for k in ("bos_token_id", "eos_token_id", "pad_token_id"):
        v = cfg.get(k)
        if isinstance(v, int) and v >= vocab:
            cfg[k] = 0
        elif isinstance(v, list):
            cfg[k] = [t if t < vocab else 0 for t in v]


def _cap_experts(cfg: dict[str, Any], experts: int, changes: list[str]) -> None:
    for k in ("num_experts", "num_local_experts", "n_routed_experts"):
        if isinstance(cfg.get(k), int) and cfg[k] > experts:
            changes.append(f"{k} {cfg[k]}->{experts}")
            cfg[k] = experts
            for kk in ("num_experts_per_tok", "experts_per_token"):
                if isinstance(cfg.get(kk), int):
                    cfg[kk] = min(cfg[kk], experts)


# ------------------------------------------------------------------------------------------- helpers


def unique_tensors(tensors: Iterable[tuple[str, torch.Tensor]]) -> list[tuple[str, torch.Tensor]]:
    """Drop tensors sharing storage with an earlier one (tied weights), as safetensors stores them once."""
    seen: set[int] = set()
    out = []
    for name, t in tensors:
        ptr = t.untyped_storage().data_ptr()
        if ptr in seen:
            continue
        seen.add(ptr)
        out.append((name, t))
    return out


def tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def cache_bytes(cache: Any) -> int:
    total = 0
    for layer in getattr(cache, "layers", []):
        for attr in ("keys", "values", "conv_states", "recurrent_states", "ssm_states"):
            t = getattr(layer, attr, None)
            if isinstance(t, torch.Tensor):
                total += tensor_bytes(t)
    return total


def build_model(cfg: dict[str, Any], dtype: torch.dtype, attn: str | None = None) -> nn.Module:
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(**cfg)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if attn:
        kwargs["attn_implementation"] = attn
    torch.manual_seed(0)
    try:
        model = AutoModelForCausalLM.from_config(config, **kwargs)
    except ValueError:  # e.g. gpt-oss has no SDPA path: fall back to eager attention
        if attn == "eager":
            raise
        kwargs["attn_implementation"] = "eager"
        model = AutoModelForCausalLM.from_config(config, **kwargs)
    return model.eval()


def attn_of(model: nn.Module) -> str:
    return str(getattr(model.config, "_attn_implementation", None) or "default")


def input_ids(vocab: int, batch: int, length: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(1, vocab, (batch, length), generator=g)


@contextmanager
def saved_tensor_bytes(exclude: set[int]) -> Iterator[Callable[[], int]]:
    """Sum of distinct storages autograd saves for backward (excluding ``exclude`` storage pointers)."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        try:
            storage = t.untyped_storage()
            ptr = storage.data_ptr()
            if ptr and ptr not in exclude:
                seen[ptr] = max(seen.get(ptr, 0), storage.nbytes())
        except (RuntimeError, NotImplementedError):
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield lambda: sum(seen.values())


class LoRA(nn.Module):
    """Minimal LoRA around a Linear (weight [out, in]) or transformers Conv1D (weight [in, out])."""

    def __init__(self, base: nn.Module, r: int) -> None:
        super().__init__()
        w = base.weight
        conv1d = type(base).__name__ == "Conv1D"
        fan_in, fan_out = (w.shape[0], w.shape[1]) if conv1d else (w.shape[1], w.shape[0])
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.randn(r, fan_in, dtype=torch.float32) * 0.01)
        self.lora_B = nn.Parameter(torch.zeros(fan_out, r, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        return y + ((x.float() @ self.lora_A.T) @ self.lora_B.T).to(y.dtype)


def add_lora(model: nn.Module, r: int) -> int:
    """Wrap every Linear / Conv1D except the output head; returns the number of adapted layers."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    for p in model.parameters():
        p.requires_grad_(False)
    targets = [
        (name, m)
        for name, m in model.named_modules()
        if (isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D") and m is not head
    ]
    for name, m in targets:
        parent_name, _, leaf = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, leaf, LoRA(m, r))
    return len(targets)


def optimizer_state(opt: torch.optim.Optimizer) -> tuple[int, int]:
    """(bytes of per-element state tensors, bytes of 0-dim scalars: torch's 'step', Adafactor's 'RMS')."""
    states = scalars = 0
    for st in opt.state.values():
        for v in st.values():
            if isinstance(v, torch.Tensor):
                if v.dim() == 0:
                    scalars += tensor_bytes(v)
                else:
                    states += tensor_bytes(v)
    return states, scalars


def one_step(model: nn.Module, opt: torch.optim.Optimizer, ids: torch.Tensor) -> None:
    model.train()
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    opt.step()


# -------------------------------------------------------------------------------------- CPU measures


def validate_repo(repo: str, args: argparse.Namespace) -> Result:
    t0 = time.perf_counter()
    raw = json.loads((FIXTURES / repo / "files" / "config.json").read_text())
    cfg, reduced = reduced_config(raw, args)
    res = Result(repo, reduced)
    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}.get(
        str(cfg.get("torch_dtype") or cfg.get("dtype") or "float32"), torch.float32
    )

    # ---- weights: save with safetensors, read the header back through hubmem
    from safetensors.torch import save_model

    model = build_model(cfg, dtype)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        save_model(model, str(path))
        with path.open("rb") as f:
            n = read_header_length(f.read(8), file=path.name)
            header = decode_header(f.read(n), file=path.name)
        size = path.stat().st_size
    tensors = parse_tensors(header, file="model.safetensors", data_size=size - 8 - n)
    arch = parse_config(cfg, tensors=tensors)
    snap = Snapshot(
        repo_id=repo,
        revision="local",
        commit=None,
        source="local",
        config=cfg,
        files=[WeightFile(path="model.safetensors", header_length=n, header=parse_header(header), size=size)],
    )
    weights = estimate_weights(snap, tensors, arch)
    uniq = unique_tensors(model.state_dict().items())
    res.rows.append(Row(repo, "weights bytes", sum(tensor_bytes(t) for _, t in uniq), weights.total_bytes))
    n_params = sum(p.numel() for _, p in unique_tensors(model.named_parameters()))
    res.rows.append(Row(repo, "parameters", n_params, weights.parameters, "model.parameters() vs logical"))

    # ---- KV cache: DynamicCache from a prefill, and a StaticCache
    from transformers import StaticCache

    ids = input_ids(cfg["vocab_size"], args.batch, args.context)
    with torch.no_grad():
        dyn = model(input_ids=ids, use_cache=True).past_key_values
        static = StaticCache(config=model.config, max_cache_len=args.context)
        model(input_ids=ids, past_key_values=static, use_cache=True)
    for label, cache, mode in (("KV dynamic", dyn, "dynamic"), ("KV static", static, "static")):
        kv = estimate_kv_cache(
            arch,
            KVOptions(context=args.context, batch=args.batch, transformers_cache=mode),  # type: ignore[call-arg]
        )
        res.rows.append(
            Row(repo, f"{label} @{args.context}x{args.batch}", cache_bytes(cache), kv.total_bytes)
        )
    del model, dyn, static
    gc.collect()

    if args.no_training:
        res.skipped.append("training (--no-training)")
        res.seconds = time.perf_counter() - t0
        return res

    # ---- training, fp32: gradients + optimizer states, then activations
    s, b = args.seq, 1
    train_ids = input_ids(cfg["vocab_size"], b, s)
    opts = {"precision": "fp32", "seq_len": s, "micro_batch": b}
    for name, make, optimizer in (
        ("AdamW", lambda ps: torch.optim.AdamW(ps, lr=1e-4), "adamw"),
        ("SGD momentum", lambda ps: torch.optim.SGD(ps, lr=1e-4, momentum=0.9), "sgd"),
        ("Adafactor", _adafactor, "adafactor"),
    ):
        model = build_model(cfg, torch.float32, attn="sdpa")
        opt = make([p for p in model.parameters() if p.requires_grad])
        one_step(model, opt, train_ids)
        grads = sum(tensor_bytes(p.grad) for p in model.parameters() if p.grad is not None)
        states, steps = optimizer_state(opt)
        rep = estimate_training(weights, tensors, arch, TrainingOptions(optimizer=optimizer, **opts))  # type: ignore[arg-type]
        if optimizer == "adamw":
            res.rows.append(Row(repo, "fp32 gradients", grads, rep.gradients_bytes))
        res.rows.append(
            Row(
                repo,
                f"{name} states",
                states,
                rep.optimizer_bytes,
                f"+ {steps:,} B of 0-dim scalars (step, RMS) not projected",
            )
        )
        del model, opt
        gc.collect()

    # ---- LoRA (minimal, all Linear but the head)
    model = build_model(cfg, torch.float32, attn="sdpa")
    adapted = add_lora(model, args.rank)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4)
    one_step(model, opt, train_ids)
    states, _ = optimizer_state(opt)
    rep = estimate_training(
        weights,
        tensors,
        arch,
        TrainingOptions(method="lora", rank=args.rank, lora_targets=["all-linear"], **opts),  # type: ignore[arg-type]
    )
    assert rep.lora is not None
    res.rows.append(
        Row(
            repo,
            f"LoRA r={args.rank} trainable",
            sum(p.numel() for p in trainable),
            rep.trainable_parameters,
            f"{adapted} layers adapted vs {rep.lora.adapted_modules} projected",
        )
    )
    res.rows.append(Row(repo, "LoRA AdamW states", states, rep.optimizer_bytes))
    del model, opt
    gc.collect()

    # ---- activations saved for backward (fp32), sdpa vs eager
    for attn, flash in (("sdpa", True), ("eager", False)):
        model = build_model(cfg, torch.float32, attn=attn)
        if attn_of(model) != attn:
            res.skipped.append(f"activations with {attn}: the model has no {attn} path")
            continue
        model.train()
        exclude = {p.untyped_storage().data_ptr() for p in model.parameters()}
        exclude |= {bf.untyped_storage().data_ptr() for bf in model.buffers()}
        with saved_tensor_bytes(exclude) as measured:
            loss = model(input_ids=train_ids, labels=train_ids).loss
        saved = measured()
        loss.backward()
        rep = estimate_training(
            weights,
            tensors,
            arch,
            TrainingOptions(flash_attention=flash, **opts),  # type: ignore[arg-type]
        )
        res.rows.append(
            Row(
                repo,
                f"activations+logits {attn} s={s}",
                saved,
                rep.activations_bytes + rep.logits_bytes,
                f"{rep.activations_bytes:,} layers + {rep.logits_bytes:,} logits projected",
            )
        )
        del model, loss
        gc.collect()
    res.seconds = time.perf_counter() - t0
    return res


def _adafactor(params: list[nn.Parameter]) -> torch.optim.Optimizer:
    from transformers.optimization import Adafactor

    return Adafactor(params, lr=1e-4, scale_parameter=False, relative_step=False, warmup_init=False)


# ------------------------------------------------------------------------------------- CUDA (untested)


def validate_repo_cuda(repo: str, args: argparse.Namespace) -> Result:  # pragma: no cover - needs a GPU
    """UNTESTED (no GPU was available): allocator-level figures on one CUDA device."""
    raw = json.loads((FIXTURES / repo / "files" / "config.json").read_text())
    cfg, reduced = reduced_config(raw, args)
    res = Result(repo, reduced + " [cuda, untested path]")
    dev = torch.device("cuda")
    from safetensors.torch import save_model
    from transformers import StaticCache

    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    model = build_model(cfg, torch.bfloat16).to(dev)
    loaded = torch.cuda.memory_allocated() - base
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        save_model(model, str(path))
        with path.open("rb") as f:
            n = read_header_length(f.read(8))
            header = decode_header(f.read(n))
        size = path.stat().st_size
    tensors = parse_tensors(header, data_size=size - 8 - n)
    arch = parse_config(cfg, tensors=tensors)
    snap = Snapshot(
        repo_id=repo,
        revision="local",
        commit=None,
        source="local",
        config=cfg,
        files=[WeightFile("model.safetensors", n, parse_header(header), size)],
    )
    weights = estimate_weights(snap, tensors, arch)
    res.rows.append(Row(repo, "cuda weights allocated", loaded, weights.total_bytes))
    ids = input_ids(cfg["vocab_size"], args.batch, args.context).to(dev)
    static = StaticCache(config=model.config, max_cache_len=args.context)
    with torch.no_grad():
        model(input_ids=ids, past_key_values=static, use_cache=True)
    kv = estimate_kv_cache(
        arch, KVOptions(context=args.context, batch=args.batch, transformers_cache="static")
    )  # type: ignore[call-arg]
    res.rows.append(Row(repo, "cuda KV static", cache_bytes(static), kv.total_bytes))
    del model, static
    torch.cuda.empty_cache()
    # one AdamW step, fp32 master weights + bf16 autocast (HF anatomy accounting)
    model = build_model(cfg, torch.float32, attn="sdpa").to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    train_ids = input_ids(cfg["vocab_size"], 1, args.seq).to(dev)
    torch.cuda.reset_peak_memory_stats()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(input_ids=train_ids, labels=train_ids).loss
    loss.backward()
    opt.step()
    peak = torch.cuda.max_memory_allocated()
    rep = estimate_training(weights, tensors, arch, TrainingOptions(accounting="hf", seq_len=args.seq))
    res.rows.append(Row(repo, "cuda AdamW step peak", peak, rep.per_gpu_bytes, "HF accounting 18 B/param"))
    return res


# ------------------------------------------------------------------------------------------- output


def table(results: list[Result]) -> str:
    lines = [
        "| repo | reduced config | quantity | measured B | projected B | measured/projected | note |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for r in results:
        for row in r.rows:
            lines.append(
                f"| {r.repo} | {r.reduced} | {row.quantity} | {row.measured:,} | {row.projected:,} | "
                f"{row.ratio:.4f} | {row.note} |"
            )
        for s in r.skipped:
            lines.append(f"| {r.repo} | {r.reduced} | skipped: {s} | | | | |")
    return "\n".join(lines)


READING = """How to read it:

* **weights, parameters, KV (dynamic and static), fp32 gradients, optimizer states, LoRA counts** are
  integer comparisons: hubmem reads the safetensors header transformers wrote and projects from it; a ratio
  other than 1.0000 is a bug. The 0-dim scalars torch keeps per parameter (AdamW ``step``, Adafactor ``RMS``,
  4 B each) are listed in the note, not projected.
* **activations+logits** compares the bytes of the distinct tensors autograd saves during forward + loss
  (parameters and buffers excluded) with hubmem's per-layer formula (Llama-style for gated MLPs,
  Korthikanti for GPT-2) x layers + fp32 logits, for fp32 training on CPU, micro-batch 1. ``sdpa`` is
  PyTorch's CPU flash kernel (hubmem ``flash_attention=True``), ``eager`` materialises the scores
  (``flash_attention=False``: the ``5*a*s^2*b`` term, which includes Korthikanti's dropout mask and
  output; transformers skips them at attention_dropout=0, so eager ratios sit lower). The formulas are
  lower bounds by construction (docs/theory.md 4.4): transformers' RMSNorm saves both its input and the
  normalised tensor, rotary embeddings save ``q``/``k`` and their rotated halves, Qwen3's q/k norms add
  two more per layer, GPT-2's ``gelu_new`` is composed of elementwise ops that each save a 4h-wide
  tensor, and MoE layers keep routing intermediates. Measured / projected of about 1.1-1.4 for
  Llama-style models is the calibration to apply; an allocator peak (``--device cuda``) adds the
  transient buffers of the backward pass on top.
* Reduced configs change sizes, not rules: every per-tensor and per-layer rule is exercised with the real
  hidden sizes, head counts, head dims, windows (capped so a 512-token prefill crosses them), tied
  embeddings and expert layouts of each model."""


def write_section(results: list[Result], command: str, args: argparse.Namespace) -> None:
    body = "\n".join(
        [
            "## Measured vs projected (scripts/validate/memory.py)",
            "",
            f"Command: `{command}`",
            "",
            f"torch {torch.__version__}, transformers {_tf_version()}, device {args.device}; "
            f"context {args.context} x batch {args.batch} for KV, {args.seq} tokens x 1 for training.",
            "",
            table(results),
            "",
            READING,
            "",
            "",
        ]
    )
    results.write_section(VALIDATION_MD, "validate.memory", body, new_doc="# Validation\n")


def _tf_version() -> str:
    import transformers

    return str(transformers.__version__)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m scripts.validate.memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--only", action="append", help="fixture repo folder (org__name); repeatable")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--experts", type=int, default=4)
    ap.add_argument("--window", type=int, default=128)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=256, help="training tokens (micro-batch 1)")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--no-training", action="store_true")
    ap.add_argument("--write", action="store_true", help=f"update {VALIDATION_MD.relative_to(ROOT)}")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    results = []
    for repo in args.only or DEFAULT_REPOS:
        try:
            res = validate_repo_cuda(repo, args) if args.device == "cuda" else validate_repo(repo, args)
        except Exception as exc:  # report and go on: one architecture must not hide the others
            res = Result(repo, "-", skipped=[f"{type(exc).__name__}: {exc}"])
        print(f"{repo}: {res.seconds:.1f}s", file=sys.stderr)
        results.append(res)
    print(table(results))
    if args.write:
        command = ".venv/bin/python -m scripts.validate.memory " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        write_section(results, command.strip(), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
