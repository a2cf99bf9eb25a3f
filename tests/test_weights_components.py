"""Tensor name -> component on real checkpoint names, and whole-repo weights on real index files.

Real names come from the real index files in fixtures (Falcon-180B, Devstral), the real MiniLM
header, and from the checkpoints' published tensor listings for the other families (written out
below, one representative name per rule). Whole-repo figures are checked against the index's
``metadata.total_size`` / ``total_parameters`` and the file sizes that the corpus README lists.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from hubmem.estimate.weights.components import classify, classify_tensor
from hubmem.estimate.weights.names import is_token_embedding
from hubmem.estimate.weights.report import estimate_weights
from hubmem.formats.dtypes import DTYPE_BITS
from hubmem.formats.safetensors import SafetensorsHeader, Tensor, decode_header, parse_header, parse_tensors
from hubmem.schema.architecture import Architecture
from hubmem.snapshot import Snapshot, WeightFile

from support.paths import repo_dir

# (real tensor name, component); num_layers for the MTP rule given per case where it matters
NAMES: list[tuple[str, str]] = [
    # Llama / Mistral / Qwen2 / Qwen3
    ("model.embed_tokens.weight", "embeddings"),
    ("model.layers.0.self_attn.q_proj.weight", "attention"),
    ("model.layers.0.self_attn.q_proj.bias", "attention"),
    ("model.layers.3.self_attn.k_norm.weight", "attention"),  # Qwen3 qk-norm belongs to attention
    ("model.layers.0.mlp.gate_proj.weight", "mlp"),
    ("model.layers.0.input_layernorm.weight", "norms"),
    ("model.layers.0.post_attention_layernorm.weight", "norms"),
    ("model.norm.weight", "norms"),
    ("lm_head.weight", "lm_head"),
    ("model.layers.0.self_attn.rotary_emb.inv_freq", "buffers"),
    # Gemma 2 / 3, Phi-3 fused projections
    ("model.layers.0.pre_feedforward_layernorm.weight", "norms"),
    ("model.layers.0.post_feedforward_layernorm.weight", "norms"),
    ("model.layers.0.self_attn.qkv_proj.weight", "attention"),
    ("model.layers.0.mlp.gate_up_proj.weight", "mlp"),
    # Mixtral / Phi-3.5-MoE / MiniMax
    ("model.layers.0.block_sparse_moe.experts.7.w1.weight", "experts"),
    ("model.layers.0.block_sparse_moe.gate.weight", "router"),
    # Qwen3-MoE / Qwen2-MoE
    ("model.layers.0.mlp.experts.127.down_proj.weight", "experts"),
    ("model.layers.0.mlp.gate.weight", "router"),
    ("model.layers.0.mlp.shared_expert.up_proj.weight", "shared_experts"),
    ("model.layers.0.mlp.shared_expert_gate.weight", "router"),
    # DeepSeek V2 / V3 / Kimi / GLM-4.5
    ("model.layers.0.self_attn.kv_a_proj_with_mqa.weight", "attention"),
    ("model.layers.0.self_attn.kv_a_layernorm.weight", "attention"),
    ("model.layers.5.mlp.experts.255.gate_proj.weight_scale_inv", "experts"),
    ("model.layers.5.mlp.shared_experts.down_proj.weight", "shared_experts"),
    ("model.layers.5.mlp.gate.e_score_correction_bias", "router"),
    # gpt-oss (transformers layout), Llama 4 / transformers-5 stacked experts
    ("model.layers.0.mlp.experts.gate_up_proj_blocks", "experts"),
    ("model.layers.0.mlp.experts.down_proj_scales", "experts"),
    ("model.layers.0.mlp.experts.gate_up_proj_bias", "experts"),
    ("model.layers.0.mlp.router.weight", "router"),
    ("model.layers.0.self_attn.sinks", "attention"),
    ("language_model.model.layers.0.feed_forward.experts.gate_up_proj", "experts"),
    ("language_model.model.layers.0.feed_forward.shared_expert.down_proj.weight", "shared_experts"),
    ("language_model.model.layers.0.feed_forward.router.weight", "router"),
    ("language_model.model.embed_tokens.weight", "embeddings"),
    # GPT-2 (openai-community/gpt2 stores no "transformer." prefix)
    ("wte.weight", "embeddings"),
    ("wpe.weight", "embeddings"),
    ("h.0.attn.c_attn.weight", "attention"),
    ("h.0.attn.c_proj.bias", "attention"),
    ("h.0.mlp.c_fc.weight", "mlp"),
    ("h.0.ln_1.weight", "norms"),
    ("ln_f.bias", "norms"),
    ("transformer.h.11.mlp.c_proj.weight", "mlp"),
    # BERT
    ("embeddings.word_embeddings.weight", "embeddings"),
    ("embeddings.LayerNorm.weight", "embeddings"),
    ("embeddings.position_ids", "buffers"),
    ("encoder.layer.0.attention.self.query.weight", "attention"),
    ("encoder.layer.0.attention.output.LayerNorm.weight", "attention"),
    ("encoder.layer.0.intermediate.dense.weight", "mlp"),
    ("encoder.layer.0.output.dense.weight", "mlp"),
    ("encoder.layer.0.output.LayerNorm.bias", "norms"),
    ("pooler.dense.weight", "other"),
    ("cls.predictions.transform.dense.weight", "lm_head"),
    # T5
    ("shared.weight", "embeddings"),
    ("encoder.block.0.layer.0.SelfAttention.q.weight", "attention"),
    ("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", "attention"),
    ("decoder.block.0.layer.1.EncDecAttention.k.weight", "attention"),
    ("encoder.block.0.layer.1.DenseReluDense.wi.weight", "mlp"),
    ("encoder.block.0.layer.0.layer_norm.weight", "norms"),
    ("encoder.final_layer_norm.weight", "norms"),
    # Falcon
    ("transformer.word_embeddings.weight", "embeddings"),
    ("transformer.h.0.self_attention.query_key_value.weight", "attention"),
    ("transformer.h.0.mlp.dense_h_to_4h.weight", "mlp"),
    ("transformer.h.0.ln_attn.bias", "norms"),
    # Mamba / falcon-mamba / Nemotron-H (the mixer is mamba, attention, MLP or MoE)
    ("backbone.embeddings.weight", "embeddings"),
    ("backbone.layers.0.mixer.A_log", "ssm"),
    ("backbone.layers.0.mixer.conv1d.weight", "ssm"),
    ("backbone.layers.0.mixer.in_proj.weight", "ssm"),
    ("backbone.layers.0.mixer.norm.weight", "ssm"),
    ("backbone.layers.0.norm.weight", "norms"),
    ("backbone.layers.5.mixer.q_proj.weight", "attention"),
    ("backbone.layers.1.mixer.experts.3.up_proj.weight", "experts"),
    ("backbone.layers.1.mixer.shared_experts.down_proj.weight", "shared_experts"),
    ("backbone.layers.1.mixer.gate.weight", "router"),
    ("backbone.layers.1.mixer.gate.e_score_correction_bias", "router"),
    ("backbone.layers.2.mixer.up_proj.weight", "mlp"),
    ("backbone.norm_f.weight", "norms"),
    # Qwen3-Next (gated DeltaNet + MoE + MTP module)
    ("model.layers.0.linear_attn.in_proj_qkvz.weight", "ssm"),
    ("model.layers.0.linear_attn.A_log", "ssm"),
    ("mtp.layers.0.mlp.experts.0.up_proj.weight", "mtp"),
    ("mtp.fc.weight", "mtp"),
    # DBRX
    ("transformer.wte.weight", "embeddings"),
    ("transformer.blocks.0.norm_attn_norm.attn.Wqkv.weight", "attention"),
    ("transformer.blocks.0.norm_attn_norm.norm_1.weight", "norms"),
    ("transformer.blocks.0.ffn.experts.mlp.w1", "experts"),
    ("transformer.blocks.0.ffn.router.layer.weight", "router"),
    # Mistral native consolidated.safetensors
    ("tok_embeddings.weight", "embeddings"),
    ("layers.0.attention.wq.weight", "attention"),
    ("layers.0.attention_norm.weight", "norms"),
    ("layers.0.feed_forward.w1.weight", "mlp"),
    ("output.weight", "lm_head"),
    # vision / audio towers and projectors
    ("model.visual.blocks.0.attn.qkv.weight", "vision_tower"),
    ("model.visual.patch_embed.proj.weight", "vision_tower"),
    ("model.visual.merger.linear_fc1.weight", "projector"),
    ("model.visual.deepstack_merger_list.0.norm.weight", "projector"),
    ("visual.blocks.31.mlp.down_proj.weight", "vision_tower"),
    ("model.language_model.layers.0.self_attn.q_proj.weight", "attention"),
    ("vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight", "vision_tower"),
    ("multi_modal_projector.mm_input_projection_weight", "projector"),
    ("multi_modal_projector.linear_1.weight", "projector"),
    ("model.mm_projector.0.weight", "projector"),
    ("vision_model.model.layers.0.self_attn.q_proj.weight", "vision_tower"),
    ("audio_tower.layers.0.self_attn.k_proj.weight", "audio_tower"),
    ("thinker.audio_tower.conv1.weight", "audio_tower"),
    (
        "model.vision_embed_tokens.img_processor.vision_model.embeddings.patch_embedding.weight",
        "vision_tower",
    ),
    ("model.vision_embed_tokens.img_projection.0.weight", "projector"),
    ("mlp1.1.weight", "projector"),
    ("language_model.model.layers.0.cross_attn.q_proj.weight", "attention"),
]


@pytest.mark.parametrize(("name", "component"), NAMES)
def test_real_names(name: str, component: str) -> None:
    assert classify(name, num_layers=64).component == component


def test_deepseek_mtp_layer_is_the_layer_after_the_last() -> None:
    for n in (
        "model.layers.61.mlp.experts.3.up_proj.weight",
        "model.layers.61.eh_proj.weight",
        "model.layers.61.shared_head.head.weight",
        "model.layers.61.embed_tokens.weight",
    ):
        assert classify(n, num_layers=61, mtp=True).component == "mtp"
        assert classify(n, num_layers=61, mtp=False).component != "mtp"
    assert (
        classify("model.layers.60.mlp.experts.3.up_proj.weight", num_layers=61, mtp=True).component
        == "experts"
    )


def test_gpt2_causal_mask_is_a_buffer_not_an_attention_bias() -> None:
    assert classify_tensor("h.0.attn.bias", (1, 1, 1024, 1024)).component == "buffers"
    assert classify_tensor("h.0.attn.c_attn.bias", (2304,)).component == "attention"


def test_token_embedding_names() -> None:
    yes = [
        "model.embed_tokens.weight",
        "wte.weight",
        "transformer.word_embeddings.weight",
        "shared.weight",
        "embeddings.word_embeddings.weight",
        "backbone.embeddings.weight",
        "tok_embeddings.weight",
        "model.language_model.embed_tokens.weight",
        "gpt_neox.embed_in.weight",
    ]
    no = [
        "wpe.weight",
        "embeddings.position_embeddings.weight",
        "embeddings.LayerNorm.weight",
        "model.layers.61.embed_tokens.weight",
        "model.visual.patch_embed.proj.weight",
        "lm_head.weight",
    ]
    assert all(is_token_embedding(n) for n in yes)
    assert not any(is_token_embedding(n) for n in no)


# ------------------------------------------------------------------------------------ real index files


def from_index(index: dict[str, Any], shape_of: Callable[[str], tuple[int, ...]], dtype: str) -> list[Tensor]:
    """Tensors per shard as the real weight_map assigns them, laid out back to back in each shard."""
    offsets: Counter[str] = Counter()
    out = []
    for name, file in index["weight_map"].items():
        shape = shape_of(name)
        n = 1
        for d in shape:
            n *= d
        size = n * DTYPE_BITS[dtype] // 8
        out.append(Tensor(name, dtype, shape, offsets[file], offsets[file] + size, file))
        offsets[file] += size
    return out


def repo_snapshot(repo: str, tensors: list[Tensor]) -> tuple[Snapshot, dict[str, Any]]:
    files = repo_dir(repo) / "files"
    config = json.loads((files / "config.json").read_text())
    index = json.loads((files / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    snap = Snapshot(
        repo_id=repo.replace("__", "/"),
        revision="main",
        commit=None,
        source="hub",
        config=config,
        index=index,
        index_path="model.safetensors.index.json",
        files=[WeightFile(path=s, header_length=0, header=SafetensorsHeader([])) for s in shards],
    )
    return snap, config


def test_falcon_180b_real_index_total_size() -> None:
    files = repo_dir("tiiuae__falcon-180B-chat") / "files"
    cfg = json.loads((files / "config.json").read_text())
    index = json.loads((files / "model.safetensors.index.json").read_text())
    h, v, hd = cfg["hidden_size"], cfg["vocab_size"], cfg["hidden_size"] // cfg["num_attention_heads"]
    qkv = (cfg["num_attention_heads"] + 2 * cfg["num_kv_heads"]) * hd

    def shape(name: str) -> tuple[int, ...]:
        if name.endswith(("word_embeddings.weight", "lm_head.weight")):
            return (v, h)
        if "query_key_value" in name:
            return (qkv, h)
        if "self_attention.dense" in name:
            return (h, h)
        if "dense_h_to_4h" in name:
            return (4 * h, h)
        if "dense_4h_to_h" in name:
            return (h, 4 * h)
        return (h,)  # ln_attn / ln_mlp / ln_f weight and bias

    tensors = from_index(index, shape, "BF16")
    snap, config = repo_snapshot("tiiuae__falcon-180B-chat", tensors)
    w = estimate_weights(snap, tensors, Architecture(architectures=config["architectures"]))
    assert w.total_bytes == int(index["metadata"]["total_size"]) == 359_045_130_240
    assert w.index_total_size == 359_045_130_240
    assert not any("total_size" in n for n in w.notes)
    assert "other" not in w.by_component
    assert w.by_component["attention"].tensors == w.by_component["mlp"].tensors == 2 * 80
    assert w.by_component["norms"].tensors == 4 * 80 + 2
    assert len(w.files) == 81
    per_file = Counter(index["weight_map"].values())
    assert {f.path: f.tensors for f in w.files} == dict(per_file)
    assert w.tied_embeddings is False


def test_devstral_real_index_total_parameters_metadata() -> None:
    files = repo_dir("mistralai__Devstral-Small-2507") / "files"
    cfg = json.loads((files / "config.json").read_text())
    index = json.loads((files / "model.safetensors.index.json").read_text())
    h, v, hd, i = cfg["hidden_size"], cfg["vocab_size"], cfg["head_dim"], cfg["intermediate_size"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    shapes = {
        "q_proj": (q, h),
        "k_proj": (kv, h),
        "v_proj": (kv, h),
        "o_proj": (h, q),
        "gate_proj": (i, h),
        "up_proj": (i, h),
        "down_proj": (h, i),
    }

    def shape(name: str) -> tuple[int, ...]:
        if name in ("model.embed_tokens.weight", "lm_head.weight"):
            return (v, h)
        return shapes.get(name.split(".")[-2], (h,))

    tensors = from_index(index, shape, "BF16")
    snap, _ = repo_snapshot("mistralai__Devstral-Small-2507", tensors)
    w = estimate_weights(snap, tensors, Architecture())
    assert w.parameters == int(index["metadata"]["total_parameters"]) == 23_572_403_200
    assert w.total_parameters_metadata == 23_572_403_200
    assert w.total_bytes == int(index["metadata"]["total_size"])
    assert w.notes == []
    assert w.by_component["embeddings"].parameters == w.by_component["lm_head"].parameters == v * h


def test_metadata_total_parameters_disagreement_is_noted() -> None:
    tensors = [Tensor("model.embed_tokens.weight", "BF16", (10, 4), 0, 80, "model.safetensors")]
    header = {"__metadata__": {"format": "pt", "total_parameters": "333312"}}
    snap = Snapshot(
        "t/m",
        "main",
        None,
        "local",
        config={},
        files=[WeightFile("model.safetensors", 64, parse_header(header), 8 + 64 + 80)],
    )
    w = estimate_weights(snap, tensors, Architecture())
    assert w.total_parameters_metadata == 333_312
    assert any("333,312" in n for n in w.notes)


def test_real_minilm_header_components_and_sizes() -> None:
    root = repo_dir("sentence-transformers__all-MiniLM-L6-v2") / "files"
    raw = (root.parent / "headers" / "model.safetensors.json").read_bytes()
    header = decode_header(raw)
    size = 90_868_376  # the real file size (corpus README / SOURCE.txt)
    tensors = parse_tensors(header, file="model.safetensors", data_size=size - 8 - len(raw))
    config = json.loads((root / "config.json").read_text())
    snap = Snapshot(
        "sentence-transformers/all-MiniLM-L6-v2",
        "main",
        None,
        "hub",
        config=config,
        files=[WeightFile("model.safetensors", len(raw), parse_header(header), size)],
    )
    w = estimate_weights(snap, tensors, Architecture(architectures=config["architectures"]))
    assert w.total_bytes == size - 8 - 11_408 == 90_856_960
    assert w.elements == w.parameters == 22_713_728  # the Hub counts the I64 position_ids buffer too
    assert w.by_component["buffers"].parameters == 512
    assert w.by_dtype["I64"].bytes == 512 * 8
    assert w.by_component["attention"].tensors == 6 * 10  # q,k,v,out dense (w+b) + LayerNorm (w+b)
    assert w.by_component["mlp"].tensors == 6 * 4
    assert w.tied_embeddings is None  # BertModel has no LM head
    assert w.files[0].size == size and w.notes == []
