"""What the REPO argument names: a local path, ``org/name``, ``org/name@rev`` or a Hub URL
(hubmem.fetch.ids.parse_target), folded into the command's --revision / --subfolder / --gguf-file; and
``--endpoint`` for every command that reads the Hub."""

from __future__ import annotations

from typing import Any

import click

from hubmem.errors import BadOptionError
from hubmem.fetch.ids import is_hub_url, parse_target
from hubmem.fetch.local import looks_local

endpoint_option = click.option(
    "--endpoint", default=None, help="Hub to read from [default: HF_ENDPOINT or huggingface.co]."
)


def _merge(kw: dict[str, Any], key: str, value: str | None, option: str, default: Any = None) -> None:
    """The URL's / ``@``'s value for ``kw[key]``, unless the option says otherwise."""
    if value is None:
        return
    given = kw.get(key, default)
    if given not in (default, value):
        raise BadOptionError(
            f"{option} {given!r} but the repo argument names {value!r}",
            hint=f"give it once: in the repo argument or as {option}",
        )
    kw[key] = value


def resolve_target(repo: str, kw: dict[str, Any]) -> str:
    """The repo id (or local path) to read, with ``kw`` updated from what the argument adds."""
    if not is_hub_url(repo) and (looks_local(repo) or "@" not in repo):
        return repo
    target = parse_target(repo)
    _merge(kw, "revision", target.revision, "--revision", "main")
    if target.file is not None and target.file.lower().endswith(".gguf"):
        path = "/".join(p for p in (target.subfolder, target.file) if p)
        _merge(kw, "gguf_file", path, "--gguf-file")
    else:
        _merge(kw, "subfolder", target.subfolder, "--subfolder")
    if target.file is not None and target.file.endswith(".safetensors"):
        kw.setdefault("target_warnings", []).append(
            f"{target.file}: a safetensors file of the repo was named; the whole checkpoint "
            f"{'in ' + target.subfolder if target.subfolder else 'at the root'} is read (every shard)"
        )
    return target.repo_id
