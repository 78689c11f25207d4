"""Session 6 speed paths of the features, each against the general path it stands in for, bit for bit:

- small columns coded with Python dicts and lists instead of Arrow kernels (one scoring request);
- PageRank iterating only the blocks still moving (batch);
- percentiles of small inputs by comparing every pair of rows, and the per-deal maxima of all relative columns
  at once;
- the account graph of one deal scored alone taken from its deal graph;
- the output frame built from one float64 block.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.sparse as sp

from influence.contract import Dataset
from influence.features import FEATURE_COLUMNS, KEY_COLUMNS, _graph, _ops, _prepare, _tabular, build_features


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, pa.Array | pa.ChunkedArray):
        return a.type == b.type and a.equals(b)
    if isinstance(a, np.ndarray):
        nan = a.dtype.kind == "f"
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=nan)
    return bool(a == b)


def _python_paths(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    """Force the Python paths for small columns on (any length) or off."""
    for name in ("PYTHON_MAX_ROWS", "PYTHON_TEXT_MAX_ROWS"):
        monkeypatch.setattr(_prepare, name, 10**9 if on else -1)


def _prepared_fields(p: _prepare.Prepared) -> dict[str, Any]:
    return {f: getattr(p, f) for f in p.__dataclass_fields__ if f != "participation"}


def _alone(ds: Dataset, deal_id: str) -> Dataset:
    """One deal as the scoring API builds it from a request body."""
    from influence.api import deal_request_from_dataset
    from influence.api._schemas import DealScoreRequest
    from influence.api._service import deal_frames
    from influence.data import validate_frames

    frames, _ = deal_frames(DealScoreRequest.model_validate(deal_request_from_dataset(ds, deal_id)))
    return validate_frames(frames)[0]


@pytest.fixture(scope="module")
def single_deals(small_dataset: Dataset) -> list[Dataset]:
    deals = small_dataset.deals["deal_id"].astype(str).tolist()
    return [_alone(small_dataset, d) for d in deals[:: max(1, len(deals) // 6)]]


# --- Python codes for small columns ---------------------------------------------------------------------------


@pytest.mark.parametrize("as_of", [False, True])
def test_python_coding_equals_arrow_coding_on_a_whole_dataset(
    small_dataset: Dataset, monkeypatch: pytest.MonkeyPatch, as_of: bool
) -> None:
    """Forced onto thousands of values (every column of the generated dataset), the Python paths must give the
    Arrow paths' Prepared arrays exactly."""
    cut = (
        small_dataset.deals["created_at"].sort_values().iloc[len(small_dataset.deals) // 2] if as_of else None
    )
    _python_paths(monkeypatch, True)
    python = _prepare.prepare(small_dataset, cut)
    _python_paths(monkeypatch, False)
    arrow = _prepare.prepare(small_dataset, cut)
    assert len(arrow.rec_msg) > 1000 and (arrow.msg_parent >= 0).any() and (arrow.person_dept >= 0).any()
    a, b = _prepared_fields(python), _prepared_fields(arrow)
    assert [f for f in a if not _same(a[f], b[f])] == []


def test_single_deals_take_the_python_paths_and_match_arrow(
    single_deals: list[Dataset], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    lookup = _prepare._lookup_small
    monkeypatch.setattr(_prepare, "_lookup_small", lambda *a: calls.append(1) or lookup(*a))
    python = [build_features(ds) for ds in single_deals]
    assert calls  # the request-sized path was taken
    _python_paths(monkeypatch, False)
    for got, ds in zip(python, single_deals, strict=True):
        pd.testing.assert_frame_equal(got, build_features(ds), check_exact=True)


def _text(values: list[str | None]) -> pa.Array:
    return pa.array(values, pa.large_string())


UNICODE_IDS = ["b", "a", "Z", "é", "e\u0301", "ä", "z", "😀", "ß", "A-10", "A-9", "", " a", "日本"]


@pytest.mark.parametrize("seed", range(5))
def test_small_sorted_ids_and_codes_match_arrow_on_unicode(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    ids = [UNICODE_IDS[i] for i in rng.permutation(len(UNICODE_IDS))]
    refs = [ids[i] if i < len(ids) else None for i in rng.integers(0, len(ids) + 3, 40)] + ["not-an-id"]
    results = []
    for limit in (10**9, -1):
        _python_paths(monkeypatch, limit > 0)
        sorted_ids, codes = _prepare._sorted_ids(pd.Series(ids, dtype="string"), "people", "person_id")
        results.append(
            (
                sorted_ids,
                codes,
                _prepare._codes(_text(refs), sorted_ids),
                _prepare._codes_many([_text(refs), _text(refs[::-1])], sorted_ids),
                _prepare._dictionary_of(_text(refs)),
            )
        )
    python, arrow = results
    assert _same(python[0], arrow[0]) and python[0].to_pylist() == sorted(ids)
    for got, expected in zip(python[1:], arrow[1:], strict=True):
        if isinstance(got, tuple | list):
            assert all(_same(g, e) for g, e in zip(got, expected, strict=True))
        else:
            assert _same(got, expected)
    assert python[2][-1] == -1 and (python[2][:-1] >= -1).all()  # unknown id: -1, as index_in gives


def test_small_duplicate_ids_raise_the_same_error(monkeypatch: pytest.MonkeyPatch) -> None:
    messages = []
    for limit in (10**9, -1):
        _python_paths(monkeypatch, limit > 0)
        with pytest.raises(ValueError) as err:
            _prepare._sorted_ids(pd.Series(["p2", "p1", "p2", "p0"], dtype="string"), "people", "person_id")
        messages.append(str(err.value))
    assert messages[0] == messages[1] == "people: person_id 'p2' appears more than once"


def test_small_lookups_match_the_first_of_repeated_index_values_and_nulls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = _text(["x", None, "y", "x", None])
    values = _text(["y", None, "x", "q", "x"])
    python = _prepare._lookup_small(values, _prepare._positions(index))
    _python_paths(monkeypatch, False)
    assert _same(python, _prepare._codes(values, index)) and python.tolist() == [2, 1, 0, -1, 0]


def test_email_domains_and_departments_match_the_arrow_expressions(monkeypatch: pytest.MonkeyPatch) -> None:
    emails = _text(
        [
            "A@Example.COM",
            " b@x.org ",
            "no-at-sign",
            None,
            "two@at@signs.net",
            "",
            "nl@\nsplit@x.com",
            "@lead",
        ]
    )
    departments = _text([" IT ", "", None, "Finance", "it", None, "  ", "Ünïcode"])
    function = np.array(["it", "finance", "legal", "other", "it", "hr", "sales", "it"], dtype=object)
    known = np.array([True, True, False, False, True, True, True, False])
    out = {}
    for limit in (10**9, -1):
        _python_paths(monkeypatch, limit > 0)
        out[limit] = (
            _prepare._email_domains(emails),
            _prepare._department_codes(departments, function, known),
        )
    domains = out[10**9][0].tolist()
    assert domains == out[-1][0].tolist()
    assert domains[:6] == ["example.com", "x.org", None, None, "signs.net", None]
    assert _same(out[10**9][1], out[-1][1])
    # "" and "  " and None fall back to the title's function when that names a department
    assert out[10**9][1].tolist() == [0, 1, -1, 1, 0, 2, 3, 4]


def test_vocabulary_codes_report_unknown_values_like_before(monkeypatch: pytest.MonkeyPatch) -> None:
    people = pd.DataFrame({"side": pd.array(["buyer", "seller", "vendor"], "string")})
    for limit in (10**9, -1):
        _python_paths(monkeypatch, limit > 0)
        codes = _prepare._vocabulary_codes(
            _prepare.arrow_text(people["side"]), ("buyer", "seller", "partner")
        )
        assert codes.tolist() == [0, 1, -1]


# --- PageRank over the blocks still iterating -----------------------------------------------------------------


def _block_diagonal(rng: np.random.Generator, n_blocks: int) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """A block-diagonal transition matrix (blocks of 1-60 nodes, some slow to converge: long chains)."""
    sizes = rng.integers(1, 60, n_blocks)
    blocks, block = [], []
    for b, n in enumerate(sizes):
        G = np.zeros((n, n))
        if rng.random() < 0.3:  # a chain: slow
            G[np.arange(n - 1), np.arange(1, n)] = 1.0
        m = int(rng.integers(0, 3 * n))
        np.add.at(G, (rng.integers(0, n, m), rng.integers(0, n, m)), 1.0)
        blocks.append(G)
        block += [b] * n
    G = sp.block_diag(blocks, format="csr")
    out_w = np.asarray(G.sum(axis=1)).ravel()
    T = (sp.diags_array(_ops.safe_div(np.ones(len(out_w)), out_w, empty=0.0)) @ G).T.tocsr()
    return sp.csr_array(T), out_w == 0, np.array(block, np.int64)


@pytest.mark.parametrize("seed", range(6))
def test_pagerank_on_the_moving_blocks_only_is_bit_identical(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    n_blocks = int(rng.integers(2, 80))
    T, dangling, block = _block_diagonal(rng, n_blocks)
    calls: list[int] = []
    shrink = _graph._block_rows
    monkeypatch.setattr(_graph, "_block_rows", lambda *a: calls.append(1) or shrink(*a))
    fast = _graph._pagerank_blocks(T, dangling, block, n_blocks)
    shrinks = len(calls)
    monkeypatch.setattr(_graph, "PAGERANK_SHRINK_SHARE", 0.0)  # never drops a block
    full = _graph._pagerank_blocks(T, dangling, block, n_blocks)
    assert shrinks > 0 and len(calls) == shrinks  # the working set shrank, and only in the first run
    np.testing.assert_array_equal(fast, full)


def test_block_rows_keeps_each_rows_entries_in_stored_order() -> None:
    T = sp.csr_array(
        (np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([1, 0, 2, 3, 2]), np.array([0, 2, 2, 3, 5])),
        shape=(4, 4),
    )
    sub = _graph._block_rows(T, np.array([2, 3]))
    assert sub.indices.tolist() == [0, 1, 0] and sub.data.tolist() == [3.0, 4.0, 5.0]
    assert sub.indptr.tolist() == [0, 1, 3]


# --- percentiles and relative columns of small inputs ---------------------------------------------------------


def _rows(deal: np.ndarray, active: np.ndarray) -> _tabular.Rows:
    n = len(deal)
    empty = np.zeros(0, np.int64)
    return _tabular.Rows(
        keys=deal * 1000 + np.arange(n),
        deal=deal,
        person=np.arange(n),
        active=active,
        n_people=1000,
        of_part=empty,
        of_sender=empty,
        of_recipient=empty,
    )


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # rounding +-inf's stand-ins
@pytest.mark.parametrize("seed", range(20))
def test_pairwise_percentiles_equal_the_sorted_ones(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, _tabular.PAIRWISE_MAX_ROWS + 1))
    n_deals = int(rng.integers(1, 5))
    deal = np.sort(rng.integers(0, n_deals, n))
    rows = _rows(deal, rng.random(n) < 0.8)
    columns = [rng.choice([0.0, -0.0, 1.0, 1.0 + 1e-12, 2.5, np.nan, np.inf, -np.inf], n) for _ in range(4)]
    columns.append(rng.normal(size=n))
    got = _tabular.percentiles_in_deal(columns, rows, n_deals)
    for g, values in zip(got, columns, strict=True):
        np.testing.assert_array_equal(g, _tabular.percentile_in_deal(values, rows, n_deals))
    assert any(np.isfinite(g).any() for g in got)


@pytest.mark.parametrize("seed", range(10))
def test_relative_to_the_deal_maximum_equals_one_column_at_a_time(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, n_deals = int(rng.integers(1, 300)), int(rng.integers(1, 8))
    deal = np.sort(rng.integers(0, n_deals, n))
    rows = _rows(deal, np.ones(n, bool))
    columns = [rng.choice([0.0, -1.0, 2.0, 5.5, np.nan], n) for _ in range(3)] + [rng.exponential(size=n)]
    for got, values in zip(_tabular._relative_to_max(columns, rows, n_deals), columns, strict=True):
        v = np.nan_to_num(values)
        expected = _ops.safe_div(v, _ops.group_max(deal, v, n_deals)[deal], empty=0.0)
        np.testing.assert_array_equal(got, expected)


# --- the account graph of one deal alone ----------------------------------------------------------------------


def test_account_graph_taken_from_the_deal_graph_equals_computing_it(
    single_deals: list[Dataset], monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = single_deals[0]
    stretched = {name: getattr(ds, name) for name in ds.row_counts()}
    emails = stretched["emails"].copy()
    early = emails.index[: len(emails) // 2]
    emails.loc[early, "sent_at"] -= pd.Timedelta(days=500)  # half the mail outside the account window
    stretched["emails"] = emails
    deals = stretched["deals"].copy()
    deals["created_at"] = deals["created_at"] - pd.Timedelta(days=600)
    stretched["deals"] = deals
    cases = [*single_deals, Dataset(stretched)]
    shortcut = [_graph._account_graph_is_deal_graph(_prepare.prepare(c, None)) for c in cases]
    assert all(shortcut[:-1]) and not shortcut[-1]
    fast = [build_features(c) for c in cases]
    monkeypatch.setattr(_graph, "_account_graph_is_deal_graph", lambda p: False)
    for got, c in zip(fast, cases, strict=True):
        pd.testing.assert_frame_equal(got, build_features(c), check_exact=True)
    differs = [m for m in _graph.ACCOUNT_METRICS if not fast[-1][f"acct_{m}"].equals(fast[-1][f"net_{m}"])]
    assert differs  # the window did cut the account graph


# --- the output frame -----------------------------------------------------------------------------------------


def test_feature_frame_is_the_column_constructors_frame_with_one_float_block(small_dataset: Dataset) -> None:
    from influence.data import frame_of_columns
    from influence.predict import _float_block

    frame = build_features(small_dataset)
    columns = {c: frame[c].array for c in KEY_COLUMNS}
    columns.update({c: frame[c].to_numpy(dtype=np.float64) for c in FEATURE_COLUMNS})
    pd.testing.assert_frame_equal(frame, frame_of_columns(columns, len(frame)), check_exact=True)
    block = _float_block(frame, tuple(FEATURE_COLUMNS))
    assert block is not None
    np.testing.assert_array_equal(block, frame[list(FEATURE_COLUMNS)].to_numpy())


# --- account graphs that are deal graphs, in a batch ----------------------------------------------------------


def test_deals_flagged_as_having_their_own_graph_have_exactly_their_own_events(
    small_dataset: Dataset,
) -> None:
    p = _prepare.prepare(small_dataset, None)
    inst = _graph._account_as_of_deal(p)
    same = _graph._deals_with_own_graph(p, inst)
    assert same.any() and not same.all()
    own = _graph._own_deal(p)
    for kind in ("part", "rec", "msg"):
        (event, target), (own_event, own_target) = getattr(inst, kind), getattr(own, kind)
        for d in range(p.n_deals):
            mine = event[target == d].tolist()
            equal = mine == own_event[own_target == d].tolist()
            assert equal or not same[d], (kind, d)
    # and a deal not flagged differs in at least one kind
    for d in np.flatnonzero(~same)[:20]:
        assert any(
            getattr(inst, k)[0][getattr(inst, k)[1] == d].tolist()
            != getattr(own, k)[0][getattr(own, k)[1] == d].tolist()
            for k in ("part", "rec", "msg")
        )


@pytest.mark.parametrize("threads", [False, True])
def test_account_graphs_copied_from_deal_graphs_equal_computing_them_all(
    small_dataset: Dataset, monkeypatch: pytest.MonkeyPatch, threads: bool
) -> None:
    import influence.features as features

    monkeypatch.setattr(_tabular, "HASH_EVENTS_MIN", 0)  # participation keys hashed, as in a batch chunk
    if threads:
        monkeypatch.setattr(features, "PARALLEL_MIN_EVENTS", 0)
    plans: list[Any] = []
    reuse = _graph._account_reuse
    monkeypatch.setattr(_graph, "_account_reuse", lambda p, inst: plans.append(reuse(p, inst)) or plans[-1])
    cut = small_dataset.deals["created_at"].sort_values().iloc[len(small_dataset.deals) // 2]
    fast = [
        build_features(small_dataset, n_jobs=2 if threads else 1),
        build_features(small_dataset, as_of=cut),
    ]
    assert plans and all(plan is not None and 0 < plan.copied.sum() < len(plan.copied) for plan in plans)
    monkeypatch.setattr(_graph, "_account_reuse", lambda p, inst: None)
    slow = [
        build_features(small_dataset, n_jobs=2 if threads else 1),
        build_features(small_dataset, as_of=cut),
    ]
    for a, b in zip(fast, slow, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
