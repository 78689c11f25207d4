"""What a first-time user sees from the CLI: help text that survives Rich markup, a DMU print-out whose profile
column agrees with its coverage gaps, and user mistakes answered with exit 1 and a message, not a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from influence.cli import app
from influence.cli._dmu import format_deal
from influence.coverage import PRESENT_MIN_CONFIDENCE, PRESENT_MIN_INFLUENCE

runner = CliRunner()


def _person(rank: int, influence: float, profile: str, confidence: float) -> dict[str, Any]:
    return {
        "person_id": f"P-{rank}",
        "full_name": f"Person {rank}",
        "title": None,
        "influence": influence,
        "influence_rank": rank,
        "profile": profile,
        "profile_confidence": confidence,
        "reasons": [],
    }


def _report(people: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "deal_id": "D-1",
        "account_id": "A-1",
        "model_version": "m/1",
        "people": people,
        "gaps": ["no technical gatekeeper identified among the people seen so far"],
        "next_best_contacts": [],
    }


def _row_of(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if name in line)


def test_score_help_keeps_the_spark_extra_in_the_install_hint() -> None:
    result = runner.invoke(app, ["score", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "influence[spark]" in result.output  # Rich markup used to swallow "[spark]"


def test_dmu_marks_a_profile_the_coverage_gaps_do_not_count() -> None:
    weak = _person(1, PRESENT_MIN_INFLUENCE + 0.3, "technical_gatekeeper", PRESENT_MIN_CONFIDENCE - 0.1)
    faint = _person(2, PRESENT_MIN_INFLUENCE - 0.1, "budget_holder", 0.9)
    text = format_deal(_report([weak, faint]), deal_row={"outcome": "open"}, max_people=5)
    assert "technical_gatekeeper?" in _row_of(text, "Person 1")
    assert "budget_holder?" in _row_of(text, "Person 2")
    assert f"{round((PRESENT_MIN_CONFIDENCE - 0.1) * 100)}%" in _row_of(text, "Person 1")
    assert "not counted as filling that role" in text


def test_dmu_never_prints_a_marked_profile_at_the_threshold_percentage() -> None:
    just_under = _person(1, 0.9, "procurement", PRESENT_MIN_CONFIDENCE - 0.004)
    row = _row_of(format_deal(_report([just_under]), deal_row={}, max_people=5), "Person 1")
    assert "procurement?" in row
    assert f"{PRESENT_MIN_CONFIDENCE:.0%}" not in row  # 39.6% reads 39%, not the 40% of the threshold


def test_dmu_shows_a_confident_profile_plainly_and_no_legend() -> None:
    sure = _person(1, PRESENT_MIN_INFLUENCE + 0.3, "technical_gatekeeper", PRESENT_MIN_CONFIDENCE + 0.2)
    text = format_deal(_report([sure]), deal_row={"outcome": "open"}, max_people=5)
    assert "technical_gatekeeper?" not in text
    assert "technical_gatekeeper" in _row_of(text, "Person 1")
    assert "not counted" not in text


def test_dmu_prior_rows_without_confidence_are_marked_not_crashing() -> None:
    prior = _person(1, 0.5, "end_user", float("nan"))
    text = format_deal(_report([prior]), deal_row={}, max_people=5)
    row = _row_of(text, "Person 1")
    assert "end_user?" in row and " - " in row


def test_dmu_says_how_to_see_the_hidden_people() -> None:
    people = [_person(i, 0.9 - i / 10, "end_user", 0.8) for i in range(1, 4)]
    text = format_deal(_report(people), deal_row={}, max_people=2)
    assert "1 more person (--people N shows more)" in text
    assert "--out" not in text  # dmu has no --out option


def test_dmu_and_score_on_a_missing_folder_exit_1_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    for args in (["dmu", str(missing)], ["score", str(missing), "--out", str(tmp_path / "s.csv")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, args
        assert "error:" in result.output and "nope" in result.output
        assert "Traceback" not in result.output
        assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two accounts from the project's generator (fixed seed)."""
    folder = tmp_path_factory.mktemp("cli-user") / "ds"
    made = runner.invoke(app, ["generate", "--out", str(folder), "--accounts", "2", "--seed", "5"])
    assert made.exit_code == 0, made.output
    return folder


def test_score_progress_bar_only_when_asked_or_on_a_terminal(data: Path, tmp_path: Path) -> None:
    quiet = runner.invoke(app, ["score", str(data), "--out", str(tmp_path / "a.csv"), "--no-reasons"])
    assert quiet.exit_code == 0, quiet.output
    assert "written to" in quiet.output
    assert "scoring:" not in quiet.output  # CliRunner's stderr is no terminal: a log file gets no bar
    loud = runner.invoke(
        app, ["score", str(data), "--out", str(tmp_path / "b.csv"), "--no-reasons", "--progress"]
    )
    assert loud.exit_code == 0, loud.output
    assert "scoring:" in loud.output


def test_serve_rejects_an_unknown_log_level_before_loading_anything() -> None:
    result = runner.invoke(app, ["serve", "--log-level", "loud", "--port", "1"])
    assert result.exit_code == 1
    assert "--log-level 'loud'" in result.output and "debug" in result.output
    assert isinstance(result.exception, SystemExit)  # typer.Exit, not the logging ValueError of uvicorn


@pytest.mark.parametrize("command", ["score", "report"])
def test_an_unwritable_out_is_one_line_naming_out(command: str, data: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "sub" / ("s.csv" if command == "score" else "r.html")
    args = [command, str(data), "--out", str(out)] + (["--no-reasons"] if command == "score" else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert f"cannot write --out {out}" in result.output
    assert isinstance(result.exception, SystemExit)  # no traceback


@pytest.mark.parametrize(("kind", "suffix"), [("eml", ".eml"), ("ics", ".ics")])
def test_import_from_a_folder_without_such_files_fails_and_writes_nothing(
    kind: str, suffix: str, tmp_path: Path
) -> None:
    source = tmp_path / "export"
    (source / "deeper").mkdir(parents=True)
    (source / "deeper" / "notes.txt").write_text("no mail here")
    out = tmp_path / "out"
    result = runner.invoke(app, ["import", kind, str(source), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert f"no {suffix} file found" in result.output and str(source) in result.output
    assert not out.exists()


def test_score_refuses_the_same_file_for_out_and_deals_out(data: Path, tmp_path: Path) -> None:
    same = tmp_path / "s.csv"
    result = runner.invoke(app, ["score", str(data), "--out", str(same), "--deals-out", str(same)])
    assert result.exit_code == 1, result.output
    assert "--out and --deals-out name the same file" in result.output
    assert not same.exists()  # the deals table never replaced the scores


def test_an_unwritable_deals_out_is_named_before_any_scoring(data: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    deals = blocker / "d.csv"
    out = tmp_path / "s.csv"
    result = runner.invoke(app, ["score", str(data), "--out", str(out), "--deals-out", str(deals)])
    assert result.exit_code == 1, result.output
    assert f"cannot write --deals-out {deals}: {blocker} is a file, not a folder" in result.output
    assert ".tmp" not in result.output and not out.exists()
    assert isinstance(result.exception, SystemExit)


def test_an_out_under_a_file_says_which_part_is_a_file(data: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "s.csv"
    result = runner.invoke(app, ["score", str(data), "--out", str(out)])
    assert result.exit_code == 1
    assert f"{blocker} is a file, not a folder" in result.output and "File exists" not in result.output


@pytest.fixture(scope="module")
def csv_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One account as CSV files from the project's generator (fixed seed)."""
    folder = tmp_path_factory.mktemp("cli-user-csv") / "ds"
    made = runner.invoke(
        app, ["generate", "--out", str(folder), "--accounts", "1", "--seed", "5", "--format", "csv"]
    )
    assert made.exit_code == 0, made.output
    return folder


def _with_header(src: Path, dst: Path, table: str, old: str, new: str) -> Path:
    import shutil

    shutil.copytree(src, dst)
    path = dst / f"{table}.csv"
    head, rest = path.read_text(encoding="utf-8").split("\n", 1)
    assert old in head.split(",")
    path.write_text(head.replace(old, new) + "\n" + rest, encoding="utf-8")
    return dst


@pytest.mark.parametrize(
    ("column", "typo", "whole_file"), [("deal_id", "deal_idd", True), ("organizer_id", "organiser_id", False)]
)
def test_validate_points_at_a_misspelled_column_header(
    csv_data: Path, tmp_path: Path, column: str, typo: str, whole_file: bool
) -> None:
    folder = _with_header(csv_data, tmp_path / "ds", "meetings", column, typo)
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == (1 if whole_file else 0), result.output
    assert f"meetings.csv has column {typo!r}" in result.output
    assert f"did you mean {column!r}?" in result.output
    assert ("fix meetings.csv first" in result.output) == whole_file


def test_validate_gives_no_hint_on_a_clean_folder(csv_data: Path) -> None:
    result = runner.invoke(app, ["validate", str(csv_data)])
    assert result.exit_code == 0, result.output
    assert "hint:" not in result.output


def test_dmu_marks_a_shortened_title_or_name_and_keeps_a_short_one_whole() -> None:
    long_title = "Business Operations Manager Benelux and Nordics, Digital Workplace Programme"
    person = _person(1, 0.9, "budget_holder", 0.9) | {"title": long_title, "full_name": "A" * 40}
    short = _person(2, 0.5, "end_user", 0.9) | {"title": "  Business Operations Manager Benelux "}
    text = format_deal(_report([person, short]), deal_row={"outcome": "open"}, max_people=5)
    first = _row_of(text, "AAAA")
    assert "\u2026" in first and long_title[:30] in first and long_title not in first
    assert "A" * 40 not in first
    assert _row_of(text, "Person 2").endswith("Business Operations Manager Benelux")  # whole, no padding


def test_score_suggests_the_account_a_mistyped_list_id_meant(data: Path, tmp_path: Path) -> None:
    import re

    import pandas as pd

    known = pd.read_parquet(data / "accounts.parquet")["account_id"].astype(str).tolist()
    real = known[0]
    # lower case and one zero of the padding dropped: what a hand-typed list gets wrong
    typo = re.sub(r"0(\d)", r"\1", real, count=1).lower()
    assert typo not in known
    listing = tmp_path / "list.csv"
    listing.write_text(f"account_id\n{known[-1]}\n{typo}\nNOT-AN-ACCOUNT\n", encoding="utf-8")
    result = runner.invoke(
        app,
        ["score", str(data), "--accounts", str(listing), "--out", str(tmp_path / "s.csv"), "--no-reasons"],
    )
    assert result.exit_code == 0, result.output
    assert f"hint: account {typo!r} of the list: did you mean {real!r}?" in result.output
    assert "'NOT-AN-ACCOUNT' of the list: did you mean" not in result.output


def test_evaluate_table_says_which_missed_goal_no_ranking_by_influence_can_meet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from influence.cli._model import _print_table
    from influence.evaluate import GOALS

    recall_goal, f1_goal = GOALS["hidden_influencer_recall_at_3"], GOALS["profile_macro_f1"]
    metrics = {
        "influence_roc_auc": 0.95,
        "baseline_title_roc_auc": 0.6,
        "ndcg_at_3": GOALS["ndcg_at_3"] + 0.05,
        "hidden_influencer_recall_at_3": recall_goal - 0.2,
        "oracle_hidden_influencer_recall_at_3": recall_goal - 0.05,  # the goal sits above the ceiling
        "hidden_influencer_recall_ceiling_at_3": 0.93,
        "profile_macro_f1": f1_goal - 0.1,
    }
    _print_table(metrics)
    text = capsys.readouterr().out
    missed = _row_of(text, "goals missed")
    assert f"hidden_influencer_recall_at_3 {recall_goal - 0.2:.3f} < {recall_goal:.2f}" in missed
    assert f"above the oracle's {recall_goal - 0.05:.3f}: out of reach" in missed
    profile_part = missed.split("profile_macro_f1", 1)[1]
    assert "out of reach" not in profile_part  # no oracle for profiles: a plain miss
    assert "ndcg_at_3" not in missed and "influence_roc_auc" not in missed
    ceilings = _row_of(text, "hidden recall@3 ceilings")
    assert (
        f"{recall_goal - 0.05:.3f} ranking by true influence" in ceilings
        and "0.930 for any ranking" in ceilings
    )


@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_a_missing_data_folder_says_how_to_create_it(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "interim" / "eval-500-seed2027"
    result = runner.invoke(app, [command, str(missing), "--no-tracking"])
    assert result.exit_code == 1, result.output
    assert f"influence generate --out {missing}" in result.output
    assert isinstance(result.exception, SystemExit)


def test_dmu_says_so_when_nobody_is_active_in_a_deal() -> None:
    empty = _report([]) | {"gaps": ["no buyer-side activity recorded for this deal yet"]}
    text = format_deal(empty, deal_row={"outcome": "open"}, max_people=5)
    assert "nobody on the buyer side is active in this deal yet" in text  # as docs/scoring.md promises
    assert "engaged" not in text.split("Next-best contacts:", 1)[1]


def test_dmu_explains_an_empty_next_best_list_truthfully() -> None:
    from influence.coverage import NEXT_BEST_MIN_INFLUENCE

    faint = [_person(1, NEXT_BEST_MIN_INFLUENCE - 0.05, "end_user", 0.9)]
    text = format_deal(_report(faint), deal_row={}, max_people=5)
    tail = text.split("Next-best contacts:", 1)[1]
    assert f"nobody reaches {NEXT_BEST_MIN_INFLUENCE:.2f} influence" in tail
    assert "engaged" not in tail  # nobody influential, so "everyone is engaged" would be false
    strong = [_person(1, NEXT_BEST_MIN_INFLUENCE + 0.2, "end_user", 0.9)]
    tail = format_deal(_report(strong), deal_row={}, max_people=5).split("Next-best contacts:", 1)[1]
    assert "already engaged" in tail and "nobody reaches" not in tail


_MBOX = (
    "From anna@acme.example Mon Jan 15 10:00:00 2024\n"
    "From: Anna <anna@acme.example>\n"
    "To: sam@seller.example, bart@acme.example\n"
    "Date: Mon, 15 Jan 2024 10:00:00 +0100\n"
    "Message-ID: <m1@acme.example>\n"
    "Subject: Offer\n\nbody\n"
)


def test_an_import_of_nothing_fails_and_leaves_no_empty_dataset_behind(tmp_path: Path) -> None:
    wrong = tmp_path / "Account.csv"  # a CRM export handed to the mail importer
    wrong.write_text("Id,Name\n001,Acme\n", encoding="utf-8")
    out = tmp_path / "mail-ds"
    result = runner.invoke(app, ["import", "mbox", str(wrong), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "not an mbox file" in result.output  # the reject is still shown with its reason
    assert "nothing imported from the mbox input: all 1 record(s) were rejected" in result.output
    assert not out.exists()
    fixed = tmp_path / "inbox.mbox"
    fixed.write_text(_MBOX, encoding="utf-8")
    again = runner.invoke(
        app, ["import", "mbox", str(fixed), "--out", str(out), "--seller-domain", "seller.example"]
    )
    assert again.exit_code == 0, again.output  # no --overwrite needed: the failed run kept nothing


def test_a_crm_export_with_headers_only_is_an_error(tmp_path: Path) -> None:
    export = tmp_path / "sf"
    export.mkdir()
    for name, header in (
        ("Account", "Id,Name"),
        ("Contact", "Id,AccountId,Email"),
        ("Opportunity", "Id,AccountId,CreatedDate"),
    ):
        (export / f"{name}.csv").write_text(header + "\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()  # an empty folder the user made: kept, but no empty tables in it
    result = runner.invoke(app, ["import", "salesforce", str(export), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "nothing imported from the salesforce input: the input holds no record" in result.output
    assert out.is_dir() and not any(out.iterdir())


def test_a_calendar_of_nothing_leaves_the_dataset_it_merges_into_as_it_was(tmp_path: Path) -> None:
    fixed = tmp_path / "inbox.mbox"
    fixed.write_text(_MBOX, encoding="utf-8")
    out = tmp_path / "ds"
    made = runner.invoke(
        app, ["import", "mbox", str(fixed), "--out", str(out), "--seller-domain", "seller.example"]
    )
    assert made.exit_code == 0, made.output
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calendar = tmp_path / "cal.ics"
    calendar.write_text("Id,Name\n001,Acme\n", encoding="utf-8")  # not iCalendar at all
    result = runner.invoke(app, ["import", "ics", str(calendar), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert f"the dataset in {out} is unchanged" in result.output
    assert {p.name for p in out.iterdir()} == set(before)
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0


def test_train_into_a_folder_models_are_not_loaded_from_says_how_to_load_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from influence.bundle import BundleError, check_model_location
    from influence.cli._model import _load_hint
    from influence.settings import default_model_path

    monkeypatch.delenv("INFLUENCE_MODEL_ROOTS", raising=False)
    bundle = tmp_path / "models" / "mine" / "20260101T000000Z"
    bundle.mkdir(parents=True)
    with pytest.raises(BundleError):
        check_model_location(bundle)
    hint = _load_hint(bundle)
    assert hint is not None and f"--model {bundle}" in hint
    roots = hint.split("INFLUENCE_MODEL_ROOTS=", 1)[1].split(" and pass", 1)[0]
    monkeypatch.setenv("INFLUENCE_MODEL_ROOTS", roots)
    check_model_location(bundle)  # the suggested setting lets it load ...
    check_model_location(default_model_path())  # ... and still the shipped model
    assert _load_hint(bundle) is None


@pytest.mark.parametrize(
    ("table", "name", "advice"),
    [
        ("signals", "signals.txt", "if it is CSV, rename it to signals.csv"),
        ("people", "People.CSV", "rename it to people.csv"),
        ("accounts", "accounts.xlsx", "export it from the spreadsheet as CSV (UTF-8) to accounts.csv"),
    ],
)
def test_validate_names_a_table_file_it_does_not_read(
    csv_data: Path, tmp_path: Path, table: str, name: str, advice: str
) -> None:
    import shutil

    folder = tmp_path / "ds"
    shutil.copytree(csv_data, folder)
    (folder / f"{table}.csv").rename(folder / name)
    result = runner.invoke(app, ["validate", str(folder)])
    assert f"hint: {name} is not read: only {table}.csv or {table}.parquet (lower case) is; {advice}" in (
        result.output
    )


def test_validate_does_not_blame_other_tables_for_a_table_nothing_references(
    csv_data: Path, tmp_path: Path
) -> None:
    import shutil

    folder = tmp_path / "ds"
    shutil.copytree(csv_data, folder)
    (folder / "signals.csv").write_bytes(b"")  # nothing references signals
    (folder / "signals.xlsx").write_bytes(b"PK")  # the export the user meant
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 1, result.output
    assert "signals.csv:-:-: file is empty" in result.output
    assert "rows of other tables that reference it" not in result.output
    assert "hint: signals.xlsx is not read: the signals table comes from signals.csv" in result.output


def test_forget_dry_run_speaks_of_what_it_would_do(data: Path) -> None:
    import pandas as pd

    people = pd.read_parquet(data / "people.parquet")
    email = str(people.loc[people["side"] == "buyer", "email"].dropna().iloc[0])
    result = runner.invoke(app, ["forget", str(data), "--email", email, "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        lines[0]
        == f"DRY RUN, nothing written: would forget {email} (person_id {people.loc[people['email'] == email, 'person_id'].iloc[0]})"
    )
    assert "people: would remove 1 row(s)" in result.output
    assert "forgot" not in result.output and ": removed" not in result.output  # nothing was removed
    assert lines[-1].endswith("row(s) would be removed")


def test_evaluate_table_keeps_goals_the_data_cannot_measure_apart_from_missed_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from influence.cli._model import _print_table
    from influence.evaluate import GOALS

    metrics = {  # a tiny CRM export: every labelled person is a key influencer, so no ROC-AUC
        "influence_roc_auc": float("nan"),
        "baseline_title_roc_auc": float("nan"),
        "ndcg_at_3": GOALS["ndcg_at_3"] + 0.05,
        "hidden_influencer_recall_at_3": 1.0,
        "profile_macro_f1": GOALS["profile_macro_f1"] - 0.25,
    }
    _print_table(metrics)
    text = capsys.readouterr().out
    missed = _row_of(text, "goals missed")
    assert "profile_macro_f1" in missed and "influence_roc_auc" not in missed and "lift" not in missed
    unmeasurable = _row_of(text, "goals not measurable on this data")
    assert "influence_roc_auc, roc_auc_lift_over_title_0.15" in unmeasurable
    assert "profile_macro_f1" not in unmeasurable


def test_import_eml_of_an_outlook_folder_says_what_to_do_with_msg_files(tmp_path: Path) -> None:
    source = tmp_path / "outlook"
    (source / "Inbox").mkdir(parents=True)
    (source / "Inbox" / "RE offer.msg").write_bytes(b"\xd0\xcf\x11\xe0")  # OLE2, as Outlook saves a message
    result = runner.invoke(app, ["import", "eml", str(source), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "no .eml file found" in result.output
    assert ".msg files are Outlook's own format: save the messages as .eml" in result.output
    assert "import mbox" not in result.output  # no .mbox there: no advice about one


@pytest.mark.parametrize(
    "args",
    [
        ["score", "{d}", "--out", "{t}/s.csv", "--no-reasons"],
        ["dmu", "{d}"],
        ["report", "{d}", "--out", "{t}/r.html"],
        ["features", "{d}", "--out", "{t}/f.csv"],
        ["evaluate", "{d}", "--no-tracking"],
    ],
    ids=lambda args: args[0],
)
def test_a_bad_row_stops_every_command_naming_it_and_how_to_see_them_all(
    csv_data: Path, tmp_path: Path, args: list[str]
) -> None:
    import shutil

    folder = tmp_path / "ds"
    shutil.copytree(csv_data, folder)
    path = folder / "deals.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = lines[1].split(",")
    assert lines[0].split(",")[2] == "created_at"
    cells[2] = "27-11-2023 7am"  # a date as a person types it
    lines[1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, [a.format(d=folder, t=tmp_path) for a in args])
    assert result.exit_code == 1, result.output
    assert "deals.csv:1:created_at: '27-11-2023 7am'" in result.output
    assert f"hint: `influence validate {folder} --rejects rejects.csv` lists every problem" in result.output
    assert isinstance(result.exception, SystemExit)


def test_generate_never_replaces_a_dataset_by_accident(tmp_path: Path) -> None:
    mbox = tmp_path / "inbox.mbox"
    mbox.write_text(_MBOX, encoding="utf-8")
    real = tmp_path / "real"  # a user's imported mail
    assert runner.invoke(app, ["import", "mbox", str(mbox), "--out", str(real)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in real.iterdir()}
    result = runner.invoke(app, ["generate", "--out", str(real), "--accounts", "1", "--seed", "3"])
    assert result.exit_code == 1, result.output
    assert "already holds a dataset" in result.output and "--overwrite" in result.output
    assert {p.name: p.read_bytes() for p in real.iterdir()} == before
    forced = [
        "generate",
        "--out",
        str(real),
        "--accounts",
        "1",
        "--seed",
        "3",
        "--format",
        "csv",
        "--overwrite",
    ]
    assert runner.invoke(app, forced).exit_code == 0
    assert not list(real.glob("*.parquet"))  # replaced whole: no table of the imported data left beside
    assert runner.invoke(app, ["validate", str(real)]).exit_code == 0


def test_dmu_with_as_of_picks_the_deals_that_existed_then_and_calls_them_open() -> None:
    import pandas as pd

    from influence.cli._dmu import _as_known, pick_deals

    ts = pd.Timestamp
    deals = pd.DataFrame(
        {
            "deal_id": ["later", "won-after", "lost-before", "open-old"],
            "outcome": ["open", "won", "lost", "open"],
            "created_at": [
                ts("2025-03-01", tz="UTC"),
                ts("2024-11-01", tz="UTC"),
                ts("2024-02-01", tz="UTC"),
                ts("2024-01-01", tz="UTC"),
            ],
            "closed_at": [pd.NaT, ts("2025-02-01", tz="UTC"), ts("2024-05-01", tz="UTC"), pd.NaT],
        }
    )
    as_of = ts("2025-01-01", tz="UTC")
    assert pick_deals(deals, [], 3) == ["later", "open-old", "won-after"]  # today: the open ones first
    # As of 2025-01-01, "later" did not exist and "won-after" was still open (and newer than "open-old").
    assert pick_deals(deals, [], 3, as_of) == ["won-after", "open-old", "lost-before"]
    row = deals.iloc[1].to_dict()
    assert _as_known(row, as_of)["outcome"] == "open as of 2025-01-01 (later won)"
    assert _as_known(row, None)["outcome"] == "won"
    assert _as_known(deals.iloc[2].to_dict(), as_of)["outcome"] == "lost"


def test_dmu_of_a_deal_created_after_as_of_says_it_did_not_exist_yet(data: Path) -> None:
    import pandas as pd

    deals = pd.read_parquet(data / "deals.parquet")
    deal = deals.sort_values("created_at").iloc[-1]
    before = (deal["created_at"] - pd.Timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = runner.invoke(app, ["dmu", str(data), "--deal", str(deal["deal_id"]), "--as-of", before])
    assert result.exit_code == 0, result.output
    assert f"Deal {deal['deal_id']}: created {deal['created_at']:%Y-%m-%d}" in result.output
    assert "it did not exist yet" in result.output and "nobody on the buyer side" not in result.output


def test_report_as_of_a_past_date_shows_a_deal_closed_later_as_open(data: Path, tmp_path: Path) -> None:
    import pandas as pd

    deals = pd.read_parquet(data / "deals.parquet")
    closed = deals[deals["closed_at"].notna()].iloc[0]
    middle = closed["created_at"] + (closed["closed_at"] - closed["created_at"]) / 2
    out = tmp_path / "r.html"
    args = ["report", str(data), "--out", str(out), "--as-of", middle.strftime("%Y-%m-%dT%H:%M:%SZ")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    heading = text.split(f"Deal {closed['deal_id']} — ", 1)[1].split(" — ", 1)[0]
    assert heading == "open", heading  # not its later outcome, nor its closing stage


@pytest.mark.parametrize(
    ("files", "command"),
    [
        ({"Account.csv": "Id,Name\n001,Acme\n", "Opportunity.csv": "Id,AccountId\n006,001\n"}, "salesforce"),
        (
            {"companies.csv": "Record ID,Name\n1,A\n", "deals.csv": "Record ID,Create Date\n3,2024-01-01\n"},
            "hubspot",
        ),
        ({"inbox.mbox": _MBOX}, "mbox"),
    ],
    ids=["salesforce", "hubspot", "mbox"],
)
def test_validating_a_raw_export_says_to_import_it_first(
    tmp_path: Path, files: dict[str, str], command: str
) -> None:
    export = tmp_path / "export"
    export.mkdir()
    for name, text in files.items():
        (export / name).write_text(text, encoding="utf-8")
    for args in (["validate", str(export)], ["score", str(export), "--out", str(tmp_path / "s.csv")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert f"`influence import {command} " in result.output, result.output
        assert "did you mean" not in result.output  # HubSpot's deals.csv is no misspelt contract table
        assert "Traceback" not in result.output


def test_validate_asks_once_to_fix_a_file_rejected_for_several_columns(
    csv_data: Path, tmp_path: Path
) -> None:
    import shutil

    folder = tmp_path / "ds"
    shutil.copytree(csv_data, folder)
    path = folder / "deals.csv"
    head, rest = path.read_text(encoding="utf-8").split("\n", 1)
    path.write_text(
        head.replace("deal_id", "Deal").replace("outcome", "Result") + "\n" + rest, encoding="utf-8"
    )
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 1
    fix = [line for line in result.output.splitlines() if line.startswith("hint: fix deals.csv first")]
    assert len(fix) == 1, fix
    assert "'deal_id'" in fix[0] and "'outcome'" in fix[0]


def test_dmu_names_a_nameless_next_best_contact_as_the_ranked_list_does() -> None:
    nameless = _person(1, 0.8, "end_user", 0.9) | {"full_name": None, "email": "carla@acme.example"}
    report = _report([nameless]) | {
        "next_best_contacts": [
            {"rank": 1, "person_id": "P-1", "full_name": None, "title": None, "profile": "end_user",
             "influence": 0.8, "angle": "a demo"}
        ]
    }  # fmt: skip
    text = format_deal(report, deal_row={}, max_people=5)
    assert "carla@acme.example" in _row_of(text, "0.80  end_user")
    contact = text.split("Next-best contacts:", 1)[1]
    assert "1. carla@acme.example (no title)" in contact and "P-1" not in contact


@pytest.mark.parametrize(
    "args",
    [
        ["score", "{d}", "--out", "{t}/s.csv"],
        ["report", "{d}", "--out", "{t}/r.html"],
        ["dmu", "{d}"],
        ["features", "{d}", "--out", "{t}/f.csv"],
    ],
    ids=lambda args: args[0],
)
def test_an_unreadable_as_of_is_named_as_the_option_the_user_typed(
    data: Path, tmp_path: Path, args: list[str]
) -> None:
    result = runner.invoke(app, [a.format(d=data, t=tmp_path) for a in args] + ["--as-of", "2025-06-30"])
    assert result.exit_code == 1, result.output
    assert "error: --as-of: as_of 2025-06-30 has no time zone; add Z for UTC" in result.output
    assert isinstance(result.exception, SystemExit) and not list(tmp_path.iterdir())
