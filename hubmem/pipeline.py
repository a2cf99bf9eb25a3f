"""The one code path behind the CLI, the Python API, scans and the service:

fetch (Hub, cache or local files) -> Snapshot -> parse -> estimate -> Report
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from hubmem.check.crosscheck import cross_check
from hubmem.errors import ConfigError
from hubmem.estimate.engines.vllm.startup import Startup, project_startup
from hubmem.estimate.fit.training import fit_training
from hubmem.estimate.fit.verdict import fit_inference, kv_function
from hubmem.estimate.fit.vllm import fit_vllm
from hubmem.estimate.kv.report import estimate_kv_cache
from hubmem.estimate.table import tensor_table
from hubmem.estimate.training.prepare import prepare_training
from hubmem.estimate.training.report import TrainingPlan, plan_training, project_training, replace_gpus
from hubmem.estimate.weights.report import estimate_weights
from hubmem.fetch.cache import HeaderCache
from hubmem.fetch.http.client import HubClient
from hubmem.fetch.hub import fetch_snapshot
from hubmem.fetch.local import load_cached, load_local, looks_local
from hubmem.formats.safetensors import Tensor, parse_tensors
from hubmem.parse.config import parse_config
from hubmem.schema.architecture import Architecture
from hubmem.schema.engines import EngineReport
from hubmem.schema.fit import FitOptions, FitReport
from hubmem.schema.options import Options
from hubmem.schema.report import FetchInfo, Report
from hubmem.schema.weights import WeightsReport
from hubmem.snapshot import Snapshot

T = TypeVar("T")


def parse_snapshot_tensors(snapshot: Snapshot, *, check_sizes: bool = True) -> list[Tensor]:
    """Validate every header of the snapshot and return all tensors (file order, then offset order).

    ``check_sizes=False`` does not refuse a file whose size differs from 8 + N + data (the
    cross-check reports it instead)."""
    tensors: list[Tensor] = []
    for f in snapshot.files:
        data_size = None if f.size is None or not check_sizes else f.size - 8 - f.header_length
        tensors.extend(parse_tensors(f.header, file=f.path, data_size=data_size))
    return tensors


FIT_SCENARIO_GPUS = (1, 2, 4, 8)


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
            return fit_vllm(startup_for, gpus, kv.batch, arch, list(FIT_SCENARIO_GPUS))
        fit_options = FitOptions(
            gpu=options.gpu or "",
            gpus=gpus,
            context=kv.context,
            batch=kv.batch,
            utilization=options.gpu_utilization,
            max_num_batched_tokens=kv.max_num_batched_tokens or FitOptions().max_num_batched_tokens,
        )
        if options.fit == "training":
            plan = training if gpus == training.options.gpus else replace_gpus(training, gpus)
            return fit_training(plan, fit_options)
        return fit_inference(weights, arch, fit_options, kv_bytes=kv_function(arch, kv))

    main = one(wanted)
    return main, [main if n == wanted else one(n) for n in counts]


def _startups(tensors: list[Tensor], arch: Architecture, options: Options) -> Callable[[int], Startup]:
    """vLLM start-up projections per GPU count (``tp = gpus / pp``), each computed once."""
    cache: dict[int, Startup] = {}
    pp = options.vllm.pipeline_parallel_size

    def startup_for(gpus: int) -> Startup:
        if gpus not in cache:
            vllm = options.vllm.model_copy(update={"tensor_parallel_size": max(1, gpus // pp)})
            cache[gpus] = project_startup(tensors, arch, options.model_copy(update={"vllm": vllm}))
        return cache[gpus]

    return startup_for


def _engine_warnings(engine: EngineReport | None, fit: FitReport | None) -> list[str]:
    out = []
    if engine is not None and engine.vllm is not None and engine.vllm.refusal is not None:
        out.append(f"vLLM would refuse: {engine.vllm.refusal}")
    if fit is not None and fit.refusal is not None and fit.refusal not in out:
        out.append(fit.refusal)
    return out


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector around work that builds ~100k short-lived acyclic objects
    (reference counting frees them): a 92k-tensor report spends a quarter of its CPU in collections
    otherwise (scripts/BENCHMARKS.md). It runs again as before on exit."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_report(
    snapshot: Snapshot, options: Options | None = None, *, seconds: float | None = None, check: bool = False
) -> Report:
    """Parse and estimate: a pure function of the snapshot and the options (no I/O).

    ``check=True`` adds the cross-checks (``Report.check``, hubmem.check.crosscheck)."""
    with cyclic_gc_paused():
        return _build_report(snapshot, options or Options(), seconds, check)


def _build_report(snapshot: Snapshot, options: Options, seconds: float | None, check: bool) -> Report:
    tensors = parse_snapshot_tensors(snapshot, check_sizes=not check)
    warnings = list(snapshot.warnings)
    config = snapshot.config
    if config is not None and not isinstance(config, dict):
        raise ConfigError(f"{snapshot.repo_id}: config.json is not a JSON object")
    arch = parse_config(config, tensors=tensors, companions=snapshot.extra)
    table = tensor_table(tensors)
    weights = estimate_weights(snapshot, tensors, arch, table)
    kv = estimate_kv_cache(arch, options.kv)
    plan = plan_training(prepare_training(weights, tensors, arch, table), options.training)
    training = project_training(plan)
    startup_for = _startups(tensors, arch, options) if options.kv.engine == "vllm" else None
    engine = EngineReport(vllm=startup_for(inference_gpus(options)).view) if startup_for else None
    fit, fit_scenarios = project_fit(weights, arch, options, plan, startup_for)
    warnings += _engine_warnings(engine, fit)
    stats = snapshot.stats
    checks = cross_check(snapshot, tensors, weights, arch) if check else None
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
    options = options or Options()
    started = time.perf_counter()
    kw: dict[str, Any] = {
        "revision": options.revision,
        "subfolder": options.subfolder,
        "cache": cache,
        "with_hub_info": check,
    }
    if client is None:
        async with HubClient(endpoint=endpoint, token=token) as own:
            snapshot = await fetch_snapshot(own, repo_id, **kw)
    else:
        snapshot = await fetch_snapshot(client, repo_id, **kw)
    return build_report(snapshot, options, seconds=time.perf_counter() - started, check=check)


def run_sync(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from sync code (also when called inside a running loop, e.g. Jupyter)."""
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
        return build_report(load_local(target, subfolder=options.subfolder), options, check=check)
    if offline or offline_mode():
        snapshot = load_cached(
            target, revision=options.revision, subfolder=options.subfolder, cache_dir=hf_cache_dir
        )
        return build_report(snapshot, options, check=check)
    return run_sync(
        lambda: analyze_async(target, options, token=token, endpoint=endpoint, cache=cache, check=check)
    )
