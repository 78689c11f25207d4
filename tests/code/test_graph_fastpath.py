"""The single-deal shortcuts of the graph features (the scoring API's path) give bit-identical numbers to the
general batched code, on random graphs written here: ties, isolated people, dangling nodes, self-loops."""

from __future__ import annotations

import numpy as np
import pytest

from influence.features import _graph
from influence.features._ops import safe_div


def random_graph(rng: np.random.Generator, n: int) -> np.ndarray:
    """A weighted directed graph on n nodes: random e-mail counts (some self-loops), a symmetric meeting clique
    (whose members tie exactly), a few isolated nodes and a few dangling ones (receive, never send)."""
    G = np.zeros((n, n))
    n_edges = int(rng.integers(0, 4 * n))
    src, dst = rng.integers(0, n, n_edges), rng.integers(0, n, n_edges)
    np.add.at(G, (src, dst), rng.integers(1, 4, n_edges).astype(float))
    clique = rng.choice(n, size=min(n, 4), replace=False)
    G[np.ix_(clique, clique)] += 2.0
    G[clique, clique] -= 2.0  # meeting co-attendance has no self-tie
    G[:, rng.choice(n, size=n // 5, replace=False)] *= 0.0  # isolated or never written to
    G[rng.choice(n, size=n // 6, replace=False), :] = 0.0  # dangling: sends nothing
    return G


def transition(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out_w = G.sum(axis=1)
    return np.ascontiguousarray((G * safe_div(np.ones(len(G)), out_w, empty=0.0)[:, None]).T), out_w == 0


@pytest.mark.parametrize("seed", range(40))
def test_one_block_pagerank_is_bit_identical_to_the_batched_iteration(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    T, dangling = transition(random_graph(rng, n))
    batched = _graph._pagerank_blocks(T, dangling, np.zeros(n, np.int64), 1)
    alone = _graph._pagerank_one_block(T, dangling)
    np.testing.assert_array_equal(alone, batched)  # before rounding: every bit
    assert abs(alone.mean() - 1.0) < 1e-6  # and it is a PageRank (1 = the average node)


@pytest.mark.parametrize("seed", range(10))
def test_one_block_pagerank_matches_on_sparse_matrices_too(seed: int) -> None:
    """A single deal over DENSE_MAX_NODES people takes scipy.sparse: the shortcut must hold there as well."""
    import scipy.sparse as sp

    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 80))
    T, dangling = transition(random_graph(rng, n))
    T = sp.csr_array(T)
    np.testing.assert_array_equal(
        _graph._pagerank_one_block(T, dangling),
        _graph._pagerank_blocks(T, dangling, np.zeros(n, np.int64), 1),
    )


def test_pagerank_edge_cases_agree() -> None:
    for G in (np.zeros((0, 0)), np.zeros((1, 1)), np.zeros((5, 5)), np.ones((3, 3)), np.eye(4)):
        T, dangling = transition(G)
        np.testing.assert_array_equal(
            _graph._pagerank_one_block(T, dangling),
            _graph._pagerank_blocks(T, dangling, np.zeros(len(G), np.int64), 1),
        )
    # nodes in symmetric positions tie exactly: a directed cycle
    T, dangling = transition(np.roll(np.eye(6), 1, axis=1))
    assert len(set(_graph._pagerank_one_block(T, dangling).tolist())) == 1


def metrics_args(rng: np.random.Generator, n: int) -> tuple[object, ...]:
    """`_metrics` inputs of one random deal graph: e-mail edges (some self-loops), meetings, seller people,
    departments (-1 = unknown)."""
    n_mail, n_att = int(rng.integers(0, 4 * n)), int(rng.integers(0, 3 * n))
    n_mtg = int(rng.integers(1, 6))
    return (
        n,
        np.zeros(n, np.int64),
        1,
        rng.random(n) < 0.3,
        rng.integers(-1, 3, n),
        (rng.integers(0, n, n_mail), rng.integers(0, n, n_mail)),
        (rng.integers(0, n_mtg, n_att), rng.integers(0, n, n_att), n_mtg),
    )


def copy_args(args: tuple[object, ...]) -> tuple[object, ...]:
    return tuple(
        copy_args(a) if isinstance(a, tuple) else a.copy() if isinstance(a, np.ndarray) else a for a in args
    )


@pytest.mark.parametrize("seed", range(15))
def test_metrics_memo_reuses_only_equal_graphs_and_returns_what_metrics_returns(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    args = metrics_args(rng, int(rng.integers(2, 40)))
    memo = _graph._MetricsMemo()
    deal = memo.metrics(args, True)
    fresh = _graph._metrics(*copy_args(args), deal_metrics=False)  # type: ignore[arg-type]
    account = memo.metrics(copy_args(args), False)  # equal arrays, not the same objects: reused
    assert account is not deal and account["pagerank"] is deal["pagerank"]
    for name, values in fresh.items():
        np.testing.assert_array_equal(account[name], values, err_msg=name)
    # one more e-mail: a different graph, computed afresh
    other = copy_args(args)
    src, dst = other[5]  # type: ignore[misc]
    other = (*other[:5], (np.append(src, 0), np.append(dst, 1)), other[6])
    changed = memo.metrics(other, False)
    assert changed["pagerank"] is not deal["pagerank"]
    for name, values in _graph._metrics(*other, deal_metrics=False).items():  # type: ignore[arg-type]
        np.testing.assert_array_equal(changed[name], values, err_msg=name)
    # metrics without departments never stand in for a call that needs them
    memo = _graph._MetricsMemo()
    memo.metrics(args, False)
    assert "dept_count" in memo.metrics(copy_args(args), True)


def test_features_are_the_same_with_and_without_the_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end on generated data: one deal alone (graphs reused) and a batch of accounts with several deals
    (account graphs differ from deal graphs)."""
    import pandas as pd

    from influence.api import deal_request_from_dataset
    from influence.api._schemas import DealScoreRequest
    from influence.api._service import deal_frames
    from influence.data import validate_frames
    from influence.features import build_features
    from influence.generate import generate

    ds = generate(8, 3)
    deal = str(ds.deals["deal_id"].iloc[0])
    frames, _ = deal_frames(DealScoreRequest.model_validate(deal_request_from_dataset(ds, deal)))
    alone = validate_frames(frames)[0]
    computed = []
    metrics = _graph._metrics
    monkeypatch.setattr(_graph, "_metrics", lambda *a, **k: computed.append(1) or metrics(*a, **k))
    with_memo = [build_features(alone)]
    assert len(computed) == 1  # the account graph reused the deal graph's metrics
    with_memo.append(build_features(ds))
    assert len(computed) == 3  # a batch: two different graphs
    monkeypatch.setattr(
        _graph._MetricsMemo,
        "metrics",
        lambda self, args, deal_metrics: metrics(*args, deal_metrics=deal_metrics),
    )
    without = [build_features(alone), build_features(ds)]
    for a, b in zip(with_memo, without, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.mark.parametrize("seed", range(30))
def test_dense_constraint_is_bit_identical_to_the_sparse_path(seed: int) -> None:
    """Burt's constraint of one deal (dense) must equal the batch's (scipy.sparse) in every bit: 1 ulp reorders
    tied people in the within-deal percentiles, which changed a deal's scores between the API and batch scoring."""
    import scipy.sparse as sp

    rng = np.random.default_rng(300 + seed)
    n = int(rng.integers(1, 70))
    G = random_graph(rng, n)
    W = G + G.T  # what `_metrics` builds: e-mail both ways plus meetings, symmetric
    np.fill_diagonal(W, np.diag(W) * (seed % 2))  # with and without self-ties
    A = (W != 0).astype(np.float64)
    inv = safe_div(np.ones(n), W.sum(axis=1), empty=0.0)
    dense = _graph._constraint_dense(W, A, inv)
    Ws, As = sp.csr_array(W), sp.csr_array(A)
    P = _graph._Sparse.scale_rows(Ws, inv)
    local = P + _graph._Sparse.mul(P @ P, As)
    sparse = _graph._rowsum(_graph._Sparse.mul(local, local))
    np.testing.assert_array_equal(dense, sparse)


def test_one_deal_alone_gets_every_graph_feature_it_gets_in_a_batch() -> None:
    """All graph columns (not only PageRank), for every deal of a generated dataset whose account has no other
    deal (the body then holds the account's whole history): the API's dense path, the batch's sparse one."""
    from influence.api import deal_request_from_dataset
    from influence.api._schemas import DealScoreRequest
    from influence.api._service import deal_frames
    from influence.data import validate_frames
    from influence.features import build_features
    from influence.generate import generate

    ds = generate(30, 5)
    per_account = ds.deals.groupby("account_id")["deal_id"].transform("size")
    single = ds.deals.loc[per_account == 1, "deal_id"].astype(str).tolist()
    assert len(single) >= 4
    batch = build_features(ds)
    columns = [c for c in batch.columns if c.startswith(("net_", "acct_", "pct_net_"))]
    for deal in single:
        frames, _ = deal_frames(DealScoreRequest.model_validate(deal_request_from_dataset(ds, deal)))
        alone = build_features(validate_frames(frames)[0]).set_index("person_id").sort_index()
        assert len(alone) > 0
        want = batch[batch["deal_id"] == deal].set_index("person_id").loc[alone.index]
        for column in columns:
            np.testing.assert_array_equal(alone[column].to_numpy(), want[column].to_numpy(), err_msg=column)
