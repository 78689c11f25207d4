"""Compiled (numba) kernels behind `fastpath.FastForest`: the tree walk, margins and path attributions.

Import this module only through `fastpath._kernels()`, which falls back to the numpy walk when numba is missing or
cannot compile. Kernels compile on first call (a few seconds) and are cached on disk (`cache=True`): numba writes
the cache to `$NUMBA_CACHE_DIR` when set, else to `__pycache__` next to this file when that folder is writable,
else to the user's cache folder (`~/.cache/numba/...`); with none writable it compiles again in every process.
`warm()` compiles (or loads) every kernel once with the exact argument types `FastForest` uses, so a server pays
the cost at start-up, never inside a request.

Node layout (`NODE_DTYPE`, 16 bytes, built by `FastForest`): nodes are renumbered breadth-first across all trees
so that the two children of a node sit side by side: `next = base + (x > thr)`. `code` selects x: for a
numerical split `2 * column + (0 if NaN goes left else 1)`, read from a per-row copy of the row where NaN is -inf
in the even slot and +inf in the odd slot (so NaN lands on its learnt side with the same one comparison) and a
real +inf is clamped to the largest float (thresholds of "split on NaN" nodes, +inf in scikit-learn, are clamped
the same way: every non-NaN value goes left there). A leaf points to itself (`base` = own index) and reads the
slot after the row's values, always -inf, so a walk ends when a step does not move; its `thr` holds the leaf
value, read from the cache line the walk just loaded. Categorical splits have `code = -1 - c`, `c` a row
of `cat_info` = (input column, 1 if missing goes right, row of the node's left-category bitset), routed like
scikit-learn: in the left bitset -> left, a known category -> right, NaN, negative, unknown -> the missing side.

Summation order (so the results equal the numpy path bit for bit): margins add each row's leaf values in tree
order from 0.0 (the caller then adds the baseline); attributions add each leaf's non-zero entries in tree order
from 0.0, as the CSR product did.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["NODE_DTYPE", "contributions", "margins_from_leaves", "walk", "warm"]

NODE_DTYPE = np.dtype([("thr", np.float64), ("code", np.int32), ("base", np.int32)], align=True)
_FMAX = np.finfo(np.float64).max


@njit(cache=True, nogil=True, inline="always")
def _fill_row(X, r, x2, o):  # type: ignore[no-untyped-def]
    """Row `r` of X into x2[o : o + 2F + 1]: each value twice, NaN as -inf / +inf (its left / right copy), then
    -inf for the leaves."""
    for f in range(X.shape[1]):
        v = X[r, f]
        if np.isnan(v):
            x2[o + 2 * f] = -np.inf
            x2[o + 2 * f + 1] = np.inf
        else:
            v = min(v, _FMAX)
            x2[o + 2 * f] = v
            x2[o + 2 * f + 1] = v
    x2[o + 2 * X.shape[1]] = -np.inf  # what leaves read: -inf > thr never holds, so a leaf stays put


@njit(cache=True, nogil=True, inline="always")
def _categorical_right(v, c, cat_info, left_bits, known_bits):  # type: ignore[no-untyped-def]
    """1 if the category value `v` goes right at categorical node row `c`, else 0."""
    missing_right = cat_info[c, 1]
    if not np.isfinite(v) or v < 0:
        return missing_right
    value = int(v)
    if value >= 32 * left_bits.shape[1]:  # beyond any bitset: an unknown category
        return missing_right
    word = value >> 5
    bit = value & 31
    if (left_bits[cat_info[c, 2], word] >> bit) & 1:
        return 0
    if (known_bits[cat_info[c, 0], word] >> bit) & 1:
        return 1
    return missing_right


@njit(cache=True, nogil=True, inline="always")
def _step_numerical(nodes, x2, o, a):  # type: ignore[no-untyped-def]
    """The node after `a` (numerical splits only) for the row stored at x2[o:]; a leaf returns itself."""
    return nodes[a].base + (x2[o + nodes[a].code] > nodes[a].thr)


@njit(cache=True, nogil=True, inline="always")
def _step(nodes, x2, o, a, cat_info, left_bits, known_bits):  # type: ignore[no-untyped-def]
    """The node after `a` for the row stored at x2[o:]; a leaf returns itself."""
    code = nodes[a].code
    if code >= 0:
        return nodes[a].base + (x2[o + code] > nodes[a].thr)
    c = -1 - code
    v = x2[o + 2 * cat_info[c, 0]]
    return nodes[a].base + _categorical_right(v, c, cat_info, left_bits, known_bits)


@njit(cache=True, nogil=True)
def walk(X, nodes, roots, leaf_id, tree_class, store, leaves, margin):  # type: ignore[no-untyped-def]
    """Walk every tree for every row of X (float64, C order). Adds each reached leaf's value to
    margin[row, tree_class[tree]] in tree order and, if `store`, writes its global id (`leaf_id`) to
    leaves[row, tree].

    Rows go four at a time through one tree (four independent dependency chains, and the tree's nodes are hot in
    cache for all four); the last rows (fewer than four, e.g. a single row) go through four trees at a time."""
    n = X.shape[0]
    T = roots.shape[0]
    F2 = 2 * X.shape[1] + 1
    x2 = np.empty(4 * F2)
    r = 0
    while r + 4 <= n:
        for j in range(4):
            _fill_row(X, r + j, x2, j * F2)
        for t in range(T):
            a = roots[t]
            b = a
            c = a
            d = a
            while True:
                na = _step_numerical(nodes, x2, 0, a)
                nb = _step_numerical(nodes, x2, F2, b)
                nc = _step_numerical(nodes, x2, 2 * F2, c)
                nd = _step_numerical(nodes, x2, 3 * F2, d)
                if na == a and nb == b and nc == c and nd == d:
                    break
                a = na
                b = nb
                c = nc
                d = nd
            k = tree_class[t]
            margin[r, k] += nodes[a].thr
            margin[r + 1, k] += nodes[b].thr
            margin[r + 2, k] += nodes[c].thr
            margin[r + 3, k] += nodes[d].thr
            if store:
                leaves[r, t] = leaf_id[a]
                leaves[r + 1, t] = leaf_id[b]
                leaves[r + 2, t] = leaf_id[c]
                leaves[r + 3, t] = leaf_id[d]
        r += 4
    while r < n:
        _fill_row(X, r, x2, 0)
        t = 0
        while t + 4 <= T:
            a = roots[t]
            b = roots[t + 1]
            c = roots[t + 2]
            d = roots[t + 3]
            while True:
                na = _step_numerical(nodes, x2, 0, a)
                nb = _step_numerical(nodes, x2, 0, b)
                nc = _step_numerical(nodes, x2, 0, c)
                nd = _step_numerical(nodes, x2, 0, d)
                if na == a and nb == b and nc == c and nd == d:
                    break
                a = na
                b = nb
                c = nc
                d = nd
            # In tree order: the margin sums stay those of the four-row loop above.
            margin[r, tree_class[t]] += nodes[a].thr
            margin[r, tree_class[t + 1]] += nodes[b].thr
            margin[r, tree_class[t + 2]] += nodes[c].thr
            margin[r, tree_class[t + 3]] += nodes[d].thr
            if store:
                leaves[r, t] = leaf_id[a]
                leaves[r, t + 1] = leaf_id[b]
                leaves[r, t + 2] = leaf_id[c]
                leaves[r, t + 3] = leaf_id[d]
            t += 4
        while t < T:
            a = roots[t]
            while True:
                na = _step_numerical(nodes, x2, 0, a)
                if na == a:
                    break
                a = na
            margin[r, tree_class[t]] += nodes[a].thr
            if store:
                leaves[r, t] = leaf_id[a]
            t += 1
        r += 1


@njit(cache=True, nogil=True)
def walk_categorical(  # type: ignore[no-untyped-def]
    X, nodes, roots, leaf_id, tree_class, cat_info, left_bits, known_bits, store, leaves, margin
):
    """`walk` for forests with categorical splits (`cat_info`: column, missing side, bitset row per categorical
    node). A separate kernel: the categorical test inside the loop of the numerical walk made it ~5x slower
    (measured), even when never taken."""
    n = X.shape[0]
    T = roots.shape[0]
    F2 = 2 * X.shape[1] + 1
    x2 = np.empty(4 * F2)
    r = 0
    while r + 4 <= n:
        for j in range(4):
            _fill_row(X, r + j, x2, j * F2)
        for t in range(T):
            a = roots[t]
            b = a
            c = a
            d = a
            while True:
                na = _step(nodes, x2, 0, a, cat_info, left_bits, known_bits)
                nb = _step(nodes, x2, F2, b, cat_info, left_bits, known_bits)
                nc = _step(nodes, x2, 2 * F2, c, cat_info, left_bits, known_bits)
                nd = _step(nodes, x2, 3 * F2, d, cat_info, left_bits, known_bits)
                if na == a and nb == b and nc == c and nd == d:
                    break
                a = na
                b = nb
                c = nc
                d = nd
            k = tree_class[t]
            margin[r, k] += nodes[a].thr
            margin[r + 1, k] += nodes[b].thr
            margin[r + 2, k] += nodes[c].thr
            margin[r + 3, k] += nodes[d].thr
            if store:
                leaves[r, t] = leaf_id[a]
                leaves[r + 1, t] = leaf_id[b]
                leaves[r + 2, t] = leaf_id[c]
                leaves[r + 3, t] = leaf_id[d]
        r += 4
    while r < n:
        _fill_row(X, r, x2, 0)
        t = 0
        while t + 4 <= T:
            a = roots[t]
            b = roots[t + 1]
            c = roots[t + 2]
            d = roots[t + 3]
            while True:
                na = _step(nodes, x2, 0, a, cat_info, left_bits, known_bits)
                nb = _step(nodes, x2, 0, b, cat_info, left_bits, known_bits)
                nc = _step(nodes, x2, 0, c, cat_info, left_bits, known_bits)
                nd = _step(nodes, x2, 0, d, cat_info, left_bits, known_bits)
                if na == a and nb == b and nc == c and nd == d:
                    break
                a = na
                b = nb
                c = nc
                d = nd
            # In tree order: the margin sums stay those of the four-row loop above.
            margin[r, tree_class[t]] += nodes[a].thr
            margin[r, tree_class[t + 1]] += nodes[b].thr
            margin[r, tree_class[t + 2]] += nodes[c].thr
            margin[r, tree_class[t + 3]] += nodes[d].thr
            if store:
                leaves[r, t] = leaf_id[a]
                leaves[r, t + 1] = leaf_id[b]
                leaves[r, t + 2] = leaf_id[c]
                leaves[r, t + 3] = leaf_id[d]
            t += 4
        while t < T:
            a = roots[t]
            while True:
                na = _step(nodes, x2, 0, a, cat_info, left_bits, known_bits)
                if na == a:
                    break
                a = na
            margin[r, tree_class[t]] += nodes[a].thr
            if store:
                leaves[r, t] = leaf_id[a]
            t += 1
        r += 1


@njit(cache=True, nogil=True)
def margins_from_leaves(leaves, leaf_value, tree_class, margin):  # type: ignore[no-untyped-def]
    """margin[row, tree_class[t]] += leaf_value[leaves[row, t]] in tree order (global leaf ids)."""
    n, T = leaves.shape
    for r in range(n):
        for t in range(T):
            margin[r, tree_class[t]] += leaf_value[leaves[r, t]]


@njit(cache=True, nogil=True)
def contributions(leaves, tree_class, output, leaf_row, indptr, feature, value, out):  # type: ignore[no-untyped-def]
    """out[row] += the attribution vector (CSR: indptr, feature, value) of each of the row's leaves in the trees
    of output[row], in tree order."""
    n, T = leaves.shape
    for r in range(n):
        k = output[r]
        for t in range(T):
            if tree_class[t] == k:
                lr = leaf_row[leaves[r, t]]
                for e in range(indptr[lr], indptr[lr + 1]):
                    out[r, feature[e]] += value[e]


def warm() -> None:
    """Compile (or load from the cache) every kernel with the argument types `FastForest` passes, on one tree with
    a numerical root and a categorical child, and check the answers."""
    nodes = np.zeros(5, dtype=NODE_DTYPE)
    # 0: x0 <= 0.5 (NaN right) -> 1 / 2; 1: categorical on x1 -> 3 / 4; 2, 3, 4: leaves.
    nodes[0] = (0.5, 1, 1)
    nodes[1] = (0.0, -1, 3)
    leaf_value = np.array([0.0, 0.0, 1.0, 2.0, 3.0])
    for i in (2, 3, 4):
        nodes[i] = (leaf_value[i], 2 * 2, i)  # a leaf: its value, the -inf slot after the row's 2 x 2 values
    roots = np.zeros(1, dtype=np.intp)
    leaf_id = np.arange(5, dtype=np.intp)
    tree_class = np.zeros(1, dtype=np.intp)
    cat_info = np.array([[1, 1, 0]], dtype=np.intp)  # column 1, missing goes right, bitset row 0
    left_bits = np.zeros((1, 8), dtype=np.uint32)
    left_bits[0, 0] = 0b10  # category 1 goes left
    known_bits = np.zeros((2, 8), dtype=np.uint32)
    known_bits[1, 0] = 0b11  # categories 0 and 1 known
    X = np.array([[0.0, 1.0], [0.0, 0.0], [0.0, np.nan], [1.0, 0.0], [np.nan, 7.0]])
    leaves = np.empty((len(X), 1), dtype=np.intp)
    margin = np.zeros((len(X), 1))
    args = (X, nodes, roots, leaf_id, tree_class)
    walk_categorical(*args, cat_info, left_bits, known_bits, True, leaves, margin)
    _check("categorical walk", leaves[:, 0], [3, 4, 4, 2, 2])
    _check("categorical margins", margin[:, 0], leaf_value[[3, 4, 4, 2, 2]])
    again = np.zeros((len(X), 1))
    margins_from_leaves(leaves, leaf_value, tree_class, again)
    _check("margins from leaves", again, margin)
    out = np.zeros((len(X), 2))
    leaf_row = np.array([-1, -1, 0, 1, 2], dtype=np.intp)
    indptr = np.array([0, 1, 2, 3], dtype=np.intp)
    output = np.zeros(len(X), dtype=np.intp)
    contributions(
        leaves, tree_class, output, leaf_row, indptr, np.array([0, 1, 1]), np.array([1.0, 2.0, 3.0]), out
    )
    _check("contributions", out, [[0, 2], [0, 3], [0, 3], [1, 0], [1, 0]])
    nodes[1] = (0.5, 2, 3)  # the categorical node as a numerical split: x1 <= 0.5 (NaN left) -> 3 / 4
    margin[:] = 0.0
    walk(*args, True, leaves, margin)
    _check("numerical walk", leaves[:, 0], [4, 3, 3, 2, 2])


def _check(what: str, got: np.ndarray, expected: object) -> None:
    if not np.array_equal(got, np.asarray(expected)):
        raise RuntimeError(
            f"compiled tree walk self-check failed ({what}): got {got.tolist()}, expected {expected}"
        )
