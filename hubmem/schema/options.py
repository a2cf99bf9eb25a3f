"""What a caller can ask for, shared by the CLI, the Python API and the service."""

from typing import Literal

from pydantic import Field

from hubmem.schema.common import Model
from hubmem.schema.engines import LlamaCppOptions, VllmOptions
from hubmem.schema.kv import KVOptions
from hubmem.schema.training import TrainingOptions


class Options(Model):
    revision: str = "main"
    subfolder: str | None = None
    gguf_file: str | None = Field(
        default=None, description="GGUF repos: the file (or split model) to read, by name; None = the default"
    )
    quant: str | None = Field(
        default=None,
        description="GGUF repos: the quantization to read (Q4_K_M, Q8_0 ...), from the file names",
    )
    kv: KVOptions = Field(default_factory=KVOptions)
    training: TrainingOptions = Field(default_factory=TrainingOptions)
    vllm: VllmOptions = Field(default_factory=VllmOptions)
    llama_cpp: LlamaCppOptions = Field(default_factory=LlamaCppOptions)
    gpu: str | None = Field(
        default=None,
        description="GPU kind for the fit verdict (h100, a100-80, l4, mi300x ...; HUBMEM_GPUS adds kinds); "
        "None = no verdict",
    )
    fit: Literal["inference", "training"] = Field(
        default="inference",
        description="inference: weights + KV at the KV context x batch on training.gpus GPUs "
        "(tensor parallel); training: the training projection's per-GPU memory",
    )
    gpu_utilization: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="fraction of GPU memory usable; None = 0.9 inference, 1.0 training",
    )
    curve: bool = Field(
        default=False,
        description="add memory against context (log-spaced, up to the model's maximum) and the GPU "
        "catalog's verdicts at the context (the web page's plot and table)",
    )
