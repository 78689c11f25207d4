"""The numpy HGB predictor equals scikit-learn's, NaN / inf / categorical routing included, and its path
attributions add up to the raw margin."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from influence.contract import PROFILES
from influence.fastpath import FastForest


def _data(n: int, f: int, seed: int, nan_rate: float = 0.15) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f))
    X[rng.random(X.shape) < nan_rate] = np.nan
    return X


def _fit(y_kind: str, seed: int = 0, **kw: object) -> tuple[HistGradientBoostingClassifier, np.ndarray]:
    X = _data(1500, 12, seed)
    rng = np.random.default_rng(seed + 1)
    signal = np.nan_to_num(X[:, 0]) + np.where(np.isnan(X[:, 1]), 1.0, -0.5) + 0.5 * rng.normal(size=len(X))
    if y_kind == "binary":
        y = (signal > 0).astype(int)
    else:
        y = np.digitize(signal, np.quantile(signal, np.linspace(0, 1, 6)[1:-1]))
    params = {"max_iter": 40, "random_state": 0, "early_stopping": False, "max_leaf_nodes": 15}
    params.update(kw)
    return HistGradientBoostingClassifier(**params).fit(X, y), X


@pytest.fixture(scope="module", params=["binary", "multiclass"])
def fitted(request: pytest.FixtureRequest) -> tuple[HistGradientBoostingClassifier, FastForest, np.ndarray]:
    model, X = _fit(request.param)
    return model, FastForest.from_estimator(model), X


def _hard_rows(forest: FastForest, n_features: int, seed: int) -> np.ndarray:
    """Rows that sit exactly on split thresholds, plus +-inf, all-NaN and huge values."""
    rng = np.random.default_rng(seed)
    inner = np.flatnonzero(~forest.is_leaf & np.isfinite(forest.threshold))
    rows = _data(200, n_features, seed, nan_rate=0.3)
    for i, node in enumerate(rng.choice(inner, size=len(rows))):
        rows[i, forest.feature[node]] = forest.threshold[node]
    rows[:10, :] = np.nan
    rows[10:20, 0] = np.inf
    rows[20:30, 1] = -np.inf
    rows[30:40, 2] = 1e300
    return rows


def test_probabilities_equal_sklearn_on_random_nan_and_edge_rows(fitted) -> None:
    model, forest, X_train = fitted
    rows = np.vstack([_data(3000, 12, 9, nan_rate=0.25), _hard_rows(forest, 12, 5), X_train[:300]])
    np.testing.assert_allclose(forest.predict_proba(rows), model.predict_proba(rows), rtol=0, atol=1e-12)
    raw = model.decision_function(rows).reshape(len(rows), -1)
    np.testing.assert_allclose(forest.raw_margin(rows), raw, rtol=0, atol=1e-10)


def test_single_row_path_equals_batch_path(fitted) -> None:
    _, forest, _ = fitted
    rows = _data(40, 12, 3, nan_rate=0.3)
    batch = forest.leaves(rows)
    for i in range(len(rows)):
        np.testing.assert_array_equal(forest.leaves(rows[i : i + 1])[0], batch[i])


def test_numpy_and_sklearn_backends_reach_the_same_leaves(fitted) -> None:
    _, forest, _ = fitted
    rows = np.vstack([_data(600, 12, 11, nan_rate=0.3), _hard_rows(forest, 12, 12)])
    np.testing.assert_array_equal(
        forest.leaves(rows, backend="numpy"), forest.leaves(rows, backend="sklearn")
    )
    with pytest.raises(ValueError, match="backend"):
        forest.leaves(rows[:2], backend="gpu")


def test_contributions_plus_bias_sum_to_the_raw_margin(fitted) -> None:
    _, forest, _ = fitted
    rows = _data(500, 12, 4, nan_rate=0.3)
    raw = forest.raw_margin(rows)
    for k in range(forest.n_outputs):
        big = forest.contributions(rows, output=k)  # sparse path (> 32 rows)
        small = forest.contributions(rows[:7], output=k)  # per-row path
        np.testing.assert_allclose(big.sum(axis=1) + forest.bias()[k], raw[:, k], atol=1e-9)
        np.testing.assert_allclose(small, big[:7], atol=1e-12)


def test_contributions_per_row_output(fitted) -> None:
    _, forest, _ = fitted
    rows = _data(60, 12, 6)
    raw = forest.raw_margin(rows)
    best = np.argmax(raw, axis=1)
    contrib = forest.contributions(rows, output=best)
    np.testing.assert_allclose(contrib.sum(axis=1) + forest.bias()[best], raw[np.arange(60), best], atol=1e-9)


def test_one_and_few_row_attributions_equal_the_sparse_path_bit_for_bit(fitted) -> None:
    # Three code paths (1 row, up to 32 rows, more) must agree exactly: a last-bit difference reorders tied
    # reasons, and one API deal (few rows) must read exactly like the same deal in a batch (many rows).
    _, forest, _ = fitted
    rows = np.vstack([_data(40, 12, 21, nan_rate=0.3), _hard_rows(forest, 12, 22)[:10]])
    best = np.argmax(forest.raw_margin(rows), axis=1)
    outputs = [*range(forest.n_outputs), best] if forest.n_outputs > 1 else [0]
    for output in outputs:
        big = forest.contributions(rows, output=output)  # > 32 rows: the CSR product
        for k in (1, 2, 9, 32):
            part = output if np.ndim(output) == 0 else output[:k]
            small = forest.contributions(rows[:k], output=part)
            assert small.shape == (k, 12)
            np.testing.assert_array_equal(small, big[:k])
    assert forest.contributions(rows[:0], output=0).shape == (0, 12)


def test_depth_ordered_walk_equals_sklearn_for_shallow_deep_and_single_leaf_trees() -> None:
    # Trees of very different depths (the walk steps each tree only to its own depth), and trees that are a
    # single leaf (nothing to split: every leaf at depth 0).
    X = _data(1500, 6, 31, nan_rate=0.2)
    y = (np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) ** 2 > 0.5).astype(int)
    for params in ({"max_leaf_nodes": 63, "max_depth": None}, {"min_samples_leaf": 1000}):
        model = HistGradientBoostingClassifier(max_iter=25, random_state=0, early_stopping=False, **params)
        forest = FastForest.from_estimator(model.fit(X, y))
        rows = _data(50, 6, 32, nan_rate=0.3)
        if "min_samples_leaf" in params:
            assert forest.is_leaf.all()  # no split can keep 1000 of 1500 rows on both sides
        else:
            rows = np.vstack([rows, _hard_rows(forest, 6, 33)])
        for k in (1, 3, len(rows)):
            np.testing.assert_array_equal(
                forest.leaves(rows[:k], backend="numpy"), forest.leaves(rows[:k], backend="sklearn")
            )
        np.testing.assert_allclose(forest.predict_proba(rows), model.predict_proba(rows), rtol=0, atol=1e-12)


def test_a_feature_the_model_never_splits_on_gets_no_contribution() -> None:
    X = _data(1000, 4, 2)
    X[:, 3] = 1.0  # constant: nothing to split on
    y = (np.nan_to_num(X[:, 0]) > 0).astype(int)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0, early_stopping=False).fit(X, y)
    forest = FastForest.from_estimator(model)
    rows = _data(100, 4, 8)
    contrib = forest.contributions(rows, output=0)
    assert np.all(contrib[:, 3] == 0)
    # ... and the informative feature does move scores
    assert np.abs(contrib[:, 0]).max() > 0.5


def test_wrong_shape_is_a_clear_error(fitted) -> None:
    _, forest, _ = fitted
    with pytest.raises(ValueError, match="12 columns"):
        forest.predict_proba(np.zeros((2, 11)))


def test_categorical_features_route_like_sklearn() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    cat = rng.integers(0, 8, size=n).astype(float)  # codes 0..7
    cat2 = rng.choice([3.0, 10.0, 25.0], size=n)  # non-contiguous codes
    num = rng.normal(size=n)
    cat[rng.random(n) < 0.1] = np.nan
    y = ((np.isin(cat, [1, 3, 5]) | (cat2 == 10)) ^ (num > 1)).astype(int)
    X = np.column_stack([num, cat, cat2])
    model = HistGradientBoostingClassifier(
        categorical_features=[1, 2], max_iter=30, random_state=0, early_stopping=False
    ).fit(X, y)
    forest = FastForest.from_estimator(model)
    assert forest.is_categorical.any()
    test = np.column_stack(
        [
            rng.normal(size=500),
            rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 9, -1, np.nan], size=500),  # 9 unknown, -1 invalid
            rng.choice([3.0, 10.0, 25.0, 11.0, np.nan], size=500),  # 11 unknown
        ]
    )
    np.testing.assert_allclose(forest.predict_proba(test), model.predict_proba(test), atol=1e-12)
    np.testing.assert_array_equal(
        forest.leaves(test, backend="numpy"), forest.leaves(test, backend="sklearn")
    )
    raw = model.decision_function(test)
    np.testing.assert_allclose(forest.contributions(test).sum(axis=1) + forest.bias()[0], raw, atol=1e-9)


@pytest.mark.slow
def test_bundle_influence_and_profile_equal_the_pipelines(small_bundle) -> None:
    bundle, frame = small_bundle
    from influence.predict import Scorer

    scorer = Scorer(bundle)
    X = frame[list(bundle.feature_columns)].to_numpy(dtype=np.float64)
    influence, proba = scorer.score_matrix(X)
    np.testing.assert_allclose(influence, bundle.predict_influence(frame), atol=1e-6)
    np.testing.assert_allclose(proba, bundle.predict_profile_proba(frame), atol=1e-6)
    assert proba.shape == (len(frame), len(PROFILES))


@pytest.fixture(scope="module")
def small_bundle(unit_bundle):
    """The session's small trained bundle, and the feature rows of the dataset it was trained on."""
    from influence.features import build_features
    from influence.generate import generate

    return unit_bundle, build_features(generate(24, 5))
