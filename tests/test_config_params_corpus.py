"""Config-derived parameter counts over the whole corpus, and against real header / index files.

Independent figures here are computed in the test from real files: the all-MiniLM-L6-v2 safetensors header
(shapes summed), the falcon-180B index (total_size of an all-bf16 checkpoint / 2) and its weight_map.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from hubmem.estimate.params.formula import COMPONENTS, ConfigParams, expected_parameters
from hubmem.parse.config import parse_config

from support.paths import fixture_glob, load_json, repo_config, repo_dir

CORPUS_CONFIGS = fixture_glob("repos/*/files/config.json")


def count(config: dict[str, Any]) -> ConfigParams:
    return expected_parameters(parse_config(config))


def test_corpus_is_there() -> None:
    assert len(CORPUS_CONFIGS) >= 30


@pytest.mark.parametrize("path", CORPUS_CONFIGS, ids=lambda p: p.parent.parent.name)
def test_every_corpus_config_is_counted_or_says_why(path: Path) -> None:
    p = count(load_json(path))
    if p.total is None:
        assert p.missing, "no count and no reason"
        return
    assert p.total > 0
    assert set(p.components) <= set(COMPONENTS)
    assert sum(p.components.values()) == p.total
    assert p.active is not None and 0 < p.active <= p.total
    if p.missing:
        assert all(isinstance(m, str) and m for m in p.missing)


def test_minilm_equals_real_header_minus_position_ids_buffer() -> None:
    # The real all-MiniLM-L6-v2 header (104 tensors). Its only non-parameter tensor is the int64
    # embeddings.position_ids buffer that older transformers saved; everything else is a BertModel parameter.
    header = load_json(
        repo_dir("sentence-transformers__all-MiniLM-L6-v2") / "headers" / "model.safetensors.json"
    )
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    buffers = {k for k, v in tensors.items() if v["dtype"] == "I64"}
    assert buffers == {"embeddings.position_ids"}
    from_header = sum(math.prod(v["shape"]) for k, v in tensors.items() if k not in buffers)
    p = count(repo_config("sentence-transformers/all-MiniLM-L6-v2"))
    assert p.total == from_header
    assert p.components["head"] == 384 * 384 + 384  # BertModel's pooler


def test_falcon_180b_ties_lm_head_by_default_but_the_checkpoint_stores_it() -> None:
    # falcon-180B-chat's config.json has no tie_word_embeddings; FalconConfig defaults it to True, so the
    # model transformers builds shares lm_head with word_embeddings. The checkpoint nevertheless stores
    # lm_head.weight (index weight_map): the bf16 checkpoint holds one V x H matrix more than the model.
    config = repo_config("tiiuae/falcon-180B-chat")
    assert "tie_word_embeddings" not in config
    index = repo_config("tiiuae/falcon-180B-chat", "model.safetensors.index.json")
    assert "lm_head.weight" in index["weight_map"]
    p = count(config)
    assert p.components["lm_head"] == 0
    assert p.total is not None
    assert p.total + config["vocab_size"] * config["hidden_size"] == index["metadata"]["total_size"] // 2
    assert any("tie_word_embeddings" in n for n in p.notes)


def test_gptq_and_fp8_repos_count_logical_parameters() -> None:
    # quantization does not change the logical count: the FP8 repo equals its bf16 sibling, and the GPTQ
    # Llama-2-13B equals the dense formula of its own dimensions (computed here from the config)
    assert (
        count(repo_config("Qwen/Qwen3-30B-A3B-FP8")).total == count(repo_config("Qwen/Qwen3-30B-A3B")).total
    )
    c = repo_config("TheBloke/Llama-2-13B-chat-GPTQ")
    h, i, n_layers, v = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
    per_layer = 4 * h * h + 3 * h * i + 2 * h  # MHA (40 kv heads = 40 heads), SwiGLU, two RMSNorms
    assert count(c).total == n_layers * per_layer + 2 * v * h + h


def test_tied_embeddings_counted_once() -> None:
    # Llama-3.2-1B ties lm_head to embed_tokens (config tie_word_embeddings: true)
    p = count(repo_config("meta-llama/Llama-3.2-1B"))
    assert p.components["lm_head"] == 0
    assert p.components["embeddings"] == 128256 * 2048
    untied = count({**repo_config("meta-llama/Llama-3.2-1B"), "tie_word_embeddings": False})
    assert untied.total == p.total + 128256 * 2048  # type: ignore[operator]


def test_multimodal_text_part_counted_and_unknown_vision_marked_missing() -> None:
    # Llama-4-Scout's corpus config has only text_config: the text model is counted, the vision tower is
    # reported missing
    p = count(repo_config("meta-llama/Llama-4-Scout-17B-16E-Instruct"))
    assert p.total is not None and p.missing and "vision" in p.missing[0]
    assert 17e9 <= p.active < 17.5e9  # type: ignore[operator]  # "17B active" (Meta)
    # Qwen3-VL ships a vision_config, which hubmem counts
    vl = count(repo_config("Qwen/Qwen3-VL-8B-Instruct"))
    assert vl.complete and vl.components["vision"] > 0 and vl.components["projector"] > 0


def test_uncovered_family_is_missing_not_guessed() -> None:
    # openai/whisper-base style encoder-decoder: no formula, so no number (never a Llama-shaped guess)
    whisper = {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "d_model": 512,
        "encoder_layers": 6,
        "decoder_layers": 6,
        "encoder_attention_heads": 8,
        "decoder_attention_heads": 8,
        "vocab_size": 51865,
    }
    p = count(whisper)
    assert p.total is None and p.active is None
    assert p.missing and "whisper" in p.missing[0]


def test_missing_key_reports_instead_of_crashing() -> None:
    c = repo_config("meta-llama/Llama-3.1-8B")
    del c["intermediate_size"]
    p = count(c)
    assert p.total is None and p.missing


def test_nonsense_dimensions_report_instead_of_a_negative_count() -> None:
    c = repo_config("meta-llama/Llama-3.1-8B")
    c["num_hidden_layers"] = 0
    c["vocab_size"] = 0
    p = count(c)
    assert p.total is None and p.missing
