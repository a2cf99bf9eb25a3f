"""llama.cpp's model buffers (``llama_model_base::load_tensors``, src/llama-model.cpp @ 0c1e570).

* Layers go to the GPU from ``i_gpu_start = max(n_layer + 1 - n_gpu_layers, 0)`` on (index ``n_layer`` is
  the output layer: ``output`` and ``output_norm``); the input layer (``token_embd``) stays on the CPU
  (:1586-1600).
* With mmap, the weights kept on the CPU are one ``CPU_Mapped`` buffer per GGUF file, spanning from the first
  to the end of the last of its CPU tensors' data (holes included; ``get_mapping_range``,
  src/llama-model-loader.cpp:1449-1464); these pages are the page cache of the file, not anonymous memory.
  Without mmap, one ``CPU`` buffer of every CPU tensor padded to 32 bytes.
* Offloaded weights: one device buffer (``CUDA0`` ...) of their bytes. Device alignment and the row padding
  of quantized types on GPUs are not modelled (the validation ran on the CPU only).
* Extra CPU buffer types (AMX, CPU_REPACK: repacked copies of some weights, depending on the CPU's
  instruction set) are not modelled: their size depends on the machine (``use_extra_bufts=false`` turns
  them off).
"""

from __future__ import annotations

import msgspec

from hubmem.estimate.engines.llamacpp.cparams import pad
from hubmem.schema.engines import LlamaCppBuffer, LlamaCppSettings

GPU_BUFFER = "CUDA0"


class PlacedTensor(msgspec.Struct, frozen=True):
    """A weight tensor as load_tensors places it: its file, its layer (-1 input, ``n_layer`` output) and its
    data bytes (``offset`` within the file's data section, None when the layout is not known)."""

    file: str
    layer: int
    nbytes: int
    offset: int | None = None


def on_gpu(layer: int, n_layer: int, n_gpu_layers: int) -> bool:
    ngl = n_layer + 1 if n_gpu_layers < 0 else n_gpu_layers
    return layer >= 0 and layer >= max(n_layer + 1 - ngl, 0)


def _cpu_buffer(tensors: list[PlacedTensor], mmap: bool) -> int:
    if mmap and tensors and all(t.offset is not None for t in tensors):
        start = min(t.offset for t in tensors if t.offset is not None)
        end = max(t.offset + t.nbytes for t in tensors if t.offset is not None)
        return end - start
    return sum(pad(t.nbytes, 32) for t in tensors)


def model_buffers(tensors: list[PlacedTensor], n_layer: int, cp: LlamaCppSettings) -> list[LlamaCppBuffer]:
    """The model buffers llama.cpp allocates (one CPU buffer per file; the offloaded weights on the GPU)."""
    out: list[LlamaCppBuffer] = []
    gpu = sum(t.nbytes for t in tensors if on_gpu(t.layer, n_layer, cp.n_gpu_layers))
    cpu = [t for t in tensors if not on_gpu(t.layer, n_layer, cp.n_gpu_layers)]
    if not cp.mmap and cpu:
        out.append(LlamaCppBuffer(name="CPU", bytes=_cpu_buffer(cpu, mmap=False)))
    for file in dict.fromkeys(t.file for t in cpu) if cp.mmap else ():
        mine = [t for t in cpu if t.file == file]
        out.append(LlamaCppBuffer(name="CPU_Mapped", bytes=_cpu_buffer(mine, mmap=True)))
    if gpu:
        out.append(LlamaCppBuffer(name=GPU_BUFFER, bytes=gpu))
    return out
