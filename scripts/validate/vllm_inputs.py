"""Model inputs for the vLLM start-up checks, from what the repository holds (no network, no GPU).

* ``fixture_snapshot(repo)``: a repo of ``fixtures/repos/`` (real config.json, the committed safetensors
  headers) as the fetch stage would hand it over;
* ``config_snapshot(config, repo)``: a model the repository has only the config.json of
  (``fixtures/theory/``, ``fixtures/vllm/configs/``): its tensor list is generated from the config in the
  checkpoint's naming (``checkpoint_tensors``) for the families the calibration rows need: Llama / Qwen2 /
  Qwen3 dense, Qwen3-MoE, Qwen3-Next and gpt-oss (MXFP4 experts). Generated, not read: the validation table
  says which rows rest on such a list.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from hubmem.fakehub.fixtures.store import FixtureStore
from hubmem.formats.safetensors import Tensor, parse_header
from hubmem.snapshot import Snapshot, WeightFile
from scripts import ROOT

FIXTURES = ROOT / "fixtures"
Spec = tuple[str, str, tuple[int, ...]]  # (tensor name, safetensors dtype, shape)
_COMPANIONS = ("quantize_config.json", "quant_config.json", "hf_quant_config.json", "params.json")


@lru_cache(maxsize=1)
def _store() -> FixtureStore:
    return FixtureStore(FIXTURES)


def fixture_snapshot(repo_id: str) -> Snapshot:
    repo = _store().get(repo_id)
    if repo is None:
        raise KeyError(f"{repo_id} is not a fixture repo")
    files = []
    for f in repo.counted_safetensors():
        header = f.header_json()
        if header is None or f.header_bytes is None:
            continue
        files.append(WeightFile(f.path, len(f.header_bytes), parse_header(header, file=f.path), size=f.size))
    extra = {name: repo.json_file(name) for name in _COMPANIONS if repo.json_file(name) is not None}
    return Snapshot(
        repo_id=repo_id,
        revision="main",
        commit=repo.sha,
        source="local",
        config=repo.json_file("config.json"),
        files=files,
        extra=extra,
    )


def load_config(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    data.pop("_source", None)
    return data


def _header(tensors: list[Spec]) -> dict[str, Any]:
    sizes = {"BF16": 2, "F32": 4, "U8": 1, "F8_E4M3": 1}
    header: dict[str, Any] = {}
    offset = 0
    for name, dtype, shape in tensors:
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    return header


def config_snapshot(config: dict[str, Any], repo_id: str) -> Snapshot:
    """A snapshot of ``config`` with a generated checkpoint tensor list (one file)."""
    header = _header(checkpoint_tensors(config))
    weights = WeightFile(path="model.safetensors", header_length=0, header=parse_header(header), size=None)
    return Snapshot(
        repo_id=repo_id, revision="main", commit=None, source="local", config=config, files=[weights]
    )


def _attention(p: str, c: dict[str, Any], gated_q: bool = False) -> list[Spec]:
    h, nh, nkv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    hd = c.get("head_dim") or h // nh
    q_rows = nh * hd * (2 if gated_q else 1)
    out: list[Spec] = [
        (f"{p}.self_attn.q_proj.weight", "BF16", (q_rows, h)),
        (f"{p}.self_attn.k_proj.weight", "BF16", (nkv * hd, h)),
        (f"{p}.self_attn.v_proj.weight", "BF16", (nkv * hd, h)),
        (f"{p}.self_attn.o_proj.weight", "BF16", (h, nh * hd)),
    ]
    if c.get("attention_bias") or c.get("model_type") == "qwen2":
        out += [
            (f"{p}.self_attn.{x}_proj.bias", "BF16", (n,))
            for x, n in (("q", q_rows), ("k", nkv * hd), ("v", nkv * hd))
        ]
    if str(c.get("model_type", "")).startswith("qwen3"):
        out += [
            (f"{p}.self_attn.q_norm.weight", "BF16", (hd,)),
            (f"{p}.self_attn.k_norm.weight", "BF16", (hd,)),
        ]
    return out


def _mlp(p: str, h: int, inter: int) -> list[Spec]:
    return [
        (f"{p}.gate_proj.weight", "BF16", (inter, h)),
        (f"{p}.up_proj.weight", "BF16", (inter, h)),
        (f"{p}.down_proj.weight", "BF16", (h, inter)),
    ]


def _experts(p: str, c: dict[str, Any]) -> list[Spec]:
    h, e, inter = c["hidden_size"], c["num_experts"], c["moe_intermediate_size"]
    out: list[Spec] = [(f"{p}.gate.weight", "BF16", (e, h))]
    for i in range(e):
        out += _mlp(f"{p}.experts.{i}", h, inter)
    if c.get("shared_expert_intermediate_size"):
        out += _mlp(f"{p}.shared_expert", h, c["shared_expert_intermediate_size"])
        out.append((f"{p}.shared_expert_gate.weight", "BF16", (1, h)))
    return out


def _gdn(p: str, c: dict[str, Any]) -> list[Spec]:
    h, nk, dk = c["hidden_size"], c["linear_num_key_heads"], c["linear_key_head_dim"]
    nv, dv, k = c["linear_num_value_heads"], c["linear_value_head_dim"], c["linear_conv_kernel_dim"]
    conv = 2 * nk * dk + nv * dv
    return [
        (f"{p}.linear_attn.in_proj_qkvz.weight", "BF16", (2 * nk * dk + 2 * nv * dv, h)),
        (f"{p}.linear_attn.in_proj_ba.weight", "BF16", (2 * nv, h)),
        (f"{p}.linear_attn.conv1d.weight", "BF16", (conv, 1, k)),
        (f"{p}.linear_attn.dt_bias", "BF16", (nv,)),
        (f"{p}.linear_attn.A_log", "BF16", (nv,)),
        (f"{p}.linear_attn.norm.weight", "BF16", (dv,)),
        (f"{p}.linear_attn.out_proj.weight", "BF16", (h, nv * dv)),
    ]


def _gpt_oss_layer(p: str, c: dict[str, Any]) -> list[Spec]:
    h, e, inter = c["hidden_size"], c["num_local_experts"], c["intermediate_size"]
    out: list[Spec] = [*_attention(p, c), (f"{p}.self_attn.sinks", "BF16", (c["num_attention_heads"],))]
    out += [(f"{p}.self_attn.o_proj.bias", "BF16", (h,)), (f"{p}.mlp.router.weight", "BF16", (e, h))]
    out.append((f"{p}.mlp.router.bias", "BF16", (e,)))
    x = f"{p}.mlp.experts"
    out += [
        (f"{x}.gate_up_proj_blocks", "U8", (e, 2 * inter, h // 32, 16)),
        (f"{x}.gate_up_proj_scales", "U8", (e, 2 * inter, h // 32)),
        (f"{x}.gate_up_proj_bias", "BF16", (e, 2 * inter)),
        (f"{x}.down_proj_blocks", "U8", (e, h, inter // 32, 16)),
        (f"{x}.down_proj_scales", "U8", (e, h, inter // 32)),
        (f"{x}.down_proj_bias", "BF16", (e, h)),
    ]
    return out


def _layer(i: int, c: dict[str, Any]) -> list[Spec]:
    p, h, kind = f"model.layers.{i}", c["hidden_size"], c.get("model_type", "")
    norms = [
        (f"{p}.input_layernorm.weight", "BF16", (h,)),
        (f"{p}.post_attention_layernorm.weight", "BF16", (h,)),
    ]
    if kind == "gpt_oss":
        return _gpt_oss_layer(p, c) + norms
    if kind == "qwen3_next":
        full = (i + 1) % c["full_attention_interval"] == 0
        mixer = _attention(p, c, gated_q=True) if full else _gdn(p, c)
        return mixer + _experts(f"{p}.mlp", c) + norms
    mlp = _experts(f"{p}.mlp", c) if c.get("num_experts") else _mlp(f"{p}.mlp", h, c["intermediate_size"])
    return _attention(p, c) + mlp + norms


def checkpoint_tensors(c: dict[str, Any]) -> list[Spec]:
    """(name, dtype, shape) of the checkpoint a config describes, in the families above."""
    h, vocab = c["hidden_size"], c["vocab_size"]
    out: list[Spec] = [("model.embed_tokens.weight", "BF16", (vocab, h))]
    for i in range(c["num_hidden_layers"]):
        out += _layer(i, c)
    out.append(("model.norm.weight", "BF16", (h,)))
    if not c.get("tie_word_embeddings"):
        out.append(("lm_head.weight", "BF16", (vocab, h)))
    return out


def tensors_of(snapshot: Snapshot) -> list[Tensor]:
    from hubmem.pipeline import parse_snapshot_tensors

    return parse_snapshot_tensors(snapshot, check_sizes=False)
