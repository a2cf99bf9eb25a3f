"""The normalized architecture derived from config.json (theory.md section 1)."""

from __future__ import annotations

from .common import Model

# Per-layer kinds (theory.md 1.3). "unknown" is reported as such, never guessed.
LAYER_KINDS = (
    "full",
    "sliding",
    "chunked",
    "mla",
    "cross",
    "linear",  # gated DeltaNet / linear attention
    "mamba",
    "mamba2",
    "none",  # no attention and no state (MLP-only / no-op blocks)
    "unknown",
)


class MLAConfig(Model):
    kv_lora_rank: int
    qk_rope_head_dim: int
    qk_nope_head_dim: int | None = None
    v_head_dim: int | None = None
    q_lora_rank: int | None = None


class MambaConfig(Model):
    version: int  # 1 or 2
    intermediate_size: int
    state_size: int
    conv_kernel: int
    num_heads: int | None = None  # mamba2
    head_dim: int | None = None  # mamba2
    n_groups: int = 1


class LinearAttentionConfig(Model):
    """Gated DeltaNet (Qwen3-Next style) dimensions."""

    num_key_heads: int
    num_value_heads: int
    key_head_dim: int
    value_head_dim: int
    conv_kernel: int


class EncoderConfig(Model):
    """Encoder-decoder models: what the decoder's cross-attention reads."""

    encoder_layers: int
    decoder_layers: int
    encoder_length: int | None = None  # default encoder tokens (e.g. Whisper 1500)


class Architecture(Model):
    model_type: str | None = None
    architectures: list[str] = []
    text_config_key: str | None = None  # where the text model was found ("text_config", ...), None = root
    num_layers: int | None = None
    hidden_size: int | None = None
    num_attention_heads: int | None = None
    num_kv_heads: int | None = None
    head_dim: int | None = None
    v_head_dim: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    max_context: int | None = None
    dtype: str | None = None  # activation dtype name as in config (bfloat16, float16, float32)
    tie_word_embeddings: bool | None = None
    sliding_window: int | None = None
    attention_chunk_size: int | None = None
    layer_kinds: list[str] = []  # one entry per decoder layer, values from LAYER_KINDS
    # per-layer KV heads where layers differ (Nemotron-NAS); None = num_kv_heads everywhere
    layer_kv_heads: list[int] | None = None
    num_experts: int | None = None
    experts_per_token: int | None = None
    shared_experts: int | None = None
    moe_intermediate_size: int | None = None
    first_dense_layers: int | None = None
    mtp_layers: int = 0
    mla: MLAConfig | None = None
    mamba: MambaConfig | None = None
    linear_attention: LinearAttentionConfig | None = None
    encoder: EncoderConfig | None = None
    quantization_config: dict[str, object] | None = None
    missing: list[str] = []  # what could not be derived (projections then say so)
