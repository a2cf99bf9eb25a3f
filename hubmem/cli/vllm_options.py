"""``vllm serve``'s own option names on hubmem's command line (issue #12).

Where hubmem already has the setting, the vLLM name is a second name of the same option (one home per
setting): ``--max-model-len`` = ``--context``, ``--kv-cache-dtype`` = ``--kv-dtype``,
``--gpu-memory-utilization`` = ``--utilization``; ``--block-size`` and ``--max-num-batched-tokens`` are vLLM's
names already. The rest live in ``VllmOptions``. Bad values stop with one line and a hint.
"""

from __future__ import annotations

import re
from typing import Any, get_args

import click
from pydantic import ValidationError

from hubmem.errors import BadOptionError
from hubmem.schema.engines import VLLM_DEFAULT_VERSION, Sampler, VllmOptions

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}

VLLM_OPTIONS = (
    click.option(
        "-tp",
        "--tensor-parallel-size",
        "--tp",
        "tensor_parallel_size",
        type=click.IntRange(min=1),
        default=None,
        help="Tensor parallel: vLLM's -tp (a replica of -tp x -pp GPUs) and training's TP degree [1].",
    ),
    click.option(
        "-pp",
        "--pipeline-parallel-size",
        type=click.IntRange(min=1),
        default=1,
        help="vLLM pipeline parallel -pp [1].",
    ),
    click.option(
        "--max-num-seqs", type=click.IntRange(min=1), default=None, help="vLLM [its default per GPU]."
    ),
    click.option(
        "--kv-cache-memory",
        default=None,
        help="vLLM: KV cache bytes or a size (19.28GiB, 20GB); replaces the profiled budget.",
    ),
    click.option("--enforce-eager", is_flag=True, help="vLLM: no CUDA graphs."),
    click.option(
        "--mtp",
        "speculative_mtp",
        is_flag=True,
        help="MTP speculative decoding on (vLLM --speculative-config method mtp): MTP layers loaded.",
    ),
    click.option("--enable-expert-parallel", is_flag=True, help="vLLM: MoE experts split over ranks (EP)."),
    click.option(
        "--vllm-version",
        default=VLLM_DEFAULT_VERSION,
        show_default=True,
        help="Whose start-up accounting: 0.6 (V0) 0.8 0.10 0.13 0.14 0.19 0.22 0.28.",
    ),
    click.option(
        "--sampler",
        type=click.Choice(get_args(Sampler)),
        default="auto",
        show_default=True,
        help="vLLM top-k/top-p path profiled (auto: the version's default without FlashInfer).",
    ),
)


def parse_size(text: str | None) -> int | None:
    """``--kv-cache-memory``: bytes, or a number with B, KB/MB/GB/TB (10^3) or KiB/MiB/GiB/TiB (2^10)."""
    if text is None:
        return None
    m = _SIZE.match(text)
    if m is None:
        raise BadOptionError(
            f"--kv-cache-memory {text!r}: not a size",
            hint="bytes (20000000000) or a size with its unit: 19.28GiB, 20GB, 512MiB",
        )
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "b").lower()])


def check_fraction(value: float | None) -> float | None:
    """``--gpu-memory-utilization`` is a fraction of the GPU's memory (0 < u <= 1)."""
    if value is not None and not 0 < value <= 1:
        raise BadOptionError(
            f"--gpu-memory-utilization {value:g}: not a fraction of the GPU's memory",
            hint="a fraction, e.g. 0.9 (90% of the memory CUDA reports)",
        )
    return value


def vllm_options(kw: dict[str, Any]) -> VllmOptions:
    try:
        return VllmOptions(
            vllm_version=kw["vllm_version"],
            tensor_parallel_size=kw["tensor_parallel_size"],
            pipeline_parallel_size=kw["pipeline_parallel_size"],
            enable_expert_parallel=kw["enable_expert_parallel"],
            max_num_seqs=kw["max_num_seqs"],
            kv_cache_memory_bytes=parse_size(kw["kv_cache_memory"]),
            enforce_eager=kw["enforce_eager"],
            sampler=kw["sampler"],
        )
    except ValidationError:
        raise BadOptionError(
            f"--vllm-version {kw['vllm_version']!r}: not a vLLM release hubmem follows",
            hint="a vLLM release such as 0.10.2, 0.13, 0.19 or 0.22 (0.6 = the V0 engine)",
        ) from None


def check_gpus(kw: dict[str, Any]) -> tuple[int, int]:
    """``--gpus`` (training GPUs; the inference replica without -tp) against ``-tp x -pp``: the GPU count
    (``-tp x -pp`` when --gpus is not given) and the training TP degree."""
    tp, pp, gpus = kw["tensor_parallel_size"], kw["pipeline_parallel_size"], kw["gpus"]
    if tp is not None and gpus is not None and gpus != tp * pp and not kw["train_method"]:
        raise BadOptionError(
            f"--gpus {gpus} does not match -tp {tp} x -pp {pp} = {tp * pp} GPUs",
            hint="give one of them: -tp/-pp for a vLLM replica, --gpus for the GPU count",
        )
    if gpus is None:
        gpus = 1 if tp is None else tp * pp
    return int(gpus), 1 if tp is None else int(tp)
