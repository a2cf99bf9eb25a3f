"""Cross-checks: what the index, the Hub, config.json, the repo name and the file sizes claim, against
what the safetensors headers say (pure functions of the snapshot and the parsed headers; no I/O).

Checks (names are stable; see :data:`hubmem.schema.check.CHECK_NAMES`):

* ``index_total_size``: index ``metadata.total_size`` vs the sum of ``end - begin`` over every tensor;
* ``index_total_parameters``: ``metadata.total_parameters`` (index, else a single file's
  ``__metadata__``) vs the logical parameters and the raw element count (either may match);
* ``index_weight_map``: the index's ``weight_map`` vs the shards' headers: tensors the index names that
  no shard holds (missing), that another shard holds (misplaced), tensors a shard holds that the index
  does not name (extra), names held by more than one shard (duplicated);
* ``file_sizes``: each file's real size (the Hub's tree / ``X-Linked-Size`` / ``Content-Range``, or
  ``stat`` on disk) vs ``8 + N + data end`` (the largest ``data_offsets`` end of its header);
* ``hub_parameters``: the Hub's ``safetensors`` summary (per dtype and total) vs the header element
  counts (huggingface_hub semantics) and the logical parameters: says which one the Hub number matches;
* ``config_parameters``: :func:`hubmem.estimate.params.formula.expected_parameters` vs the header
  parameters (the checkpoint total, MTP modules included, also matches);
* ``name_size``: sizes claimed by the repo name vs the model: ``8B`` / ``0.6B`` / ``1.5b`` / ``135M``
  (total, or the active / non-embedding count), ``A3B`` (active), ``8x7B`` (N experts of a ~M model:
  total between M and N x M), ``16E`` (16 routed experts). A claim states a rounded number, so it agrees
  when the actual figure lies within half a unit of its last digit or within
  :data:`NAME_TOLERANCE` of it, whichever is wider.
"""

from __future__ import annotations

from hubmem.check.common import report_of
from hubmem.check.config import check_config_parameters
from hubmem.check.files import check_file_sizes
from hubmem.check.hub import check_hub_parameters
from hubmem.check.index import (
    check_index_total_parameters,
    check_index_total_size,
    check_index_weight_map,
)
from hubmem.check.name import check_name_size
from hubmem.formats.safetensors import Tensor
from hubmem.schema.architecture import Architecture
from hubmem.schema.check import CheckReport
from hubmem.schema.weights import WeightsReport
from hubmem.snapshot import Snapshot


def cross_check(
    snapshot: Snapshot, tensors: list[Tensor], weights: WeightsReport, arch: Architecture
) -> CheckReport:
    """Every cross-check of one checkpoint, in :data:`CHECK_NAMES` order."""
    items = [
        check_index_total_size(snapshot, weights),
        check_index_total_parameters(snapshot, weights),
        check_index_weight_map(snapshot),
        check_file_sizes(snapshot, tensors),
        check_hub_parameters(snapshot, weights),
        check_config_parameters(snapshot, weights, arch),
        check_name_size(snapshot.repo_id, weights),
    ]
    return report_of(items, "not a GGUF model")
