"""Cross-checks of a GGUF model: its file sizes against its tensor infos, and, when the repo also carries
config.json, the GGUF metadata against the config (layers, heads, KV heads, hidden size, vocabulary) and
the tensor elements against the config formula's parameter count (``config_parameters``).

``gguf_config`` compares what llama.cpp would run (the GGUF metadata) with what transformers would run
(config.json): a GGUF converted from another revision, or with a resized vocabulary, shows up here."""

from __future__ import annotations

from hubmem.check.common import MAX_EXAMPLES, report_of
from hubmem.check.config import check_config_parameters
from hubmem.check.name import check_name_size
from hubmem.estimate.checkpoint import Checkpoint
from hubmem.formats.gguf.header import GGUFHeader
from hubmem.schema.architecture import Architecture
from hubmem.schema.check import CheckItem, CheckReport
from hubmem.schema.weights import WeightsReport
from hubmem.snapshot import Snapshot

_FIELDS = ("num_layers", "hidden_size", "num_attention_heads", "num_kv_heads", "head_dim", "vocab_size")


def check_gguf_file_sizes(snapshot: Snapshot, headers: list[tuple[str, GGUFHeader]]) -> CheckItem:
    title = "real GGUF file sizes vs data offset + the tensor data the tensor infos describe"
    sizes = {f.path: f.size for f in snapshot.files if f.size is not None}
    known = [(header, sizes[path]) for path, header in headers if path in sizes]
    if not known:
        return CheckItem(name="file_sizes", status="unavailable", title=title, detail="no file size reported")
    bad = [p for header, size in known if (p := header.check_file_size(size))]
    expected = sum(header.expected_file_size for header, _ in known)
    actual = sum(size for _, size in known)
    return CheckItem(
        name="file_sizes",
        status="mismatch" if bad else "ok",
        title=title,
        expected=actual,
        actual=expected,
        difference=expected - actual,
        unit="bytes",
        detail=f"{len(bad)} of {len(known)} files differ"
        if bad
        else f"all {len(known)} files end where their data ends",
        examples=bad[:MAX_EXAMPLES],
    )


def check_gguf_config(gguf_arch: Architecture, config_arch: Architecture | None) -> CheckItem:
    title = "GGUF metadata vs config.json (layers, hidden size, heads, KV heads, head dim, vocabulary)"
    if config_arch is None:
        return CheckItem(name="gguf_config", status="unavailable", title=title, detail="no config.json")
    compared, differ = [], []
    for field in _FIELDS:
        ours, theirs = getattr(gguf_arch, field), getattr(config_arch, field)
        if ours is None or theirs is None:
            continue
        compared.append(field)
        if ours != theirs:
            differ.append(f"{field}: GGUF {ours:,}, config.json {theirs:,}")
    if not compared:
        return CheckItem(name="gguf_config", status="unavailable", title=title, detail="nothing to compare")
    return CheckItem(
        name="gguf_config",
        status="mismatch" if differ else "ok",
        title=title,
        expected=len(compared),
        actual=len(compared) - len(differ),
        unit="fields",
        detail="; ".join(differ) if differ else f"{', '.join(compared)} agree",
        examples=differ[:MAX_EXAMPLES],
    )


def gguf_cross_check(snapshot: Snapshot, checkpoint: Checkpoint) -> CheckReport:
    """The cross-checks that apply to a GGUF model (the safetensors index and the Hub's safetensors summary
    do not)."""
    weights, config_arch = checkpoint.weights, checkpoint.config_architecture
    no_config = CheckItem(name="config_parameters", status="unavailable", detail="no config.json")
    items = [
        check_gguf_file_sizes(snapshot, checkpoint.gguf),
        check_gguf_config(checkpoint.architecture, config_arch),
        check_name_size(snapshot.repo_id, weights),
        no_config if config_arch is None else check_config_parameters(snapshot, weights, config_arch),
    ]
    return report_of(items, "does not apply to a GGUF model")


def config_only_cross_check(snapshot: Snapshot, weights: WeightsReport) -> CheckReport:
    """No weight file read: only the repo name can be checked (against the config-derived parameters)."""
    return report_of([check_name_size(snapshot.repo_id, weights)], "no weight file read")
