"""Feature preparation has fast paths: one-call lookups for small inputs (a scoring request), collapsed runs and
replies resolved by position for large ones, pandas internals for column access. Each must give exactly the
features of the general path, on generated deals and on inline edge cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from influence.bench.bench_features import one_deal_dataset
from influence.contract import Dataset
from influence.features import _prepare, build_features


def _general_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the large-input steps (runs, positional replies) on every column, however short."""
    monkeypatch.setattr(_prepare, "SMALL_ROWS", 0)
    monkeypatch.setattr(_prepare, "RUN_SHARE", 1.01)


def _deal_ids(ds: Dataset, k: int) -> list[str]:
    """k deals spread over the range of e-mail volumes (small, median and large deals)."""
    counts = ds.emails["deal_id"].value_counts().sort_values()
    return [str(counts.index[i]) for i in np.linspace(0, len(counts) - 1, k).round().astype(int)]


def test_one_deal_requests_equal_the_general_path(
    small_dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests = [one_deal_dataset(small_dataset, deal) for deal in _deal_ids(small_dataset, 6)]
    fast = [build_features(r) for r in requests]
    assert all(len(f) > 0 for f in fast)
    _general_paths(monkeypatch)
    monkeypatch.setattr(_prepare._Columns, "use_internals", False)
    for request, expected in zip(requests, fast, strict=True):
        pd.testing.assert_frame_equal(build_features(request), expected, check_exact=True)


def test_whole_dataset_equals_the_plain_hash_lookups(
    small_dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_of = small_dataset.deals["created_at"].sort_values().iloc[len(small_dataset.deals) // 2]
    default = build_features(small_dataset, as_of=as_of)
    monkeypatch.setattr(_prepare, "RUN_SHARE", 0.0)  # never collapse runs: hash every value
    pd.testing.assert_frame_equal(build_features(small_dataset, as_of=as_of), default, check_exact=True)
    _general_paths(monkeypatch)
    pd.testing.assert_frame_equal(build_features(small_dataset, as_of=as_of), default, check_exact=True)


def _plain_parents(message_ids: list[str | None], in_reply_to: list[str | None]) -> list[int]:
    first: dict[str | None, int] = {}
    for i, m in enumerate(message_ids):
        first.setdefault(m, i)
    return [first.get(r, -1) if r is not None else -1 for r in in_reply_to]


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("follow_share", [0.2, 0.9])  # rows in another order / export order (both branches)
def test_reply_resolution_matches_a_plain_lookup(
    monkeypatch: pytest.MonkeyPatch, chunked: bool, follow_share: float
) -> None:
    """Replies right after their parent, far from it, before it, to uncaptured messages and none at all."""
    monkeypatch.setattr(_prepare, "SMALL_ROWS", 0)
    rng = np.random.default_rng(7)
    n = 300
    ids = [f"<{i:04d}.{rng.integers(1_000_000)}@mail.example.com>" for i in range(n)]
    replies: list[str | None] = [None]
    for i in range(1, n):
        kind = 0 if rng.random() < follow_share else rng.integers(1, 4)
        replies.append(
            ids[i - 1]
            if kind == 0
            else ids[int(rng.integers(n))]
            if kind == 1
            else "<gone@x>"
            if kind == 2
            else None
        )
    expected = _plain_parents(ids, replies)

    def arrow(values: list[str | None]) -> pa.Array | pa.ChunkedArray:
        arr = pa.array(values, pa.large_string())
        return pa.chunked_array([arr.slice(0, 101), arr.slice(101, 7), arr.slice(108)]) if chunked else arr

    assert _prepare._parents(arrow(ids), arrow(replies)).tolist() == expected
    # the same through one Arrow lookup (what the original single-step code did)
    assert _prepare._int_codes(pc.index_in(pa.array(replies), value_set=pa.array(ids))).tolist() == expected


def test_runs_and_combined_lookups_match_per_value_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_prepare, "SMALL_ROWS", 0)
    index = pa.array(["a", "b", "c", "d"], pa.large_string())
    grouped = pa.array(["b", "b", "b", "a", None, None, "x", "x", "d", "d", "c"], pa.large_string())
    scattered = pa.array(["d", "a", "c", "x", "b", None], pa.large_string())
    exactly_index = pa.array(["a", "a", "b", "c", "c", "c", "d"], pa.large_string())

    def plain(arr: pa.Array) -> list[int]:
        return [index.to_pylist().index(v) if v in index.to_pylist() else -1 for v in arr.to_pylist()]

    for arr in (grouped, scattered, exactly_index):
        assert _prepare._codes(arr, index).tolist() == plain(arr)
    combined = _prepare._codes_many([grouped, pa.chunked_array([scattered]), exactly_index], index)
    assert [c.tolist() for c in combined] == [plain(grouped), plain(scattered), plain(exactly_index)]
    codes, names = _prepare._dictionary_of(grouped)
    assert names.to_pylist() == ["b", "a", "x", "d", "c"]
    assert codes.tolist() == [0, 0, 0, 1, -1, -1, 2, 2, 3, 3, 4]


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize(
    "order", ["first_seen_in_index_order", "one_parent_unused", "first_two_swapped", "unknown_value", "nulls"]
)
def test_first_appearance_lookup_matches_per_value_lookups(
    monkeypatch: pytest.MonkeyPatch, chunked: bool, order: str
) -> None:
    """Children listed in parent order with later repeats (recipients: cc lists after the to lists) take the
    dictionary-encoding path; any other order falls back, and both give the plain lookup's codes."""
    monkeypatch.setattr(_prepare, "SMALL_ROWS", 0)
    monkeypatch.setattr(_prepare, "RUN_SHARE", 0.0)  # never collapse runs: reach the per-value lookup
    rng = np.random.default_rng(3)
    ids = [f"<{i:04d}.{rng.integers(1_000_000)}@mail.example.com>" for i in range(200)]
    rows: list[int] = []
    for i in range(len(ids)):
        rows.append(i)
        rows.extend(int(j) for j in rng.integers(0, i + 1, int(rng.integers(0, 3))))
    values: list[str | None] = [ids[i] for i in rows]
    if order == "one_parent_unused":
        values = [v for v in values if v != ids[77]]
    elif order == "first_two_swapped":
        values = [ids[1], ids[0], *values[2:]] if rows[1] == 1 else [ids[1], *values]
    elif order == "unknown_value":
        values.insert(50, "<gone@x>")
    elif order == "nulls":  # in place of repeats: the first appearances keep index order
        repeats = [k for k in range(1, len(rows)) if rows[k] in rows[:k]]
        for k in repeats[:: max(1, len(repeats) // 5)]:
            values[k] = None
    index = pa.chunked_array([pa.array(ids[:64], pa.large_string()), pa.array(ids[64:], pa.large_string())])
    arr = pa.array(values, pa.large_string())
    column = pa.chunked_array([arr.slice(0, 90), arr.slice(90, 5), arr.slice(95)]) if chunked else arr
    first = {v: i for i, v in reversed(list(enumerate(ids)))}
    expected = [first.get(v, -1) if v is not None else -1 for v in values]
    assert _prepare._codes(column, index).tolist() == expected
    fast = _prepare._codes_in_order(column, index)
    assert (fast is not None) == (order in ("first_seen_in_index_order", "nulls"))
    if fast is not None:
        assert fast.tolist() == expected


def test_unknown_account_of_a_deal_names_the_file_row() -> None:
    """Only deals that existed at as_of need a known account, and the error names the deal's row in the file
    (deals listed out of id order)."""
    accounts = pd.DataFrame({"account_id": ["A1"], "name": ["Acme"], "domain": ["acme.com"]})
    people = pd.DataFrame(
        {
            "person_id": ["b1", "s1"],
            "account_id": ["A1", None],
            "email": ["b1@acme.com", "s1@vendor.com"],
            "title": ["CEO", "Account Executive"],
            "department": [None, None],
            "side": ["buyer", "seller"],
        }
    )
    created = pd.to_datetime(["2024-06-01", "2024-01-01", "2024-02-01"], utc=True)
    deals = pd.DataFrame(
        {"deal_id": ["D3", "D1", "D2"], "account_id": ["A9", "A1", "A8"], "created_at": created}
    )
    emails = pd.DataFrame(
        {
            "message_id": ["m1"],
            "deal_id": ["D1"],
            "thread_id": ["t1"],
            "sent_at": pd.to_datetime(["2024-01-02"], utc=True),
            "sender_id": ["s1"],
            "in_reply_to": [None],
        }
    )
    recipients = pd.DataFrame({"message_id": ["m1"], "person_id": ["b1"], "kind": ["to"]})
    ds = Dataset.from_frames(
        {
            "accounts": accounts,
            "people": people,
            "deals": deals,
            "emails": emails,
            "email_recipients": recipients,
        }
    )
    # D3 (unknown account A9) is created after as_of: not an error
    with pytest.raises(ValueError, match=r"deals: row 2: account_id 'A8' is not a known account_id"):
        build_features(ds, as_of="2024-03-01T00:00:00Z")
    out = build_features(ds, as_of="2024-01-15T00:00:00Z")
    assert out[["deal_id", "person_id"]].values.tolist() == [["D1", "b1"]]


def test_group_max_on_sorted_ids_equals_the_scattered_maximum() -> None:
    from influence.features._ops import group_max

    rng = np.random.default_rng(7)
    for _ in range(200):
        n, k = int(rng.integers(0, 40)), int(rng.integers(1, 8))
        values = rng.normal(size=n)
        values[rng.random(n) < 0.1] = np.nan
        empty = float(rng.choice([0.0, -np.inf, 1.0]))
        for idx in (np.sort(rng.integers(0, k, n)), rng.integers(-1, k, n)):  # the sorted route and the other
            expected = np.full(k, empty)
            keep = idx >= 0
            with np.errstate(invalid="ignore"):
                np.maximum.at(expected, idx[keep], values[keep])
                got = group_max(idx, values, k, empty)
            np.testing.assert_array_equal(got, expected)
