"""The ggml ops the llama.cpp graphs here use, as far as ggml-alloc sees them (ggml/src/ggml.c @ 0c1e570): the
result's op, type and shape ``ne``, its sources in order, and whether it is a view (``ggml_view_*``,
``ggml_reshape_*``, ``ggml_permute``, ``ggml_transpose``, ``ggml_set_rows``, ``ggml_cpy`` and the ``_inplace``
ops return a view of a source; a view of a view points at the root, ``ggml_view_impl``). Every other result is
a new contiguous tensor (``ggml_new_tensor``), so its strides follow from type and shape."""

from __future__ import annotations

from hubmem.estimate.engines.llamacpp.graph.tensor import INPUT, Graph, Tensor
from hubmem.formats.gguf.tables import row_size

Ne = tuple[int, int, int, int]
_SIZES = {"f32": 4, "i32": 4, "f16": 2, "bf16": 2, "i64": 8}


def _row(type_: str, n: int) -> int:
    size = _SIZES.get(type_)
    return size * n if size is not None else row_size(type_, n)


def shape(*ne: int) -> Ne:
    """A 4-d ``ne`` (missing dimensions are 1)."""
    full = (*ne, 1, 1, 1, 1)
    return full[0], full[1], full[2], full[3]


def make(op: str, type_: str, ne: Ne, src: tuple[Tensor, ...] = (), view_of: Tensor | None = None) -> Tensor:
    """A tensor with contiguous strides (``ggml_new_tensor_impl``); ``view_of`` makes it a view of that
    tensor's root."""
    r = _row(type_, ne[0])
    nb = (_SIZES.get(type_, 0), r, r * ne[1], r * ne[1] * ne[2])  # nb[0]: the element size (0: a block type)
    root = None if view_of is None else view_of.view_src or view_of
    return Tensor(op, type_, ne, nb, r * ne[1] * ne[2] * ne[3], src, root)


class Ctx:
    """``ctx0`` and ``gf`` of an ``llm_graph_context``: makes tensors and expands the graph."""

    def __init__(self) -> None:
        self.graph = Graph()
        self.weight = make("NONE", "f16", shape(1))  # every weight: an external leaf, never allocated
        self.weight.external = True

    def expand(self, t: Tensor) -> None:
        self.graph.expand(t)

    def input(self, type_: str, *ne: int) -> Tensor:
        """``ggml_new_tensor`` + ``ggml_set_input``: a graph input, allocated in the compute buffer."""
        t = make("NONE", type_, shape(*ne))
        t.flags = INPUT
        return t

    @staticmethod
    def external(type_: str, *ne: int) -> Tensor:
        """A tensor of another buffer (a KV cache or recurrent-state tensor)."""
        t = make("NONE", type_, shape(*ne))
        t.external = True
        return t

    # views (never allocated; they keep their root alive)
    @staticmethod
    def view(a: Tensor, *ne: int, op: str = "VIEW") -> Tensor:
        return make(op, a.type, shape(*ne), (a,), a)

    def reshape(self, a: Tensor, *ne: int) -> Tensor:
        return self.view(a, *ne, op="RESHAPE")

    @staticmethod
    def permute(a: Tensor, *axes: int) -> Tensor:
        """``ggml_permute``: dimension i of ``a`` becomes dimension ``axes[i]``."""
        ne = [0, 0, 0, 0]
        for i, ax in enumerate(axes):
            ne[ax] = a.ne[i]
        return make("PERMUTE", a.type, shape(*ne), (a,), a)

    @staticmethod
    def transpose(a: Tensor) -> Tensor:
        return make("TRANSPOSE", a.type, shape(a.ne[1], a.ne[0], a.ne[2], a.ne[3]), (a,), a)

    @staticmethod
    def set_rows(dst: Tensor, src: Tensor, idx: Tensor) -> Tensor:
        """``ggml_set_rows``: a view of ``dst``, sources (src, idx, dst)."""
        return make("SET_ROWS", dst.type, dst.ne, (src, idx, dst), dst)

    @staticmethod
    def cpy(a: Tensor, dst: Tensor) -> Tensor:
        return make("CPY", dst.type, dst.ne, (a, dst), dst)

    # new tensors
    @staticmethod
    def op(op: str, a: Tensor, *src: Tensor, type_: str | None = None, ne: Ne | None = None) -> Tensor:
        """An op whose result has ``a``'s type and shape unless given (ADD, MUL, RMS_NORM, ROPE, SOFT_MAX,
        SCALE, UNARY, GLU, CONT ...)."""
        return make(op, type_ or a.type, ne or a.ne, (a, *src))

    def mul_mat(self, a: Tensor, b: Tensor) -> Tensor:
        """``ggml_mul_mat``: ``[a.ne1, b.ne1, b.ne2, b.ne3]`` f32."""
        return make("MUL_MAT", "f32", shape(a.ne[1], b.ne[1], b.ne[2], b.ne[3]), (a, b))

    def mm(self, rows: int, b: Tensor) -> Tensor:
        """A weight ``[b.ne0, rows]`` times ``b``."""
        return make("MUL_MAT", "f32", shape(rows, b.ne[1], b.ne[2], b.ne[3]), (self.weight, b))

    def mm_id(self, rows: int, b: Tensor, ids: Tensor) -> Tensor:
        """``ggml_mul_mat_id``: ``[rows, ids.ne0, b.ne2]`` f32, sources (experts, b, ids)."""
        return make("MUL_MAT_ID", "f32", shape(rows, ids.ne[0], b.ne[2]), (self.weight, b, ids))

    @staticmethod
    def get_rows(a: Tensor, idx: Tensor) -> Tensor:
        """``ggml_get_rows``: ``[a.ne0, idx.ne0, idx.ne1, idx.ne2]``, f32 unless ``a`` is i32."""
        type_ = "i32" if a.type == "i32" else "f32"
        return make("GET_ROWS", type_, shape(a.ne[0], idx.ne[0], idx.ne[1], idx.ne[2]), (a, idx))

    def get_rows_w(self, n_embd: int, idx: Tensor) -> Tensor:
        return make("GET_ROWS", "f32", shape(n_embd, idx.ne[0], idx.ne[1], idx.ne[2]), (self.weight, idx))

    @staticmethod
    def concat(a: Tensor, b: Tensor, dim: int) -> Tensor:
        ne = list(a.ne)
        ne[dim] += b.ne[dim]
        return make("CONCAT", a.type, shape(*ne), (a, b))

    @staticmethod
    def cont(a: Tensor, *ne: int) -> Tensor:
        return make("CONT", a.type, shape(*ne) if ne else a.ne, (a,))

    def rms_norm_w(self, a: Tensor) -> Tensor:
        """``build_norm`` with LLM_NORM_RMS and a weight (src/llama-graph.cpp): RMS_NORM then MUL."""
        return self.op("MUL", self.op("RMS_NORM", a), self.weight)
