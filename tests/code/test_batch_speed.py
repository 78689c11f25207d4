"""The batch fast paths give exactly what the plain paths give: blocked tree traversal (leaves), sparse path
attributions (contributions), bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from influence import fastpath
from influence.fastpath import FastForest


def _data(n: int, f: int, seed: int, nan_rate: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f))
    X[rng.random(X.shape) < nan_rate] = np.nan
    return X


@pytest.fixture(scope="module", params=["binary", "multiclass"])
def forest(request: pytest.FixtureRequest) -> FastForest:
    X = _data(1200, 9, 1)
    signal = np.nan_to_num(X[:, 0]) - np.where(np.isnan(X[:, 2]), 0.7, np.nan_to_num(X[:, 1]))
    y = (signal > 0).astype(int) if request.param == "binary" else np.digitize(signal, [-1.0, 0.0, 1.0])
    model = HistGradientBoostingClassifier(
        max_iter=25, random_state=0, early_stopping=False, max_leaf_nodes=12
    ).fit(X, y)
    return FastForest.from_estimator(model)


def test_blocked_compiled_traversal_reaches_the_numpy_leaves(forest, monkeypatch) -> None:
    # Small blocks so the rows span several blocks, the last one partial.
    monkeypatch.setattr(fastpath, "_SK_BLOCK_ROWS", 64)
    rows = _data(64 * 5 + 37, 9, 2)
    leaves = forest.leaves(rows, backend="sklearn")
    np.testing.assert_array_equal(leaves, forest.leaves(rows, backend="numpy"))
    # A block boundary never changes a row's leaves.
    np.testing.assert_array_equal(forest.leaves(rows[60:70], backend="sklearn"), leaves[60:70])


def _reference_contributions(forest: FastForest, leaves: np.ndarray, output: np.ndarray) -> np.ndarray:
    """The dense sum: each row adds its leaves' attribution vectors (trees of its output) in tree order."""
    out = np.zeros((len(leaves), forest.n_features))
    for t in range(forest.n_trees):
        mine = forest.tree_class[t] == output
        out[mine] += forest.leaf_contrib[forest.leaf_row[leaves[mine, t]]]
    return out


def test_sparse_contributions_equal_the_dense_sum_bit_for_bit(forest) -> None:
    rows = _data(500, 9, 3, nan_rate=0.3)
    leaves = forest.leaves(rows)
    rng = np.random.default_rng(4)
    output = rng.integers(0, forest.n_outputs, size=len(rows))  # one output per row, as for the profiles
    got = forest.contributions(leaves=leaves, output=output)
    want = _reference_contributions(forest, leaves, output)
    np.testing.assert_array_equal(got, want)
    assert np.abs(got).max() > 0  # the forest does split: the comparison is not between zeros
