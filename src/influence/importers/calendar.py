"""Import calendar events (.ics) into a dataset folder, merging with what is already there.

VEVENTs become meetings (recurring events expanded inside a window with `recurring-ical-events`), ORGANIZER and
ATTENDEEs become meeting_attendees (PARTSTAT -> response). People are matched by e-mail to the dataset's people;
new ones are created (side from the domain). Meetings are assigned to deals by `deal_by`; see docs/importers.md
for the window, time-zone, attendance and deal rules. Records are VEVENT components: each is imported (it gave
at least one meeting) or rejected with its file, UID and reason.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from influence.contract import TABLES, Dataset, coerce_table, write_dataset
from influence.importers._common import (
    EARLIEST,
    LATEST,
    ImporterError,
    ImportReport,
    attended_from,
    deal_for_event,
    existing_table_files,
    match_domain,
    meeting_kind,
    normalise_domain,
    normalise_email,
    person_id_for,
    stable_id,
)

__all__ = ["import_ics", "PARTSTAT_RESPONSE", "DEFAULT_FUTURE_DAYS"]

PARTSTAT_RESPONSE = {
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
    "NEEDS-ACTION": "none",
    "DELEGATED": "none",
}
DEFAULT_FUTURE_DAYS = 90
_NOT_PEOPLE = {"ROOM", "RESOURCE"}


@dataclass
class _Occurrence:
    file: str
    uid: str
    meeting_id: str
    start: pd.Timestamp
    duration_min: float | None
    kind: str
    organizer: tuple[str, str] | None  # (address, name)
    attendees: dict[str, tuple[str, str]]  # address -> (name, response)
    deal_property: str | None


def _calendars(path: Path) -> list[Any]:
    import icalendar

    return icalendar.Calendar.from_ical(path.read_bytes(), multiple=True)


def _unknown_tzid(component: Any) -> str | None:
    """The TZID of a date-time that icalendar could not resolve (no VTIMEZONE, not an IANA/Windows name)."""
    for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
        prop = component.get(name)
        if prop is None:
            continue
        tzid = prop.params.get("TZID")
        value = getattr(prop, "dt", None)
        if tzid and isinstance(value, dt.datetime) and value.tzinfo is None:
            return str(tzid)
    for name in ("EXDATE", "RDATE"):
        props = component.get(name)
        for prop in props if isinstance(props, list) else [props] if props is not None else []:
            tzid = prop.params.get("TZID")
            if tzid and any(isinstance(d.dt, dt.datetime) and d.dt.tzinfo is None for d in prop.dts):
                return str(tzid)
    return None


def _address(prop: Any) -> tuple[str | None, str]:
    return normalise_email(str(prop)), str(prop.params.get("CN", "")).strip().strip('"')


def _as_utc(value: dt.datetime, default_tz: dt.tzinfo) -> pd.Timestamp:
    if value.tzinfo is None:
        value = value.replace(tzinfo=default_tz)
    return pd.Timestamp(value).tz_convert("UTC")


def _occurrences(
    group: list[Any],
    timezones: list[Any],
    window: tuple[dt.datetime, dt.datetime],
    default_tz: dt.tzinfo,
    deal_property: str | None,
    file: str,
    uid: str,
) -> list[_Occurrence]:
    import icalendar
    import recurring_ical_events

    cal = icalendar.Calendar()
    cal.add("PRODID", "-//influence//import//EN")
    cal.add("VERSION", "2.0")
    for tz in timezones:
        cal.add_component(tz)
    for comp in group:
        cal.add_component(comp)
    master = next((c for c in group if c.get("RECURRENCE-ID") is None), group[0])
    recurring = len(group) > 1 or master.get("RRULE") is not None or master.get("RDATE") is not None
    out = []
    for occ in recurring_ical_events.of(cal).between(*window):
        if str(occ.get("STATUS", "")).upper() == "CANCELLED":
            continue
        start_raw = occ["DTSTART"].dt
        start = _as_utc(start_raw, default_tz)
        if occ.get("DTEND") is not None:
            duration = (_as_utc(occ["DTEND"].dt, default_tz) - start).total_seconds() / 60
        elif occ.get("DURATION") is not None:
            duration = occ["DURATION"].dt.total_seconds() / 60
        else:
            duration = None
        if recurring:
            rid = occ.get("RECURRENCE-ID")
            original = _as_utc(rid.dt, default_tz) if rid is not None else start
            meeting_id = f"{uid}/{original.strftime('%Y%m%dT%H%M%SZ')}"
        else:
            meeting_id = uid
        organizer = None
        if occ.get("ORGANIZER") is not None:
            address, name = _address(occ["ORGANIZER"])
            organizer = (address, name) if address else None
        attendees: dict[str, tuple[str, str]] = {}
        props = occ.get("ATTENDEE")
        for prop in props if isinstance(props, list) else [props] if props is not None else []:
            if str(prop.params.get("CUTYPE", "INDIVIDUAL")).upper() in _NOT_PEOPLE:
                continue  # meeting rooms and projectors are not people
            address, name = _address(prop)
            if address is None:
                continue
            response = PARTSTAT_RESPONSE.get(str(prop.params.get("PARTSTAT", "NEEDS-ACTION")).upper(), "none")
            attendees[address] = (name, response)
        value = str(occ.get(deal_property, "")).strip() if deal_property else ""
        out.append(
            _Occurrence(
                file=file,
                uid=uid,
                meeting_id=meeting_id,
                start=start,
                duration_min=duration if duration is None or duration >= 0 else None,
                kind=meeting_kind(str(occ.get("SUMMARY", ""))),
                organizer=organizer,
                attendees=attendees,
                deal_property=value or None,
            )
        )
    return out


def _load_existing(out: Path) -> tuple[Dataset, str | None]:
    files = existing_table_files(out)
    if not files:
        return Dataset(), None
    from influence.data import DatasetError, load

    try:
        dataset = load(out)
    except DatasetError as exc:
        raise ImporterError(f"{out}: the dataset to merge into is not valid; fix it first:\n{exc}") from None
    return dataset, files[0].suffix.lstrip(".")


def import_ics(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    *,
    window_start: str | dt.datetime | None = None,
    window_end: str | dt.datetime | None = None,
    deal_by: str = "account",
    account_domains: Iterable[str] = (),
    seller_domains: Iterable[str] = (),
    default_tz: str = "UTC",
    fmt: Literal["parquet", "csv"] | None = None,
    now: pd.Timestamp | None = None,
) -> ImportReport:
    """Import .ics files into the dataset folder `out_dir` (created when empty, merged into otherwise).

    Window defaults: from the earliest DTSTART in the files to `now` + DEFAULT_FUTURE_DAYS days. `deal_by` is
    `account` (the account's deal alive at the meeting, else a calendar deal per account) or `property:NAME`
    (an X- property holding the deal id). Floating times are read in `default_tz`.
    """
    import icalendar  # noqa: F401 - fail early with a clear import error

    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    try:
        tz = ZoneInfo(default_tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ImporterError(f"--default-tz {default_tz!r} is not an IANA time zone") from None
    if deal_by.lower().startswith("property:"):
        deal_property: str | None = deal_by.split(":", 1)[1].strip().upper()
        if not deal_property:
            raise ImporterError("--deal-by property:NAME needs a property name, e.g. property:X-DEAL-ID")
    elif deal_by == "account":
        deal_property = None
    else:
        raise ImporterError(f"--deal-by must be account or property:NAME for calendars, not {deal_by!r}")
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(x for x in p.rglob("*") if x.is_file() and x.suffix.lower() == ".ics")
        elif p.is_file():
            files.append(p)
        else:
            raise ImporterError(f"{p}: no such file or folder")

    def parse_bound(value: str | dt.datetime | None, name: str) -> dt.datetime | None:
        if value is None or value == "":
            return None
        try:
            ts = pd.Timestamp(value)
        except ValueError:
            raise ImporterError(f"{name} {value!r} is not a date") from None
        return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).to_pydatetime()

    start_bound = parse_bound(window_start, "--window-start")
    end_bound = (
        parse_bound(window_end, "--window-end")
        or (now + pd.Timedelta(days=DEFAULT_FUTURE_DAYS)).to_pydatetime()
    )

    out = Path(out_dir)
    dataset, existing_fmt = _load_existing(out)
    report = ImportReport(source="ics", out_dir=str(out))

    # Pass 1: parse files into UID groups.
    groups: list[tuple[str, str, list[Any], list[Any]]] = []  # file, uid, components, timezones
    earliest: dt.datetime | None = None
    for path in files:
        name = str(path)
        try:
            calendars = _calendars(path)
        except Exception as exc:  # noqa: BLE001 - a broken file is one rejected record, not a crash
            report.read(name)
            report.reject(name, "file", "", f"not a valid iCalendar file: {exc}")
            continue
        report.per_file.setdefault(name, {"read": 0, "imported": 0, "rejected": 0})
        for cal in calendars:
            timezones = list(cal.walk("VTIMEZONE"))
            by_uid: dict[str, list[Any]] = {}
            for n, comp in enumerate(cal.walk("VEVENT"), start=1):
                uid = str(comp.get("UID", "")).strip()
                if not uid:
                    basis = (
                        comp.get("DTSTART") and comp["DTSTART"].to_ical(),
                        comp.get("SUMMARY"),
                        comp.get("ORGANIZER"),
                    )
                    uid = stable_id("ics", *basis)
                    comp["UID"] = uid
                    report.warn(f"{name}: VEVENT #{n} has no UID; synthesised {uid}")
                by_uid.setdefault(uid, []).append(comp)
                start = comp.get("DTSTART")
                if start is not None and isinstance(start.dt, dt.datetime):
                    value = start.dt if start.dt.tzinfo else start.dt.replace(tzinfo=tz)
                    with_tz = value.astimezone(dt.UTC)
                    earliest = with_tz if earliest is None or with_tz < earliest else earliest
            for uid, comps in by_uid.items():
                groups.append((name, uid, comps, timezones))
    window = (start_bound or earliest or (now - pd.Timedelta(days=365)).to_pydatetime(), end_bound)
    if (start_bound and start_bound < EARLIEST) or window[1] > LATEST:
        raise ImporterError(
            f"the window {window[0]:%Y-%m-%d}..{window[1]:%Y-%m-%d} must lie within 1970-2099"
        )
    # The default start follows the earliest event, but never before 1970 (old birthdays, clock errors).
    window = (max(window[0], EARLIEST), window[1])
    if window[0] >= window[1]:
        raise ImporterError(f"the window start {window[0]} is not before its end {window[1]}")

    # Pass 2: validate and expand each UID group (one group = its VEVENT components, all counted as records).
    occurrences: list[tuple[int, _Occurrence]] = []
    group_ok: list[bool] = []
    for gi, (name, uid, comps, timezones) in enumerate(groups):
        report.read(name, len(comps))

        def reject_all(
            fld: str, reason: str, name: str = name, uid: str = uid, comps: list[Any] = comps
        ) -> None:
            for _ in comps:
                report.reject(name, f"UID {uid}", fld, reason)

        master = next((c for c in comps if c.get("RECURRENCE-ID") is None), comps[0])
        if master.get("DTSTART") is None:
            reject_all("DTSTART", "missing DTSTART")
            group_ok.append(False)
            continue
        unknown = next((t for t in map(_unknown_tzid, comps) if t), None)
        if unknown:
            reject_all(
                "DTSTART",
                f"unknown time zone TZID={unknown!r}: no VTIMEZONE for it and not an IANA/Windows name",
            )
            group_ok.append(False)
            continue
        if not isinstance(master["DTSTART"].dt, dt.datetime):
            reject_all("DTSTART", "all-day event (a date without a time): not a meeting")
            group_ok.append(False)
            continue
        if str(master.get("STATUS", "")).upper() == "CANCELLED":
            reject_all("STATUS", "cancelled event")
            group_ok.append(False)
            continue
        if master["DTSTART"].dt.tzinfo is None and "TZID" not in master["DTSTART"].params:
            report.warn(f"{name}: UID {uid}: floating time (no time zone); read as {default_tz}")
        try:
            found = _occurrences(comps, timezones, window, tz, deal_property, name, uid)
        except Exception as exc:  # noqa: BLE001 - one bad event never stops the import
            reject_all("RRULE", f"cannot expand the event: {type(exc).__name__}: {exc}")
            group_ok.append(False)
            continue
        if not found:
            reject_all(
                "DTSTART", f"no occurrence between {window[0]:%Y-%m-%d} and {window[1]:%Y-%m-%d} (--window-*)"
            )
            group_ok.append(False)
            continue
        occurrences += [(gi, o) for o in found]
        group_ok.append(True)

    # People and accounts.
    people = dataset.people.copy()
    accounts = dataset.accounts.copy()
    deals = dataset.deals.copy()
    by_email = {
        str(e).lower(): str(p)
        for e, p in zip(people["email"], people["person_id"], strict=True)
        if pd.notna(e)
    }
    account_of_person = dict(zip(people["person_id"].astype(str), people["account_id"], strict=True))
    domain_account = {
        str(d): str(a) for d, a in zip(accounts["domain"], accounts["account_id"], strict=True) if pd.notna(d)
    }
    sellers = {normalise_domain(d) for d in seller_domains} - {None}
    sellers |= {
        str(e).rsplit("@", 1)[1]
        for e, s in zip(people["email"], people["side"], strict=True)
        if s == "seller" and pd.notna(e)
    }
    new_accounts = [
        d for d in (normalise_domain(x) for x in account_domains) if d and d not in domain_account
    ]
    if not len(accounts) and not new_accounts:
        counts: Counter[str] = Counter()
        for _, o in occurrences:
            for address in [*o.attendees, *([o.organizer[0]] if o.organizer else [])]:
                d = address.rsplit("@", 1)[1]
                if not match_domain(d, sellers):
                    counts[d] += 1
        if counts:
            top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            new_accounts = [top]
            report.warn(
                f"no accounts in the dataset and no --account-domain: the most frequent attendee domain {top!r} is the account"
            )
    added_accounts = [
        {"account_id": d, "name": d, "domain": d, "industry": None, "country": None} for d in new_accounts
    ]
    for d in new_accounts:
        domain_account[d] = d
    new_people: dict[str, dict] = {}

    def person(address: str, name: str) -> str:
        pid = by_email.get(address)
        if pid:
            return pid
        domain = address.rsplit("@", 1)[1]
        account = domain_account.get(match_domain(domain, domain_account) or "")
        side = "seller" if match_domain(domain, sellers) else ("buyer" if account else "partner")
        pid = person_id_for(address)
        new_people[pid] = {
            "person_id": pid,
            "account_id": account if side == "buyer" else None,
            "full_name": name or None,
            "email": address,
            "title": None,
            "department": None,
            "side": side,
        }
        by_email[address] = pid
        account_of_person[pid] = account if side == "buyer" else None
        return pid

    # Meetings, deals.
    meetings: dict[str, dict] = {}
    attendees: dict[tuple[str, str], dict] = {}
    failed: dict[int, tuple[str, str]] = {}
    needs_new_deal: dict[str, list[str]] = {}  # account -> meeting ids
    for gi, o in occurrences:
        if gi in failed:
            continue
        ids = {person(a, n): r for a, (n, r) in o.attendees.items()}
        organizer = person(*o.organizer) if o.organizer else None
        if organizer and organizer not in ids:
            ids[organizer] = "accepted"  # the organizer attends their own meeting
        votes = Counter(a for a in (account_of_person.get(p) for p in ids) if isinstance(a, str) and a)
        if not votes:
            failed[gi] = (
                "ATTENDEE",
                "no organizer or attendee belongs to a known account (see --account-domain)",
            )
            continue
        account = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        deal_id = None
        if o.deal_property:
            deal_id = o.deal_property
            known = deals[deals["deal_id"] == deal_id]
            if len(known):
                created, closed = known["created_at"].iloc[0], known["closed_at"].iloc[0]
                if o.start < created or (pd.notna(closed) and o.start > closed):
                    failed[gi] = (
                        deal_property or "",
                        f"meeting at {o.start.isoformat()} is outside deal {deal_id}'s life",
                    )
                    continue
            else:
                needs_new_deal.setdefault(f"{account}\x1f{deal_id}", []).append(o.meeting_id)
        else:
            deal_id = deal_for_event(deals, account, o.start)
            if deal_id is None:
                deal_id = f"cal-{account}"
                needs_new_deal.setdefault(f"{account}\x1f{deal_id}", []).append(o.meeting_id)
        meetings[o.meeting_id] = {
            "meeting_id": o.meeting_id,
            "deal_id": deal_id,
            "start_at": o.start,
            "duration_min": o.duration_min,
            "organizer_id": organizer,
            "kind": o.kind,
            "_group": gi,
        }
        for pid, response in ids.items():
            attendees[(o.meeting_id, pid)] = {
                "meeting_id": o.meeting_id,
                "person_id": pid,
                "response": response,
                "attended": attended_from(response, o.start, now),
            }
    meetings = {k: m for k, m in meetings.items() if m["_group"] not in failed}
    attendees = {k: a for k, a in attendees.items() if k[0] in meetings}
    referenced = {pid for _, pid in attendees} | {m["organizer_id"] for m in meetings.values()}
    new_people = {pid: row for pid, row in new_people.items() if pid in referenced}
    # Deals created by the calendar (or named by the property) start at their first meeting.
    new_deals = []
    for key, meeting_ids in needs_new_deal.items():
        account, deal_id = key.split("\x1f")
        starts = [meetings[m]["start_at"] for m in meeting_ids if m in meetings]
        if not starts:
            continue
        first = min(starts)
        mask = deals["deal_id"] == deal_id
        if mask.any():
            deals.loc[mask, "created_at"] = min(first, deals.loc[mask, "created_at"].iloc[0])
            continue
        new_deals.append(
            {"deal_id": deal_id, "account_id": account, "created_at": first, "closed_at": None, "stage": None,
             "outcome": "open", "amount": None, "currency": None}
        )  # fmt: skip
        deals = pd.concat([deals, coerce_table("deals", pd.DataFrame(new_deals[-1:]))], ignore_index=True)
    # A group with any failed occurrence is rejected whole (its components are the records).
    for gi in failed:
        group_ok[gi] = False
        name, uid, comps, _ = groups[gi]
        for _ in comps:
            report.reject(name, f"UID {uid}", *failed[gi])
    for gi, ok in enumerate(group_ok):
        if ok:
            report.accept(groups[gi][0], len(groups[gi][2]))

    # Merge: re-importing a calendar replaces its meetings (same meeting_id) and their attendees.
    old_meetings = dataset.meetings[~dataset.meetings["meeting_id"].isin(meetings)]
    old_attendees = dataset.meeting_attendees[~dataset.meeting_attendees["meeting_id"].isin(meetings)]
    tables = dict(dataset.tables)
    tables["accounts"] = _concat("accounts", accounts, added_accounts)
    tables["people"] = _concat("people", people, list(new_people.values()))
    tables["deals"] = deals
    tables["meetings"] = _concat("meetings", old_meetings, list(meetings.values()))
    tables["meeting_attendees"] = _concat("meeting_attendees", old_attendees, list(attendees.values()))
    write_dataset(tables, out, fmt=fmt or existing_fmt or "parquet")  # type: ignore[arg-type]
    report.tables = {
        "accounts (new)": len(added_accounts),
        "people (new)": len(new_people),
        "deals (new)": len(new_deals),
        "meetings": len(meetings),
        "meeting_attendees": len(attendees),
    }
    report.check()
    return report


def _concat(name: str, existing: pd.DataFrame, rows: list[dict]) -> pd.DataFrame:
    added = coerce_table(name, pd.DataFrame(rows, columns=TABLES[name].column_names))
    if not len(existing):
        return added
    return pd.concat([coerce_table(name, existing), added], ignore_index=True)
