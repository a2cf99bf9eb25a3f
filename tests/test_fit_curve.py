"""Memory against context and the GPU catalog table (``curve=true``, the web page's plot): each point is the
inference verdict at that context, the curve crosses the usable line where the verdict's max_context says,
and a table row is the verdict on that GPU kind."""

from __future__ import annotations

import math
from itertools import pairwise

from test_fit_inference import LLAMA_WEIGHTS

from hubmem.estimate.fit.curve import curve_contexts, page_figures
from hubmem.estimate.fit.gpus import load_catalog
from hubmem.estimate.fit.verdict import fit_inference, kv_function
from hubmem.parse.config import parse_config
from hubmem.schema.fit import FitOptions
from hubmem.schema.kv import KVOptions
from hubmem.schema.options import Options

from support.paths import repo_config

WEIGHTS = LLAMA_WEIGHTS
LLAMA = parse_config(repo_config("meta-llama__Llama-3.1-8B"))  # bfloat16: 128 KiB of KV per token


def test_contexts_are_log_spaced_up_to_the_maximum() -> None:
    ctx = curve_contexts(131_072, also=8192)
    assert ctx[0] == 256 and ctx[-1] == 131_072 and 8192 in ctx
    assert len(ctx) == 25 and ctx == sorted(set(ctx))
    ratios = [b / a for a, b in pairwise(ctx) if b != 8192 and a != 8192]
    assert all(math.isclose(r, ratios[0], rel_tol=0.02) for r in ratios)
    short = curve_contexts(512)  # BERT: the axis starts at a 64th of the maximum
    assert short[0] == 8 and short[-1] == 512 and len(short) == 24
    assert curve_contexts(1) == [1]


def test_each_point_is_the_verdict_at_that_context() -> None:
    options = Options(gpu="L4", kv=KVOptions(context=8192))
    fit = fit_inference(WEIGHTS, LLAMA, FitOptions(gpu="L4", context=8192), kv_bytes=kv_function(LLAMA))
    curve, table = page_figures(WEIGHTS, LLAMA, options, fit, 1)
    assert curve.gpu == "L4" and curve.usable_bytes == fit.usable_bytes and curve.max_context == 131_072
    for p in curve.points:
        at = fit_inference(
            WEIGHTS, LLAMA, FitOptions(gpu="L4", context=p.context), kv_bytes=kv_function(LLAMA)
        )
        assert p.required_bytes == at.required_bytes == p.weights_bytes + p.kv_bytes + p.overhead_bytes
        assert p.fits == at.fits
    # it stops fitting where the verdict's largest context says
    assert fit.max_context is not None
    assert all(p.fits == (p.context <= fit.max_context) for p in curve.points)
    assert any(p.fits for p in curve.points) and not all(p.fits for p in curve.points)
    # the table: every catalog kind, the chosen one agreeing with the verdict
    assert len(table) == len(load_catalog())
    l4 = next(r for r in table if r.gpu == "L4")
    assert (l4.min_gpus, l4.max_context, l4.required_bytes) == (
        fit.min_gpus,
        fit.max_context,
        fit.required_bytes,
    )


def test_without_a_gpu_the_curve_has_no_usable_line() -> None:
    curve, table = page_figures(WEIGHTS, LLAMA, Options(), None, 2)
    assert curve.gpu is None and curve.usable_bytes is None and curve.gpus == 2
    assert curve.points[0].weights_bytes == LLAMA_WEIGHTS // 2
    assert table  # the catalog still answers "which cards can serve this?"
