"""``hubmem report`` (the default command), ``hubmem check`` and ``hubmem demo``."""

from __future__ import annotations

import sys
from typing import Any

import click

from hubmem._gc import cyclic_gc_paused
from hubmem.cli.console import err_line, guarded
from hubmem.cli.options import build_options, cache_options, open_cache, report_options
from hubmem.cli.output import emit
from hubmem.cli.target import endpoint_option, resolve_target
from hubmem.errors import RepoNotFoundError
from hubmem.fetch.local import looks_local
from hubmem.pipeline import analyze_async, analyze_source, run_sync
from hubmem.schema.options import Options
from hubmem.schema.report import Report

DEMO_TOKEN = "hf_hubmem_fixture_reader"  # fixtures/tokens.json: a token that may read the gated fixtures


@click.command("report")
@click.argument("repo")
@report_options
@endpoint_option
@click.option("--offline", is_flag=True, help="Read the repo from the local Hugging Face cache, no network.")
@click.option("--check", "with_check", is_flag=True, help="Add the cross-checks (see `hubmem check`).")
@cache_options
@guarded
def report_cmd(repo: str, **kw: Any) -> None:
    """Report on one Hub repo, a local checkpoint folder or a .safetensors / .gguf file (the default
    command: `hubmem REPO`). REPO is org/name, org/name@revision, a Hub URL
    (https://huggingface.co/org/name, hf.co/org/name/tree/REV, .../blob/REV/file.gguf) or a path."""
    repo = resolve_target(repo, kw)
    report = _analyze(repo, build_options(kw), kw, check=kw["with_check"])
    emit(report, kw)
    if report.check is not None and not kw["as_json"]:
        from hubmem.render.check import print_check  # rich: text output only

        print_check(report)


@click.command("check")
@click.argument("repo")
@click.option("--revision", default="main", show_default=True, help="Branch, tag, commit sha or refs/pr/N.")
@click.option("--subfolder", default=None, help="Read weights (and config) below this folder.")
@click.option("--token", default=None, help="Hub token (default: HF_TOKEN or the saved login).")
@click.option("--json", "as_json", is_flag=True, help="Print the cross-checks as JSON.")
@endpoint_option
@click.option("--offline", is_flag=True, help="Read the repo from the local Hugging Face cache, no network.")
@cache_options
@guarded
def check_cmd(repo: str, **kw: Any) -> None:
    """Cross-check a repo's index, Hub summary, config.json, file sizes and name against its headers.

    Exit status: 0 no mismatch, 1 at least one mismatch (errors keep their own codes)."""
    from hubmem.render.check import print_check

    repo = resolve_target(repo, kw)
    options = Options(revision=kw["revision"], subfolder=kw["subfolder"], gguf_file=kw.get("gguf_file"))
    report = _analyze(repo, options, kw, check=True)
    assert report.check is not None
    if kw["as_json"]:
        click.echo(report.check.model_dump_json(indent=2))
    else:
        print_check(report)
    sys.exit(0 if report.check.ok else 1)


@click.command("demo")
@click.argument("repo", default="meta-llama/Llama-3.1-8B")
@report_options
@guarded
def demo_cmd(repo: str, **kw: Any) -> None:
    """Run the report offline against the bundled fake Hub (real metadata from fixtures/)."""
    from hubmem.fakehub.fixtures.layout import default_fixtures_dir
    from hubmem.fakehub.thread import run_in_thread

    repo = resolve_target(repo, kw)
    options = build_options(kw)
    token = kw["token"] or DEMO_TOKEN
    fixtures = default_fixtures_dir()
    with run_in_thread(fixtures) as hub:
        if repo not in hub.store.repos:
            bundled = sorted(r for r in hub.store.repos if not r.startswith("hubmem-test/"))
            raise RepoNotFoundError(
                f"{repo} is not among the demo's bundled repos",
                hint="Bundled (real metadata): " + ", ".join(bundled),
                repo_id=repo,
            )
        demo = f"offline demo: fake Hub at {hub.endpoint} serving {fixtures} (real configs, headers only)"
        err_line((demo, "dim"))
        report = run_sync(lambda: analyze_async(repo, options, token=token, endpoint=hub.endpoint))
    emit(report, kw)


def _analyze(repo: str, options: Options, kw: dict[str, Any], *, check: bool) -> Report:
    """The report of ``report`` and ``check``: the source's options from the command line.

    The collector is paused throughout: turned on between reading and estimating, it would scan the
    snapshot's tensors (all acyclic, freed by reference counting once the report is built) again."""
    with cyclic_gc_paused():
        return analyze_source(
            repo,
            options,
            token=kw["token"],
            endpoint=kw["endpoint"],
            offline=kw["offline"],
            cache=None if looks_local(repo) else open_cache(kw),  # a local path reads no header cache
            check=check,
        )
