"""The context llama.cpp resolves from its options (``llama_context::llama_context``, src/llama-context.cpp
@ 0c1e570, in this order):

1. ``n_seq_max = max(1, -np)``, at most ``LLAMA_MAX_SEQ`` 256 (:100-103);
2. ``n_ctx = -c``, 0 = the model's ``n_ctx_train`` (:133);
3. ``n_batch = min(n_ctx, -b)`` with the un-padded ``n_ctx`` (:246); ``n_ubatch = min(n_batch, -ub)`` (:248);
   ``n_outputs_max = n_batch`` (:250);
4. ``n_ctx`` padded to 256 (:290); unified: ``n_ctx_seq = n_ctx``, else ``n_ctx_seq = PAD(n_ctx / n_seq_max,
   256)`` and ``n_ctx = n_ctx_seq x n_seq_max`` (:292-306, which can round up);
5. flash attention: a quantized V cache turns ``auto`` on and is refused with ``off``; MLA needs the same K
   and V types; a quantized K/V needs whole blocks per head with flash attention
   (``llama_init_from_model``, :3835-3871). ``auto`` counts as on when the memory is created (V not
   transposed) and the CPU backend keeps it on (``resolve_fused_ops`` :507-582).

Where the llama.cpp options are not given, hubmem's KV options fill them: ``-np`` = ``--batch`` sequences,
``-c`` = ``--context`` x the sequences (each sequence gets ``--context`` tokens), ``-ctk``/``-ctv`` from
``--kv-dtype`` (``auto`` = llama.cpp's default f16).
"""

from __future__ import annotations

from hubmem.errors import BadOptionError
from hubmem.estimate.engines.llamacpp.hparams import Hparams
from hubmem.formats.gguf.tables import ggml_type_sizes
from hubmem.schema.engines import LlamaCppOptions, LlamaCppSettings
from hubmem.schema.kv import KVOptions

LLAMA_MAX_SEQ = 256  # src/llama-cparams.h:8
DEFAULT_CONTEXT = 8192  # hubmem's --context default (estimate/kv/report.py)
UNQUANTIZED = ("f32", "f16", "bf16")  # cache types stored as is (no block quantization, no Hadamard rotation)
# --kv-dtype name -> llama.cpp cache type
KV_DTYPE_TO_CACHE_TYPE = {
    "auto": "f16",
    "bfloat16": "bf16",
    "bf16": "bf16",
    "float16": "f16",
    "fp16": "f16",
    "half": "f16",
    "f16": "f16",
    "float32": "f32",
    "fp32": "f32",
    "f32": "f32",
    **{t: t for t in ("q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")},
}


def pad(n: int, to: int) -> int:
    """``GGML_PAD``."""
    return -(-n // to) * to


def cache_type(kv_dtype: str) -> str:
    """The llama.cpp cache type for a ``--kv-dtype`` name; BadOptionError for the fp8 family."""
    found = KV_DTYPE_TO_CACHE_TYPE.get(kv_dtype)
    if found is None:
        raise BadOptionError(
            f"kv_dtype {kv_dtype}: llama.cpp has no such KV cache type",
            hint="llama.cpp cache types: f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1 (8-bit: q8_0)",
        )
    return found


def _flash_attn(hp: Hparams, fa: str, type_k: str, type_v: str) -> str:
    """The flash-attention type after llama_init_from_model's checks ("on" / "off")."""
    quant_v = type_v not in UNQUANTIZED
    if hp.mla and type_k != type_v:
        raise BadOptionError(
            f"llama.cpp: {hp.arch} (MLA) needs the same K and V cache types, not {type_k}/{type_v}"
        )
    if quant_v and fa == "off":
        raise BadOptionError("llama.cpp: a quantized V cache requires flash attention (-fa on or auto)")
    flash = "on" if fa == "auto" or quant_v else fa
    if flash == "on":
        for name, t, dims in (("K", type_k, hp.head_k), ("V", type_v, hp.head_v)):
            block = ggml_type_sizes()[t.upper()][0]
            if any(d % block for d, h in zip(dims, hp.n_head_kv, strict=True) if h):
                raise BadOptionError(
                    f"llama.cpp: {name} cache type {t} needs head sizes divisible by {block}"
                )
    return flash


def resolve(hp: Hparams, options: LlamaCppOptions, kv: KVOptions) -> LlamaCppSettings:
    """llama.cpp's context settings for these options (BadOptionError where llama.cpp refuses them)."""
    n_seq = options.parallel or kv.batch
    if n_seq > LLAMA_MAX_SEQ:
        raise BadOptionError(f"llama.cpp: n_seq_max {n_seq} exceeds LLAMA_MAX_SEQ ({LLAMA_MAX_SEQ})")
    if options.ctx_size is not None:
        n_ctx = options.ctx_size or hp.n_ctx_train
    else:
        n_ctx = (kv.context or min(DEFAULT_CONTEXT, hp.n_ctx_train or DEFAULT_CONTEXT)) * n_seq
    n_batch = min(n_ctx, options.batch_size)
    n_ubatch = min(n_batch, options.ubatch_size)
    n_ctx = pad(n_ctx, 256)
    if options.kv_unified:
        n_ctx_seq = n_ctx
    else:
        n_ctx_seq = pad(n_ctx // n_seq, 256)
        n_ctx = n_ctx_seq * n_seq
    type_k = options.cache_type_k or cache_type(kv.kv_dtype)
    type_v = options.cache_type_v or cache_type(kv.kv_dtype)
    flash = _flash_attn(hp, options.flash_attn, type_k, type_v)
    return LlamaCppSettings(
        n_ctx=n_ctx,
        n_ctx_seq=n_ctx_seq,
        n_seq_max=n_seq,
        n_batch=n_batch,
        n_ubatch=n_ubatch,
        n_outputs_max=n_batch,
        flash_attn="enabled" if flash == "on" else "disabled",
        flash_attn_requested=options.flash_attn,
        kv_unified=options.kv_unified,
        swa_full=options.swa_full,
        type_k=type_k,
        type_v=type_v,
        n_gpu_layers=options.n_gpu_layers,
        mmap=options.mmap,
    )
