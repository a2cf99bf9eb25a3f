"""Exact weight bytes and parameters of a GGUF model, from its tensor infos (theory.md 3, GGUF variant).

* bytes: every tensor's ``ne / block size x type size`` (the ggml type tables of the ``gguf`` package), exact;
  per file the bytes up to the end of the tensor infos are the "header";
* parameters = elements (GGUF stores logical tensors: a quantized block carries its own scales);
* ``by_dtype`` is keyed by ggml type (``Q4_K``, ``Q6_K``, ``F32`` ...), ``quantization`` names the llama.cpp
  file type (``general.file_type``: ``Q4_K_M``) and the bits per weight llama.cpp prints;
* components, tied embeddings and MoE totals use the same rules as safetensors checkpoints: each GGUF tensor
  name (llama.cpp ``LLM_TENSOR_NAMES``, src/llama-arch.cpp) is given its transformers-style module path by
  :data:`LEAVES` (``blk.3.attn_q`` -> ``model.layers.3.self_attn.q_proj``), which the name classifier and the
  training projection read.
"""

from __future__ import annotations

from hubmem.estimate.weights.components import Classifier, Record
from hubmem.estimate.weights.moe import estimate_moe
from hubmem.estimate.weights.report import tallies
from hubmem.formats.gguf.header import GGUFHeader, GGUFTensor
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture
from hubmem.schema.weights import FileWeights, GGUFChoice, GGUFFile, QuantizationInfo, WeightsReport
from hubmem.snapshot import GGUFModel, GGUFSelection, Snapshot

# llama.cpp tensor name (below ``blk.N.``) -> module path below ``model.layers.N.``
LEAVES: dict[str, str] = {
    "attn_norm": "input_layernorm",
    "attn_norm_2": "input_layernorm_2",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_qkv": "self_attn.qkv_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "attn_sinks": "self_attn.sinks",
    "attn_q_a": "self_attn.q_a_proj",
    "attn_q_b": "self_attn.q_b_proj",
    "attn_q_a_norm": "self_attn.q_a_layernorm",
    "attn_kv_a_mqa": "self_attn.kv_a_proj_with_mqa",
    "attn_kv_a_norm": "self_attn.kv_a_layernorm",
    "attn_kv_b": "self_attn.kv_b_proj",
    "attn_k_b": "self_attn.k_b_proj",
    "attn_v_b": "self_attn.v_b_proj",
    "attn_post_norm": "post_attention_layernorm",
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
    "ffn_post_norm": "post_feedforward_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "ffn_gate_inp": "mlp.gate",
    "exp_probs_b": "mlp.gate.e_score_correction_bias",
    "ffn_gate_exps": "mlp.experts.gate_proj",
    "ffn_up_exps": "mlp.experts.up_proj",
    "ffn_down_exps": "mlp.experts.down_proj",
    "ffn_gate_up_exps": "mlp.experts.gate_up_proj",
    "ffn_gate_shexp": "mlp.shared_experts.gate_proj",
    "ffn_up_shexp": "mlp.shared_experts.up_proj",
    "ffn_down_shexp": "mlp.shared_experts.down_proj",
    "ffn_gate_inp_shexp": "mlp.shared_expert_gate",
    "shortconv": "conv",
}
TOP_LEVEL = {
    "token_embd": "model.embed_tokens",
    "token_embd_norm": "model.embed_norm",
    "output_norm": "model.norm",
    "output": "lm_head",
    "rope_freqs": "model.rotary_emb.inv_freq",
}
_PLAIN_TYPES = frozenset({"F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64"})


def module_path(name: str) -> str:
    """The transformers-style name of a GGUF tensor (``blk.0.ffn_down.weight`` ->
    ``model.layers.0.mlp.down_proj.weight``); unknown parts keep their llama.cpp names."""
    parts = name.split(".")
    if len(parts) >= 3 and parts[0] == "blk" and parts[1].isdigit():
        leaf, rest = parts[2], parts[3:]
        if leaf.startswith("ssm_"):
            return ".".join(["model.layers", parts[1], "mixer", leaf, *rest])
        return ".".join(["model.layers", parts[1], LEAVES.get(leaf, leaf), *rest])
    return ".".join([TOP_LEVEL.get(parts[0], parts[0]), *parts[1:]])


def _records(headers: list[tuple[str, GGUFHeader]], arch: Architecture) -> list[Record]:
    classify = Classifier(num_layers=arch.num_layers, mtp=arch.mtp_layers > 0)
    out = []
    for path, header in headers:
        for t in header.tensors:
            name = module_path(t.name)
            info = classify(name, t.shape)
            role = "plain" if t.ggml_type in _PLAIN_TYPES else "quantized"
            out.append(
                Record(
                    name,
                    t.ggml_type,
                    t.shape,
                    path,
                    t.nbytes,
                    t.elements,
                    t.elements,
                    role,
                    info.component,
                    info.layer,
                )
            )
    return out


def _quantization(headers: list[tuple[str, GGUFHeader]], records: list[Record]) -> QuantizationInfo | None:
    first = headers[0][1]
    q = [r for r in records if r.role == "quantized"]
    if not q:
        return None
    total_bytes, total = sum(r.bytes for r in records), sum(r.parameters for r in records)
    qp, qb = sum(r.parameters for r in q), sum(r.bytes for r in q)
    return QuantizationInfo(
        method="gguf",
        format=first.file_type_label,
        quantized_parameters=qp,
        quantized_bytes=qb,
        bits_per_parameter=round(qb * 8 / qp, 4),
        source="gguf:general.file_type",
        unquantized_parameters=total - qp,
        notes=[
            f"{total_bytes * 8 / total:.2f} bits per weight over every tensor (llama.cpp prints this as BPW)"
        ],
    )


def _files(
    snapshot: Snapshot, headers: list[tuple[str, GGUFHeader]], records: list[Record], notes: list[str]
) -> list[FileWeights]:
    out = []
    sizes = {f.path: f.size for f in snapshot.files}
    for path, header in headers:
        mine = [r for r in records if r.file == path]
        size = sizes.get(path)
        data = sum(r.bytes for r in mine)
        out.append(
            FileWeights(path=path, size=size, header_length=header.header_end, tensors=len(mine), bytes=data)
        )
        problem = header.check_file_size(size) if size is not None else None
        if problem:
            notes.append(problem)
        notes.extend(header.notes)
    return out


def _entry(model: GGUFModel, sizes: dict[str, int]) -> GGUFFile:
    known = [sizes.get(p) for p in model.paths]
    size = sum(s for s in known if s is not None) if all(s is not None for s in known) else None
    kind = "mmproj" if model.mmproj else "model"
    return GGUFFile(name=model.name, files=list(model.paths), size=size, quant=model.quant, kind=kind)


def gguf_choice(selection: GGUFSelection, snapshot: Snapshot) -> GGUFChoice:
    """The report's record of the choice, with every model's exact size (from the listing or the reads)."""
    sizes = snapshot.sizes | {f.path: f.size for f in snapshot.files if f.size is not None}
    return GGUFChoice(
        chosen=selection.chosen.name,
        reason=selection.reason,
        available=[_entry(m, sizes) for m in selection.models],
    )


def estimate_gguf_weights(
    snapshot: Snapshot, headers: list[tuple[str, GGUFHeader]], arch: Architecture
) -> WeightsReport:
    """The weights section of a GGUF model (every shard of a split file)."""
    records = _records(headers, arch)
    notes: list[str] = []
    files = _files(snapshot, headers, records, notes)
    tied = arch.tie_word_embeddings
    moe, moe_notes = estimate_moe(records, arch, tied_embeddings=tied)
    return WeightsReport(
        **tallies(records),
        source="gguf",
        files=files,
        tied_embeddings=tied,
        quantization=_quantization(headers, records),
        moe=moe,
        gguf=gguf_choice(snapshot.gguf, snapshot) if snapshot.gguf is not None else None,
        notes=notes + moe_notes,
    )


def gguf_training_tensors(headers: list[tuple[str, GGUFHeader]]) -> list[Tensor]:
    """The GGUF tensors as the unquantized bf16 checkpoint they were converted from (what training would
    start from), under their transformers-style names."""
    return [_bf16(t, path) for path, header in headers for t in header.tensors]


def _bf16(t: GGUFTensor, path: str) -> Tensor:
    return Tensor(module_path(t.name), "BF16", t.shape, 0, 2 * t.elements, path)
