"""The code paths a fuzz input drives, each as hubmem's own callers drive it. A target returns normally or
raises a typed ``HubmemError`` for every input; anything else it raises is a crash.

- :func:`header`: the u64 length check, the header's JSON and its validation (what every range read and
  local read runs), then, for a share of the valid headers, the whole report built on them;
- :func:`report`: config.json bytes as the fetch reads them (the bounded reader; not JSON -> a warning and
  no config) and as a companion file, then ``build_report`` with the cross-checks, the report's JSON read
  back as ``scan --resume`` reads it, and the terminal report as the CLI prints it;
- :func:`gguf_header`: a GGUF header prefix, whole and in two feeds, its cache record read back, then, for
  a share, the whole report on it (the llama.cpp or vLLM view included);
- :func:`cache_entry`: a header-cache entry file read back through ``CommitCache``;
- :func:`service_request`: a query string and a scan body as the service parses them.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from hubmem.errors import HubmemError
from hubmem.fetch.cache.store import HeaderCache
from hubmem.fetch.ids import validate_repo_id
from hubmem.formats.gguf.header import GGUFHeader
from hubmem.formats.gguf.parser import GGUFParser
from hubmem.formats.gguf.record import header_from_record, header_record
from hubmem.formats.json_reader import MAX_DEPTH, load_json
from hubmem.formats.safetensors import SafetensorsHeader, Tensor, read_header_length
from hubmem.formats.safetensors_load import load_header
from hubmem.pipeline import build_report
from hubmem.render.text import render_report
from hubmem.schema.options import Options
from hubmem.service.params import parse_options
from hubmem.snapshot import Snapshot, WeightFile
from scripts import ROOT

SHA = "f" * 40
HEADER_REPOS = ("openai-community__gpt2", "sentence-transformers__all-MiniLM-L6-v2", "Qwen__Qwen3-0.6B")


@functools.cache
def weight_files() -> tuple[tuple[WeightFile, ...], ...]:
    """Small real headers to build reports on (one file each)."""
    out = []
    for repo in HEADER_REPOS:
        path = next((ROOT / "fixtures" / "repos" / repo / "headers").glob("model.safetensors.json*"))
        raw = path.read_bytes()
        raw = gzip.decompress(raw) if path.name.endswith(".gz") else raw
        out.append((WeightFile("model.safetensors", len(raw), load_header(raw)),))
    return tuple(out)


def header(
    raw: bytes, *, with_report: bool = False, options: Mapping[str, Any] | None = None, render: bool = True
) -> None:
    """One safetensors header of ``len(raw)`` bytes, then optionally the report on it."""
    try:
        n = read_header_length(struct.pack("<Q", len(raw)))
        parsed = load_header(raw[:n])
    except HubmemError:
        return
    if with_report:
        files = (WeightFile("model.safetensors", n, parsed),)
        report_on(_tiny_config(parsed.tensors), files, options, render=render)


def _tiny_config(tensors: list[Tensor]) -> dict[str, Any]:
    """A config that says something about these tensors (the layer count from their names)."""
    return {
        "model_type": "llama",
        "num_hidden_layers": max(1, len(tensors)),
        "hidden_size": 8,
        "num_attention_heads": 2,
    }


def report(
    config_raw: bytes,
    *,
    files: int = 0,
    options: Mapping[str, Any] | None = None,
    companion: bool = False,
    render: bool = True,
) -> None:
    """config.json (or, with ``companion``, quantize_config.json) bytes, then the whole report."""
    try:  # hubmem.fetch.reads.CommitReads.json_file: not JSON -> a warning, no config
        config = load_json(config_raw)
    except ValueError:
        config = None
    if companion:
        report_on(
            {"model_type": "llama"},
            weight_files()[files % len(HEADER_REPOS)],
            options,
            {"quantize_config.json": config},
            render=render,
        )
    else:
        report_on(
            config if isinstance(config, dict) else None,
            weight_files()[files % len(HEADER_REPOS)],
            options,
            render=render,
        )


def report_on(
    config: dict[str, Any] | None,
    files: tuple[WeightFile, ...],
    options: Mapping[str, Any] | None,
    extra: dict[str, Any] | None = None,
    *,
    render: bool = True,
) -> None:
    snapshot = Snapshot("fuzz/repo", "main", SHA, "hub", config=config, files=list(files), extra=extra or {})
    try:
        built = build_report(snapshot, Options.model_validate(options or {}), check=True)
    except HubmemError:
        return
    text = built.model_dump_json()
    load_json(text, max_bytes=1 << 30, max_depth=2 * MAX_DEPTH)  # as scan --resume reads a row back
    if render:  # the terminal report as the CLI prints it (two thirds of a report's time: not every input)
        Console(file=io.StringIO(), width=120).print(render_report(built, show_bytes=True))


def gguf_header(
    raw: bytes, *, with_report: bool = False, options: Mapping[str, Any] | None = None, render: bool = True
) -> None:
    """A GGUF file's first bytes: parsed whole and in two feeds (the range reads' path), the header's
    record through JSON and back (the header cache's path), then optionally the report on it."""
    parsed: list[GGUFHeader | None] = []
    for cut in (len(raw), len(raw) // 2):
        parser = GGUFParser(file="model.gguf")
        try:
            parser.feed(raw[:cut])
            parser.wanted()
            parser.feed(raw[cut:])
            parsed.append(parser.finish())
        except HubmemError:
            parsed.append(None)
    whole, fed = parsed
    assert (whole is None) == (fed is None), "whole and fed in two pieces disagree"
    if whole is None:
        return
    assert whole.header_end <= len(raw)
    record = header_record(whole)
    try:  # what HeaderCache.put writes (NaN / Infinity metadata: nothing, the header is not cached)
        text = json.dumps(record, allow_nan=False)
    except ValueError:
        pass
    else:
        record = load_json(text, max_depth=2 * MAX_DEPTH)
        assert header_from_record(record).tensors == whole.tensors
    if with_report:
        size = whole.expected_file_size
        files = (WeightFile("model.gguf", whole.header_end, record, size, format="gguf"),)
        report_on(None, files, options, render=render)


def cache_entry(folder: Path, raw: bytes) -> None:
    """A header-cache entry file under the right name, read back through the commit cache."""
    cache = HeaderCache(folder)
    commit = cache.commit("https://hub", "fuzz/repo", SHA)
    path = cache._file(commit.entry_key("model.safetensors"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    got = commit.get_header("model.safetensors")
    assert got is None or isinstance(got.header, dict | SafetensorsHeader)
    if got is not None:  # what the fetch hands on: the report is built on the cached header
        report_on({"model_type": "llama"}, (got,), None)
    commit.get_file("model.safetensors")
    commit.is_complete(None)


def service_request(query: dict[str, list[str]], body: bytes) -> None:
    """The service's query parsing and its scan body (``routes.scan``) on arbitrary input."""
    with contextlib.suppress(HubmemError):
        parse_options(query)
    try:
        data = load_json(body, max_bytes=64 * 1024, max_depth=2)
    except ValueError:
        data = None
    if isinstance(data, dict) and set(data) == {"repo_ids"}:
        data = data["repo_ids"]
    for repo_id in data if isinstance(data, list) else []:
        if isinstance(repo_id, str):  # each row's check (routes._scan_row), and a path's (/v1/models/...)
            with contextlib.suppress(HubmemError):
                validate_repo_id(repo_id)
    json.dumps(query)
