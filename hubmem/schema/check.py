"""Cross-checks of a checkpoint against what is reported about it (issue #5).

Each check compares one claim (the index, the Hub's API, config.json, the repo name, the file sizes)
with what the safetensors headers say, and ends in one of three states:

* ``ok``: the claim agrees (``matches`` says with which header-derived figure, when there are several);
* ``mismatch``: it does not; ``expected`` is the claim, ``actual`` the header figure,
  ``difference = actual - expected`` when both are numbers, ``detail`` / ``examples`` say where;
* ``unavailable``: the claim does not exist or could not be read; ``detail`` says why.
"""

from typing import Literal

from pydantic import Field

from hubmem.schema.common import Model

CheckStatus = Literal["ok", "mismatch", "unavailable"]

# Stable names, in report order (also the cross-check columns of `hubmem scan --csv`).
CHECK_NAMES: tuple[str, ...] = (
    "index_total_size",  # index metadata.total_size vs the bytes the headers describe
    "index_total_parameters",  # index (or header) metadata.total_parameters vs header parameters
    "index_weight_map",  # index weight_map vs the tensors the shards actually hold
    "file_sizes",  # real file sizes vs 8 + header length + end of the data
    "hub_parameters",  # the Hub's safetensors parameters (per dtype, total) vs header counts
    "config_parameters",  # parameters derived from config.json vs header parameters
    "name_size",  # the size in the repo name ("8B", "A3B", "8x7B", "16E") vs actual
    "gguf_config",  # GGUF metadata vs config.json (layers, heads, KV heads, head dim, vocabulary)
)


class CheckItem(Model):
    name: str
    status: CheckStatus
    title: str | None = None  # what is compared, one line
    expected: int | str | None = None  # the claim (index, Hub, config, name)
    actual: int | str | None = None  # what the headers say
    difference: int | None = None  # actual - expected, when both are numbers
    unit: str | None = None  # "bytes", "parameters", "tensors"
    matches: str | None = None  # which header figure the claim matches (e.g. "elements", "parameters")
    detail: str | None = None  # why it is a mismatch / unavailable, or how it matched
    examples: list[str] = Field(default_factory=list)  # a few offending names / files


class CheckReport(Model):
    ok: bool  # no mismatch (unavailable checks do not count against it)
    mismatches: int = 0
    unavailable: int = 0
    items: list[CheckItem] = Field(default_factory=list)

    def item(self, name: str) -> CheckItem | None:
        return next((i for i in self.items if i.name == name), None)

    @classmethod
    def of(cls, items: list[CheckItem]) -> "CheckReport":
        mismatches = sum(1 for i in items if i.status == "mismatch")
        unavailable = sum(1 for i in items if i.status == "unavailable")
        return cls(ok=mismatches == 0, mismatches=mismatches, unavailable=unavailable, items=items)
