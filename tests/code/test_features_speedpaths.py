"""The tabular feature speed paths (threaded preparation, hashed participation keys, shared median ranking,
argsort ranks, per-deal thread codes, reply authors by position, group sums without masking, distinct counts by
bitmap, history without the events that count for nobody) each apply only under a condition. Every one must give
exactly what its general path gives, on generated deals and on inline edge cases built to take each branch."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from influence.contract import Dataset
from influence.features import _ops, _prepare, _tabular, build_features


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, pa.Array | pa.ChunkedArray):
        return a.equals(b)
    if isinstance(a, np.ndarray):
        nan = a.dtype.kind == "f"
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=nan)
    return bool(a == b)


def _prepared_fields(p: _prepare.Prepared) -> dict[str, Any]:
    return {f: getattr(p, f) for f in p.__dataclass_fields__ if f != "participation"}


def _as_of(ds: Dataset) -> pd.Timestamp:
    return ds.deals["created_at"].sort_values().iloc[len(ds.deals) // 2]


# --- preparation in a second thread ---------------------------------------------------------------------------


@pytest.mark.parametrize("as_of", [False, True])
def test_threaded_preparation_equals_the_sequential_one(
    small_dataset: Dataset, monkeypatch: pytest.MonkeyPatch, as_of: bool
) -> None:
    cut = _as_of(small_dataset) if as_of else None
    monkeypatch.setattr(_prepare, "PARALLEL_MIN_ROWS", 0)  # the small dataset takes the threaded path too
    threaded = _prepare.prepare(small_dataset, cut, n_jobs=2)
    sequential = _prepare.prepare(small_dataset, cut, n_jobs=1)
    assert len(sequential.rec_msg) > 1000 and (sequential.msg_parent >= 0).any()
    a, b = _prepared_fields(threaded), _prepared_fields(sequential)
    assert [f for f in a if not _same(a[f], b[f])] == []


def _with(ds: Dataset, table: str, frame: pd.DataFrame) -> Dataset:
    frames = {name: getattr(ds, name) for name in ds.row_counts()}
    frames[table] = frame
    return Dataset(frames)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_errors_keep_their_order_with_a_background_thread(
    small_dataset: Dataset, monkeypatch: pytest.MonkeyPatch, n_jobs: int
) -> None:
    """The background steps fail on an unknown recipient message id; an error met earlier in sequence (an
    unknown attendee) is still the one raised, and alone the recipient's error names its table, row and field."""
    monkeypatch.setattr(_prepare, "PARALLEL_MIN_ROWS", 0)
    rec = small_dataset.email_recipients.copy()
    rec.loc[rec.index[5], "message_id"] = "<nowhere@example.com>"
    bad_rec = _with(small_dataset, "email_recipients", rec)
    with pytest.raises(ValueError, match=r"email_recipients: row 5: message_id '<nowhere@example.com>'"):
        _prepare.prepare(bad_rec, None, n_jobs=n_jobs)
    att = small_dataset.meeting_attendees.copy()
    att.loc[att.index[3], "person_id"] = "P-nobody"
    both = _with(bad_rec, "meeting_attendees", att)
    with pytest.raises(ValueError, match=r"meeting_attendees: row 3: person_id 'P-nobody'"):
        _prepare.prepare(both, None, n_jobs=n_jobs)


def test_one_deal_requests_never_start_a_thread(
    small_dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_threads(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a small input started a thread")

    monkeypatch.setattr(_prepare, "ThreadPoolExecutor", no_threads)
    deal = str(small_dataset.deals["deal_id"].iloc[0])
    from influence.bench.bench_features import one_deal_dataset

    assert len(build_features(one_deal_dataset(small_dataset, deal))) > 0


# --- hashed participation keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("as_of", [False, True])
def test_hashed_participation_keys_give_the_sorted_paths_rows(
    small_dataset: Dataset, monkeypatch: pytest.MonkeyPatch, as_of: bool
) -> None:
    p = _prepare.prepare(small_dataset, _as_of(small_dataset) if as_of else None)
    extra = np.array([0, p.n_people - 1], np.int64)  # rows added through pairs: deal 0
    monkeypatch.setattr(_tabular, "HASH_EVENTS_MIN", 10**12)
    p.participation = None
    plain_keys = _tabular.participation_keys(p)
    assert p.participation is None
    plain = _tabular.make_rows(p, plain_keys, extra)
    monkeypatch.setattr(_tabular, "HASH_EVENTS_MIN", 0)
    hashed_keys = _tabular.participation_keys(p)
    assert p.participation is not None and p.participation[0] is hashed_keys
    hashed = _tabular.make_rows(p, hashed_keys, extra)
    # keys computed elsewhere (a copy) are not the cached ones: the rows' own lookups, the same answer
    copied = _tabular.make_rows(p, hashed_keys.copy(), extra)
    assert _same(hashed_keys, plain_keys) and (np.diff(plain_keys) > 0).all()
    for rows in (hashed, copied):
        assert [f for f in plain.__dataclass_fields__ if not _same(getattr(plain, f), getattr(rows, f))] == []
    assert (plain.of_recipient >= 0).any() and (plain.of_recipient < 0).any()  # buyers and sellers


# --- ranks, medians, thread starts ---------------------------------------------------------------------------


def _float_cases() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    special = np.array([0.0, -0.0, 1.5, np.nan, -3.0, 2.0, np.inf, -np.inf])
    return [
        rng.normal(size=5000).round(1),  # many ties
        rng.exponential(3.0, 6000),  # all distinct
        rng.choice(special, 5000),  # NaN and both zeros: the searchsorted path
        np.where(rng.random(5000) < 0.01, np.nan, rng.normal(size=5000).round(2)),
        rng.normal(size=10).round(1),  # short: the searchsorted path
        np.zeros(0),
    ]


@pytest.mark.parametrize("case", range(6))
def test_argsort_ranks_equal_the_searchsorted_ranks(monkeypatch: pytest.MonkeyPatch, case: int) -> None:
    values = _float_cases()[case]
    fast = _ops.dense_rank(values)
    monkeypatch.setattr(_ops, "ARGSORT_RANK_MIN", 10**12)
    plain = _ops.dense_rank(values)
    distinct = _ops.unique(values)
    assert _same(plain[1], distinct) and _same(plain[0], np.searchsorted(distinct, values))
    assert _same(fast[0], plain[0]) and _same(fast[1], plain[1])
    assert np.array_equal(np.signbit(fast[1]), np.signbit(plain[1]))


def _median_reference(idx: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    for g in range(n):
        v = values[(idx == g) & ~np.isnan(values)]
        if len(v):
            out[g] = float(np.median(v))
    return out


@pytest.mark.parametrize("zeros", ["positive", "signed"])
def test_shared_ranking_medians_equal_one_median_at_a_time(zeros: str) -> None:
    rng = np.random.default_rng(9)
    values = rng.exponential(5.0, 20_000).round(1)
    values[rng.random(len(values)) < 0.05] = np.nan
    values[rng.random(len(values)) < 0.05] = 0.0
    if zeros == "signed":  # -0.0 present: each grouping is ranked on its own
        values[rng.random(len(values)) < 0.02] = -0.0
    groupings = [
        (rng.integers(-1, 300, len(values)), 300),
        (rng.integers(-1, 7, len(values)), 9),  # groups 7, 8 empty
        (np.full(len(values), -1), 4),  # nothing kept at all
    ]
    shared = _ops.group_medians(groupings, values)
    for (idx, n), got in zip(groupings, shared, strict=True):
        assert _same(got, _ops.group_median(idx, values, n))
    small = [(idx[:400] % 11, 11) for idx, _ in groupings[:2]]
    for (idx, n), got in zip(small, _ops.group_medians(small, values[:400]), strict=True):
        np.testing.assert_allclose(got, _median_reference(idx, values[:400], n), rtol=0, atol=1e-12)


@pytest.mark.parametrize("order", ["runs", "shuffled", "split_run"])
def test_thread_start_by_runs_equals_the_scattered_minimum(order: str) -> None:
    rng = np.random.default_rng(4)
    threads = np.repeat(np.arange(400), rng.integers(1, 6, 400))
    if order == "shuffled":
        threads = rng.permutation(threads)
    elif order == "split_run":  # one thread's messages in two places: the runs path must not be taken
        threads = np.concatenate([threads, threads[:3]])
    times = rng.integers(0, 10**15, len(threads))
    expected = np.full(410, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(expected, threads, times)
    assert _same(_tabular._group_min_time(threads, times, 410), expected)


# --- e-mail family: thread codes, reply authors -----------------------------------------------------------------


@pytest.mark.parametrize("shared", [False, True])
def test_thread_codes_tell_the_same_threads_apart_as_deal_thread_pairs(shared: bool) -> None:
    rng = np.random.default_rng(8)
    msg_deal = np.sort(rng.integers(0, 40, 3000))
    msg_thread = msg_deal * 10 + rng.integers(0, 10, 3000)  # thread ids within their deal...
    if shared:  # ...except one thread id used in two deals: two threads
        msg_thread[msg_deal == 3] = 999
        msg_thread[msg_deal == 4] = 999
    p = SimpleNamespace(msg_deal=msg_deal, msg_thread=msg_thread, n_deals=42)
    key, n_threads, per_deal = _tabular._deal_threads(p)  # type: ignore[arg-type]
    pairs = msg_deal * 1000 + msg_thread
    assert key.max() < n_threads
    # the same partition of messages as (deal, thread id) pairs
    assert len(set(zip(key.tolist(), pairs.tolist(), strict=True))) == len(set(pairs.tolist()))
    assert len(set(key.tolist())) == len(set(pairs.tolist()))
    expected = np.bincount(np.unique(pairs) // 1000, minlength=42).astype(np.float64)
    assert _same(per_deal, expected)


def test_reply_authors_match_the_lookup_also_across_deals(small_dataset: Dataset) -> None:
    """A reply whose parent was captured in another deal resolves its author in the reply's own deal."""
    emails = small_dataset.emails.copy()
    replies = emails.index[emails["in_reply_to"].notna()]
    moved = 0
    for i in replies[:: max(1, len(replies) // 12)]:
        other = emails.loc[emails["deal_id"] != emails.at[i, "deal_id"], "message_id"]
        emails.at[i, "in_reply_to"] = other.iloc[moved * 7 % len(other)]
        moved += 1
    ds = _with(small_dataset, "emails", emails)
    p = _prepare.prepare(ds, None)
    rows = _tabular.make_rows(p, _tabular.participation_keys(p), np.zeros(0, np.int64))
    child = np.flatnonzero(p.msg_parent >= 0)
    par = p.msg_parent[child]
    assert (p.msg_deal[par] != p.msg_deal[child]).sum() >= moved > 0
    assert (p.msg_deal[par] == p.msg_deal[child]).any()
    expected = rows.of(p.msg_deal[child], p.msg_sender[par])
    assert _same(_tabular._author_rows(p, rows, child, par), expected)


# --- recipients' message ids and reply parents in one dictionary encoding -------------------------------------


def _plain_links(
    ids: list[str], replies: list[str | None], rec: list[str | None]
) -> tuple[list[int], list[int]]:
    first: dict[str, int] = {}
    for i, m in enumerate(ids):
        first.setdefault(m, i)
    return [first.get(v, -1) if v is not None else -1 for v in rec], [
        first.get(r, -1) if r is not None else -1 for r in replies
    ]


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize(
    "case", ["in_order", "unknown_recipient", "shuffled", "duplicate_id", "no_stray_reply"]
)
def test_links_in_one_encoding_equal_the_separate_lookups(
    monkeypatch: pytest.MonkeyPatch, chunked: bool, case: str
) -> None:
    monkeypatch.setattr(_prepare, "SMALL_ROWS", 0)
    monkeypatch.setattr(_prepare, "RUN_SHARE", 0.0)  # never collapse runs (the recipients' usual shape)
    monkeypatch.setattr(_prepare, "ORDER_PROBE_ROWS", 64)  # the order probe reads less than the whole column
    rng = np.random.default_rng(12)
    n = 400
    ids = [f"<{i:04d}.{rng.integers(1_000_000)}@mail.example.com>" for i in range(n)]
    if case == "duplicate_id":
        ids[300] = ids[100]
    replies: list[str | None] = [None]
    for i in range(1, n):  # mostly right after the parent; some far, some to uncaptured messages, some none
        u = rng.random()
        replies.append(
            (
                ids[i - 1]
                if u < 0.8
                else ids[int(rng.integers(n))]
                if u < 0.88
                else "<gone@x>"
                if u < 0.95
                else None
            )
            if case != "no_stray_reply"
            else (ids[i - 1] if u < 0.9 else None)
        )
    # recipients: every e-mail's first recipient in e-mail order, then cc lists (later repeats)
    rec: list[str | None] = [*ids, *(ids[int(j)] for j in rng.integers(0, n, 300))]
    if case == "unknown_recipient":
        rec[450] = "<nowhere@example.com>"
    elif case == "shuffled":
        rec = [rec[int(j)] for j in rng.permutation(len(rec))]

    def column(values: list[str | None]) -> pd.Series:
        return pd.Series(pd.array(values, dtype="str"))

    if chunked:  # chunked Arrow columns, as read from parquet
        whole = _prepare._column

        def in_chunks(values: Any) -> pa.ChunkedArray:
            arr = whole(values)
            return pa.chunked_array([arr.slice(0, 150), arr.slice(150)])

        monkeypatch.setattr(_prepare, "_column", in_chunks)
    taken: list[bool] = []
    plain_in_order = _prepare._codes_in_order

    def spy(values: Any, index: Any, extra: Any = None) -> Any:
        out = plain_in_order(values, index, extra)
        taken.append(extra is not None and out is not None)
        return out

    monkeypatch.setattr(_prepare, "_codes_in_order", spy)
    args = (column(ids), column(replies), column(rec))
    if case == "unknown_recipient":
        with pytest.raises(
            ValueError, match=r"email_recipients: row 450: message_id '<nowhere@example.com>'"
        ):
            _prepare._email_links(*args)
        assert taken == [True]
        return
    rec_codes, parents = _prepare._email_links(*args)
    # the one-pass path only where the recipients list the e-mails in order and some reply is elsewhere
    assert any(taken) == (case == "in_order")
    # the general path: each column looked up on its own
    message_ids = _prepare._column(args[0])
    general_rec = _prepare._lookup(
        message_ids, args[2], "email_recipients", "message_id", "message_id", False
    )
    general_parents = _prepare._parents(message_ids, _prepare._column(args[1]))
    assert rec_codes.tolist() == general_rec.tolist() and parents.tolist() == general_parents.tolist()
    if case != "duplicate_id":  # (a reply right after a copy of a duplicated id resolves to that copy)
        assert (rec_codes.tolist(), parents.tolist()) == _plain_links(ids, replies, rec)


# --- group sums without masking, integer ranks by argsort ---------------------------------------------------------


@pytest.mark.parametrize("weights", ["none", "bool", "float", "float_nan"])
@pytest.mark.parametrize("lowest", [0, -1, -3])
def test_group_sums_equal_the_masked_sums(weights: str, lowest: int) -> None:
    """Codes -1 (shifted into a dropped bin) and below -1 (masked) are ignored; a boolean weight counts its Trues."""
    rng = np.random.default_rng(21)
    idx = rng.integers(lowest, 50, 20_000)
    w: np.ndarray | None = {
        "none": None,
        "bool": rng.random(len(idx)) < 0.3,
        "float": rng.normal(size=len(idx)),
        "float_nan": np.where(idx < 0, np.nan, rng.normal(size=len(idx))),  # NaN only on ignored codes
    }[weights]
    expected = np.zeros(53)  # group 52 and, with no code at 50..52, groups 50, 51 are empty
    keep = idx >= 0
    np.add.at(expected, idx[keep], 1.0 if w is None else np.asarray(w, np.float64)[keep])
    got = _ops.group_sum(idx, 53, w)
    assert got.dtype == np.float64 and got.shape == (53,)
    if weights.startswith("float"):  # np.add.at sums in another order: equal to rounding
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-9)
        masked = np.bincount(idx[keep], weights=np.asarray(w, np.float64)[keep], minlength=53)
        assert _same(got, masked)  # the same additions in the same order as the masked bincount: exact
    else:
        assert _same(got, expected)
    assert _same(_ops.group_sum(idx[:0], 4, None if w is None else w[:0]), np.zeros(4))


@pytest.mark.parametrize("n", [10, 5000, 60_000])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint32])
def test_integer_ranks_by_argsort_equal_the_searchsorted_ranks(n: int, dtype: type) -> None:
    rng = np.random.default_rng(n)
    values = rng.integers(0, max(n // 3, 2), n).astype(dtype)  # many ties
    if dtype == np.int64:
        values[::7] = -(10**15) + values[::7]  # negatives and a wide range
    rank, distinct = _ops.dense_rank(values)
    expected = np.unique(values)
    assert _same(distinct, expected) and _same(rank, np.searchsorted(expected, values).astype(np.int64))


# --- e-mail fan-in, fan-out and threads by bitmap ---------------------------------------------------------------


def _email_family(ds: Dataset, as_of: pd.Timestamp | None, hashed: bool) -> tuple[dict, _prepare.Prepared]:
    p = _prepare.prepare(ds, as_of)
    if not hashed:
        p.participation = None
    rows = _tabular.make_rows(p, _tabular.participation_keys(p), np.zeros(0, np.int64))
    return _tabular.email(p, rows), p


@pytest.mark.parametrize("as_of", [False, True])
@pytest.mark.parametrize("order", ["as_generated", "shuffled_emails"])
def test_bitmap_distinct_counts_equal_the_sorted_ones(
    small_dataset: Dataset, monkeypatch: pytest.MonkeyPatch, as_of: bool, order: str
) -> None:
    """Fans and threads per row by bitmap (hashed participation keys, each deal's threads one code range) equal the
    sorted distinct counts; shuffled e-mails (thread codes interleaved across deals) take the sort for threads."""
    ds = small_dataset
    if order == "shuffled_emails":
        ds = _with(ds, "emails", ds.emails.sample(frac=1.0, random_state=3).reset_index(drop=True))
    cut = _as_of(ds) if as_of else None
    monkeypatch.setattr(_tabular, "HASH_EVENTS_MIN", 0)
    calls: list[bool] = []
    bitmap = _tabular._bitmap_distinct

    def spy(*args: Any) -> Any:
        out = bitmap(*args)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(_tabular, "_bitmap_distinct", spy)
    fast, p = _email_family(ds, cut, hashed=True)
    # fans always by bitmap here; threads by bitmap unless the shuffle split a deal's thread codes
    assert calls == ([True, True, True] if order == "as_generated" else [True, True])
    calls.clear()
    monkeypatch.setattr(_tabular, "BITMAP_SLOTS_PER_EVENT", 0)  # every bitmap "too large": the sorted counts
    monkeypatch.setattr(_tabular, "BITMAP_MIN_SLOTS", 0)
    sorted_counts, _ = _email_family(ds, cut, hashed=True)
    assert calls and not any(calls)
    unhashed, _ = _email_family(ds, cut, hashed=False)  # no participation codes: the sorted fans
    for name in ("em_fan_out", "em_fan_in", "em_threads_share"):
        assert _same(fast[name], sorted_counts[name]) and _same(fast[name], unhashed[name]), name
    assert (fast["em_fan_out"] > 1).any() and (fast["em_fan_in"] > 1).any()
    assert ((fast["em_threads_share"] > 0) & (fast["em_threads_share"] < 1)).any()


def test_bitmap_counts_rows_of_deals_without_values() -> None:
    """Rows whose deal has no value (width 0: rows added through pairs) count 0, and row -1 events are ignored."""
    rows = SimpleNamespace(n=5, deal=np.array([0, 0, 1, 2, 2]))
    width = np.array([3, 0, 2])
    events = [
        (np.array([0, 0, 1, -1, 4, 4, 3, -1]), np.array([2, 2, 0, 2, 1, 0, 1, 0])),
        (np.array([1, 1]), np.array([0, 1])),
    ]
    got = _tabular._bitmap_distinct(rows, width, events)  # type: ignore[arg-type]
    assert _same(got, np.array([1.0, 2.0, 0.0, 1.0, 2.0]))


# --- history: events that count for nobody are dropped first ------------------------------------------------------


@pytest.mark.parametrize("as_of", [False, True])
def test_history_counts_equal_counting_every_event(small_dataset: Dataset, as_of: bool) -> None:
    """hist_* from the filtered events equal count_before over every event of every output row (event time
    max(t, creation of its deal), strictly before the row's deal creation, same account and person)."""
    p = _prepare.prepare(small_dataset, _as_of(small_dataset) if as_of else None)
    rows = _tabular.make_rows(p, _tabular.participation_keys(p), np.zeros(0, np.int64))
    first = _tabular.first_seen(p, rows)
    got = _tabular.history(p, rows, first)
    group = p.deal_account[rows.deal].astype(np.int64) * rows.n_people + rows.person
    created = p.deal_created[rows.deal]

    def every(row: np.ndarray, times: np.ndarray) -> np.ndarray:
        keep = row >= 0
        ev_time = np.maximum(times[keep], created[row[keep]])
        return _ops.count_before(group[row[keep]], ev_time, group, created)

    seen = np.flatnonzero(rows.active & (first != _prepare.NO_TIME))
    expected = {
        "hist_meetings": every(rows.of_part, p.mtg_time[p.part_mtg]),
        "hist_emails": every(rows.of_sender, p.msg_time) + every(rows.of_recipient, p.msg_time[p.rec_msg]),
        "hist_deals": every(seen, first[seen]),
    }
    for name, values in expected.items():
        assert _same(got[name], values), name
    assert (
        (got["hist_emails"] > 0).any() and (got["hist_deals"] > 0).any() and (got["hist_meetings"] > 0).any()
    )


def test_first_and_last_seen_ignore_seller_events(small_dataset: Dataset) -> None:
    p = _prepare.prepare(small_dataset, None)
    rows = _tabular.make_rows(p, _tabular.participation_keys(p), np.zeros(0, np.int64))
    lo = np.full(rows.n, np.iinfo(np.int64).max)
    hi = np.full(rows.n, _prepare.NO_TIME)
    for r, t in (
        (rows.of_part, p.mtg_time[p.part_mtg]),
        (rows.of_sender, p.msg_time),
        (rows.of_recipient, p.msg_time[p.rec_msg]),
    ):
        assert (r < 0).any()  # sellers' events are there to be ignored
        np.minimum.at(lo, r[r >= 0], t[r >= 0])
        np.maximum.at(hi, r[r >= 0], t[r >= 0])
    assert _same(_tabular._event_time_extreme(p, rows, np.minimum, np.iinfo(np.int64).max), lo)
    assert _same(_tabular._event_time_extreme(p, rows, np.maximum, _prepare.NO_TIME), hi)


# --- normalising distinct values only; functions and domains compared once per distinct value -----------------


def test_normalised_codes_equal_normalising_every_row() -> None:
    values = pd.Series(
        pd.array(
            ["Web", " web ", "EMAIL_open", None, "email_open", "Pricing", "WEB", None, "pricing "], "str"
        )
    )
    got = _prepare._normalised_codes(values)
    expected, dictionary = _prepare._dictionary_of(
        pc.utf8_lower(pc.utf8_trim_whitespace(_prepare._column(values)))
    )
    assert _same(got, expected) and got.tolist() == [0, 0, 1, -1, 1, 2, 0, -1, 2]
    assert dictionary.to_pylist() == ["web", "email_open", "pricing"]


@pytest.mark.parametrize("domain_pairs_min", [0, 10**9])  # distinct domain pairs compared once / every pair
def test_title_functions_and_external_flags_equal_the_row_by_row_comparisons(
    small_dataset: Dataset, monkeypatch: pytest.MonkeyPatch, domain_pairs_min: int
) -> None:
    monkeypatch.setattr(_tabular, "DOMAIN_PAIRS_MIN", domain_pairs_min)
    p = _prepare.prepare(small_dataset, None)
    rows = _tabular.make_rows(p, _tabular.participation_keys(p), np.zeros(0, np.int64))
    title = _tabular.title(p, rows)
    function = p.title["function"][rows.person]
    for f in ("it", "finance", "other"):
        assert _same(title[f"title_fn_{f}"], (function == f).astype(np.float64))
    assert title["title_fn_it"].any() and title["title_fn_finance"].any()
    mine = p.person_email_domain[rows.person]
    theirs = p.account_domain[p.deal_account[rows.deal]]
    expected = np.array(
        [
            np.nan if a is None or b is None else float(not (a == b or a.endswith("." + b)))
            for a, b in zip(mine, theirs, strict=True)
        ]
    )
    expected[p.person_side[rows.person] == _prepare.PARTNER] = 1.0
    got = _tabular.external(p, rows)["ext_external"]
    assert _same(got, expected) and (got == 0).any() and (got == 1).any()
