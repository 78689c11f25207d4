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
