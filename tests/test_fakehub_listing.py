"""The fake Hub's model listing (GET /api/models), read by huggingface_hub's own ``HfApi.list_models``:
filters, sort, limit, expand, Link paging, private repos and a 429 in the middle of the pages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from hubmem.fakehub.fixtures.layout import READER_TOKEN, RepoWriter, write_tokens
from hubmem.fakehub.server import FakeHub

from support.scan_samples import write_llama

pytestmark = pytest.mark.e2e


@pytest.fixture
def listed(tmp_path: Path, make_fake_hub: Callable[..., FakeHub]) -> FakeHub:
    write_tokens(tmp_path)
    for i in range(23):
        write_llama(tmp_path, f"org/m{i:02d}", sha=f"{i:040x}", hub={"downloads": i % 5, "likes": 100 - i})
    write_llama(tmp_path, "other/llama-x", sha="e" * 40)
    RepoWriter(tmp_path, "org/secret", sha="f" * 40, private=True).add_file("config.json", "{}").write()
    RepoWriter(tmp_path, "org/quant", sha="d" * 40).add_file("model-q4.gguf", b"GGUF").write()
    return make_fake_hub(tmp_path, list_page_size=10)


def test_author_pages_and_expand(listed: FakeHub) -> None:
    api = HfApi(endpoint=listed.endpoint, token=False)
    models = list(api.list_models(author="org", expand=["sha", "lastModified"]))  # type: ignore[list-item]
    assert [m.id for m in models] == sorted(m.id for m in models)
    assert {m.id for m in models} == {f"org/m{i:02d}" for i in range(23)} | {
        "org/quant"
    }  # not the private one
    assert next(m for m in models if m.id == "org/m07").sha == f"{7:040x}"
    assert all(m.last_modified is not None for m in models)
    pages = listed.log.filter(path="/api/models")
    assert len(pages) == 3 and all(e.status == 200 for e in pages)  # 24 items, 10 per page
    assert "cursor=" in pages[1].query and "expand=sha" in pages[1].query  # the Link carried the parameters


def test_search_filter_sort_limit_and_private(listed: FakeHub) -> None:
    api = HfApi(endpoint=listed.endpoint, token=False)
    assert [m.id for m in api.list_models(search="LLAMA")] == ["other/llama-x"]
    assert [m.id for m in api.list_models(filter="gguf")] == ["org/quant"]
    by_likes = [m.id for m in api.list_models(author="org", sort="likes", limit=3)]
    assert by_likes == ["org/m00", "org/m01", "org/m02"]
    assert listed.log.filter(path="/api/models")[-1].query.count("limit=3") == 1
    reader = HfApi(endpoint=listed.endpoint, token=READER_TOKEN)
    assert "org/secret" in {m.id for m in reader.list_models(author="org")}


def test_listing_waits_out_a_429(listed: FakeHub) -> None:
    listed.inject(429, times=1, match="^/api/models\\?.*cursor=")  # the second page, once
    api = HfApi(endpoint=listed.endpoint, token=False)
    assert len(list(api.list_models(author="org"))) == 24
    assert [e.status for e in listed.log.filter(path="/api/models")] == [200, 429, 200, 200]
