"""A tiny hand-built dataset that satisfies the contract, written inline so each test can break one thing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from influence.contract import write_dataset


def build_tiny_frames() -> dict[str, pd.DataFrame]:
    """Two accounts, five people, two deals (one won, one open) and a little activity around them."""
    ts = pd.Timestamp
    return {
        "accounts": pd.DataFrame(
            {
                "account_id": ["A1", "A2"],
                "name": ["Acme BV", "Globex GmbH"],
                "domain": ["acme.nl", "globex.de"],
                "industry": ["Manufacturing", None],
                "country": ["NL", "DE"],
            }
        ),
        "people": pd.DataFrame(
            {
                "person_id": ["P1", "P2", "P3", "P4", "S1"],
                "account_id": ["A1", "A1", "A2", "A2", None],
                "full_name": ["Ann de Vries", "Bob Smit", "Carla Weber", "Dirk Huber", "Sam Seller"],
                "email": ["ann@acme.nl", "bob@acme.nl", "carla@globex.de", None, "sam@vendor.com"],
                "title": ["CFO", "IT Manager", "Einkaufsleiterin", "Entwickler", "Account Executive"],
                "department": ["Finance", "IT", "Einkauf", None, "Sales"],
                "side": ["buyer", "buyer", "buyer", "buyer", "seller"],
            }
        ),
        "deals": pd.DataFrame(
            {
                "deal_id": ["D1", "D2"],
                "account_id": ["A1", "A2"],
                "created_at": [ts("2024-01-10T09:00:00Z"), ts("2024-03-01T08:30:00Z")],
                "closed_at": [ts("2024-04-30T17:00:00Z"), pd.NaT],
                "stage": ["Closed Won", "Negotiation"],
                "outcome": ["won", "open"],
                "amount": [120000.0, 45000.5],
                "currency": ["EUR", "EUR"],
            }
        ),
        "meetings": pd.DataFrame(
            {
                "meeting_id": ["M1", "M2"],
                "deal_id": ["D1", "D2"],
                "start_at": [ts("2024-02-01T10:00:00Z"), ts("2024-03-05T13:00:00Z")],
                "duration_min": [60.0, 30.0],
                "organizer_id": ["S1", "S1"],
                "kind": ["discovery", "demo"],
            }
        ),
        "meeting_attendees": pd.DataFrame(
            {
                "meeting_id": ["M1", "M1", "M2"],
                "person_id": ["P1", "P2", "P3"],
                "response": ["accepted", "tentative", "accepted"],
                "attended": pd.array([True, None, False], dtype="boolean"),
            }
        ),
        "emails": pd.DataFrame(
            {
                "message_id": ["<e1@vendor.com>", "<e2@acme.nl>", "<e3@vendor.com>"],
                "deal_id": ["D1", "D1", "D2"],
                "thread_id": ["T1", "T1", "T2"],
                "sent_at": [
                    ts("2024-01-15T08:00:00Z"),
                    ts("2024-01-15T09:12:00Z"),
                    ts("2024-03-02T10:00:00Z"),
                ],
                "sender_id": ["S1", "P1", "S1"],
                "in_reply_to": [None, "<e1@vendor.com>", "<never-captured@x>"],
            }
        ),
        "email_recipients": pd.DataFrame(
            {
                "message_id": ["<e1@vendor.com>", "<e1@vendor.com>", "<e2@acme.nl>", "<e3@vendor.com>"],
                "person_id": ["P1", "P2", "S1", "P3"],
                "kind": ["to", "cc", "to", "to"],
            }
        ),
        "signals": pd.DataFrame(
            {
                "person_id": ["P2", "P2"],
                "occurred_at": [ts("2024-01-20T12:00:00Z"), ts("2024-01-20T12:00:00Z")],
                "kind": ["web_visit", "web_visit"],
                "detail": ["/pricing", "/pricing"],
            }
        ),
        "labels": pd.DataFrame(
            {
                "deal_id": ["D1", "D1"],
                "person_id": ["P1", "P2"],
                "influence": [0.9, None],
                "profile": ["budget_holder", "technical_gatekeeper"],
                "source": ["win/loss review", "CRM contact role"],
            }
        ),
    }


@pytest.fixture
def tiny_frames() -> Callable[[], dict[str, pd.DataFrame]]:
    """A factory, so a test can build fresh frames as often as it needs."""
    return build_tiny_frames


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    """The tiny dataset as a CSV folder."""
    return write_dataset(build_tiny_frames(), tmp_path / "tiny", fmt="csv")


@pytest.fixture
def tiny_parquet(tmp_path: Path) -> Path:
    return write_dataset(build_tiny_frames(), tmp_path / "tiny_pq", fmt="parquet")
