"""Calendar (.ics) import: merge by e-mail, recurrence, time zones, PARTSTAT, deals, and rejects with reasons."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from influence.cli import app
from influence.data import load, validate
from influence.importers import import_ics, import_mbox

NOW = pd.Timestamp("2024-03-20", tz="UTC")
MARKER = "ICS-DESCRIPTION-MARKER-93b1"

VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Custom Amsterdam
BEGIN:STANDARD
DTSTART:19701025T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
END:VTIMEZONE
"""

PEOPLE = """ORGANIZER;CN=Sam Seller:mailto:sam@vendor.io
ATTENDEE;CN="Jörg Müller";PARTSTAT=ACCEPTED:mailto:Joerg.Mueller@acme.nl
ATTENDEE;CN=Ann Buyer;PARTSTAT=DECLINED:mailto:ann@acme.nl
ATTENDEE;CN=New Person;PARTSTAT=TENTATIVE:mailto:new.person@acme.nl
ATTENDEE;CUTYPE=ROOM;CN=Room 4.12;PARTSTAT=ACCEPTED:mailto:room412@vendor.io
"""


def _event(uid: str, start: str, summary: str, extra: str = "", people: str = PEOPLE) -> str:
    description = f"DESCRIPTION:Agenda and dial-in {MARKER}\\nsecond line {MARKER}\n"
    return f"BEGIN:VEVENT\nUID:{uid}\nDTSTART{start}\nSUMMARY:{summary}\n{description}{extra}{people}END:VEVENT\n"


def _calendar() -> str:
    body = "".join(
        [
            # Weekly, 5 times from 1 March 10:00 Amsterdam; 8 March excluded; 15 March moved to 15:00.
            _event(
                "weekly-1",
                ";TZID=Custom Amsterdam:20240301T100000",
                "Technical deep dive",
                "DURATION:PT30M\nRRULE:FREQ=WEEKLY;COUNT=5\nEXDATE;TZID=Custom Amsterdam:20240308T100000\n",
            ),
            _event(
                "weekly-1",
                ";TZID=Custom Amsterdam:20240315T150000",
                "Technical deep dive (moved)",
                "RECURRENCE-ID;TZID=Custom Amsterdam:20240315T100000\nDURATION:PT60M\n",
            ),
            _event(
                "mars-1",
                ";TZID=Mars/Olympus:20240305T100000",
                "Demo",
                "DTEND;TZID=Mars/Olympus:20240305T110000\n",
            ),
            _event("floating-1", ":20240306T090000", "Pricing negotiation", "DTEND:20240306T100000\n"),
            _event("allday-1", ";VALUE=DATE:20240307", "Offsite"),
            _event(
                "windows-tz-1",
                ";TZID=W. Europe Standard Time:20240312T140000",
                "Product demo",
                "DTEND;TZID=W. Europe Standard Time:20240312T150000\n",
            ),
            _event(
                "nobody-1",
                ":20240313T090000Z",
                "Internal prep",
                "DTEND:20240313T100000Z\n",
                people="ORGANIZER:mailto:sam@vendor.io\nATTENDEE;PARTSTAT=ACCEPTED:mailto:friend@gmail.com\n",
            ),
        ]
    )
    text = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n" + VTIMEZONE + body + "END:VCALENDAR\n"
    return text.replace("\n", "\r\n")


def _mail_dataset(tmp_path: Path) -> Path:
    mbox = tmp_path / "in.mbox"
    mbox.write_text(
        "From x Mon Jan  1 00:00:00 2024\nFrom: Sam Seller <sam@vendor.io>\nTo: Jorg <joerg.mueller@acme.nl>\n"
        "Date: Mon, 11 Mar 2024 09:00:00 +0000\nMessage-ID: <a@vendor.io>\nSubject: Hi\n\nbody\n\n"
    )
    out = tmp_path / "ds"
    import_mbox([mbox], out, account_domains=["acme.nl"], seller_domains=["vendor.io"], deal_by="account")
    return out


def test_ics_merges_into_a_dataset_with_recurrence_time_zones_and_responses(tmp_path: Path) -> None:
    ds_dir = _mail_dataset(tmp_path)
    before = load(ds_dir)
    ics = tmp_path / "cal.ics"
    ics.write_text(_calendar(), encoding="utf-8")
    report = import_ics([ics], ds_dir, now=NOW)

    assert report.records_read == 7 and report.records_read == report.imported + report.rejected
    reasons = {r.record: r.reason for r in report.rejects}
    assert "unknown time zone TZID='Mars/Olympus'" in reasons["UID mars-1"]
    assert "all-day" in reasons["UID allday-1"]
    assert "no organizer or attendee belongs to a known account" in reasons["UID nobody-1"]
    assert any("floating" in w for w in report.warnings)
    check = validate(ds_dir)
    assert check.ok, check.format_problems(10)

    ds = load(ds_dir)
    meetings = ds.meetings.set_index("meeting_id")
    weekly = meetings[meetings.index.str.startswith("weekly-1/")].sort_values("start_at")
    assert list(weekly["start_at"]) == [
        pd.Timestamp("2024-03-01 09:00", tz="UTC"),
        pd.Timestamp("2024-03-15 14:00", tz="UTC"),  # the moved occurrence
        pd.Timestamp("2024-03-22 09:00", tz="UTC"),
        pd.Timestamp("2024-03-29 09:00", tz="UTC"),  # still winter time: DST starts 31 March
    ]
    assert "weekly-1/20240315T090000Z" in weekly.index  # id from RECURRENCE-ID, stable when moved
    assert weekly.loc["weekly-1/20240315T090000Z", "duration_min"] == 60.0
    assert meetings.loc["floating-1", "start_at"] == pd.Timestamp("2024-03-06 09:00", tz="UTC")
    assert meetings.loc["windows-tz-1", "start_at"] == pd.Timestamp("2024-03-12 13:00", tz="UTC")
    assert meetings.loc["floating-1", "kind"] == "negotiation" and weekly["kind"].iloc[0] == "technical"

    # People: matched by e-mail (case-insensitive), new people created, rooms ignored.
    people = ds.people.set_index("email")
    assert len(people) == len(before.people) + 2  # ann and new.person
    assert "room412@vendor.io" not in people.index
    assert people.loc["new.person@acme.nl", "side"] == "buyer"
    joerg = people.loc["joerg.mueller@acme.nl", "person_id"]
    assert joerg == before.people.set_index("email").loc["joerg.mueller@acme.nl", "person_id"]
    att = ds.meeting_attendees.set_index(["meeting_id", "person_id"])
    first = "weekly-1/20240301T090000Z"
    assert att.loc[(first, joerg), "response"] == "accepted" and att.loc[(first, joerg), "attended"] == True  # noqa: E712
    ann = people.loc["ann@acme.nl", "person_id"]
    assert att.loc[(first, ann), "response"] == "declined" and att.loc[(first, ann), "attended"] == False  # noqa: E712
    future = "weekly-1/20240322T090000Z"
    assert pd.isna(att.loc[(future, joerg), "attended"])  # after `now`: unknown
    sam = people.loc["sam@vendor.io", "person_id"]
    assert meetings.loc[first, "organizer_id"] == sam and att.loc[(first, sam), "response"] == "accepted"

    # Deals: before the mail deal opened (11 March) -> a calendar deal; after -> the existing open deal.
    mail_deal = before.deals["deal_id"].iloc[0]
    assert meetings.loc["weekly-1/20240322T090000Z", "deal_id"] == mail_deal
    assert meetings.loc["floating-1", "deal_id"] == "cal-acme.nl"
    cal_deal = ds.deals.set_index("deal_id").loc["cal-acme.nl"]
    assert cal_deal["created_at"] == meetings.loc[first, "start_at"] and cal_deal["outcome"] == "open"

    assert MARKER.encode() not in b"".join(p.read_bytes() for p in ds_dir.iterdir() if p.is_file())

    # Re-importing the same calendar updates in place.
    again = import_ics([ics], ds_dir, now=NOW)
    assert again.imported == report.imported
    assert len(load(ds_dir).meetings) == len(ds.meetings)


def test_ics_window_and_fresh_folder_via_cli(tmp_path: Path) -> None:
    ics = tmp_path / "cal.ics"
    ics.write_text(_calendar(), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        ["import", "ics", str(ics), "--out", str(tmp_path / "new"), "--account-domain", "acme.nl",
         "--seller-domain", "vendor.io", "--window-start", "2024-03-10", "--window-end", "2024-03-25",
         "--rejects", str(tmp_path / "rejects.csv")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ds = load(tmp_path / "new")
    assert ds.meetings["start_at"].min() >= pd.Timestamp("2024-03-10", tz="UTC")
    assert ds.meetings["start_at"].max() <= pd.Timestamp("2024-03-25", tz="UTC")
    rejects = pd.read_csv(tmp_path / "rejects.csv")
    assert "no occurrence between" in " ".join(rejects["reason"])  # floating-1 on 6 March is outside
    assert validate(tmp_path / "new").ok
    bad = CliRunner().invoke(
        app, ["import", "ics", str(ics), "--out", str(tmp_path / "x"), "--deal-by", "thread"]
    )
    assert bad.exit_code == 1 and "--deal-by" in bad.output


def test_ics_merges_into_a_salesforce_import(tmp_path: Path) -> None:
    from test_import_salesforce import _export  # the Salesforce fixture of the sibling test module

    sf = tmp_path / "sf-ds"
    from influence.importers import import_salesforce

    import_salesforce(_export(tmp_path), sf, now=NOW)
    ics = tmp_path / "cal.ics"
    ics.write_text(_calendar().replace("Joerg.Mueller@acme.nl", "joerg@acme.nl"), encoding="utf-8")
    report = import_ics([ics], sf, now=NOW)
    assert validate(sf).ok
    ds = load(sf)
    meetings = ds.meetings.set_index("meeting_id")
    # Acme's opportunity 006A lives from 15 January to 30 June: every Acme meeting in March belongs to it.
    assert meetings.loc["floating-1", "deal_id"] == "006A"
    assert meetings.loc["weekly-1/20240301T090000Z", "deal_id"] == "006A"
    att = ds.meeting_attendees
    assert "003A" in set(att.loc[att["meeting_id"] == "floating-1", "person_id"])  # matched to the Contact
    assert "cal-001A" not in set(ds.deals["deal_id"]) and report.imported == 4

    # The imported data runs through the feature pipeline like generated data does.
    from influence.features import build_features

    features = build_features(ds, n_jobs=1)
    assert {"006A", "006B"} <= set(features["deal_id"])
    assert "003A" in set(features.loc[features["deal_id"] == "006A", "person_id"])
