"""The graphs hubmem builds for llama.cpp against the graphs llama.cpp itself ran (fixtures/llamacpp_graphs,
recorded from llama.cpp 0c1e570 with scripts/validate/llama_cpp_graph_dump.py), node for node; the
simulated compute buffer against every compute buffer llama.cpp printed on the validation grid
(tests/data/llamacpp/compute_grid.json); the shortened simulation of repeated layers against the full one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from msgspec.structs import replace
from safetensors.numpy import save_file

from hubmem.errors import ConfigError
from hubmem.estimate.engines.llamacpp.graph import simulate
from hubmem.estimate.engines.llamacpp.graph.alloc import reserve
from hubmem.estimate.engines.llamacpp.graph.fromarch import graph_spec
from hubmem.estimate.engines.llamacpp.graph.spec import MLA, GraphSpec, MoE
from hubmem.estimate.engines.llamacpp.graph.tensor import OUTPUT, Tensor
from hubmem.estimate.engines.llamacpp.hparams import hparams_of
from hubmem.estimate.engines.llamacpp.memory import memory
from hubmem.estimate.engines.llamacpp.view import gguf_meta, llama_cpp_view
from hubmem.fetch.local import load_local
from hubmem.pipeline import read_checkpoint
from hubmem.schema.kv import KVOptions
from scripts.validate.llama_cpp import options_of

from support.llamacpp_graphs import GRAPHS, load_graph, write_grid_models
from support.paths import DATA, load_json

MiB = 1 << 20
SIMULATED = (
    "tiny-llama",
    "tiny-qwen3moe",
    "tiny-qwen3-",
    "tiny-qwen2-",
    "tiny-deepseek2",
    "tiny-lfm2",
    "tiny-mamba",
    "gemma-3",
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_grid_models(tmp_path_factory.mktemp("gguf"))


def signature(nodes: list[Tensor], leafs: list[Tensor]) -> tuple[list[Any], list[Any]]:
    """What ggml-alloc reads of a graph: per node its op, type, shape, sources and view source (as node
    positions, graph inputs by order, "ext" for tensors of other buffers) and the output flag; the graph
    inputs in leaf order with their type and shape."""
    names = {id(t): f"n{i}" for i, t in enumerate(nodes)}
    inputs = [t for t in leafs if not t.external]
    names.update({id(t): f"in{i}" for i, t in enumerate(inputs)})

    def name(t: Tensor | None) -> str | None:
        return None if t is None else names.get(id(t), "ext")

    out = [(t.op, t.type, t.ne, [name(s) for s in t.src], name(t.view_src), t.flags & OUTPUT) for t in nodes]
    return out, [(t.type, t.ne) for t in inputs]


RECORDED = [
    ("gemma-3-270m-q4_k_m", "gemma-3-270m-q4_k_m.gguf"),
    ("llama-gqa-f16", "tiny-llama-gqa-f16.gguf"),
    ("qwen3moe-f16", "tiny-qwen3moe-f16.gguf"),
    ("qwen3-f16", "tiny-qwen3-f16.gguf"),
    ("qwen2-f16", "tiny-qwen2-f16.gguf"),
    ("llama-moe-f16", "tiny-llama-moe-f16.gguf"),
    ("deepseek2-mla-f16", "tiny-deepseek2-mla-f16.gguf"),
    ("lfm2-f16", "tiny-lfm2-f16.gguf"),
]
CASES = [(recorded, model, fa) for recorded, model in RECORDED for fa in ("off", "on")]
CASES.append(("mamba-f16", "tiny-mamba-f16.gguf", "off"))  # no attention: recorded once


def test_every_recorded_graph_is_compared() -> None:
    assert sorted(f"{r}-{fa}.json.gz" for r, _, fa in CASES) == sorted(
        p.name for p in GRAPHS.glob("*.json.gz")
    )


@pytest.mark.parametrize(("recorded", "model", "fa"), CASES)
def test_the_graph_is_llama_cpps_node_for_node(
    models: dict[str, Path], recorded: str, model: str, fa: str
) -> None:
    nodes, leafs, _ = load_graph(GRAPHS / f"{recorded}-{fa}.json.gz")
    checkpoint = read_checkpoint(load_local(models[model]))
    arch = checkpoint.architecture
    settings = {"n_ctx": 512, "n_batch": 512, "n_ubatch": 512, "n_seq_max": 1, "flash_attn": fa}
    mem = memory(arch, options_of(settings), KVOptions())
    spec = graph_spec(arch, hparams_of(arch), mem.cp, mem.caches, *gguf_meta(checkpoint))
    assert spec is not None
    built = simulate.build_graph(spec).graph
    assert signature(built.nodes, built.leafs) == signature(nodes, leafs)
    assert reserve(built.nodes, built.leafs) == reserve(nodes, leafs)


GRID: list[dict[str, Any]] = load_json(DATA / "llamacpp" / "compute_grid.json")["rows"]


@pytest.mark.parametrize("row", GRID, ids=[r["id"] for r in GRID])
def test_compute_buffer_is_what_llama_cpp_printed(models: dict[str, Path], row: dict[str, Any]) -> None:
    """Every architecture of the grid is simulated: equal to the 4 decimals llama.cpp prints."""
    view = llama_cpp_view(
        read_checkpoint(load_local(models[row["model"]])), options_of(row["settings"]), KVOptions()
    )
    printed = float(row["compute_MiB_4dp"])
    simulated = any(a.startswith("compute buffer: simulated") for a in view.assumptions)
    assert simulated == row["model"].startswith(SIMULATED)
    assert abs(view.compute_buffer_bytes / MiB - printed) <= 0.00005


DEEP = {
    "llama 80 layers": GraphSpec("llama", 80, 8192, 128256, 64, 8, 128, 128, 28672, (False,) * 80, n_kv=8192),
    "llama MoE (Mixtral) 32 layers": GraphSpec(
        "llama", 32, 4096, 32000, 32, 8, 128, 128, 14336, (False,) * 32, moe=MoE(8, 2, 14336, norm_w=True)
    ),
    "qwen3moe 94 layers": GraphSpec(
        "qwen3moe",
        94,
        4096,
        151936,
        64,
        4,
        128,
        128,
        12288,
        (False,) * 94,
        moe=MoE(128, 8, 1536, norm_w=True),
    ),
    "deepseek2 61 layers": GraphSpec(
        "deepseek2",
        61,
        7168,
        129280,
        128,
        1,
        576,
        512,
        18432,
        (False,) * 61,
        moe=MoE(256, 8, 2048, "sigmoid", True, 2.5, True, 2048, 3),
        mla=MLA(512, 64, 192, 128, 1536),
        n_kv=4096,
    ),
    "mamba 64 layers": GraphSpec(
        "mamba",
        64,
        2560,
        50280,
        0,
        0,
        0,
        0,
        0,
        (True,) * 64,
        conv_kernel=4,
        ssm=(5120, 16, 160),
        rs_cells=2,
        n_seqs=2,
    ),
    "gemma3 62 layers, 5 sliding + 1 global": GraphSpec(
        "gemma3",
        62,
        5376,
        262208,
        32,
        16,
        128,
        128,
        21504,
        (False,) * 62,
        swa=tuple(il % 6 != 5 for il in range(62)),
        n_kv=8192,
        n_kv_swa=1536,
    ),
    "lfm2 31 layers, conv conv attention": GraphSpec(
        "lfm2", 31, 2048, 65536, 32, 8, 64, 64, 8192, tuple(k == "c" for k in "cca" * 10 + "a"), conv_kernel=3
    ),
    "llama 4 streams": GraphSpec(
        "llama", 32, 4096, 128256, 32, 8, 128, 128, 14336, (False,) * 32, n_kv=2048, n_stream=4, n_seqs=4
    ),
}


@pytest.mark.parametrize("flash", [False, True])
@pytest.mark.parametrize("name", sorted(DEEP))
def test_the_shortened_simulation_equals_the_full_one(
    monkeypatch: pytest.MonkeyPatch, name: str, flash: bool
) -> None:
    spec = replace(DEEP[name], flash=flash, n_embd_v_gqa_max=DEEP[name].n_head_kv * DEEP[name].head_v)
    for s in (
        spec,
        replace(spec, n_tokens=128, n_outputs=128),
        replace(spec, n_tokens=4, n_outputs=4),
    ):
        full = simulate.full_buffer(s)
        with monkeypatch.context() as m:  # a proven cycle: the whole graph is not simulated
            m.setattr(simulate, "full_buffer", lambda _: pytest.fail("no cycle found"))
            assert simulate.graph_buffer(s) == full


def test_layers_whose_kinds_do_not_repeat_are_all_simulated() -> None:
    """LFM2-1.2B's pattern (no period): no shortening."""
    kinds = tuple(k == "c" for k in "ccaccacacacacaca")
    spec = GraphSpec("lfm2", 16, 2048, 65536, 32, 8, 64, 64, 8192, kinds, conv_kernel=3, n_embd_v_gqa_max=512)
    assert simulate._run(spec)[1] == 0
    assert simulate.graph_buffer(spec) == simulate.full_buffer(spec)


def test_a_quantized_cache_without_attention_has_no_rotation(models: dict[str, Path]) -> None:
    """Mamba with -ctk/-ctv q8_0 (a row of scripts/VALIDATION.md): no attention heads, no Hadamard inputs."""
    arch = read_checkpoint(load_local(models["tiny-mamba-f16.gguf"])).architecture
    settings = {"n_ctx": 2048, "n_batch": 2048, "n_ubatch": 512, "n_seq_max": 1, "flash_attn": "auto"}
    mem = memory(arch, options_of({**settings, "type_k": "q8_0", "type_v": "q8_0"}), KVOptions())
    spec = graph_spec(arch, hparams_of(arch), mem.cp, mem.caches)
    assert spec is not None and spec.rot == (0, 0)
    assert abs(max(simulate.graph_buffers(spec)) / MiB - 17.5039) <= 0.00005  # what llama.cpp printed


MISTRAL = {
    "architectures": ["MistralForCausalLM"],
    "model_type": "mistral",
    "hidden_size": 512,
    "intermediate_size": 1536,
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "vocab_size": 8192,
    "max_position_embeddings": 8192,
    "sliding_window": 4096,
    "torch_dtype": "float16",
}
QWEN3 = {
    **MISTRAL,
    "architectures": ["Qwen3ForCausalLM"],
    "model_type": "qwen3",
    "hidden_size": 256,
    "intermediate_size": 768,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "head_dim": 128,
    "use_sliding_window": True,
    "max_window_layers": 1,
}
QWEN2 = {k: v for k, v in QWEN3.items() if k != "head_dim"}
QWEN2 |= {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "intermediate_size": 640}
MIXTRAL = {**MISTRAL, "architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 256}
MIXTRAL |= {"intermediate_size": 384, "num_hidden_layers": 2, "num_attention_heads": 4}
MIXTRAL |= {"num_local_experts": 4, "num_experts_per_tok": 2}
# a config, the tiny GGUF of the same dimensions, the layer kinds transformers runs
CONVERTED = {
    "mistral": (MISTRAL, "tiny-llama-gqa-f16.gguf", ["sliding"] * 4),
    "mixtral": (MIXTRAL, "tiny-llama-moe-f16.gguf", ["sliding"] * 2),
    "qwen3": (QWEN3, "tiny-qwen3-f16.gguf", ["full", "sliding", "sliding"]),
    "qwen2": (QWEN2, "tiny-qwen2-f16.gguf", ["full", "sliding", "sliding"]),
}
CONVERTED_ROWS = [(name, r) for name, c in CONVERTED.items() for r in GRID if r["model"] == c[1]]


@pytest.mark.parametrize(("name", "row"), CONVERTED_ROWS, ids=[r["id"] for _, r in CONVERTED_ROWS])
def test_a_config_is_what_llama_cpp_runs_once_converted(
    models: dict[str, Path], tmp_path: Path, name: str, row: dict[str, Any]
) -> None:
    """convert_hf_to_gguf.py converts MistralForCausalLM and MixtralForCausalLM to LLAMA, Qwen2ForCausalLM
    to QWEN2 and Qwen3ForCausalLM to QWEN3, none of which has a sliding window: configs of the tiny GGUFs'
    dimensions with a window get one full-attention cache and the graph of the GGUF (Qwen2: with its Q/K/V
    biases; Mixtral: llama's MoE branch), what llama.cpp printed for it."""
    config, model, kinds = CONVERTED[name]
    (tmp_path / "config.json").write_text(json.dumps(config))
    gguf = read_checkpoint(load_local(models[model]))
    gguf_view = llama_cpp_view(gguf, options_of(row["settings"]), KVOptions())
    checkpoint = read_checkpoint(load_local(tmp_path))
    assert checkpoint.architecture.layer_kinds == kinds
    view = llama_cpp_view(checkpoint, options_of(row["settings"]), KVOptions())
    assert len(view.kv_caches) == 1 and view.kv_caches == gguf_view.kv_caches
    assert view.lines[1:] == gguf_view.lines[1:]  # all but the model buffer (projected from the config)
    simulated = f"(the {gguf.architecture.model_type} graph ported"  # llama.cpp's architecture, the GGUF's
    assert any(a.startswith("compute buffer: simulated") and simulated in a for a in view.assumptions)
    assert abs(view.compute_buffer_bytes / MiB - float(row["compute_MiB_4dp"])) <= 0.00005


def test_only_what_the_converter_maps_to_llama_loses_its_window(tmp_path: Path) -> None:
    """A sliding-window config of a class not in ``hparams.CONVERTED`` keeps its model type and its SWA
    layers (hubmem claims nothing about what the converter does with it)."""
    (tmp_path / "config.json").write_text(json.dumps({**MISTRAL, "architectures": ["Starcoder2ForCausalLM"]}))
    hp = hparams_of(read_checkpoint(load_local(tmp_path)).architecture)
    assert hp.arch == "mistral" and all(hp.is_swa) and hp.n_swa == 4096


@pytest.mark.parametrize("used", [None, 0, 5, 2**53])
def test_a_moe_config_llama_cpp_would_not_load_is_not_simulated(tmp_path: Path, used: int | None) -> None:
    """llama.cpp asserts ``0 < n_expert_used <= n_expert`` at load (src/llama-model.cpp): a Mixtral config
    with 4 experts and no, zero, too many or an absurd number of experts per token gets the phase model, not
    a crash of the graph builder (found by scripts.fuzz --config, seed 32)."""
    config = {k: v for k, v in MIXTRAL.items() if k != "num_experts_per_tok"}
    if used is not None:
        config["num_experts_per_tok"] = used
    (tmp_path / "config.json").write_text(json.dumps(config))
    if used != 5:  # config.json alone gives no parameters then: a typed error, not a report of 0 B
        with pytest.raises(ConfigError, match="num_experts_per_tok"):
            read_checkpoint(load_local(tmp_path))
    save_file({"model.embed_tokens.weight": np.zeros((8, 4), np.float16)}, tmp_path / "model.safetensors")
    checkpoint = read_checkpoint(load_local(tmp_path))  # with a weight file, the config's MoE is what it is
    settings = {"n_ctx": 512, "n_batch": 512, "n_ubatch": 512, "n_seq_max": 1, "flash_attn": "off"}
    view = llama_cpp_view(checkpoint, options_of(settings), KVOptions())
    assert view.compute_buffer_bytes > 0
    assert any(a.startswith("compute buffer: a phase model") for a in view.assumptions)
