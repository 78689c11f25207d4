"""Batch scoring: chunking changes nothing, account lists are checked, unknown accounts are reported, and a
failed job never leaves a file that looks complete."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from influence.batch import AccountListError, read_account_list, score_accounts
from influence.contract import write_dataset

N_ACCOUNTS = 7


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, unit_bundle):
    """A generated dataset folder (fixed seed), a small trained bundle on disk, and its Scorer."""
    from influence.bundle import save_bundle
    from influence.generate import generate
    from influence.predict import Scorer

    root = tmp_path_factory.mktemp("batch")
    bundle = unit_bundle
    model_dir = save_bundle(bundle, root / "models")
    ds = generate(N_ACCOUNTS, 21)
    data_dir = write_dataset(ds, root / "data")
    return {"root": root, "data": data_dir, "model": model_dir, "scorer": Scorer(bundle), "ds": ds}


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["deal_id", "person_id"]).reset_index(drop=True)


def test_chunked_output_equals_one_chunk_and_covers_every_feature_row(workspace, tmp_path: Path) -> None:
    from influence.features import build_features

    one = score_accounts(
        workspace["data"], tmp_path / "one.parquet", model=workspace["scorer"], progress=False
    )
    many = score_accounts(
        workspace["data"],
        tmp_path / "many.parquet",
        model=workspace["scorer"],
        chunk_accounts=2,
        progress=False,
    )
    a = _sorted(pd.read_parquet(tmp_path / "one.parquet"))
    b = _sorted(pd.read_parquet(tmp_path / "many.parquet"))
    pd.testing.assert_frame_equal(a, b)
    # rows out = the feature rows of the whole dataset (active people plus CRM ties): nobody dropped or invented
    ds = workspace["ds"]
    crm_ties = ds.labels[ds.labels["source"].astype(str).str.startswith("crm_")]
    expected = build_features(ds, pairs=crm_ties)[["deal_id", "person_id"]]
    assert len(a) == len(expected) == one.people == many.people
    assert set(zip(a["deal_id"], a["person_id"], strict=True)) == set(
        zip(expected["deal_id"], expected["person_id"], strict=True)
    )
    assert one.accounts_scored == many.accounts_scored == N_ACCOUNTS
    assert one.deals == many.deals == len(workspace["ds"].deals)
    assert all(isinstance(r, str) and r for r in a["reasons"].iloc[0])  # a list of sentences in Parquet
    assert a["influence_rank"].min() == 1


def test_csv_joins_reasons_and_matches_parquet(workspace, tmp_path: Path) -> None:
    score_accounts(workspace["data"], tmp_path / "p.parquet", model=workspace["scorer"], progress=False)
    score_accounts(workspace["data"], tmp_path / "p.csv", model=workspace["scorer"], progress=False)
    parquet = _sorted(pd.read_parquet(tmp_path / "p.parquet"))
    text = _sorted(pd.read_csv(tmp_path / "p.csv", keep_default_na=False))
    assert len(parquet) == len(text)
    assert [" | ".join(r) for r in parquet["reasons"]] == text["reasons"].tolist()
    assert (parquet["influence"] - text["influence"].astype(float)).abs().max() < 1e-12


def test_account_list_subset_and_unknown_accounts_are_reported(workspace, tmp_path: Path) -> None:
    ids = workspace["ds"].accounts["account_id"].astype(str).tolist()
    listing = tmp_path / "accounts.csv"
    listing.write_text(f"name,account_id\nx,{ids[2]}\ny,NOPE-9\nz,{ids[0]}\nz,{ids[0]}\n")
    said: list[str] = []
    summary = score_accounts(
        workspace["data"],
        tmp_path / "sub.csv",
        accounts=listing,
        model=workspace["scorer"],
        progress=False,
        echo=said.append,
    )
    assert summary.unknown_accounts == ["NOPE-9"]
    assert summary.accounts_requested == 3 and summary.accounts_scored == 2
    assert any("NOPE-9" in m for m in said)
    assert "1 unknown account(s)" in summary.format()
    out = pd.read_csv(tmp_path / "sub.csv")
    assert set(out["account_id"]) == {ids[0], ids[2]}


def test_a_list_with_no_known_account_is_an_error_and_writes_nothing(workspace, tmp_path: Path) -> None:
    listing = tmp_path / "accounts.csv"
    listing.write_text("account_id\nNOPE-1\nNOPE-2\n")
    out = tmp_path / "none.csv"
    with pytest.raises(AccountListError, match="none of the 2 account id"):
        score_accounts(workspace["data"], out, accounts=listing, model=workspace["scorer"], progress=False)
    assert not out.exists()
    assert not list(tmp_path.glob(".none.csv*"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ("customer\nA-1\n", "no 'account_id' column"),
        ("account_id\n", "no account ids"),
        ("account_id,name\nA-1,x\n,y\n", "row 2: account_id is empty"),
    ],
)
def test_bad_account_lists_are_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text(content)
    with pytest.raises(AccountListError, match=message) as info:
        read_account_list(listing)
    assert str(listing) in str(info.value)


@pytest.mark.parametrize(
    "content",
    [
        "\ufeffAccount ID;Name\nA-1;Acme; Ltd\nA-2;Beta\nA-1;Acme again\n",  # Excel, semicolon locale, BOM
        "AccountId\tName\nA-1\tAcme\nA-2\tBeta\n",  # tab-separated export
        "name,account_id\nAcme,A-1\nBeta,A-2\n",  # the contract's spelling, not first
    ],
)
def test_account_lists_saved_by_spreadsheets_are_read(tmp_path: Path, content: str) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text(content, encoding="utf-8")
    assert read_account_list(listing) == ["A-1", "A-2"]


def test_two_spellings_of_the_account_column_are_refused_not_guessed(tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text("Account ID,account-id\nA-1,B-1\n")
    with pytest.raises(AccountListError, match="no 'account_id' column"):
        read_account_list(listing)


def test_a_failure_mid_way_leaves_no_output_and_keeps_the_old_file(
    workspace, tmp_path: Path, monkeypatch
) -> None:
    from influence.predict import Scorer

    out = tmp_path / "people.csv"
    out.write_text("previous complete result\n")
    calls = {"n": 0}
    original = Scorer.score_dataset

    def flaky(self, ds, **kwargs):  # noqa: ANN001, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return original(self, ds, **kwargs)

    monkeypatch.setattr(Scorer, "score_dataset", flaky)
    with pytest.raises(RuntimeError, match="disk on fire"):
        score_accounts(workspace["data"], out, model=workspace["scorer"], chunk_accounts=2, progress=False)
    assert calls["n"] == 2
    assert out.read_text() == "previous complete result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["people.csv"]  # no temp file left behind


def test_cli_score_writes_and_summarises(workspace, tmp_path: Path) -> None:
    from influence.cli import app

    out = tmp_path / "cli.parquet"
    deals = tmp_path / "deals.csv"
    result = CliRunner().invoke(
        app,
        [
            "score",
            str(workspace["data"]),
            "--out",
            str(out),
            "--model",
            str(workspace["model"]),
            "--deals-out",
            str(deals),
            "--chunk-accounts",
            "3",
            "--no-progress",
        ],  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    assert f"scored {N_ACCOUNTS} of {N_ACCOUNTS} account(s)" in result.output
    assert "people/s" in result.output
    frame = pd.read_parquet(out)
    assert set(frame["model_version"]) == {f"unit/{workspace['model'].name}"}
    deal_rows = pd.read_csv(deals)
    assert len(deal_rows) == len(workspace["ds"].deals)
    assert deal_rows["model_version"].str.startswith("unit/").all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "x.txt"], "use a file name ending in .csv or .parquet"),
        (["--out", "x.csv", "--accounts", "MISSING.csv"], "account list not found"),
        (["--out", "x.csv", "--as-of", "2024-01-01"], "no time zone"),
        (["--out", "x.csv", "--model", "no/such/model"], "no model bundle"),
    ],
)
def test_cli_user_errors_exit_1_with_a_message(
    workspace, tmp_path: Path, args: list[str], message: str
) -> None:
    from influence.cli import app

    args = [a if not a.endswith((".csv", ".txt")) else str(tmp_path / a) for a in args]
    if "--model" not in args:
        args += ["--model", str(workspace["model"])]
    result = CliRunner().invoke(app, ["score", str(workspace["data"]), *args, "--no-progress"])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_accounts_without_deals_give_a_valid_empty_file(workspace, tmp_path: Path, suffix: str) -> None:
    from influence.contract import Dataset

    ds = workspace["ds"]
    tables = dict(ds.tables)
    extra = ds.accounts.iloc[:1].copy()
    extra["account_id"] = "A-NO-DEALS"
    tables["accounts"] = pd.concat([ds.accounts, extra], ignore_index=True)
    out = tmp_path / f"empty{suffix}"
    summary = score_accounts(
        Dataset(tables), out, accounts=["A-NO-DEALS"], model=workspace["scorer"], progress=False
    )
    assert (summary.accounts_scored, summary.people, summary.deals) == (1, 0, 0)
    frame = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert len(frame) == 0 and {"person_id", "influence", "reasons", "model_version"} <= set(frame.columns)


def test_an_account_without_deals_is_named_in_the_summary(workspace, tmp_path: Path) -> None:
    from influence.contract import TABLE_ORDER, Dataset

    ds = workspace["ds"]
    frames = {name: getattr(ds, name) for name in TABLE_ORDER}
    extra = frames["accounts"].iloc[[0]].copy()
    extra["account_id"] = "EMPTY-1"
    frames["accounts"] = pd.concat([frames["accounts"], extra], ignore_index=True)
    summary = score_accounts(
        Dataset.from_frames(frames), tmp_path / "s.csv", model=workspace["scorer"], progress=False
    )
    assert summary.accounts_without_people == ["EMPTY-1"]
    assert "1 account(s) with nobody to score" in summary.format() and "EMPTY-1" in summary.format()
    assert "EMPTY-1" not in set(pd.read_csv(tmp_path / "s.csv")["account_id"])
