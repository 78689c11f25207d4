"""The integer-code paths batch chunks take (engagement per row, rank and sort of the people, the people lookup)
give exactly what the plain Python paths give: same counts, same order, same frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from influence.contract import Dataset


@pytest.fixture(scope="module")
def generated() -> Dataset:
    from influence.generate import generate

    return generate(6, 29)


def _dict_lookup(ds: Dataset, deal_ids: np.ndarray, person_ids: np.ndarray, as_of=None):  # noqa: ANN001, ANN202
    from influence.coverage import _engagement_counts_loop

    counts = _engagement_counts_loop(ds, as_of)
    found = [counts.get((str(d), str(q)), (0, 0)) for d, q in zip(deal_ids, person_ids, strict=True)]
    return np.array([m for m, _ in found], dtype=np.int64), np.array([e for _, e in found], dtype=np.int64)


def _rows(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Every (deal, person) pair with an event, plus a few that match nothing (an unknown person, a None)."""
    pairs = pd.concat(
        [
            ds.emails[["deal_id", "sender_id"]].set_axis(["deal_id", "person_id"], axis=1),
            ds.meetings[["deal_id", "organizer_id"]].set_axis(["deal_id", "person_id"], axis=1),
        ]
    ).drop_duplicates()
    deal = np.array(
        [*pairs["deal_id"].astype(object), "D-none", None, pairs["deal_id"].iloc[0]], dtype=object
    )
    person = np.array([*pairs["person_id"].astype(object), "P-1", "P-1", None], dtype=object)
    person[pd.isna(person)] = None
    return deal, person


@pytest.mark.parametrize("change", ["as_generated", "recipients_shuffled", "one_message_without_recipients"])
def test_engagement_per_row_equals_the_dict_lookup(generated: Dataset, change: str) -> None:
    """Recipients listed in message order take the one-sided encoding; any other order (or a message nobody
    received) takes the two-sided one: the same counts either way, with and without a cut-off."""
    from influence.coverage import _in_order_codes, _text, engagement_count_columns

    rec = generated.email_recipients
    if change == "recipients_shuffled":
        rec = rec.sample(frac=1.0, random_state=3).reset_index(drop=True)
    elif change == "one_message_without_recipients":
        last = generated.emails["message_id"].iloc[-1]
        rec = rec[rec["message_id"] != last].reset_index(drop=True)
    ds = Dataset({**generated.tables, "email_recipients": rec})
    in_order = _in_order_codes(_text(ds.emails["message_id"]), _text(rec["message_id"]))
    assert (in_order is not None) == (change == "as_generated")
    deal, person = _rows(ds)
    middle = ds.emails["sent_at"].sort_values().iloc[len(ds.emails) // 2]
    for as_of in (None, middle):
        meetings, emails = engagement_count_columns(ds, deal, person, as_of)
        want_meetings, want_emails = _dict_lookup(ds, deal, person, as_of)
        np.testing.assert_array_equal(meetings, want_meetings)
        np.testing.assert_array_equal(emails, want_emails)
    assert (want_meetings > 0).sum() > 5 and (want_emails > 0).sum() > 5  # the test does compare counts


def test_in_order_codes_are_the_positions_of_the_keys() -> None:
    from influence.coverage import _in_order_codes

    keys = pa.array([f"<m{i}@x>" for i in range(3000)])
    rng = np.random.default_rng(2)
    # each key first named in key order, later rows repeating earlier keys (cc lists after)
    values = pa.array([*keys.to_pylist(), *(f"<m{i}@x>" for i in rng.integers(0, 3000, 2000))])
    codes = _in_order_codes(keys, values)
    expected = pc.index_in(values, value_set=keys).to_numpy(zero_copy_only=False)
    np.testing.assert_array_equal(codes, expected)
    assert _in_order_codes(keys, values.take(pa.array(rng.permutation(len(values))))) is None
    assert _in_order_codes(keys, values.slice(0, 2999)) is None  # one key named by no value


def test_sorted_codes_follow_pythons_string_order_with_missing_last_or_empty() -> None:
    from influence.predict import _codes, _sorted_codes

    rng = np.random.default_rng(8)
    alphabet = list("aAzZ09-_ éèß€😀")
    values = np.array(
        ["".join(rng.choice(alphabet, size=int(k))) for k in rng.integers(0, 5, 400)] + [None, None],
        dtype=object,
    )
    rng.shuffle(values)
    last = _sorted_codes(values, missing_as_empty=False)
    distinct = sorted({v for v in values if v is not None})
    expected = np.array([distinct.index(v) if v is not None else len(distinct) for v in values])
    np.testing.assert_array_equal(last, expected)
    np.testing.assert_array_equal(_sorted_codes(values, missing_as_empty=True), _codes(values))
    assert _sorted_codes(np.array(["a", 3], dtype=object), missing_as_empty=False) is None


def test_person_positions_take_the_first_of_repeated_ids() -> None:
    from influence.predict import _person_positions, _take_or_none

    people = ["P1", "P2", "P1", "P3"]
    asked = np.array(["P1", "P3", "P9", "P2"], dtype=object)
    pos = _person_positions(people, asked)
    np.testing.assert_array_equal(pos, [0, 3, -1, 1])
    assert _take_or_none(["a", None, "c", "d"], pos).tolist() == ["a", "d", None, None]
    assert _person_positions(["P1", None], asked) is None  # a missing id: the str() matching of the loop


@pytest.mark.parametrize("explain", [False, True])
def test_score_dataset_on_codes_equals_the_python_path(
    generated: Dataset, unit_bundle, monkeypatch, explain: bool
) -> None:
    """The same frames, in the same row order, whichever path ranks and sorts the people."""
    from influence import predict
    from influence.predict import Scorer

    scorer = Scorer(unit_bundle)
    monkeypatch.setattr(predict, "_CODES_MIN_ROWS", 1)
    coded = scorer.score_dataset(generated, explain=explain)
    monkeypatch.setattr(predict, "_CODES_MIN_ROWS", 10**9)
    plain = scorer.score_dataset(generated, explain=explain)
    for name in ("people", "coverage", "next_best_contacts", "deals"):
        pd.testing.assert_frame_equal(getattr(coded, name), getattr(plain, name), check_exact=True)
    people = coded.people
    assert people["influence_rank"].min() == 1
    # the order the frame promises: account, deal, then rank within the deal
    keys = list(zip(people["account_id"], people["deal_id"], people["influence_rank"], strict=True))
    assert keys == sorted(keys)
