"""The deal-history data contract: tables, columns, keys, domains and the in-memory `Dataset`.

This module is declarative on purpose: the validator (`influence.data`), the generator, the importers, the
feature pipeline, the API's request models and the docs all read the same declarations, so the contract has
exactly one home. Add columns freely in producers; the names declared here are the ones every consumer speaks.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "PROFILES",
    "SIDES",
    "OUTCOMES",
    "RESPONSES",
    "RECIPIENT_KINDS",
    "FUNCTIONS",
    "PARTICIPANT_SOURCE",
    "Column",
    "ForeignKey",
    "Table",
    "TABLES",
    "TABLE_ORDER",
    "REQUIRED_TABLES",
    "Dataset",
    "empty_table",
    "coerce_table",
    "write_dataset",
]

PROFILES: tuple[str, ...] = (
    "executive_sponsor",
    "budget_holder",
    "procurement",
    "technical_gatekeeper",
    "end_user",
    "silent_influencer",
    "digital_researcher",
    "political_gatekeeper",
    "external_advisor",
    "peripheral",
)
SIDES: tuple[str, ...] = ("buyer", "seller", "partner")
# labels.source of a CRM deal-contact association without a role: a known participant, not a label. Its influence
# and profile stay empty on purpose (the one labels row that may carry neither); scoring gives the person a row
# (the "crm_" prefix, predict.Scorer), training and evaluation skip it.
PARTICIPANT_SOURCE = "crm_association"
OUTCOMES: tuple[str, ...] = ("won", "lost", "open")
RESPONSES: tuple[str, ...] = ("accepted", "declined", "tentative", "none")
RECIPIENT_KINDS: tuple[str, ...] = ("to", "cc", "bcc")
# Business functions (departments), shared by the generator, the title parser and the features.
FUNCTIONS: tuple[str, ...] = (
    "executive",
    "finance",
    "procurement",
    "it",
    "engineering",
    "operations",
    "sales",
    "marketing",
    "hr",
    "legal",
    "data",
    "security",
    "product",
    "other",
)

DType = Literal["string", "int", "float", "bool", "timestamp"]

# Canonical in-memory dtypes. Timestamps are always tz-aware UTC; ids and text are pandas strings.
PANDAS_DTYPES: dict[str, str] = {
    "string": "string",
    "int": "Int64",
    "float": "float64",
    "bool": "boolean",
    "timestamp": "datetime64[ns, UTC]",
}


@dataclass(frozen=True)
class Column:
    name: str
    dtype: DType
    nullable: bool
    description: str
    domain: tuple[str, ...] | None = None
    min_value: float | None = None
    max_value: float | None = None


@dataclass(frozen=True)
class ForeignKey:
    """`columns` of this table must match a row of `ref_table` (null values are not checked)."""

    column: str
    ref_table: str
    ref_column: str


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    required: bool = False

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


def _c(name: str, dtype: DType, nullable: bool, description: str, **kw) -> Column:  # noqa: ANN003
    return Column(name=name, dtype=dtype, nullable=nullable, description=description, **kw)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "accounts",
            "One row per buying organisation.",
            (
                _c("account_id", "string", False, "Stable identifier of the account."),
                _c("name", "string", False, "Organisation name."),
                _c("domain", "string", True, "Main e-mail/web domain, lower case (e.g. acme.nl)."),
                _c("industry", "string", True, "Free-text industry."),
                _c("country", "string", True, "ISO 3166-1 alpha-2 country code."),
            ),
            primary_key=("account_id",),
            required=True,
        ),
        Table(
            "people",
            "Everyone who appears around a deal: the buyer's staff, our (seller) team, and partners/advisors.",
            (
                _c("person_id", "string", False, "Stable identifier of the person."),
                _c(
                    "account_id",
                    "string",
                    True,
                    "Account the person works for; empty for sellers and partners.",
                ),
                _c("full_name", "string", True, "Display name."),
                _c("email", "string", True, "E-mail address, lower case."),
                _c("title", "string", True, "Free-text job title as found (any language, abbreviations)."),
                _c("department", "string", True, "Free-text department."),
                _c("side", "string", False, "buyer, seller or partner.", domain=SIDES),
            ),
            primary_key=("person_id",),
            foreign_keys=(ForeignKey("account_id", "accounts", "account_id"),),
            required=True,
        ),
        Table(
            "deals",
            "One row per opportunity.",
            (
                _c("deal_id", "string", False, "Stable identifier of the deal."),
                _c("account_id", "string", False, "Buying account."),
                _c("created_at", "timestamp", False, "When the opportunity was opened (UTC)."),
                _c("closed_at", "timestamp", True, "When it was won or lost (UTC); empty while open."),
                _c("stage", "string", True, "Last known pipeline stage, free text."),
                _c("outcome", "string", False, "won, lost or open.", domain=OUTCOMES),
                _c("amount", "float", True, "Deal value in `currency`.", min_value=0.0),
                _c("currency", "string", True, "ISO 4217 code."),
            ),
            primary_key=("deal_id",),
            foreign_keys=(ForeignKey("account_id", "accounts", "account_id"),),
            required=True,
        ),
        Table(
            "meetings",
            "Calendar events tied to a deal.",
            (
                _c("meeting_id", "string", False, "Stable identifier of the meeting."),
                _c("deal_id", "string", False, "Deal the meeting belongs to."),
                _c("start_at", "timestamp", False, "Start time (UTC)."),
                _c("duration_min", "float", True, "Duration in minutes.", min_value=0.0),
                _c("organizer_id", "string", True, "Person who sent the invitation."),
                _c(
                    "kind",
                    "string",
                    True,
                    "Free text; e.g. discovery, demo, technical, negotiation, executive.",
                ),
            ),
            primary_key=("meeting_id",),
            foreign_keys=(
                ForeignKey("deal_id", "deals", "deal_id"),
                ForeignKey("organizer_id", "people", "person_id"),
            ),
        ),
        Table(
            "meeting_attendees",
            "Who was invited to a meeting, how they answered and whether they attended.",
            (
                _c("meeting_id", "string", False, "Meeting."),
                _c("person_id", "string", False, "Invitee."),
                _c("response", "string", False, "accepted, declined, tentative or none.", domain=RESPONSES),
                _c("attended", "bool", True, "Whether the person actually attended; empty when unknown."),
            ),
            primary_key=("meeting_id", "person_id"),
            foreign_keys=(
                ForeignKey("meeting_id", "meetings", "meeting_id"),
                ForeignKey("person_id", "people", "person_id"),
            ),
        ),
        Table(
            "emails",
            "E-mail message metadata (never bodies).",
            (
                _c("message_id", "string", False, "Message-ID."),
                _c("deal_id", "string", False, "Deal the message belongs to."),
                _c("thread_id", "string", False, "Conversation the message belongs to."),
                _c("sent_at", "timestamp", False, "Send time (UTC)."),
                _c("sender_id", "string", False, "Person who sent it."),
                _c(
                    "in_reply_to",
                    "string",
                    True,
                    "Message-ID this answers; may point to a message that was not captured.",
                ),
            ),
            primary_key=("message_id",),
            foreign_keys=(
                ForeignKey("deal_id", "deals", "deal_id"),
                ForeignKey("sender_id", "people", "person_id"),
            ),
        ),
        Table(
            "email_recipients",
            "Recipients of each message.",
            (
                _c("message_id", "string", False, "Message."),
                _c("person_id", "string", False, "Recipient."),
                _c("kind", "string", False, "to, cc or bcc.", domain=RECIPIENT_KINDS),
            ),
            primary_key=("message_id", "person_id"),
            foreign_keys=(
                ForeignKey("message_id", "emails", "message_id"),
                ForeignKey("person_id", "people", "person_id"),
            ),
        ),
        Table(
            "signals",
            "Digital activity of a person: web visit, content download, webinar, review site, ...",
            (
                _c("person_id", "string", False, "Person."),
                _c("occurred_at", "timestamp", False, "When (UTC)."),
                _c(
                    "kind",
                    "string",
                    False,
                    "web_visit, content_download, webinar, review_site, pricing_page, ...",
                ),
                _c("detail", "string", True, "Page, asset or site; never personal content."),
            ),
            foreign_keys=(ForeignKey("person_id", "people", "person_id"),),
        ),
        Table(
            "labels",
            "Optional ground truth per (deal, person): hidden influence and DMU profile.",
            (
                _c("deal_id", "string", False, "Deal."),
                _c("person_id", "string", False, "Person."),
                _c("influence", "float", True, "Hidden influence in [0, 1].", min_value=0.0, max_value=1.0),
                _c(
                    "profile", "string", True, "DMU profile from the ten-profile vocabulary.", domain=PROFILES
                ),
                _c(
                    "source",
                    "string",
                    True,
                    "Where the label came from: win/loss review, CRM contact role, ...",
                ),
            ),
            primary_key=("deal_id", "person_id"),
            foreign_keys=(
                ForeignKey("deal_id", "deals", "deal_id"),
                ForeignKey("person_id", "people", "person_id"),
            ),
        ),
    )
}

# Parents before children, so references can be checked in one pass.
TABLE_ORDER: tuple[str, ...] = tuple(TABLES)
REQUIRED_TABLES: tuple[str, ...] = tuple(n for n, t in TABLES.items() if t.required)


def empty_table(name: str) -> pd.DataFrame:
    """An empty frame with the contract's columns and canonical dtypes."""
    # Built once per table, handed out as shallow copies (copy-on-write: a caller's change never reaches the
    # cached frame); every API request fills its absent labels table this way.
    return _empty_table(name).copy(deep=False)


@functools.cache
def _empty_table(name: str) -> pd.DataFrame:
    table = TABLES[name]
    # Arrays, not Series: a Dataset fills every absent table this way (an API body has no labels), and empty
    # Series cost ~8x as much to build and align.
    return pd.DataFrame(
        {c.name: pd.array([], dtype=PANDAS_DTYPES[c.dtype]) for c in table.columns}, index=pd.RangeIndex(0)
    )


def coerce_table(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Cast the contract's columns of an already-valid frame to the canonical dtypes (extra columns kept)."""
    out = frame.copy()
    for c in TABLES[name].columns:
        if c.name not in out.columns:
            # Each dtype has its own missing marker: float64 rejects pd.NA, datetimes want NaT.
            missing = {"float": np.nan, "timestamp": pd.NaT}.get(c.dtype, pd.NA)
            out[c.name] = pd.Series(missing, index=out.index, dtype=PANDAS_DTYPES[c.dtype])
            continue
        if c.dtype == "timestamp":
            out[c.name] = pd.to_datetime(out[c.name], utc=True).astype(PANDAS_DTYPES["timestamp"])
        else:
            out[c.name] = out[c.name].astype(PANDAS_DTYPES[c.dtype])
    return out


@dataclass
class Dataset:
    """A deal-history dataset: one DataFrame per contract table (absent optional tables are empty)."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        for name in TABLE_ORDER:
            if name not in self.tables:
                self.tables[name] = empty_table(name)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(TABLE_ORDER)

    @property
    def accounts(self) -> pd.DataFrame:
        return self.tables["accounts"]

    @property
    def people(self) -> pd.DataFrame:
        return self.tables["people"]

    @property
    def deals(self) -> pd.DataFrame:
        return self.tables["deals"]

    @property
    def meetings(self) -> pd.DataFrame:
        return self.tables["meetings"]

    @property
    def meeting_attendees(self) -> pd.DataFrame:
        return self.tables["meeting_attendees"]

    @property
    def emails(self) -> pd.DataFrame:
        return self.tables["emails"]

    @property
    def email_recipients(self) -> pd.DataFrame:
        return self.tables["email_recipients"]

    @property
    def signals(self) -> pd.DataFrame:
        return self.tables["signals"]

    @property
    def labels(self) -> pd.DataFrame:
        return self.tables["labels"]

    @property
    def has_labels(self) -> bool:
        return len(self.tables["labels"]) > 0

    def row_counts(self) -> dict[str, int]:
        return {name: len(self.tables[name]) for name in TABLE_ORDER}

    @classmethod
    def from_frames(cls, frames: Mapping[str, pd.DataFrame], path: Path | None = None) -> Dataset:
        """Build a dataset from frames that already satisfy the contract, casting to canonical dtypes."""
        return cls({name: coerce_table(name, frame) for name, frame in frames.items()}, path=path)


def write_dataset(
    dataset: Dataset | Mapping[str, pd.DataFrame],
    out_dir: str | Path,
    *,
    fmt: Literal["parquet", "csv"] = "parquet",
    include_empty: bool = False,
) -> Path:
    """Write every table to `out_dir/<table>.<fmt>`; timestamps as ISO 8601 with an explicit UTC offset in CSV.

    Each file is written to a temporary name and renamed, so a crash never leaves a table that looks complete.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = dataset.tables if isinstance(dataset, Dataset) else dict(dataset)
    for name in TABLE_ORDER:
        frame = tables.get(name)
        if frame is None or (len(frame) == 0 and not include_empty and not TABLES[name].required):
            continue
        target = out / f"{name}.{fmt}"
        tmp = out / f".{name}.{fmt}.tmp"
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            text = frame.copy()
            for col in text.columns:
                if isinstance(text[col].dtype, pd.DatetimeTZDtype):
                    # Sub-second precision only where the data has it, so round trips are exact either way.
                    has_fraction = bool((text[col].dt.microsecond.fillna(0) != 0).any())
                    pattern = "%Y-%m-%dT%H:%M:%S.%f%z" if has_fraction else "%Y-%m-%dT%H:%M:%S%z"
                    text[col] = (
                        text[col].dt.strftime(pattern).str.replace(r"([+-]\d\d)(\d\d)$", r"\1:\2", regex=True)
                    )
            text.to_csv(tmp, index=False, encoding="utf-8")
        tmp.replace(target)
        # A folder must never hold the same table in two formats: the loader would not know which to trust.
        other = out / f"{name}.{'csv' if fmt == 'parquet' else 'parquet'}"
        if other.exists():
            other.unlink()
    return out
