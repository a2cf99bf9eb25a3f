"""The fake Hub's HTTP semantics with a plain HTTP client: status matrix, redirects, Range, CDN, routing."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from urllib.parse import quote

import httpx2
import pytest
from huggingface_hub.utils import parse_ratelimit_headers
from safetensors.numpy import save

from hubmem.fakehub.fixtures.layout import NOGATE_TOKEN, READER_TOKEN
from hubmem.fakehub.server import FakeHub
from hubmem.fakehub.thread import run_in_thread

from support.fakehub_samples import (
    BIG,
    BIG_DATA,
    DISABLED,
    GATED,
    PRIVATE,
    SHA_MAIN,
    SHA_PR,
    SHARDED,
    TINY,
    big_header,
    build,
    shard_tensors,
    tiny_tensors,
)

READER = {"Authorization": f"Bearer {READER_TOKEN}"}
NOGATE = {"Authorization": f"Bearer {NOGATE_TOKEN}"}
BAD = {"Authorization": "Bearer hf_not_a_valid_token"}


@pytest.fixture(scope="module")
def module_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHub]:
    with run_in_thread(build(tmp_path_factory.mktemp("fixtures"))) as hub:
        yield hub


@pytest.fixture
def hub(module_hub: FakeHub) -> Iterator[FakeHub]:
    module_hub.reset()
    yield module_hub
    module_hub.reset()


@pytest.fixture
def client() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=10) as c:
        yield c


def assert_error(r: httpx2.Response, status: int, code: str | None) -> None:
    assert r.status_code == status, r.text
    assert r.headers.get("X-Error-Code") == code
    assert r.headers["X-Request-Id"].startswith("Root=1-")
    if r.request.method != "HEAD":
        assert r.json()["error"] == r.headers["X-Error-Message"]


# -- auth matrix -------------------------------------------------------------------------------------


@pytest.mark.parametrize("repo", [PRIVATE, "hubmem-test/does-not-exist"])
def test_missing_or_private_repo(hub: FakeHub, client: httpx2.Client, repo: str) -> None:
    for url in (f"{hub.endpoint}/api/models/{repo}", hub.url(repo, "config.json")):
        assert_error(client.get(url), 401, "RepoNotFound")  # anonymous: 401
        assert_error(client.get(url, headers=NOGATE), 404, "RepoNotFound")  # authenticated: 404


def test_private_repo_with_access(hub: FakeHub, client: httpx2.Client) -> None:
    r = client.get(f"{hub.endpoint}/api/models/{PRIVATE}", headers=READER)
    assert r.status_code == 200 and r.json()["private"] is True


def test_invalid_token_is_401_without_repo_not_found(hub: FakeHub, client: httpx2.Client) -> None:
    for url in (f"{hub.endpoint}/api/models/{TINY}", hub.url(TINY, "config.json")):
        r = client.get(url, headers=BAD)
        assert_error(r, 401, None)
        assert r.headers["X-Error-Message"] == "Invalid credentials in Authorization header"


def test_gated_repo_resolve_only(hub: FakeHub, client: httpx2.Client) -> None:
    url = hub.url(GATED, "config.json")
    assert_error(client.get(url), 401, "GatedRepo")
    assert_error(client.head(url, headers=NOGATE), 403, "GatedRepo")
    assert "not in the authorized list" in client.get(url, headers=NOGATE).json()["error"]
    assert client.get(url, headers=READER, follow_redirects=True).json()["model_type"] == "llama"
    # metadata, tree and paths-info stay open, anonymously
    info = client.get(f"{hub.endpoint}/api/models/{GATED}")
    assert info.status_code == 200 and info.json()["gated"] == "manual"
    assert client.get(f"{hub.endpoint}/api/models/{GATED}/tree/main").status_code == 200
    # the shard headers are content: gated like resolve
    assert_error(
        client.get(f"{hub.endpoint}/api/models/{GATED}/safetensors-metadata/x.json"), 401, "GatedRepo"
    )


def test_disabled_repo(hub: FakeHub, client: httpx2.Client) -> None:
    for url in (f"{hub.endpoint}/api/models/{DISABLED}", hub.url(DISABLED, "config.json")):
        r = client.get(url, headers=READER)
        assert r.status_code == 403
        assert r.headers["X-Error-Message"] == "Access to this resource is disabled."


def test_bad_revision_and_missing_entry(hub: FakeHub, client: httpx2.Client) -> None:
    assert_error(client.get(f"{hub.endpoint}/api/models/{TINY}/revision/nope"), 404, "RevisionNotFound")
    assert_error(client.head(hub.url(TINY, "config.json", revision="nope")), 404, "RevisionNotFound")
    r = client.head(hub.url(TINY, "missing.json"))
    assert_error(client.get(hub.url(TINY, "missing.json")), 404, "EntryNotFound")
    assert r.headers["X-Repo-Commit"] == SHA_MAIN  # lets clients write .no_exist/
    r = client.get(f"{hub.endpoint}/api/models/{SHARDED}/tree/main/nope")
    assert_error(r, 404, "EntryNotFound")
    assert r.json()["error"] == 'nope does not exist on "main"'


# -- revisions ---------------------------------------------------------------------------------------


def test_pr_revision_must_be_one_encoded_segment(hub: FakeHub, client: httpx2.Client) -> None:
    ok = client.get(f"{hub.endpoint}/api/models/{TINY}/revision/refs%2Fpr%2F1")
    assert ok.status_code == 200 and ok.json()["sha"] == SHA_PR
    assert_error(client.get(f"{hub.endpoint}/api/models/{TINY}/revision/refs/pr/1"), 404, "RevisionNotFound")
    assert_error(client.get(f"{hub.endpoint}/api/models/{TINY}/tree/refs/pr/1"), 404, "RevisionNotFound")
    for rev, sha in (("refs/pr/1", SHA_PR), ("v1.0", SHA_MAIN), ("HEAD", SHA_MAIN), (SHA_PR, SHA_PR)):
        r = client.head(hub.url(TINY, "model.safetensors", revision=rev))
        assert r.status_code == 302 and r.headers["X-Repo-Commit"] == sha


def test_refs_endpoint(hub: FakeHub, client: httpx2.Client) -> None:
    body = client.get(f"{hub.endpoint}/api/models/{TINY}/refs", params={"include_prs": 1}).json()
    assert body["branches"] == [{"name": "main", "ref": "refs/heads/main", "targetCommit": SHA_MAIN}]
    assert body["tags"] == [{"name": "v1.0", "ref": "refs/tags/v1.0", "targetCommit": SHA_MAIN}]
    assert body["pullRequests"] == [{"name": "refs/pr/1", "ref": "refs/pr/1", "targetCommit": SHA_PR}]
    assert body["converts"] == []


# -- resolve: redirects, HEAD, Range -----------------------------------------------------------------


def test_lfs_resolve_redirects_to_the_cdn(hub: FakeHub, client: httpx2.Client) -> None:
    r = client.head(hub.url(BIG, "model.safetensors"))
    assert r.status_code == 302
    loc = r.headers["Location"]
    assert loc.startswith(hub.cdn_url + "/") and "Expires=" in loc and "Signature=" in loc
    assert r.headers["X-Repo-Commit"] == SHA_MAIN
    assert int(r.headers["X-Linked-Size"]) == 8 + len(big_header()) + BIG_DATA
    assert r.headers["X-Linked-Etag"].startswith('"') and len(r.headers["X-Linked-Etag"]) == 66
    assert r.headers["ETag"] != r.headers["X-Linked-Etag"]
    get = client.get(hub.url(BIG, "model.safetensors"))
    assert int(r.headers["Content-Length"]) == len(get.content) > 0  # the redirect body, not the file
    assert get.text == f"Found. Redirecting to {get.headers['Location']}"


def test_cdn_range_semantics(hub: FakeHub, client: httpx2.Client) -> None:
    real = save(tiny_tensors(), metadata={"format": "pt"})
    loc = client.head(hub.url(TINY, "model.safetensors")).headers["Location"]
    r = client.get(loc, headers={"Range": "bytes=0-100000"})  # end clamped to the size
    assert r.status_code == 206 and r.content == real
    assert r.headers["Content-Range"] == f"bytes 0-{len(real) - 1}/{len(real)}"
    assert r.headers["Accept-Ranges"] == "bytes"
    (n,) = struct.unpack("<Q", r.content[:8])
    r = client.get(loc, headers={"Range": f"bytes=8-{n + 7}"})
    assert r.status_code == 206 and r.content == real[8 : 8 + n]
    r = client.get(loc, headers={"Range": f"bytes={len(real)}-{len(real) + 10}"})
    assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(real)}"
    r = client.get(loc)
    assert r.status_code == 200 and r.content == real and "Content-Range" not in r.headers
    r = client.head(loc)
    assert r.status_code == 200 and r.content == b"" and int(r.headers["Content-Length"]) == len(real)
    assert "X-Repo-Commit" not in r.headers and "X-Linked-Size" not in r.headers


def test_cdn_serves_the_end_of_a_3gib_file_without_materialising(hub: FakeHub, client: httpx2.Client) -> None:
    loc = client.head(hub.url(BIG, "model.safetensors")).headers["Location"]
    r = client.get(loc, headers={"Range": "bytes=-16"})
    assert r.status_code == 206 and r.content == bytes(16)
    total = int(r.headers["Content-Range"].rsplit("/", 1)[1])
    assert r.headers["Content-Range"] == f"bytes {total - 16}-{total - 1}/{total}"


def test_cdn_rejects_authorization_and_logs_it(hub: FakeHub, client: httpx2.Client) -> None:
    loc = client.head(hub.url(TINY, "model.safetensors")).headers["Location"]
    r = client.get(loc, headers=READER)
    assert r.status_code == 400 and "Only one auth mechanism allowed" in r.text
    assert [e.status for e in hub.log.auth_leaks()] == [400]
    # httpx strips Authorization on the cross-origin hop: no leak
    hub.log.reset()
    r = client.get(
        hub.url(TINY, "model.safetensors"), headers={**READER, "Range": "bytes=0-7"}, follow_redirects=True
    )
    assert r.status_code == 206 and hub.log.auth_leaks() == []
    assert [e.origin for e in hub.log] == ["hub", "cdn"] and hub.log.entries[0].auth


def test_cdn_checks_the_signature(hub: FakeHub, client: httpx2.Client) -> None:
    loc = client.head(hub.url(TINY, "model.safetensors")).headers["Location"]
    assert client.get(loc.replace("Signature=", "Signature=0")).status_code == 403
    assert client.get(loc.split("?")[0]).status_code == 403


def test_regular_file_direct_or_via_resolve_cache(hub: FakeHub, client: httpx2.Client) -> None:
    config = client.get(hub.url(TINY, "config.json", revision="refs/pr/1"), follow_redirects=True)
    hub.options.regular_redirect = "never"
    direct = client.get(hub.url(TINY, "config.json", revision="refs/pr/1"))
    assert direct.status_code == 200 and direct.content == config.content
    assert direct.headers["X-Repo-Commit"] == SHA_PR and direct.headers["ETag"].startswith('"')
    hub.options.regular_redirect = "always"
    r = client.head(hub.url(TINY, "config.json", revision="refs/pr/1"))
    assert r.status_code == 307
    loc = r.headers["Location"]
    assert loc.startswith(f"/api/resolve-cache/models/{TINY}/{SHA_PR}/config.json?")
    assert quote(f"/{TINY}/resolve/refs%2Fpr%2F1/config.json", safe="") in loc
    final = client.get(hub.endpoint + loc, headers={"Range": "bytes=2-5"})
    assert final.status_code == 206 and final.content == direct.content[2:6]
    assert final.headers["X-Repo-Commit"] == SHA_PR and final.headers["ETag"] == direct.headers["ETag"]
    assert (
        client.get(hub.endpoint + loc, headers={"If-None-Match": direct.headers["ETag"]}).status_code == 304
    )


def test_raw_route_serves_the_lfs_pointer(hub: FakeHub, client: httpx2.Client) -> None:
    r = client.get(f"{hub.endpoint}/{TINY}/raw/main/model.safetensors")
    assert r.status_code == 200 and r.text.startswith("version https://git-lfs.github.com/spec/v1\n")


# -- API endpoints -----------------------------------------------------------------------------------


def test_model_info_expand_both_spellings(hub: FakeHub, client: httpx2.Client) -> None:
    base = f"{hub.endpoint}/api/models/{TINY}"
    a = client.get(f"{base}?expand=safetensors&expand=sha").json()
    b = client.get(f"{base}?expand[]=safetensors&expand[]=sha").json()
    assert a == b and set(a) == {"_id", "id", "safetensors", "sha"}
    full = client.get(base).json()
    for key in (
        "_id",
        "id",
        "modelId",
        "sha",
        "siblings",
        "gated",
        "private",
        "disabled",
        "safetensors",
        "tags",
    ):
        assert key in full
    assert full["siblings"] == [{"rfilename": p} for p in ("README.md", "config.json", "model.safetensors")]
    assert client.get(f"{base}?expand=notAKey").status_code == 400
    assert (
        client.get(f"{base}?expand=safetensors", headers={"Accept": "*/*"})
        .headers["Content-Type"]
        .startswith("application/json")
    )


def test_paths_info_accepts_form_and_json(hub: FakeHub, client: httpx2.Client) -> None:
    url = f"{hub.endpoint}/api/models/{SHARDED}/paths-info/main"
    form = client.post(url, data={"paths": ["config.json", "sub", "missing.txt"], "expand": "false"}).json()
    js = client.post(url, json={"paths": ["config.json", "sub", "missing.txt"], "expand": False}).json()
    assert form == js
    assert [(e["type"], e["path"]) for e in form] == [("file", "config.json"), ("directory", "sub")]
    expanded = client.post(url, json={"paths": ["config.json"], "expand": True}).json()
    assert expanded[0]["lastCommit"]["id"] == SHA_MAIN
    assert client.post(url, json={}).status_code == 400


def test_tree_pagination_with_link_header(hub: FakeHub, client: httpx2.Client) -> None:
    hub.options.tree_page_size = 3
    url: str | None = f"{hub.endpoint}/api/models/{SHARDED}/tree/main?recursive=true&expand=false"
    paths: list[str] = []
    pages = 0
    while url:
        r = client.get(url)
        assert r.status_code == 200 and len(r.json()) <= 3
        paths += [e["path"] for e in r.json()]
        pages += 1
        url = r.links.get("next", {}).get("url")
    expected = {"config.json", "model.safetensors.index.json", "sub", "sub/c.txt", "sub/dir", "sub/dir/a.txt"}
    expected |= {
        "sub/dir/b.txt",
        "z.txt",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    }
    assert sorted(paths) == sorted(expected) and len(paths) == len(expected)
    assert pages == -(-len(expected) // 3)


def test_tree_entry_shapes(hub: FakeHub, client: httpx2.Client) -> None:
    entries = client.get(f"{hub.endpoint}/api/models/{SHARDED}/tree/main/sub%2Fdir").json()
    assert [e["path"] for e in entries] == ["sub/dir/a.txt", "sub/dir/b.txt"]
    assert entries == client.get(f"{hub.endpoint}/api/models/{SHARDED}/tree/main/sub/dir").json()
    top = {e["path"]: e for e in client.get(f"{hub.endpoint}/api/models/{SHARDED}/tree/main").json()}
    assert top["sub"]["type"] == "directory"
    shard = top["model-00001-of-00002.safetensors"]
    real = save(shard_tensors()[0])
    assert shard["size"] == len(real) == shard["lfs"]["size"] and len(shard["lfs"]["oid"]) == 64
    assert top["z.txt"]["size"] == len(b"file z.txt\n") and "lfs" not in top["z.txt"]


def test_safetensors_metadata_endpoint(hub: FakeHub, client: httpx2.Client) -> None:
    body = client.get(
        f"{hub.endpoint}/api/models/{SHARDED}/safetensors-metadata/model.safetensors.index.json"
    ).json()
    assert "weight_map" not in body["index"] and body["index"]["metadata"]["total_size"] > 0
    for i, tensors in enumerate(shard_tensors()):
        header = body["headers"][f"model-0000{i + 1}-of-00002.safetensors"]
        assert {k: v["shape"] for k, v in header.items()} == {k: list(a.shape) for k, a in tensors.items()}
    r = client.get(f"{hub.endpoint}/api/models/{TINY}/safetensors-metadata/model.safetensors.index.json")
    assert_error(r, 404, "EntryNotFound")


def test_ordinary_responses_carry_ratelimit_with_remaining(hub: FakeHub, client: httpx2.Client) -> None:
    api = parse_ratelimit_headers(client.get(f"{hub.endpoint}/api/models/{TINY}").headers)
    res = parse_ratelimit_headers(client.head(hub.url(TINY, "model.safetensors")).headers)
    assert api is not None and api.resource_type == "api" and api.remaining > 0 and api.limit == 500
    assert (
        res is not None
        and res.resource_type == "resolvers"
        and res.remaining > 0
        and res.window_seconds == 300
    )


def test_other_repo_types_and_unknown_routes(hub: FakeHub, client: httpx2.Client) -> None:
    assert_error(client.get(f"{hub.endpoint}/api/datasets/{TINY}"), 401, "RepoNotFound")
    assert client.get(f"{hub.endpoint}/{TINY}/blob/main/config.json").status_code == 404
    assert client.get(f"{hub.endpoint}/api/models/org%2Fname").status_code == 400


def test_request_log_records_every_request(hub: FakeHub, client: httpx2.Client) -> None:
    real = save(tiny_tensors(), metadata={"format": "pt"})
    client.get(hub.url(TINY, "model.safetensors"), headers={"Range": "bytes=0-99"}, follow_redirects=True)
    client.head(hub.url(TINY, "model.safetensors"))
    hub_get, cdn_get, hub_head = hub.log.entries
    assert (hub_get.origin, hub_get.method, hub_get.status, hub_get.range) == (
        "hub",
        "GET",
        302,
        "bytes=0-99",
    )
    assert (cdn_get.origin, cdn_get.status, cdn_get.bytes_sent) == ("cdn", 206, min(100, len(real)))
    assert "Signature=" in cdn_get.query and not cdn_get.auth
    assert (hub_head.method, hub_head.bytes_sent) == ("HEAD", 0)
    assert hub.log.requests("hub") == 2 and hub.log.requests("cdn") == 1
    assert hub.log.bytes_sent("cdn") == min(100, len(real))
    assert hub.log.summary()["cdn"] == {"requests": 1, "bytes": min(100, len(real))}
    hub.log.reset()
    assert len(hub.log) == 0
