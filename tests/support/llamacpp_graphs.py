"""The llama.cpp validation grid's models (header-only tiny GGUFs and the real gemma-3-270m header) and the
real llama.cpp graphs recorded under fixtures/llamacpp_graphs (README.md there), read back as hubmem's graph
tensors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from hubmem.estimate.engines.llamacpp.graph.tensor import INPUT, Tensor
from scripts.validate.llama_cpp_models import write_models

from support.paths import fixture_path

GRAPHS = Path(__file__).parent.parent.parent / "fixtures" / "llamacpp_graphs"
GEMMA_PREFIX = "repos/hugginllam__gemma-3-270m-Q4_K_M-GGUF/headers/gemma-3-270m-q4_k_m.gguf.prefix.gz"


def write_grid_models(folder: Path) -> dict[str, Path]:
    """The grid's models in ``folder`` by file name: every tiny GGUF of scripts/validate/llama_cpp_models.py,
    header only, and the real gemma-3-270m header (what hubmem reads of them)."""
    out = write_models(folder, header_only=True)
    gemma = folder / "gemma-3-270m-q4_k_m.gguf"
    gemma.write_bytes(gzip.decompress(fixture_path(GEMMA_PREFIX).read_bytes()))
    out[gemma.name] = gemma
    return out


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
