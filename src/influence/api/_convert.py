"""Dataset -> API body: cut one deal (and everything around it) out of a dataset as a `/v1/deals/score` body.

The inverse of what the service does with a body; used to build docs/examples, tests and benchmarks from the
generator's data, and handy for clients that hold a dataset in the contract.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from influence.contract import Dataset

__all__ = ["deal_request_from_dataset"]


def deal_request_from_dataset(ds: Dataset, deal_id: str, *, as_of: str | None = None) -> dict[str, Any]:
    """The JSON body (a dict) scoring deal `deal_id` of `ds`.

    Holds the deal, its account, its meetings with their attendees, its e-mails with their recipients, the people
    those mention plus every other person of the deal's account, and those people's signals. Labels are never
    included. Raises KeyError when the deal is not in `ds`.
    """
    deals = ds.deals[ds.deals["deal_id"] == deal_id]
    if deals.empty:
        raise KeyError(f"deal {deal_id!r} is not in the dataset")
    deal = deals.iloc[[0]]
    account_id = deal["account_id"].iloc[0]
    meetings = ds.meetings[ds.meetings["deal_id"] == deal_id]
    attendees = ds.meeting_attendees[ds.meeting_attendees["meeting_id"].isin(meetings["meeting_id"])]
    emails = ds.emails[ds.emails["deal_id"] == deal_id]
    recipients = ds.email_recipients[ds.email_recipients["message_id"].isin(emails["message_id"])]
    mentioned = set(attendees["person_id"].dropna()) | set(meetings["organizer_id"].dropna())
    mentioned |= set(emails["sender_id"].dropna()) | set(recipients["person_id"].dropna())
    people = ds.people[ds.people["person_id"].isin(mentioned) | (ds.people["account_id"] == account_id)]
    accounts = ds.accounts[ds.accounts["account_id"].isin(set(people["account_id"].dropna()) | {account_id})]
    signals = ds.signals[ds.signals["person_id"].isin(people["person_id"])]
    body: dict[str, Any] = {
        "deal": _records(deal, "deals")[0],
        "accounts": _records(accounts, "accounts"),
        "people": _records(people, "people"),
        "meetings": _records(meetings, "meetings"),
        "meeting_attendees": _records(attendees, "meeting_attendees"),
        "emails": _records(emails, "emails"),
        "email_recipients": _records(recipients, "email_recipients"),
        "signals": _records(signals, "signals"),
    }
    if as_of is not None:
        body["as_of"] = as_of
    return body


def _records(frame: pd.DataFrame, table: str) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts with the contract's columns only; timestamps as ISO 8601 UTC (`...Z`)."""
    import pandas as pd

    from influence.contract import TABLES

    columns = TABLES[table].column_names
    out: list[dict[str, Any]] = []
    for row in frame.reindex(columns=columns).itertuples(index=False, name=None):
        record: dict[str, Any] = {}
        for name, value in zip(columns, row, strict=True):
            if (
                value is None
                or value is pd.NA
                or value is pd.NaT
                or (isinstance(value, float) and math.isnan(value))
            ):
                record[name] = None
            elif isinstance(value, pd.Timestamp):
                record[name] = value.tz_convert("UTC").isoformat().replace("+00:00", "Z")
            elif hasattr(value, "item"):  # numpy scalars
                record[name] = value.item()
            else:
                record[name] = value
        out.append(record)
    return out
