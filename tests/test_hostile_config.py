"""Issue #10 items 1, 5 and 9: config values are bounded where they enter (``hubmem.parse.reader``), so no
layer count of any kind (MTP with include_mtp, T5 encoder/decoder, the cross-check's formula) can hang or
exhaust hubmem; wrong-typed and non-finite values are named in ``Architecture.missing`` as invalid values
(never "no ... key") and never crash an estimator; reports stay JSON that reads back (``scan --resume``).
End to end through the fake Hub, the service and a scan where the item is reachable there."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, ClientTimeout
from aiohttp.test_utils import TestServer

from hubmem.errors import ConfigError
from hubmem.fakehub.fixtures.layout import write_tokens
from hubmem.fakehub.server import FakeHub
from hubmem.parse.config import parse_config
from hubmem.parse.reader import MAX_LAYERS
from hubmem.pipeline import analyze_async, build_report
from hubmem.scan.files import ScanFiles, run_scan
from hubmem.scan.input import Target
from hubmem.scan.runner import ScanSettings
from hubmem.schema.kv import KVOptions
from hubmem.schema.options import Options
from hubmem.service.app import create_app
from hubmem.service.backend import HubBackend
from hubmem.service.settings import Settings
from hubmem.snapshot import Snapshot

from support.scan_samples import Dims, jsonl, write_llama

HUGE = 10**18
LLAMA = Dims().config()
DEEPSEEK_MLA = {"kv_lora_rank": 512, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128}

# (name, config changes, the key the report must name as an invalid value)
HOSTILE_COUNTS: list[tuple[str, dict[str, Any], str]] = [
    ("layers", {"num_hidden_layers": HUGE}, "num_hidden_layers"),
    ("layers-float", {"num_hidden_layers": 1e18}, "num_hidden_layers"),
    ("mtp", {"num_nextn_predict_layers": HUGE}, "num_nextn_predict_layers"),
    ("mtp-mla", {**DEEPSEEK_MLA, "model_type": "deepseek_v3", "num_nextn_predict_layers": HUGE}, "num_nextn"),
    ("t5-encoder", {"model_type": "t5", "num_layers": HUGE, "d_model": 32, "num_heads": 4}, "num_layers"),
    ("t5-decoder", {"model_type": "t5", "num_layers": 2, "num_decoder_layers": HUGE}, "num_decoder_layers"),
    ("bart-decoder", {"model_type": "bart", "encoder_layers": 2, "decoder_layers": HUGE}, "decoder_layers"),
    ("dense-first", {"first_k_dense_replace": HUGE}, "first_k_dense_replace"),
    ("vision-depth", {"vision_config": {"depth": HUGE, "hidden_size": 8}}, "vision_config.depth"),
    ("layer-types", {"layer_types": ["full_attention"] * (MAX_LAYERS + 1)}, "layer_types"),
    (
        "pattern",
        {"model_type": "nemotron_h", "hybrid_override_pattern": "*" * 20_000},
        "hybrid_override_pattern",
    ),
    ("hidden", {"hidden_size": 10**30}, "hidden_size"),
    ("context", {"max_position_embeddings": 10**39}, "max_position_embeddings"),
]


def config_of(changes: dict[str, Any]) -> dict[str, Any]:
    return {**LLAMA, **changes}


def invalid_named(missing: list[str], key: str) -> bool:
    return any(key in m and "invalid value" in m for m in missing)


@pytest.mark.parametrize(("name", "changes", "key"), HOSTILE_COUNTS, ids=[c[0] for c in HOSTILE_COUNTS])
def test_counts_beyond_their_limit_are_invalid_values_not_missing_keys(
    name: str, changes: dict[str, Any], key: str
) -> None:
    arch = parse_config(config_of(changes))
    assert invalid_named(arch.missing, key), arch.missing
    assert not any(
        m.startswith(f"{key}: no ") or "no num_hidden_layers" in m for m in arch.missing if key in m
    )
    assert arch.mtp_layers <= MAX_LAYERS and len(arch.layer_kinds) <= MAX_LAYERS
    assert arch.num_layers is None or arch.num_layers <= MAX_LAYERS


# -- wrong-typed and non-finite values (item 5), named in missing (item 9) -----------------------------


def tiny_snapshot(config: dict[str, Any]) -> Snapshot:
    from safetensors.numpy import save

    from support.scan_samples import llama_tensors

    raw = save(llama_tensors(Dims()))
    n = int.from_bytes(raw[:8], "little")
    from hubmem.formats.safetensors_load import load_header
    from hubmem.snapshot import WeightFile

    header = load_header(raw[8 : 8 + n])
    return Snapshot(
        "org/x",
        "main",
        "a" * 40,
        "hub",
        config=config,
        files=[WeightFile("model.safetensors", n, header, len(raw))],
    )


WRONG: list[tuple[str, dict[str, Any], str]] = [
    ("architectures-string", {"architectures": "LlamaForCausalLM"}, "architectures"),
    (
        "modules-not-list",
        {"quantization_config": {"quant_method": "gptq", "bits": 4, "modules_to_not_convert": 5}},
        "modules_to_not_convert",
    ),
    (
        "ignore-not-list",
        {"quantization_config": {"quant_method": "compressed-tensors", "ignore": {"a": 1}}},
        "ignore",
    ),
    (
        "targets-not-list",
        {
            "quantization_config": {
                "quant_method": "compressed-tensors",
                "config_groups": {"g": {"targets": 7}},
            }
        },
        "targets",
    ),
    ("bits-nan", {"quantization_config": {"quant_method": "gptq", "bits": math.nan}}, "bits"),
    ("bits-inf", {"quantization_config": {"quant_method": "gptq", "bits": math.inf}}, "bits"),
    ("bits-huge", {"quantization_config": {"quant_method": "gptq", "bits": 1e300}}, "bits"),
    ("in-channels", {"vision_config": {"in_channels": -math.inf, "hidden_size": 8}}, "in_channels"),
    (
        "mamba-expand",
        {"model_type": "mamba", "expand": math.nan, "state_size": 16, "conv_kernel": 4},
        "expand",
    ),
    (
        "deep-quant",
        {"quantization_config": {"quant_method": "gptq", "x": json.loads("[" * 502 + "]" * 502)}},
        "quantization_config",
    ),
    ("shared-experts", {"n_shared_experts": "two"}, "n_shared_experts"),
    ("first-dense", {"first_k_dense_replace": [1]}, "first_k_dense_replace"),
    ("mtp-string", {"num_nextn_predict_layers": "1"}, "num_nextn_predict_layers"),
    ("topk-method", {"topk_method": 3}, "topk_method"),
]


@pytest.mark.parametrize(("name", "changes", "key"), WRONG, ids=[c[0] for c in WRONG])
@pytest.mark.parametrize("engine", ["transformers", "vllm"])
def test_wrong_typed_or_non_finite_values_are_named_and_never_crash(
    name: str, changes: dict[str, Any], key: str, engine: str
) -> None:
    options = Options(kv=KVOptions(engine=engine, include_mtp=True), gpu="h100")  # type: ignore[arg-type]
    report = build_report(tiny_snapshot(config_of(changes)), options, check=True)
    assert invalid_named(report.architecture.missing, key), report.architecture.missing
    assert json.loads(report.model_dump_json())["repo_id"] == "org/x"  # JSON that reads back


def test_a_tiny_gpu_utilization_never_gives_negative_usable_bytes() -> None:
    options = Options(gpu="h100", gpu_utilization=1e-9)
    report = build_report(tiny_snapshot(LLAMA), options)
    assert report.fit is not None and report.fit.usable_bytes == 0 and not report.fit.fits
    assert all(s.usable_bytes == 0 for s in report.fit_scenarios)


# -- end to end ------------------------------------------------------------------------------------------


@pytest.fixture
def hostile_root(tmp_path: Path) -> Path:
    root = tmp_path / "fixtures"
    write_tokens(root)
    for i, (_, changes, _) in enumerate(HOSTILE_COUNTS):
        write_llama(root, f"hostile/c{i}", config=config_of(changes))
    write_llama(root, "hostile/mtp", config=config_of({"num_nextn_predict_layers": HUGE}))
    write_llama(
        root, "hostile/big-ints", config=config_of({"vocab_size": 10**39, "max_position_embeddings": 10**39})
    )
    return root


@pytest.mark.e2e
async def test_check_and_scan_return_on_every_hostile_count(
    hostile_root: Path, tmp_path: Path, make_fake_hub: Callable[..., FakeHub]
) -> None:
    """``hubmem check`` / ``scan`` (check on) never returned on num_hidden_layers 1e18; rows must also read
    back for ``--resume``."""
    hub = make_fake_hub(hostile_root)
    for i in range(len(HOSTILE_COUNTS)):
        report = await asyncio.wait_for(
            analyze_async(f"hostile/c{i}", endpoint=hub.endpoint, token=False, check=True), timeout=30
        )
        assert report.check is not None
    targets = [Target(f"hostile/c{i}", "main") for i in range(len(HOSTILE_COUNTS))]
    targets += [Target("hostile/big-ints", "main")]
    out = tmp_path / "out.jsonl"
    settings = ScanSettings(endpoint=hub.endpoint, token=False, check=True)
    summary = await asyncio.wait_for(run_scan(targets, settings, ScanFiles(out)), timeout=120)
    assert summary.ok == len(targets), jsonl(out)
    again = await run_scan(targets, settings, ScanFiles(out, resume=True))
    assert again.skipped == len(targets)  # every row read back


@pytest.fixture
async def service(
    hostile_root: Path, make_fake_hub: Callable[..., FakeHub]
) -> AsyncIterator[tuple[TestServer, ClientSession]]:
    hub = make_fake_hub(hostile_root)
    app = create_app(Settings(endpoint=hub.endpoint), backend=HubBackend(hub.endpoint, backoff_base=0.01))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    session = ClientSession(timeout=ClientTimeout(total=60))
    yield server, session
    await session.close()
    await server.close()


@pytest.mark.e2e
async def test_mtp_requests_no_longer_take_every_build_slot(
    service: tuple[TestServer, ClientSession],
) -> None:
    """The issue's attack: four anonymous include_mtp requests on a repo with 10^18 MTP layers held all
    build slots for good; now each answers at once and the server keeps serving."""
    server, session = service

    async def get(path: str) -> tuple[int, Any]:
        async with session.get(server.make_url(path)) as r:
            return r.status, await r.json()

    started = time.monotonic()
    answers = await asyncio.gather(
        *(get(f"/v1/models/hostile/mtp?include_mtp=true&context={n}") for n in range(1, 5))
    )
    for status, body in answers:
        assert status == 200, body
        assert body["architecture"]["mtp_layers"] == 0
        assert invalid_named(body["architecture"]["missing"], "num_nextn_predict_layers")
    status, _ = await get("/v1/models/hostile/c0?context=8")
    assert status == 200 and time.monotonic() - started < 30


def test_config_sizes_past_2_64_parameters_leave_the_check_unavailable() -> None:
    """Found by scripts/fuzz (seed 22): a Qwen3-VL vision tower with spatial_merge_size 2^32 gave a config
    formula of ~1.8e45 parameters, which the check wrote into the report as an integer that scan --resume
    cannot read back (over the bounded reader's 40 digits). Now the check is unavailable and says why."""
    from hubmem.formats.json_reader import load_json
    from hubmem.pipeline import build_report

    config = {
        "architectures": ["Qwen3VLForConditionalGeneration"],
        "model_type": "qwen3_vl",
        "text_config": {
            "head_dim": 128, "hidden_size": 4096, "intermediate_size": 12288, "max_position_embeddings": 4096,
            "model_type": "qwen3_vl_text", "num_attention_heads": 32, "num_hidden_layers": 36,
            "num_key_value_heads": 8, "vocab_size": 151936, "dtype": "bfloat16",
        },
        "vision_config": {
            "depth": 27, "hidden_size": 1152, "in_channels": 3, "intermediate_size": 4304, "num_heads": 16,
            "num_position_embeddings": 2304, "out_hidden_size": 4096, "patch_size": 16,
            "spatial_merge_size": 2**32, "temporal_patch_size": 2,
        },
    }  # fmt: skip
    report = build_report(tiny_snapshot(config), check=True)
    assert report.check is not None
    item = next(i for i in report.check.items if i.name == "config_parameters")
    assert item.status == "unavailable" and "not a real model" in (item.detail or "")
    load_json(report.model_dump_json())  # reads back, as scan --resume reads a row
    # with no weight file either, nothing can be projected: a typed error that says why, not "0 B"
    with pytest.raises(ConfigError, match=r"does not give the parameters .*not a real model"):
        build_report(Snapshot("org/x", "main", "a" * 40, "hub", config=config), check=True)
