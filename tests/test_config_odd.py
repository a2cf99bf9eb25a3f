"""parse_config never crashes on odd input; odd values are named in ``missing``; only a non-object raises."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from hubmem.errors import ConfigError, HubmemError
from hubmem.estimate.kv.report import estimate_kv_cache
from hubmem.parse.config import parse_config
from hubmem.schema.kv import KVOptions

from support.paths import fixture_glob

# real models only (hubmem-test__* are fake-Hub scenario repos that reuse a corpus config)
CORPUS_CONFIGS = [
    p for p in fixture_glob("repos/*/files/config.json") if not p.parts[-3].startswith("hubmem-test__")
]


@pytest.mark.parametrize("bad", [[1, 2], "config", 3, 2.5, True])
def test_non_object_config_raises_config_error(bad: Any) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(bad)
    assert isinstance(info.value, HubmemError)


def test_absent_config() -> None:
    arch = parse_config(None)
    assert arch.missing and arch.layer_kinds == []
    report = estimate_kv_cache(arch, KVOptions())
    assert not report.complete and report.total_bytes == 0 and report.missing


def test_empty_config() -> None:
    arch = parse_config({})
    assert any(m.startswith("num_layers") for m in arch.missing)
    assert any(m.startswith("hidden_size") for m in arch.missing)
    report = estimate_kv_cache(arch, KVOptions(engine="vllm"))
    assert not report.complete and report.total_bytes == 0


def test_strings_nulls_and_bools_where_numbers_belong() -> None:
    cfg = {
        "model_type": "llama",
        "num_hidden_layers": "32",
        "hidden_size": None,
        "num_attention_heads": True,
        "num_key_value_heads": -8,
        "head_dim": "128",
        "vocab_size": 32000.0,  # integral floats are accepted
        "max_position_embeddings": [4096],
        "torch_dtype": 16,
    }
    arch = parse_config(cfg)
    assert arch.vocab_size == 32000
    joined = " | ".join(arch.missing)
    for key in (
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",
        "max_position_embeddings",
    ):
        assert key in joined
    assert arch.num_layers is None and arch.layer_kinds == []
    assert estimate_kv_cache(arch, KVOptions()).total_bytes == 0


def test_nested_text_config_without_dims() -> None:
    arch = parse_config(
        {"model_type": "llava", "text_config": {"model_type": "llama"}, "torch_dtype": "float16"}
    )
    assert arch.text_config_key == "text_config"
    assert arch.num_layers is None and arch.dtype == "float16"
    assert any(m.startswith("num_layers") for m in arch.missing)
    wrong = parse_config(
        {
            "text_config": "llama",
            "num_hidden_layers": 2,
            "hidden_size": 8,
            "num_attention_heads": 2,
            "vocab_size": 4,
        }
    )
    assert wrong.text_config_key is None and wrong.num_layers == 2  # a non-object text_config is skipped
    assert any("text_config" in m for m in wrong.missing)


def test_unknown_layer_kind_is_reported_never_guessed() -> None:
    cfg = {
        "num_hidden_layers": 3,
        "hidden_size": 64,
        "num_attention_heads": 4,
        "vocab_size": 10,
        "max_position_embeddings": 128,
        "layer_types": ["full_attention", "mystery_attention", "full_attention"],
    }
    arch = parse_config(cfg)
    assert arch.layer_kinds == ["full", "unknown", "full"]
    assert any("mystery_attention" in m for m in arch.missing)
    report = estimate_kv_cache(arch, KVOptions())
    assert not report.complete and report.total_bytes == 0 and report.bytes_per_token == 0
    assert any("unknown" in m or "mystery" in m for m in report.missing)


def test_layer_types_of_the_wrong_length() -> None:
    arch = parse_config(
        {
            "num_hidden_layers": 4,
            "hidden_size": 64,
            "num_attention_heads": 4,
            "vocab_size": 10,
            "layer_types": ["full_attention"] * 3,
        }
    )
    assert len(arch.layer_kinds) == 4 and arch.layer_kinds[-1] == "unknown"
    assert any("describes 3 layers" in m for m in arch.missing)


def test_garbage_per_layer_structures() -> None:
    nas = parse_config(
        {
            "model_type": "nemotron-nas",
            "num_hidden_layers": 3,
            "hidden_size": 64,
            "num_attention_heads": 8,
            "vocab_size": 10,
            "block_configs": [{"attention": {"n_heads_in_group": 4}}, "junk", {"attention": {"no_op": True}}],
        }
    )
    assert nas.layer_kinds == ["full", "unknown", "none"]
    pattern = parse_config(
        {
            "model_type": "nemotron_h",
            "hidden_size": 64,
            "num_attention_heads": 4,
            "vocab_size": 10,
            "hybrid_override_pattern": "M*Q",
        }
    )
    assert pattern.layer_kinds[2] == "unknown"
    assert parse_config({"num_hidden_layers": 2, "attn_type_list": ["a", "b"], "hidden_size": 8}).layer_kinds
    sliding = parse_config(
        {
            "model_type": "gemma2",
            "num_hidden_layers": 2,
            "hidden_size": 8,
            "num_attention_heads": 2,
            "vocab_size": 4,
            "layer_types": ["sliding_attention"] * 2,
        }
    )
    assert any(m.startswith("sliding_window") for m in sliding.missing)
    assert not estimate_kv_cache(sliding, KVOptions()).complete


def _mutations(value: Any, rng: random.Random) -> Any:
    return rng.choice([None, "x", -1, 0, 1.5, True, [], {}, [None], {"a": None}, "bfloat16", 10**12, value])


def _mutate(obj: Any, rng: random.Random, rate: float) -> Any:
    if isinstance(obj, dict):
        return {
            k: (_mutations(v, rng) if rng.random() < rate else _mutate(v, rng, rate)) for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [(_mutations(v, rng) if rng.random() < rate else _mutate(v, rng, rate)) for v in obj]
    return obj


@pytest.mark.parametrize("path", CORPUS_CONFIGS, ids=lambda p: p.parent.parent.name)
def test_mutated_real_configs_never_crash(path: Path) -> None:
    original = json.loads(path.read_text())
    rng = random.Random(path.parent.parent.name)
    for _ in range(25):
        cfg = _mutate(copy.deepcopy(original), rng, 0.2)
        arch = parse_config(cfg)
        for engine in ("transformers", "vllm"):
            report = estimate_kv_cache(arch, KVOptions(engine=engine, context=rng.choice([None, 1, 4096])))
            assert report.total_bytes >= 0
            assert report.complete == (not report.missing)
            if not report.complete:
                assert report.total_bytes == 0
        json.dumps(arch.model_dump(mode="json"))
