"""Privacy controls: erase a person from a dataset folder, and pseudonymise identifiers with a salted hash.

People in deal data are data subjects (GDPR). `forget_in_folder` implements erasure on a dataset folder: it
removes the person and every row that is *about* them, clears references to them that others' rows keep, and
reports what it removed so the erasure can be documented. See docs/privacy.md.

Pseudonyms are HMAC-SHA256 keyed with `settings.pseudonym_salt()` (INFLUENCE_PSEUDONYM_SALT): stable for one salt
(joins still work), not reversible without it (a plain sha256 of a known e-mail address or company name is).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from influence.contract import TABLE_ORDER, TABLES, Dataset, write_dataset

__all__ = [
    "DIRECT_IDENTIFIERS",
    "ID_COLUMNS",
    "ForgetReport",
    "PersonNotFound",
    "SYNTHETIC_SALT",
    "forget_in_folder",
    "forget_person",
    "keyed_hash",
    "pseudonymise",
    "pseudonymise_frame",
    "salt_id",
]

# Columns holding identifiers of people, accounts or their interactions: hashed by `pseudonymise_frame`.
ID_COLUMNS: tuple[str, ...] = (
    "person_id",
    "account_id",
    "deal_id",
    "meeting_id",
    "message_id",
    "thread_id",
    "sender_id",
    "organizer_id",
    "in_reply_to",
    "email",
)
# Columns that identify a person directly and serve no join: dropped by `pseudonymise_frame`.
DIRECT_IDENTIFIERS: tuple[str, ...] = ("full_name", "name", "domain")

# Non-table files larger than this are not searched for leftover mentions (they are listed as unchecked).
_SCAN_MAX_BYTES = 64 * 1024 * 1024


class PersonNotFound(LookupError):
    """No person with that e-mail address is in the dataset."""


@dataclass
class ForgetReport:
    """What `forget_person` / `forget_in_folder` removed: rows per table, values cleared per `table.column`, and
    other files of the folder that still mention the address (not tables: left for the operator)."""

    email: str
    person_ids: list[str]
    removed: dict[str, int] = field(default_factory=dict)
    nulled: dict[str, int] = field(default_factory=dict)
    files_still_mentioning: list[str] = field(default_factory=list)
    files_unchecked: list[str] = field(default_factory=list)

    @property
    def rows_removed(self) -> int:
        return sum(self.removed.values())

    def lines(self) -> list[str]:
        """Human-readable report, one line per table or column touched."""
        out = [f"forgot {self.email} (person_id {', '.join(self.person_ids)})"]
        out += [f"  {table}: removed {n} row(s)" for table, n in self.removed.items() if n]
        out += [f"  {what}: cleared {n} value(s)" for what, n in self.nulled.items() if n]
        out.append(f"  total: {self.rows_removed} row(s) removed")
        for name in self.files_still_mentioning:
            out.append(
                f"  WARNING: {name} is not a dataset table and still mentions {self.email}; erase it by hand"
            )
        for name in self.files_unchecked:
            out.append(f"  note: {name} was not searched (larger than {_SCAN_MAX_BYTES >> 20} MiB)")
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "email": self.email,
            "person_ids": list(self.person_ids),
            "removed": dict(self.removed),
            "nulled": dict(self.nulled),
            "files_still_mentioning": list(self.files_still_mentioning),
            "files_unchecked": list(self.files_unchecked),
        }


def _normalise_email(address: str) -> str:
    return address.strip().strip("<>").strip().lower()


def _text_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype) or frame[c].dtype == object
    ]


def forget_person(ds: Dataset, email: str) -> tuple[Dataset, ForgetReport]:
    """Return a copy of `ds` without the person(s) whose e-mail is `email` (case-insensitive), and a report.

    Removed rows: the person, their meeting invitations, the messages they sent (with those messages' recipient
    rows: who wrote what to whom is their personal data), their recipient rows on others' messages, their
    signals and their labels. Cleared values: `meetings.organizer_id` of meetings they organised (others attended:
    the meeting stays), `emails.in_reply_to` pointing at an erased message (it would say they wrote), and any
    other text column (extra columns an importer added) holding their person_id or their address.
    Raises PersonNotFound when nobody has that address, ValueError on an empty address.
    """
    wanted = _normalise_email(email)
    if not wanted:
        raise ValueError("an e-mail address is required")
    people = ds.people
    match = (people["email"].astype("string").fillna("").str.strip().str.lower() == wanted).to_numpy(bool)
    ids = sorted(people.loc[match, "person_id"].astype(str).unique().tolist())
    if not ids:
        raise PersonNotFound(f"no person with e-mail {wanted!r} in the dataset")
    tables = {name: ds[name].copy() for name in TABLE_ORDER}
    removed: dict[str, int] = {name: 0 for name in TABLE_ORDER}
    nulled: dict[str, int] = {}

    def drop(name: str, mask: pd.Series) -> None:
        keep = ~mask.fillna(False).astype(bool).to_numpy()
        removed[name] += int((~keep).sum())
        tables[name] = tables[name].loc[keep].reset_index(drop=True)

    def clear(name: str, column: str, mask: pd.Series) -> None:
        hit = mask.fillna(False).astype(bool).to_numpy()
        if hit.any():
            tables[name].loc[hit, column] = pd.NA
            key = f"{name}.{column}"
            nulled[key] = nulled.get(key, 0) + int(hit.sum())

    drop("people", tables["people"]["person_id"].isin(ids))
    drop("meeting_attendees", tables["meeting_attendees"]["person_id"].isin(ids))
    sent = tables["emails"]["sender_id"].isin(ids)
    sent_ids = set(tables["emails"].loc[sent.fillna(False).to_numpy(bool), "message_id"].astype(str))
    drop("emails", sent)
    recipients = tables["email_recipients"]
    drop("email_recipients", recipients["person_id"].isin(ids) | recipients["message_id"].isin(sent_ids))
    drop("signals", tables["signals"]["person_id"].isin(ids))
    drop("labels", tables["labels"]["person_id"].isin(ids))
    clear("meetings", "organizer_id", tables["meetings"]["organizer_id"].isin(ids))
    clear("emails", "in_reply_to", tables["emails"]["in_reply_to"].isin(sent_ids))

    # Producers may add columns (the contract allows it): no other text value may still name the person. Keys
    # and references are the contract's business (handled above); every other text column is searched.
    address = re.compile(rf"(?<![\w.+-]){re.escape(wanted)}(?![\w-]|\.\w)", re.IGNORECASE)
    for name in TABLE_ORDER:
        table = TABLES[name]
        keys = set(table.primary_key) | {fk.column for fk in table.foreign_keys}
        frame = tables[name]
        for column in _text_columns(frame):
            if column in keys or len(frame) == 0:
                continue
            text = frame[column].astype("string")
            clear(name, column, text.isin(ids) | text.str.contains(address))
    report = ForgetReport(email=wanted, person_ids=ids, removed=removed, nulled=nulled)
    return Dataset(tables, path=ds.path), report


def _table_formats(folder: Path) -> dict[str, str]:
    formats: dict[str, str] = {}
    for name in TABLE_ORDER:
        for fmt in ("parquet", "csv"):
            if (folder / f"{name}.{fmt}").is_file():
                formats[name] = fmt
    return formats


def _scan_other_files(folder: Path, needles: list[str]) -> tuple[list[str], list[str]]:
    """Files of the folder that are not tables and still contain one of `needles` (case-insensitive)."""
    table_files = {f"{name}.{fmt}" for name in TABLE_ORDER for fmt in ("parquet", "csv")}
    hits: list[str] = []
    unchecked: list[str] = []
    encoded = [n.lower().encode("utf-8") for n in needles if n]
    for file in sorted(folder.rglob("*")):
        if not file.is_file() or file.name in table_files and file.parent == folder:
            continue
        if file.stat().st_size > _SCAN_MAX_BYTES:
            unchecked.append(str(file.relative_to(folder)))
            continue
        content = file.read_bytes().lower()
        if any(n in content for n in encoded):
            hits.append(str(file.relative_to(folder)))
    return hits, unchecked


def forget_in_folder(path: str | Path, email: str, *, dry_run: bool = False) -> ForgetReport:
    """Erase a person from the dataset folder at `path` in place and report what was removed.

    The folder must validate first (DatasetError otherwise). Each table keeps its format (CSV or Parquet). The
    result is validated again before anything is written; each file is replaced atomically and `people` is
    written last, so an interrupted erasure leaves a valid folder in which the person can still be found and
    the command simply run again. Other files in the folder (rejects, notes) are searched for the address and
    reported, not changed. `dry_run` reports without writing.
    """
    from influence.data import load, validate_frames

    folder = Path(path)
    ds = load(folder)
    formats = _table_formats(folder)
    cleaned, report = forget_person(ds, email)
    _, check = validate_frames(cleaned.tables)
    if not check.ok:  # erasure must never turn a valid folder into an invalid one; do not write
        problems = "; ".join(check.format_problems(limit=5))
        raise RuntimeError(
            f"erasing {report.email} would leave {folder} invalid ({problems}); nothing written"
        )
    if not dry_run:
        # Children before parents and `people` last: see the docstring.
        for name in reversed(TABLE_ORDER):
            fmt = formats.get(name)
            frame = cleaned[name]
            if fmt is None:
                continue  # the table was absent and stays absent
            if len(frame) == 0 and not TABLES[name].required:
                # write_dataset skips empty optional tables; the old file must not survive with the person in it.
                (folder / f"{name}.{fmt}").unlink()
                continue
            write_dataset({name: frame}, folder, fmt=fmt)  # type: ignore[arg-type]
    report.files_still_mentioning, report.files_unchecked = _scan_other_files(
        folder, [report.email, *report.person_ids]
    )
    return report


# Generated data holds no personal data, so a model trained only on it may hash its training accounts with this
# published salt: anyone (a fresh clone, CI, a customer) can then check that an evaluation set shares no account
# with it. Customer data always uses the secret per-project salt.
SYNTHETIC_SALT = "influence-generated-data-only"


def salt_id(salt: str | None = None) -> str:
    """A short public fingerprint of the salt (not the salt): tells whether two sets of pseudonyms can match."""
    from influence.settings import pseudonym_salt

    key = pseudonym_salt() if salt is None else salt
    return hmac.new(key.encode("utf-8"), b"influence salt id", hashlib.sha256).hexdigest()[:12]


def keyed_hash(value: str, salt: str | None = None, *, length: int = 24) -> str:
    """HMAC-SHA256 of `value` keyed with the salt (default `settings.pseudonym_salt()`), first `length` hex chars.

    24 hex chars = 96 bits: collisions stay negligible (< 1e-12) even over 100M identifiers.
    """
    from influence.settings import pseudonym_salt

    key = pseudonym_salt() if salt is None else salt
    if not key:
        raise ValueError("a non-empty salt is required (set INFLUENCE_PSEUDONYM_SALT)")
    return hmac.new(key.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()[:length]


def pseudonymise(values: pd.Series, salt: str | None = None) -> pd.Series:
    """Keyed hash of each identifier (see `keyed_hash`); missing values stay missing, equal inputs map to equal
    pseudonyms (joins across tables still work), and nothing is reversible without the salt."""
    from influence.settings import pseudonym_salt

    key = pseudonym_salt() if salt is None else salt
    if not key:
        raise ValueError("a non-empty salt is required (set INFLUENCE_PSEUDONYM_SALT)")
    text = values.astype("string")
    mapping = {v: keyed_hash(v, key) for v in text.dropna().unique()}
    return text.map(mapping).astype("string")


def pseudonymise_frame(
    frame: pd.DataFrame, salt: str | None = None, *, columns: tuple[str, ...] = ID_COLUMNS
) -> pd.DataFrame:
    """A copy of `frame` safe to log or share: identifier columns (`ID_COLUMNS`) hashed with the salt, direct
    identifiers (`DIRECT_IDENTIFIERS`: names, domains) dropped; every other column unchanged."""
    from influence.settings import pseudonym_salt

    key = pseudonym_salt() if salt is None else salt
    out = frame.drop(columns=[c for c in DIRECT_IDENTIFIERS if c in frame.columns])
    for column in columns:
        if column in out.columns:
            out[column] = pseudonymise(out[column], key)
    return out
