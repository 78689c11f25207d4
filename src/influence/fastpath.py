"""A numpy predictor for fitted `HistGradientBoostingClassifier`s, with per-leaf path attributions.

Why: scikit-learn's `predict_proba` costs ~0.5 ms for one row (input validation, OpenMP start-up), and the
pipeline around it several ms; the API's latency budget is 2 ms end to end. `FastForest.from_estimator` copies
the fitted trees once into flat arrays (all trees of all iterations side by side, leaves made self-loops), and
`leaves(X)` walks every tree at once, one depth level per numpy step: the loop runs over depth, never over rows.

Routing follows `sklearn/ensemble/_hist_gradient_boosting/_predictor.pyx` (`_predict_one_from_raw_data`) of the
installed scikit-learn 1.9: NaN goes to the side learnt in training (`missing_go_to_left`); a numerical split goes
left when `x <= num_threshold` (a "split on NaN" has threshold +inf); a categorical split goes left when the
category is in the node's raw bitset, right when it is a known category, and follows the missing side when it is
negative or unknown. Models fitted with categorical features carry an `OrdinalEncoder` preprocessor; we apply the
same encoding (exact match against `categories_`, unknown -> NaN) and map node features back to input columns.

Explanations (Saabas path attribution): every node gets an expected value, the training-count-weighted mean of
its leaves (HGB stores raw Newton steps for inner nodes and shrunk values only for leaves, so those cannot be
used). Walking root -> leaf, each step's change of expected value is credited to the split feature; these
per-leaf vectors are precomputed, so a row's attribution is the sum of its leaves' vectors, and for every row and
class `bias + contributions.sum() == raw margin` exactly (up to float rounding).

Compiled walk: when numba is installed (a dependency), `leaves`, `walk`, `raw_margin` and `contributions` run the
kernels of `_fastpath_kernels` for every row count: one loop over rows x trees on a compact node layout, about
5-10x less CPU than the numpy and scikit-learn traversals below (docs/benchmarks.md). They are compiled, or loaded
from numba's on-disk cache, once per process when the first forest is built (`from_estimator`), never inside a
request. Results are the numpy path's bit for bit: the same leaves, and sums in the same order (margins: each
row's leaf values in tree order, then + baseline; attributions: each leaf's non-zero entries in tree order). Two
quirks of the numpy path are reproduced so that outputs stay byte-identical (`_finish_margin`): below
`SKLEARN_MIN_ROWS` rows numpy summed a binary model's trees pairwise (so a row scored in a small block, e.g. one
API deal, can differ from the same row in a big batch block in the last bit, <= 1e-14 on the margin), and from
`SKLEARN_MIN_ROWS` rows the margins were column-major, which changes the softmax's sum over classes in the last
bit. If numba cannot be imported or compiled, one warning is logged and
the numpy path below is used (tests use it as the reference).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

__all__ = ["FastForest", "compiled_walk_available"]

logger = logging.getLogger(__name__)

# Rows per traversal block: keeps the (rows x trees) index arrays near L2-cache sized and memory bounded.
_BLOCK_ROWS = 4096
_FMAX = np.finfo(np.float64).max
# From this many rows on, `leaves` uses scikit-learn's compiled traversal (per-call overhead ~tens of us per tree).
SKLEARN_MIN_ROWS = 256
# Rows per call of scikit-learn's traversal: every tree walks this block while its rows (~800 KiB at 104 features)
# stay in cache. One call per tree over all rows streams the whole matrix from memory once per tree: on 28k rows
# at once, 2-3x slower with the shipped model (720 trees of depth up to 24); on the 4096-row blocks `Scorer`
# passes, about the same. Much smaller blocks pay the per-call overhead.
_SK_BLOCK_ROWS = 1024


@functools.cache
def _kernels() -> ModuleType | None:
    """The compiled kernels, compiled (or loaded from numba's cache) and self-checked once per process; None, with
    one warning, when numba is missing or fails, so callers use the numpy walk."""
    try:
        from influence import _fastpath_kernels as kernels

        kernels.warm()
    except Exception as exc:  # any import/compile failure: the numpy path gives the same answers, only slower
        logger.warning(
            "compiled tree walk unavailable (%s: %s); scoring falls back to the numpy walk (several times slower)",
            type(exc).__name__,
            exc,
        )
        return None
    return kernels


def compiled_walk_available() -> bool:
    """True when the numba kernels are in use (compiles them on first call)."""
    return _kernels() is not None


def _sklearn_predict() -> Callable[..., None] | None:
    """scikit-learn's private `_predict_from_raw_data` (1.9), or None if a release moved it."""
    try:
        from sklearn.ensemble._hist_gradient_boosting._predictor import _predict_from_raw_data
    except ImportError:  # pragma: no cover - depends on the installed release
        return None
    return _predict_from_raw_data


@dataclass(frozen=True)
class FastForest:
    """Flat arrays of a fitted HGB classifier; build with `FastForest.from_estimator(hgb)`.

    Node arrays are indexed by a global node id; leaves point to themselves so traversal needs no leaf test.
    `tree_class[t]` is the output column (0 for binary models) that tree `t` adds to.
    """

    feature: np.ndarray  # intp, input column of the split (0 for leaves)
    threshold: np.ndarray  # float64, numerical threshold (+inf for split-on-NaN)
    missing_left: np.ndarray  # bool
    left: np.ndarray  # intp
    right: np.ndarray  # intp
    is_leaf: np.ndarray  # bool
    leaf_value: np.ndarray  # float64, leaf values (0 for inner nodes)
    expected_value: np.ndarray  # float64, count-weighted mean of the leaves below
    is_categorical: np.ndarray  # bool
    bitset_idx: np.ndarray  # intp, row in `raw_left_bitsets` for categorical nodes
    raw_left_bitsets: np.ndarray  # uint32 (n_cat_splits, 8)
    known_bitsets: np.ndarray  # uint32 (n_features, 8); only categorical columns are non-zero
    roots: np.ndarray  # intp (n_trees,)
    tree_class: np.ndarray  # intp (n_trees,)
    baseline: np.ndarray  # float64 (n_outputs,)
    max_depth: int
    n_features: int
    n_outputs: int  # 1 for binary, n_classes for multiclass
    classes: np.ndarray
    categorical_columns: tuple[int, ...]
    categories: tuple[np.ndarray, ...]  # sorted known raw values per categorical column
    leaf_row: np.ndarray  # intp per node: row in `leaf_contrib` (-1 for inner nodes)
    leaf_contrib: np.ndarray  # float64 (n_leaves, n_features): path attribution of each leaf
    # For large batches: scikit-learn's own compiled traversal, fed node arrays whose `value` is the global node
    # id, so it returns leaf ids (see `leaves`). Empty when that private routine is unavailable.
    sk_trees: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    sk_known: np.ndarray | None = None
    sk_f_idx_map: np.ndarray | None = None
    model_columns: np.ndarray | None = None  # input column of each model feature (categoricals come first)

    # -- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_estimator(cls, hgb: object) -> FastForest:
        """Copy a fitted `HistGradientBoostingClassifier`'s trees into flat arrays (done once, ~ms)."""
        predictors = getattr(hgb, "_predictors", None)
        if predictors is None:
            raise ValueError(
                "FastForest needs a fitted HistGradientBoostingClassifier (no _predictors found)"
            )
        n_features = int(hgb.n_features_in_)  # type: ignore[attr-defined]
        baseline = np.asarray(hgb._baseline_prediction, dtype=np.float64).ravel()  # type: ignore[attr-defined]
        n_outputs = int(hgb.n_trees_per_iteration_)  # type: ignore[attr-defined]

        # Column remapping: with categorical features, the model sees [encoded categoricals..., numericals...].
        col_of_model_feature = np.arange(n_features)
        categorical_columns: tuple[int, ...] = ()
        categories: tuple[np.ndarray, ...] = ()
        known = np.zeros((n_features, 8), dtype=np.uint32)
        sk_known, sk_f_idx_map = hgb._bin_mapper.make_known_categories_bitsets()  # type: ignore[attr-defined]
        preprocessor = getattr(hgb, "_preprocessor", None)
        if preprocessor is not None:
            is_cat = np.asarray(hgb.is_categorical_, dtype=bool)  # type: ignore[attr-defined]
            cat_cols = np.flatnonzero(is_cat)
            num_cols = np.flatnonzero(~is_cat)
            col_of_model_feature = np.concatenate([cat_cols, num_cols])
            encoder = preprocessor.named_transformers_["encoder"]
            categorical_columns = tuple(int(c) for c in cat_cols)
            categories = tuple(np.asarray(c, dtype=np.float64) for c in encoder.categories_)
            known_model, f_idx_map = hgb._bin_mapper.make_known_categories_bitsets()  # type: ignore[attr-defined]
            for model_feature, col in enumerate(col_of_model_feature):
                if col in categorical_columns:
                    known[col] = known_model[f_idx_map[model_feature]]

        features, thresholds, miss, lefts, rights, leafy, values, counts, cats, bits = ([] for _ in range(10))
        raw_bitsets: list[np.ndarray] = []
        roots, tree_class = [], []
        sk_trees: list[tuple[np.ndarray, np.ndarray]] = []
        offset = 0
        bitset_offset = 0
        for iteration in predictors:
            for k, predictor in enumerate(iteration):
                nodes = predictor.nodes
                tagged = nodes.copy()
                tagged["value"] = np.arange(offset, offset + len(nodes), dtype=np.float64)
                sk_trees.append(
                    (tagged, np.ascontiguousarray(predictor.raw_left_cat_bitsets, dtype=np.uint32))
                )
                n = len(nodes)
                is_leaf = nodes["is_leaf"].astype(bool)
                own = np.arange(offset, offset + n)
                roots.append(offset)
                tree_class.append(k)
                features.append(np.where(is_leaf, 0, col_of_model_feature[nodes["feature_idx"]]))
                thresholds.append(nodes["num_threshold"].astype(np.float64))
                miss.append(nodes["missing_go_to_left"].astype(bool))
                lefts.append(np.where(is_leaf, own, nodes["left"].astype(np.intp) + offset))
                rights.append(np.where(is_leaf, own, nodes["right"].astype(np.intp) + offset))
                leafy.append(is_leaf)
                values.append(np.where(is_leaf, nodes["value"], 0.0).astype(np.float64))
                counts.append(nodes["count"].astype(np.float64))
                cat = nodes["is_categorical"].astype(bool) & ~is_leaf
                cats.append(cat)
                bits.append(np.where(cat, nodes["bitset_idx"].astype(np.intp) + bitset_offset, 0))
                if len(predictor.raw_left_cat_bitsets):
                    raw_bitsets.append(np.asarray(predictor.raw_left_cat_bitsets, dtype=np.uint32))
                    bitset_offset += len(predictor.raw_left_cat_bitsets)
                offset += n
        feature = np.concatenate(features).astype(np.intp)
        left = np.concatenate(lefts).astype(np.intp)
        right = np.concatenate(rights).astype(np.intp)
        is_leaf = np.concatenate(leafy)
        leaf_value = np.concatenate(values)
        count = np.concatenate(counts)
        roots_arr = np.asarray(roots, dtype=np.intp)
        expected, depth, parent = _expected_values(left, right, is_leaf, leaf_value, count, roots_arr)
        leaf_row, leaf_contrib = _leaf_attributions(parent, is_leaf, feature, expected, n_features)
        return cls(
            feature=feature,
            threshold=np.concatenate(thresholds),
            missing_left=np.concatenate(miss),
            left=left,
            right=right,
            is_leaf=is_leaf,
            leaf_value=leaf_value,
            expected_value=expected,
            is_categorical=np.concatenate(cats),
            bitset_idx=np.concatenate(bits).astype(np.intp),
            raw_left_bitsets=(np.concatenate(raw_bitsets) if raw_bitsets else np.zeros((0, 8), np.uint32)),
            known_bitsets=known,
            roots=roots_arr,
            tree_class=np.asarray(tree_class, dtype=np.intp),
            baseline=baseline,
            max_depth=depth,
            n_features=n_features,
            n_outputs=n_outputs,
            classes=np.asarray(hgb.classes_),  # type: ignore[attr-defined]
            categorical_columns=categorical_columns,
            categories=categories,
            leaf_row=leaf_row,
            leaf_contrib=leaf_contrib,
            sk_trees=tuple(sk_trees),
            sk_known=np.ascontiguousarray(sk_known, dtype=np.uint32),
            sk_f_idx_map=np.ascontiguousarray(sk_f_idx_map, dtype=np.uint32),
            model_columns=col_of_model_feature.astype(np.intp),
        )._warm()

    def _warm(self) -> FastForest:
        """Compile or load the kernels and build the compiled walk's node tables now, at model load, not inside the
        first (maybe concurrent) request."""
        if _kernels() is not None:
            _ = self._walk_tables
        return self

    # -- prediction ---------------------------------------------------------------------------------------------
    @property
    def n_trees(self) -> int:
        return len(self.roots)

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected a 2-D array with {self.n_features} columns, got shape {X.shape}")
        if self.categorical_columns:
            X = X.copy()
            for col, cats in zip(self.categorical_columns, self.categories, strict=True):
                X[:, col] = _encode_categories(X[:, col], cats)
        # The kernels are compiled for writable C-order arrays: another layout (e.g. pandas' read-only views)
        # would compile a second specialisation, seconds inside a request.
        if not (X.flags.c_contiguous and X.flags.writeable):
            X = np.array(X, order="C")
        return X

    def leaves(self, X: np.ndarray, *, backend: str = "auto") -> np.ndarray:
        """Global leaf id reached in every tree: int array (n_rows, n_trees).

        backend: "numba" (the compiled walk), "numpy" (vectorised over depth), "sklearn" (scikit-learn's compiled
        per-row traversal on our node-id-tagged trees), or "auto" (numba when available, else numpy below
        `SKLEARN_MIN_ROWS` rows and sklearn from there). All give identical leaves (tested).
        """
        X = self._prepare(X)
        if backend in ("auto", "numba"):
            kernels = _kernels()
            if kernels is not None:
                return self._walk(kernels, X, store=True)[0]
            if backend == "numba":
                raise RuntimeError("the compiled tree walk is unavailable (see the warning logged above)")
        use_sklearn = backend == "sklearn" or (backend == "auto" and len(X) >= SKLEARN_MIN_ROWS)
        if use_sklearn and _sklearn_predict() is not None and self.sk_trees:
            return self._leaves_sklearn(X)
        if backend not in ("auto", "numba", "numpy", "sklearn"):
            raise ValueError(f"unknown backend {backend!r}")
        out = np.empty((X.shape[0], self.n_trees), dtype=np.intp)
        for start in range(0, X.shape[0], _BLOCK_ROWS):
            out[start : start + _BLOCK_ROWS] = self._leaves_block(X[start : start + _BLOCK_ROWS])
        return out

    def walk(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Leaves (n_rows, n_trees) and raw margins (n_rows, n_outputs) in one pass over the trees: what
        `leaves(X)` and `raw_margin(X)` return, bit for bit."""
        X = self._prepare(X)
        kernels = _kernels()
        if kernels is not None:
            leaves, margin = self._walk(kernels, X, store=True)
            return leaves, self._finish_margin(margin, leaves)
        leaves = self.leaves(X)
        return leaves, self.raw_margin(X, leaves=leaves)

    def raw_margin_sklearn_order(self, X: np.ndarray) -> np.ndarray:
        """Raw margins (n_rows, n_outputs, column-major) summed as scikit-learn sums them: the baseline first, then
        every tree in order; bit for bit `HistGradientBoostingClassifier._raw_predict` (tested)."""
        X = self._prepare(X)
        margin = np.empty((len(X), self.n_outputs), order="F")
        margin[:] = self.baseline
        kernels = _kernels()
        if kernels is None:
            leaves = self.leaves(X)
            for t, k in enumerate(self.tree_class.tolist()):
                margin[:, k] += self.leaf_value[leaves[:, t]]
            return margin
        start = np.ascontiguousarray(margin)  # the kernel adds into row-major margins
        nodes, roots, leaf_id, cat_info, left_bits, known_bits = self._walk_tables
        unused = np.empty((1, 1), dtype=np.intp)
        args = (X, nodes, roots, leaf_id, self.tree_class)
        if len(cat_info):
            kernels.walk_categorical(*args, cat_info, left_bits, known_bits, False, unused, start)
        else:
            kernels.walk(*args, False, unused, start)
        margin[:] = start
        return margin

    def _finish_margin(self, margin: np.ndarray, leaves: np.ndarray) -> np.ndarray:
        """Kernel margin sums + baseline, bit for bit what the numpy path returned, two of whose quirks are kept on
        purpose (outputs stay byte-identical; see the module docstring):
        - below `SKLEARN_MIN_ROWS` rows (row-major leaves), numpy summed a binary model's trees pairwise; from
          there (column-major leaves from scikit-learn's traversal) in tree order, as the kernel does;
        - from `SKLEARN_MIN_ROWS` rows the margins came column-major, and the softmax's sum over classes runs in
          layout order: keep that layout for `proba_from_margin`."""
        n = len(margin)
        if n < SKLEARN_MIN_ROWS and self.n_outputs == 1:
            margin = self.leaf_value[leaves].reshape(n, self.n_trees, 1).sum(axis=1)
        elif n >= SKLEARN_MIN_ROWS:
            margin = np.asfortranarray(margin)
        return margin + self.baseline

    def _walk(self, kernels: ModuleType, X: np.ndarray, *, store: bool) -> tuple[np.ndarray, np.ndarray]:
        """The compiled walk on prepared rows: leaves (or an unused 1 x 1 array) and margins without baseline."""
        nodes, roots, leaf_id, cat_info, left_bits, known_bits = self._walk_tables
        n = X.shape[0]
        leaves = np.empty((n, self.n_trees) if store else (1, 1), dtype=np.intp)
        margin = np.zeros((n, self.n_outputs))
        args = (X, nodes, roots, leaf_id, self.tree_class)
        if len(cat_info):
            kernels.walk_categorical(*args, cat_info, left_bits, known_bits, store, leaves, margin)
        else:
            kernels.walk(*args, store, leaves, margin)
        return leaves, margin

    @cached_property
    def _walk_tables(self) -> tuple[np.ndarray, ...]:
        """The compiled walk's node layout (see `_fastpath_kernels`): nodes renumbered breadth-first over all trees
        so that siblings are adjacent (left, then right), leaves pointing to themselves; with the new roots, the
        global leaf id of every new node, and the categorical split table."""
        from influence._fastpath_kernels import NODE_DTYPE

        n_nodes = len(self.left)
        position = np.full(n_nodes, -1, dtype=np.intp)
        position[self.roots] = np.arange(self.n_trees)
        order = [self.roots]
        frontier = self.roots
        placed = self.n_trees
        while len(frontier):
            inner = frontier[~self.is_leaf[frontier]]
            children = np.empty(2 * len(inner), dtype=np.intp)
            children[0::2] = self.left[inner]
            children[1::2] = self.right[inner]
            position[children] = placed + np.arange(len(children))
            placed += len(children)
            order.append(children)
            frontier = children
        old = np.concatenate(order)
        leaf = self.is_leaf[old]
        cat = self.is_categorical[old]
        numerical = ~leaf & ~cat
        nodes = np.zeros(n_nodes, dtype=NODE_DTYPE)
        nodes["thr"] = np.where(leaf, self.leaf_value[old], np.minimum(self.threshold[old], _FMAX))
        code = 2 * self.feature[old] + (~self.missing_left[old]).astype(np.intp)
        cat_rows = np.cumsum(cat) - 1
        nodes["code"] = np.where(numerical, code, np.where(cat, -1 - cat_rows, 2 * self.n_features))
        nodes["base"] = np.where(leaf, np.arange(n_nodes), position[self.left[old]])
        cat_info = np.column_stack(
            [
                self.feature[old][cat],
                (~self.missing_left[old][cat]).astype(np.intp),
                self.bitset_idx[old][cat],
            ]
        ).astype(np.intp)
        left_bits = self.raw_left_bitsets if len(self.raw_left_bitsets) else np.zeros((1, 8), dtype=np.uint32)
        return (
            nodes,
            np.ascontiguousarray(position[self.roots]),
            np.ascontiguousarray(old),
            np.ascontiguousarray(cat_info.reshape(-1, 3)),
            np.ascontiguousarray(left_bits, dtype=np.uint32),
            np.ascontiguousarray(self.known_bitsets, dtype=np.uint32),
        )

    def _leaves_sklearn(self, X: np.ndarray) -> np.ndarray:
        predict = _sklearn_predict()
        assert predict is not None and self.model_columns is not None
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

        # Honours OMP_NUM_THREADS (the CLI and Makefile default it to 1; batch users may raise it).
        n_threads = _openmp_effective_n_threads()
        Xm = np.ascontiguousarray(X[:, self.model_columns])
        out = np.empty((self.n_trees, len(X)))
        for start in range(0, len(X), _SK_BLOCK_ROWS):
            block = Xm[start : start + _SK_BLOCK_ROWS]
            stop = start + len(block)
            for t, (nodes, raw_bitsets) in enumerate(self.sk_trees):
                predict(
                    nodes, block, raw_bitsets, self.sk_known, self.sk_f_idx_map, n_threads, out[t, start:stop]
                )
        # Convert in the contiguous (trees, rows) layout and hand out a transposed view: no strided copy.
        return out.astype(np.intp).T

    def _leaves_block(self, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        # Each value is stored twice: [NaN -> +inf, NaN -> -inf]; a node reads the copy of its missing side, so
        # NaN routing costs no extra step. Real +inf is clamped to the largest float first (see `_node_tables`).
        x2 = np.empty((n, self.n_features, 2))
        clean = np.minimum(X, _FMAX)
        nan = np.isnan(X)
        x2[:, :, 0] = np.where(nan, np.inf, clean)
        x2[:, :, 1] = np.where(nan, -np.inf, clean)
        flat = x2.ravel()
        fcode, thr, child = self._tables
        state = np.broadcast_to(2 * self.roots, (n, self.n_trees))
        leaf2 = self._leaf2
        has_cat = bool(self.is_categorical.any())
        if n == 1 and not has_cat:  # the people route's case: skip the row offsets
            state = state[0]
            for depth in range(self.max_depth):
                state = child[state + (flat[fcode[state]] <= thr[state])]
                # One row's paths are mostly much shorter than the deepest tree: stop once all sit on a leaf.
                if depth >= 6 and depth % 3 == 0 and leaf2[state].all():
                    break
            return (state >> 1)[None, :]
        if not has_cat:
            return self._leaves_by_depth(flat, n, fcode, thr, child)
        offset = (np.arange(n) * (2 * self.n_features))[:, None]
        for depth in range(self.max_depth):
            if depth >= 6 and depth % 3 == 0 and leaf2[state].all():
                break
            x = flat[offset + fcode[state]]
            go_left = x <= thr[state]
            prev = state
            state = child[state + go_left]
            state = self._categorical_fix(x, prev, state, child)
        return state >> 1

    def _leaves_by_depth(
        self, flat: np.ndarray, n: int, fcode: np.ndarray, thr: np.ndarray, child: np.ndarray
    ) -> np.ndarray:
        """Several rows, numerical splits only: trees deepest first, tree-major state (trees x rows), and at each
        level only the prefix of trees deeper than that level steps (a tree of depth d sits on a leaf after d
        steps); the trees that drop out are parked in `done`. Most trees are about half as deep as the deepest
        one, so this does about half the element work of stepping every tree `max_depth` times (one deal's ~10
        rows: a quarter less time; 30 rows: a third less), with no leaf tests."""
        order, active = self._depth_plan
        state = np.repeat((2 * self.roots[order])[:, None], n, axis=1)
        offset = np.arange(n) * (2 * self.n_features)
        done = np.empty_like(state)
        live = len(state)
        for k in active:
            if k < live:
                done[k:live] = state[k:]
                state, live = state[:k], k
            state = child[state + (flat[fcode[state] + offset] <= thr[state])]
        done[:live] = state
        out = np.empty((n, self.n_trees), dtype=np.intp)
        out[:, order] = (done >> 1).T
        return out

    @cached_property
    def _depth_plan(self) -> tuple[np.ndarray, tuple[int, ...]]:
        """Trees ordered deepest first (stable), and per level the number of trees deeper than that level."""
        _, node_depth = _tree_levels(self.left, self.right, self.is_leaf, self.roots)
        tree_depth = np.maximum.reduceat(node_depth, self.roots) if self.n_trees else node_depth[:0]
        order = np.argsort(-tree_depth, kind="stable")
        active = tuple(int(np.count_nonzero(tree_depth > d)) for d in range(int(tree_depth.max(initial=0))))
        return order, active

    def _categorical_fix(
        self, x: np.ndarray, prev: np.ndarray, state: np.ndarray, child: np.ndarray
    ) -> np.ndarray:
        node = prev >> 1
        cat = self.is_categorical[node]
        if not cat.any():
            return state
        state = state.copy()
        state[cat] = child[prev[cat] + self._categorical_left(x[cat], node[cat])]
        return state

    @cached_property
    def _leaf2(self) -> np.ndarray:
        return np.repeat(self.is_leaf, 2)

    @cached_property
    def _tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Traversal tables indexed by state = 2 * node: value column, threshold, and child for go_left 0/1."""
        fcode = 2 * self.feature + self.missing_left.astype(np.intp)
        thr = np.where(np.isposinf(self.threshold), _FMAX, self.threshold)
        child = np.empty(2 * len(self.left), dtype=np.intp)
        child[0::2] = 2 * self.right
        child[1::2] = 2 * self.left
        return np.repeat(fcode, 2), np.repeat(thr, 2), child

    def _categorical_left(self, x: np.ndarray, node: np.ndarray) -> np.ndarray:
        missing = ~np.isfinite(x) | (x < 0)
        value = np.where(missing, 0, x).astype(np.intp)
        word, bit = value // 32, (value % 32).astype(np.uint32)
        in_left = (self.raw_left_bitsets[self.bitset_idx[node], word] >> bit) & 1
        in_known = (self.known_bitsets[self.feature[node], word] >> bit) & 1
        miss_side = self.missing_left[node]
        return np.where(
            missing, miss_side, np.where(in_left == 1, True, np.where(in_known == 1, False, miss_side))
        )

    def raw_margin(self, X: np.ndarray, *, leaves: np.ndarray | None = None) -> np.ndarray:
        """Raw scores (n_rows, n_outputs): log-odds for binary models, per-class scores for multiclass."""
        kernels = _kernels()
        if kernels is not None:
            if leaves is None:
                X = self._prepare(X)
                # A binary model below SKLEARN_MIN_ROWS rows needs the leaves (see `_finish_margin`).
                leaves, margin = self._walk(
                    kernels, X, store=len(X) < SKLEARN_MIN_ROWS and self.n_outputs == 1
                )
                return self._finish_margin(margin, leaves)
            leaves = _as_leaves(leaves)
            margin = np.zeros((len(leaves), self.n_outputs))
            kernels.margins_from_leaves(leaves, self.leaf_value, self.tree_class, margin)
            return self._finish_margin(margin, leaves)
        leaves = self.leaves(X) if leaves is None else leaves
        values = self.leaf_value[leaves]  # (n, T); trees are iteration-major: iteration i, class k
        out = values.reshape(len(values), self.n_trees // self.n_outputs, self.n_outputs).sum(axis=1)
        return out + self.baseline

    def predict_proba(self, X: np.ndarray, *, leaves: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities exactly as `HistGradientBoostingClassifier.predict_proba` (n_rows, n_classes)."""
        return self.proba_from_margin(self.raw_margin(X, leaves=leaves))

    def proba_from_margin(self, raw: np.ndarray) -> np.ndarray:
        """`predict_proba` from raw margins (n_rows, n_outputs), e.g. those `walk` returns."""
        if self.n_outputs == 1:
            p = expit(raw[:, 0])
            return np.column_stack([1.0 - p, p])
        raw = raw - raw.max(axis=1, keepdims=True)
        e = np.exp(raw)
        return e / e.sum(axis=1, keepdims=True)

    def typical_thresholds(self) -> np.ndarray:
        """Per input feature, the median of its numerical split thresholds (NaN if never split on): where the
        model typically draws the line between "low" and "high"."""
        inner = ~self.is_leaf & ~self.is_categorical & np.isfinite(self.threshold)
        out = np.full(self.n_features, np.nan)
        feats, thr = self.feature[inner], self.threshold[inner]
        for f in np.unique(feats):
            out[f] = float(np.median(thr[feats == f]))
        return out

    # -- attribution --------------------------------------------------------------------------------------------
    def bias(self) -> np.ndarray:
        """Per output: baseline + expected value of every tree's root (the margin before any split)."""
        roots = np.zeros(self.n_outputs)
        np.add.at(roots, self.tree_class, self.expected_value[self.roots])
        return self.baseline + roots

    def contributions(
        self, X: np.ndarray | None = None, *, output: int | np.ndarray = 0, leaves: np.ndarray | None = None
    ) -> np.ndarray:
        """Saabas contributions (n_rows, n_features) to output `output` (an int, or one int per row).

        `bias()[output] + contributions.sum(axis=1)` equals `raw_margin(X)[:, output]`.
        """
        if leaves is None:
            if X is None:
                raise ValueError("pass X or leaves")
            leaves = self.leaves(X)
        n = len(leaves)
        per_row = np.broadcast_to(np.asarray(output, dtype=np.intp), (n,))
        kernels = _kernels()
        if kernels is not None:
            indptr, feature, value = self._leaf_nonzeros
            out = np.zeros((n, self.n_features))
            kernels.contributions(
                _as_leaves(leaves),
                self.tree_class,
                np.array(per_row, dtype=np.intp),  # a writable copy: broadcast views are read-only
                self.leaf_row,
                indptr,
                feature,
                value,
                out,
            )
            return out
        mask = self.tree_class[None, :] == per_row[:, None]  # (n, T): the trees adding to each row's output
        if n == 1:  # one row (the people route): a dense gather and sum is the fewest numpy calls
            return self.leaf_contrib[self.leaf_row[leaves[0, mask[0]]]].sum(axis=0)[None, :]
        if n <= 32:
            return self._contributions_few(leaves, mask)
        # One row of the indicator per input row, its leaves in tree order (leaf ids grow with the tree), built
        # as CSR directly. Times the sparse leaf attributions (~6% filled: a path splits on a few features), the
        # sum of each (row, feature) adds the same non-zero terms in the same tree order as the dense product
        # did, so the result is bit for bit the same, at a third of the cost.
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(mask.sum(axis=1), out=indptr[1:])
        cols = self.leaf_row[leaves[mask]]
        indicator = sp.csr_matrix(
            (np.ones(len(cols)), cols, indptr), shape=(n, len(self.leaf_contrib)), dtype=np.float64
        )
        return (indicator @ self._leaf_contrib_sparse).toarray()

    def _contributions_few(self, leaves: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """`contributions` for a few rows (one API deal) without scipy's per-call overhead: the non-zero entries
        of every (row, tree) leaf, gathered in row-then-tree order, added up per (row, feature) by one bincount.
        bincount adds each bin's weights one by one from 0.0 in input order, i.e. in tree order: the same terms
        in the same order as the CSR product (and the dense per-row sum: zeros add nothing), so bit for bit the
        same result (tested)."""
        n = len(leaves)
        indptr, feature, value = self._leaf_nonzeros
        leaf = self.leaf_row[leaves[mask]]
        start = indptr[leaf]
        count = indptr[leaf + 1] - start
        entry = np.repeat(start - (np.cumsum(count) - count), count) + np.arange(int(count.sum()))
        row_base = np.repeat(np.arange(n) * self.n_features, mask.sum(axis=1))
        bins = np.repeat(row_base, count) + feature[entry]
        out = np.bincount(bins, weights=value[entry], minlength=n * self.n_features)
        return out.reshape(n, self.n_features)

    @cached_property
    def _leaf_nonzeros(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The non-zero entries of `leaf_contrib` per leaf row: CSR row pointers, feature, value."""
        m = self._leaf_contrib_sparse
        return m.indptr.astype(np.intp), m.indices.astype(np.intp), m.data

    @cached_property
    def _leaf_contrib_sparse(self) -> sp.csr_matrix:
        return sp.csr_matrix(self.leaf_contrib)


def _as_leaves(leaves: np.ndarray) -> np.ndarray:
    """Leaf ids as the kernels' one compiled type: C-order, writable intp."""
    leaves = np.asarray(leaves)
    if leaves.dtype != np.intp or not (leaves.flags.c_contiguous and leaves.flags.writeable):
        leaves = np.array(leaves, dtype=np.intp, order="C")
    return leaves


def _encode_categories(values: np.ndarray, cats: np.ndarray) -> np.ndarray:
    """OrdinalEncoder semantics: a value's position in the sorted known categories; unknown or NaN -> NaN."""
    out = np.full(values.shape, np.nan)
    if len(cats) == 0:
        return out
    pos = np.clip(np.searchsorted(cats, values), 0, len(cats) - 1)
    hit = cats[pos] == values
    out[hit] = pos[hit]
    return out


def _tree_levels(
    left: np.ndarray, right: np.ndarray, is_leaf: np.ndarray, roots: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Parent (-1 for roots) and depth of every node, one vectorised step per level."""
    n = len(left)
    parent = np.full(n, -1, dtype=np.intp)
    inner = np.flatnonzero(~is_leaf)
    parent[left[inner]] = inner
    parent[right[inner]] = inner
    depth = np.zeros(n, dtype=np.intp)
    frontier = roots
    level = 0
    while len(frontier):
        depth[frontier] = level
        frontier = frontier[~is_leaf[frontier]]
        frontier = np.concatenate([left[frontier], right[frontier]])
        level += 1
    return parent, depth


def _expected_values(
    left: np.ndarray,
    right: np.ndarray,
    is_leaf: np.ndarray,
    leaf_value: np.ndarray,
    count: np.ndarray,
    roots: np.ndarray,
) -> tuple[np.ndarray, int, np.ndarray]:
    """Count-weighted mean leaf value below every node, the deepest root-to-leaf path, and the parents."""
    parent, depth = _tree_levels(left, right, is_leaf, roots)
    expected = leaf_value.copy()
    weight = np.maximum(count, 1e-12)
    max_depth = int(depth.max(initial=0))
    # Bottom-up, one level at a time: children are final before their parent is computed.
    for level in range(max_depth - 1, -1, -1):
        nodes = np.flatnonzero((depth == level) & ~is_leaf)
        lo, hi = left[nodes], right[nodes]
        wl, wr = weight[lo], weight[hi]
        expected[nodes] = (wl * expected[lo] + wr * expected[hi]) / (wl + wr)
        weight[nodes] = wl + wr
    return expected, max_depth, parent


def _leaf_attributions(
    parent: np.ndarray,
    is_leaf: np.ndarray,
    feature: np.ndarray,
    expected: np.ndarray,
    n_features: int,
) -> tuple[np.ndarray, np.ndarray]:
    """For every leaf, the expected-value changes along its root path summed per split feature: (n_leaves, F)."""
    n = len(parent)
    leaf_ids = np.flatnonzero(is_leaf)
    leaf_row = np.full(n, -1, dtype=np.intp)
    leaf_row[leaf_ids] = np.arange(len(leaf_ids))
    contrib = np.zeros((len(leaf_ids), n_features))
    rows = np.arange(len(leaf_ids))
    node = leaf_ids
    while len(node):  # walk every leaf up to its root at once
        up = parent[node]
        keep = up >= 0
        node, up, rows = node[keep], up[keep], rows[keep]
        np.add.at(contrib, (rows, feature[up]), expected[node] - expected[up])
        node = up
    return leaf_row, contrib
