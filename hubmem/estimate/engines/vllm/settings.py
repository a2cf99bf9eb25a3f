"""The ``vllm serve`` settings of one projection: what was given, and vLLM's default for the rest.

Each default names where vLLM sets it (``engine/arg_utils.py``, ``config/cache.py``, ``config/model.py``);
``Settings.report()`` is the ``settings`` object of the JSON view, ``Settings.notes`` the defaults applied.
"""

from __future__ import annotations

import msgspec

from hubmem.estimate.engines.vllm.era import Era
from hubmem.estimate.fit.gpus import find_gpu, load_catalog
from hubmem.schema.architecture import Architecture
from hubmem.schema.fit import GPUSpec
from hubmem.schema.kv import KVOptions
from hubmem.schema.options import Options

DEFAULT_GPU = "H100-SXM"  # assumed when no --gpu is given (said in the assumptions)
_DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 2}  # float32 checkpoints run in bfloat16 ("auto")


class Settings(msgspec.Struct):
    era: Era
    gpu: GPUSpec
    cuda_total: int
    cuda_source: str
    tp: int
    pp: int
    ep: int  # expert-parallel ranks (1 = experts tensor-parallel)
    max_model_len: int
    max_num_seqs: int
    mnbt: int  # max_num_batched_tokens: the profile forward's tokens
    utilization: float
    kv_dtype: str
    block_size: int | None
    kv_cache_memory: int | None
    graphs: bool
    sampler: str
    mtp: bool
    model_dtype: str
    kv_base: KVOptions = msgspec.field(default_factory=KVOptions)  # the KV options as given
    notes: list[str] = []

    @property
    def dtype_bytes(self) -> int:
        return _DTYPE_BYTES.get(self.model_dtype, 2)

    @property
    def profile_rows(self) -> int:
        """Requests of the profile run's dummy batch: ``min(max_num_seqs, max_num_batched_tokens)``."""
        return min(self.max_num_seqs, self.mnbt)

    def kv_options(self) -> KVOptions:
        """The KV options the page rules see (vLLM's resolved batched tokens, MTP layers)."""
        return self.kv_base.model_copy(
            update={"max_num_batched_tokens": self.mnbt, "include_mtp": self.mtp, "engine": "vllm"}
        )

    def report(self) -> dict[str, str | int | float | bool | None]:
        return {
            "vllm_version": self.era.text,
            "tensor_parallel_size": self.tp,
            "pipeline_parallel_size": self.pp,
            "expert_parallel_size": self.ep,
            "max_model_len": self.max_model_len,
            "max_num_seqs": self.max_num_seqs,
            "max_num_batched_tokens": self.mnbt,
            "gpu_memory_utilization": self.utilization,
            "kv_cache_dtype": self.kv_dtype,
            "block_size": self.block_size,
            "kv_cache_memory_bytes": self.kv_cache_memory,
            "enforce_eager": not self.graphs,
            "sampler": self.sampler,
            "speculative_mtp": self.mtp,
            "dtype": self.model_dtype,
        }


def resolve_gpu(name: str | None, notes: list[str]) -> tuple[GPUSpec, int, str]:
    """(GPU, the total CUDA reports, where that figure comes from)."""
    if name is None:
        notes.append(f"no --gpu: {DEFAULT_GPU} assumed")
    spec = find_gpu(name or DEFAULT_GPU, load_catalog())
    if spec.reported_bytes:
        return spec, spec.reported_bytes, spec.reported_source or spec.source
    notes.append(
        f"{spec.name}: no CUDA-reported total known; the vendor figure {spec.memory_bytes:,} B is used "
        "(CUDA reports a few percent less)"
    )
    return spec, spec.memory_bytes, f"vendor figure ({spec.source})"


def _parallel(options: Options, arch: Architecture, gpus: int, notes: list[str]) -> tuple[int, int, int]:
    pp = options.vllm.pipeline_parallel_size
    tp = options.vllm.tensor_parallel_size or max(1, gpus // pp)
    ep = tp if options.vllm.enable_expert_parallel and arch.num_experts else 1
    if options.vllm.enable_expert_parallel and not arch.num_experts:
        notes.append("--enable-expert-parallel has no effect: the model has no routed experts")
    return tp, pp, ep


def _max_model_len(options: Options, derived: int | None, notes: list[str]) -> int:
    if options.kv.context is not None:
        return options.kv.context
    if derived is None:
        notes.append("max_model_len: no context key in config.json; vLLM's fallback 2048 used")
        return 2048
    notes.append(f"max_model_len default = the model's derived maximum {derived:,}")
    return derived


def _kv_cache_memory_note(era: Era) -> str:
    if era.kv_cache_memory_option:
        return "--kv-cache-memory replaces the profiled budget (gpu_worker.py:determine_available_memory)"
    return (
        f"vLLM {era.text} has no --kv-cache-memory (from 0.10.2): hubmem takes it as the available memory to "
        "size the pool with"
    )


def resolve_settings(
    options: Options, arch: Architecture, *, derived_max_len: int | None, gpus: int = 1
) -> Settings:
    """Every setting of the projection, vLLM's default where none was given."""
    era = Era.of(options.vllm.vllm_version)
    notes: list[str] = [n for n in (era.newest_note,) if n]
    gpu, total, source = resolve_gpu(options.gpu, notes)
    tp, pp, ep = _parallel(options, arch, gpus, notes)
    max_len = _max_model_len(options, derived_max_len, notes)
    mnbt_default, seqs_default, why = era.scheduler_defaults(total, gpu.name, max_len)
    mnbt = options.kv.max_num_batched_tokens or mnbt_default
    seqs = min(options.vllm.max_num_seqs or seqs_default, mnbt)
    if options.kv.max_num_batched_tokens is None or options.vllm.max_num_seqs is None:
        notes.append(f"max_num_batched_tokens {mnbt:,} / max_num_seqs {seqs:,}: {why}")
    util = options.gpu_utilization or era.default_utilization
    if options.vllm.kv_cache_memory_bytes is not None:
        notes.append(_kv_cache_memory_note(era))
    dtype = arch.dtype if arch.dtype in _DTYPE_BYTES else "bfloat16"
    if dtype == "float32":
        notes.append("float32 checkpoint: vLLM's dtype auto runs it in bfloat16 (config/model.py)")
        dtype = "bfloat16"
    sampler: str = options.vllm.sampler
    if sampler == "auto":
        sampler = era.sampler_default(min(seqs, mnbt))
    return Settings(
        era=era,
        gpu=gpu,
        cuda_total=total,
        cuda_source=source,
        tp=tp,
        pp=pp,
        ep=ep,
        max_model_len=max_len,
        max_num_seqs=seqs,
        mnbt=mnbt,
        utilization=util,
        kv_dtype=options.kv.kv_dtype,
        block_size=options.kv.block_size,
        kv_cache_memory=options.vllm.kv_cache_memory_bytes,
        graphs=not options.vllm.enforce_eager,
        sampler=sampler,
        mtp=options.kv.include_mtp,
        model_dtype=dtype,
        kv_base=options.kv,
        notes=notes,
    )
