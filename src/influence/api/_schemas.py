"""Request and response models of the scoring API.

The row models are generated from `influence.contract.TABLES`, so the API body speaks exactly the contract's
column names, types, domains and nullability: one contract, one path. API-specific choices, all documented in
docs/api.md:

- unknown fields are rejected (422 naming them) rather than silently dropped, so a typo such as `titel` is seen;
- timestamps must carry a UTC offset (`Z` or `+02:00`) and lie between 1900 and 2199;
- `deal.outcome` defaults to `open`, and `deal_id` may be left out of meetings and e-mails (the deal's is used).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, create_model

from influence.contract import PROFILES, TABLES, Column

__all__ = [
    "TIMESTAMP_MIN",
    "TIMESTAMP_MAX",
    "AccountRow",
    "PersonRow",
    "DealRow",
    "MeetingRow",
    "MeetingAttendeeRow",
    "EmailRow",
    "EmailRecipientRow",
    "SignalRow",
    "DealScoreRequest",
    "FeatureRow",
    "PeopleScoreRequest",
    "ErrorItem",
    "ErrorResponse",
]

# pandas stores timestamps as int64 nanoseconds (years 1677-2262); a deal's history fits well inside this window.
TIMESTAMP_MIN = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
TIMESTAMP_MAX = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def _in_window(value: dt.datetime) -> dt.datetime:
    # The local year alone settles nearly every value (a UTC offset moves it by less than a day), without the two
    # aware comparisons (each converts both sides to UTC: ~0.5 us a timestamp, hundreds per deal body).
    if 1900 < value.year < 2199:
        return value
    if not TIMESTAMP_MIN <= value < TIMESTAMP_MAX:
        raise ValueError("timestamp must lie between 1900-01-01 and 2199-12-31")
    return value


Timestamp = Annotated[AwareDatetime, AfterValidator(_in_window)]
_STRICT = ConfigDict(extra="forbid", str_max_length=10_000)


def _python_type(column: Column) -> Any:
    if column.domain is not None:
        return Literal[column.domain]  # type: ignore[valid-type]
    if column.dtype == "timestamp":
        return Timestamp
    if column.dtype == "float":
        return Annotated[float, Field(allow_inf_nan=False, ge=column.min_value, le=column.max_value)]
    if column.dtype == "int":
        return Annotated[int, Field(ge=column.min_value, le=column.max_value)]
    if column.dtype == "bool":
        return bool
    return str


def _row_model(
    table: str, model_name: str, *, optional: tuple[str, ...] = (), defaults: dict[str, Any] | None = None
) -> type[BaseModel]:
    """A pydantic model for one row of a contract table.

    `optional` columns are required by the contract but may be left out of the API body (filled in by the
    service); `defaults` gives non-null defaults.
    """
    defaults = defaults or {}
    fields: dict[str, Any] = {}
    for column in TABLES[table].columns:
        kind = _python_type(column)
        if column.name in defaults:
            fields[column.name] = (kind, Field(defaults[column.name], description=column.description))
        elif column.nullable or column.name in optional:
            fields[column.name] = (kind | None, Field(None, description=column.description))
        else:
            fields[column.name] = (kind, Field(..., description=column.description))
    model = create_model(model_name, __config__=_STRICT, **fields)
    model.__doc__ = f"One row of the contract table `{table}`: {TABLES[table].description}"
    return model


AccountRow = _row_model("accounts", "AccountRow")
PersonRow = _row_model("people", "PersonRow")
DealRow = _row_model("deals", "DealRow", defaults={"outcome": "open"})
MeetingRow = _row_model("meetings", "MeetingRow", optional=("deal_id",))
MeetingAttendeeRow = _row_model("meeting_attendees", "MeetingAttendeeRow")
EmailRow = _row_model("emails", "EmailRow", optional=("deal_id",))
EmailRecipientRow = _row_model("email_recipients", "EmailRecipientRow")
SignalRow = _row_model("signals", "SignalRow")

# Body key -> (contract table, row model). `deal` is a single object; the others are lists of rows.
BODY_TABLES: dict[str, str] = {
    "accounts": "accounts",
    "deal": "deals",
    "people": "people",
    "meetings": "meetings",
    "meeting_attendees": "meeting_attendees",
    "emails": "emails",
    "email_recipients": "email_recipients",
    "signals": "signals",
}


class DealScoreRequest(BaseModel):
    """One deal and its history, in the data contract: a tiny dataset with one key per table.

    `accounts` may be left out: the deal's account is then taken as known (named by its id). Every list may be
    empty except `people`.
    """

    model_config = _STRICT

    deal: DealRow  # type: ignore[valid-type]
    people: list[PersonRow] = Field(
        ..., description="Everyone around the deal (buyer, seller and partner side)."
    )  # type: ignore[valid-type]
    accounts: list[AccountRow] | None = Field(None, description="The buying account(s); optional.")  # type: ignore[valid-type]
    meetings: list[MeetingRow] = Field(default_factory=list)  # type: ignore[valid-type]
    meeting_attendees: list[MeetingAttendeeRow] = Field(default_factory=list)  # type: ignore[valid-type]
    emails: list[EmailRow] = Field(default_factory=list, description="E-mail headers only, never bodies.")  # type: ignore[valid-type]
    email_recipients: list[EmailRecipientRow] = Field(default_factory=list)  # type: ignore[valid-type]
    signals: list[SignalRow] = Field(default_factory=list)  # type: ignore[valid-type]
    as_of: Timestamp | None = Field(
        None,
        description="Score the deal as it stood at this moment (only events strictly before it are used); "
        "default: every event in the body, including meetings dated later (send as_of = now to leave out "
        "meetings that are only planned).",
    )


class FeatureRow(BaseModel):
    """Precomputed features of one (deal, person), e.g. from `influence features`."""

    model_config = _STRICT

    person_id: str = Field(..., description="Echoed back, to match answers to rows.")
    deal_id: str | None = Field(None, description="Echoed back when given.")
    title: str | None = Field(None, description="Job title, only used to word the reasons (with `explain`).")
    features: dict[str, float | None] = Field(
        ...,
        description="Every model feature by name (GET /v1/model lists them); null (or NaN) means missing.",
    )


class PeopleScoreRequest(BaseModel):
    """Score people from precomputed feature rows: the fast path (numpy trees, no feature building, no DataFrame).

    With `explain`, each row also gets its plain-language reasons (a little slower: per-feature contributions).
    """

    model_config = _STRICT

    rows: list[FeatureRow] = Field(..., min_length=1)
    explain: bool = Field(False, description="Add the reasons to every row.")


# -- responses ---------------------------------------------------------------------------------------------------
ProfileName = Literal[PROFILES]  # type: ignore[valid-type]


class ErrorItem(BaseModel):
    path: str = Field(..., description="JSON path of the offending value, e.g. body.people[3].side.")
    loc: list[str | int] = Field(..., description="The same path as a list (FastAPI style).")
    msg: str
    type: str


class ErrorResponse(BaseModel):
    detail: list[ErrorItem] | str
    request_id: str | None = None
    model_version: str | None = None


class ModelInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_version: str = Field(..., description="`name/version`, as in the X-Model-Version header.")
    name: str
    version: str
    trained_at: str = Field(..., description="When the bundle was trained (ISO 8601, UTC).")
    source: str = Field(..., description="Where the server loaded it from (folder or registry URI).")
    metrics: dict[str, Any] = Field(..., description="Held-out metrics recorded at training time.")
    features: list[str] = Field(..., description="Feature names, in the order /v1/people/score expects them.")
    profiles: list[str]
    key_threshold: float = Field(..., description="Influence at or above which a person counts as key.")
    library_versions: dict[str, str]


Engagement = Literal["engaged", "weak", "none", "unknown"]
Method = Annotated[
    Literal["model", "prior"],
    Field(
        description="`model`; or `prior` when fewer than half the features are observed, so a network-only "
        "prior stands in for the model (no profile then)."
    ),
]


class PersonScore(BaseModel):
    """One buyer- or partner-side person active in the deal."""

    person_id: str
    full_name: str | None = None
    title: str | None = None
    email: str | None = None
    influence: float = Field(
        ..., ge=0.0, le=1.0, description="Calibrated probability of being a key influencer."
    )
    influence_rank: int = Field(..., ge=1, description="1 = the most influential person of this deal.")
    profile: ProfileName | None = Field(..., description="Most likely DMU profile; null for `prior` rows.")
    profile_confidence: float | None = Field(..., ge=0.0, le=1.0, description="Probability of that profile.")
    profile_probabilities: dict[str, float | None] = Field(
        ..., description="Probability of each of the ten profiles (null for `prior` rows)."
    )
    method: Method
    engagement: Engagement = Field(..., description="How much our (seller) team has engaged this person.")
    seller_meetings: int | None = None
    seller_emails: int | None = None
    reasons: list[str] = Field(..., description="Plain-language reasons, strongest first.")


class CoverageItem(BaseModel):
    """One DMU profile of the deal: is someone in that role present, and have we engaged them?"""

    profile: ProfileName
    important: bool
    present: bool
    person_id: str | None = None
    full_name: str | None = None
    influence: float | None = None
    profile_confidence: float | None = None
    engagement: str | None = None
    status: Literal["engaged", "weak", "not_engaged", "missing", "unknown"]
    message: str | None = None


class NextBestContact(BaseModel):
    rank: int = Field(..., ge=1)
    person_id: str
    full_name: str | None = None
    title: str | None = None
    profile: ProfileName
    influence: float = Field(..., ge=0.0, le=1.0)
    engagement: str | None = None
    seller_meetings: int | None = None
    seller_emails: int | None = None
    angle: str | None = Field(None, description="Suggested angle for this profile.")
    why: str | None = None


class DealScoreResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    deal_id: str
    account_id: str
    as_of: str | None = Field(None, description="The moment scored (ISO 8601), or null for all history.")
    engagement_assessable: bool = Field(
        ..., description="False when the body has no seller-side people, so engagement cannot be judged."
    )
    people: list[PersonScore] = Field(..., description="Sorted by influence_rank.")
    coverage: list[CoverageItem]
    gaps: list[str] = Field(
        ..., description="The coverage messages: which parts of the DMU are missing or cold."
    )
    next_best_contacts: list[NextBestContact]
    warnings: list[str] = Field(default_factory=list, description="Non-blocking findings of the validation.")


class PersonFeatureScore(BaseModel):
    person_id: str
    deal_id: str | None = None
    influence: float = Field(
        ..., ge=0.0, le=1.0, description="Calibrated probability of being a key influencer."
    )
    profile: ProfileName | None = Field(..., description="Most likely DMU profile; null for `prior` rows.")
    profile_confidence: float | None = Field(..., ge=0.0, le=1.0)
    profile_probabilities: dict[str, float | None]
    method: Method
    reasons: list[str] | None = Field(None, description="With `explain`: plain-language reasons.")


class PeopleScoreResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    rows: list[PersonFeatureScore] = Field(..., description="One per request row, in request order.")
