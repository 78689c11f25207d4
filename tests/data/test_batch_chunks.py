"""Chunked folder reading for batch scoring (`influence.chunks`): the same scores as the whole-dataset path, the
same validation report as `data.load_with_report` (file row numbers, rejects, counts), any number of workers,
and a rerun after a killed job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from influence.batch import remove_stale_temporaries, score_accounts
from influence.chunks import validate_folder
from influence.contract import write_dataset
from influence.data import DatasetError, load, load_with_report

N_ACCOUNTS = 7


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory):
    from influence.generate import generate

    root = tmp_path_factory.mktemp("chunks")
    ds = generate(N_ACCOUNTS, 21)
    return {
        "ds": ds,
        "parquet": write_dataset(ds, root / "parquet"),
        "csv": write_dataset(ds, root / "csv", fmt="csv"),
    }


@pytest.fixture(scope="module")
def workspace(dataset, tmp_path_factory: pytest.TempPathFactory, unit_bundle):
    from influence.bundle import save_bundle
    from influence.predict import Scorer

    root = tmp_path_factory.mktemp("chunk-models")
    return {**dataset, "model": save_bundle(unit_bundle, root / "models"), "scorer": Scorer(unit_bundle)}


def _broken(ds, out: Path, fmt: str) -> Path:  # noqa: ANN001
    """The generated dataset with one of each kind of problem, rows shuffled so no table is in account order."""
    t = {name: ds[name].copy() for name in ds}
    deals = t["deals"]
    accounts = list(t["accounts"]["account_id"])
    deal_a = deals.loc[deals["account_id"] == accounts[0], "deal_id"].iloc[0]
    deal_b = deals.loc[deals["account_id"] == accounts[3], "deal_id"].iloc[0]
    meetings = t["meetings"].astype({"start_at": "string"})
    # the same meeting_id in another account's deal (a duplicate key across chunks, first row in the later chunk)
    dup = meetings[meetings["deal_id"] == deal_a].iloc[[0]].assign(deal_id=deal_b)
    meetings = pd.concat([dup, meetings], ignore_index=True)
    bad_meeting = meetings[meetings["deal_id"] == deal_b]["meeting_id"].iloc[-1]
    meetings.loc[meetings["meeting_id"] == bad_meeting, "start_at"] = (
        "yesterday"  # its attendees: rejected parent
    )
    t["meetings"] = meetings.sample(frac=1.0, random_state=1).reset_index(drop=True)
    t["deals"] = deals.astype({"outcome": "string"})
    t["deals"].loc[t["deals"]["deal_id"] == deals["deal_id"].iloc[-1], "outcome"] = "maybe"  # rejected deal
    emails = t["emails"].copy()
    emails.loc[emails.index[5], "sender_id"] = "P-NOBODY"
    emails.loc[emails.index[9], "message_id"] = emails.loc[emails.index[8], "message_id"]  # duplicate key
    t["emails"] = emails.sample(frac=1.0, random_state=2).reset_index(drop=True)
    recipients = t["email_recipients"].copy()
    recipients.loc[recipients.index[3], "message_id"] = "<unknown@nowhere>"
    t["email_recipients"] = recipients.sample(frac=1.0, random_state=3).reset_index(drop=True)
    people = t["people"].astype({"side": "string"})
    buyer = people[people["account_id"] == accounts[1]]["person_id"].iloc[0]
    people.loc[people["person_id"] == buyer, "side"] = "customer"  # rejected person: their events say so
    t["people"] = people
    signals = t["signals"].drop(
        columns=["detail"]
    )  # an absent nullable column: one warning, not one per chunk
    signals.loc[signals.index[0], "person_id"] = "P-GHOST"
    t["signals"] = signals.sample(frac=1.0, random_state=4).reset_index(drop=True)
    labels = t["labels"].astype({"profile": "string"})
    labels.loc[labels.index[2], "profile"] = "wizard"
    t["labels"] = labels
    folder = out / fmt
    folder.mkdir(parents=True)
    for name, frame in t.items():
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def _same_report(a, b) -> None:  # noqa: ANN001
    assert a.counts == b.counts
    assert a.files == b.files
    pd.testing.assert_frame_equal(
        a.problems_frame.reset_index(drop=True), b.problems_frame.reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(a.rejected.reset_index(drop=True), b.rejected.reset_index(drop=True))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_chunked_validation_reports_exactly_what_whole_loading_reports(
    workspace, tmp_path: Path, fmt: str
) -> None:
    folder = _broken(workspace["ds"], tmp_path, fmt)
    _, whole = load_with_report(folder)
    # the injected problems are all there, with file row numbers
    messages = " ".join(whole.problems_frame["message"])
    for fragment in ("duplicate key", "which was rejected", "not an ISO 8601", "unknown people.person_id 'P-NOBODY'",
                     "unknown emails.message_id", "'wizard'", "is absent; read as empty"):  # fmt: skip
        assert fragment in messages
    for chunk in (2, 100):
        _same_report(validate_folder(folder, tmp_path / f"spill-{chunk}", chunk_accounts=chunk), whole)
    assert not (tmp_path / "spill-2").exists()
    assert sum(c.read for c in whole.counts.values()) == sum(
        c.accepted + c.rejected for c in whole.counts.values()
    )


def test_scoring_a_broken_folder_fails_like_load_and_writes_nothing(workspace, tmp_path: Path) -> None:
    folder = _broken(workspace["ds"], tmp_path, "parquet")
    with pytest.raises(DatasetError) as expected:
        load(folder)
    out = tmp_path / "out" / "people.csv"
    with pytest.raises(DatasetError) as got:
        score_accounts(folder, out, model=workspace["scorer"], chunk_accounts=2, progress=False)
    assert str(got.value) == str(expected.value)
    _same_report(got.value.report, expected.value.report)
    assert list(out.parent.iterdir()) == []  # no output, no temporary file


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_chunked_reading_scores_exactly_like_the_whole_dataset(workspace, tmp_path: Path, fmt: str) -> None:
    whole = tmp_path / "whole.csv"
    score_accounts(load(workspace[fmt]), whole, model=workspace["scorer"], chunk_accounts=3, progress=False)
    chunked = tmp_path / "chunked.csv"
    summary = score_accounts(
        workspace[fmt], chunked, model=workspace["scorer"], chunk_accounts=3, progress=False
    )
    assert chunked.read_bytes() == whole.read_bytes()
    assert summary.accounts_scored == N_ACCOUNTS and summary.people == len(pd.read_csv(whole))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunked.csv", "whole.csv"]


def test_account_list_order_and_other_accounts_people(workspace, tmp_path: Path) -> None:
    """A listed subset in list order; a buyer of another account attending a meeting brings their own signals."""
    ds = workspace["ds"]
    tables = {name: ds[name].copy() for name in ds}
    accounts = list(ds.accounts["account_id"])
    deal = ds.deals.loc[ds.deals["account_id"] == accounts[2], "deal_id"].iloc[0]
    meeting = ds.meetings.loc[ds.meetings["deal_id"] == deal, "meeting_id"].iloc[0]
    people = ds.people
    visitor = people.loc[people["account_id"] == accounts[5], "person_id"].iloc[0]
    assert (ds.signals["person_id"] == visitor).any()
    extra = pd.DataFrame(
        {"meeting_id": [meeting], "person_id": [visitor], "response": ["accepted"], "attended": [True]}
    )
    tables["meeting_attendees"] = pd.concat([extra, ds.meeting_attendees], ignore_index=True).astype(
        ds.meeting_attendees.dtypes.to_dict()
    )
    folder = write_dataset(tables, tmp_path / "data")
    wanted = [accounts[4], accounts[2], accounts[0]]
    whole = tmp_path / "whole.parquet"
    chunked = tmp_path / "chunked.parquet"
    score_accounts(
        load(folder), whole, accounts=wanted, model=workspace["scorer"], chunk_accounts=2, progress=False
    )
    score_accounts(
        folder, chunked, accounts=wanted, model=workspace["scorer"], chunk_accounts=2, progress=False
    )
    a, b = pd.read_parquet(whole), pd.read_parquet(chunked)
    pd.testing.assert_frame_equal(a, b)
    seen = list(dict.fromkeys(b["account_id"]))  # chunks in list order (rows sorted within a chunk)
    assert set(seen[:2]) == set(wanted[:2]) and seen[2:] == wanted[2:]
    assert visitor in set(b.loc[b["deal_id"] == deal, "person_id"])


def test_two_workers_give_the_same_file(workspace, tmp_path: Path) -> None:
    one = tmp_path / "one.parquet"
    two = tmp_path / "two.parquet"
    deals = tmp_path / "deals.csv"
    score_accounts(workspace["parquet"], one, model=workspace["scorer"], chunk_accounts=2, progress=False)
    summary = score_accounts(
        workspace["parquet"], two, model=workspace["scorer"], chunk_accounts=2, progress=False, workers=2,
        deals_out=deals,
    )  # fmt: skip
    pd.testing.assert_frame_equal(pd.read_parquet(one), pd.read_parquet(two))
    assert summary.accounts_scored == N_ACCOUNTS
    assert len(pd.read_csv(deals)) == len(workspace["ds"].deals)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deals.csv", "one.parquet", "two.parquet"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_jobs_are_removed_and_live_ones_kept(tmp_path: Path, monkeypatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "people.csv"
    dead = _dead_pid()
    stale_file = out_dir / f".people.csv.{dead}.tmp"
    stale_spill = scratch / f"influence-spill.{dead}.abc123"
    live = out_dir / f".people.csv.{os.getppid()}.tmp"  # a running process: maybe another job, keep it
    live_spill = scratch / f"influence-spill.{os.getppid()}.def456"
    other = out_dir / f".deals.csv.{dead}.tmp"  # another output's: not this job's to remove
    for path in (stale_file, live, other):
        path.write_text("partial")
    for folder in (stale_spill, live_spill):
        folder.mkdir()
        (folder / "meetings.0.arrow").write_bytes(b"x")
    removed = remove_stale_temporaries(out)
    assert sorted(removed) == sorted([stale_file, stale_spill])
    assert sorted(p.name for p in out_dir.iterdir()) == sorted([live.name, other.name])
    assert [p.name for p in scratch.iterdir()] == [live_spill.name]


def test_a_killed_job_leaves_no_output_and_a_rerun_finishes_it(
    workspace, tmp_path: Path, monkeypatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "people.csv"
    cmd = [
        str(Path(sys.executable).parent / "influence"), "score", str(workspace["parquet"]), "--out", str(out),
        "--model", str(workspace["model"]), "--chunk-accounts", "1", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "TMPDIR": str(scratch), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    partial = out_dir / f".people.csv.{proc.pid}.tmp"
    while not partial.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if proc.poll() is not None:
        error = proc.stderr.read().decode()[-1000:]
        assert proc.returncode == 0, error
        pytest.skip(f"the job ended before it could be killed: {error}")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # the output never looks complete when the job died
    assert partial.exists()
    assert any(p.name.startswith(f"influence-spill.{proc.pid}.") for p in scratch.iterdir())
    from typer.testing import CliRunner

    from influence.cli import app

    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    result = CliRunner().invoke(app, cmd[1:])
    assert result.exit_code == 0, result.output
    assert [p.name for p in out_dir.iterdir()] == ["people.csv"]
    assert not [p for p in scratch.iterdir() if p.name.startswith("influence-spill.")]
    expected = tmp_path / "expected.csv"
    score_accounts(
        workspace["parquet"], expected, model=workspace["scorer"], chunk_accounts=1, progress=False
    )
    assert out.read_bytes() == expected.read_bytes()


def test_large_table_lookups_report_exactly_what_the_plain_paths_report(
    workspace, tmp_path: Path, monkeypatch
) -> None:
    """The lookups that pay on large tables (value sets narrowed to the values asked about, the deals' first rows
    kept on their run, people found by hash) give the very report of the plain paths, chunked or whole."""
    import influence.data as data

    folder = _broken(workspace["ds"], tmp_path, "parquet")
    _, plain = load_with_report(folder)
    monkeypatch.setattr(data, "SMALL_TABLE_ROWS", 0)  # the large-table code paths on this small folder
    monkeypatch.setattr(data, "NARROW_MIN_KEYS", 1)
    monkeypatch.setattr(data, "NARROW_RATIO", 0)  # narrow every value set, however few keys it would drop
    _same_report(load_with_report(folder)[1], plain)
    _same_report(validate_folder(folder, tmp_path / "spill", chunk_accounts=2), plain)


def _in_row_groups(folder: Path, out: Path, rows: int) -> Path:
    """The Parquet folder rewritten with row groups of `rows` rows (shuffled files stay shuffled)."""
    import pyarrow.parquet as pq

    out.mkdir(parents=True)
    for path in folder.glob("*.parquet"):
        pq.write_table(pq.read_table(path), out / path.name, row_group_size=rows)
    return out


def test_large_tables_spilled_in_parts_read_back_in_file_order(
    workspace, tmp_path: Path, monkeypatch
) -> None:
    """Tables cut into parts (runs of row groups) for the two spill threads give the very report and scores of
    the unparted path: each chunk's rows come back in file order, row numbers and rejects included."""
    from influence import chunks

    broken = _in_row_groups(_broken(workspace["ds"], tmp_path, "parquet"), tmp_path / "broken-rg", 37)
    clean = _in_row_groups(workspace["parquet"], tmp_path / "clean-rg", 37)
    _, plain = load_with_report(broken)
    whole = tmp_path / "whole.parquet"
    score_accounts(clean, whole, model=workspace["scorer"], chunk_accounts=2, progress=False)
    monkeypatch.setattr(chunks, "PART_ROWS", 100)
    plan = chunks.plan_folder(clean, None, 2, tmp_path / "spill")
    assert plan.parts["email_recipients"] > 1 and plan.parts["meeting_attendees"] > 1  # the parts path is run
    plan.close()
    _same_report(validate_folder(broken, tmp_path / "spill-broken", chunk_accounts=2), plain)
    parted = tmp_path / "parted.parquet"
    score_accounts(clean, parted, model=workspace["scorer"], chunk_accounts=2, progress=False, workers=2)
    pd.testing.assert_frame_equal(pd.read_parquet(whole), pd.read_parquet(parted))
