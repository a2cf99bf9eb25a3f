"""The start-up lines as the chosen vLLM release prints them (formats read from its source).

* weights: V0 ``worker/model_runner.py`` ``Loading model weights took %.4f GB`` (the value is GiB);
  0.8.5 - 0.11 ``gpu_model_runner.py:load_model`` ``Model loading took %.4f GiB and %.6f seconds``;
  0.12 - 0.13 ``... GiB memory and ...``; >= 0.14.1 ``format_gib`` = ``round(b / 2**30, 2)``.
* available: 0.9 - 0.13 ``gpu_worker.py`` ``Available KV cache memory: %.2f GiB``; ``format_gib`` from 0.14.1.
* V0 profile: 0.6 ``worker/worker.py`` ``Memory profiling results: total_gpu_memory=%.2fGiB ...
  gpu_memory_utilization=%.2f`` and ``# GPU blocks: %d, # CPU blocks: %d``.
* tokens: <= 0.22 ``kv_cache_utils.py`` ``GPU KV cache size: {n:,} tokens`` and
  ``Maximum concurrency for {len:,} tokens per request: %.2fx``; >= 0.28 both in one comma-separated line.
* profile: 0.10.2 (INFO; DEBUG 0.11 - 0.22) ``gpu_worker.py:compile_or_warm_up_model`` ``Free memory on device
  (f/t GiB) on startup. Desired GPU memory utilization is (u, r GiB). Actual usage is ...``.

Seconds and the free memory at start-up cannot be projected; they print as ``…``.
"""

from __future__ import annotations

import msgspec

from hubmem.estimate.engines.vllm.era import Era

GiB = 1 << 30
REDUNDANCY = 150 << 20  # gpu_worker.py: redundancy_buffer_memory


def format_gib(n: int) -> str:
    """``vllm.utils.format_gib``: ``round(b / 2**30, 2)`` printed as Python prints the float."""
    return f"{round(n / GiB, 2)}"


def gib_text(n: int, era: Era) -> str:
    return format_gib(n) if era.format_gib else f"{n / GiB:.2f}"


class Printed(msgspec.Struct, frozen=True):
    """The figures the lines print (one rank's; the pool the engine's)."""

    weights: int
    activation: int
    non_torch: int
    graphs: int
    requested: int
    total: int
    utilization: float
    available: int
    tokens: int
    concurrency: float
    max_model_len: int
    num_blocks: int
    block_bytes: int


def weights_line(p: Printed, era: Era) -> str:
    if era.v0:
        return f"Loading model weights took {p.weights / GiB:.4f} GB"
    if era.format_gib:
        return f"Model loading took {format_gib(p.weights)} GiB memory and … seconds"
    memory = " memory" if era.at_least(0, 12) else ""
    return f"Model loading took {p.weights / GiB:.4f} GiB{memory} and … seconds"


def _v0_lines(p: Printed) -> list[str]:
    peak = (p.weights + p.activation) / GiB
    usage = (p.weights + p.non_torch) / GiB
    cpu_blocks = (4 * GiB) // p.block_bytes if p.block_bytes else 0  # swap_space 4 GiB
    return [
        f"Memory profiling results: total_gpu_memory={p.total / GiB:.2f}GiB "
        f"initial_memory_usage={usage:.2f}GiB "
        f"peak_torch_memory={peak:.2f}GiB memory_usage_post_profile={usage:.2f}GiB "
        f"non_torch_memory={p.non_torch / GiB:.2f}GiB kv_cache_size={p.available / GiB:.2f}GiB "
        f"gpu_memory_utilization={p.utilization:.2f}",
        f"# GPU blocks: {p.num_blocks}, # CPU blocks: {cpu_blocks}",
        f"Maximum concurrency for {p.max_model_len} tokens per request: {p.concurrency:.2f}x",
    ]


def _profile_line(p: Printed, era: Era) -> str:
    def g(n: int) -> str:
        return f"{round(n / GiB, 2)}"

    used = p.weights + p.activation + p.non_torch + p.graphs
    fit = int(p.requested) - used - REDUNDANCY
    level = "" if not era.at_least(0, 11) else "(DEBUG) "
    return (
        f"{level}Free memory on device (…/{g(p.total)} GiB) on startup. Desired GPU memory utilization is "
        f"({p.utilization}, {g(p.requested)} GiB). Actual usage is {g(p.weights)} GiB for weight, "
        f"{g(p.activation)} GiB for peak activation, {g(p.non_torch)} GiB for non-torch memory, and "
        f"{g(p.graphs)} GiB for CUDAGraph memory. Replace gpu_memory_utilization config with "
        f"`--kv-cache-memory={fit}` to fit into requested memory, or `--kv-cache-memory=…` to fully utilize "
        f"gpu memory. Current kv cache memory in use is {p.available} bytes."
    )


def _pool_lines(p: Printed, era: Era) -> list[str]:
    size = f"GPU KV cache size: {p.tokens:,} tokens"
    conc = f"Maximum concurrency for {p.max_model_len:,} tokens per request: {p.concurrency:.2f}x"
    return [f"{size}, {conc}"] if era.at_least(0, 28) else [size, conc]


def startup_lines(p: Printed, era: Era, *, pool: bool) -> list[str]:
    """The lines in the order vLLM logs them; ``pool=False`` stops before the pool (a refused start)."""
    out = [weights_line(p, era)]
    if era.v0:
        return out + (_v0_lines(p) if pool else [])
    if era.at_least(0, 9):
        out.append(f"Available KV cache memory: {gib_text(p.available, era)} GiB")
    if pool:
        out += _pool_lines(p, era)
        if era.at_least(0, 10, 2) and not era.at_least(0, 28):
            out.append(_profile_line(p, era))
    return out
