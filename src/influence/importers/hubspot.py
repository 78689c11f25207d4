"""Import a HubSpot CSV export into a new dataset folder.

Files (case-insensitive names, in one folder): companies.csv, contacts.csv, deals.csv (required), plus
association exports: a CSV whose name contains "deal" and "contact" (deal-contact pairs) and one whose name
contains "deal" and "compan" (deal-company pairs). Column names may be HubSpot's export labels ("Record ID",
"First Name", "Buying Role", "Create Date") or internal names (hs_object_id, firstname, hs_buying_role,
createdate). The multi-select `hs_buying_role` becomes labels for every deal the contact is associated with;
the mapping and precedence are in docs/importers.md. A contact associated with a deal but without a (known) buying
role is kept as a deal participant: a labels row with empty influence and profile, source `crm_association`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from influence.contract import PARTICIPANT_SOURCE, TABLES, coerce_table, write_dataset
from influence.importers._common import (
    ImporterError,
    ImportReport,
    RowError,
    bool_field,
    cell,
    clear_dataset_files,
    country_code,
    match_domain,
    missing_export_file,
    normalise_domain,
    normalise_email,
    parse_amount,
    process_rows,
    read_csv_file,
    required,
    timestamp_field,
)
from influence.importers.salesforce import PROFILE_PRECEDENCE

__all__ = ["import_hubspot", "BUYING_ROLE_MAP", "PARTICIPANT_SOURCE"]


# hs_buying_role value -> (profile, influence prior). HubSpot has no technical role; BLOCKER is someone who can
# stop the deal without owning it (political_gatekeeper); a CHAMPION sells for us from inside without formal
# authority (silent_influencer, with a high prior); LEGAL_AND_COMPLIANCE gates the contract like procurement.
BUYING_ROLE_MAP: dict[str, tuple[str, float]] = {
    "BUDGET_HOLDER": ("budget_holder", 0.8),
    "DECISION_MAKER": ("budget_holder", 0.8),
    "EXECUTIVE_SPONSOR": ("executive_sponsor", 0.85),
    "CHAMPION": ("silent_influencer", 0.7),
    "INFLUENCER": ("silent_influencer", 0.5),
    "BLOCKER": ("political_gatekeeper", 0.6),
    "LEGAL_AND_COMPLIANCE": ("procurement", 0.4),
    "END_USER": ("end_user", 0.3),
    "OTHER": ("peripheral", 0.1),
}
_ID = ("record id", "hs_object_id", "id", "vid")
_CONTACT_COMPANY = (
    "associated company id",
    "associatedcompanyid",
    "primary associated company id",
    "company id",
)
_DEAL_COMPANY = (
    "associated company ids",
    "associated company id",
    "associatedcompanyids",
    "associatedcompanyid",
)
_ASSOC_DEAL = ("deal id", "deal_id", "dealid", "record id (deal)", "from object id", "fromobjectid", "deal")
_ASSOC_CONTACT = (
    "contact id",
    "contact_id",
    "contactid",
    "record id (contact)",
    "to object id",
    "toobjectid",
    "contact",
)
_ASSOC_COMPANY = (
    "company id",
    "company_id",
    "companyid",
    "record id (company)",
    "to object id",
    "toobjectid",
    "company",
)


def _roles(value: str) -> list[str]:
    """`BUDGET_HOLDER;Champion` / `Budget Holder` -> ["BUDGET_HOLDER", "CHAMPION"]."""
    return [
        " ".join(v.split()).upper().replace(" ", "_") for v in value.replace(",", ";").split(";") if v.strip()
    ]


@dataclass
class _State:
    report: ImportReport
    accounts: dict[str, dict] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)
    people: dict[str, dict] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)
    deals: dict[str, dict] = field(default_factory=dict)
    deal_company: dict[str, str] = field(default_factory=dict)
    labels: dict[tuple[str, str], dict] = field(default_factory=dict)


def _find(folder: Path, *must: str, exact: str | None = None) -> list[Path]:
    found = []
    for p in sorted(folder.iterdir()):
        name = p.name.lower()
        if not p.is_file() or not name.endswith(".csv"):
            continue
        if exact is not None:
            if name == exact:
                found.append(p)
        elif all(m in name for m in must) and name not in ("contacts.csv", "deals.csv", "companies.csv"):
            found.append(p)
    return found


def import_hubspot(
    folder: str | Path,
    out_dir: str | Path,
    *,
    fmt: Literal["parquet", "csv"] = "parquet",
    overwrite: bool = False,
) -> ImportReport:
    """Import a folder of HubSpot CSV exports into a new dataset folder `out_dir`; see the module docstring."""
    src = Path(folder)
    if not src.is_dir():
        raise ImporterError(f"{src}: no such folder")
    files: dict[str, Path] = {}
    for name in ("companies", "contacts", "deals"):
        hit = _find(src, exact=f"{name}.csv")
        if not hit:
            raise missing_export_file(src, name, "companies, contacts, deals")
        files[name] = hit[0]
    out = Path(out_dir)
    report = ImportReport(source="hubspot", out_dir=str(out))
    st = _State(report)
    frames = {k: read_csv_file(p, report) for k, p in files.items()}
    for name, frame in frames.items():
        have = {c.lower() for c in frame.columns}
        if not have & set(_ID):
            raise ImporterError(f"{files[name].name}: no id column (one of: Record ID, hs_object_id, id)")
    if not {c.lower() for c in frames["deals"].columns} & {"create date", "createdate"}:
        raise ImporterError(f"{files['deals'].name}: no Create Date / createdate column")
    deal_contact = [(p.name, read_csv_file(p, report)) for p in _find(src, "deal", "contact")]
    deal_company = [(p.name, read_csv_file(p, report)) for p in _find(src, "deal", "compan")]
    clear_dataset_files(out, overwrite)

    def company(row: dict[str, str]) -> None:
        cid = required(row, *_ID)
        if cid in st.accounts:
            raise RowError("Record ID", f"duplicate company id {cid}")
        domain = normalise_domain(cell(row, "company domain name", "domain", "website url", "website"))
        name = cell(row, "company name", "name") or domain
        if not name:
            raise RowError("Company name", "is empty and there is no domain to name the company by")
        st.accounts[cid] = {
            "account_id": cid,
            "name": name,
            "domain": domain,
            "industry": cell(row, "industry") or None,
            "country": country_code(cell(row, "country/region", "country"), report, f"company {cid}"),
        }
        if domain:
            st.domains.setdefault(domain, cid)

    def contact(row: dict[str, str]) -> None:
        pid = required(row, *_ID)
        if pid in st.people:
            raise RowError("Record ID", f"duplicate contact id {pid}")
        raw_email = cell(row, "email")
        email = normalise_email(raw_email)
        if raw_email and email is None:
            report.warn(f"contact {pid}: e-mail {raw_email!r} is not an address; left empty")
        account = cell(row, *_CONTACT_COMPANY).split(";")[0].strip()
        if account and account not in st.accounts:
            report.warn(
                f"contact {pid}: company {account} is not in companies.csv; matched by e-mail domain instead"
            )
            account = ""
        if not account and email:
            # HubSpot itself associates contacts to companies by e-mail domain; do the same when the export lacks it.
            account = st.domains.get(match_domain(email.rsplit("@", 1)[1], st.domains) or "", "")
        roles = _roles(cell(row, "buying role", "hs_buying_role"))
        unknown = [r for r in roles if r not in BUYING_ROLE_MAP]
        if unknown:
            report.warn(f"contact {pid}: unknown buying role(s) {', '.join(unknown)} ignored")
        st.roles[pid] = [r for r in roles if r in BUYING_ROLE_MAP]
        name = " ".join(
            x for x in (cell(row, "first name", "firstname"), cell(row, "last name", "lastname")) if x
        )
        st.people[pid] = {
            "person_id": pid,
            "account_id": account or None,
            "full_name": name or None,
            "email": email,
            "title": cell(row, "job title", "jobtitle") or None,
            "department": cell(row, "department", "hs_department") or None,
            "side": "buyer" if account else "partner",
        }

    raw_deal_ids = {
        str(v).strip()
        for col in frames["deals"].columns
        if col.lower() in _ID
        for v in frames["deals"][col]
        if str(v).strip()
    }

    def deal_company_row(row: dict[str, str]) -> None:
        did = required(row, *_ASSOC_DEAL)
        cid = required(row, *_ASSOC_COMPANY)
        if did not in raw_deal_ids:
            raise RowError("Deal ID", f"{did} is not in deals.csv")
        if cid not in st.accounts:
            raise RowError("Company ID", f"{cid} is not an imported company")
        if did in st.deal_company and st.deal_company[did] != cid:
            raise RowError(
                "Company ID", f"deal {did} is already associated with company {st.deal_company[did]} (kept)"
            )
        st.deal_company[did] = cid

    def deal(row: dict[str, str]) -> None:
        did = required(row, *_ID)
        if did in st.deals:
            raise RowError("Record ID", f"duplicate deal id {did}")
        account = st.deal_company.get(did) or cell(row, *_DEAL_COMPANY).split(";")[0].strip()
        if not account:
            raise RowError(
                "Associated Company", "the deal has no associated company (an account is required)"
            )
        if account not in st.accounts:
            raise RowError("Associated Company", f"{account} is not an imported company")
        created = (
            timestamp_field(row, "create date")
            if cell(row, "create date")
            else timestamp_field(row, "createdate")
        )
        stage = cell(row, "deal stage", "dealstage")
        flat = stage.lower().replace(" ", "").replace("_", "")
        won = (
            bool_field(row, "is closed won")
            if cell(row, "is closed won")
            else bool_field(row, "hs_is_closed_won")
        )
        lost = (
            bool_field(row, "is closed lost")
            if cell(row, "is closed lost")
            else bool_field(row, "hs_is_closed_lost")
        )
        won = won if won is not None else flat == "closedwon"
        lost = lost if lost is not None else flat == "closedlost"
        if won and lost:
            raise RowError("Deal Stage", "the deal is marked both closed won and closed lost")
        outcome = "won" if won else ("lost" if lost else "open")
        closed = None
        if outcome != "open":
            name = "close date" if cell(row, "close date") else "closedate"
            closed = timestamp_field(row, name, end_of_day=True)
            if closed < created:
                raise RowError(
                    "Close Date", f"{closed.isoformat()} is before the create date {created.isoformat()}"
                )
        try:
            amount = parse_amount(cell(row, "amount", "amount in company currency"))
        except ValueError as exc:
            raise RowError("Amount", str(exc)) from None
        if amount is not None and amount < 0:
            raise RowError("Amount", f"{amount} is negative")
        st.deals[did] = {
            "deal_id": did,
            "account_id": account,
            "created_at": created,
            "closed_at": closed,
            "stage": stage or None,
            "outcome": outcome,
            "amount": amount,
            "currency": cell(row, "currency", "deal_currency_code").upper() or None,
        }

    def deal_contact_row(row: dict[str, str]) -> None:
        did = required(row, *_ASSOC_DEAL)
        pid = required(row, *_ASSOC_CONTACT)
        if did not in st.deals:
            raise RowError("Deal ID", f"{did} is not an imported deal")
        if pid not in st.people:
            raise RowError("Contact ID", f"{pid} is not an imported contact")
        roles = st.roles.get(pid) or []
        if (did, pid) in st.labels:
            return
        if not roles:
            # Associated without a buying role: still a participant of the deal (scoring gives them a row), but
            # no label: influence and profile stay empty, and training and evaluation skip such rows.
            st.labels[(did, pid)] = {
                "deal_id": did,
                "person_id": pid,
                "influence": None,
                "profile": None,
                "source": PARTICIPANT_SOURCE,
            }
            return
        mapped = [BUYING_ROLE_MAP[r] for r in roles]
        profile = min((p for p, _ in mapped), key=PROFILE_PRECEDENCE.index)
        st.labels[(did, pid)] = {
            "deal_id": did,
            "person_id": pid,
            "influence": max(i for _, i in mapped),
            "profile": profile,
            "source": "crm_buying_role",
        }

    process_rows(frames["companies"], files["companies"].name, report, company)
    process_rows(frames["contacts"], files["contacts"].name, report, contact)
    for name, frame in deal_company:
        process_rows(frame, name, report, deal_company_row)
    process_rows(frames["deals"], files["deals"].name, report, deal)
    for name, frame in deal_contact:
        process_rows(frame, name, report, deal_contact_row)

    tables = {
        "accounts": st.accounts.values(),
        "people": st.people.values(),
        "deals": st.deals.values(),
        "labels": st.labels.values(),
    }
    frames_out = {
        name: coerce_table(name, pd.DataFrame(list(rows), columns=TABLES[name].column_names))
        for name, rows in tables.items()
    }
    write_dataset(frames_out, out, fmt=fmt)
    report.tables = {name: len(f) for name, f in frames_out.items()}
    report.check()
    return report
