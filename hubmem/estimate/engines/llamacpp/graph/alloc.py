"""ggml-alloc's graph allocator, as the scheduler runs it to reserve the compute buffer
(ggml/src/ggml-alloc.c @ 0c1e570; the CPU buffer type: alignment ``TENSOR_ALIGNMENT`` 32, ggml-impl.h:44,
allocation size ``ggml_nbytes``, no maximum size, hence one chunk).

``DynAllocator`` is ``ggml_dyn_tallocr``: a list of free blocks sorted by offset whose last block reaches to
the end of the chunk. ``alloc`` (``ggml_dyn_tallocr_alloc``) takes the best-fitting block among all but the
last (the smallest that fits, the later of equals), else the last; ``free`` (``ggml_dyn_tallocr_free_bytes``)
merges with the neighbouring blocks. The chunk's ``max_size`` is the high-water mark: the buffer size.

``reserve`` is ``ggml_gallocr_alloc_graph_impl``: leafs first, then the graph inputs, then each node in
order, freeing a source when its last consumer has run (views hold their source; graph outputs are never
freed; some ops reuse a dying source's memory in place).
"""

from __future__ import annotations

import msgspec

from hubmem.estimate.engines.llamacpp.graph.tensor import CAN_INPLACE, INPUT, OUTPUT, Tensor

ALIGNMENT = 32  # TENSOR_ALIGNMENT (ggml-impl.h:44), the CPU buffer type's alignment
_END = (1 << 63) - 1  # the last block's size: SIZE_MAX / 2 (ggml_dyn_tallocr_new clamps max_chunk_size)


def _pad(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


class DynAllocator:
    """``ggml_dyn_tallocr`` with one chunk (ggml-alloc.c:108-330)."""

    def __init__(self) -> None:
        self.offsets: list[int] = [0]  # free blocks, sorted by offset
        self.sizes: list[int] = [_END]
        self.max_size = 0

    def alloc(self, size: int) -> int:
        """``ggml_dyn_tallocr_alloc`` (:205-265): the offset given to ``size`` bytes."""
        size = _pad(size)
        best, best_size = -1, _END + 1
        for i in range(len(self.sizes) - 1):  # the best fit besides the last block, "<=": the later of equals
            s = self.sizes[i]
            if size <= s <= best_size:
                best, best_size = i, s
        if best == -1:
            best = len(self.sizes) - 1  # the last block (it grows the chunk)
        addr = self.offsets[best]
        self.offsets[best] += size
        self.sizes[best] -= size
        if self.sizes[best] == 0:
            del self.offsets[best], self.sizes[best]
        self.max_size = max(self.max_size, addr + size)
        return addr

    def free(self, offset: int, size: int) -> None:
        """``ggml_dyn_tallocr_free_bytes`` (:289-325): merge with the block ending at ``offset`` or starting
        at its end (then with the next / previous one), else insert a block in offset order."""
        size = _pad(size)
        offs, sizes = self.offsets, self.sizes
        for i in range(len(offs)):
            if offs[i] + sizes[i] == offset:
                sizes[i] += size
                if i < len(offs) - 1 and offs[i] + sizes[i] == offs[i + 1]:
                    sizes[i] += sizes[i + 1]
                    del offs[i + 1], sizes[i + 1]
                return
            if offset + size == offs[i]:
                offs[i] = offset
                sizes[i] += size
                if i > 0 and offs[i - 1] + sizes[i - 1] == offs[i]:
                    sizes[i - 1] += sizes[i]
                    del offs[i], sizes[i]
                return
        i = 0
        while i < len(offs) and offs[i] < offset:
            i += 1
        offs.insert(i, offset)
        sizes.insert(i, size)


class _State(msgspec.Struct):
    """``struct hash_node`` (ggml-alloc.c:459-465)."""

    n_children: int = 0
    n_views: int = 0
    allocated: bool = False
    offset: int = 0


class _Gallocr:
    def __init__(self) -> None:
        self.alloc = DynAllocator()
        self.state: dict[int, _State] = {}

    def get(self, t: Tensor) -> _State:
        s = self.state.get(id(t))
        if s is None:
            s = self.state[id(t)] = _State()
        return s

    def _reuse_parent(self, node: Tensor, hn: _State) -> bool:
        """The in-place branch of ``ggml_gallocr_allocate_node`` (:604-642): take the memory of a source that
        this node is the last consumer of, same layout, allocated here and not a graph output. (A view
        source is never "own", ``ggml_gallocr_is_own``, so the view branch of the C code cannot be taken.)"""
        for parent in node.src:
            p = self.get(parent)
            if not p.allocated or parent.view_src is not None:
                continue
            if parent.flags & OUTPUT or not node.same_layout(parent):
                continue
            if p.n_children == 1 and p.n_views == 0:
                hn.offset = p.offset
                p.allocated = False  # avoid freeing the parent
                # ggml_gallocr_free_extra_space (:559-583): same layout, so no extra space to return
                return True
        return False

    def allocate(self, node: Tensor) -> None:
        """``ggml_gallocr_allocate_node`` (:592-650): tensors in other buffers and views are not allocated."""
        hn = self.get(node)
        if node.external or hn.allocated or node.view_src is not None:
            return
        hn.allocated = True
        if node.op in CAN_INPLACE and self._reuse_parent(node, hn):
            return
        hn.offset = self.alloc.alloc(node.nbytes)

    def free(self, node: Tensor, hn: _State) -> None:
        """``ggml_gallocr_free_node`` (:652-673): graph outputs are never freed."""
        if node.flags & OUTPUT:
            return
        self.alloc.free(hn.offset, node.nbytes)
        hn.allocated = False

    def count(self, nodes: list[Tensor]) -> None:
        """The counting pass of ``ggml_gallocr_alloc_graph_impl`` (:686-711): views per source, consumers
        per tensor, graph inputs allocated first."""
        for node in nodes:
            if node.view_src is not None:
                self.get(node.view_src).n_views += 1
            if node.flags & INPUT:
                self.allocate(node)
            for src in node.src:
                self.get(src).n_children += 1
                if src.flags & INPUT:
                    self.allocate(src)

    def release_parents(self, node: Tensor) -> None:
        """Update the sources after a node ran (:733-758): a source nobody needs any more is freed; a view
        frees its root when the root has no consumers and no views left."""
        for parent in node.src:
            p = self.get(parent)
            p.n_children -= 1
            if p.n_children or p.n_views:
                continue
            if parent.view_src is not None:
                v = self.get(parent.view_src)
                v.n_views -= 1
                if v.n_views == 0 and v.n_children == 0 and v.allocated:
                    self.free(parent.view_src, v)
            elif p.allocated:
                self.free(parent, p)


Snapshot = tuple[tuple[int, ...], tuple[int, ...], int, frozenset[tuple[int, int]]]


def _snapshot(g: _Gallocr, tensors: dict[int, Tensor]) -> Snapshot:
    """Everything the allocator's next steps depend on besides the graph: the free list, the high-water mark,
    and where each live tensor sits."""
    live = frozenset((st.offset, tensors[k].nbytes) for k, st in g.state.items() if st.allocated)
    return tuple(g.alloc.offsets), tuple(g.alloc.sizes), g.alloc.max_size, live


def reserve_traced(nodes: list[Tensor], leafs: list[Tensor], after: set[int]) -> tuple[int, list[Snapshot]]:
    """The compute buffer ``ggml_gallocr_reserve_n`` sizes for this graph (ggml-alloc.c:675-760, 767-885):
    the allocator's high-water mark in bytes, and its state after each node index in ``after``."""
    g = _Gallocr()
    for leaf in leafs:
        g.allocate(leaf)
    g.count(nodes)
    tensors = {id(t): t for t in (*leafs, *nodes)} if after else {}
    snaps = []
    for i, node in enumerate(nodes):
        for parent in node.src:
            g.allocate(parent)
        g.allocate(node)
        g.release_parents(node)
        if i in after:
            snaps.append(_snapshot(g, tensors))
    return g.alloc.max_size, snaps


def reserve(nodes: list[Tensor], leafs: list[Tensor]) -> int:
    """The high-water mark alone (:func:`reserve_traced`)."""
    return reserve_traced(nodes, leafs, set())[0]
