"""The compiled (numba) tree walk gives exactly what the numpy path gives: the same leaves, margins, probabilities
and attributions bit for bit, at every row count (the numpy path is the reference: it is tested against
scikit-learn in test_fastpath.py); NaN, +-inf, split-on-NaN and categorical routing included. Kernels compile
when a forest is built, never inside a call, and a missing numba falls back to numpy with one warning."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from influence import fastpath
from influence.fastpath import SKLEARN_MIN_ROWS, FastForest

pytestmark = pytest.mark.skipif(not fastpath.compiled_walk_available(), reason="numba unavailable")


def _data(n: int, f: int, seed: int, nan_rate: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f))
    X[rng.random(X.shape) < nan_rate] = np.nan
    return X


def _edge_rows(forest: FastForest, n_features: int, seed: int) -> np.ndarray:
    """Rows on split thresholds, +-inf, huge values and all-NaN rows."""
    rng = np.random.default_rng(seed)
    rows = _data(120, n_features, seed, nan_rate=0.3)
    inner = np.flatnonzero(~forest.is_leaf & ~forest.is_categorical & np.isfinite(forest.threshold))
    for i, node in enumerate(rng.choice(inner, size=60)):
        rows[i, forest.feature[node]] = forest.threshold[node]
    rows[60:70] = np.nan
    rows[70:80, :2] = np.inf
    rows[80:90, :2] = -np.inf
    rows[90:100] *= 1e300
    return rows


@pytest.fixture(scope="module", params=["binary", "multiclass"])
def forest(request: pytest.FixtureRequest) -> FastForest:
    X = _data(1500, 10, 1)
    # NaN carries signal, so the trees learn missing sides (and split on NaN) in both directions.
    signal = (
        np.nan_to_num(X[:, 0]) + np.where(np.isnan(X[:, 1]), 1.2, -0.4) - np.where(np.isnan(X[:, 2]), 0.8, 0)
    )
    y = (signal > 0).astype(int) if request.param == "binary" else np.digitize(signal, [-0.8, 0.0, 0.8])
    model = HistGradientBoostingClassifier(
        max_iter=30, random_state=0, early_stopping=False, max_leaf_nodes=20
    ).fit(X, y)
    return FastForest.from_estimator(model)


class _NoKernels:
    """Within the block, every FastForest call takes the numpy path (the reference)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch

    def __enter__(self) -> None:
        self.monkeypatch.setattr(fastpath, "_kernels", lambda: None)

    def __exit__(self, *exc: object) -> None:
        self.monkeypatch.undo()


@pytest.mark.parametrize("n", [0, 1, 3, 31, SKLEARN_MIN_ROWS - 1, SKLEARN_MIN_ROWS, 700])
def test_compiled_walk_equals_the_numpy_path_bit_for_bit(forest, monkeypatch, n) -> None:
    rows = np.vstack([_edge_rows(forest, 10, 2), _data(700, 10, 3, nan_rate=0.35)])[:n]
    leaves, margin = forest.walk(rows)
    proba = forest.predict_proba(rows)
    best = np.argmax(margin, axis=1)
    contrib = forest.contributions(rows, output=best)
    with _NoKernels(monkeypatch):
        want_leaves = forest.leaves(rows)
        want_margin = forest.raw_margin(rows, leaves=want_leaves)
        want_proba = forest.predict_proba(rows)
        want_contrib = forest.contributions(rows, output=best)
    np.testing.assert_array_equal(leaves, want_leaves)
    np.testing.assert_array_equal(margin, want_margin)
    np.testing.assert_array_equal(proba, want_proba)
    np.testing.assert_array_equal(contrib, want_contrib)
    # The compiled variants agree with each other too.
    np.testing.assert_array_equal(forest.leaves(rows), leaves)
    np.testing.assert_array_equal(forest.raw_margin(rows), margin)
    np.testing.assert_array_equal(forest.raw_margin(None, leaves=leaves), margin)
    # Not a comparison of zeros or of one path through every tree.
    assert leaves.shape == (n, forest.n_trees) and contrib.shape == (n, 10)
    assert n == 0 or (np.abs(contrib).max() > 0 and (n == 1 or len(np.unique(leaves)) > forest.n_trees))


def test_compiled_leaves_equal_scikit_learns_traversal_on_edge_rows(forest) -> None:
    rows = np.vstack([_edge_rows(forest, 10, 4), _data(300, 10, 5, nan_rate=0.5)])
    np.testing.assert_array_equal(
        forest.leaves(rows, backend="numba"), forest.leaves(rows, backend="sklearn")
    )


def test_rows_are_independent_of_their_block(forest) -> None:
    # The kernel walks four rows at a time and the remainder one at a time: a row's leaves and attributions must
    # not depend on its position.
    rows = _data(23, 10, 6, nan_rate=0.3)
    leaves = forest.leaves(rows)
    contrib = forest.contributions(leaves=leaves, output=0)
    for start, stop in ((0, 1), (1, 5), (5, 7), (7, 23), (22, 23)):
        np.testing.assert_array_equal(forest.leaves(rows[start:stop]), leaves[start:stop])
        np.testing.assert_array_equal(forest.contributions(rows[start:stop], output=0), contrib[start:stop])


def test_categorical_forest_compiled_equals_numpy_and_sklearn(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    n = 2000
    cat = rng.integers(0, 8, size=n).astype(float)
    cat2 = rng.choice([3.0, 10.0, 25.0], size=n)  # non-contiguous codes
    num = rng.normal(size=n)
    cat[rng.random(n) < 0.1] = np.nan
    y = ((np.isin(cat, [1, 3, 5]) | (cat2 == 10)) ^ (num > 1)).astype(int)
    model = HistGradientBoostingClassifier(
        categorical_features=[1, 2], max_iter=30, random_state=0, early_stopping=False
    ).fit(np.column_stack([num, cat, cat2]), y)
    forest = FastForest.from_estimator(model)
    assert forest.is_categorical.any()
    test = np.column_stack(
        [
            rng.normal(size=500),
            rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 9, -1, np.inf, np.nan], size=500),  # 9 unknown, -1 invalid
            rng.choice([3.0, 10.0, 25.0, 11.0, np.nan], size=500),  # 11 unknown
        ]
    )
    leaves, margin = forest.walk(test)
    np.testing.assert_array_equal(leaves, forest.leaves(test, backend="sklearn"))
    with _NoKernels(monkeypatch):
        np.testing.assert_array_equal(leaves, forest.leaves(test))
        np.testing.assert_array_equal(margin, forest.raw_margin(test))
        want_contrib = forest.contributions(test, output=0)
    np.testing.assert_array_equal(forest.contributions(test, output=0), want_contrib)
    finite = np.isfinite(test[:, 1]) | np.isnan(test[:, 1])  # scikit-learn refuses +inf
    assert not finite.all()
    np.testing.assert_allclose(
        forest.predict_proba(test[finite]), model.predict_proba(test[finite]), rtol=0, atol=1e-12
    )


def test_kernels_compile_when_the_forest_is_built_not_per_call(forest) -> None:
    # One compiled signature per kernel: calls with other layouts (read-only, strided, int32 outputs) are
    # converted, never compiled again (seconds inside a request).
    kernels = fastpath._kernels()
    before = {
        k: len(getattr(kernels, k).signatures) for k in ("walk", "contributions", "margins_from_leaves")
    }
    X = np.asfortranarray(_data(40, 10, 7))
    X.flags.writeable = False
    leaves = forest.leaves(X)
    forest.raw_margin(X[::2])
    forest.raw_margin(None, leaves=np.asfortranarray(leaves).astype(np.int32))
    output = np.broadcast_to(np.int32(0), (len(X),))
    forest.contributions(leaves=leaves[:, :][::1], output=output)
    after = {k: len(getattr(kernels, k).signatures) for k in before}
    assert after == before and all(v == 1 for v in after.values()), after


def test_without_numba_the_numpy_path_is_used_with_one_warning(monkeypatch, caplog) -> None:
    import builtins

    real_import = builtins.__import__

    def no_kernels(name: str, *args: object, **kwargs: object) -> object:
        if name == "influence" and args and args[2] and "_fastpath_kernels" in args[2]:
            raise ImportError("No module named 'numba'")
        return real_import(name, *args, **kwargs)

    fastpath._kernels.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_kernels)
    try:
        with caplog.at_level(logging.WARNING, logger="influence.fastpath"):
            assert fastpath._kernels() is None
            assert fastpath._kernels() is None  # cached: warned once
            X = _data(200, 3, 8)
            model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(
                X, (np.nan_to_num(X[:, 0]) > 0)
            )
            forest = FastForest.from_estimator(model)
            np.testing.assert_allclose(forest.predict_proba(X), model.predict_proba(X), atol=1e-12)
            with pytest.raises(RuntimeError, match="unavailable"):
                forest.leaves(X, backend="numba")
        warnings = [r for r in caplog.records if "falls back to the numpy walk" in r.getMessage()]
        assert len(warnings) == 1 and "numba" in warnings[0].getMessage()
    finally:
        monkeypatch.undo()
        fastpath._kernels.cache_clear()
    assert fastpath._kernels() is not None


def test_sklearn_order_margins_equal_scikit_learns_raw_predict_bit_for_bit(monkeypatch) -> None:
    # The no-reasons batch path promises scikit-learn's own answers: baseline first, then tree by tree.
    X = _data(1500, 10, 9)
    y = np.digitize(np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]), [-1.0, 0.0, 1.0])
    for labels in (y > 1, y):  # binary, multiclass
        model = HistGradientBoostingClassifier(max_iter=25, random_state=0, early_stopping=False).fit(
            X, labels
        )
        forest = FastForest.from_estimator(model)
        rows = np.vstack([_edge_rows(forest, 10, 10), _data(400, 10, 11, nan_rate=0.4)])
        want = model._raw_predict(rows)
        got = forest.raw_margin_sklearn_order(rows)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(model._loss.predict_proba(got), model.predict_proba(rows))
        with _NoKernels(monkeypatch):
            np.testing.assert_array_equal(forest.raw_margin_sklearn_order(rows), want)
