"""Mail importer (mbox, .eml): headers only, threads, accounts, sides, and every bad input rejected with a reason."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from influence.cli import app
from influence.data import load, validate
from influence.importers import ImporterError, import_eml, import_mbox

BODY_MARKER = "BODY-MARKER-7f3a9c-never-stored"


def _msg(
    mid: str | None,
    date: str | None,
    frm: str | None,
    to: str = "",
    cc: str = "",
    subject: str = "Hello",
    extra: str = "",
    body: str = "",
) -> str:
    lines = [f"From sender@example.com {date or 'Mon Jan  1 00:00:00 2024'}"]
    if frm is not None:
        lines.append(f"From: {frm}")
    if to:
        lines.append(f"To: {to}")
    if cc:
        lines.append(f"Cc: {cc}")
    if date is not None:
        lines.append(f"Date: {date}")
    if mid is not None:
        lines.append(f"Message-ID: {mid}")
    lines.append(f"Subject: {subject}")
    if extra:
        lines.append(extra)
    lines.append("")
    lines.append(body or f"Confidential pricing {BODY_MARKER}\n>From the desk of the CFO {BODY_MARKER}")
    lines.append("")
    return "\n".join(lines) + "\n"


def _good_mbox() -> str:
    """A small realistic sales conversation: seller vendor.io, buyer acme.nl, a partner, RFC 2047 names."""
    return "".join(
        [
            _msg(
                "<m1@vendor.io>",
                "Mon, 04 Mar 2024 09:00:00 +0100",
                '"Sam Seller" <sam@vendor.io>',
                to="=?utf-8?q?J=C3=B6rg_M=C3=BCller?= <Joerg.Mueller@ACME.nl>",
                cc="Pat Partner <pat@advisors.com>",
                subject="Pricing proposal",
            ),
            _msg(
                "<m2@acme.nl>",
                "Tue, 05 Mar 2024 10:00:00 +0100",
                "=?iso-8859-1?b?SvZyZyBN/GxsZXI=?= <joerg.mueller@acme.nl>",
                to="Sam Seller <sam@vendor.io>",
                cc="Ann Buyer <ann@acme.nl>, sam@vendor.io",
                subject="RE: Pricing proposal",
                extra="In-Reply-To: <m1@vendor.io>\nReferences: <m1@vendor.io>",
            ),
            # No References: joins thread m1 by subject (reply prefix, 3 days later).
            _msg(
                "<m3@acme.nl>",
                "Fri, 08 Mar 2024 08:00:00 +0000",
                "Ann Buyer <ann@acme.nl>",
                to="sam@vendor.io",
                subject="AW:  pricing   PROPOSAL",
            ),
            # Same subject but 40 days later: a new thread.
            _msg(
                "<m4@acme.nl>",
                "Wed, 17 Apr 2024 08:00:00 +0000",
                "Ann Buyer <ann@acme.nl>",
                to="sam@vendor.io",
                subject="Re: Pricing proposal",
            ),
            # A different conversation, answering a message we never captured.
            _msg(
                "<m5@vendor.io>",
                "Thu, 18 Apr 2024 08:00:00 -0500",
                "Sam Seller <sam@vendor.io>",
                to="joerg.mueller@acme.nl",
                subject="Security questionnaire",
                extra="In-Reply-To: <lost@acme.nl>",
            ),
        ]
    )


def _write(tmp_path: Path, text: str | bytes, name: str = "inbox.mbox") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def _all_output_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_mbox_import_builds_a_valid_dataset_with_threads_sides_and_names(tmp_path: Path, fmt: str) -> None:
    mbox = _write(tmp_path, _good_mbox())
    out = tmp_path / "ds"
    report = import_mbox(
        [mbox],
        out,
        account_domains=["acme.nl"],
        seller_domains=["vendor.io"],
        fmt=fmt,  # type: ignore[arg-type]
    )
    assert (report.records_read, report.imported, report.rejected) == (5, 5, 0)
    check = validate(out)
    assert check.ok, check.format_problems(10)
    ds = load(out)

    people = ds.people.set_index("email")
    assert people.loc["joerg.mueller@acme.nl", "full_name"] == "Jörg Müller"  # both encodings decode alike
    assert people.loc["joerg.mueller@acme.nl", "side"] == "buyer"
    assert people.loc["joerg.mueller@acme.nl", "account_id"] == "acme.nl"
    assert people.loc["sam@vendor.io", "side"] == "seller"
    assert pd.isna(people.loc["sam@vendor.io", "account_id"])
    assert people.loc["pat@advisors.com", "side"] == "partner"
    assert pd.isna(people.loc["pat@advisors.com", "account_id"])
    assert len(people) == 4  # Joerg.Mueller@ACME.nl and joerg.mueller@acme.nl are one person

    emails = ds.emails.set_index("message_id")
    assert emails.loc["<m2@acme.nl>", "thread_id"] == "<m1@vendor.io>"
    assert emails.loc["<m3@acme.nl>", "thread_id"] == "<m1@vendor.io>"  # subject fallback inside the window
    assert emails.loc["<m4@acme.nl>", "thread_id"] == "<m4@acme.nl>"  # outside the window: a new thread
    assert emails.loc["<m5@vendor.io>", "in_reply_to"] == "<lost@acme.nl>"
    assert emails.loc["<m1@vendor.io>", "sent_at"] == pd.Timestamp("2024-03-04 08:00:00", tz="UTC")
    assert emails.loc["<m5@vendor.io>", "sent_at"] == pd.Timestamp("2024-04-18 13:00:00", tz="UTC")
    assert emails["deal_id"].nunique() == 3  # one deal per thread
    assert set(ds.deals["outcome"]) == {"open"} and ds.deals["closed_at"].isna().all()
    first_deal = ds.deals.set_index("deal_id").loc[emails.loc["<m1@vendor.io>", "deal_id"]]
    assert first_deal["created_at"] == emails.loc["<m1@vendor.io>", "sent_at"]

    rec = ds.email_recipients
    m2 = rec[rec["message_id"] == "<m2@acme.nl>"]
    sam = people.loc["sam@vendor.io", "person_id"]
    assert m2.set_index("person_id").loc[sam, "kind"] == "to"  # in To and Cc: one row, the stronger kind
    assert len(m2) == 2
    assert BODY_MARKER.encode() not in _all_output_bytes(out)


def test_bad_mbox_records_are_rejected_with_reasons_and_never_crash(tmp_path: Path) -> None:
    good = "Mon, 04 Mar 2024 09:00:00 +0000"
    text = "".join(
        [
            _msg("<ok1@x>", good, "a@acme.nl", to="b@vendor.io"),
            _msg("<nodate@x>", None, "a@acme.nl", to="b@vendor.io"),
            _msg("<baddate@x>", "the 32nd of Smarch", "a@acme.nl", to="b@vendor.io"),
            _msg("<naive@x>", "Mon, 04 Mar 2024 09:00:00 -0000", "a@acme.nl", to="b@vendor.io"),
            _msg("<nofrom@x>", good, None, to="b@vendor.io"),
            _msg("<ok1@x>", good, "c@acme.nl", to="b@vendor.io"),  # duplicate of the first
            _msg("<badto@x>", good, "a@acme.nl", to="b@vendor.io, not an address"),
            _msg(None, good, "a@acme.nl", to="b@vendor.io", subject="no id"),  # synthesised id
            _msg("<empty-group@x>", good, "a@acme.nl", to="undisclosed-recipients:;"),
            _msg("<y9999@x>", "Fri, 31 Dec 9999 23:00:00 +0000", "a@acme.nl", to="b@vendor.io"),
        ]
    ).encode()
    latin = _msg("<latin@x>", good, "a@acme.nl", to="b@vendor.io").replace(
        "From: a@acme.nl", "From: Ren\xe9 <a@acme.nl>"
    )
    text += latin.encode("latin-1")
    text += b"From x@y Mon Jan  1 00:00:00 2024\nFrom: a@acme.nl\nTo: b@vendor.io\nDate: Mon, 04 Mar 2024"
    mbox = _write(tmp_path, text)
    out = tmp_path / "ds"
    report = import_mbox([mbox], out, account_domains=["acme.nl"], seller_domains=["vendor.io"])

    assert report.records_read == 12
    assert report.records_read == report.imported + report.rejected
    by_field = {(r.field, r.reason.split(" ")[0]) for r in report.rejects}
    assert ("Date", "missing") in by_field
    assert ("Date", "unparseable") in by_field
    assert any(r.field == "Date" and "no time zone" in r.reason for r in report.rejects)
    assert ("From", "missing") in by_field
    dup = [r for r in report.rejects if r.field == "Message-ID"]
    assert len(dup) == 1 and "first seen at" in dup[0].reason and "line 1" in dup[0].reason
    assert any(r.field == "To" and "not an address" in r.reason for r in report.rejects)
    assert any("truncated" in r.reason for r in report.rejects)
    assert report.rejected == 8
    assert any("outside 1970-2099" in r.reason for r in report.rejects)
    assert report.imported == 4  # ok1, no-id (synthesised), empty group, latin-1 header
    assert any("synthesised" in w for w in report.warnings)
    assert any("non-UTF-8" in w for w in report.warnings)
    assert validate(out).ok
    people = load(out).people.set_index("email")
    assert people.loc["a@acme.nl", "full_name"] == "René"
    ds = load(out)
    assert (ds.emails["message_id"] == "<ok1@x>").sum() == 1
    kept_sender = ds.emails.set_index("message_id").loc["<ok1@x>", "sender_id"]
    assert kept_sender == people.loc["a@acme.nl", "person_id"]  # the first copy is kept


def test_deal_by_account_and_header(tmp_path: Path) -> None:
    mbox = _write(tmp_path, _good_mbox())
    by_account = import_mbox(
        [mbox], tmp_path / "a", account_domains=["acme.nl"], seller_domains=["vendor.io"], deal_by="account"
    )
    ds = load(tmp_path / "a")
    assert by_account.imported == 5 and len(ds.deals) == 1
    assert ds.deals["created_at"].iloc[0] == ds.emails["sent_at"].min()

    text = "".join(
        [
            _msg(
                "<h1@x>",
                "Mon, 04 Mar 2024 09:00:00 +0000",
                "s@vendor.io",
                to="a@acme.nl",
                extra="X-Deal-Id: OPP-1",
            ),
            _msg(
                "<h2@x>",
                "Tue, 05 Mar 2024 09:00:00 +0000",
                "a@acme.nl",
                to="s@vendor.io",
                subject="Re: Hello",
                extra="In-Reply-To: <h1@x>",
            ),  # inherits OPP-1 from its thread
            _msg(
                "<h3@x>",
                "Wed, 06 Mar 2024 09:00:00 +0000",
                "s@vendor.io",
                to="a@acme.nl",
                extra="x-deal-id: OPP-2",
            ),
            _msg("<h4@x>", "Wed, 06 Mar 2024 09:00:00 +0000", "s@vendor.io", to="a@acme.nl", subject="Other"),
        ]
    )
    report = import_mbox(
        [_write(tmp_path, text, "h.mbox")],
        tmp_path / "h",
        account_domains=["acme.nl"],
        seller_domains=["vendor.io"],
        deal_by="header:X-Deal-Id",
    )
    ds = load(tmp_path / "h")
    assert validate(tmp_path / "h").ok
    assert dict(zip(ds.emails["message_id"], ds.emails["deal_id"], strict=True)) == {
        "<h1@x>": "OPP-1",
        "<h2@x>": "OPP-1",
        "<h3@x>": "OPP-2",
    }
    assert report.rejected == 1 and "X-Deal-Id".lower() in report.rejects[0].reason.lower()


def test_without_account_domain_the_most_frequent_external_sender_domain_is_the_account(
    tmp_path: Path,
) -> None:
    mbox = _write(tmp_path, _good_mbox())
    report = import_mbox([mbox], tmp_path / "ds", seller_domains=["vendor.io"])
    ds = load(tmp_path / "ds")
    assert list(ds.accounts["account_id"]) == ["acme.nl"]
    assert any("most frequent sender domain" in w for w in report.warnings)


def test_messages_without_an_account_participant_are_rejected(tmp_path: Path) -> None:
    text = _good_mbox() + _msg("<int@x>", "Mon, 04 Mar 2024 09:00:00 +0000", "s@vendor.io", to="t@vendor.io")
    report = import_mbox(
        [_write(tmp_path, text)], tmp_path / "ds", account_domains=["acme.nl"], seller_domains=["vendor.io"]
    )
    assert report.rejected == 1 and "no participant from an account domain" in report.rejects[0].reason
    assert validate(tmp_path / "ds").ok


def test_eml_folder_import_reads_headers_only(tmp_path: Path) -> None:
    folder = tmp_path / "mail" / "sub"
    folder.mkdir(parents=True)
    for i, chunk in enumerate(_good_mbox().split("From sender@example.com ")[1:]):
        body = chunk.split("\n", 1)[1]  # drop the envelope line
        (folder / f"{i}.eml").write_text(body.replace("\n", "\r\n"), encoding="utf-8")
    (folder / "notes.txt").write_text("not mail")
    report = import_eml(
        [tmp_path / "mail"], tmp_path / "ds", account_domains=["acme.nl"], seller_domains=["vendor.io"]
    )
    assert (report.records_read, report.imported) == (5, 5)
    assert validate(tmp_path / "ds").ok
    assert BODY_MARKER.encode() not in _all_output_bytes(tmp_path / "ds")


def test_existing_dataset_needs_overwrite(tmp_path: Path) -> None:
    mbox = _write(tmp_path, _good_mbox())
    import_mbox([mbox], tmp_path / "ds", account_domains=["acme.nl"])
    with pytest.raises(ImporterError, match="--overwrite"):
        import_mbox([mbox], tmp_path / "ds", account_domains=["acme.nl"])


def test_cli_mbox_prints_summary_writes_rejects_and_fails_cleanly(tmp_path: Path) -> None:
    text = _good_mbox() + _msg("<bad@x>", None, "a@acme.nl", to="b@vendor.io")
    mbox = _write(tmp_path, text)
    runner = CliRunner()
    rejects = tmp_path / "rejects.csv"
    result = runner.invoke(
        app,
        ["import", "mbox", str(mbox), "--out", str(tmp_path / "ds"), "--account-domain", "acme.nl",
         "--seller-domain", "vendor.io", "--rejects", str(rejects)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "read 6, imported 5, rejected 1" in result.output
    frame = pd.read_csv(rejects)
    assert list(frame.columns) == ["file", "record", "field", "reason"]
    assert frame.loc[0, "field"] == "Date" and "<bad@x>" in frame.loc[0, "record"]

    missing = runner.invoke(
        app, ["import", "mbox", str(tmp_path / "nope.mbox"), "--out", str(tmp_path / "x")]
    )
    assert missing.exit_code == 1 and "no such mbox file" in missing.output
    folder = runner.invoke(app, ["import", "mbox", str(tmp_path), "--out", str(tmp_path / "z")])
    assert folder.exit_code == 1 and f"{tmp_path} is a folder: pass the mbox file(s) in it" in folder.output
    assert "no such" not in folder.output  # the folder exists: "no such file" misled
    bad_option = runner.invoke(
        app, ["import", "mbox", str(mbox), "--out", str(tmp_path / "y"), "--deal-by", "moon"]
    )
    assert bad_option.exit_code == 1 and "--deal-by" in bad_option.output


@pytest.mark.enron
@pytest.mark.slow
def test_enron_dev_mbox_imports_cleanly(tmp_path: Path) -> None:
    """Real headers: every message imported, names decoded as in the people list, output valid."""
    from influence.settings import shared_enron_dir

    folder = shared_enron_dir()
    if not (folder / "perry_wolfe.mbox").exists():
        pytest.skip("the Enron development set is not available")
    report = import_mbox([folder / "perry_wolfe.mbox"], tmp_path / "ds", deal_by="account")
    assert report.rejected == 0 and report.imported == 21_635  # the count SOURCE.md states
    assert validate(tmp_path / "ds").ok
    people = load(tmp_path / "ds").people.merge(pd.read_csv(folder / "perry_wolfe_people.csv"), on="email")
    assert len(people) == 154  # SOURCE.md: 2 of the 156 never appear in a message
    assert (people["full_name"] == people["name"]).all()


def test_an_imported_mailbox_can_be_explored_in_the_first_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mailbox import has no labels: notebook 01 says so and skips the label sections instead of failing."""
    import nbformat
    from nbclient import NotebookClient

    from influence.settings import project_root

    out = tmp_path / "ds"
    import_mbox(
        [_write(tmp_path, _good_mbox())], out, account_domains=["acme.nl"], seller_domains=["vendor.io"]
    )
    assert load(out).labels.empty
    monkeypatch.setenv("INFLUENCE_NOTEBOOK_DATA", str(out))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    folder = project_root() / "notebooks"
    notebook = nbformat.read(folder / "01-explore-deal-history.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    printed = "".join(
        o.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
    )
    assert "no labels in this folder" in printed
