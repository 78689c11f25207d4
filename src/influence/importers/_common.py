"""Shared pieces of the importers: the import report, stable ids, e-mail/domain normalisation, robust CSV
reading, timestamp parsing, meeting kinds and deal assignment for events.

Every importer counts what it reads: records in = imported + rejected, and every reject keeps its file, record
(row number, line or Message-ID), field and reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from influence.contract import TABLES

__all__ = [
    "Reject",
    "ImportReport",
    "ImporterError",
    "stable_id",
    "normalise_email",
    "email_domain",
    "normalise_domain",
    "match_domain",
    "read_csv_file",
    "parse_timestamp",
    "parse_bool",
    "meeting_kind",
    "existing_table_files",
    "clear_dataset_files",
]

MAX_WARNINGS = 1000
EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


class ImporterError(ValueError):
    """A whole import cannot run (missing folder, dataset already present, ...): a user error, not a bad record."""


@dataclass(frozen=True)
class Reject:
    """One record that was not imported. `record` is a row number, line number or Message-ID."""

    file: str
    record: str
    field: str
    reason: str

    def format(self) -> str:
        return f"{self.file}:{self.record}:{self.field or '-'}: {self.reason}"


@dataclass
class ImportReport:
    """What an import read, imported and rejected (records in = imported + rejected), plus warnings."""

    source: str
    out_dir: str = ""
    records_read: int = 0
    imported: int = 0
    rejected: int = 0
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    n_warnings: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    per_file: dict[str, dict[str, int]] = field(default_factory=dict)

    def read(self, file: str, n: int = 1) -> None:
        self.records_read += n
        self.per_file.setdefault(file, {"read": 0, "imported": 0, "rejected": 0})["read"] += n

    def accept(self, file: str, n: int = 1) -> None:
        self.imported += n
        self.per_file.setdefault(file, {"read": 0, "imported": 0, "rejected": 0})["imported"] += n

    def reject(self, file: str, record: object, fld: str, reason: str) -> None:
        self.rejected += 1
        self.per_file.setdefault(file, {"read": 0, "imported": 0, "rejected": 0})["rejected"] += 1
        self.rejects.append(Reject(file, str(record), fld, reason))

    def warn(self, message: str) -> None:
        # Only the first MAX_WARNINGS are kept verbatim (a million-message mailbox can warn on every message).
        self.n_warnings += 1
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)

    def check(self) -> None:
        """Assert the bookkeeping invariant; an importer bug, never a user error, if it fails."""
        # Explicit raises, not `assert`: the invariant must hold under `python -O` too.
        if self.records_read != self.imported + self.rejected or self.rejected != len(self.rejects):
            raise AssertionError(
                f"{self.source}: read {self.records_read} != imported {self.imported} + rejected {self.rejected}"
            )
        for name, c in self.per_file.items():
            if c["read"] != c["imported"] + c["rejected"]:
                raise AssertionError(f"{self.source}: {name}: {c}")

    def rejects_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [vars(r) for r in self.rejects], columns=["file", "record", "field", "reason"], dtype="string"
        )

    def write_rejects(self, path: str | Path) -> Path:
        """Write the rejects as CSV (file, record, field, reason)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.rejects_frame().to_csv(target, index=False, encoding="utf-8")
        return target

    def summary_lines(self, limit: int = 10) -> list[str]:
        lines = [
            f"{self.source}: read {self.records_read}, imported {self.imported}, rejected {self.rejected}"
            + (f", warnings {self.n_warnings}" if self.n_warnings else ""),
        ]
        for name, c in self.per_file.items():
            lines.append(f"  {name}: read {c['read']}, imported {c['imported']}, rejected {c['rejected']}")
        if self.tables:
            lines.append(
                "  wrote " + ", ".join(f"{t} {n}" for t, n in self.tables.items()) + f" -> {self.out_dir}"
            )
        reasons: dict[str, int] = {}
        for r in self.rejects:
            key = re.sub(r"['\"<].*", "...", r.reason)[:80]
            reasons[key] = reasons.get(key, 0) + 1
        if reasons:
            lines.append("  rejects by reason:")
            lines += [f"    {n:>7}  {k}" for k, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:limit]]
            lines.append("  first rejects:")
            lines += [f"    {r.format()}" for r in self.rejects[:limit]]
        if self.warnings:
            lines.append("  first warnings:")
            lines += [f"    {w}" for w in self.warnings[:limit]]
        return lines


def stable_id(prefix: str, *parts: object) -> str:
    """A short deterministic id: the same inputs give the same id on every run and machine."""
    digest = hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:16]
    return f"{prefix}-{digest}"


def normalise_email(address: str | None) -> str | None:
    """Lower case, stripped, angle brackets and a `mailto:` prefix removed; None when it is not an address.

    "+tags" are kept (a+crm@x.com and a@x.com stay two people): whether a tag is an alias depends on the mail
    server, and merging silently could join two different people.
    """
    if address is None:
        return None
    text = str(address).strip().strip("<>").strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    text = text.strip().lower().rstrip(".")
    if text.count("@") != 1:
        return None
    local, domain = text.split("@")
    if not local or not domain or " " in text or "." not in domain:
        return None
    return text


def email_domain(address: str) -> str:
    return address.rsplit("@", 1)[-1]


def normalise_domain(value: str | None) -> str | None:
    """`https://www.Acme.nl/about` -> `acme.nl`; None for empty input."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip().lower()
    if not text:
        return None
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/")[0].split("?")[0].split(":")[0]
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    text = re.sub(r"^www\d*\.", "", text).strip(".")
    return text or None


def match_domain(domain: str, candidates: Iterable[str]) -> str | None:
    """The longest candidate equal to `domain` or a parent of it (mail.acme.nl matches acme.nl)."""
    best: str | None = None
    for c in candidates:
        if (domain == c or domain.endswith("." + c)) and (best is None or len(c) > len(best)):
            best = c
    return best


def missing_export_file(folder: Path, name: str, needed: str) -> ImporterError:
    """The error for a required export file `<name>.csv` not in `folder`, naming what is there instead: the same
    table as a spreadsheet (.xlsx/.xls: export it as CSV) or a CSV under a longer name, as CRM exports download
    (`hubspot-crm-exports-all-companies-2024-03-01.csv`: rename it)."""
    stem = name.lower()
    near: list[str] = []
    try:
        entries = sorted(p for p in folder.iterdir() if p.is_file())
    except OSError:
        entries = []
    for p in entries:
        base = p.name.lower().split(".", 1)[0]
        # Whole words only: OpportunityContactRole.csv is not Contact.csv, deal-contact associations not deals.
        words = set(re.split(r"[^a-z0-9]+", base))
        if base == stem and p.suffix.lower() in (".xlsx", ".xls"):
            near.append(f"{p.name} is a spreadsheet: export it as CSV ({name}.csv)")
        elif stem in words and p.suffix.lower() == ".csv" and not words & {"association", "associations"}:
            near.append(f"{p.name} may be it: rename it to {name}.csv")
    found = f"; {'; '.join(near)}" if near else ""
    return ImporterError(f"{folder}: {name}.csv is missing (needed: {needed}){found}")


def existing_table_files(out_dir: Path) -> list[Path]:
    return [
        p for name in TABLES for p in (out_dir / f"{name}.parquet", out_dir / f"{name}.csv") if p.exists()
    ]


def clear_dataset_files(out_dir: Path, overwrite: bool) -> None:
    """Refuse to write over a dataset unless `overwrite`; then remove only the contract's table files."""
    found = existing_table_files(out_dir)
    if found and not overwrite:
        raise ImporterError(
            f"{out_dir} already holds a dataset ({', '.join(p.name for p in found[:3])}...); "
            "pass --overwrite to replace it"
        )
    for p in found:
        p.unlink()


# ---------------------------------------------------------------------------------------------------------------
# CSV


def _decode(raw: bytes, name: str, report: ImportReport | None) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        if report is not None:
            report.warn(f"{name}: not valid UTF-8, read as Windows-1252")
        return raw.decode("cp1252", errors="replace")


def read_csv_file(
    path: Path, report: ImportReport | None = None, *, skip_columns: Sequence[str] = ()
) -> pd.DataFrame:
    """Read a CRM export robustly: BOM, UTF-8 or Windows-1252, `,` `;` `\\t` or `|` (sniffed), quoted newlines.

    Every value is a string (empty cells are ""); column names are stripped. `skip_columns` are never kept in
    the frame (used to drop e-mail bodies). A `_row` column holds the 1-based data-row number: quoted newlines
    do not shift it.
    """
    text = _decode(path.read_bytes(), path.name, report)
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return pd.DataFrame({"_row": pd.Series(dtype="int64"), "_blank": False, "_width_error": False})
    skip = {s.lower() for s in skip_columns}
    keep = [i for i, h in enumerate(header) if h.lower() not in skip]
    rows: list[list[str]] = []
    bad: list[int] = []
    for n, row in enumerate(reader, start=1):
        if not row or (len(row) == 1 and not row[0].strip()):
            rows.append([])
            continue
        if len(row) != len(header):
            bad.append(n)
        row = row + [""] * (len(header) - len(row))
        rows.append([row[i] for i in keep])
    frame = pd.DataFrame(
        [r if r else [""] * len(keep) for r in rows], columns=[header[i] for i in keep], dtype="object"
    )
    frame["_row"] = range(1, len(rows) + 1)
    frame["_blank"] = [not r for r in rows]
    frame["_width_error"] = False
    if bad:
        frame.loc[frame["_row"].isin(bad), "_width_error"] = True
    return frame


_EXCEL_EPOCH = datetime(1899, 12, 30, tzinfo=UTC)
_DATE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)


def parse_timestamp(value: Any, *, end_of_day: bool = False) -> datetime | None:
    """Parse a CRM timestamp to UTC; None for empty; raises ValueError with the value for garbage.

    Accepted: ISO 8601 (with Z or an offset; without one it is read as UTC, as Salesforce and HubSpot export UTC),
    Salesforce `2024-03-01T09:30:00.000+0000`, day-first dates (`31/12/2024`, `31-12-2024`, `31.12.2024`: the
    European Excel default; month-first US dates are ambiguous and not guessed), Excel serial day numbers
    (`45292` or `45292.5`) and Unix epoch milliseconds (HubSpot). A date without a time is midnight UTC, or
    23:59:59 with `end_of_day` (a close date means "some time that day").
    """
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    if not text:
        return None
    if re.fullmatch(r"\d{12,13}", text):
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    if re.fullmatch(r"\d{5}(\.\d+)?", text):
        return _EXCEL_EPOCH + pd.Timedelta(days=float(text)).to_pytimedelta()
    for fmt in _DATE_FORMATS:
        try:
            dt = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
            if end_of_day and "%H" not in fmt:
                dt = dt.replace(hour=23, minute=59, second=59)
        return dt.astimezone(UTC)
    raise ValueError(f"not a date/time: {text!r}")


_TRUE = {"true", "1", "yes", "y", "t", "x", "waar", "ja", "wahr", "vrai"}
_FALSE = {"false", "0", "no", "n", "f", "", "onwaar", "nee", "falsch", "faux"}


def parse_bool(value: Any) -> bool:
    text = str(value).strip().lower() if value is not None else ""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


# ---------------------------------------------------------------------------------------------------------------
# Meetings

# First match wins; order puts the more decisive kinds first ("contract negotiation demo" is a negotiation).
_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "negotiation",
        ("negotiat", "contract", "pricing", "price", "commercial", "proposal", "offerte", "verhandl"),
    ),
    ("executive", ("executive", "exec ", "ceo", "cfo", "cio", "board", "steering", "sponsor")),
    ("procurement", ("procurement", "purchasing", "inkoop", "einkauf", "rfp", "rfq", "tender", "vendor")),
    ("legal", ("legal", "dpa", "gdpr", "security review", "compliance")),
    (
        "technical",
        ("technical", "tech ", "architecture", "integration", "security", "deep dive", "poc", "pilot"),
    ),
    ("demo", ("demo", "demonstration", "walkthrough", "presentation", "showcase")),
    ("discovery", ("discovery", "intro", "kick-off", "kickoff", "kick off", "qualification", "first call")),
    ("training", ("training", "onboarding", "workshop")),
    ("review", ("review", "qbr", "check-in", "status")),
)


def meeting_kind(summary: str | None) -> str:
    """Classify a meeting title by keywords (EN/NL/DE): negotiation, executive, procurement, legal, technical,
    demo, discovery, training, review; else `meeting`."""
    text = f" {(summary or '').lower()} "
    for kind, words in _KINDS:
        if any(w in text for w in words):
            return kind
    return "meeting"


def deal_for_event(deals: pd.DataFrame, account_id: str, at: pd.Timestamp) -> str | None:
    """The deal of `account_id` whose life contains `at`, preferring open deals, then the newest one.

    Returns None when no deal of that account was alive at `at` (the caller creates one or rejects).
    """
    own = deals[deals["account_id"] == account_id]
    if own.empty:
        return None
    alive = own[(own["created_at"] <= at) & (own["closed_at"].isna() | (own["closed_at"] >= at))]
    if alive.empty:
        return None
    alive = alive.assign(_open=(alive["outcome"] == "open")).sort_values(
        ["_open", "created_at", "deal_id"], ascending=[False, False, True]
    )
    return str(alive["deal_id"].iloc[0])


def person_id_for(email: str) -> str:
    """The id importers give a person first seen by e-mail address (same address, same id, in every importer)."""
    return stable_id("person", email)


# ---------------------------------------------------------------------------------------------------------------
# Row-by-row CRM processing


class RowError(Exception):
    """A bad value in one row: rejected with the field and reason, the import goes on."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def process_rows(frame: pd.DataFrame, file: str, report: ImportReport, handle: Any) -> None:
    """Call `handle(row)` for every data row of a CSV frame read by `read_csv_file`; count and reject.

    Column names are matched case-insensitively: `row` maps lower-case names to stripped strings. Blank lines
    are not records. Any exception from `handle` rejects that row only.
    """
    columns = [c for c in frame.columns if not c.startswith("_")]
    lowered = [c.lower() for c in columns]
    original = dict(zip(lowered, columns, strict=True))
    for values, number, blank, width in zip(
        frame[columns].itertuples(index=False, name=None),
        frame["_row"],
        frame["_blank"],
        frame["_width_error"],
        strict=True,
    ):
        if blank:
            continue
        report.read(file)
        record = f"row {number}"
        if width:
            report.reject(file, record, "", f"the row does not have the header's {len(columns)} fields")
            continue
        row = {k: ("" if v is None else str(v).strip()) for k, v in zip(lowered, values, strict=True)}
        row["_row"] = str(number)
        try:
            handle(row)
        except RowError as exc:
            # Name the field as the file spells it (handlers look columns up in lower case).
            report.reject(file, record, original.get(exc.field.lower(), exc.field), exc.reason)
        except Exception as exc:  # noqa: BLE001 - one bad record must never stop an import
            report.reject(file, record, "", f"unreadable row: {type(exc).__name__}: {exc}")
        else:
            report.accept(file)


def check_columns(frame: pd.DataFrame, file: str, names: Sequence[str]) -> None:
    """Raise `ImporterError` naming the file when a required column is missing (case-insensitive)."""
    have = {c.lower() for c in frame.columns if not c.startswith("_")}
    missing = [n for n in names if n.lower() not in have]
    if missing:
        found = ", ".join(c for c in frame.columns if not c.startswith("_")) or "none"
        raise ImporterError(f"{file}: missing column(s) {', '.join(missing)} (found: {found})")


def cell(row: dict[str, str], *names: str) -> str:
    """The first non-empty value among the (lower-case) column `names`, else ""."""
    for n in names:
        v = row.get(n.lower(), "")
        if v:
            return v
    return ""


def required(row: dict[str, str], *names: str) -> str:
    value = cell(row, *names)
    if not value:
        raise RowError(names[0], "is empty; it is required")
    return value


def timestamp_field(row: dict[str, str], name: str, *, needed: bool = True, end_of_day: bool = False) -> Any:
    value = cell(row, name)
    if not value:
        if needed:
            raise RowError(name, "is empty; it is required")
        return None
    try:
        parsed = parse_timestamp(value, end_of_day=end_of_day)
    except (ValueError, OverflowError) as exc:
        raise RowError(name, str(exc)) from None
    if parsed is None or not EARLIEST <= parsed < LATEST:
        # Placeholders such as 9999-12-31 would also overflow the contract's nanosecond timestamps.
        raise RowError(name, f"{value!r} is outside 1970-2099")
    return pd.Timestamp(parsed)


def bool_field(row: dict[str, str], name: str) -> bool | None:
    value = cell(row, name)
    if not value:
        return None
    try:
        return parse_bool(value)
    except ValueError as exc:
        raise RowError(name, str(exc)) from None


def parse_amount(value: str) -> float | None:
    """`1234.5`, `1,234.50`, `1.234,50`, `€ 1 234,50`, `1234,5` -> float; None for empty; ValueError else."""
    text = re.sub(r"[^\d,.\-]", "", value or "")
    if not text:
        if (value or "").strip():
            raise ValueError(f"not an amount: {value!r}")
        return None
    if "," in text and "." in text:
        if text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")
        else:
            text = text.replace(",", "")
    elif "," in text:
        head, _, tail = text.rpartition(",")
        # One comma followed by other than three digits is a decimal comma; "1,234" is read as thousands.
        decimal = text.count(",") == 1 and len(tail) != 3
        text = f"{head}.{tail}" if decimal else text.replace(",", "")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"not an amount: {value!r}") from None


_COUNTRIES = {
    "netherlands": "NL", "the netherlands": "NL", "nederland": "NL", "holland": "NL", "germany": "DE",
    "deutschland": "DE", "duitsland": "DE", "france": "FR", "frankrijk": "FR", "belgium": "BE", "belgie": "BE",
    "belgië": "BE", "belgique": "BE", "united kingdom": "GB", "uk": "GB", "great britain": "GB", "england": "GB",
    "united states": "US", "usa": "US", "united states of america": "US", "spain": "ES", "italy": "IT",
    "switzerland": "CH", "austria": "AT", "österreich": "AT", "luxembourg": "LU", "ireland": "IE", "denmark": "DK",
    "sweden": "SE", "norway": "NO", "finland": "FI", "poland": "PL", "portugal": "PT", "canada": "CA",
    "australia": "AU", "japan": "JP", "india": "IN", "china": "CN", "brazil": "BR", "mexico": "MX",
}  # fmt: skip


def country_code(value: str, report: ImportReport, where: str) -> str | None:
    """ISO 3166-1 alpha-2 from a code or a common country name (EN/NL/DE/FR); unknown names -> None + warning."""
    text = (value or "").strip()
    if not text:
        return None
    if re.fullmatch(r"[A-Za-z]{2}", text):
        return text.upper()
    code = _COUNTRIES.get(text.lower())
    if code is None:
        report.warn(f"{where}: country {text!r} is not a known name or ISO code; left empty")
    return code


def attended_from(response: str, start: pd.Timestamp, now: pd.Timestamp) -> bool | None:
    """Attendance is never observed in calendars/CRMs; infer it only for past meetings: accepted -> True,
    declined -> False; otherwise (future, tentative, no answer) unknown."""
    if start >= now:
        return None
    return {"accepted": True, "declined": False}.get(response)
