"""The llama.cpp view against what llama.cpp 0c1e570 printed when it loaded these very files
(tests/data/llamacpp/grid_extract.json: real loads with llama-cpp-python 0.3.36 on the CPU).

The models are the real gemma-3-270m Q4_K_M header (the committed fixture) and the tiny GGUFs of
scripts/validate/llama_cpp_models.py, written here header-only (the same metadata and tensor infos)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hubmem.errors import BadOptionError
from hubmem.estimate.engines.llamacpp.memory import kv_report
from hubmem.estimate.engines.llamacpp.view import llama_cpp_view
from hubmem.fetch.local import load_local
from hubmem.pipeline import read_checkpoint
from hubmem.schema.engines import LlamaCppOptions, LlamaCppView
from hubmem.schema.kv import KVOptions
from scripts.validate.llama_cpp import COMPARED, options_of

from support.llamacpp_graphs import write_grid_models
from support.paths import DATA, load_json

ROWS: list[dict[str, Any]] = load_json(DATA / "llamacpp" / "grid_extract.json")["rows"]
LOADED = [r for r in ROWS if not r["refused"]]
# the compute buffer is simulated for every architecture of the grid: llama.cpp's figure to the 4 decimals
EXACT = 0.000005


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_grid_models(tmp_path_factory.mktemp("gguf"))


def view_of(models: dict[str, Path], row: dict[str, Any]) -> LlamaCppView:
    snapshot = load_local(models[row["model"]])
    return llama_cpp_view(read_checkpoint(snapshot), options_of(row["settings"]), KVOptions())


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in rows]


@pytest.mark.parametrize("row", LOADED, ids=_ids(LOADED))
def test_context_sizes_are_llama_cpps(models: dict[str, Path], row: dict[str, Any]) -> None:
    """n_ctx padded to 256; n_ctx_seq per sequence, n_batch clamped by the un-padded n_ctx, 0: n_ctx_train."""
    s = view_of(models, row).settings
    got = {"n_ctx": s.n_ctx, "n_ctx_seq": s.n_ctx_seq, "n_batch": s.n_batch, "n_ubatch": s.n_ubatch}
    got["n_seq_max"] = s.n_seq_max
    assert got == row["context"]


@pytest.mark.parametrize("row", LOADED, ids=_ids(LOADED))
def test_every_buffer_line_is_what_llama_cpp_printed(models: dict[str, Path], row: dict[str, Any]) -> None:
    """Model (where the extra CPU buffer types were off), output, KV (each cache, cells, K and V, quantized
    types, MLA without V) and recurrent-state lines, string for string."""
    predicted = [line for line in view_of(models, row).lines if COMPARED.match(line)]
    if not any(line.startswith("load_tensors") for line in row["lines"]):
        predicted = [line for line in predicted if not line.startswith("load_tensors")]
    assert predicted == row["lines"]


@pytest.mark.parametrize("row", LOADED, ids=_ids(LOADED))
def test_compute_buffer_is_the_printed_figure(models: dict[str, Path], row: dict[str, Any]) -> None:
    printed = float(row["compute_MiB_4dp"]) * (1 << 20)
    error = (view_of(models, row).compute_buffer_bytes - printed) / printed
    assert abs(error) <= EXACT, f"{error:+.4%}"


REFUSED = [r for r in ROWS if r["refused"]]


@pytest.mark.parametrize("row", REFUSED, ids=_ids(REFUSED))
def test_what_llama_cpp_refuses_is_refused(models: dict[str, Path], row: dict[str, Any]) -> None:
    """Quantized V without flash attention; MLA with different K and V types."""
    with pytest.raises(BadOptionError, match=r"llama\.cpp"):
        view_of(models, row)


def test_totals_add_up_and_kv_section_agrees(models: dict[str, Path]) -> None:
    row = next(r for r in LOADED if r["id"] == "lfm2-ctx2048-seq4-uni-fa_on")
    v = view_of(models, row)
    parts = v.model_buffer_bytes + v.kv_cache_bytes + v.recurrent_state_bytes
    assert v.total_bytes == parts + v.output_buffer_bytes + v.compute_buffer_bytes
    arch = read_checkpoint(load_local(models[row["model"]])).architecture
    kv = kv_report(arch, KVOptions(engine="llama.cpp"), options_of(row["settings"]))
    assert (kv.kv_bytes, kv.state_bytes) == (v.kv_cache_bytes, v.recurrent_state_bytes)
    assert kv.total_bytes == v.kv_cache_bytes + v.recurrent_state_bytes and kv.batch == 4


def test_kv_options_fill_what_llama_cpp_options_leave_open(models: dict[str, Path]) -> None:
    """Without -c / -np: each of --batch sequences gets --context tokens; --kv-dtype maps to a cache type."""
    snapshot = load_local(models["gemma-3-270m-q4_k_m.gguf"])
    kv = KVOptions(engine="llama.cpp", context=4096, batch=2, kv_dtype="bfloat16")
    v = llama_cpp_view(read_checkpoint(snapshot), LlamaCppOptions(), kv)
    s = v.settings
    assert (s.n_ctx, s.n_ctx_seq, s.n_seq_max, s.type_k, s.type_v) == (8192, 4096, 2, "bf16", "bf16")
    with pytest.raises(BadOptionError, match="fp8"):
        llama_cpp_view(
            read_checkpoint(snapshot), LlamaCppOptions(), kv.model_copy(update={"kv_dtype": "fp8"})
        )


def test_gpu_layers_move_weights_off_the_cpu_buffer(models: dict[str, Path]) -> None:
    """-ngl N: the last N layers (and with N > n_layer the output layer) leave the CPU_Mapped span."""
    snapshot = load_local(models["tiny-llama-gqa-f16.gguf"])
    checkpoint = read_checkpoint(snapshot)
    cpu = llama_cpp_view(checkpoint, LlamaCppOptions(ctx_size=512), KVOptions())
    all_gpu = llama_cpp_view(checkpoint, LlamaCppOptions(ctx_size=512, n_gpu_layers=-1), KVOptions())
    assert [b.name for b in cpu.model_buffers] == ["CPU_Mapped"]
    by_name = {b.name: b.bytes for b in all_gpu.model_buffers}
    embd = 512 * 8192 * 2  # token_embd stays on the CPU (the input layer)
    assert by_name == {"CPU_Mapped": embd, "CUDA0": checkpoint.weights.total_bytes - embd}


def test_the_fit_knows_llama_cpp_refuses_more_than_256_sequences(models: dict[str, Path]) -> None:
    from hubmem.estimate.fit.verdict import REFUSED_BYTES, kv_function

    arch = read_checkpoint(load_local(models["gemma-3-270m-q4_k_m.gguf"])).architecture
    kv_bytes = kv_function(arch, KVOptions(engine="llama.cpp"))
    assert kv_bytes(8192, 257, 1) == REFUSED_BYTES
    # 256 sequences of 8,192 tokens: 3 non-SWA layers x 8,192 cells + 15 SWA layers x 1,024 cells, 1 KiB each
    assert kv_bytes(8192, 256, 1) == 256 * (3 * 8192 + 15 * 1024) * 1024
