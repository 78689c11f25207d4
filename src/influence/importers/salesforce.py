"""Import a Salesforce CSV export (API field names) into a new dataset folder.

Files (case-insensitive names, in one folder): Account.csv, Contact.csv, Opportunity.csv (required);
User.csv (our sellers), OpportunityContactRole.csv (-> labels), Event.csv + EventRelation.csv (-> meetings and
attendees), EmailMessage.csv + EmailMessageRelation.csv (-> emails and recipients; TextBody/HtmlBody columns are
dropped while reading and never reach the dataset). Every row read is imported or rejected with file, row, field
and reason. The role-to-profile mapping and every other choice are in docs/importers.md.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from influence.contract import PROFILES, TABLES, coerce_table, write_dataset
from influence.importers._common import (
    ImporterError,
    ImportReport,
    RowError,
    attended_from,
    bool_field,
    cell,
    check_columns,
    clear_dataset_files,
    country_code,
    deal_for_event,
    match_domain,
    meeting_kind,
    missing_export_file,
    normalise_domain,
    normalise_email,
    parse_amount,
    person_id_for,
    process_rows,
    read_csv_file,
    required,
    timestamp_field,
)

__all__ = ["import_salesforce", "DEFAULT_ROLE_MAP", "PROFILE_PRECEDENCE", "load_role_map"]

# role (lower case) -> (profile, influence before the IsPrimary bonus). Influence is a documented prior, not a
# measurement: contact roles say who holds which formal role, not how much they swayed the decision.
DEFAULT_ROLE_MAP: dict[str, tuple[str, float]] = {
    "economic buyer": ("budget_holder", 0.8),
    "economic decision maker": ("budget_holder", 0.8),
    # "Decision Maker" in Salesforce's default picklist means the person who signs off on the purchase: the
    # holder of the budget decision, so budget_holder (not executive_sponsor, which sponsors without signing).
    "decision maker": ("budget_holder", 0.8),
    "executive sponsor": ("executive_sponsor", 0.85),
    "technical buyer": ("technical_gatekeeper", 0.6),
    "evaluator": ("technical_gatekeeper", 0.5),
    "business user": ("end_user", 0.3),
    "influencer": ("silent_influencer", 0.5),
    "other": ("peripheral", 0.1),
}
PRIMARY_BONUS = 0.15
# When one contact has several roles on one opportunity, the profile that comes first here wins: formal
# authority first, then gatekeeping, then informal influence, then use.
PROFILE_PRECEDENCE: tuple[str, ...] = (
    "executive_sponsor",
    "budget_holder",
    "procurement",
    "technical_gatekeeper",
    "political_gatekeeper",
    "silent_influencer",
    "end_user",
    "external_advisor",
    "digital_researcher",
    "peripheral",
)
_STATUS = {
    "new": "none",
    "needs-action": "none",
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentative",
    "maybe": "tentative",
}
_RELATION_KIND = {"toaddress": "to", "ccaddress": "cc", "bccaddress": "bcc"}
_BODY_COLUMNS = ("TextBody", "HtmlBody", "Body", "Description")


def load_role_map(path: str | Path | None) -> dict[str, tuple[str, float]]:
    """The default role map, extended/overridden by a TOML or JSON file: {"Role": "profile"} or
    {"Role": {"profile": "...", "influence": 0.4}} (a TOML file may nest them under a [roles] table)."""
    roles = dict(DEFAULT_ROLE_MAP)
    if path is None:
        return roles
    p = Path(path)
    try:
        data = (
            tomllib.loads(p.read_text("utf-8"))
            if p.suffix.lower() == ".toml"
            else json.loads(p.read_text("utf-8"))
        )
    except (OSError, ValueError) as exc:
        raise ImporterError(f"{p}: cannot read the role map: {exc}") from None
    if isinstance(data, Mapping) and isinstance(data.get("roles"), Mapping):
        data = data["roles"]
    if not isinstance(data, Mapping):
        raise ImporterError(f"{p}: the role map must be a table/object of role -> profile")
    for role, value in data.items():
        spec = value if isinstance(value, Mapping) else {"profile": value}
        profile = spec.get("profile")
        if profile not in PROFILES:
            raise ImporterError(
                f"{p}: role {role!r}: profile {profile!r} is not one of {', '.join(PROFILES)}"
            )
        default = roles.get(str(role).strip().lower(), (profile, 0.5))[1]
        influence = float(spec.get("influence", default))
        if not 0.0 <= influence <= 1.0:
            raise ImporterError(f"{p}: role {role!r}: influence {influence} is outside [0, 1]")
        roles[" ".join(str(role).lower().split())] = (profile, influence)
    return roles


@dataclass
class _State:
    report: ImportReport
    now: pd.Timestamp
    roles: dict[str, tuple[str, float]]
    accounts: dict[str, dict] = field(default_factory=dict)
    account_domains: dict[str, str] = field(default_factory=dict)  # domain -> account_id
    people: dict[str, dict] = field(default_factory=dict)
    by_email: dict[str, str] = field(default_factory=dict)
    seller_domains: set[str] = field(default_factory=set)
    deals: dict[str, dict] = field(default_factory=dict)
    labels: dict[tuple[str, str], dict] = field(default_factory=dict)
    meetings: dict[str, dict] = field(default_factory=dict)
    attendees: dict[tuple[str, str], dict] = field(default_factory=dict)
    emails: dict[str, dict] = field(default_factory=dict)  # by Salesforce EmailMessage Id
    recipients: dict[tuple[str, str], dict] = field(default_factory=dict)

    def deal_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            list(self.deals.values()), columns=["deal_id", "account_id", "created_at", "closed_at", "outcome"]
        )

    def person_by_address(self, address: str, name: str = "") -> str:
        """The person with this address, created when unknown (side from the domain)."""
        known = self.by_email.get(address)
        if known:
            return known
        domain = address.rsplit("@", 1)[1]
        account = self.account_domains.get(match_domain(domain, self.account_domains) or "")
        side = "seller" if match_domain(domain, self.seller_domains) else ("buyer" if account else "partner")
        pid = person_id_for(address)
        self.people[pid] = {
            "person_id": pid,
            "account_id": account if side == "buyer" else None,
            "full_name": name or None,
            "email": address,
            "title": None,
            "department": None,
            "side": side,
        }
        self.by_email[address] = pid
        return pid


def _find(folder: Path, name: str) -> Path | None:
    for p in folder.iterdir():
        if p.is_file() and p.name.lower() == f"{name.lower()}.csv":
            return p
    return None


def _read(folder: Path, name: str, st: _State, *, needed: bool) -> tuple[pd.DataFrame | None, str]:
    path = _find(folder, name)
    if path is None:
        if needed:
            raise missing_export_file(folder, name, "Account, Contact, Opportunity")
        return None, name
    skip = _BODY_COLUMNS if name.lower() == "emailmessage" else ()
    return read_csv_file(path, st.report, skip_columns=skip), path.name


def _deal_for(st: _State, what_id: str, account_id: str, at: pd.Timestamp, fld: str) -> dict:
    """The deal an activity belongs to: its WhatId/RelatedToId opportunity, else the account's deal alive then."""
    if what_id in st.deals:
        deal = st.deals[what_id]
    else:
        account = account_id if account_id in st.accounts else (what_id if what_id in st.accounts else "")
        if not account:
            raise RowError(fld, f"{what_id or '(empty)'} is not an exported Opportunity or Account")
        found = deal_for_event(st.deal_frame(), account, at)
        if found is None:
            raise RowError(fld, f"account {account} has no opportunity open at {at.isoformat()}")
        deal = st.deals[found]
    if at < deal["created_at"]:
        raise RowError(
            fld,
            f"activity at {at.isoformat()} precedes opportunity {deal['deal_id']} CreatedDate "
            f"{deal['created_at'].isoformat()} (the contract keeps activities inside a deal's life)",
        )
    if pd.notna(deal["closed_at"]) and at > deal["closed_at"]:
        raise RowError(
            fld,
            f"activity at {at.isoformat()} is after opportunity {deal['deal_id']} CloseDate {deal['closed_at'].isoformat()}",
        )
    return deal


def import_salesforce(
    folder: str | Path,
    out_dir: str | Path,
    *,
    role_map: str | Path | None = None,
    fmt: Literal["parquet", "csv"] = "parquet",
    overwrite: bool = False,
    now: pd.Timestamp | None = None,
) -> ImportReport:
    """Import a folder of Salesforce CSV exports into a new dataset folder `out_dir`; see the module docstring.

    `now` (default: the current time) decides which meetings are in the past, for attendance.
    """
    src = Path(folder)
    if not src.is_dir():
        raise ImporterError(f"{src}: no such folder")
    roles = load_role_map(role_map)
    out = Path(out_dir)
    report = ImportReport(source="salesforce", out_dir=str(out))
    st = _State(report, now or pd.Timestamp.now(tz="UTC"), roles)
    frames = {
        name: _read(src, name, st, needed=name in ("Account", "Contact", "Opportunity"))
        for name in (
            "Account", "User", "Contact", "Opportunity", "OpportunityContactRole", "Event", "EventRelation",
            "EmailMessage", "EmailMessageRelation",
        )
    }  # fmt: skip
    needed_columns = {
        "Account": ("Id", "Name"),
        "Contact": ("Id",),
        "Opportunity": ("Id", "AccountId", "CreatedDate"),
        "OpportunityContactRole": ("OpportunityId", "ContactId", "Role"),
        "Event": ("Id", "StartDateTime"),
        "EventRelation": ("EventId", "RelationId"),
        "EmailMessage": ("Id", "MessageDate"),
        "EmailMessageRelation": ("EmailMessageId", "RelationType"),
    }
    for name, columns in needed_columns.items():
        frame, file = frames[name]
        if frame is not None:
            check_columns(frame, file, columns)
    clear_dataset_files(out, overwrite)

    def run(name: str, handle) -> None:  # noqa: ANN001
        frame, file = frames[name]
        if frame is not None:
            process_rows(frame, file, report, handle)

    def account(row: dict[str, str]) -> None:
        aid = required(row, "Id")
        if aid in st.accounts:
            raise RowError("Id", f"duplicate Account Id {aid}")
        domain = normalise_domain(cell(row, "Website"))
        st.accounts[aid] = {
            "account_id": aid,
            "name": required(row, "Name"),
            "domain": domain,
            "industry": cell(row, "Industry") or None,
            "country": country_code(cell(row, "BillingCountry"), report, f"Account {aid}"),
        }
        if domain:
            st.account_domains.setdefault(domain, aid)

    def user(row: dict[str, str]) -> None:
        uid = required(row, "Id")
        if uid in st.people:
            raise RowError("Id", f"duplicate Id {uid}")
        email = normalise_email(cell(row, "Email"))
        name = cell(row, "Name") or " ".join(x for x in (cell(row, "FirstName"), cell(row, "LastName")) if x)
        st.people[uid] = {
            "person_id": uid,
            "account_id": None,
            "full_name": name or None,
            "email": email,
            "title": cell(row, "Title") or None,
            "department": cell(row, "Department") or None,
            "side": "seller",
        }
        if email:
            st.by_email.setdefault(email, uid)
            st.seller_domains.add(email.rsplit("@", 1)[1])

    def contact(row: dict[str, str]) -> None:
        cid = required(row, "Id")
        if cid in st.people:
            raise RowError("Id", f"duplicate Id {cid}")
        aid = cell(row, "AccountId")
        if aid and aid not in st.accounts:
            raise RowError(
                "AccountId", f"{aid} is not an imported Account (missing from Account.csv or rejected)"
            )
        raw_email = cell(row, "Email")
        email = normalise_email(raw_email)
        if raw_email and email is None:
            report.warn(f"Contact {cid}: e-mail {raw_email!r} is not an address; left empty")
        if not aid:
            report.warn(f"Contact {cid}: no AccountId; imported as a partner (no account)")
        name = " ".join(x for x in (cell(row, "FirstName"), cell(row, "LastName")) if x) or cell(row, "Name")
        st.people[cid] = {
            "person_id": cid,
            "account_id": aid or None,
            "full_name": name or None,
            "email": email,
            "title": cell(row, "Title") or None,
            "department": cell(row, "Department") or None,
            "side": "buyer" if aid else "partner",
        }
        if email:
            st.by_email.setdefault(email, cid)

    def opportunity(row: dict[str, str]) -> None:
        oid = required(row, "Id")
        if oid in st.deals:
            raise RowError("Id", f"duplicate Opportunity Id {oid}")
        aid = required(row, "AccountId")
        if aid not in st.accounts:
            raise RowError(
                "AccountId", f"{aid} is not an imported Account (missing from Account.csv or rejected)"
            )
        created = timestamp_field(row, "CreatedDate")
        stage = cell(row, "StageName")
        is_closed = bool_field(row, "IsClosed")
        is_won = bool_field(row, "IsWon")
        if is_closed is None:
            is_closed = stage.lower().startswith("closed")
        if is_won is None:
            is_won = stage.lower() in ("closed won", "won")
        outcome = ("won" if is_won else "lost") if is_closed else "open"
        closed = None
        if is_closed:
            # CloseDate is a date: "some time that day", so the end of that day (UTC).
            closed = timestamp_field(row, "CloseDate", end_of_day=True)
            if closed < created:
                raise RowError("CloseDate", f"{closed.date()} is before CreatedDate {created.isoformat()}")
        try:
            amount = parse_amount(cell(row, "Amount"))
        except ValueError as exc:
            raise RowError("Amount", str(exc)) from None
        if amount is not None and amount < 0:
            raise RowError("Amount", f"{amount} is negative")
        st.deals[oid] = {
            "deal_id": oid,
            "account_id": aid,
            "created_at": created,
            "closed_at": closed,
            "stage": stage or None,
            "outcome": outcome,
            "amount": amount,
            "currency": cell(row, "CurrencyIsoCode").upper() or None,
        }

    def contact_role(row: dict[str, str]) -> None:
        oid = required(row, "OpportunityId")
        if oid not in st.deals:
            raise RowError("OpportunityId", f"{oid} is not an imported Opportunity")
        cid = required(row, "ContactId")
        if cid not in st.people:
            raise RowError("ContactId", f"{cid} is not an imported Contact")
        role = " ".join(required(row, "Role").split())
        mapped = st.roles.get(role.lower())
        if mapped is None:
            raise RowError("Role", f"unknown contact role {role!r}: map it to a profile with --role-map")
        profile, influence = mapped
        primary = bool(bool_field(row, "IsPrimary"))
        if primary:
            influence = min(1.0, influence + PRIMARY_BONUS)
        key = (oid, cid)
        old = st.labels.get(key)
        if old is not None:
            # Several roles for one contact on one opportunity: one label, the profile first in precedence.
            if PROFILE_PRECEDENCE.index(profile) < PROFILE_PRECEDENCE.index(old["profile"]):
                old["profile"] = profile
            old["influence"] = max(old["influence"], influence)
            report.warn(
                f"contact {cid} has several roles on {oid}; merged into {old['profile']!r} by precedence"
            )
            return
        st.labels[key] = {
            "deal_id": oid,
            "person_id": cid,
            "influence": influence,
            "profile": profile,
            "source": "crm_contact_role",
        }

    def event(row: dict[str, str]) -> None:
        eid = required(row, "Id")
        if eid in st.meetings:
            raise RowError("Id", f"duplicate Event Id {eid}")
        if bool_field(row, "IsAllDayEvent"):
            raise RowError("IsAllDayEvent", "all-day event (no time): not a meeting")
        start = timestamp_field(row, "StartDateTime")
        end = timestamp_field(row, "EndDateTime", needed=False)
        minutes = cell(row, "DurationInMinutes")
        duration = (
            float(minutes) if minutes else ((end - start).total_seconds() / 60 if end is not None else None)
        )
        if duration is not None and duration < 0:
            raise RowError("EndDateTime", "the event ends before it starts")
        deal = _deal_for(st, cell(row, "WhatId"), cell(row, "AccountId"), start, "WhatId")
        owner = cell(row, "OwnerId")
        if owner and owner not in st.people:
            report.warn(f"Event {eid}: OwnerId {owner} is not an exported User; organizer left empty")
        st.meetings[eid] = {
            "meeting_id": eid,
            "deal_id": deal["deal_id"],
            "start_at": start,
            "duration_min": duration,
            "organizer_id": owner if owner in st.people else None,
            "kind": meeting_kind(f"{cell(row, 'Type')} {cell(row, 'Subject')}"),
        }

    def event_relation(row: dict[str, str]) -> None:
        eid = required(row, "EventId")
        if eid not in st.meetings:
            raise RowError("EventId", f"{eid} is not an imported Event (missing from Event.csv or rejected)")
        if bool_field(row, "IsInvitee") is False:
            raise RowError("IsInvitee", "false: a related record (WhoId/WhatId), not an invitee")
        rid = required(row, "RelationId")
        if rid not in st.people:
            raise RowError("RelationId", f"{rid} is not an imported Contact or User (Leads are not imported)")
        status = cell(row, "Status").lower() or "new"
        response = _STATUS.get(status)
        if response is None:
            raise RowError("Status", f"{cell(row, 'Status')!r} is not New, Accepted, Declined or Tentative")
        if (eid, rid) in st.attendees:
            raise RowError("RelationId", f"{rid} is already an attendee of event {eid}")
        start = st.meetings[eid]["start_at"]
        st.attendees[(eid, rid)] = {
            "meeting_id": eid,
            "person_id": rid,
            "response": response,
            "attended": attended_from(response, start, st.now),
        }

    pending_relations: dict[str, list[tuple[str, str]]] = {}
    seen_message_ids: set[str] = set()

    def email_message(row: dict[str, str]) -> None:
        sid = required(row, "Id")
        if sid in st.emails:
            raise RowError("Id", f"duplicate EmailMessage Id {sid}")
        sent = timestamp_field(row, "MessageDate")
        deal = _deal_for(st, cell(row, "RelatedToId"), "", sent, "RelatedToId")
        mid = cell(row, "MessageIdentifier")
        mid = mid if mid.startswith("<") else (f"<{mid}>" if mid else f"<{sid}@salesforce.invalid>")
        if mid in seen_message_ids:
            raise RowError("MessageIdentifier", f"duplicate MessageIdentifier {mid}")
        seen_message_ids.add(mid)
        sender = None
        from_address = normalise_email(cell(row, "FromAddress"))
        if from_address:
            sender = st.person_by_address(from_address, cell(row, "FromName"))
        elif cell(row, "FromAddress"):
            raise RowError("FromAddress", f"{cell(row, 'FromAddress')!r} is not an e-mail address")
        st.emails[sid] = {
            "message_id": mid,
            "deal_id": deal["deal_id"],
            "thread_id": cell(row, "ThreadIdentifier") or None,
            "sent_at": sent,
            "sender_id": sender,
            "in_reply_to": cell(row, "ReplyToEmailMessageId") or None,
            "_row": row["_row"],
        }
        for column, kind in (("ToAddress", "to"), ("CcAddress", "cc"), ("BccAddress", "bcc")):
            for address in cell(row, column).replace(",", ";").split(";"):
                if address.strip():
                    pending_relations.setdefault(sid, []).append((address.strip(), kind))

    def email_relation(row: dict[str, str]) -> None:
        sid = required(row, "EmailMessageId")
        if sid not in st.emails:
            raise RowError("EmailMessageId", f"{sid} is not an imported EmailMessage (missing or rejected)")
        rtype = required(row, "RelationType").lower()
        rid = cell(row, "RelationId")
        address = normalise_email(cell(row, "RelationAddress"))
        if rid and rid in st.people:
            pid = rid
        elif address:
            pid = st.person_by_address(address)
        else:
            raise RowError("RelationAddress", "neither a known RelationId nor a valid RelationAddress")
        message = st.emails[sid]
        if rtype == "fromaddress":
            if message["sender_id"] and message["sender_id"] != pid:
                raise RowError(
                    "RelationId",
                    f"FromAddress relation disagrees with the message's sender {message['sender_id']}",
                )
            message["sender_id"] = pid
            return
        kind = _RELATION_KIND.get(rtype)
        if kind is None:
            raise RowError(
                "RelationType",
                f"{cell(row, 'RelationType')!r} is not FromAddress, ToAddress, CcAddress or BccAddress",
            )
        key = (message["message_id"], pid)
        if key in st.recipients:
            raise RowError(
                "RelationId", f"{pid} is already a recipient ({st.recipients[key]['kind']}) of {sid}"
            )
        st.recipients[key] = {
            "message_id": message["message_id"],
            "person_id": pid,
            "kind": kind,
            "_row": row["_row"],
        }

    run("Account", account)
    run("User", user)
    run("Contact", contact)
    run("Opportunity", opportunity)
    run("OpportunityContactRole", contact_role)
    run("Event", event)
    run("EventRelation", event_relation)
    # Organizers are attendees of their own meetings (Salesforce lists invitees only).
    for m in st.meetings.values():
        if m["organizer_id"] and (m["meeting_id"], m["organizer_id"]) not in st.attendees:
            st.attendees[(m["meeting_id"], m["organizer_id"])] = {
                "meeting_id": m["meeting_id"],
                "person_id": m["organizer_id"],
                "response": "accepted",
                "attended": attended_from("accepted", m["start_at"], st.now),
            }
    run("EmailMessage", email_message)
    if frames["EmailMessageRelation"][0] is not None:
        run("EmailMessageRelation", email_relation)
    else:
        # Without the relation file, the addresses in EmailMessage's To/Cc/Bcc columns are the recipients.
        for sid, entries in pending_relations.items():
            for raw, kind in entries:
                address = normalise_email(raw)
                if address is None:
                    report.warn(f"EmailMessage {sid}: recipient {raw!r} is not an address; skipped")
                    continue
                pid = st.person_by_address(address)
                key = (st.emails[sid]["message_id"], pid)
                st.recipients.setdefault(key, {"message_id": key[0], "person_id": pid, "kind": kind})
    # Messages still without a sender are rejected now (their recipient rows go with them).
    _, email_file = frames["EmailMessage"]
    for sid, message in list(st.emails.items()):
        if message["sender_id"] is None:
            report.imported -= 1
            report.per_file[email_file]["imported"] -= 1
            report.reject(
                email_file,
                f"row {message['_row']}",
                "FromAddress",
                "no sender: empty FromAddress and no FromAddress relation",
            )
            del st.emails[sid]
    kept_ids = {e["message_id"] for e in st.emails.values()}
    rel_file = frames["EmailMessageRelation"][1]
    for key in [k for k in st.recipients if k[0] not in kept_ids]:
        entry = st.recipients.pop(key)
        if "_row" in entry:
            report.imported -= 1
            report.per_file[rel_file]["imported"] -= 1
            report.reject(
                rel_file,
                f"row {entry['_row']}",
                "EmailMessageId",
                "its EmailMessage was rejected (no sender)",
            )
    sf_to_mid = {sid: e["message_id"] for sid, e in st.emails.items()}
    parent_of = {}
    for message in st.emails.values():
        parent = message["in_reply_to"]
        message["in_reply_to"] = sf_to_mid.get(parent, parent if parent and parent.startswith("<") else None)
        parent_of[message["message_id"]] = message["in_reply_to"]
    for message in st.emails.values():
        if message["thread_id"] is None:
            # No ThreadIdentifier: the thread is named after the first message up the reply chain.
            root, seen = message["message_id"], set()
            while parent_of.get(root) in parent_of and root not in seen:
                seen.add(root)
                root = parent_of[root]
            message["thread_id"] = root

    tables = {
        "accounts": st.accounts.values(),
        "people": st.people.values(),
        "deals": st.deals.values(),
        "meetings": st.meetings.values(),
        "meeting_attendees": st.attendees.values(),
        "emails": st.emails.values(),
        "email_recipients": st.recipients.values(),
        "labels": st.labels.values(),
    }
    frames_out = {
        name: coerce_table(name, pd.DataFrame(list(rows), columns=TABLES[name].column_names))
        for name, rows in tables.items()
    }
    write_dataset(frames_out, out, fmt=fmt)
    report.tables = {name: len(f) for name, f in frames_out.items() if len(f) or TABLES[name].required}
    report.check()
    return report
