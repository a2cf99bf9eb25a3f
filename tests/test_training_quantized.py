"""Training projections on quantized checkpoints: packed tensors unpacked to their logical shapes.

Tensor lists follow the real on-disk layouts (GPTQ ``qweight [in*bits/32, out]`` + ``qzeros``/``scales``/
``g_idx``; bitsandbytes NF4 ``weight [(n+1)//2, 1]`` + ``absmax``/``quant_map``/``nested_*``/``quant_state``)
built from the corpus configs; expected figures come from the config dimensions or published counts.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hubmem.estimate.training.report import estimate_training
from hubmem.estimate.training.tensor_groups import logical_tensors
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture
from hubmem.schema.training import TrainingOptions
from hubmem.schema.weights import QuantizationInfo, WeightsReport

from support.paths import repo_config, repo_dir

BYTES = {"F16": 2, "BF16": 2, "F32": 4, "I32": 4, "U8": 1}


def linears(cfg: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(module, in, out) of every projection of a Llama-style decoder."""
    h, inter = cfg["hidden_size"], cfg["intermediate_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = h // nh
    out = []
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [
            (p + "self_attn.q_proj", h, nh * hd),
            (p + "self_attn.k_proj", h, nkv * hd),
            (p + "self_attn.v_proj", h, nkv * hd),
            (p + "self_attn.o_proj", nh * hd, h),
            (p + "mlp.gate_proj", h, inter),
            (p + "mlp.up_proj", h, inter),
            (p + "mlp.down_proj", inter, h),
        ]
    return out


def others(cfg: dict[str, Any]) -> list[tuple[str, tuple[int, ...]]]:
    h, v = cfg["hidden_size"], cfg["vocab_size"]
    shapes: list[tuple[str, tuple[int, ...]]] = [
        ("model.embed_tokens.weight", (v, h)),
        ("model.norm.weight", (h,)),
    ]
    for i in range(cfg["num_hidden_layers"]):
        shapes += [(f"model.layers.{i}.input_layernorm.weight", (h,))]
        shapes += [(f"model.layers.{i}.post_attention_layernorm.weight", (h,))]
    shapes.append(("lm_head.weight", (v, h)))
    return shapes


def build(entries: list[tuple[str, str, tuple[int, ...]]]) -> list[Tensor]:
    out, offset = [], 0
    for name, dtype, shape in entries:
        nbytes = math.prod(shape) * BYTES[dtype]
        out.append(Tensor(name, dtype, shape, offset, offset + nbytes))
        offset += nbytes
    return out


def arch_of(cfg: dict[str, Any], quant: dict[str, Any] | None = None) -> Architecture:
    h, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    return Architecture(
        model_type="llama",
        num_layers=cfg["num_hidden_layers"],
        hidden_size=h,
        num_attention_heads=nh,
        num_kv_heads=cfg["num_key_value_heads"],
        head_dim=h // nh,
        intermediate_size=cfg["intermediate_size"],
        vocab_size=cfg["vocab_size"],
        max_context=cfg["max_position_embeddings"],
        layer_kinds=["full"] * cfg["num_hidden_layers"],
        quantization_config=quant,
    )


def weights_of(tensors: list[Tensor], method: str, bits: int) -> WeightsReport:
    return WeightsReport(
        total_bytes=sum(t.nbytes for t in tensors),
        parameters=0,
        elements=sum(t.numel for t in tensors),
        tensors=len(tensors),
        by_dtype={},
        by_component={},
        files=[],
        quantization=QuantizationInfo(method=method, bits=bits),
    )


# ---------------------------------------------------------------------------------------------- GPTQ

GPTQ = repo_config("TheBloke__Llama-2-13B-chat-GPTQ")
G = GPTQ["quantization_config"]["group_size"]
B = GPTQ["quantization_config"]["bits"]


def gptq_tensors() -> list[Tensor]:
    entries: list[tuple[str, str, tuple[int, ...]]] = []
    for name, shape in others(GPTQ):
        entries.append((name, "F16", shape))
    for mod, fin, fout in linears(GPTQ):
        entries += [
            (mod + ".qweight", "I32", (fin * B // 32, fout)),
            (mod + ".qzeros", "I32", (fin // G, fout * B // 32)),
            (mod + ".scales", "F16", (fin // G, fout)),
            (mod + ".g_idx", "I32", (fin,)),
        ]
    return build(entries)


def test_gptq_tensors_unpack_to_logical_linear_shapes() -> None:
    tensors = gptq_tensors()
    lts = logical_tensors(tensors, quant="gptq", bits=B)
    by_name = {t.name: t for t in lts}
    for mod, fin, fout in linears(GPTQ)[:7]:
        assert by_name[mod + ".weight"].shape == (fout, fin)
        assert by_name[mod + ".weight"].packed
    assert not any(t.name.endswith(("qzeros", "scales", "g_idx")) for t in lts)
    assert sum(t.stored_bytes for t in lts) == sum(t.nbytes for t in tensors)  # aux bytes folded, none lost


def test_lora_on_gptq_base_uses_logical_shapes() -> None:
    tensors = gptq_tensors()
    r = estimate_training(
        weights_of(tensors, "gptq", B),
        tensors,
        arch_of(GPTQ, GPTQ["quantization_config"]),
        TrainingOptions(method="lora", rank=8, lora_targets="q_proj,v_proj"),
    )
    h = GPTQ["hidden_size"]
    assert (
        r.trainable_parameters == GPTQ["num_hidden_layers"] * 2 * 8 * (h + h) == 6_553_600
    )  # PEFT, Llama-2-13B
    frozen = next(i for i in r.breakdown if i.name == "frozen base weights")
    assert frozen.bytes == sum(t.nbytes for t in tensors)  # the quantized base stays as stored


def test_full_finetune_of_gptq_trains_the_dequantized_model() -> None:
    tensors = gptq_tensors()
    logical = sum(fin * fout for _, fin, fout in linears(GPTQ)) + sum(math.prod(s) for _, s in others(GPTQ))
    r = estimate_training(
        weights_of(tensors, "gptq", B), tensors, arch_of(GPTQ, GPTQ["quantization_config"]), TrainingOptions()
    )
    assert r.trainable_parameters == logical
    assert r.model_states_bytes == 16 * logical
    assert any("dequantized" in a for a in r.assumptions)


# ----------------------------------------------------------------------------- bitsandbytes NF4 (8B)

LLAMA = repo_config("meta-llama__Llama-3.1-8B")


def bnb_tensors() -> list[Tensor]:
    entries: list[tuple[str, str, tuple[int, ...]]] = [(n, "BF16", s) for n, s in others(LLAMA)]
    for mod, fin, fout in linears(LLAMA):
        n = fin * fout
        blocks = -(-n // 64)
        w = mod + ".weight"
        entries += [
            (w, "U8", ((n + 1) // 2, 1)),
            (w + ".absmax", "U8", (blocks,)),
            (w + ".quant_map", "F32", (16,)),
            (w + ".nested_absmax", "F32", (-(-blocks // 256),)),
            (w + ".nested_quant_map", "F32", (256,)),
            (w + ".quant_state.bitsandbytes__nf4", "U8", (117,)),
        ]
    return build(entries)


def test_bnb_nf4_checkpoint_recovers_the_published_parameter_count() -> None:
    tensors = bnb_tensors()
    quant = {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}
    r = estimate_training(
        weights_of(tensors, "bitsandbytes-4bit", 4),
        tensors,
        arch_of(LLAMA, quant),
        TrainingOptions(method="qlora", rank=16, lora_targets="all-linear"),
    )
    assert r.frozen_parameters == 8_030_261_248  # corpus README (Hub API)
    assert r.trainable_parameters == 41_943_040  # theory 6.10: shapes recovered from the config
    base = sum(
        i.bytes
        for i in r.breakdown
        if i.name in ("QLoRA base NF4 data", "QLoRA base absmax", "QLoRA base 16-bit tensors")
    )
    assert base == 5_702_295_552  # theory 6.10


def test_buffers_are_not_trained() -> None:
    # all-MiniLM-L6-v2's real header holds an int64 position_ids buffer next to the F32 parameters
    header = json.loads(
        (
            repo_dir("sentence-transformers__all-MiniLM-L6-v2") / "headers" / "model.safetensors.json"
        ).read_text()
    )
    from hubmem.formats.safetensors import parse_tensors

    tensors = parse_tensors(header)
    ints = [t for t in tensors if t.dtype.startswith("I")]
    floats = [t for t in tensors if t.dtype == "F32"]
    assert ints, "the real header has an integer buffer"
    arch = Architecture(
        num_layers=6, hidden_size=384, num_attention_heads=12, intermediate_size=1536, vocab_size=30522
    )
    w = weights_of(tensors, "none", 16).model_copy(update={"quantization": None})
    r = estimate_training(w, tensors, arch, TrainingOptions(precision="fp32"))
    assert r.trainable_parameters == sum(t.numel for t in floats)
    assert r.model_states_bytes == 16 * sum(t.numel for t in floats) + sum(t.nbytes for t in ints)
