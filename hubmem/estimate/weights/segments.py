"""The module-name vocabulary of checkpoints: which path segments mark attention, MLP, experts, routers,
norms, embeddings, heads and multimodal towers across the families hubmem meets (Llama/Mistral, Qwen2/3
dense + MoE + VL, Mixtral ``block_sparse_moe.experts.N.w1``, DeepSeek ``mlp.experts.N`` / ``shared_experts``
/ ``gate``, gpt-oss fused ``mlp.experts.gate_up_proj_blocks``, Llama-4 ``feed_forward.experts``, GPT-2
``h.N`` / ``wte`` / ``wpe``, BERT, T5, Falcon, Gemma, Phi-3 fused ``qkv_proj``, Mamba / Nemotron-H ``mixer``).

Data only; the rules that read it are in ``names.py`` (generic name helpers) and ``components.py``.
"""

from __future__ import annotations

import re

# Path segments (exact, case-sensitive) that mark a multimodal part anywhere in a name.
PROJECTOR_SEGMENTS = frozenset(
    {
        "multi_modal_projector",  # LLaVA, Gemma 3, Llama 4, Mistral 3, Mllama
        "mm_projector",  # LLaVA (original), VILA
        "merger",  # Qwen2-VL / Qwen2.5-VL / Qwen3-VL ``visual.merger``
        "deepstack_merger_list",  # Qwen3-VL
        "connector",  # Idefics3 / SmolVLM
        "mlp1",  # InternVL
        "img_projection",  # Phi-3-vision
        "aligner",  # DeepSeek-VL
        "resampler",  # MiniCPM-V
        "audio_projector",
        "audio_projection",
        "embed_vision",  # Gemma 3n
        "embed_audio",  # Gemma 3n
        "image_newline",  # LLaVA-NeXT
        "view_seperator",  # DeepSeek-VL2 (sic)
    }
)
AUDIO_SEGMENTS = frozenset(
    {
        "audio_tower",
        "audio_encoder",
        "audio_model",
        "apm",
        "speech_encoder",
        "audio",
        "whisper_encoder",
        "audio_embed",
    }
)
VISION_SEGMENTS = frozenset(
    {
        "visual",  # Qwen2-VL / Qwen2.5-VL / Qwen3-VL (``model.visual``)
        "vision_tower",  # LLaVA, Gemma 3, Pixtral / Mistral 3
        "vision_model",  # Mllama, Llama 4, Idefics3, InternVL
        "vision_encoder",
        "vision",
        "vpm",  # MiniCPM-V
        "image_encoder",
        "vision_embed_tokens",  # Phi-3-vision
        "vit",
        "image_embed",  # Phi-4-multimodal ``embed_tokens_extend.image_embed``
    }
)
MTP_SEGMENTS = frozenset({"mtp", "mtp_layers", "mtp_block", "mtp_modules"})

# Containers whose next segment is a decoder / encoder layer index.
LAYER_CONTAINERS = frozenset({"layers", "layer", "h", "blocks", "block", "decoder_layers", "encoder_layers"})

ATTENTION_SEGMENTS = frozenset(
    {
        "self_attn",
        "attn",
        "attention",
        "self_attention",
        "cross_attn",
        "cross_attention",
        "encoder_attn",
        "SelfAttention",
        "EncDecAttention",
        "mixer_attn",
        "temporal_block",
    }
)
SSM_SEGMENTS = frozenset({"linear_attn", "mamba", "ssm", "mamba_mixer"})
MLP_SEGMENTS = frozenset(
    {
        "mlp",
        "feed_forward",
        "ffn",
        "block_sparse_moe",
        "moe",
        "intermediate",  # BERT
        "output",  # BERT (``layer.N.output.dense``)
        "DenseReluDense",  # T5
        "fc1",
        "fc2",
        "ff",
        "feedforward",
        "residual_mlp",  # Arctic
        "shared_mlp",
    }
)
SHARED_SEGMENTS = frozenset({"shared_experts", "shared_expert", "shared_mlp", "shared_expert_mlp"})
ROUTER_SEGMENTS = frozenset(
    {"gate", "router", "shared_expert_gate", "moe_statics", "e_score_correction_bias", "wg"}
)
FUSED_EXPERT_SEGMENTS = frozenset({"input_linear", "output_linear"})  # GraniteMoE ``block_sparse_moe``
MIXER_ATTENTION = frozenset({"q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj", "Wqkv", "out_proj_attn"})
MIXER_MLP = frozenset({"up_proj", "down_proj", "gate_proj", "fc1", "fc2"})
MIXER_MOE = frozenset({"experts", "shared_experts", "shared_expert", "gate", "router"})

EMBED_SEGMENTS = frozenset(
    {
        "embed_tokens",
        "wte",
        "wpe",
        "word_embeddings",
        "position_embeddings",
        "token_type_embeddings",
        "embeddings",
        "embed_in",
        "tok_embeddings",
        "embedding",
        "embed_positions",
        "shared",  # T5 ``shared.weight``
        "emb",
        "word_embedding",
        "embed",
        "per_layer_embeddings",
        "embed_tokens_per_layer",  # Gemma 3n
    }
)
LM_HEAD_SEGMENTS = frozenset({"lm_head", "embed_out", "unembedding", "unembed", "output_layer"})
FINAL_NORM_SEGMENTS = frozenset(
    {"norm", "ln_f", "norm_f", "final_layernorm", "final_layer_norm", "final_norm", "ln_out", "LayerNorm"}
)
WRAPPERS = frozenset({"norm_attn_norm", "layer", "module", "block", "sublayer"})
BUFFER_LAST = frozenset({"position_ids", "inv_freq", "masked_bias", "_float_tensor"})

NORM_RE = re.compile(r"(norm|^ln(_|\d|$)|^ln$|layer_norm|LayerNorm)", re.IGNORECASE)
# a layer or expert index in a tensor name: up to 9 ASCII digits (a longer run is not an index, and Python
# refuses to read integers of more than 4,300 digits)
INDEX = r"[0-9]{1,9}"
LAYER_INDEX_RE = re.compile(rf"^{INDEX}$")


TOKEN_EMBED_SEGMENTS = frozenset(
    {
        "embed_tokens",
        "wte",
        "word_embeddings",
        "embed_in",
        "tok_embeddings",
        "shared",
        "embedding",
        "embeddings",
    }
)
POSITION_EMBED_SEGMENTS = frozenset(
    {"wpe", "position_embeddings", "token_type_embeddings", "embed_positions", "per_layer_embeddings"}
)
