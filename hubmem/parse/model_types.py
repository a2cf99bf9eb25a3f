"""model_type sets and config keys that decide how a config.json is read (docs/theory.md 1.1, 2.2)."""

from __future__ import annotations

# docs/theory.md 1.1: where multimodal / wrapper configs keep the text decoder.
TEXT_CONFIG_KEYS = ("text_config", "decoder", "generator", "language_config", "llm_config")

# vLLM is_deepseek_mla model types (docs/theory.md 2.2).
MLA_MODEL_TYPES = frozenset(
    {
        "deepseek_v2",
        "deepseek_v3",
        "deepseek_v32",
        "deepseek_mtp",
        "kimi_k2",
        "kimi_linear",
        "longcat_flash",
        "pangu_ultra_moe",
        "pangu_ultra_moe_mtp",
        "glm4_moe_lite",
        "glm_moe_dsa",
    }
)

# Encoder-only families: bidirectional, no KV cache (vLLM EncoderOnlyAttentionSpec -> 0 bytes).
ENCODER_ONLY_TYPES = frozenset(
    {
        "bert",
        "roberta",
        "xlm-roberta",
        "xlm-roberta-xl",
        "distilbert",
        "albert",
        "electra",
        "deberta",
        "deberta-v2",
        "camembert",
        "mpnet",
        "modernbert",
        "nomic_bert",
        "megatron-bert",
        "ernie",
        "roformer",
        "xlm",
        "flaubert",
        "new",
    }
)

ENCODER_DECODER_TYPES = frozenset(
    {
        "t5",
        "mt5",
        "umt5",
        "longt5",
        "switch_transformers",
        "bart",
        "mbart",
        "marian",
        "pegasus",
        "pegasus_x",
        "m2m_100",
        "nllb_moe",
        "whisper",
        "blenderbot",
        "blenderbot-small",
        "fsmt",
        "plbart",
        "led",
        "prophetnet",
    }
)
T5_LIKE = frozenset({"t5", "mt5", "umt5", "longt5", "switch_transformers"})

MAMBA1_TYPES = frozenset({"mamba", "falcon_mamba", "jamba", "zamba"})
MAMBA2_TYPES = frozenset(
    {"mamba2", "nemotron_h", "zamba2", "bamba", "granitemoehybrid", "falcon_h1", "plamo2"}
)
GDN_PREFIXES = ("qwen3_next", "qwen3_5")
LIGHTNING_TYPES = frozenset({"minimax", "minimax_text_01", "minimax_m1"})
GPT2_LIKE = frozenset({"gpt2", "gptj", "gpt_bigcode", "codegen", "gpt_neo", "imagegpt"})
SHORT_CONV_TYPES = frozenset({"lfm2", "lfm2_moe", "lfm2_vl"})
