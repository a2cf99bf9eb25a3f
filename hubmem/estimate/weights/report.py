"""Exact weight bytes and logical parameters, per dtype, per component and per file (docs/theory.md 3).

* bytes: ``sum(end - begin)`` over the tensors of the headers, exact;
* elements: ``prod(shape)`` per tensor, scalars 1 (huggingface_hub ``get_safetensors_metadata``);
* parameters: logical parameters (huggingface.js semantics, see :mod:`hubmem.estimate.weights.quant_roles`):
  packed formats unpacked, quantization bookkeeping (scales, zero points, g_idx ...) excluded;
* components by tensor name (:mod:`hubmem.estimate.weights.names`); MoE total vs active
  (:mod:`hubmem.estimate.weights.moe`); tied embeddings; ``metadata.total_parameters`` /
  ``metadata.total_size`` from the index or header, compared with what the headers say.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from hubmem.estimate.table import TensorTable, tensor_table
from hubmem.estimate.weights.components import BUFFERS, COMPONENTS, LM_HEAD, MTP, Record
from hubmem.estimate.weights.moe import estimate_moe
from hubmem.estimate.weights.names import is_token_embedding
from hubmem.estimate.weights.quant_detect import detect_scheme
from hubmem.estimate.weights.quant_roles import QuantCounter
from hubmem.estimate.weights.quant_scheme import QuantScheme
from hubmem.estimate.weights.records import has_mtp, records_of
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture
from hubmem.schema.weights import ComponentWeights, DtypeWeights, FileWeights, QuantizationInfo, WeightsReport
from hubmem.snapshot import Snapshot

_HEAD_ARCH_SUFFIXES = (
    "ForCausalLM",
    "LMHeadModel",
    "ForConditionalGeneration",
    "ForMaskedLM",
    "ForPreTraining",
    "ForSeq2SeqLM",
    "ForImageTextToText",
)
_COUNT_TEXT = re.compile(r"[0-9]{1,20}")


def totals(records: list[Record]) -> tuple[dict[str, DtypeWeights], dict[str, ComponentWeights]]:
    """Bytes, parameters, elements and tensor counts per dtype and per component."""
    dt: dict[str, list[int]] = {}
    comp: dict[str, list[int]] = {}
    for r in records:
        for acc in (dt.setdefault(r.dtype, [0, 0, 0, 0]), comp.setdefault(r.component, [0, 0, 0, 0])):
            acc[0] += r.bytes
            acc[1] += r.parameters
            acc[2] += r.elements
            acc[3] += r.count
    by_dtype = {
        k: DtypeWeights(bytes=v[0], parameters=v[1], elements=v[2], tensors=v[3])
        for k, v in sorted(dt.items())
    }
    by_component = {
        k: ComponentWeights(bytes=v[0], parameters=v[1], elements=v[2], tensors=v[3])
        for k in COMPONENTS
        if (v := comp.get(k)) is not None
    }
    return by_dtype, by_component


def tallies(records: list[Record]) -> dict[str, Any]:
    """The sums of a weights section: ``total_bytes``, ``parameters``, ``elements``, ``tensors``, ``by_dtype``
    and ``by_component`` (WeightsReport fields), over ``records``."""
    by_dtype, by_component = totals(records)
    per_dtype = by_dtype.values()  # every record counts under exactly one dtype: these are the sums
    return {
        "total_bytes": sum(d.bytes for d in per_dtype),
        "parameters": sum(d.parameters for d in per_dtype),
        "elements": sum(d.elements for d in per_dtype),
        "tensors": sum(d.tensors for d in per_dtype),
        "by_dtype": by_dtype,
        "by_component": by_component,
    }


def _layout_notes(records: list[Record], tensors: list[Tensor], arch: Architecture, mtp: bool) -> list[str]:
    notes = []
    n = arch.num_layers
    if n is not None and not mtp:
        beyond = sum(r.count for r in records if r.layer is not None and r.layer >= n and r.component != MTP)
        if beyond:
            notes.append(f"{beyond:,} tensors sit in layers at or beyond num_hidden_layers={n}")
    return notes


def _duplicates_note(tensors: list[Tensor], table: TensorTable) -> list[str]:
    if table.distinct:
        return []
    dupes = [n for n, c in Counter(t.name for t in tensors).items() if c > 1]
    if not dupes:
        return []
    return [f"{len(dupes)} tensor names appear in more than one file (e.g. {dupes[0]!r}); counted each time"]


def _claims_notes(snapshot: Snapshot, records: list[Record], has_tensors: bool) -> list[str]:
    """Notes where the index / header metadata claims other totals than the headers hold."""
    notes = []
    parameters, elements = sum(r.parameters for r in records), sum(r.elements for r in records)
    meta_params = _metadata_total_parameters(snapshot)
    if meta_params is not None and meta_params != parameters:
        what = " (= the raw element count)" if meta_params == elements else ""
        notes.append(
            f"metadata.total_parameters {meta_params:,}{what} differs from the {parameters:,} "
            "logical parameters counted from the headers"
        )
    index_size, total_bytes = _index_total_size(snapshot), sum(r.bytes for r in records)
    if index_size is not None and has_tensors and index_size != total_bytes:
        notes.append(
            f"index metadata.total_size {index_size:,} differs from the headers' {total_bytes:,} bytes"
        )
    return notes


def _scale_only_note(records: list[Record]) -> list[str]:
    aux = [r for r in records if r.role == "aux"]
    if not aux:
        return []
    return [
        f"{sum(r.count for r in aux)} scale-only tensors (F8_E8M0, {sum(r.bytes for r in aux):,} bytes) "
        "are not counted as parameters"
    ]


def estimate_weights(
    snapshot: Snapshot, tensors: list[Tensor], arch: Architecture, table: TensorTable | None = None
) -> WeightsReport:
    """The weights section of the report, from the parsed headers (``tensors``, grouped in ``table``:
    built here when not given) and the config."""
    table = table if table is not None else tensor_table(tensors)
    scheme = detect_scheme(arch.quant, tensors, table.names, table.patterns)
    counter = QuantCounter(scheme, tensors)
    mtp = has_mtp(table, arch)
    records = records_of(table, arch, counter, mtp)
    notes = _layout_notes(records, tensors, arch, mtp)
    sums = tallies(records)
    by_component = sums["by_component"]
    files = _files(snapshot, records, notes)
    notes += _duplicates_note(tensors, table)
    tied, duplicate = _tied(records, arch, notes)
    quant = _quant_info(scheme, counter, records)
    if quant is None:
        notes += _scale_only_note(records)
    notes += _claims_notes(snapshot, records, bool(tensors))
    moe, moe_notes = estimate_moe(records, arch, tied_embeddings=tied)
    notes.extend(moe_notes)
    if MTP in by_component and moe is None:
        notes.append(
            f"multi-token-prediction module: {by_component[MTP].parameters:,} parameters "
            "(used only for speculative decoding)"
        )
    buffers = by_component[BUFFERS].parameters if BUFFERS in by_component else 0
    duplicate_parameters = sum(r.parameters for r in duplicate)
    return WeightsReport(
        **sums,
        files=files,
        buffer_elements=buffers,
        model_parameters=sums["parameters"] - buffers - duplicate_parameters,
        tied_embeddings=tied,
        tied_duplicate_bytes=sum(r.bytes for r in duplicate),
        tied_duplicate_parameters=duplicate_parameters,
        total_parameters_metadata=_metadata_total_parameters(snapshot),
        index_total_size=_index_total_size(snapshot),
        quantization=quant,
        moe=moe,
        notes=notes,
    )


def _files(snapshot: Snapshot, records: list[Record], notes: list[str]) -> list[FileWeights]:
    per_file: dict[str, list[Record]] = {}
    for r in records:
        per_file.setdefault(r.file, []).append(r)
    out: list[FileWeights] = []
    for f in snapshot.files:
        rs = per_file.pop(f.path, [])
        data = sum(r.bytes for r in rs)
        out.append(
            FileWeights(
                path=f.path,
                size=f.size,
                header_length=f.header_length,
                tensors=sum(r.count for r in rs),
                bytes=data,
            )
        )
        if f.size is not None and f.size != 8 + f.header_length + data:
            notes.append(f"{f.path}: file size {f.size:,} != 8 + header {f.header_length:,} + data {data:,}")
    for path, rs in per_file.items():  # tensors whose file the snapshot does not list
        out.append(
            FileWeights(
                path=path,
                size=None,
                header_length=0,
                tensors=sum(r.count for r in rs),
                bytes=sum(r.bytes for r in rs),
            )
        )
    return out


def _expects_lm_head(arch: Architecture) -> bool:
    return any(a.endswith(_HEAD_ARCH_SUFFIXES) for a in arch.architectures)


def _tied(records: list[Record], arch: Architecture, notes: list[str]) -> tuple[bool | None, list[Record]]:
    """Is lm_head tied to the input embeddings? Returns ``(tied, stored duplicate)``.

    Usually a tied head is not stored (safetensors drops the duplicate). Some repos store it anyway
    (Qwen3-0.6B: ``tie_word_embeddings: true`` and a materialised ``lm_head.weight``); transformers
    and vLLM then tie it to the embeddings and never load the copy.
    """
    embeds = [r for r in records if r.layer is None and is_token_embedding(r.name)]
    vocab = {r.shape[0] for r in embeds if r.shape}
    # the output matrix itself: BERT keeps cls.predictions.transform / bias but not the tied decoder
    heads = [
        r
        for r in records
        if r.component == LM_HEAD and len(r.shape) == 2 and (not vocab or vocab & set(r.shape))
    ]
    flag = arch.tie_word_embeddings
    if heads:
        if flag is True and embeds:
            size = sum(r.bytes for r in heads)
            notes.append(
                f"tie_word_embeddings is true and lm_head is stored anyway ({size:,} bytes, "
                f"{sum(r.parameters for r in heads):,} parameters): loaders tie it to the embeddings "
                "and do not load the copy"
            )
            return True, heads
        return False, []
    if not embeds:
        return None, []
    if flag is True or (flag is None and _expects_lm_head(arch)):
        notes.append("lm_head is tied to the input embeddings: stored once, counted once")
        return True, []
    if flag is False and _expects_lm_head(arch):
        notes.append("tie_word_embeddings is false but no lm_head tensor is stored")
        return False, []
    return None, []


def _quant_info(
    scheme: QuantScheme | None, counter: QuantCounter, records: list[Record]
) -> QuantizationInfo | None:
    if scheme is None:
        return None
    q = [r for r in records if r.role == "quantized"]
    aux = [r for r in records if r.role == "aux"]
    qp = sum(r.parameters for r in q)
    qb = sum(r.bytes for r in q)
    ab = sum(r.bytes for r in aux)
    notes = list(scheme.notes)
    if counter.inexact:
        notes.append(
            f"{counter.inexact} packed tensors do not hold a whole number of values per container; "
            "their parameter counts are upper bounds"
        )
    if not q:
        notes.append("no quantized weight tensors were recognised under this format")
    kinds: dict[str, int] = {}
    for r in aux:
        kind = r.name.rsplit(".", 1)[-1]
        if kind.startswith("bitsandbytes__"):
            kind = "quant_state"
        elif kind.endswith("_scales") and r.dtype == "U8":
            kind = "mxfp4 _scales"
        elif r.dtype == "F8_E8M0":
            kind = f"{kind} (F8_E8M0)"
        kinds[kind] = kinds.get(kind, 0) + r.bytes
    return QuantizationInfo(
        method=scheme.method,
        bits=scheme.bits,
        group_size=scheme.group_size,
        quantized_parameters=qp,
        quantized_bytes=qb,
        aux_tensors=sum(r.count for r in aux),
        aux_bytes=ab,
        aux_by_kind=dict(sorted(kinds.items())),
        bits_per_parameter=round((qb + ab) * 8 / qp, 4) if qp else None,
        source=scheme.source,
        format=scheme.format,
        unquantized_parameters=sum(r.parameters for r in records if r.role == "plain"),
        notes=notes,
    )


def as_count(v: Any) -> int | None:
    """A count a repo states (index ``total_size``, the Hub's parameter totals): a non-negative integer
    below 2^64, an integral float, or a string of ASCII digits; None for anything else."""
    if isinstance(v, bool):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    elif isinstance(v, str) and _COUNT_TEXT.fullmatch(v.strip()):
        v = int(v.strip())
    return v if isinstance(v, int) and 0 <= v < 2**64 else None


def _metadata_total_parameters(snapshot: Snapshot) -> int | None:
    """``metadata.total_parameters`` from the index, else from a single file's ``__metadata__``."""
    meta = (snapshot.index or {}).get("metadata") if isinstance(snapshot.index, dict) else None
    if isinstance(meta, dict) and as_count(meta.get("total_parameters")) is not None:
        return as_count(meta.get("total_parameters"))
    if len(snapshot.files) == 1 and snapshot.files[0].format == "safetensors":
        hm = snapshot.files[0].safetensors.metadata
        if hm is not None:
            return as_count(hm.get("total_parameters"))
    return None


def _index_total_size(snapshot: Snapshot) -> int | None:
    meta = (snapshot.index or {}).get("metadata") if isinstance(snapshot.index, dict) else None
    return as_count(meta.get("total_size")) if isinstance(meta, dict) else None
