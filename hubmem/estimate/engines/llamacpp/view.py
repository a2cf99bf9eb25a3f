"""The llama.cpp view of a checkpoint (``--engine llama.cpp``): every buffer llama.cpp allocates at load on
the CPU backend and the lines it prints for them (ggml-org/llama.cpp @
0c1e57098bba43ac29e6e3b677cdceebdd22334f, as llama-cpp-python 0.3.36 vendors it); the KV section alone is
:mod:`hubmem.estimate.engines.llamacpp.memory`.

From a GGUF file the model buffers come from its tensor infos (exact offsets); from safetensors (a model
llama.cpp would run once converted to GGUF at the same dtypes) and from config.json alone they are
projected from the weights section."""

from __future__ import annotations

from hubmem.estimate.checkpoint import Checkpoint
from hubmem.estimate.engines.llamacpp.compute import compute_buffer, output_buffer
from hubmem.estimate.engines.llamacpp.lines import (
    compute_line,
    kv_lines,
    model_buffer_line,
    output_buffer_line,
    recurrent_lines,
)
from hubmem.estimate.engines.llamacpp.memory import SOURCE, memory
from hubmem.estimate.engines.llamacpp.model import PlacedTensor, model_buffers
from hubmem.estimate.weights.components import LM_HEAD, NORMS, classify
from hubmem.schema.engines import LlamaCppOptions, LlamaCppSettings, LlamaCppView
from hubmem.schema.kv import KVOptions

CONVERTED = "(the GGUF conversion)"


def _layer_of(name: str, n_layer: int) -> int:
    """The load_tensors layer of a safetensors tensor: its layer, ``n_layer`` for the output head and the
    final norm, -1 (the input layer, always on the CPU) for the rest."""
    info = classify(name)
    if info.layer is not None:
        return info.layer
    return n_layer if info.component in (LM_HEAD, NORMS) else -1


def placed_tensors(checkpoint: Checkpoint, n_layer: int) -> list[PlacedTensor]:
    """Where load_tensors puts each weight: its layer and bytes (GGUF: with its data offset)."""
    if checkpoint.source == "gguf":
        out = []
        for path, header in checkpoint.gguf:
            for t in header.tensors:
                parts = t.name.split(".")
                layer = int(parts[1]) if parts[0] == "blk" and parts[1].isdigit() else -1
                layer = n_layer if parts[0] in ("output", "output_norm") else layer
                out.append(PlacedTensor(path, layer, t.nbytes, t.offset))
        return out
    # safetensors / config.json: the weights as one GGUF converted at their dtypes (convert_hf_to_gguf.py
    # writes one file unless told to split), so one model buffer
    if checkpoint.source == "config":
        return [PlacedTensor(CONVERTED, -1, checkpoint.weights.total_bytes)]
    return [PlacedTensor(CONVERTED, _layer_of(t.name, n_layer), t.nbytes) for t in checkpoint.tensors]


SIMULATED = (
    "compute buffer: simulated, ggml-alloc's allocator over the graphs llama.cpp reserves (the {arch} graph "
    "ported node for node; equal to llama.cpp's own figure on the validation grid)"
)
PHASE_MODEL = (
    "compute buffer: a phase model of ggml's allocator over the prompt graph ({arch}'s graph is not ported "
    "to the simulation; measured within 0.24 % for gemma-3 and 0.01 % for Llama GQA, off by up to 8.6 % "
    "(a few activation blocks) for other architectures)"
)


def gguf_meta(checkpoint: Checkpoint) -> tuple[dict[str, object], frozenset[str]]:
    """The GGUF metadata (every shard's) and the layer tensors that carry a bias (``attn_q`` for
    ``blk.N.attn_q.bias``; ``exp_probs_b``: DeepSeek-2's selection bias)."""
    meta: dict[str, object] = {}
    biases: set[str] = set()
    for _, header in checkpoint.gguf:
        meta.update(header.metadata)
        for t in header.tensors:
            parts = t.name.split(".")
            if parts[0] == "blk" and parts[-1] == "bias" and len(parts) == 4:
                biases.add(parts[2])
    return meta, frozenset(biases)


def _assumptions(checkpoint: Checkpoint, cp: LlamaCppSettings, simulated: bool, arch: str) -> list[str]:
    """``arch``: llama.cpp's architecture (a Mistral config's is llama)."""
    arch = "this model" if arch == "?" else arch
    out = [
        SOURCE,
        (SIMULATED if simulated else PHASE_MODEL).format(arch=arch),
        "model buffers without the extra CPU buffer types (AMX / CPU_REPACK copies depend on the CPU)",
    ]
    if checkpoint.source != "gguf":
        out.append(
            f"weights from {checkpoint.source}: the model buffer is projected for a GGUF at the same dtypes"
        )
    if cp.n_gpu_layers:
        out.append("-ngl: the GPU share of the weights is projected (not validated); KV stays listed as CPU")
    return out


def llama_cpp_view(checkpoint: Checkpoint, options: LlamaCppOptions, kv: KVOptions) -> LlamaCppView:
    """What llama.cpp allocates at load for this checkpoint and these options (BadOptionError where llama.cpp
    would refuse them)."""
    mem = memory(checkpoint.architecture, options, kv)
    hp, cp = mem.hp, mem.cp
    buffers = model_buffers(placed_tensors(checkpoint, hp.n_layer), hp.n_layer, cp)
    out = output_buffer(hp, cp)
    meta, biases = gguf_meta(checkpoint)
    compute, phases, simulated = compute_buffer(checkpoint.architecture, hp, cp, mem.caches, meta, biases)
    lines = [model_buffer_line(b) for b in buffers] + [output_buffer_line(out)]
    for c in mem.caches:
        lines += kv_lines(c, cp)
    if mem.recurrent is not None:
        lines += recurrent_lines(mem.recurrent, hp.n_layer)
    lines.append(compute_line(compute))
    model = sum(b.bytes for b in buffers)
    return LlamaCppView(
        settings=cp,
        model_buffer_bytes=model,
        model_buffers=buffers,
        kv_cache_bytes=mem.kv_bytes,
        kv_cells=mem.caches[0].cells if mem.caches else 0,
        kv_caches=mem.caches,
        recurrent_state_bytes=mem.state_bytes,
        recurrent=mem.recurrent,
        output_buffer_bytes=out,
        compute_buffer_bytes=compute,
        compute_phases=phases,
        total_bytes=model + mem.kv_bytes + mem.state_bytes + out + compute,
        lines=lines,
        assumptions=_assumptions(checkpoint, cp, simulated, hp.arch),
        missing=hp.missing,
    )
