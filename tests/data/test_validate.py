"""Dataset loading and validation: every broken file asserts its exact problem (table, file, row, column)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from influence.cli import app
from influence.contract import TABLE_ORDER, Dataset, write_dataset
from influence.data import (
    DatasetError,
    Problem,
    TableCounts,
    ValidationReport,
    contract_markdown,
    load,
    load_with_report,
    render_contract_doc,
    validate,
    validate_frames,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _column_checks_match_pandera(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every input these tests validate (valid and broken) also runs the pandera reference of the hand-vectorised
    column checks; both must record exactly the same problems and rejections."""
    from influence import data

    fast = data._check_columns

    def both(table, run) -> None:  # noqa: ANN001
        shadow = data._TableRun(run.name, run.file, run.raw, typed=run.typed, rejected=run.rejected.copy())
        data._check_columns_pandera(table, shadow)
        before = len(run.issues)
        fast(table, run)
        mine, ref = run.issues[before:], shadow.issues
        cols = ["pos", "column", "message", "severity"]
        got = pd.concat(mine, ignore_index=True)[cols] if mine else pd.DataFrame(columns=cols)
        want = pd.concat(ref, ignore_index=True)[cols] if ref else pd.DataFrame(columns=cols)
        assert got.astype(str).values.tolist() == want.astype(str).values.tolist(), table.name
        assert (run.rejected == shadow.rejected).all(), table.name

    monkeypatch.setattr(data, "_check_columns", both)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def _only(report: ValidationReport, table: str) -> list[Problem]:
    return [p for p in report.problems if p.table == table]


def _assert_balanced(report: ValidationReport) -> None:
    for name, c in report.counts.items():
        assert c.read == c.accepted + c.rejected, name
        assert (report.rejected["table"] == name).sum() == c.rejected, name


# --- valid input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_dataset_round_trips_through_load(
    tmp_path: Path, fmt: str, tiny_frames: Callable[[], dict[str, pd.DataFrame]]
) -> None:
    expected = Dataset.from_frames(tiny_frames())
    folder = write_dataset(tiny_frames(), tmp_path / fmt, fmt=fmt)  # type: ignore[arg-type]
    loaded = load(folder)
    for name in TABLE_ORDER:
        pd.testing.assert_frame_equal(loaded[name], expected[name], check_dtype=True, obj=name)


def test_tiny_dataset_is_valid_and_counts_every_row(tiny_csv: Path) -> None:
    report = validate(tiny_csv)
    assert report.ok and report.problems == []
    assert report.counts["email_recipients"].read == 4
    assert report.counts["emails"].accepted == 3  # in_reply_to '<never-captured@x>' is not an error
    assert report.rejected.empty


def test_absent_optional_tables_are_empty(
    tmp_path: Path, tiny_frames: Callable[[], dict[str, pd.DataFrame]]
) -> None:
    frames = {k: v for k, v in tiny_frames().items() if k in ("accounts", "people", "deals")}
    ds = load(write_dataset(frames, tmp_path / "d", fmt="csv"))
    assert len(ds.meetings) == 0 and list(ds.meetings.columns)[:2] == ["meeting_id", "deal_id"]
    assert str(ds.meetings["start_at"].dtype) == "datetime64[ns, UTC]"


def test_extra_columns_are_kept(tmp_path: Path, tiny_frames: Callable[[], dict[str, pd.DataFrame]]) -> None:
    frames = tiny_frames()
    frames["people"]["crm_owner"] = ["x", "y", "z", "w", "v"]
    ds = load(write_dataset(frames, tmp_path / "d", fmt="csv"))
    assert list(ds.people["crm_owner"]) == ["x", "y", "z", "w", "v"]


def test_timestamps_with_offsets_are_converted_to_utc(tiny_csv: Path) -> None:
    _edit(tiny_csv / "deals.csv", "2024-01-10T09:00:00+00:00", "2024-01-10T11:00:00+02:00")
    ds = load(tiny_csv)
    assert ds.deals.loc[0, "created_at"] == pd.Timestamp("2024-01-10T09:00:00Z")


def test_utf8_bom_is_accepted(tiny_csv: Path) -> None:
    path = tiny_csv / "accounts.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    ds = load(tiny_csv)
    assert list(ds.accounts["account_id"]) == ["A1", "A2"]


def test_quoted_newlines_are_accepted_and_later_rows_numbered_right(tiny_csv: Path) -> None:
    _edit(tiny_csv / "people.csv", ",IT Manager,", ',"IT\nManager",')
    _edit(
        tiny_csv / "people.csv", "P4,A2,Dirk Huber,,Entwickler,,buyer", "P4,A2,Dirk Huber,,Entwickler,,vendor"
    )
    report = validate(tiny_csv)
    assert [p.format() for p in _only(report, "people")] == [
        "people people.csv:4:side: 'vendor' is not one of: buyer, seller, partner"
    ]
    assert load_with_report(tiny_csv)[0].people.loc[1, "title"] == "IT\nManager"


# --- broken input: one exact problem each --------------------------------------------------------------------


def test_missing_column_rejects_the_whole_file_with_one_problem(
    tiny_csv: Path, tiny_frames: Callable[[], dict[str, pd.DataFrame]]
) -> None:
    frames = tiny_frames()
    frames["accounts"] = frames["accounts"].drop(columns=["name"])
    folder = write_dataset(frames, tiny_csv.parent / "missing", fmt="csv")
    report = validate(folder)
    problems = _only(report, "accounts")
    assert [(p.file, p.row, p.column) for p in problems] == [("accounts.csv", None, "name")]
    assert "missing column 'name'" in problems[0].message
    assert problems[0].format().startswith("accounts accounts.csv:-:name: missing column")
    assert report.counts["accounts"].rejected == 2
    # every child of a rejected account is rejected too (cascade), nothing silently dropped
    assert report.counts["deals"].accepted == 0 and report.counts["people"].rejected == 4
    _assert_balanced(report)


def test_missing_nullable_column_reads_as_empty_with_a_warning(
    tmp_path: Path, tiny_frames: Callable[[], dict[str, pd.DataFrame]]
) -> None:
    frames = tiny_frames()
    frames["accounts"] = frames["accounts"].drop(columns=["industry"])
    ds, report = load_with_report(write_dataset(frames, tmp_path / "d", fmt="csv"))
    assert report.ok
    [warning] = report.problems
    assert (warning.table, warning.row, warning.column, warning.severity) == (
        "accounts",
        None,
        "industry",
        "warning",
    )
    assert ds.accounts["industry"].isna().all() and len(ds.accounts) == 2


def test_wrong_type_names_the_value(tiny_csv: Path) -> None:
    _edit(tiny_csv / "deals.csv", "45000.5", "45k")
    [problem] = _only(validate(tiny_csv), "deals")
    assert (problem.file, problem.row, problem.column) == ("deals.csv", 2, "amount")
    assert problem.message == "'45k' is not a number"


def test_dangling_reference(tiny_csv: Path) -> None:
    _append(tiny_csv / "email_recipients.csv", "<e3@vendor.com>,P999,cc")
    report = validate(tiny_csv)
    assert [p.format() for p in report.problems] == [
        "email_recipients email_recipients.csv:5:person_id: references unknown people.person_id 'P999'"
    ]
    assert report.counts["email_recipients"].rejected == 1


def test_duplicate_primary_key_names_the_first_row(tiny_csv: Path) -> None:
    _append(tiny_csv / "accounts.csv", "A1,Acme Again,acme.nl,,NL")
    [problem] = _only(validate(tiny_csv), "accounts")
    assert (problem.row, problem.column) == (3, "account_id")
    assert problem.message == "duplicate key account_id='A1' (first at row 1)"


def test_duplicate_composite_key(tiny_csv: Path) -> None:
    _append(tiny_csv / "meeting_attendees.csv", "M1,P2,declined,True")
    [problem] = _only(validate(tiny_csv), "meeting_attendees")
    assert problem.row == 4
    assert "meeting_id='M1', person_id='P2' (first at row 2)" in problem.message


def test_duplicate_email_names_the_first_row(tiny_csv: Path) -> None:
    _append(tiny_csv / "people.csv", "P9,A1,Ann Again,ANN@acme.nl,,,buyer")
    [problem] = _only(validate(tiny_csv), "people")
    assert (problem.row, problem.column) == (6, "email")
    assert problem.message == "duplicate email 'ANN@acme.nl' (first at row 1)"


def test_value_outside_its_domain(tiny_csv: Path) -> None:
    _edit(tiny_csv / "labels.csv", "budget_holder", "decision_maker")
    _edit(tiny_csv / "labels.csv", "0.9", "1.5")
    problems = _only(validate(tiny_csv), "labels")
    assert [(p.row, p.column) for p in problems] == [(1, "influence"), (1, "profile")]
    assert problems[0].message == "1.5 is above the maximum 1"
    assert problems[1].message.startswith("'decision_maker' is not one of: executive_sponsor, ")


def test_required_value_missing(tiny_csv: Path) -> None:
    _edit(tiny_csv / "accounts.csv", "A2,Globex GmbH", "A2,")
    [problem] = _only(validate(tiny_csv), "accounts")
    assert (problem.row, problem.column, problem.message) == (2, "name", "is empty; a value is required")


def test_naive_timestamp_in_csv(tiny_csv: Path) -> None:
    _edit(tiny_csv / "meetings.csv", "2024-03-05T13:00:00+00:00", "2024-03-05 13:00:00")
    problems = _only(validate(tiny_csv), "meetings")
    assert [(p.row, p.column) for p in problems] == [(2, "start_at")]
    assert problems[0].message.startswith("naive timestamp '2024-03-05 13:00:00' has no UTC offset")


def test_naive_timestamp_column_in_parquet_rejects_the_file(
    tmp_path: Path, tiny_frames: Callable[[], dict[str, pd.DataFrame]]
) -> None:
    frames = tiny_frames()
    frames["signals"]["occurred_at"] = frames["signals"]["occurred_at"].dt.tz_localize(None)
    report = validate(write_dataset(frames, tmp_path / "pq", fmt="parquet"))
    [problem] = _only(report, "signals")
    assert (problem.file, problem.row, problem.column) == ("signals.parquet", None, "occurred_at")
    assert "without a time zone" in problem.message
    assert report.counts["signals"].rejected == 2


def test_non_utf8_bytes_name_file_row_and_column(tiny_csv: Path) -> None:
    path = tiny_csv / "people.csv"
    path.write_bytes(path.read_bytes().replace(b"Bob Smit", b"Bob Sm\xe9t"))
    report = validate(tiny_csv)
    [problem] = _only(report, "people")
    assert (problem.file, problem.row, problem.column) == ("people.csv", 2, "full_name")
    assert "not UTF-8" in problem.message
    assert report.counts["people"].rejected == 1
    assert "Bob Sm\ufffdt" in report.rejected.loc[report.rejected["table"] == "people", "record"].iloc[0]


def test_record_with_too_many_fields_is_rejected_and_later_rows_keep_their_numbers(tiny_csv: Path) -> None:
    _edit(
        tiny_csv / "accounts.csv",
        "A1,Acme BV,acme.nl,Manufacturing,NL",
        "A1,Acme BV,acme.nl,Manufacturing,NL,??",
    )
    _edit(tiny_csv / "accounts.csv", "Globex GmbH", "")
    problems = _only(validate(tiny_csv), "accounts")
    assert [(p.row, p.column) for p in problems] == [(1, None), (2, "name")]
    assert problems[0].message == "has 6 fields but the header has 5"


def test_empty_file_is_a_clear_error(tiny_csv: Path) -> None:
    (tiny_csv / "signals.csv").write_bytes(b"")
    [problem] = _only(validate(tiny_csv), "signals")
    assert (problem.file, problem.row, problem.column) == ("signals.csv", None, None)
    assert "empty (0 bytes)" in problem.message


def test_header_only_file_is_an_empty_table(tiny_csv: Path) -> None:
    (tiny_csv / "signals.csv").write_text("person_id,occurred_at,kind,detail\n", encoding="utf-8")
    (tiny_csv / "accounts.csv").write_text("account_id,name,domain,industry,country\n", encoding="utf-8")
    report = validate(tiny_csv)
    assert report.counts["signals"] == TableCounts(read=0, accepted=0, rejected=0)
    [warning] = [p for p in report.problems if p.table == "accounts"]
    assert warning.severity == "warning" and "no data rows" in warning.message


def test_same_table_in_two_formats_is_an_error(
    tiny_csv: Path, tiny_frames: Callable[[], dict[str, pd.DataFrame]]
) -> None:
    tiny_frames()["signals"].to_parquet(tiny_csv / "signals.parquet")
    [problem] = _only(validate(tiny_csv), "signals")
    assert problem.severity == "error" and "two formats" in problem.message
    assert problem.file == "signals.csv and signals.parquet"


def test_missing_required_table(tiny_csv: Path) -> None:
    (tiny_csv / "deals.csv").unlink()
    report = validate(tiny_csv)
    [problem] = _only(report, "deals")
    assert "required table is missing" in problem.message
    assert report.counts["meetings"].rejected == 2  # no deal to belong to


def test_folder_that_does_not_exist_or_holds_no_tables(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such folder"):
        validate(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DatasetError, match="holds no dataset tables"):
        validate(tmp_path)


# --- cascade and cross-table rules ---------------------------------------------------------------------------


def test_rejected_parent_cascades_to_children_saying_so(tiny_csv: Path) -> None:
    _edit(tiny_csv / "deals.csv", "2024-03-01T08:30:00+00:00", "yesterday")
    report = validate(tiny_csv)
    by_table = {p.table: p for p in report.problems}
    assert by_table["deals"].message == "'yesterday' is not an ISO 8601 timestamp"
    assert by_table["meetings"].format() == (
        "meetings meetings.csv:2:deal_id: references deals.deal_id 'D2', which was rejected (deals.csv row 2)"
    )
    assert "meetings.meeting_id 'M2', which was rejected" in by_table["meeting_attendees"].message
    assert by_table["email_recipients"].row == 4
    assert [report.counts[t].rejected for t in ("deals", "meetings", "meeting_attendees", "emails")] == [
        1,
        1,
        1,
        1,
    ]
    _assert_balanced(report)


def test_deal_time_order_and_outcome_rules(tiny_csv: Path) -> None:
    _edit(tiny_csv / "deals.csv", "2024-04-30T17:00:00+00:00", "2023-12-31T00:00:00+00:00")
    _edit(tiny_csv / "deals.csv", "Negotiation,open", "Negotiation,lost")
    problems = _only(validate(tiny_csv), "deals")
    assert [(p.row, p.column) for p in problems] == [(1, "closed_at"), (2, "closed_at")]
    assert "is before created_at" in problems[0].message
    assert "won/lost deals need closed_at" in problems[1].message


def test_open_deal_must_not_be_closed(tiny_csv: Path) -> None:
    _edit(
        tiny_csv / "deals.csv",
        "2024-03-01T08:30:00+00:00,,",
        "2024-03-01T08:30:00+00:00,2024-05-01T00:00:00Z,",
    )
    [problem] = _only(validate(tiny_csv), "deals")
    assert (problem.row, problem.column) == (2, "closed_at") and "open deals" in problem.message


def test_activity_outside_the_deal_life_is_rejected(tiny_csv: Path) -> None:
    _edit(tiny_csv / "meetings.csv", "2024-03-05T13:00:00+00:00", "2024-02-01T13:00:00+00:00")
    _edit(tiny_csv / "emails.csv", "2024-01-15T09:12:00+00:00", "2024-06-01T09:12:00+00:00")
    report = validate(tiny_csv)
    [meeting] = _only(report, "meetings")
    [email] = _only(report, "emails")
    assert (meeting.row, meeting.column) == (
        2,
        "start_at",
    ) and "before its deal 'D2' created_at" in meeting.message
    assert (email.row, email.column) == (2, "sent_at") and "after its deal 'D1' closed_at" in email.message


def test_label_needs_influence_or_profile(tiny_csv: Path) -> None:
    _edit(tiny_csv / "labels.csv", "technical_gatekeeper", "")
    [problem] = _only(validate(tiny_csv), "labels")
    assert problem.row == 2 and "neither influence nor profile" in problem.message


def test_rows_in_equal_accepted_plus_rejected_with_reasons(tiny_csv: Path) -> None:
    _append(tiny_csv / "email_recipients.csv", "<e1@vendor.com>,P999,to")
    _append(tiny_csv / "email_recipients.csv", "<e1@vendor.com>,P1,to")
    _edit(tiny_csv / "people.csv", "P3,A2", "P3,A9")
    ds, report = load_with_report(tiny_csv)
    _assert_balanced(report)
    for name in TABLE_ORDER:
        assert len(ds[name]) == report.counts[name].accepted
    rejects = report.rejected.set_index(["table", "row"])
    assert "references unknown accounts.account_id 'A9'" in rejects.loc[("people", 3), "reasons"]
    assert json.loads(rejects.loc[("email_recipients", 6), "record"]) == {
        "message_id": "<e1@vendor.com>",
        "person_id": "P1",
        "kind": "to",
    }


# --- load / validate_frames ----------------------------------------------------------------------------------


def test_strict_load_raises_with_the_report_and_lenient_load_keeps_accepted_rows(tiny_csv: Path) -> None:
    _append(tiny_csv / "accounts.csv", "A1,Dup,,,")
    with pytest.raises(DatasetError, match=r"accounts accounts.csv:3:account_id: duplicate key") as info:
        load(tiny_csv)
    assert info.value.report is not None and not info.value.report.ok
    assert list(load(tiny_csv, strict=False).accounts["account_id"]) == ["A1", "A2"]


def test_validate_frames_numbers_rows_from_zero_and_parses_json_values(
    tiny_frames: Callable[[], dict[str, pd.DataFrame]],
) -> None:
    frames = {
        name: pd.DataFrame(frame.astype(object).where(frame.notna(), None))
        for name, frame in tiny_frames().items()
    }
    frames["deals"]["created_at"] = ["2024-01-10T09:00:00Z", "2024-03-01T08:30:00+01:00"]
    frames["meeting_attendees"].loc[1, "response"] = "maybe"
    ds, report = validate_frames(frames, sources={"meeting_attendees": "body.meeting_attendees"})
    [problem] = report.problems
    assert problem.format() == (
        "meeting_attendees body.meeting_attendees:1:response: 'maybe' is not one of: accepted, declined, "
        "tentative, none"
    )
    assert ds.deals.loc[1, "created_at"] == pd.Timestamp("2024-03-01T07:30:00Z")
    assert len(ds.meeting_attendees) == 2


# --- CLI ------------------------------------------------------------------------------------------------------


def test_cli_exit_zero_on_valid_data(tiny_csv: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(tiny_csv)])
    assert result.exit_code == 0, result.output
    assert "email_recipients" in result.output and "OK" in result.output


def test_cli_exit_one_prints_problems_and_writes_rejects(tiny_csv: Path, tmp_path: Path) -> None:
    for i in range(3):
        _append(tiny_csv / "email_recipients.csv", f"<e1@vendor.com>,P99{i},to")
    rejects = tmp_path / "out" / "rejects.csv"
    result = CliRunner().invoke(
        app, ["validate", str(tiny_csv), "--rejects", str(rejects), "--max-problems", "2"]
    )
    assert result.exit_code == 1
    assert (
        "email_recipients email_recipients.csv:5:person_id: references unknown people.person_id 'P990'"
        in (result.output)
    )
    assert "P992" not in result.output and "... and 1 more (all in --rejects)" in result.output
    saved = pd.read_csv(rejects)
    assert list(saved.columns) == ["table", "file", "row", "reasons", "record"]
    assert list(saved["row"]) == [5, 6, 7]
    assert json.loads(saved.loc[2, "record"])["person_id"] == "P992"


def test_cli_missing_folder_is_a_clear_user_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "no such folder" in result.output
    assert "Traceback" not in result.output


# --- docs -----------------------------------------------------------------------------------------------------


def test_contract_doc_is_up_to_date() -> None:
    doc = (REPO / "docs" / "data-contract.md").read_text(encoding="utf-8")
    assert "| `person_id` | string | no |" in contract_markdown()
    assert render_contract_doc(doc) == doc, (
        "docs/data-contract.md is stale: run "
        "python -c 'from pathlib import Path; from influence.data import render_contract_doc as r; "
        'p = Path("docs/data-contract.md"); p.write_text(r(p.read_text()))\''
    )


# --- the issue's "done when", against the project's generator --------------------------------------------------


def test_generated_folder_validates_and_an_unknown_recipient_is_caught(tmp_path: Path) -> None:
    # Skipped only while the generator (engineer B's module) is not there yet.
    generate = getattr(pytest.importorskip("influence.generate"), "generate", None)
    if generate is None:
        pytest.skip("influence.generate.generate is not available yet")
    folder = write_dataset(generate(n_accounts=5, seed=3), tmp_path / "gen", fmt="csv")
    ok = CliRunner().invoke(app, ["validate", str(folder)])
    assert ok.exit_code == 0, ok.output
    recipients = folder / "email_recipients.csv"
    n_rows = len(pd.read_csv(recipients))
    message_id = pd.read_csv(recipients)["message_id"].iloc[0]
    _append(recipients, f'"{message_id}",P_UNKNOWN,cc')
    rejects = tmp_path / "rejects.csv"
    bad = CliRunner().invoke(app, ["validate", str(folder), "--rejects", str(rejects)])
    assert bad.exit_code == 1
    row = n_rows + 1
    assert (
        f"email_recipients email_recipients.csv:{row}:person_id: references unknown people.person_id 'P_UNKNOWN'"
        in bad.output
    )
    saved = pd.read_csv(rejects)
    assert saved[["table", "row"]].values.tolist() == [["email_recipients", row]]
    assert json.loads(saved.loc[0, "record"])["person_id"] == "P_UNKNOWN"
