"""The part of ``struct ggml_tensor`` (ggml/include/ggml.h @ 0c1e570) that ggml-alloc reads, and the graph
order ``ggml_build_forward_expand`` gives (ggml/src/ggml.c ``ggml_visit_parents_graph``): a depth-first
walk over ``src[0..9]`` left to right, each tensor once; a tensor with ``op == NONE`` is a leaf, any other a
node, appended after its sources (post-order)."""

from __future__ import annotations

import msgspec

# ggml.h enum ggml_tensor_flag
INPUT = 1
OUTPUT = 2

# ggml-alloc.c ggml_op_can_inplace (the ops of this list that the graphs here use)
CAN_INPLACE = frozenset(
    {
        "FILL",
        "SCALE",
        "DIAG_MASK_ZERO",
        "DIAG_MASK_INF",
        "ADD",
        "ADD_ID",
        "ADD1",
        "SUB",
        "MUL",
        "DIV",
        "SQR",
        "SQRT",
        "LOG",
        "UNARY",
        "ROPE",
        "ROPE_BACK",
        "SILU_BACK",
        "RMS_NORM",
        "RMS_NORM_BACK",
        "CLAMP",
        "SOFT_MAX",
        "SOFT_MAX_BACK",
    }
)


class Tensor(msgspec.Struct, eq=False):
    """One tensor: its op ("NONE" for a leaf), type, shape ``ne`` and strides ``nb`` (bytes), sources in
    order, the tensor a view looks into (``view_src``: always the root, as ``ggml_view_impl`` folds views of
    views), its flags, and ``external`` for a leaf that lives in another buffer (weights, the KV cache)."""

    op: str
    type: str
    ne: tuple[int, int, int, int]
    nb: tuple[int, int, int, int]
    nbytes: int
    src: tuple[Tensor, ...] = ()
    view_src: Tensor | None = None
    flags: int = 0
    external: bool = False
    name: str = ""

    def same_layout(self, other: Tensor) -> bool:
        """``ggml_are_same_layout`` (ggml-impl.h): same type, shape and strides."""
        return self.type == other.type and self.ne == other.ne and self.nb == other.nb


class Graph:
    """A ``ggml_cgraph``: nodes and leafs in the order ``ggml_build_forward_expand`` appends them."""

    def __init__(self) -> None:
        self.nodes: list[Tensor] = []
        self.leafs: list[Tensor] = []
        self._seen: set[int] = set()

    def expand(self, tensor: Tensor) -> None:
        """``ggml_build_forward_expand``: visit the sources depth-first (an explicit stack, the same
        post-order as ggml.c's recursion), then append the tensor."""
        stack: list[tuple[Tensor, int]] = [(tensor, 0)]
        if id(tensor) in self._seen:
            return
        self._seen.add(id(tensor))
        while stack:
            t, i = stack[-1]
            if i < len(t.src):
                stack[-1] = (t, i + 1)
                s = t.src[i]
                if id(s) not in self._seen:
                    self._seen.add(id(s))
                    stack.append((s, 0))
                continue
            stack.pop()
            (self.leafs if t.op == "NONE" else self.nodes).append(t)
