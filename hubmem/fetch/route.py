"""The one-request route for sharded repos.

The ``safetensors-metadata`` route (``GET /api/models/{id}/safetensors-metadata/{index}``, one
request for all shard headers, ``main`` only) is used for sharded repos when the requested
revision is literally ``main``. It answers parsed headers without N, and it reads ``main`` at
request time, not at our sha. So in the same wave we ``POST .../paths-info/{sha}`` for the shard
sizes (or use the tree listing when ``with_hub_info``) and derive N = size - 8 - max(data end):
exact for every loadable safetensors file, whose data buffer must end at the end of the file. The
route is accepted only if it matches the index read at the sha (same shards, same tensor names per
shard, same index ``metadata``) and every derived N is at least what the header's JSON must hold (its
names, each in the shortest entry text); anything else (404, an error, a mismatch, no sizes) falls back
to range reads, and an endpoint that lacks the route (404/405/501 without ``X-Error-Code``) is not asked
again.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from hubmem.fetch.http.client import HubClient
from hubmem.fetch.http.response import HubResponse, decode_json
from hubmem.fetch.http.trace import Trace
from hubmem.fetch.listing import paths_sizes
from hubmem.formats.safetensors import MAX_HEADER_LENGTH, parse_header
from hubmem.snapshot import WeightFile

# bytes of a tensor's compact JSON entry besides its name: the shortest is 50 (the quotes, the separating
# comma and {"dtype":"U8","shape":[],"data_offsets":[0,0]}); 45 leaves room for shorter dtype names
MIN_ENTRY_TEXT = 45


async def headers_via_route(
    client: HubClient,
    repo_id: str,
    revision: str,
    sha: str,
    index_path: str,
    index: dict[str, Any],
    shards: dict[str, list[str]],
    trace: Trace,
    tree: asyncio.Task[dict[str, int]] | None,
    tree_trace: Trace | None,
) -> list[WeightFile] | None:
    """All shard headers from the safetensors-metadata route, or None to fall back."""
    url = client.api_url(repo_id, "safetensors-metadata", quote(index_path, safe="/"))
    t_route = trace.fork()
    t_sizes = trace.fork()

    async def sizes() -> dict[str, int]:
        if tree is not None:
            return await tree
        return await paths_sizes(client, repo_id, revision, sha, list(shards), t_sizes)

    results = await asyncio.gather(
        client.request("GET", url, trace=t_route, repo_id=repo_id, path=index_path, revision=revision),
        sizes(),
        return_exceptions=True,
    )
    trace.join(t_route, t_sizes, *([tree_trace] if tree_trace is not None else []))
    route, sizes_result = results
    if isinstance(route, BaseException) or isinstance(sizes_result, BaseException):
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, Exception):
                raise r  # cancellation and the like
        return None
    assert isinstance(route, HubResponse) and isinstance(sizes_result, dict)
    if route.status >= 400:
        if route.status in (404, 405, 501) and "x-error-code" not in route.headers:
            client.state.metadata_route_unavailable = True
        return None
    try:
        body = decode_json(route.content)
    except (UnicodeDecodeError, ValueError):
        return None
    return route_files(body, index_path, index, shards, sizes_result)


def route_files(
    body: Any,
    index_path: str,
    index: dict[str, Any],
    shards: dict[str, list[str]],
    sizes: dict[str, int],
) -> list[WeightFile] | None:
    """Check the route's answer against the index read at the sha; derive each exact N."""
    if not isinstance(body, dict) or not isinstance(body.get("headers"), dict):
        return None
    headers: dict[str, Any] = body["headers"]
    route_index = body.get("index")
    if (
        isinstance(route_index, dict)
        and "metadata" in route_index
        and "metadata" in index
        and route_index["metadata"] != index["metadata"]
    ):
        return None
    base = index_path.rsplit("/", 1)[0] + "/" if "/" in index_path else ""
    if len(headers) != len(shards):
        return None
    files: list[WeightFile] = []
    for path, names in shards.items():
        header = headers.get(path[len(base) :]) if path.startswith(base) else None
        header = headers.get(path) if header is None else header
        size = sizes.get(path)
        if not isinstance(header, dict) or size is None:
            return None
        n = header_length(header, names, size)
        if n is None:
            return None
        files.append(WeightFile(path, n, parse_header(header, file=path), size))
    return files


def header_length(header: dict[str, Any], names: list[str], size: int) -> int | None:
    """N of a file of ``size`` bytes with this header, when the header has exactly the tensors ``names``
    and N is plausible: at most the format's limit, and at least a lower bound of the header's compact JSON
    (its names' characters, and :data:`MIN_ENTRY_TEXT` bytes around each; the exact length would need the
    header serialised again, which cost more than the rest of the route's checks)."""
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    if set(tensors) != set(names):
        return None
    ends = []
    for info in tensors.values():
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            return None
        ends.append(offsets[1])
    n = size - 8 - max(ends, default=0)
    least = sum(map(len, tensors)) + MIN_ENTRY_TEXT * len(tensors) + 2  # a bound, not a re-serialisation
    return n if least <= n <= MAX_HEADER_LENGTH else None
