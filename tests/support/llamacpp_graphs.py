"""The real llama.cpp graphs recorded under fixtures/llamacpp_graphs (README.md there), read back as
hubmem's graph tensors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from hubmem.estimate.engines.llamacpp.graph.tensor import INPUT, Tensor

GRAPHS = Path(__file__).parent.parent.parent / "fixtures" / "llamacpp_graphs"


def load_graph(path: Path) -> tuple[list[Tensor], list[Tensor], dict[str, Any]]:
    """The nodes and leafs of a recorded graph, with the unread ``inp_embd`` leaf after ``inp_tokens``
    (fixtures/llamacpp_graphs/README.md)."""
    d = json.loads(gzip.decompress(path.read_bytes()))
    recs = {r["id"]: r for r in d["tensors"]}
    made: dict[int, Tensor] = {}

    def make(i: int) -> Tensor:
        if i not in made:
            r = recs[i]
            src = tuple(make(s) for s in r["src"])
            vs = make(r["view_src"]) if r["view_src"] is not None else None
            ext = r["op"] == "NONE" and not r["flags"] & INPUT
            made[i] = Tensor(
                r["op"], r["type"], tuple(r["ne"]), tuple(r["nb"]), r["nbytes"], src, vs, r["flags"] & 3, ext
            )
            made[i].name = r["name"]
        return made[i]

    everything = [make(i) for i in range(len(recs))]
    nodes = everything[: d["n_nodes"]]
    leafs = [x for x in everything[d["n_nodes"] :] if x.op == "NONE"]
    embd = next(x for x in nodes if x.op == "GET_ROWS")
    inp_embd = Tensor("NONE", "f32", embd.ne, embd.nb, embd.nbytes, flags=INPUT, name="inp_embd")
    at = next(i for i, x in enumerate(leafs) if x.name == "inp_tokens") + 1
    return nodes, [*leafs[:at], inp_embd, *leafs[at:]], d
