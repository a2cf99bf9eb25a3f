"""Property tests (issue #10) past the header readers: any JSON object as config.json -> a Report (whose JSON
reads back) or a typed error, through the whole build (parse, weights, KV, training, fit, cross-checks);
header-cache entries of arbitrary bytes -> the value or a miss; the service's query parsing -> options
that round-trip through their own query string, or a 4xx."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from hubmem.errors import HubmemError, ServiceError
from hubmem.fetch.cache.files import decode_entry, encode_entry
from hubmem.formats.json_reader import MAX_DEPTH, load_json
from hubmem.pipeline import build_report
from hubmem.schema.options import Options
from hubmem.schema.report import Report
from hubmem.service.params import QUERY_PARAMS, options_to_query, parse_options
from hubmem.service.statuses import status_for
from hubmem.snapshot import Snapshot
from scripts.fuzz.strategies import (
    cache_entry_bytes,
    config_objects,
    hostile_text,
    json_values,
    option_sets,
    query_values,
)
from scripts.fuzz.targets import SHA, weight_files


def build(config: dict[str, Any] | None, files: int, options: dict[str, Any]) -> Report | HubmemError:
    snapshot = Snapshot("org/x", "main", SHA, "hub", config=config, files=list(weight_files()[files]))
    try:
        return build_report(snapshot, Options.model_validate(options), check=True)
    except HubmemError as exc:
        assert "\n" not in exc.message and len(exc.message) < 2000
        return exc


@settings(max_examples=40)
@given(config=config_objects(), files=st.integers(0, 2), options=option_sets())
def test_any_config_is_a_report_that_reads_back_or_a_typed_error(
    config: dict[str, Any], files: int, options: dict[str, Any]
) -> None:
    got = build(config, files, options)
    if isinstance(got, HubmemError):
        return
    text = got.model_dump_json()
    assert load_json(text, max_bytes=1 << 30, max_depth=2 * MAX_DEPTH) == json.loads(text)
    assert Report.model_validate_json(text).model_dump_json() == text


@settings(max_examples=40)
@given(
    config=st.dictionaries(
        st.sampled_from(["model_type", "num_hidden_layers", "hidden_size", "x"]) | hostile_text(),
        json_values(),
        max_size=6,
    )
)
def test_any_json_object_is_a_report_or_a_typed_error(config: dict[str, Any]) -> None:
    got = build(config, 0, {})
    assert isinstance(got, Report | HubmemError)


KEY = ["https://hub", "org/x", SHA, "public", "model.safetensors"]
VALID = encode_entry(KEY, {"kind": "header", "header_length": 16, "header": {"a": 1}, "size": None})


@settings(max_examples=200)
@given(raw=cache_entry_bytes(VALID))
def test_a_cache_entry_is_its_value_or_a_miss(raw: bytes) -> None:
    try:
        value = decode_entry(raw, KEY)
    except ValueError:
        return
    body = raw.partition(b"\n")[2]
    assert isinstance(value, dict) and value == json.loads(body)  # only what the checksum covers
    assert json.loads(raw.partition(b"\n")[0])["sha256"] == hashlib.sha256(body).hexdigest()


@settings(max_examples=100)
@given(value=st.dictionaries(st.text(max_size=6), json_values(), max_size=4))
def test_every_entry_the_cache_writes_reads_back(value: dict[str, Any]) -> None:
    try:
        raw = encode_entry(KEY, value)
    except ValueError:  # NaN / Infinity: never written
        return
    try:
        assert decode_entry(raw, KEY) == value
    except ValueError as exc:  # what the bounded reader refuses (41-digit integers): a miss, never wrong
        assert "digits" in str(exc) or "surrogate" in str(exc), exc


QUERY_NAMES = st.sampled_from(sorted(QUERY_PARAMS)) | hostile_text(8)


@settings(max_examples=300)
@given(query=st.dictionaries(QUERY_NAMES, query_values(), max_size=5))
@example(query={"context": ["9" * 5000], "kv_dtype": ["x" * 3000]})  # echoed whole in the 422 before
def test_a_query_is_options_that_round_trip_or_a_4xx(query: dict[str, list[str]]) -> None:
    try:
        options = parse_options(query)
    except HubmemError as exc:
        assert isinstance(exc, ServiceError) or exc.exit_code == 2, type(exc)
        assert 400 <= status_for(exc, sent_token=False) < 500
        assert len(exc.message) < 2000 and "\n" not in exc.message
        assert all(
            len(str(e.get("input", ""))) <= 130 for e in getattr(exc, "errors", [])
        )  # brief, never whole
        return
    again = parse_options({k: [v] for k, v in options_to_query(options).items()})
    assert again == options
