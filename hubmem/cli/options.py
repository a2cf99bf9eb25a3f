"""Options shared by several commands, and the Options model built from them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import click
from pydantic import ValidationError

from hubmem.cli.output import OUTPUT_OPTIONS
from hubmem.cli.training_options import ADVANCED_TRAINING_OPTIONS, TRAINING_OPTIONS, training_fields
from hubmem.cli.vllm_options import VLLM_OPTIONS, check_fraction, check_gpus, vllm_options
from hubmem.errors import UsageError
from hubmem.schema.engines import CacheType, LlamaCppOptions
from hubmem.schema.kv import KVDtype, KVEngine, KVOptions, SSMDtype
from hubmem.schema.options import Options
from hubmem.schema.training import TrainingOptions

if TYPE_CHECKING:
    from hubmem.fetch.cache.store import HeaderCache

KV_DTYPES = list(get_args(KVDtype))
_CACHE_TYPES = [
    *get_args(CacheType),
    "bfloat16",
    "float16",
    "half",
    "float32",
]  # every name transformers, vLLM and llama.cpp users type


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

# what to read and how to print it
_SOURCE_OPTIONS: tuple[Decorator, ...] = (
    click.option(
        "--revision", default="main", show_default=True, help="Branch, tag, commit sha or refs/pr/N."
    ),
    click.option("--subfolder", default=None, help="Read weights (and config) below this folder."),
    click.option("--token", default=None, help="Hub token (default: HF_TOKEN or the saved login)."),
    click.option("--gguf-file", default=None, help="GGUF repos: the file (or split model) to read."),
    click.option("--quant", default=None, help="GGUF repos: the quantization to read (Q4_K_M, Q8_0 ...)."),
)
# the KV cache projection (hubmem.schema.kv.KVOptions)
_KV_OPTIONS: tuple[Decorator, ...] = (
    click.option(
        "--context",
        "--max-model-len",
        "context",
        type=click.IntRange(min=1),
        default=None,
        help="Tokens per sequence = vLLM's max_model_len [8192; vLLM view: the model's maximum].",
    ),
    click.option(
        "--batch",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Sequences decoded at once (vLLM: concurrent requests).",
    ),
    click.option(
        "--kv-dtype",
        "--kv-cache-dtype",
        "kv_dtype",
        type=click.Choice(KV_DTYPES),
        default="auto",
        show_default=True,
        help="KV cache dtype; auto = the model's activation dtype (llama.cpp: f16).",
    ),
    click.option(
        "--engine",
        type=click.Choice(get_args(KVEngine)),
        default="transformers",
        show_default=True,
        help="KV view and fit: tokens held (transformers), vLLM's own start-up accounting (vllm), or what "
        "llama.cpp allocates at load (llama.cpp).",
    ),
    click.option(
        "--block-size", type=click.IntRange(min=1), default=None, help="vLLM block size [16; 64 for MLA]."
    ),
    click.option(
        "--max-num-batched-tokens",
        type=click.IntRange(min=1),
        default=None,
        help="vLLM [8192; vLLM view: its default per GPU].",
    ),
    click.option(
        "--encoder-length", type=click.IntRange(min=1), default=None, help="Encoder tokens (enc-dec)."
    ),
    click.option(
        "--transformers-cache",
        type=click.Choice(["dynamic", "static"]),
        default="dynamic",
        show_default=True,
        help="transformers view: DynamicCache (generate()'s default) or StaticCache.",
    ),
    click.option(
        "--ssm-dtype",
        "--mamba-ssm-cache-dtype",
        "ssm_dtype",
        type=click.Choice([*get_args(SSMDtype), "half"]),
        default="auto",
        show_default=True,
        help="Recurrent (Mamba / DeltaNet) state dtype, as vLLM's --mamba-ssm-cache-dtype.",
    ),
    click.option(
        "--disable-hybrid-kv-cache-manager",
        is_flag=True,
        help="vLLM: one KV cache group for every layer (sliding layers then hold the whole context).",
    ),
)
# the llama.cpp view (hubmem.schema.engines.LlamaCppOptions), under llama.cpp's own option names
_LLAMA_CPP_OPTIONS: tuple[Decorator, ...] = (
    click.option(
        "-c",
        "--ctx-size",
        type=click.IntRange(min=0),
        default=None,
        help="llama.cpp: context [--context x -np].",
    ),
    click.option(
        "-b",
        "--batch-size",
        type=click.IntRange(min=1),
        default=2048,
        show_default=True,
        help="llama.cpp: logical batch.",
    ),
    click.option(
        "-ub",
        "--ubatch-size",
        type=click.IntRange(min=1),
        default=512,
        show_default=True,
        help="llama.cpp: physical batch.",
    ),
    click.option(
        "-np", "--parallel", type=click.IntRange(1, 256), default=None, help="llama.cpp: sequences [--batch]."
    ),
    click.option(
        "-ctk", "--cache-type-k", type=click.Choice(_CACHE_TYPES), help="llama.cpp: K cache [--kv-dtype]."
    ),
    click.option(
        "-ctv", "--cache-type-v", type=click.Choice(_CACHE_TYPES), help="llama.cpp: V cache [--kv-dtype]."
    ),
    click.option(
        "-fa",
        "--flash-attn",
        type=click.Choice(["on", "off", "auto"]),
        default="auto",
        show_default=True,
        help="llama.cpp: flash attention.",
    ),
    click.option("--swa-full", is_flag=True, help="llama.cpp: full-size cache for sliding-window layers."),
    click.option("--kv-unified", is_flag=True, help="llama.cpp: one KV buffer for all sequences."),
    click.option(
        "-ngl",
        "--n-gpu-layers",
        type=click.IntRange(min=-1),
        default=0,
        show_default=True,
        help="llama.cpp (-1 = all).",
    ),
    click.option("--no-mmap", is_flag=True, help="llama.cpp: load the weights instead of mapping the file."),
)
# the fit verdict
_FIT_OPTIONS: tuple[Decorator, ...] = (
    click.option("--gpu", default=None, help="GPU kind for a fit verdict: h100, a100-80, l4, mi300x ..."),
    click.option(
        "--gpu-memory-utilization",
        "--utilization",
        "utilization",
        type=float,
        default=None,
        help="Usable fraction of GPU memory, as vLLM's gpu_memory_utilization [0.9 inference, 1.0 training].",
    ),
)


def report_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by ``report`` and ``demo`` (in this order in --help)."""
    for option in reversed((*_SOURCE_OPTIONS, *OUTPUT_OPTIONS)):
        fn = option(fn)
    return projection_options(fn)


def projection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The KV cache, training, fit, vLLM and llama.cpp options of ``report``, for the other commands
    (``scan``)."""
    options: tuple[Decorator, ...] = (*_KV_OPTIONS, *TRAINING_OPTIONS, *_FIT_OPTIONS, *_LLAMA_CPP_OPTIONS)
    options += (*VLLM_OPTIONS, *ADVANCED_TRAINING_OPTIONS)
    for option in reversed(options):
        fn = option(fn)
    return fn


def cache_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--no-cache / --cache-dir (the on-disk header cache, hubmem.fetch.cache.store)."""
    fn = click.option(
        "--cache-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Header cache folder [HUBMEM_CACHE, else the user cache dir].",
    )(fn)
    return click.option("--no-cache", is_flag=True, help="Do not read or write the header cache.")(fn)


def open_cache(kw: dict[str, Any]) -> HeaderCache | None:
    from hubmem.fetch.cache.store import HeaderCache  # filelock and the cache's formats: Hub reads only

    return HeaderCache.from_options(kw.get("cache_dir"), no_cache=bool(kw.get("no_cache")))


def build_options(kw: dict[str, Any]) -> Options:
    """The Options of a report command; values that do not go together are a usage error (exit 2)."""
    try:
        return _options(kw)
    except ValidationError as exc:
        raise usage_error(exc) from None


def usage_error(exc: ValidationError) -> UsageError:
    """Option values pydantic refused, as one usage error (exit 2) naming each option."""
    return UsageError(
        "; ".join(_problem(e) for e in exc.errors()),
        hint="--gpus must be a multiple of --tp, --zero and --fsdp exclude each other, and sizes have "
        "upper bounds (see `hubmem --help`).",
    )


def _problem(error: Any) -> str:
    """One pydantic error as ``field: message`` (model-level checks have no field)."""
    where = ".".join(str(p) for p in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _options(kw: dict[str, Any]) -> Options:
    kv = KVOptions(
        context=kw["context"],
        batch=kw["batch"],
        kv_dtype=kw["kv_dtype"],
        engine=kw["engine"],
        block_size=kw["block_size"],
        max_num_batched_tokens=kw["max_num_batched_tokens"],
        encoder_length=kw["encoder_length"],
        include_mtp=kw["speculative_mtp"],
        transformers_cache=kw["transformers_cache"],
        ssm_dtype=kw["ssm_dtype"],
        disable_hybrid_kv_cache_manager=kw["disable_hybrid_kv_cache_manager"],
    )
    gpus, tp = check_gpus(kw)
    training = TrainingOptions.model_validate(training_fields(kw, gpus, tp))
    llama_cpp = LlamaCppOptions(
        ctx_size=kw["ctx_size"],
        batch_size=kw["batch_size"],
        ubatch_size=kw["ubatch_size"],
        parallel=kw["parallel"],
        cache_type_k=kw["cache_type_k"],
        cache_type_v=kw["cache_type_v"],
        flash_attn=kw["flash_attn"],
        swa_full=kw["swa_full"],
        kv_unified=kw["kv_unified"],
        n_gpu_layers=kw["n_gpu_layers"],
        mmap=not kw["no_mmap"],
    )
    return Options(
        revision=kw["revision"],
        subfolder=kw["subfolder"],
        gguf_file=kw.get("gguf_file"),  # report / demo only: a scan reads each repo's default GGUF
        quant=kw.get("quant"),
        kv=kv,
        llama_cpp=llama_cpp,
        training=training,
        vllm=vllm_options(kw),
        gpu=kw["gpu"],
        fit="training" if kw["train_method"] else "inference",
        gpu_utilization=check_fraction(kw["utilization"]),
    )
