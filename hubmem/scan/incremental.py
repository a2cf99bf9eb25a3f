"""A scan into the catalog database (``hubmem scan --db``): only what the catalog does not hold yet.

* A target whose commit is known (from the listing, or a 40-hex revision) and stored with the same options
  is skipped without a request; when its head pointed elsewhere (a repo moved back to an older commit) only
  the head moves.
* A target at a branch or tag is resolved (one API request) and skipped when still at its head's commit.
* Everything else is scanned, and each repo is stored in one transaction as it finishes
  (:meth:`hubmem.catalog.store.Store.put`): killing the scan loses at most the repos in flight, and the next
  scan picks them up.
"""

from __future__ import annotations

import msgspec

from hubmem.catalog.store import Head, OptionsKey, Store
from hubmem.fetch.cache.store import HeaderCache
from hubmem.fetch.ids import is_sha
from hubmem.scan.input import Target
from hubmem.scan.progress import Progress
from hubmem.scan.runner import ScanSettings, scan_repos
from hubmem.scan.summary import ScanSummary
from hubmem.schema.scan import ScanRow


class Plan(msgspec.Struct):
    to_scan: list[Target] = []
    skipped: list[Target] = []
    moved: list[Head] = []  # heads to point at a stored commit
    done: dict[tuple[str, str], str | None] = {}  # branch targets: head commit


def plan_scan(store: Store, key: OptionsKey, targets: list[Target]) -> Plan:
    """Which targets need a scan, from what the catalog holds for these options."""
    settled = store.settled(key.hash)
    heads = store.heads(key.hash)
    plan = Plan()
    for t in targets:
        if t.commit is None and is_sha(t.revision):
            t = msgspec.structs.replace(t, commit=t.revision)
        if t.commit is None:  # a branch or tag: resolved by the scan, skipped there when unchanged
            head = heads.get(t.key)
            if head is not None and (t.repo_id, head) in settled:
                plan.done[t.key] = head
            plan.to_scan.append(t)
        elif (t.repo_id, t.commit) in settled:
            plan.skipped.append(t)
            if heads.get(t.key) != t.commit:
                plan.moved.append(Head(t.repo_id, t.revision, t.commit, t.last_modified))
        else:
            plan.to_scan.append(t)
    return plan


async def scan_into_catalog(
    targets: list[Target],
    settings: ScanSettings,
    store: Store,
    *,
    cache: HeaderCache | None = None,
    progress: Progress | None = None,
) -> ScanSummary:
    """Scan what the catalog lacks and store each repo as it finishes."""
    key = OptionsKey.of(settings.options, check=settings.check)
    store.save_options(key)
    plan = plan_scan(store, key, targets)
    store.set_heads(key.hash, plan.moved)
    for t in plan.skipped:
        if progress is not None:
            progress(t, "skipped")
    modified = {t.key: t.last_modified for t in targets}

    def write_row(line: bytes, row: ScanRow) -> None:
        store.put(line, row, key.hash, modified.get((row.repo_id, row.revision)))

    summary = await scan_repos(
        plan.to_scan, settings, write_row=write_row, done=plan.done, cache=cache, progress=progress
    )
    summary.total = len(targets)
    summary.skipped += len(plan.skipped)
    return summary
