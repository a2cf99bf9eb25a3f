"""Logical parameters of quantized checkpoints, from real (tiny) safetensors files.

Each test writes a file in a format's on-disk layout (shapes as vLLM / transformers / bitsandbytes
create them, docs/theory.md 3.2), with the numpy backend of the safetensors library or, for dtypes numpy
lacks (F8 / F4 / E8M0), byte by byte (and then checked with the library's reader). The expected
parameter count is the *unpacked* shape product computed here, ``in_features x out_features`` per
quantized Linear, plus the plain tensors; scales, zero points and other bookkeeping never count.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save

from hubmem.estimate.weights.report import estimate_weights
from hubmem.formats.dtypes import DTYPE_BITS
from hubmem.formats.safetensors import decode_header, parse_header, parse_tensors, read_header_length
from hubmem.parse.config import parse_config
from hubmem.schema.architecture import Architecture
from hubmem.schema.weights import WeightsReport
from hubmem.snapshot import Snapshot, WeightFile

from support.paths import repo_config

HIDDEN, INTER, VOCAB = 256, 512, 1000


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def raw_safetensors(spec: dict[str, tuple[str, tuple[int, ...]]]) -> bytes:
    """A file of zeros in any dtype, built from the format description."""
    header: dict[str, Any] = {}
    off = 0
    for name, (dtype, shape) in spec.items():
        n = math.prod(shape) * DTYPE_BITS[dtype] // 8
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hb = json.dumps(header).encode()
    hb += b" " * (-len(hb) % 8)
    return struct.pack("<Q", len(hb)) + hb + bytes(off)


def analyze(
    blob: bytes,
    tmp_path: Path,
    *,
    config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    arch: Architecture | None = None,
) -> WeightsReport:
    path = tmp_path / "model.safetensors"
    path.write_bytes(blob)
    with safe_open(str(path), "np") as f:  # the library accepts the file
        assert len(list(f.keys())) > 0
    n = read_header_length(blob[:8])
    header = decode_header(blob[8 : 8 + n])
    tensors = parse_tensors(header, file="model.safetensors", data_size=len(blob) - 8 - n)
    snap = Snapshot(
        repo_id="t/q",
        revision="main",
        commit=None,
        source="local",
        config=config,
        files=[WeightFile("model.safetensors", n, parse_header(header), len(blob))],
        extra=extra or {},
    )
    parsed = parse_config(config, tensors=tensors, companions=extra).model_copy(update={"num_layers": 1})
    return estimate_weights(snap, tensors, arch or parsed)


# one decoder layer: (module, in_features, out_features)
LINEARS = [
    ("model.layers.0.self_attn.q_proj", HIDDEN, HIDDEN),
    ("model.layers.0.self_attn.k_proj", HIDDEN, HIDDEN // 4),
    ("model.layers.0.self_attn.v_proj", HIDDEN, HIDDEN // 4),
    ("model.layers.0.self_attn.o_proj", HIDDEN, HIDDEN),
    ("model.layers.0.mlp.gate_proj", HIDDEN, INTER),
    ("model.layers.0.mlp.up_proj", HIDDEN, INTER),
    ("model.layers.0.mlp.down_proj", INTER, HIDDEN),
]
LINEAR_PARAMS = sum(i * o for _, i, o in LINEARS)


def plain_f16() -> dict[str, np.ndarray]:
    return {
        "model.embed_tokens.weight": np.zeros((VOCAB, HIDDEN), np.float16),
        "model.layers.0.input_layernorm.weight": np.zeros(HIDDEN, np.float16),
        "model.layers.0.post_attention_layernorm.weight": np.zeros(HIDDEN, np.float16),
        "model.norm.weight": np.zeros(HIDDEN, np.float16),
        "lm_head.weight": np.zeros((VOCAB, HIDDEN), np.float16),
    }


PLAIN_PARAMS = 2 * VOCAB * HIDDEN + 3 * HIDDEN


def gptq_file(bits: int, group: int) -> dict[str, np.ndarray]:
    """AutoGPTQ QuantLinear (vLLM gptq.py create_weights): qweight I32 [in*bits/32, out],
    qzeros I32 [in/g, out*bits/32], scales F16 [in/g, out], g_idx I32 [in]."""
    arrays = plain_f16()
    for m, i, o in LINEARS:
        arrays[f"{m}.qweight"] = np.zeros((i * bits // 32, o), np.int32)
        arrays[f"{m}.qzeros"] = np.zeros((i // group, o * bits // 32), np.int32)
        arrays[f"{m}.scales"] = np.zeros((i // group, o), np.float16)
        arrays[f"{m}.g_idx"] = np.zeros(i, np.int32)
    return arrays


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_gptq_unpacks_qweight_and_skips_bookkeeping(bits: int, tmp_path: Path) -> None:
    cfg = {
        "quantization_config": {"quant_method": "gptq", "bits": bits, "group_size": 128, "desc_act": False}
    }
    arrays = gptq_file(bits, 128)
    w = analyze(save(arrays), tmp_path, config=cfg)
    assert w.parameters == LINEAR_PARAMS + PLAIN_PARAMS  # 3-bit too: 32/3 per I32, not floor(32/3) = 10
    q = w.quantization
    assert q is not None and q.method == "gptq" and q.bits == bits and q.group_size == 128
    assert q.quantized_parameters == LINEAR_PARAMS
    assert q.aux_tensors == 3 * len(LINEARS)
    aux_bytes = sum(
        a.nbytes for k, a in arrays.items() if k.rsplit(".", 1)[-1] in ("qzeros", "scales", "g_idx")
    )
    qweight_bytes = sum(a.nbytes for k, a in arrays.items() if k.endswith(".qweight"))
    assert (q.quantized_bytes, q.aux_bytes) == (qweight_bytes, aux_bytes)
    assert q.bits_per_parameter == pytest.approx((qweight_bytes + aux_bytes) * 8 / LINEAR_PARAMS, abs=1e-4)
    assert w.by_dtype["I32"].parameters == LINEAR_PARAMS  # what the Hub page shows as "I32"
    assert w.by_dtype["I32"].elements == sum(a.size for a in arrays.values() if a.dtype == np.int32)
    assert w.by_component["attention"].parameters == sum(i * o for m, i, o in LINEARS if "self_attn" in m)


def test_gptq_config_in_quantize_config_json_of_a_real_repo(tmp_path: Path) -> None:
    """TheBloke repos keep the settings in quantize_config.json (no quant_method in it)."""
    qcfg = repo_config("TheBloke__Llama-2-13B-chat-GPTQ", "quantize_config.json")
    assert "quant_method" not in qcfg
    w = analyze(
        save(gptq_file(qcfg["bits"], qcfg["group_size"])),
        tmp_path,
        config={},
        extra={"quantize_config.json": qcfg},
    )
    assert w.parameters == LINEAR_PARAMS + PLAIN_PARAMS
    assert w.quantization is not None and w.quantization.source == "quantize_config.json"


def test_gptq_without_any_config_is_inferred_from_names_and_shapes(tmp_path: Path) -> None:
    w = analyze(save(gptq_file(8, 64)), tmp_path, config=None)
    q = w.quantization
    assert q is not None and q.method == "gptq" and q.bits == 8 and "tensor names" in (q.source or "")
    assert w.parameters == LINEAR_PARAMS + PLAIN_PARAMS


def test_awq_layout(tmp_path: Path) -> None:
    """AutoAWQ GEMM (vLLM awq.py): qweight I32 [in, out*bits/32], qzeros, scales F16 [in/g, out]."""
    arrays = plain_f16()
    for m, i, o in LINEARS:
        arrays[f"{m}.qweight"] = np.zeros((i, o * 4 // 32), np.int32)
        arrays[f"{m}.qzeros"] = np.zeros((i // 128, o * 4 // 32), np.int32)
        arrays[f"{m}.scales"] = np.zeros((i // 128, o), np.float16)
    cfg = {"quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm"}}
    w = analyze(save(arrays), tmp_path, config=cfg)
    assert w.parameters == LINEAR_PARAMS + PLAIN_PARAMS
    assert w.quantization is not None and w.quantization.aux_tensors == 2 * len(LINEARS)
    # without a config the AWQ layout is recognised (no g_idx) and 4 bits read off the shapes
    w2 = analyze(save(arrays), tmp_path, config=None)
    assert w2.quantization is not None and w2.quantization.method == "awq" and w2.quantization.bits == 4
    assert w2.parameters == w.parameters


def bnb4_file(*, double_quant: bool, storage: type = np.uint8) -> dict[str, np.ndarray]:
    """bitsandbytes Params4bit as transformers saves it (bitsandbytes _ops.quantize_4bit,
    QuantState.as_dict(packed=True)): weight [(n+1)//(2*itemsize), 1], absmax per 64 values, quant_map,
    nested_* with double quantization, and the packed quant_state JSON."""
    arrays = plain_f16()
    itemsize = np.dtype(storage).itemsize
    for m, i, o in LINEARS:
        n = i * o
        blocks = cdiv(n, 64)
        arrays[f"{m}.weight"] = np.zeros(((n + 1) // (2 * itemsize), 1), storage)
        arrays[f"{m}.weight.quant_map"] = np.zeros(16, np.float32)
        if double_quant:
            arrays[f"{m}.weight.absmax"] = np.zeros(blocks, np.uint8)
            arrays[f"{m}.weight.nested_absmax"] = np.zeros(cdiv(blocks, 256), np.float32)
            arrays[f"{m}.weight.nested_quant_map"] = np.zeros(256, np.float32)
        else:
            arrays[f"{m}.weight.absmax"] = np.zeros(blocks, np.float32)
        arrays[f"{m}.weight.quant_state.bitsandbytes__nf4"] = np.zeros(120, np.uint8)
    return arrays


@pytest.mark.parametrize("double_quant", [False, True])
def test_bitsandbytes_4bit(double_quant: bool, tmp_path: Path) -> None:
    cfg = {
        "quantization_config": {
            "quant_method": "bitsandbytes",
            "load_in_4bit": True,
            "bnb_4bit_quant_type": "nf4",
            "bnb_4bit_use_double_quant": double_quant,
        }
    }
    arrays = bnb4_file(double_quant=double_quant)
    w = analyze(save(arrays), tmp_path, config=cfg)
    assert w.parameters == LINEAR_PARAMS + PLAIN_PARAMS
    q = w.quantization
    assert q is not None and q.method == "bitsandbytes-4bit" and q.format == "nf4"
    assert q.group_size == 64  # read off absmax: values per absmax entry
    assert q.aux_tensors == len(LINEARS) * (5 if double_quant else 3)
    stored = sum(a.nbytes for k, a in arrays.items() if k.split(".weight")[0] in {m for m, _, _ in LINEARS})
    assert q.bits_per_parameter == pytest.approx(stored * 8 / LINEAR_PARAMS, abs=1e-4)
    # theory 3.2: absmax alone costs 32/64 bits per value, or 8/64 + 32/(64*256) with double quantization
    absmax = sum(a.nbytes for k, a in arrays.items() if k.endswith(("absmax", "nested_absmax")))
    assert absmax * 8 / LINEAR_PARAMS == pytest.approx(
        32 / 64 if not double_quant else 8 / 64 + 32 / 64 / 256, rel=0.01
    )


def test_bitsandbytes_4bit_with_16_bit_quant_storage(tmp_path: Path) -> None:
    """bnb_4bit_quant_storage=float16 (FSDP-QLoRA): four 4-bit values per stored element."""
    cfg = {
        "quantization_config": {
            "quant_method": "bitsandbytes",
            "load_in_4bit": True,
            "bnb_4bit_quant_storage": "float16",
        }
    }
    w = analyze(save(bnb4_file(double_quant=False, storage=np.float16)), tmp_path, config=cfg)
    assert w.parameters == LINEAR_PARAMS + PLAIN_PARAMS
    # and inferred without any config
    w2 = analyze(save(bnb4_file(double_quant=False, storage=np.float16)), tmp_path, config=None)
    assert w2.parameters == w.parameters


def test_bitsandbytes_8bit(tmp_path: Path) -> None:
    arrays = plain_f16()
    for m, i, o in LINEARS:
        arrays[f"{m}.weight"] = np.zeros((o, i), np.int8)
        arrays[f"{m}.SCB"] = np.zeros(o, np.float32)
        arrays[f"{m}.weight_format"] = np.array(0, np.uint8)
    cfg = {"quantization_config": {"quant_method": "bitsandbytes", "load_in_8bit": True}}
    w = analyze(save(arrays), tmp_path, config=cfg)
    assert w.parameters == LINEAR_PARAMS + PLAIN_PARAMS
    q = w.quantization
    assert q is not None and q.method == "bitsandbytes-8bit" and q.quantized_parameters == LINEAR_PARAMS
    assert q.aux_tensors == 2 * len(LINEARS)


def test_mxfp4_gpt_oss_experts(tmp_path: Path) -> None:
    """gpt-oss: *_blocks U8 [E, out, in/32, 16] hold two e2m1 values per byte; *_scales U8 [E, out, in/32]."""
    e, h, inter = 4, 64, 96
    arrays = plain_f16()
    x = "model.layers.0.mlp.experts"
    for name, out, k in (("gate_up_proj", 2 * inter, h), ("down_proj", h, inter)):
        arrays[f"{x}.{name}_blocks"] = np.zeros((e, out, k // 32, 16), np.uint8)
        arrays[f"{x}.{name}_scales"] = np.zeros((e, out, k // 32), np.uint8)
        arrays[f"{x}.{name}_bias"] = np.zeros((e, out), np.float16)
    arrays["model.layers.0.mlp.router.weight"] = np.zeros((e, h), np.float16)
    cfg = repo_config("openai__gpt-oss-20b")
    w = analyze(save(arrays), tmp_path, config={"quantization_config": cfg["quantization_config"]})
    experts = e * (2 * inter * h + h * inter)
    assert w.by_dtype["U8"].parameters == experts
    assert w.parameters == experts + e * (2 * inter + h) + e * h + PLAIN_PARAMS
    q = w.quantization
    assert q is not None and q.aux_tensors == 2 and q.bits_per_parameter == pytest.approx(4.25)


W4A16_CONFIG = {
    "quant_method": "compressed-tensors",
    "format": "pack-quantized",
    "config_groups": {
        "group_0": {
            "targets": ["Linear"],
            "weights": {
                "num_bits": 4,
                "type": "int",
                "symmetric": True,
                "group_size": 128,
                "strategy": "group",
            },
        }
    },
    "ignore": ["lm_head"],
}


def test_compressed_tensors_pack_quantized_w4a16(tmp_path: Path) -> None:
    """weight_packed I32 [out, in*4/32], weight_scale F16 [out, in/g], weight_shape I32 [2]."""
    arrays = plain_f16()
    for m, i, o in LINEARS:
        arrays[f"{m}.weight_packed"] = np.zeros((o, i * 4 // 32), np.int32)
        arrays[f"{m}.weight_scale"] = np.zeros((o, i // 128), np.float16)
        arrays[f"{m}.weight_shape"] = np.array([o, i], np.int32)
    w = analyze(save(arrays), tmp_path, config={"quantization_config": W4A16_CONFIG})
    assert w.parameters == LINEAR_PARAMS + PLAIN_PARAMS
    q = w.quantization
    assert q is not None and q.method == "compressed-tensors" and q.bits == 4 and q.group_size == 128
    assert q.aux_tensors == 2 * len(LINEARS)


def test_compressed_tensors_mixed_widths_follow_group_targets(tmp_path: Path) -> None:
    cfg = {
        "quant_method": "compressed-tensors",
        "format": "pack-quantized",
        "config_groups": {
            "attn": {"targets": ["re:.*self_attn.*"], "weights": {"num_bits": 8, "group_size": 128}},
            "mlp": {"targets": ["re:.*mlp.*_proj$"], "weights": {"num_bits": 4, "group_size": 128}},
        },
    }
    arrays = plain_f16()
    for m, i, o in LINEARS:
        bits = 8 if "self_attn" in m else 4
        arrays[f"{m}.weight_packed"] = np.zeros((o, i * bits // 32), np.int32)
        arrays[f"{m}.weight_scale"] = np.zeros((o, i // 128), np.float16)
    w = analyze(save(arrays), tmp_path, config={"quantization_config": cfg})
    assert w.parameters == LINEAR_PARAMS + PLAIN_PARAMS
    assert w.quantization is not None and w.quantization.bits is None  # mixed


def fp4_linears(
    weight_name: str, extra: dict[str, tuple[str, tuple[int, ...]]]
) -> dict[str, tuple[str, tuple[int, ...]]]:
    spec: dict[str, tuple[str, tuple[int, ...]]] = {
        "model.embed_tokens.weight": ("BF16", (VOCAB, HIDDEN)),
        "model.norm.weight": ("BF16", (HIDDEN,)),
        "lm_head.weight": ("BF16", (VOCAB, HIDDEN)),
    }
    for m, i, o in LINEARS:
        spec[f"{m}.{weight_name}"] = ("U8", (o, i // 2))
        spec[f"{m}.weight_scale"] = ("F8_E4M3", (o, i // 16))
        for k, v in extra.items():
            spec[f"{m}.{k}"] = v
    return spec


NVFP4_PLAIN = 2 * VOCAB * HIDDEN + HIDDEN


def test_nvfp4_compressed_tensors(tmp_path: Path) -> None:
    spec = fp4_linears(
        "weight_packed", {"weight_global_scale": ("F32", (1,)), "input_global_scale": ("F32", (1,))}
    )
    cfg = {
        "quantization_config": {
            "quant_method": "compressed-tensors",
            "format": "nvfp4-pack-quantized",
            "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "group_size": 16}}},
        }
    }
    w = analyze(raw_safetensors(spec), tmp_path, config=cfg)
    assert w.parameters == LINEAR_PARAMS + NVFP4_PLAIN
    q = w.quantization
    assert q is not None and q.aux_tensors == 3 * len(LINEARS)
    # 4 bits + one e4m3 scale per 16 values (+ two F32 scalars per Linear)
    assert q.bits_per_parameter is not None and 4.5 < q.bits_per_parameter < 4.52


def test_nvfp4_modelopt_with_hf_quant_config(tmp_path: Path) -> None:
    spec = fp4_linears("weight", {"weight_scale_2": ("F32", ()), "input_scale": ("F32", ())})
    hf_quant = {
        "producer": {"name": "modelopt"},
        "quantization": {"quant_algo": "NVFP4", "group_size": 16, "exclude_modules": ["lm_head"]},
    }
    w = analyze(raw_safetensors(spec), tmp_path, config={}, extra={"hf_quant_config.json": hf_quant})
    assert w.parameters == LINEAR_PARAMS + NVFP4_PLAIN
    q = w.quantization
    assert (
        q is not None
        and q.method == "modelopt"
        and q.format == "NVFP4"
        and q.bits == 4
        and q.group_size == 16
    )
    assert q.source == "hf_quant_config.json"
    # no config at all: weight_scale_2 gives NVFP4 away
    w2 = analyze(raw_safetensors(spec), tmp_path, config=None)
    assert w2.parameters == w.parameters


def test_fp8_modelopt_real_hf_quant_config(tmp_path: Path) -> None:
    hf_quant = repo_config("nvidia__Llama-3.1-70B-Instruct-FP8", "hf_quant_config.json")
    spec: dict[str, tuple[str, tuple[int, ...]]] = {"lm_head.weight": ("BF16", (VOCAB, HIDDEN))}
    for m, i, o in LINEARS:
        spec[f"{m}.weight"] = ("F8_E4M3", (o, i))
        spec[f"{m}.weight_scale"] = ("F32", ())
        spec[f"{m}.input_scale"] = ("F32", ())
    spec["model.layers.0.self_attn.k_proj.k_scale"] = ("F32", ())
    spec["model.layers.0.self_attn.v_proj.v_scale"] = ("F32", ())
    w = analyze(raw_safetensors(spec), tmp_path, config={}, extra={"hf_quant_config.json": hf_quant})
    assert w.parameters == LINEAR_PARAMS + VOCAB * HIDDEN
    q = w.quantization
    assert q is not None and q.format == "FP8" and q.bits == 8 and q.aux_tensors == 2 * len(LINEARS) + 2


def test_fp8_block_deepseek_config(tmp_path: Path) -> None:
    """DeepSeek-V3 FP8: weight e4m3 + weight_scale_inv F32 [cdiv(out,128), cdiv(in,128)] (blocks padded)."""
    ds = repo_config("deepseek-ai__DeepSeek-V3")
    dims = [
        ("model.layers.0.self_attn.kv_a_proj_with_mqa", 7168 // 8, 576),
        ("model.layers.0.mlp.down_proj", 300, 200),
    ]
    spec: dict[str, tuple[str, tuple[int, ...]]] = {"model.embed_tokens.weight": ("BF16", (VOCAB, 64))}
    for m, i, o in dims:
        spec[f"{m}.weight"] = ("F8_E4M3", (o, i))
        spec[f"{m}.weight_scale_inv"] = ("F32", (cdiv(o, 128), cdiv(i, 128)))
    w = analyze(raw_safetensors(spec), tmp_path, config={"quantization_config": ds["quantization_config"]})
    assert w.parameters == sum(i * o for _, i, o in dims) + VOCAB * 64
    assert w.elements == w.parameters + sum(cdiv(o, 128) * cdiv(i, 128) for _, i, o in dims)
    assert w.quantization is not None and w.quantization.method == "fp8" and w.quantization.format == "e4m3"


def test_fp4_routed_experts_declared_by_expert_dtype(tmp_path: Path) -> None:
    """DeepSeek-V4 style: an fp8 model whose routed experts are fp4 packed 2 per I8 (``expert_dtype``)."""
    spec: dict[str, tuple[str, tuple[int, ...]]] = {}
    for x in range(4):
        spec[f"model.layers.0.ffn.experts.{x}.w1.weight"] = ("I8", (INTER, HIDDEN // 2))
        spec[f"model.layers.0.ffn.experts.{x}.w1.scale"] = ("F8_E8M0", (INTER, HIDDEN // 32))
    spec["model.layers.0.ffn.shared_experts.w1.weight"] = ("F8_E4M3", (INTER, HIDDEN))
    spec["model.layers.0.ffn.shared_experts.w1.scale"] = ("F8_E8M0", (INTER // 128, HIDDEN // 128))
    cfg = {
        "expert_dtype": "fp4",
        "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]},
    }
    w = analyze(raw_safetensors(spec), tmp_path, config=cfg)
    assert w.parameters == 5 * INTER * HIDDEN  # 4 routed (unpacked) + 1 shared; E8M0 scales never count
    assert w.by_component["experts"].parameters == 4 * INTER * HIDDEN


def test_mlx_packed_u32_with_per_module_bits(tmp_path: Path) -> None:
    """MLX: weight U32 [out, in*bits/32], scales and biases [out, in/group]; per-module overrides."""
    override = "model.layers.0.mlp.down_proj"
    quant = {"group_size": 64, "bits": 4, override: {"group_size": 64, "bits": 8}}
    arrays = plain_f16()
    for m, i, o in LINEARS:
        bits = 8 if m == override else 4
        arrays[f"{m}.weight"] = np.zeros((o, i * bits // 32), np.uint32)
        arrays[f"{m}.scales"] = np.zeros((o, i // 64), np.float16)
        arrays[f"{m}.biases"] = np.zeros((o, i // 64), np.float16)
    w = analyze(save(arrays), tmp_path, config={"quantization": quant, "quantization_config": quant})
    assert w.parameters == LINEAR_PARAMS + PLAIN_PARAMS
    q = w.quantization
    assert q is not None and q.method == "mlx" and q.aux_tensors == 2 * len(LINEARS)


def test_native_sub_byte_dtypes_and_e8m0_without_config(tmp_path: Path) -> None:
    """F4 / F6 headers state the logical element count; F8_E8M0 only ever holds block exponents."""
    spec = {
        "model.layers.0.mlp.up_proj.weight": ("F4", (INTER, HIDDEN)),
        "model.layers.0.mlp.up_proj.weight_scale": ("F8_E8M0", (INTER, HIDDEN // 32)),
        "model.layers.0.mlp.down_proj.weight": ("F6_E2M3", (HIDDEN, INTER)),
        "model.norm.weight": ("BF16", (HIDDEN,)),
    }
    w = analyze(raw_safetensors(spec), tmp_path, config={})
    assert w.parameters == 2 * INTER * HIDDEN + HIDDEN
    assert w.total_bytes == INTER * HIDDEN // 2 + INTER * HIDDEN // 32 + HIDDEN * INTER * 3 // 4 + 2 * HIDDEN
    assert w.by_dtype["F8_E8M0"].parameters == 0 and w.by_dtype["F8_E8M0"].elements == INTER * HIDDEN // 32
    assert w.quantization is None


def test_unquantized_model_counts_every_element(tmp_path: Path) -> None:
    arrays = plain_f16()
    arrays["model.layers.0.self_attn.rotary_emb.inv_freq"] = np.zeros(32, np.float32)
    arrays["model.layers.0.mlp.scales"] = np.zeros(8, np.float16)  # a learnable "scales" is a parameter
    w = analyze(save(arrays), tmp_path, config={"architectures": ["LlamaForCausalLM"]})
    assert w.quantization is None
    assert w.parameters == w.elements == sum(a.size for a in arrays.values())
    assert w.by_component["buffers"].parameters == 32


@pytest.mark.parametrize(
    "qc",
    [
        {"quant_method": "gptq", "bits": "four", "group_size": "x"},
        {"quant_method": 7},
        {"quant_method": "compressed-tensors", "config_groups": ["not", "a", "dict"], "ignore": None},
        {
            "quant_method": "compressed-tensors",
            "config_groups": {"g": {"targets": ["re:(a|b)+$"], "weights": None}},
        },
        {"quant_method": "modelopt", "quantized_layers": [1, 2]},
        {"quant_method": "bitsandbytes"},
        {"quant_method": "hqq", "nbits": 4},
        {},
    ],
)
def test_odd_quantization_configs_never_raise(qc: dict[str, Any], tmp_path: Path) -> None:
    arrays = gptq_file(4, 128)
    w = analyze(save(arrays), tmp_path, config={"quantization_config": qc})
    assert w.total_bytes == sum(a.nbytes for a in arrays.values())
    assert w.elements == sum(a.size for a in arrays.values())


def test_aux_bytes_by_kind(tmp_path: Path) -> None:
    arrays = gptq_file(4, 128)
    w = analyze(save(arrays), tmp_path, config={"quantization_config": {"quant_method": "gptq", "bits": 4}})
    q = w.quantization
    assert q is not None
    for kind in ("qzeros", "scales", "g_idx"):
        assert q.aux_by_kind[kind] == sum(a.nbytes for k, a in arrays.items() if k.endswith("." + kind))
    assert sum(q.aux_by_kind.values()) == q.aux_bytes
