"""Which vLLM release's start-up rules to follow (``--vllm-version``), and the defaults each release picks.

The default is 0.19 (``VLLM_DEFAULT_VERSION``): the newest accounting the calibration logs validate
exactly (``requested - weights - activation peak - non-torch``; CUDA graphs not subtracted; tokens =
whole blocks). Rules and where they change, read from vLLM's released wheels (research note SPEC.md):

* V0 engine (< 0.8): ``worker/worker.py:determine_num_available_blocks`` @0.6.4 - non-torch memory is
  absolute (the CUDA context included), the profile forward has ``max(max_model_len, 2048)`` tokens and no
  sampler peak; concurrency = tokens / max_model_len.
* 0.8: V1 ``gpu_worker.py:determine_available_memory`` @0.8.5 with the same absolute formula.
* 0.9 - 0.19: ``requested - (W + A + T)`` (``utils.memory_profiling``); concurrency =
  ``num_blocks / sum over groups of blocks per request`` (``get_max_concurrency_for_kv_cache_config``).
* >= 0.21 (verified at 0.22, 0.28): CUDA-graph memory is profiled and subtracted
  (``profile_cudagraph_memory``, ``VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS`` default 1); tokens printed =
  ``int(concurrency x max_model_len)``; ``gpu_memory_utilization`` default 0.92 (``config/cache.py``).
* Printing: ``format_gib`` (``round(b / 2**30, 2)``) from 0.14.1, ``%.2f`` / ``%.4f`` before; one combined
  tokens/concurrency line from 0.28.
* Versions above 0.28 are followed as 0.28 (0.34's extensible KV cache sizes the pool after graph capture;
  not modelled).
"""

from __future__ import annotations

import msgspec

GiB = 1 << 30
NEWEST_MODELLED = (0, 28)


def parse_version(text: str) -> tuple[int, ...]:
    """``"0.10.2"`` -> ``(0, 10, 2)`` (``VllmOptions`` has checked the form and the range)."""
    return tuple(int(p) for p in text.split("."))


class Era(msgspec.Struct, frozen=True):
    """The rules of one vLLM release (``version`` as given, e.g. (0, 10, 2))."""

    version: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> Era:
        return cls(parse_version(text))

    @property
    def text(self) -> str:
        return ".".join(str(p) for p in self.version)

    def at_least(self, *version: int) -> bool:
        return self.version >= version

    @property
    def v0(self) -> bool:
        """The V0 engine (``worker/worker.py``, ``LLMEngine``)."""
        return not self.at_least(0, 8)

    @property
    def absolute_non_torch(self) -> bool:
        """V0 and V1 0.8 subtract all non-torch memory of the GPU, this process's CUDA context included."""
        return not self.at_least(0, 9)

    @property
    def graphs_subtracted(self) -> bool:
        return self.at_least(0, 21)

    @property
    def tokens_from_concurrency(self) -> bool:
        """``GPU KV cache size`` = ``int(concurrency x max_model_len)`` (>= 0.21) instead of whole blocks."""
        return self.at_least(0, 21)

    @property
    def concurrency_from_tokens(self) -> bool:
        """V0 and 0.8 print ``tokens / max_model_len``."""
        return not self.at_least(0, 9)

    @property
    def uniform_type_sizes(self) -> bool:
        """``UniformTypeKVCacheSpecs`` (>= 0.11): same-type layers of different page sizes share one group."""
        return self.at_least(0, 11)

    @property
    def format_gib(self) -> bool:
        """``utils.format_gib`` (``round(b / 2**30, 2)``, no trailing zeros) in the lines (>= 0.14)."""
        return self.at_least(0, 14)

    @property
    def kv_cache_memory_option(self) -> bool:
        return self.at_least(0, 10, 2)

    @property
    def default_utilization(self) -> float:
        return 0.92 if self.at_least(0, 21) else 0.9

    def group_size_threshold(self) -> float | None:
        """Hybrid groups: the largest layer count becomes the group size when it is below ``threshold x`` the
        smallest (``_get_kv_cache_groups_uniform_page_size``): none before 0.14, 1.25 then, 1.5 on current
        main (``kv_cache_utils.py``; the 1.25 -> 1.5 change lies after 0.19)."""
        if not self.at_least(0, 14):
            return None
        return 1.5 if self.at_least(0, 21) else 1.25

    def sampler_default(self, rows: int) -> str:
        """The top-k/top-p path ``profile_run``'s dummy sampler takes without FlashInfer installed
        (``sample/ops/topk_topp_sampler.py``): PyTorch sort up to 0.16, the Triton kernel from 0.17 for
        batches of at least 8 rows."""
        if self.at_least(0, 17) and rows >= 8:
            return "triton"
        return "pytorch"

    def mxfp4_backend(self, compute_capability: str | None) -> str:
        """gpt-oss MoE kernel (``quantization/mxfp4.py:get_mxfp4_backend``): Marlin on SM8x and before 0.11,
        the Triton kernels on SM90 from 0.11, FlashInfer on SM10x (needs ``triton_kernels`` / FlashInfer)."""
        major = int(compute_capability.split(".")[0]) if compute_capability else 0
        if major >= 10 and self.at_least(0, 11):
            return "flashinfer"
        if major == 9 and self.at_least(0, 11):
            return "triton"
        return "marlin"

    def kv_cache_dtypes(self) -> tuple[str, ...]:
        """``CacheDType`` (``config/cache.py``): accepted --kv-cache-dtype strings."""
        out: tuple[str, ...] = ("auto", "fp8", "fp8_e4m3", "fp8_e5m2")
        if self.at_least(0, 14):
            out += ("bfloat16", "fp8_ds_mla")
        if self.at_least(0, 19):
            out += ("float16",)
        return out

    def scheduler_defaults(self, total_bytes: int, gpu_name: str, max_model_len: int) -> tuple[int, int, str]:
        """(max_num_batched_tokens, max_num_seqs, why) as ``vllm serve`` picks them
        (``engine/arg_utils.py:_set_default_args``): 8192 / 1024 on GPUs of >= 70 GiB that are not A100s
        (0.8.5: A100s included), 16384 / 1024 from 160 GiB (>= 0.28), else 2048 / 256; the V0 engine
        profiles ``max(max_model_len, 2048)`` tokens (no chunked prefill) and 256 sequences."""
        if self.v0:
            return max(max_model_len, 2048), 256, "V0: max(max_model_len, 2048) tokens (no chunked prefill)"
        big = total_bytes >= 70 * GiB and ("a100" not in gpu_name.lower() or not self.at_least(0, 9))
        if self.at_least(0, 28) and total_bytes >= 160 * GiB:
            return 16384, 1024, "vllm serve default for GPUs of >= 160 GiB"
        if big:
            return 8192, 1024, "vllm serve default for GPUs of >= 70 GiB (not A100)"
        return 2048, 256, "vllm serve default for GPUs under 70 GiB (and A100s)"

    @property
    def newest_note(self) -> str | None:
        if self.version[:2] > NEWEST_MODELLED:
            return (
                f"vLLM {self.text} is followed with 0.28's rules (newer releases size the pool after "
                "CUDA-graph capture with the extensible KV cache; not modelled)"
            )
        return None
