"""Recurrent token mixers, which keep a fixed-size state instead of a KV cache: Mamba-1/2, linear
attention (gated DeltaNet, lightning) and short convolutions (docs/theory.md 1.2)."""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from hubmem.parse.dtype import normalize_dtype
from hubmem.parse.model_types import (
    GDN_PREFIXES,
    LIGHTNING_TYPES,
    MAMBA1_TYPES,
    MAMBA2_TYPES,
    SHORT_CONV_TYPES,
)
from hubmem.parse.reader import Reader
from hubmem.schema.architecture import LinearAttentionConfig, MambaConfig, ShortConvConfig


class RecurrentMixers(msgspec.Struct, frozen=True):
    mamba: MambaConfig | None = None
    linear: LinearAttentionConfig | None = None
    short_conv: ShortConvConfig | None = None

    @property
    def kind(self) -> str | None:
        """What a recurrent layer of this model is: "mamba" | "mamba2" | "linear" | "conv" | None."""
        if self.mamba is not None:
            return "mamba" if self.mamba.version == 1 else "mamba2"
        if self.linear is not None:
            return "linear"
        if self.short_conv is not None:
            return "conv"
        return None


def read_recurrent_mixers(
    r: Reader, text_type: str, hidden: int | None, nh: int | None, head_dim: int | None, missing: list[str]
) -> RecurrentMixers:
    """The model's recurrent mixers; dimensions that are incomplete are named in ``missing``."""
    mamba = read_mamba(r, text_type, hidden, missing)
    linear = None if mamba is not None else read_linear_attention(r, text_type, nh, head_dim, missing)
    return RecurrentMixers(
        mamba=mamba, linear=linear, short_conv=read_short_conv(r, text_type, hidden, missing)
    )


def read_short_conv(
    r: Reader, text_type: str, hidden: int | None, missing: list[str]
) -> ShortConvConfig | None:
    """LFM2: the short convolution's kernel and width."""
    if text_type not in SHORT_CONV_TYPES:
        return None
    kernel = r.get_int("conv_L_cache")
    dim = r.get_int("conv_dim") or hidden
    if kernel is not None and dim is not None:
        return ShortConvConfig(dim=dim, conv_kernel=kernel)
    missing.append("short conv: conv_L_cache / hidden_size unknown")
    return None


def read_mamba(r: Reader, text_type: str, hidden: int | None, missing: list[str]) -> MambaConfig | None:
    """The Mamba mixer's dimensions; None for a model without one, or (named in ``missing``) when the
    dimensions are incomplete."""
    version = _mamba_version(r, text_type)
    if version is None:
        return None
    ssm = _SsmState(
        state_size=r.get_int("ssm_state_size", "state_size", "mamba_d_state"),
        conv_kernel=r.get_int("conv_kernel", "mamba_d_conv", "d_conv"),
        cache_dtype=normalize_dtype(r.raw("mamba_ssm_cache_dtype")),
    )
    if version == 1:
        return _read_mamba1(r, text_type, hidden, ssm, missing)
    return _read_mamba2(r, text_type, hidden, ssm, missing)


class _SsmState(NamedTuple):
    """What both Mamba versions read the same way."""

    state_size: int | None
    conv_kernel: int | None
    cache_dtype: str | None


def _mamba_version(r: Reader, text_type: str) -> int | None:
    if text_type in MAMBA2_TYPES or (r.has("mamba_num_heads") or r.has("n_mamba_heads")):
        return 2
    if text_type in MAMBA1_TYPES:
        return 1
    return None


def _read_mamba1(
    r: Reader, text_type: str, hidden: int | None, ssm: _SsmState, missing: list[str]
) -> MambaConfig | None:
    expand = r.get_float("mamba_expand" if text_type in ("jamba", "zamba") else "expand")
    # Jamba/Zamba's intermediate_size belongs to the MLP; falcon-mamba ships expand=16 but
    # intermediate_size=8192 and the explicit key wins (docs/theory.md 1.2).
    inter: int | None = None if text_type in ("jamba", "zamba") else r.get_int("intermediate_size")
    if inter is None and expand is not None and hidden is not None:
        inter = int(expand * hidden)
    state, conv = ssm.state_size, ssm.conv_kernel
    if inter is None or state is None or conv is None:
        missing.append("mamba: intermediate_size/state_size/conv_kernel not all known")
        return None
    return MambaConfig(
        version=1,
        intermediate_size=inter,
        state_size=state,
        conv_kernel=conv,
        ssm_cache_dtype=ssm.cache_dtype,
    )


def _read_mamba2(
    r: Reader, text_type: str, hidden: int | None, ssm: _SsmState, missing: list[str]
) -> MambaConfig | None:
    heads, head_dim, groups, inter = _mamba2_heads(r, text_type, hidden)
    state, conv, ssm_dtype = ssm
    if inter is None or state is None or conv is None or heads is None or head_dim is None:
        missing.append("mamba2: num_heads/head_dim/state_size/conv_kernel not all known")
        return None
    if text_type == "nemotron_h" and ssm_dtype is None:
        ssm_dtype = "float32"  # vLLM NemotronHForCausalLMConfig default
    return MambaConfig(
        version=2,
        intermediate_size=inter,
        state_size=state,
        conv_kernel=conv,
        num_heads=heads,
        head_dim=head_dim,
        n_groups=groups,
        ssm_cache_dtype=ssm_dtype,
    )


def _mamba2_heads(
    r: Reader, text_type: str, hidden: int | None
) -> tuple[int | None, int | None, int, int | None]:
    """(num_heads, head_dim, n_groups, intermediate_size): any two of heads / head_dim / intermediate size
    (num_heads x head_dim, else mamba_expand x hidden_size) give the third."""
    plain = text_type == "mamba2"
    heads = r.get_int("mamba_num_heads", "n_mamba_heads", "mamba_n_heads", *(("num_heads",) if plain else ()))
    head_dim = r.get_int("mamba_head_dim", "mamba_headdim", "mamba_d_head", *(("head_dim",) if plain else ()))
    groups = r.get_int("n_groups", "mamba_ngroups", "mamba_n_groups") or 1
    inter = heads * head_dim if heads is not None and head_dim is not None else None
    if inter is None:
        expand = r.get_float("mamba_expand", "expand")
        if expand is not None and hidden is not None:
            inter = int(expand * hidden)
    if heads is None and head_dim is not None and inter is not None:
        heads = inter // head_dim
    if head_dim is None and heads is not None and inter is not None:
        head_dim = inter // heads  # Zamba2Config: mamba_headdim = mamba_expand * hidden_size // n_mamba_heads
    return heads, head_dim, groups, inter


def read_linear_attention(
    r: Reader, text_type: str, nh: int | None, hd: int | None, missing: list[str]
) -> LinearAttentionConfig | None:
    if text_type.startswith(GDN_PREFIXES) or r.has("linear_num_value_heads"):
        nk = r.get_int("linear_num_key_heads")
        nv = r.get_int("linear_num_value_heads")
        dk = r.get_int("linear_key_head_dim")
        dv = r.get_int("linear_value_head_dim")
        k = r.get_int("linear_conv_kernel_dim")
        if nk is None or nv is None or dk is None or dv is None or k is None:
            missing.append(
                "gated DeltaNet: linear_num_key/value_heads, linear_key/value_head_dim or conv kernel unknown"
            )
            return None
        return LinearAttentionConfig(
            kind="gated_deltanet",
            num_key_heads=nk,
            num_value_heads=nv,
            key_head_dim=dk,
            value_head_dim=dv,
            conv_kernel=k,
        )
    if text_type in LIGHTNING_TYPES or r.has("attn_type_list"):
        if nh is None or hd is None:
            missing.append("lightning attention: num_attention_heads/head_dim unknown")
            return None
        return LinearAttentionConfig(
            kind="lightning",
            num_key_heads=nh,
            num_value_heads=nh,
            key_head_dim=hd,
            value_head_dim=hd,
            conv_kernel=0,
        )
    return None
