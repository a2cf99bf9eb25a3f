"""The normalized architecture derived from config.json (docs/theory.md section 1).

Every figure here is read from config.json (or, for ``dtype`` only, from the safetensors headers);
what could not be read is named in ``missing`` and never guessed. Documented config-class defaults
(e.g. Gemma 3's ``sliding_window_pattern`` = 6) are applied and listed in ``notes``.
"""

from typing import Literal

from pydantic import Field

from hubmem.schema.common import Model

# Per-layer kinds (docs/theory.md 1.3). "unknown" is reported as such, never guessed.
LAYER_KINDS = (
    "full",  # softmax attention over every token
    "sliding",  # softmax attention over the last `sliding_window` tokens
    "chunked",  # chunked-local attention (Llama 4), window = attention_chunk_size
    "mla",  # multi-head latent attention (DeepSeek V2/V3 ...): one latent vector per token
    "cross",  # cross-attention only (Mllama cross layers): KV over encoder tokens, no self KV
    "linear",  # gated DeltaNet / lightning linear attention: fixed-size recurrent state
    "mamba",  # Mamba-1 mixer: conv + SSM state
    "mamba2",  # Mamba-2 mixer: conv + SSM state
    "conv",  # short convolution (LFM2): conv state only
    "encoder",  # bidirectional encoder layer of an encoder-only model: no cache is kept
    "none",  # no attention and no state (MLP/MoE-only, no-op, or KV shared with another layer)
    "unknown",
)

LayerKind = Literal[
    "full",
    "sliding",
    "chunked",
    "mla",
    "cross",
    "linear",
    "mamba",
    "mamba2",
    "conv",
    "encoder",
    "none",
    "unknown",
]

# Layer kinds whose cache grows with every token (until a window caps it).
ATTENTION_KINDS = ("full", "sliding", "chunked", "mla")
# Layer kinds that keep a fixed-size recurrent state per sequence.
STATE_KINDS = ("linear", "mamba", "mamba2", "conv")


class MLAConfig(Model):
    """Multi-head latent attention (docs/theory.md 2.2)."""

    kv_lora_rank: int
    qk_rope_head_dim: int
    qk_nope_head_dim: int | None = None
    v_head_dim: int | None = None
    q_lora_rank: int | None = None
    num_heads: int | None = None  # query heads (the decompressed K/V have this many heads)
    # DeepSeek-V3.2 sparse attention (DSA): the indexer caches one key of this size per token per layer
    index_head_dim: int | None = None
    index_n_heads: int | None = None


class MambaConfig(Model):
    version: int  # 1 or 2
    intermediate_size: int  # d_inner (Mamba-2: num_heads * head_dim)
    state_size: int  # d_state
    conv_kernel: int  # d_conv
    num_heads: int | None = None  # mamba2
    head_dim: int | None = None  # mamba2
    n_groups: int = 1
    ssm_cache_dtype: str | None = None  # config's mamba_ssm_cache_dtype (Nemotron-H ships "float32")


class LinearAttentionConfig(Model):
    """Fixed-size recurrent state of linear-attention layers.

    ``gated_deltanet`` (Qwen3-Next, Qwen3.5): conv over q,k,v and a state of
    ``num_value_heads x value_head_dim x key_head_dim``.
    ``lightning`` (MiniMax-01/M1): no conv, state ``num_heads x head_dim x head_dim`` (key = value dims here).
    """

    kind: Literal["gated_deltanet", "lightning"] = "gated_deltanet"
    num_key_heads: int
    num_value_heads: int
    key_head_dim: int
    value_head_dim: int
    conv_kernel: int = 0  # 0 = no conv state


class ShortConvConfig(Model):
    """LFM2-style short convolution: conv state only."""

    dim: int
    conv_kernel: int


class EncoderConfig(Model):
    """What a decoder's cross-attention reads (encoder-decoder models, Mllama's vision encoder)."""

    kind: Literal["encoder_decoder", "vision"] = "encoder_decoder"
    encoder_layers: int | None = None
    decoder_layers: int | None = None
    encoder_length: int | None = None  # default encoder tokens (e.g. Whisper 1500, Mllama tiles x patches)
    encoder_length_source: str | None = None  # which key / formula gave encoder_length


class NasBlock(Model):
    """One Nemotron-NAS (DeciLM) ``block_configs`` entry."""

    attention_no_op: bool = False
    attention_linear: bool = False  # replace_with_linear
    n_heads_in_group: int | None = None
    ffn_no_op: bool = False
    ffn_linear: bool = False
    ffn_mult: float | None = None
    ffn_intermediate: int | None = None


class VisionTower(Model):
    """The ``vision_config`` dimensions the vision-tower parameter formulas use."""

    hidden_size: int | None = None
    intermediate_size: int | None = None
    depth: int | None = None  # depth / num_hidden_layers
    patch_size: int | None = None
    temporal_patch_size: int | None = None
    in_channels: int | None = None  # in_channels / num_channels
    out_hidden_size: int | None = None
    spatial_merge_size: int | None = None
    num_position_embeddings: int | None = None
    deepstack_layers: int = 0
    image_size: int | None = None
    vision_output_dim: int | None = None
    projector_input_dim: int | None = None
    projector_output_dim: int | None = None


class FamilyConfig(Model):
    """Family-specific keys of config.json that only the config-derived parameter count needs
    (``hubmem.parse.family``); not part of the report."""

    text_model_type: str | None = None  # model_type of the text config (the family formula's key)
    attention_bias: bool | None = None
    mlp_bias: bool | None = None
    qkv_bias: bool | None = None
    use_bias: bool | None = None
    use_conv_bias: bool | None = None
    bias: bool | None = None  # Falcon
    new_decoder_architecture: bool | None = None
    multi_query: bool | None = None
    parallel_attn: bool | None = None
    tie_word_embeddings_explicit: bool = False  # the root config names tie_word_embeddings
    mlp_only_layers: list[int] = Field(default_factory=list)
    decoder_sparse_step: int | None = None
    moe_layer_freq: int | None = None
    moe_layers: list[int] | None = None
    interleave_moe_layer_step: int | None = None
    intermediate_size_mlp: int | None = None
    topk_method: str | None = None
    moe_latent_size: int | None = None
    ffn_hidden_size: int | None = None
    num_ln_in_parallel_attn: int | None = None
    positions: int | None = None  # learned position embeddings (n_positions / max_position_embeddings)
    type_vocab_size: int | None = None
    relative_attention_num_buckets: int | None = None
    feed_forward_proj: str | None = None
    time_step_rank: int | None = None  # None = "auto"
    block_pattern: str | None = None  # Nemotron-H hybrid pattern (M mamba, * attention, - mlp, E moe)
    nas_blocks: list[NasBlock] | None = None
    vision: VisionTower | None = None


class RopeConfig(Model):
    """Rotary position embedding as config.json states it (the inputs of vLLM's ``get_rope`` and
    ``_get_and_verify_max_len``); not part of the report."""

    max_position_embeddings: int | None = None
    rope_type: str = "default"  # rope_scaling / rope_parameters rope_type (or type), lower case
    factor: float | None = None
    original_max_position_embeddings: int | None = None
    partial_rotary_factor: float | None = None  # partial_rotary_factor / rotary_pct
    rotary_dim: int | None = None  # an absolute rotary dimension (GPT-J style)
    local_base_freq: float | None = None  # Gemma 3: a second, local rope


class QuantConfig(Model):
    """A checkpoint's quantization settings as config files state them (``hubmem.parse.quant``): config.json
    ``quantization_config`` / ``compression_config`` / MLX ``quantization``, or the companion files
    quantize_config.json, quant_config.json, hf_quant_config.json. Interpreted with the tensor names in
    ``hubmem.estimate.weights.quant_detect``; not part of the report."""

    source: str  # where it was found
    method: str = ""  # quant_method, lower case ("" when the file names none)
    bits: float | None = None  # bits / w_bit
    group_size: int | None = None  # group_size / q_group_size
    modules_to_not_convert: list[str] = Field(default_factory=list)  # or exclude_modules
    load_in_4bit: bool = False  # bitsandbytes (load_in_4bit / _load_in_4bit)
    load_in_8bit: bool = False
    bnb_4bit_quant_type: str | None = None
    bnb_double_quant: bool = False
    llm_int8_skip_modules: list[str] | None = None
    fmt: str | None = None  # fp8 fmt
    weight_block_size: list[int] | None = None
    quant_algo: str = ""  # ModelOpt, upper case
    format: str | None = None  # compressed-tensors format
    groups: list[tuple[list[str], int | None, str | None]] = Field(
        default_factory=list
    )  # targets, bits, format
    groups_group_size: int | None = None  # compressed-tensors: the first group's weights.group_size
    ignore: list[str] = Field(default_factory=list)
    per_module: dict[str, object] = Field(default_factory=dict)  # ModelOpt quantized_layers / MLX overrides
    expert_dtype: str | None = None  # DeepSeek-V4 style routed-expert packing ("fp4")


class Architecture(Model):
    model_type: str | None = None
    architectures: list[str] = Field(default_factory=list)
    text_config_key: str | None = None  # where the text model was found ("text_config", ...), None = root
    num_layers: int | None = None
    hidden_size: int | None = None
    num_attention_heads: int | None = None
    # KV heads of an ordinary attention layer. MLA: 1 (one shared latent); encoder-decoder: decoder heads.
    num_kv_heads: int | None = None
    # head dim of K. MLA: kv_lora_rank + qk_rope_head_dim (the cached latent width, as vLLM's get_head_size)
    head_dim: int | None = None
    v_head_dim: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    max_context: int | None = None
    max_context_key: str | None = None  # the config key max_context was read from
    dtype: str | None = None  # activation dtype: bfloat16, float16, float32 (never a packed storage dtype)
    dtype_source: str | None = None  # "config:torch_dtype", "text_config:dtype", "tensors", "default"
    tie_word_embeddings: bool | None = None
    sliding_window: int | None = None
    attention_chunk_size: int | None = None
    # One entry per layer that can hold a cache (decoder layers of encoder-decoder models), from LAYER_KINDS.
    layer_kinds: list[str] = Field(default_factory=list)
    layer_kinds_source: str | None = None  # the rule that decided layer_kinds (docs/theory.md 1.3)
    # Per-layer overrides where layers differ (Nemotron-NAS, per_layer_config); None = the model-wide value.
    layer_kv_heads: list[int] | None = None
    layer_head_dims: list[int] | None = None
    layer_windows: list[int | None] | None = None
    # Decoder layers whose cross-attention caches encoder tokens (encoder-decoder: all; Mllama: cross layers).
    cross_attention_layers: list[int] = Field(default_factory=list)
    # Layers whose main kind is attention but which also run a Mamba block (Zamba "hybrid" layers).
    hybrid_mamba_layers: list[int] = Field(default_factory=list)
    num_experts: int | None = None
    experts_per_token: int | None = None
    shared_experts: int | None = None
    moe_intermediate_size: int | None = None
    shared_expert_intermediate_size: int | None = None
    first_dense_layers: int | None = None
    mtp_layers: int = 0  # multi-token-prediction draft layers (not in layer_kinds; KV only when enabled)
    mla: MLAConfig | None = None
    mamba: MambaConfig | None = None
    linear_attention: LinearAttentionConfig | None = None
    short_conv: ShortConvConfig | None = None
    encoder: EncoderConfig | None = None
    quantization_config: dict[str, object] | None = None
    # parse-only facts for the estimators, kept out of the report (exclude=True)
    family: FamilyConfig = Field(default_factory=FamilyConfig, exclude=True)
    quant: QuantConfig | None = Field(default=None, exclude=True)
    rope: RopeConfig | None = Field(default=None, exclude=True)
    notes: list[str] = Field(default_factory=list)  # config-class defaults applied, odd-but-handled values
    missing: list[str] = Field(default_factory=list)  # what could not be derived (projections then say so)
