"""What the per-call savings of `validate_frames` on API bodies must not change: column labels are read again when
a frame's columns change (labels are cached per Index object), clean reports never share their frames, and the
label cache stays bounded."""

from __future__ import annotations

import pandas as pd

from influence import data
from influence.contract import PANDAS_DTYPES, TABLE_ORDER, TABLES
from influence.generate import generate


def _api_frames() -> dict[str, pd.DataFrame]:
    """A generated dataset (fixed seed) built the way the API builds a body: canonical dtypes, and one shared
    column Index per table (`frame_of_columns`), so a second body hits the label cache."""
    ds = generate(2, 7)
    return {
        name: data.frame_of_columns(
            {c.name: ds[name][c.name].astype(PANDAS_DTYPES[c.dtype]).array for c in TABLES[name].columns},
            len(ds[name]),
        )
        for name in TABLE_ORDER
    }


def test_a_renamed_column_is_seen_although_the_labels_are_cached() -> None:
    first = _api_frames()
    _, report = data.validate_frames(first)
    assert report.ok
    second = _api_frames()
    assert second["people"].columns is first["people"].columns  # the cache really is shared by both bodies
    people = second["people"]
    people.columns = ["id" if c == "person_id" else c for c in people.columns]  # a new Index, same frame
    _, renamed = data.validate_frames(second)
    messages = renamed.format_problems()
    assert "people people:-:person_id: missing column 'person_id'; the whole file is rejected" in messages
    assert renamed.counts["people"].rejected == len(second["people"])
    # and the untouched frames, on the shared Index, still validate clean
    _, again = data.validate_frames(_api_frames())
    assert again.ok and again.counts["people"].accepted == len(first["people"])


def test_an_absent_optional_column_is_reported_on_the_cached_labels() -> None:
    frames = _api_frames()
    frames["people"] = frames["people"].drop(columns=["title"])
    dataset, report = data.validate_frames(frames)
    assert report.format_problems() == ["people people:-:title: column 'title' is absent; read as empty"]
    assert dataset.people["title"].isna().all() and "title" not in frames["people"].columns


def test_clean_reports_do_not_share_their_frames() -> None:
    _, first = data.validate_frames(_api_frames())
    _, second = data.validate_frames(_api_frames())
    assert first.ok and second.ok
    first.problems_frame.loc[0] = ["people", "x", 1, "email", "edited by a caller", "error"]
    first.rejected["note"] = []
    _, third = data.validate_frames(_api_frames())
    for report in (second, third):
        assert report.problems_frame.empty and list(report.problems_frame.columns) == data._PROBLEM_COLUMNS
        assert report.rejected.empty and list(report.rejected.columns) == data._REJECT_COLUMNS
        assert report.ok


def test_the_column_label_cache_is_bounded() -> None:
    indexes = [pd.Index([f"c{i}", "x"]) for i in range(3 * data._COLUMN_NAMES_MAX)]
    for index in indexes:
        assert data._column_names(index) == (str(index[0]), "x")
    assert len(data._COLUMN_NAMES) <= data._COLUMN_NAMES_MAX
