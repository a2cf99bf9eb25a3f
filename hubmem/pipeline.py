"""The one code path behind the CLI, the Python API, scans and the service:

fetch (Hub, cache or local files) -> Snapshot -> parse -> estimate -> Report
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hubmem._gc import cyclic_gc_paused
from hubmem.errors import ConfigError
from hubmem.estimate.advice import option_warnings
from hubmem.estimate.checkpoint import (
    Checkpoint,
    config_checkpoint,
    gguf_checkpoint,
    gguf_headers,
    parse_snapshot_tensors,
    safetensors_checkpoint,
    weight_source,
)
from hubmem.estimate.fit.curve import inference_fit_options, page_figures
from hubmem.estimate.fit.gpus import load_catalog
from hubmem.estimate.fit.training import fit_training
from hubmem.estimate.fit.verdict import fit_inference, kv_function
from hubmem.estimate.kv.report import estimate_kv_cache
from hubmem.estimate.training.prepare import prepare_training
from hubmem.estimate.training.report import TrainingPlan, plan_training, project_training, replace_gpus
from hubmem.fetch.local import load_cached, load_local, looks_local
from hubmem.formats.safetensors import Tensor
from hubmem.parse.config import parse_config
from hubmem.schema.architecture import Architecture
from hubmem.schema.check import CheckReport
from hubmem.schema.engines import EngineReport
from hubmem.schema.fit import FitReport, GPUSpec
from hubmem.schema.options import Options
from hubmem.schema.report import FetchInfo, Report
from hubmem.schema.weights import WeightsReport
from hubmem.snapshot import Snapshot

if TYPE_CHECKING:
    from hubmem.estimate.engines.vllm.startup import Startup
    from hubmem.fetch.cache.store import HeaderCache
    from hubmem.fetch.http.client import HubClient

T = TypeVar("T")


FIT_SCENARIO_GPUS = (1, 2, 4, 8)
TRAINING_BASIS = {
    "gguf": "GGUF: training projected for the unquantized bf16 model the GGUF was converted from",
    "config": "no weight file read: training projected from the config-derived parameters, one stand-in "
    "tensor per component (LoRA adapters need the real tensor list and are not projected)",
}


def inference_gpus(options: Options) -> int:
    """GPUs of one inference replica: vLLM's ``tp x pp`` when -tp is given, else ``--gpus``."""
    v = options.vllm
    if v.tensor_parallel_size is not None:
        return v.tensor_parallel_size * v.pipeline_parallel_size
    return options.training.gpus


def _scenario_counts(options: Options, wanted: int) -> list[int]:
    if options.fit == "inference":
        return sorted({*FIT_SCENARIO_GPUS, wanted})
    if options.training.zero or options.training.fsdp != "none":
        return [n for n in FIT_SCENARIO_GPUS if n % options.training.tensor_parallel == 0]
    return []  # without sharding, more GPUs do not change the per-GPU figure


def project_fit(
    weights: WeightsReport,
    arch: Architecture,
    options: Options,
    training: TrainingPlan,
    startup_for: Callable[[int], Startup] | None = None,
) -> tuple[FitReport | None, list[FitReport]]:
    """The fit verdict for ``options.gpu`` and the same verdict for 1, 2, 4 and 8 GPUs of that kind (and the
    count asked for).

    Inference uses the KV options' context, batch and engine (``startup_for``: vLLM's own accounting when the
    engine is vllm); training projects ``training`` (the plan of the training options, computed once) on each
    GPU count."""
    if options.gpu is None:
        return None, []
    kv = options.kv
    wanted = inference_gpus(options) if options.fit == "inference" else options.training.gpus
    counts = _scenario_counts(options, wanted)

    def one(gpus: int) -> FitReport:
        if options.fit == "inference" and startup_for is not None:
            from hubmem.estimate.fit.vllm import fit_vllm  # the vLLM engine only

            return fit_vllm(startup_for, gpus, kv.batch, arch, list(FIT_SCENARIO_GPUS))
        fit_options = inference_fit_options(options, options.gpu or "", gpus)
        if options.fit == "training":
            plan = training if gpus == training.options.gpus else replace_gpus(training, gpus)
            return fit_training(plan, fit_options)
        return fit_inference(weights, arch, fit_options, kv_bytes=kv_function(arch, kv))

    main = one(wanted)
    return main, [main if n == wanted else one(n) for n in counts]


def gpu_catalog() -> list[GPUSpec]:
    """The GPU kinds a fit verdict knows (built-in, then ``HUBMEM_GPUS`` files), for pickers."""
    return list(load_catalog().values())


def _startups(tensors: list[Tensor], arch: Architecture, options: Options) -> Callable[[int], Startup]:
    """vLLM start-up projections per GPU count (``tp = gpus / pp``), each computed once."""
    from hubmem.estimate.engines.vllm.startup import project_startup  # the vLLM engine only

    cache: dict[int, Startup] = {}
    pp = options.vllm.pipeline_parallel_size

    def startup_for(gpus: int) -> Startup:
        if gpus not in cache:
            vllm = options.vllm.model_copy(update={"tensor_parallel_size": max(1, gpus // pp)})
            cache[gpus] = project_startup(tensors, arch, options.model_copy(update={"vllm": vllm}))
        return cache[gpus]

    return startup_for


def _engine_view(
    checkpoint: Checkpoint, options: Options, startup_for: Callable[[int], Startup] | None
) -> EngineReport | None:
    """The engine view asked for (--engine vllm / llama.cpp), None for transformers."""
    if startup_for is not None:
        return EngineReport(vllm=startup_for(inference_gpus(options)).view)
    if options.kv.engine == "llama.cpp":
        from hubmem.estimate.engines.llamacpp.view import llama_cpp_view  # the llama.cpp engine only

        return EngineReport(llama_cpp=llama_cpp_view(checkpoint, options.llama_cpp, options.kv))
    return None


def _engine_warnings(engine: EngineReport | None, fit: FitReport | None) -> list[str]:
    out = []
    if engine is not None and engine.vllm is not None and engine.vllm.refusal is not None:
        out.append(f"vLLM would refuse: {engine.vllm.refusal}")
    if fit is not None and fit.refusal is not None and fit.refusal not in out:
        out.append(fit.refusal)
    return out


def build_report(
    snapshot: Snapshot, options: Options | None = None, *, seconds: float | None = None, check: bool = False
) -> Report:
    """Parse and estimate: a pure function of the snapshot and the options (no I/O).

    ``check=True`` adds the cross-checks (``Report.check``, hubmem.check.crosscheck)."""
    with cyclic_gc_paused():
        return _build_report(snapshot, options or Options(), seconds, check)


def _build_report(snapshot: Snapshot, options: Options, seconds: float | None, check: bool) -> Report:
    checkpoint = read_checkpoint(snapshot, check_sizes=not check)
    warnings = list(snapshot.warnings)
    arch, weights = checkpoint.architecture, checkpoint.weights
    kv = estimate_kv_cache(arch, options.kv, options.llama_cpp)
    prepared = prepare_training(weights, checkpoint.training_tensors, arch, checkpoint.table)
    plan = plan_training(prepared, options.training)
    training = project_training(plan)
    if checkpoint.source in TRAINING_BASIS:
        training.assumptions.insert(0, TRAINING_BASIS[checkpoint.source])
    startup_for = (
        _startups(checkpoint.training_tensors, arch, options) if options.kv.engine == "vllm" else None
    )
    engine = _engine_view(checkpoint, options, startup_for)
    fit, fit_scenarios = project_fit(weights, arch, options, plan, startup_for)
    warnings += _engine_warnings(engine, fit) + option_warnings(arch, options, prepared, checkpoint.source)
    curve, gpu_table = (
        page_figures(weights, arch, options, fit, inference_gpus(options), startup_for)
        if options.curve
        else (None, [])
    )
    stats = snapshot.stats
    checks = cross_checks(snapshot, checkpoint) if check else None
    return Report(
        repo_id=snapshot.repo_id,
        revision=snapshot.revision,
        commit=snapshot.commit,
        source=snapshot.source,
        endpoint=snapshot.endpoint,
        subfolder=snapshot.subfolder,
        architecture=arch,
        weights=weights,
        kv_cache=kv,
        engine=engine,
        training=training,
        fit=fit,
        fit_scenarios=fit_scenarios,
        curve=curve,
        gpu_table=gpu_table,
        fetch=FetchInfo(
            requests=stats.requests,
            bytes_received=stats.bytes_received,
            round_trips=stats.round_trips,
            cache_hits=stats.cache_hits,
            seconds=None if seconds is None else round(seconds, 4),
        ),
        check=checks,
        warnings=warnings,
    )


def _config_architecture(snapshot: Snapshot, tensors: list[Tensor] | None = None) -> Architecture:
    config = snapshot.config
    if config is not None and not isinstance(config, dict):
        raise ConfigError(f"{snapshot.repo_id}: config.json is not a JSON object")
    return parse_config(config, tensors=tensors, companions=snapshot.extra)


def read_checkpoint(snapshot: Snapshot, *, check_sizes: bool = True) -> Checkpoint:
    """Parse the snapshot's headers (safetensors, GGUF) or config.json alone into the checkpoint the estimates
    work on (hubmem.estimate.checkpoint); a GGUF's architecture is its metadata's."""
    source = weight_source(snapshot)
    if source == "gguf":
        from hubmem.parse.gguf.architecture import architecture_from_gguf  # GGUF files only

        headers = gguf_headers(snapshot)
        config = _config_architecture(snapshot) if snapshot.config is not None else None
        return gguf_checkpoint(snapshot, headers, architecture_from_gguf(headers[0][1]), config)
    if source == "config":
        return config_checkpoint(snapshot, _config_architecture(snapshot))
    tensors = parse_snapshot_tensors(snapshot, check_sizes=check_sizes)
    return safetensors_checkpoint(snapshot, tensors, _config_architecture(snapshot, tensors))


def cross_checks(snapshot: Snapshot, checkpoint: Checkpoint) -> CheckReport:
    """The cross-checks that apply to the checkpoint's format (no weights read: the repo name only)."""
    from hubmem.check.crosscheck import cross_check  # imported when asked for (start-up of plain reports)
    from hubmem.check.gguf import config_only_cross_check, gguf_cross_check

    if checkpoint.source == "gguf":
        return gguf_cross_check(snapshot, checkpoint)
    if checkpoint.source == "config":
        return config_only_cross_check(snapshot, checkpoint.weights)
    return cross_check(snapshot, checkpoint.tensors, checkpoint.weights, checkpoint.architecture)


async def analyze_async(
    repo_id: str,
    options: Options | None = None,
    *,
    token: str | bool | None = None,
    endpoint: str | None = None,
    client: HubClient | None = None,
    cache: HeaderCache | None = None,
    check: bool = False,
) -> Report:
    """Analyze one Hub repo. Pass ``client`` to share one connection pool across many calls,
    ``cache`` to read headers at an already-seen commit from disk, ``check=True`` for the
    cross-checks (the fetch then also asks the Hub for its safetensors summary and file sizes)."""
    from hubmem.fetch.http.client import HubClient  # httpx2 and huggingface_hub: not for local reports
    from hubmem.fetch.hub import fetch_snapshot

    options = options or Options()
    started = time.perf_counter()
    kw: dict[str, Any] = {
        "revision": options.revision,
        "subfolder": options.subfolder,
        "cache": cache,
        "with_hub_info": check,
        "gguf_file": options.gguf_file,
        "quant": options.quant,
    }
    if client is None:
        async with HubClient(endpoint=endpoint, token=token) as own:
            snapshot = await fetch_snapshot(own, repo_id, **kw)
    else:
        snapshot = await fetch_snapshot(client, repo_id, **kw)
    return build_report(snapshot, options, seconds=time.perf_counter() - started, check=check)


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from sync code (also when called inside a running loop, e.g. Jupyter)."""
    import asyncio  # Hub reads only: a local report runs no event loop

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, factory()).result()


def analyze(
    repo_id: str,
    options: Options | None = None,
    *,
    token: str | bool | None = None,
    endpoint: str | None = None,
) -> Report:
    """Synchronous :func:`analyze_async`; ``repo_id`` may also be a local folder or ``.safetensors`` file."""
    return analyze_source(repo_id, options or Options(), token=token, endpoint=endpoint)


def offline_mode() -> bool:
    """``HF_HUB_OFFLINE`` as huggingface_hub read it (at import)."""
    from huggingface_hub import constants

    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


def analyze_source(
    target: str,
    options: Options,
    *,
    token: str | bool | None = None,
    endpoint: str | None = None,
    offline: bool = False,
    cache: HeaderCache | None = None,
    hf_cache_dir: str | Path | None = None,
    check: bool = False,
) -> Report:
    """The report of ``target``: a local folder / ``.safetensors`` file, else a Hub repo read from the
    local Hugging Face cache (``offline`` or ``HF_HUB_OFFLINE``), else from the Hub (through ``cache``)."""
    if looks_local(target):
        snapshot = load_local(
            target, subfolder=options.subfolder, gguf_file=options.gguf_file, quant=options.quant
        )
        return build_report(snapshot, options, check=check)
    if offline or offline_mode():
        snapshot = load_cached(
            target, revision=options.revision, subfolder=options.subfolder, cache_dir=hf_cache_dir
        )
        return build_report(snapshot, options, check=check)
    return run_sync(
        lambda: analyze_async(target, options, token=token, endpoint=endpoint, cache=cache, check=check)
    )
