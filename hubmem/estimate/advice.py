"""Warnings for what users get wrong in their options (issue #14): a context above the model's maximum,
LoRA targets that match no module (PEFT stops there), options the chosen mode or engine ignores. They go to
``Report.warnings`` (the CLI prints them on stderr)."""

from __future__ import annotations

from hubmem.estimate.training.lora import is_linear_weight, match_lora
from hubmem.estimate.training.prepare import PreparedModel
from hubmem.estimate.weights.names import module_name
from hubmem.schema.architecture import Architecture
from hubmem.schema.engines import LlamaCppOptions, VllmOptions
from hubmem.schema.kv import KVOptions
from hubmem.schema.options import Options
from hubmem.schema.training import TrainingOptions

_FLAGS = {"kv_cache_memory_bytes": "--kv-cache-memory", "mmap": "--no-mmap", "rank": "--rank/--lora-r"}
_VLLM_TP = ("tensor_parallel_size", "pipeline_parallel_size")  # also the GPUs of the inference fit


def _flag(field: str) -> str:
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


def context_warnings(arch: Architecture, options: Options) -> list[str]:
    """A context or training sequence above the model's maximum (max_position_embeddings & co)."""
    top, out = arch.max_context, []
    if not top:
        return []
    if options.kv.context and options.kv.context > top:
        out.append(
            f"--context {options.kv.context:,} is above the model's maximum context {top:,}: transformers "
            "degrades past it and vLLM refuses a --max-model-len above it (unless the config's RoPE "
            "scaling is changed)"
        )
    tr = options.training
    if options.fit == "training" and tr.seq_len > top:
        out.append(f"--seq-len {tr.seq_len:,} is above the model's maximum context {top:,}")
    return out


def lora_warnings(model: PreparedModel, training: TrainingOptions) -> list[str]:
    """LoRA targets that match no module of this checkpoint, with the Linear module names it has."""
    if training.method == "full":
        return []
    match = match_lora(model.params, training.lora_targets, training.rank, experts=training.lora_experts)
    if not match.unmatched_targets:
        return []
    names = sorted({module_name(t.name).rsplit(".", 1)[-1] for t in model.params if is_linear_weight(t)})
    unmatched = ", ".join(match.unmatched_targets)
    what = "no target matches" if not match.adapted else "some targets match nothing"
    return [
        f"LoRA target modules {unmatched} match no module of this model ({what}; PEFT stops with "
        f"'Target modules ... not found in the base model' when none match); its Linear modules: "
        + ", ".join(names[:24])
        + (" ..." if len(names) > 24 else "")
    ]


def _changed(value: object, default: object, fields: list[str], skip: tuple[str, ...] = ()) -> list[str]:
    return [_flag(f) for f in fields if f not in skip and getattr(value, f) != getattr(default, f)]


def option_warnings(arch: Architecture, options: Options, model: PreparedModel, source: str) -> list[str]:
    """Every warning about the options, in the order: context, LoRA targets, ignored options."""
    lora = lora_warnings(model, options.training) if source != "config" else []
    return [*context_warnings(arch, options), *lora, *ignored_warnings(options)]


def ignored_warnings(options: Options) -> list[str]:
    """Options the chosen training method or engine does not use."""
    out, tr, engine = [], options.training, options.kv.engine
    if tr.method == "full":
        lora = _changed(tr, TrainingOptions(), ["rank", "lora_targets", "lora_bias", "lora_experts"])
        if lora:
            out.append(f"{', '.join(lora)}: LoRA options, ignored with --train full (use --train lora|qlora)")
    if tr.gpus == 1 and (tr.zero or tr.fsdp != "none"):
        how = f"ZeRO-{tr.zero}" if tr.zero else f"FSDP {tr.fsdp}"
        out.append(f"{how} on 1 GPU shards nothing: give --gpus N for the per-GPU figure on N GPUs")
    vllm = _changed(options.vllm, VllmOptions(), list(VllmOptions.model_fields), _VLLM_TP)
    vllm += _changed(options.kv, KVOptions(), ["block_size", "disable_hybrid_kv_cache_manager"])
    if vllm and engine != "vllm":
        out.append(f"{', '.join(vllm)}: vLLM options, ignored by the {engine} view (add --engine vllm)")
    llama = _changed(options.llama_cpp, LlamaCppOptions(), list(LlamaCppOptions.model_fields))
    if llama and engine != "llama.cpp":
        out.append(
            f"{', '.join(llama)}: llama.cpp options, ignored by the {engine} view (--engine llama.cpp)"
        )
    return out
