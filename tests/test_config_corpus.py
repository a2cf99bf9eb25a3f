"""parse_config over every real config.json of the corpus (fixtures/repos/*/files/).

Each expected value is read from the config file in the test itself, by the rule of docs/theory.md 1.2
(e.g. head_dim = hidden_size // num_attention_heads when head_dim is absent), never copied from a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hubmem.estimate.kv.report import estimate_kv_cache
from hubmem.parse.config import parse_config
from hubmem.schema.kv import KVOptions

from support.paths import fixture_glob, load_json

# real models only (hubmem-test__* are fake-Hub scenario repos that reuse a corpus config)
CORPUS_CONFIGS = [
    p for p in fixture_glob("repos/*/files/config.json") if not p.parts[-3].startswith("hubmem-test__")
]
ALL_JSON_CONFIGS = sorted(
    p
    for pattern in ("repos/*/files/*.json", "repos/*/corpus/*.json")
    for p in fixture_glob(pattern)
    if "config" in p.name
)


def uniform_full_attention(path: Path) -> bool:
    return set(parse_config(load_json(path)).layer_kinds) == {"full"}


# the KV-per-token rule below holds for models whose every layer is full attention
FULL_ATTENTION_CONFIGS = [p for p in CORPUS_CONFIGS if uniform_full_attention(p)]
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}


def text_config(cfg: dict[str, Any]) -> dict[str, Any]:
    tc = cfg.get("text_config")
    return tc if isinstance(tc, dict) else cfg


def first(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    return None


def test_corpus_is_there() -> None:
    assert len(CORPUS_CONFIGS) >= 30


@pytest.mark.parametrize("path", ALL_JSON_CONFIGS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_config_like_file_parses(path: Path) -> None:
    """Every config-like JSON of the corpus (also MLC presets and DeepSeek inference configs)."""
    arch = parse_config(load_json(path))
    assert arch.layer_kinds == [] or len(arch.layer_kinds) == arch.num_layers
    assert "unknown" not in arch.layer_kinds


@pytest.mark.parametrize("path", CORPUS_CONFIGS, ids=lambda p: p.parent.parent.name)
def test_core_dims_follow_the_config(path: Path) -> None:
    cfg = load_json(path)
    tc = text_config(cfg)
    arch = parse_config(cfg)

    assert arch.text_config_key == ("text_config" if tc is not cfg else None)
    layers = first(tc, "num_hidden_layers", "n_layer")
    assert arch.num_layers == layers
    assert len(arch.layer_kinds) == layers
    assert arch.hidden_size == first(tc, "hidden_size", "n_embd")
    assert arch.vocab_size == tc["vocab_size"]
    heads = first(tc, "num_attention_heads", "n_head")
    assert arch.num_attention_heads == heads

    # docs/theory.md 1.2 max context: the smallest of the listed keys
    ctx_keys = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "max_sequence_length")
    present = [tc[k] for k in ctx_keys if isinstance(tc.get(k), int)]
    if present:
        assert arch.max_context == min(present)

    # dtype: dtype / torch_dtype at the root, then in the text config; never a storage dtype
    declared = first(cfg, "dtype", "torch_dtype") or first(tc, "dtype", "torch_dtype")
    if declared is not None:
        assert arch.dtype == declared
    else:
        assert arch.dtype == "bfloat16" and arch.dtype_source == "default"
        assert any(m.startswith("dtype:") for m in arch.missing)

    # head dim and KV heads, by the key order of docs/theory.md 1.2
    if tc.get("kv_lora_rank") is not None:
        assert arch.mla is not None
        assert arch.head_dim == tc["kv_lora_rank"] + tc["qk_rope_head_dim"]
        assert arch.num_kv_heads == 1
        assert set(arch.layer_kinds) == {"mla"}
        return
    expected_hd = tc.get("head_dim") or tc.get("hidden_size", tc.get("n_embd")) // heads
    if arch.layer_kinds and set(arch.layer_kinds) <= {"mamba", "mamba2"}:
        expected_hd = 0
    assert arch.head_dim == expected_hd
    if tc.get("multi_query") and not tc.get("new_decoder_architecture"):
        expected_kv = 1
    elif tc.get("block_configs"):
        group = next(
            b["attention"]["n_heads_in_group"] for b in tc["block_configs"] if not b["attention"]["no_op"]
        )
        expected_kv = heads // group
    else:
        expected_kv = first(tc, "num_kv_heads", "num_key_value_heads") or heads
    assert arch.num_kv_heads == expected_kv


@pytest.mark.parametrize("path", FULL_ATTENTION_CONFIGS, ids=lambda p: p.parent.parent.name)
def test_kv_per_token_of_uniform_full_attention_models(path: Path) -> None:
    """All-full-attention models: bytes/token = L x nkv x 2 x head_dim x bytes (docs/theory.md 2.1)."""
    cfg = load_json(path)
    tc = text_config(cfg)
    arch = parse_config(cfg)
    heads = first(tc, "num_attention_heads", "n_head")
    hd = tc.get("head_dim") or first(tc, "hidden_size", "n_embd") // heads
    nkv = first(tc, "num_kv_heads", "num_key_value_heads") or heads
    if tc.get("multi_query") and not tc.get("new_decoder_architecture"):
        nkv = 1
    b = DTYPE_BYTES[arch.dtype or "bfloat16"]
    per_token = first(tc, "num_hidden_layers", "n_layer") * nkv * 2 * hd * b
    for engine in ("transformers", "vllm"):
        report = estimate_kv_cache(arch, KVOptions(engine=engine, context=4096))
        assert report.complete, report.missing
        assert report.bytes_per_token == per_token
        assert report.total_bytes == per_token * 4096  # 4096 is a multiple of the 16-token block: no rounding


@pytest.mark.parametrize("path", CORPUS_CONFIGS, ids=lambda p: p.parent.parent.name)
def test_every_corpus_model_gets_a_kv_report(path: Path) -> None:
    arch = parse_config(load_json(path))
    for engine in ("transformers", "vllm"):
        report = estimate_kv_cache(arch, KVOptions(engine=engine))
        assert report.complete, report.missing
        assert report.total_bytes == report.kv_bytes + report.state_bytes
        assert report.scenarios[0].total_bytes == report.total_bytes
        assert sum(k.bytes for k in report.by_layer_kind.values()) == report.total_bytes
        if arch.max_context and arch.max_context != report.context:
            assert report.scenarios[-1].context == arch.max_context
