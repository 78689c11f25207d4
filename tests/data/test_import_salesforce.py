"""Salesforce CSV import: mapping to the contract, roles -> labels, CSV robustness and rejects with reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from influence.cli import app
from influence.data import load, validate
from influence.importers import ImporterError, import_salesforce

MARKER = "SF-BODY-MARKER-41c2"
NOW = pd.Timestamp("2024-06-01", tz="UTC")

FILES = {
    # BOM + comma; one row without Id.
    "Account.csv": "\ufeffId,Name,Website,Industry,BillingCountry\n"
    "001A,Acme BV,https://www.acme.nl/about,Manufacturing,Netherlands\n"
    "001B,Globex GmbH,globex.de,Chemicals,DE\n"
    ",Nameless,,,\n",
    "User.csv": "Id,Name,Email,Title,Department\n005S,Sam Seller,Sam@Vendor.io,Account Executive,Sales\n",
    # Semicolons; a contact of an account that is not exported.
    "Contact.csv": "Id;AccountId;FirstName;LastName;Title;Department;Email\n"
    "003A;001A;Jörg;Müller;CFO;Finance;joerg@acme.nl\n"
    "003B;001A;Ann;Buyer;IT Architect;IT;ann@acme.nl\n"
    "003C;001Z;Ghost;Person;;;ghost@x.com\n"
    "003D;001B;Greta;Graf;Einkaufsleiterin;Einkauf;greta@globex.de\n",
    # Decimal comma, an Excel serial date (45352 = 2024-03-01), close before create, a negative amount.
    "Opportunity.csv": "Id,AccountId,StageName,IsWon,IsClosed,Amount,CurrencyIsoCode,CloseDate,CreatedDate\n"
    '006A,001A,Closed Won,true,true,"12.500,00",EUR,2024-06-30,2024-01-15T09:00:00.000+0000\n'
    "006B,001B,Negotiation,false,false,5000,eur,2024-12-31,45352\n"
    "006C,001A,Closed Lost,false,true,100,EUR,2023-01-01,2024-02-01T00:00:00Z\n"
    "006D,001A,Prospecting,false,false,-5,EUR,,2024-02-01\n",
    "OpportunityContactRole.csv": "OpportunityId,ContactId,Role,IsPrimary\n"
    "006A,003A,Economic Buyer,true\n"
    "006A,003B,Business User,false\n"
    "006A,003B,Technical Buyer,false\n"
    "006B,003D,Chief Gatekeeper,false\n"
    "006B,003D,Decision Maker,true\n",
    "Event.csv": "Id,WhatId,AccountId,StartDateTime,EndDateTime,DurationInMinutes,Subject,Type,OwnerId,IsAllDayEvent,Description\n"
    f'00UA,006A,001A,2024-02-01T10:00:00.000+0000,2024-02-01T11:00:00.000+0000,60,Product demo,Meeting,005S,false,"notes\n{MARKER}"\n'
    "00UB,006A,001A,2024-01-01T10:00:00Z,,30,Intro,,005S,false,\n"
    "00UC,001B,001B,2024-04-01T10:00:00Z,,45,Pricing negotiation,,005S,false,\n"
    "00UD,006A,,2024-03-01,,,Offsite,,005S,true,\n",
    "EventRelation.csv": "EventId,RelationId,IsInvitee,Status\n"
    "00UA,003A,true,Accepted\n"
    "00UA,003B,true,Declined\n"
    "00UA,001A,false,New\n"
    "00UB,003A,true,Accepted\n"
    "00UC,003D,true,Maybe\n",
    "EmailMessage.csv": "Id,RelatedToId,MessageDate,FromAddress,FromName,MessageIdentifier,ThreadIdentifier,"
    "ReplyToEmailMessageId,Subject,TextBody,HtmlBody\n"
    f'02sA,006A,2024-02-02T08:00:00Z,sam@vendor.io,Sam Seller,<e1@vendor.io>,,,Proposal,"Dear Jörg,\nprice {MARKER}",<p>{MARKER}</p>\n'
    f"02sB,006A,2024-02-03T08:00:00Z,joerg@acme.nl,,<e2@acme.nl>,,02sA,Re: Proposal,{MARKER},\n"
    "02sC,006A,2024-02-03T09:00:00Z,,,<e3@acme.nl>,,,No sender,,\n"
    "02sD,006A,not a date,sam@vendor.io,,<e4@vendor.io>,,,Bad,,\n",
    "EmailMessageRelation.csv": "EmailMessageId,RelationId,RelationAddress,RelationType\n"
    "02sA,003A,joerg@acme.nl,ToAddress\n"
    "02sA,,Pat@Advisors.com,CcAddress\n"
    "02sB,005S,sam@vendor.io,ToAddress\n"
    "02sC,003A,,ToAddress\n"
    "02sA,,,ToAddress\n"
    "02sB,003B,ann@acme.nl,ReplyTo\n",
}


def _export(tmp_path: Path, files: dict[str, str] = FILES) -> Path:
    folder = tmp_path / "sf"
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _reasons(report, file: str) -> dict[str, str]:  # noqa: ANN001
    return {f"{r.record}:{r.field}": r.reason for r in report.rejects if r.file == file}


def test_salesforce_export_becomes_a_valid_dataset(tmp_path: Path) -> None:
    report = import_salesforce(_export(tmp_path), tmp_path / "ds", now=NOW)
    check = validate(tmp_path / "ds")
    assert check.ok, check.format_problems(10)
    assert report.records_read == report.imported + report.rejected
    ds = load(tmp_path / "ds")

    assert ds.accounts.set_index("account_id").loc["001A", ["domain", "country"]].tolist() == [
        "acme.nl",
        "NL",
    ]
    deals = ds.deals.set_index("deal_id")
    assert set(deals.index) == {"006A", "006B"}
    assert deals.loc["006A", "outcome"] == "won" and deals.loc["006A", "amount"] == 12500.0
    assert deals.loc["006A", "closed_at"] == pd.Timestamp("2024-06-30 23:59:59", tz="UTC")
    assert deals.loc["006B", "created_at"] == pd.Timestamp("2024-03-01", tz="UTC")
    assert deals.loc["006B", "outcome"] == "open" and pd.isna(deals.loc["006B", "closed_at"])
    assert deals.loc["006B", "currency"] == "EUR"

    labels = ds.labels.set_index(["deal_id", "person_id"])
    assert labels.loc[("006A", "003A"), "profile"] == "budget_holder"
    assert labels.loc[("006A", "003B"), "profile"] == "technical_gatekeeper"  # beats end_user by precedence
    assert labels.loc[("006A", "003A"), "influence"] > labels.loc[("006A", "003B"), "influence"]  # primary
    assert labels.loc[("006B", "003D"), "profile"] == "budget_holder"  # Decision Maker
    assert set(ds.labels["source"]) == {"crm_contact_role"}

    meetings = ds.meetings.set_index("meeting_id")
    assert set(meetings.index) == {"00UA", "00UC"}
    assert meetings.loc["00UC", "deal_id"] == "006B"  # related to the account: its deal alive then
    assert meetings.loc["00UA", "kind"] == "demo" and meetings.loc["00UC", "kind"] == "negotiation"
    att = ds.meeting_attendees.set_index(["meeting_id", "person_id"])
    assert att.loc[("00UA", "003A"), "attended"] == True  # noqa: E712 - past and accepted
    assert att.loc[("00UA", "003B"), "attended"] == False  # noqa: E712 - past and declined
    assert att.loc[("00UA", "005S"), "response"] == "accepted"  # the organizer
    assert att.loc[("00UC", "003D"), "response"] == "tentative" and pd.isna(
        att.loc[("00UC", "003D"), "attended"]
    )

    emails = ds.emails.set_index("message_id")
    assert set(emails.index) == {"<e1@vendor.io>", "<e2@acme.nl>"}
    assert emails.loc["<e2@acme.nl>", "in_reply_to"] == "<e1@vendor.io>"
    assert emails.loc["<e2@acme.nl>", "thread_id"] == "<e1@vendor.io>"
    assert emails.loc["<e1@vendor.io>", "sender_id"] == "005S"  # matched by e-mail to the User
    people = ds.people.set_index("email")
    assert people.loc["pat@advisors.com", "side"] == "partner"
    recipients = set(zip(ds.email_recipients["message_id"], ds.email_recipients["kind"], strict=True))
    assert ("<e1@vendor.io>", "cc") in recipients

    files = b"".join(p.read_bytes() for p in (tmp_path / "ds").iterdir())
    assert MARKER.encode() not in files


def test_salesforce_bad_rows_are_rejected_with_file_row_and_field(tmp_path: Path) -> None:
    report = import_salesforce(_export(tmp_path), tmp_path / "ds", now=NOW)
    assert _reasons(report, "Account.csv") == {"row 3:Id": "is empty; it is required"}
    assert "001Z" in _reasons(report, "Contact.csv")["row 3:AccountId"]
    opp = _reasons(report, "Opportunity.csv")
    assert "before CreatedDate" in opp["row 3:CloseDate"] and "negative" in opp["row 4:Amount"]
    role = _reasons(report, "OpportunityContactRole.csv")
    assert role == {
        "row 4:Role": "unknown contact role 'Chief Gatekeeper': map it to a profile with --role-map"
    }
    events = _reasons(report, "Event.csv")
    assert "precedes opportunity 006A CreatedDate" in events["row 2:WhatId"]
    assert "all-day" in events["row 4:IsAllDayEvent"]
    rel = _reasons(report, "EventRelation.csv")
    assert set(rel) == {"row 3:IsInvitee", "row 4:EventId"}
    mail = _reasons(report, "EmailMessage.csv")
    assert set(mail) == {"row 3:FromAddress", "row 4:MessageDate"}
    mrel = _reasons(report, "EmailMessageRelation.csv")
    assert set(mrel) == {"row 4:EmailMessageId", "row 5:RelationAddress", "row 6:RelationType"}
    for name, counts in report.per_file.items():
        assert counts["read"] == counts["imported"] + counts["rejected"], name
    assert report.per_file["Contact.csv"]["read"] == 4


def test_role_map_file_maps_unknown_roles(tmp_path: Path) -> None:
    mapping = tmp_path / "roles.json"
    mapping.write_text(
        json.dumps({"Chief Gatekeeper": {"profile": "political_gatekeeper", "influence": 0.7}})
    )
    report = import_salesforce(_export(tmp_path), tmp_path / "ds", role_map=mapping, now=NOW)
    assert not _reasons(report, "OpportunityContactRole.csv")
    toml = tmp_path / "roles.toml"
    toml.write_text('[roles]\n"Chief Gatekeeper" = "moon_person"\n')
    with pytest.raises(ImporterError, match="moon_person"):
        import_salesforce(_export(tmp_path / "again"), tmp_path / "ds2", role_map=toml)


def test_missing_column_is_a_clear_error_before_anything_is_written(tmp_path: Path) -> None:
    files = dict(FILES, **{"Opportunity.csv": "Id,AccountId,StageName\n006A,001A,Closed Won\n"})
    with pytest.raises(ImporterError, match=r"Opportunity.csv: missing column\(s\) CreatedDate"):
        import_salesforce(_export(tmp_path, files), tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_missing_required_file_and_cli(tmp_path: Path) -> None:
    files = {k: v for k, v in FILES.items() if k != "Opportunity.csv"}
    with pytest.raises(ImporterError, match="Opportunity.csv is missing"):
        import_salesforce(_export(tmp_path, files), tmp_path / "ds")
    folder = _export(tmp_path / "full")
    result = CliRunner().invoke(
        app,
        [
            "import",
            "salesforce",
            str(folder),
            "--out",
            str(tmp_path / "out"),
            "--rejects",
            str(tmp_path / "r.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "rejected" in result.output and "unknown contact role" in result.output
    assert len(pd.read_csv(tmp_path / "r.csv")) > 0
    bad = CliRunner().invoke(
        app, ["import", "salesforce", str(tmp_path / "nope"), "--out", str(tmp_path / "o2")]
    )
    assert bad.exit_code == 1 and "no such folder" in bad.output


def test_a_missing_contact_file_is_not_confused_with_the_contact_roles(tmp_path: Path) -> None:
    files = {k: v for k, v in FILES.items() if k != "Contact.csv"}
    folder = _export(tmp_path, files)
    assert (folder / "OpportunityContactRole.csv").exists()
    (folder / "Contact_2024-03-01.csv").write_text(FILES["Contact.csv"], encoding="utf-8")
    with pytest.raises(ImporterError, match="Contact.csv is missing") as caught:
        import_salesforce(folder, tmp_path / "ds")
    assert "Contact_2024-03-01.csv may be it: rename it to Contact.csv" in str(caught.value)
    assert "OpportunityContactRole" not in str(caught.value)
