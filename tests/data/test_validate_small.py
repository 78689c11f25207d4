"""The small-input route of validation (`data.SMALL_TABLE_ROWS`: numpy arrays, Python dicts and sets instead of
pandas/Arrow calls, taken by API bodies) must report exactly what the vectorised route reports: the same
problems (table, file, row, column, message, severity), the same rejected records with their reasons and the
same accepted rows, on the same broken inputs."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from influence import data
from influence.contract import TABLE_ORDER
from influence.generate import generate

SMALL = 10**9  # every table takes the small route
GENERAL = -1  # no table does


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as the text a CSV or JSON body carries (ISO 8601 with an offset; None when empty)."""
    out = {}
    for name, values in frame.items():
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            values = values.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        out[name] = [None if pd.isna(v) else str(v) for v in values]
    return pd.DataFrame(out, dtype=object)


def _set(frame: pd.DataFrame, row: int, column: str, value: object) -> None:
    frame.loc[row, column] = value


def _broken_text() -> dict[str, pd.DataFrame]:
    """A generated dataset (fixed seed) as text, with at least one fault per rule the validator checks."""
    ds = generate(2, 7)
    f = {name: _as_text(ds[name]) for name in TABLE_ORDER}
    acc, people, deals = f["accounts"], f["people"], f["deals"]
    f["accounts"] = pd.concat([acc, acc.iloc[[0]]], ignore_index=True)  # duplicate primary key
    _set(people, 2, "side", "vendor")  # outside the domain
    _set(people, 3, "person_id", None)  # required value missing
    _set(people, 4, "email", "  " + str(people.loc[5, "email"]).upper() + " ")  # same e-mail once normalised
    _set(people, 6, "account_id", "A-nope")  # dangling reference
    _set(people, 7, "email", "")  # empty string reads as empty
    extra = pd.concat([deals.iloc[[0]]] * 7, ignore_index=True)
    extra["deal_id"] = [f"D-extra-{i}" for i in range(7)]
    deals = f["deals"] = pd.concat([deals, extra], ignore_index=True)
    _set(deals, 9, "closed_at", "2020-01-01T00:00:00Z")  # closed before created
    _set(deals, 1, "created_at", "2030-01-01T00:00:00Z")  # so is this one: its meetings, e-mails cascade
    _set(deals, 3, "closed_at", None)  # a lost deal without closed_at
    _set(deals, 4, "outcome", "open")  # an open deal with closed_at
    _set(deals, 5, "amount", "-5")  # below the minimum
    _set(deals, 6, "amount", "lots")  # not a number
    _set(deals, 7, "created_at", "2024-01-01T00:00:00")  # naive timestamp
    _set(deals, 8, "created_at", "yesterday")  # not a timestamp
    meetings = f["meetings"]
    _set(meetings, 1, "start_at", "1990-01-01T00:00:00Z")  # before its deal was created
    _set(meetings, 2, "start_at", "2099-01-01T00:00:00Z")  # after its deal closed
    _set(meetings, 3, "organizer_id", str(people.loc[6, "person_id"]))  # a rejected person
    _set(meetings, 4, "duration_min", "1e400")  # overflows to inf: a number, above no bound
    attendees = f["meeting_attendees"]
    attendees.loc[1, ["meeting_id", "person_id"]] = attendees.loc[0, ["meeting_id", "person_id"]].to_numpy()
    _set(attendees, 2, "attended", "maybe")  # not a boolean
    _set(attendees, 3, "response", "dunno")
    _set(attendees, 4, "meeting_id", None)
    emails = f["emails"]
    _set(emails, 1, "sender_id", "P-nobody")
    _set(emails, 2, "sent_at", "2099-01-01T00:00:00+02:00")
    recipients = f["email_recipients"]
    recipients.loc[2, ["message_id", "person_id"]] = recipients.loc[1, ["message_id", "person_id"]].to_numpy()
    _set(recipients, 3, "kind", "fwd")
    _set(recipients, 4, "message_id", str(emails.loc[1, "message_id"]))  # a rejected e-mail
    signals = f["signals"]
    _set(signals, 1, "occurred_at", "")
    _set(signals, 2, "person_id", str(people.loc[2, "person_id"]))
    labels = f["labels"]
    _set(labels, 1, "influence", "1.5")  # above the maximum
    labels.loc[2, ["influence", "profile"]] = [None, None]  # a label needs one of them
    _set(labels, 3, "profile", "king")
    return f


def _broken_typed() -> dict[str, pd.DataFrame]:
    """The generator's typed frames (canonical dtypes, as an API body after pydantic) with type-compatible faults."""
    ds = generate(2, 7)
    f = {name: ds[name].copy() for name in TABLE_ORDER}
    people, deals = f["people"], f["deals"]
    people.loc[2, "side"] = "vendor"
    people.loc[4, "email"] = people.loc[5, "email"]
    people.loc[6, "account_id"] = "A-nope"
    deals.loc[0, "closed_at"] = pd.Timestamp("2020-01-01", tz="UTC")
    deals.loc[1, "amount"] = -1.0
    deals.loc[2, "outcome"] = "open"
    f["meetings"].loc[1, "start_at"] = pd.Timestamp("1990-01-01", tz="UTC")
    f["meeting_attendees"].loc[1, ["meeting_id", "person_id"]] = (
        f["meeting_attendees"].loc[0, ["meeting_id", "person_id"]].to_numpy()
    )
    f["emails"].loc[2, "sent_at"] = pd.Timestamp("2099-01-01", tz="UTC")
    f["labels"].loc[1, "influence"] = 1.5
    return f


def _both_routes(
    monkeypatch: pytest.MonkeyPatch, frames: Callable[[], dict[str, pd.DataFrame]]
) -> tuple[data.ValidationReport, ...]:
    out = []
    for limit in (GENERAL, SMALL):
        monkeypatch.setattr(data, "SMALL_TABLE_ROWS", limit)
        dataset, report = data.validate_frames(frames(), sources={"people": "body.people"})
        out.append((dataset, report))
    (general_ds, general), (small_ds, small) = out
    pd.testing.assert_frame_equal(small.problems_frame, general.problems_frame)
    pd.testing.assert_frame_equal(small.rejected, general.rejected)
    assert small.counts == general.counts
    for name in TABLE_ORDER:
        pd.testing.assert_frame_equal(small_ds[name], general_ds[name], obj=name)
    return general, small


def test_small_route_reports_what_the_general_route_reports_on_text(monkeypatch: pytest.MonkeyPatch) -> None:
    general, _ = _both_routes(monkeypatch, _broken_text)
    messages = "\n".join(general.format_problems())
    # The inputs really exercise every rule (otherwise the comparison above proves little).
    for expected in [
        "accounts accounts:2:account_id: duplicate key",
        "'vendor' is not one of",
        "person_id: is empty; a value is required",
        "duplicate email",
        "references unknown accounts.account_id 'A-nope'",
        "is before created_at",
        "won/lost deals need closed_at",
        "open deals have no closed_at",
        "-5.0 is below the minimum 0",
        "'lots' is not a number",
        "naive timestamp",
        "'yesterday' is not an ISO 8601 timestamp",
        "is before its deal",
        "is after its deal",
        "which was rejected (body.people row 6)",
        "meeting_attendees meeting_attendees:1:person_id: duplicate key",
        "'maybe' is not true or false",
        "'dunno' is not one of",
        "references unknown people.person_id 'P-nobody'",
        "email_recipients email_recipients:2:person_id: duplicate key",
        "1.5 is above the maximum 1",
        "has neither influence nor profile",
    ]:
        assert expected in messages, expected
    counts = general.counts
    assert all(c.read == c.accepted + c.rejected for c in counts.values())


def test_small_route_reports_what_the_general_route_reports_on_typed_frames(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    general, _ = _both_routes(monkeypatch, _broken_typed)
    assert general.n_errors >= 9


def test_small_route_accepts_what_the_general_route_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    general, _ = _both_routes(monkeypatch, lambda: {n: generate(2, 7)[n] for n in TABLE_ORDER})
    assert general.ok and general.rejected.empty


def _typed_api_like() -> dict[str, pd.DataFrame]:
    """A generated dataset in exactly the canonical dtypes the API hands over (Arrow strings with NA, float64,
    boolean, datetime64[ns, UTC]): the validator takes these frames as they are."""
    from influence.contract import PANDAS_DTYPES, TABLES

    ds = generate(2, 7)
    return {
        name: pd.DataFrame(
            {c.name: ds[name][c.name].astype(PANDAS_DTYPES[c.dtype]) for c in TABLES[name].columns}
        )
        for name in TABLE_ORDER
    }


def test_frames_already_typed_validate_like_their_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pass-through for canonical columns (no cast, no new frame) accepts and reports what the same rows as
    text give, and the accepted frames do not share changes with the caller's."""
    typed = _typed_api_like()
    typed_ds, typed_report = data.validate_frames(typed)
    text_ds, text_report = data.validate_frames({n: _as_text(f) for n, f in _typed_api_like().items()})
    assert typed_report.ok and text_report.ok
    for name in TABLE_ORDER:
        pd.testing.assert_frame_equal(typed_ds[name], text_ds[name], obj=name)
    before = typed["people"]["title"].copy()
    typed_ds["people"].loc[0, "title"] = "changed"
    pd.testing.assert_series_equal(typed["people"]["title"], before)


def test_empty_strings_in_typed_frames_still_read_as_empty() -> None:
    typed = _typed_api_like()
    people = typed["people"]
    people["title"] = people["title"].astype(object).where(people.index != 1, "")
    people["title"] = people["title"].astype("string")
    people.loc[2, "person_id"] = ""
    dataset, report = data.validate_frames(typed)
    messages = report.format_problems()
    assert any(m.startswith("people people:2:person_id: is empty") for m in messages), messages
    assert pd.isna(
        dataset.people.set_index("person_id").loc[str(typed["people"].loc[1, "person_id"]), "title"]
    )


def test_frame_of_columns_equals_the_public_constructor() -> None:
    import numpy as np

    columns = {
        "a": pd.array(["x", None, "z"], dtype="string"),
        "b": np.array([1.0, np.nan, 3.0]),
        "c": pd.array([True, None, False], dtype="boolean"),
        "d": pd.array(pd.to_datetime(["2024-01-01", None, "2024-01-03"], utc=True)),
    }
    expected = pd.DataFrame(columns, index=pd.RangeIndex(3))
    pd.testing.assert_frame_equal(data.frame_of_columns(columns, 3), expected)
    pd.testing.assert_frame_equal(data.frame_of_columns({}, 4), pd.DataFrame({}, index=pd.RangeIndex(4)))
    with pytest.raises(ValueError, match="length 2"):
        data.frame_of_columns(columns, 2)


def test_empty_tables_are_independent_copies() -> None:
    from influence.contract import Dataset, empty_table

    first = empty_table("labels")
    first["extra"] = pd.Series([], dtype="float64")
    assert "extra" not in empty_table("labels").columns
    assert "extra" not in Dataset({}).labels.columns


def _as_columns(frames: dict[str, pd.DataFrame]) -> dict[str, data.TypedColumns]:
    """The same tables as ready arrays (what the API hands over): numpy for float columns, else pandas' arrays."""
    import numpy as np

    return {
        name: data.TypedColumns(
            {
                c: (values.to_numpy() if values.dtype == np.float64 else values.array)
                for c, values in frame.items()
            },
            len(frame),
        )
        for name, frame in frames.items()
    }


@pytest.mark.parametrize("make", [_broken_typed, _typed_api_like, _broken_text])
def test_typed_columns_validate_like_their_frames(make: Callable[[], dict[str, pd.DataFrame]]) -> None:
    """Tables handed over as arrays (`TypedColumns`) get the report and accepted rows their frames get: problems,
    rejected records with reasons, counts, and every accepted table (dtypes included)."""
    frames_ds, frames_report = data.validate_frames(make(), sources={"people": "body.people"})
    columns_ds, columns_report = data.validate_frames(_as_columns(make()), sources={"people": "body.people"})
    pd.testing.assert_frame_equal(columns_report.problems_frame, frames_report.problems_frame)
    pd.testing.assert_frame_equal(columns_report.rejected, frames_report.rejected)
    assert columns_report.counts == frames_report.counts
    for name in TABLE_ORDER:
        pd.testing.assert_frame_equal(columns_ds[name], frames_ds[name], obj=name)
    if make is not _typed_api_like:
        assert frames_report.n_errors >= 9  # the faults were seen both ways


def test_typed_columns_with_an_absent_column_or_an_empty_string() -> None:
    """An absent nullable column is filled (a warning) and an empty id reads as empty, as for a frame."""
    typed = _typed_api_like()
    typed["people"] = typed["people"].drop(columns=["title"])
    people = typed["people"]
    people["person_id"] = people["person_id"].astype(object).where(people.index != 2, "").astype("string")
    frames_ds, frames_report = data.validate_frames({n: f.copy() for n, f in typed.items()})
    columns_ds, columns_report = data.validate_frames(_as_columns(typed))
    pd.testing.assert_frame_equal(columns_report.problems_frame, frames_report.problems_frame)
    assert any("people:2:person_id: is empty" in m for m in columns_report.format_problems())
    assert any("'title' is absent" in m for m in columns_report.format_problems())
    for name in TABLE_ORDER:
        pd.testing.assert_frame_equal(columns_ds[name], frames_ds[name], obj=name)
