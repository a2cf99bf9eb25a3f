"""Each layer's kind from GGUF metadata, by llama.cpp's rules (ggml-org/llama.cpp @ 0c1e570).

Sliding-window layers (``llama_hparams::set_swa_pattern``, src/llama-hparams.cpp:8-22): with a pattern ``n``,
layer ``il`` is windowed when ``n == 0 or il % n < n - 1`` (``dense_first``: ``il % n != 0``). The pattern is
the per-layer bool array ``<arch>.attention.sliding_window_pattern`` when the file has one, else that key as
a number, else the architecture's default (``load_swa_pattern``, src/llama-model.cpp:3434-3441) in
:data:`SWA_DEFAULTS`.

Recurrent layers (``is_recr``): every layer of a recurrent architecture (``llm_arch_is_recurrent``:
mamba, mamba2, rwkv*); in the hybrids, the layers without KV heads (lfm2, jamba, granitehybrid, plamo2;
nemotron_h also without a feed-forward), every layer of falcon-h1 (attention and SSM side by side), and in
qwen3next / qwen35 the layers that are not every ``full_attention_interval``-th (default 4).
"""

from __future__ import annotations

import msgspec

from hubmem.parse.gguf.keys import GGUFKeys


class SWARule(msgspec.Struct, frozen=True):
    """How an architecture's ``load_arch_hparams`` sets its windowed layers."""

    pattern: int
    kind: str = "sliding"  # "chunked": llama4's chunked attention
    dense_first: bool = False
    default_window: int | None = None  # n_swa when the file has no sliding_window key
    needs_window: bool = False  # windowed only when sliding_window is present and > 0
    source: str = ""


SWA_DEFAULTS: dict[str, SWARule] = {
    "gemma2": SWARule(2, default_window=4096, source="src/models/gemma2.cpp:4-6"),
    "gemma3": SWARule(6, needs_window=True, source="src/models/gemma3.cpp:4-8"),
    "cohere2": SWARule(4, source="src/models/cohere2.cpp:4-5"),
    "gpt-oss": SWARule(2, source="src/models/openai-moe.cpp:6-9"),
    "olmo2": SWARule(4, needs_window=True, source="src/models/olmo2.cpp:6-9"),
    "llama4": SWARule(4, kind="chunked", default_window=8192, source="src/models/llama4.cpp:8-19"),
}
RECURRENT_ARCHS = {"mamba": "mamba", "mamba2": "mamba2"}  # rwkv* state is not modelled (see missing)
HYBRID_NO_KV_HEADS = {"lfm2": "conv", "lfm2moe": "conv", "jamba": "mamba", "granitehybrid": "mamba2"}
HYBRID_NO_KV_HEADS |= {"plamo2": "mamba2", "nemotron_h": "mamba2", "nemotron_h_moe": "mamba2"}
INTERVAL_HYBRIDS = ("qwen3next", "qwen35", "qwen35moe")  # gated DeltaNet layers between full ones


class LayerLayout(msgspec.Struct, frozen=True):
    kinds: list[str]
    window: int | None
    source: str
    notes: list[str]


def _swa_flags(keys: GGUFKeys, n_layer: int) -> tuple[list[bool], SWARule | None, int | None, list[str]]:
    """(windowed per layer, the rule, the window, notes)."""
    rule = SWA_DEFAULTS.get(keys.arch)
    window = keys.get_int("attention.sliding_window")
    if rule is None:
        notes = []
        if window:
            notes.append(
                f"{keys.arch}: sliding_window {window:,} but hubmem does not know which layers llama.cpp "
                "windows for this architecture; every layer counted as full attention (an upper bound)"
            )
        return [False] * n_layer, None, None, notes
    if window == 0 or (rule.needs_window and not window):
        return [False] * n_layer, None, None, []
    window = window or rule.default_window
    flags = keys.flags("attention.sliding_window_pattern", n_layer)
    if flags is None:
        n = keys.get_int("attention.sliding_window_pattern")
        n = rule.pattern if n is None else n
        if rule.dense_first:
            flags = [n == 0 or il % n != 0 for il in range(n_layer)]
        else:
            flags = [n == 0 or il % n < n - 1 for il in range(n_layer)]
    return flags, rule, window, []


def _recurrent_flags(
    keys: GGUFKeys, n_layer: int, kv_heads: list[int] | None
) -> tuple[list[bool], str | None]:
    """(recurrent per layer, the recurrent layer kind)."""
    arch = keys.arch
    if "rwkv" in arch:
        return [True] * n_layer, None
    if arch in RECURRENT_ARCHS:
        return [True] * n_layer, RECURRENT_ARCHS[arch]
    if arch in HYBRID_NO_KV_HEADS and kv_heads is not None:
        flags = [h == 0 for h in kv_heads]
        if arch.startswith("nemotron_h"):
            ff = keys.per_layer("feed_forward_length", n_layer) or [0] * n_layer
            flags = [f and ff[il] == 0 for il, f in enumerate(flags)]
        return flags, HYBRID_NO_KV_HEADS[arch]
    if arch in INTERVAL_HYBRIDS:
        interval = keys.get_int("full_attention_interval") or 4
        return [(il + 1) % interval != 0 for il in range(n_layer)], "linear"
    return [False] * n_layer, None


def layer_layout(keys: GGUFKeys, n_layer: int, kv_heads: list[int] | None, mla: bool) -> LayerLayout:
    """Each layer's kind (full / sliding / chunked / mla / mamba / mamba2 / conv / linear) as llama.cpp sets
    its ``is_swa`` / ``is_recr`` flags."""
    swa, rule, window, notes = _swa_flags(keys, n_layer)
    recr, recr_kind = _recurrent_flags(keys, n_layer, kv_heads)
    attention = "mla" if mla else "full"
    kinds = []
    for il in range(n_layer):
        if recr[il]:
            kinds.append(recr_kind or "unknown")
        elif swa[il] and rule is not None:
            kinds.append(rule.kind)
        else:
            kinds.append(attention)
    source = f"gguf {keys.arch}: llama.cpp " + (rule.source if rule is not None else "load_hparams")
    if keys.arch.startswith("rwkv"):
        notes.append(f"{keys.arch}: RWKV state is not modelled by hubmem")
    return LayerLayout(kinds, window, source, notes)
