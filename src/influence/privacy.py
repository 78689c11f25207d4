"""Privacy controls: erase a person from a dataset folder, and pseudonymise identifiers.

People in deal data are data subjects (GDPR). `forget` implements erasure on a dataset folder: it removes the
person and every row that is *about* them, and reports what it removed so the erasure can be documented.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from influence.contract import TABLE_ORDER, TABLES, Dataset, write_dataset

__all__ = ["ForgetReport", "forget_person", "forget_in_folder", "pseudonymise", "PersonNotFound"]


class PersonNotFound(LookupError):
    """No person with that e-mail address is in the dataset."""


@dataclass
class ForgetReport:
    email: str
    person_ids: list[str]
    removed: dict[str, int] = field(default_factory=dict)
    nulled: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"forgot {self.email} (person_id {', '.join(self.person_ids)})"]
        out += [f"  {table}: removed {n} row(s)" for table, n in self.removed.items() if n]
        out += [f"  {what}: cleared {n} value(s)" for what, n in self.nulled.items() if n]
        return out


def _normalise_email(address: str) -> str:
    return address.strip().strip("<>").lower()


def forget_person(ds: Dataset, email: str) -> tuple[Dataset, ForgetReport]:
    """Return a copy of `ds` without the person(s) whose e-mail is `email`, and what was removed.

    Removed: the person's row, their meeting invitations, the messages they sent (with those messages' recipient
    rows: the message itself is their personal data), their recipient rows on others' messages, their signals and
    their labels. Meetings they organised are kept (others attended them) with `organizer_id` cleared.
    """
    wanted = _normalise_email(email)
    people = ds.people
    match = people["email"].fillna("").str.strip().str.lower() == wanted
    ids = people.loc[match, "person_id"].astype(str).tolist()
    if not ids:
        raise PersonNotFound(f"no person with e-mail {email!r} in the dataset")
    tables = {name: ds[name].copy() for name in TABLE_ORDER}
    removed: dict[str, int] = {}

    def drop(name: str, mask: pd.Series) -> None:
        removed[name] = removed.get(name, 0) + int(mask.sum())
        tables[name] = tables[name].loc[~mask.to_numpy()].reset_index(drop=True)

    drop("people", tables["people"]["person_id"].isin(ids))
    drop("meeting_attendees", tables["meeting_attendees"]["person_id"].isin(ids))
    sent = tables["emails"]["sender_id"].isin(ids)
    sent_ids = set(tables["emails"].loc[sent, "message_id"].astype(str))
    drop("emails", sent)
    drop(
        "email_recipients",
        tables["email_recipients"]["person_id"].isin(ids) | tables["email_recipients"]["message_id"].isin(sent_ids),
    )
    drop("signals", tables["signals"]["person_id"].isin(ids))
    drop("labels", tables["labels"]["person_id"].isin(ids))
    organised = tables["meetings"]["organizer_id"].isin(ids).fillna(False).astype(bool)
    tables["meetings"].loc[organised, "organizer_id"] = pd.NA
    # A reply to an erased message would otherwise keep pointing at it; the link itself says they wrote.
    replies = tables["emails"]["in_reply_to"].isin(sent_ids).fillna(False).astype(bool)
    tables["emails"].loc[replies, "in_reply_to"] = pd.NA
    nulled = {"meetings.organizer_id": int(organised.sum()), "emails.in_reply_to": int(replies.sum())}
    return Dataset(tables, path=ds.path), ForgetReport(email=wanted, person_ids=ids, removed=removed, nulled=nulled)


def forget_in_folder(path: str | Path, email: str) -> ForgetReport:
    """Erase a person from the dataset folder at `path` in place (same format as found) and report it."""
    from influence.data import load

    folder = Path(path)
    ds = load(folder)
    fmt = "csv" if any(folder.glob("*.csv")) and not any(folder.glob("*.parquet")) else "parquet"
    cleaned, report = forget_person(ds, email)
    write_dataset(cleaned, folder, fmt=fmt)
    # write_dataset skips optional tables that became empty; an old file must not survive with the person in it.
    for name in TABLE_ORDER:
        if len(cleaned[name]) == 0 and not TABLES[name].required:
            for old in folder.glob(f"{name}.*"):
                old.unlink()
    return report


def pseudonymise(values: pd.Series, salt: str) -> pd.Series:
    """Keyed hash (HMAC-SHA256, first 16 hex chars) of each identifier; stable for a salt, not reversible."""
    if not salt:
        raise ValueError("a non-empty salt is required (set INFLUENCE_PSEUDONYM_SALT)")
    key = salt.encode()
    uniques = values.dropna().astype(str).unique()
    mapping = {v: hmac.new(key, v.encode(), hashlib.sha256).hexdigest()[:16] for v in uniques}
    return values.map(mapping).astype("string")
