"""Relative, scale-free and reply-aware features (within-deal percentiles, cc weighted by the sender's
centrality, reply shares and reply times relative to the deal, attendance per meeting kind, history share):
hand-computed values on inline data and the invariances they exist for."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from influence.contract import Dataset
from influence.features import build_features


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def frames(copies: int = 1) -> dict[str, pd.DataFrame]:
    """Account A1 with two deals. D1 (2024-01) has e-mails WITHOUT any In-Reply-To (like a header-only import),
    D2 (2024-03) has replies and two meetings. `copies` repeats every e-mail of D1 (same people, same times)."""
    accounts = pd.DataFrame({"account_id": ["A1"], "name": ["Acme"], "domain": ["acme.com"]})
    people = pd.DataFrame(
        [
            ("b1", "A1", "b1@acme.com", "CEO", "buyer"),
            ("b2", "A1", "b2@acme.com", "Analyst", "buyer"),
            ("b3", "A1", "b3@acme.com", "Engineer", "buyer"),
            ("b4", "A1", "b4@acme.com", "Buyer", "buyer"),
            ("s1", None, "s1@vendor.com", "Account Executive", "seller"),
        ],
        columns=["person_id", "account_id", "email", "title", "side"],
    )
    deals = pd.DataFrame(
        [
            ("D1", "A1", ts("2024-01-01"), ts("2024-02-01"), "Closed Won", "won", 1.0),
            ("D2", "A1", ts("2024-03-01"), ts("2024-04-01"), "Closed Lost", "lost", 1.0),
        ],
        columns=["deal_id", "account_id", "created_at", "closed_at", "stage", "outcome", "amount"],
    )
    meetings = pd.DataFrame(
        [
            ("M1", "D2", ts("2024-03-05"), 60.0, "s1", "technical demo"),
            ("M2", "D2", ts("2024-03-06"), 60.0, "s1", "discovery"),
        ],
        columns=["meeting_id", "deal_id", "start_at", "duration_min", "organizer_id", "kind"],
    )
    attendees = pd.DataFrame(
        [
            ("M1", "s1", "accepted", True),
            ("M1", "b3", "accepted", True),
            ("M1", "b2", "accepted", False),
            ("M2", "s1", "accepted", True),
            ("M2", "b2", "accepted", True),
        ],
        columns=["meeting_id", "person_id", "response", "attended"],
    )
    # D1: b1 -> b2 (cc b3), b1 -> b3, s1 -> b2 (cc b4), b2 -> b1 ; no replies recorded
    d1 = [
        ("D1", "T1", ts("2024-01-02 09:00"), "b1", None, [("b2", "to"), ("b3", "cc")]),
        ("D1", "T2", ts("2024-01-03 09:00"), "b1", None, [("b3", "to")]),
        ("D1", "T3", ts("2024-01-04 09:00"), "s1", None, [("b2", "to"), ("b4", "cc")]),
        ("D1", "T4", ts("2024-01-05 09:00"), "b2", None, [("b1", "to")]),
    ]
    # D2: f1 b1 -> b2 ; f2 b2 answers after 1 h ; f3 b3 -> b2 ; f4 b2 answers b3 after 9 h ; f5 b4 -> b2 (unanswered)
    d2 = [
        ("D2", "U1", ts("2024-03-02 09:00"), "b1", None, [("b2", "to")]),
        ("D2", "U1", ts("2024-03-02 10:00"), "b2", 0, [("b1", "to")]),
        ("D2", "U2", ts("2024-03-03 09:00"), "b3", None, [("b2", "to")]),
        ("D2", "U2", ts("2024-03-03 18:00"), "b2", 2, [("b3", "to")]),
        ("D2", "U3", ts("2024-03-04 09:00"), "b4", None, [("b2", "to")]),
    ]
    emails, recipients = [], []
    for copy in range(copies):
        for i, (deal, thread, sent, sender, _, recs) in enumerate(d1):
            mid = f"d1-{copy}-{i}"
            emails.append((mid, deal, f"{thread}-{copy}", sent, sender, None))
            recipients += [(mid, person, kind) for person, kind in recs]
    for i, (deal, thread, sent, sender, parent, recs) in enumerate(d2):
        mid = f"d2-{i}"
        emails.append((mid, deal, thread, sent, sender, None if parent is None else f"d2-{parent}"))
        recipients += [(mid, person, kind) for person, kind in recs]
    return {
        "accounts": accounts,
        "people": people,
        "deals": deals,
        "meetings": meetings,
        "meeting_attendees": attendees,
        "emails": pd.DataFrame(
            emails, columns=["message_id", "deal_id", "thread_id", "sent_at", "sender_id", "in_reply_to"]
        ),
        "email_recipients": pd.DataFrame(recipients, columns=["message_id", "person_id", "kind"]),
    }


def features(copies: int = 1, pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    return build_features(Dataset.from_frames(frames(copies)), pairs=pairs).set_index(
        ["deal_id", "person_id"]
    )


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    return features()


def test_reply_features_are_missing_in_a_deal_without_any_reply(feats: pd.DataFrame) -> None:
    d1, d2 = feats.loc["D1"], feats.loc["D2"]
    for column in ("em_replies_received", "em_replies_given", "em_replied_share"):
        assert d1[column].isna().all(), column
    # the deal with replies: counts are numbers, including 0 for people nobody answered
    assert d2.loc["b1", "em_replies_received"] == 1 and d2.loc["b4", "em_replies_received"] == 0
    assert d2.loc["b2", "em_replies_given"] == 2
    assert d2.loc["b1", "em_replied_share"] == 1.0 and d2.loc["b4", "em_replied_share"] == 0.0
    assert d2.loc["b2", "em_replied_share"] == 0.0  # b2's two replies were not answered in turn
    assert d2.loc["b3", "em_replied_share"] == 1.0


def test_reply_time_relative_to_the_deal_median(feats: pd.DataFrame) -> None:
    d2 = feats.loc["D2"]
    median = (1.0 + 9.0) / 2  # the deal's two replies took 1 h and 9 h
    assert d2.loc["b1", "em_latency_received_rel"] == pytest.approx(math.log(2.0 / (1 + median)))
    assert d2.loc["b3", "em_latency_received_rel"] == pytest.approx(math.log(10.0 / (1 + median)))
    assert d2.loc["b2", "em_latency_given_rel"] == pytest.approx(0.0)
    # faster-than-usual answers are negative, slower positive
    assert d2.loc["b1", "em_latency_received_rel"] < 0 < d2.loc["b3", "em_latency_received_rel"]
    assert feats.loc["D1", "em_latency_received_rel"].isna().all()


def test_attendance_share_per_meeting_kind(feats: pd.DataFrame) -> None:
    d2 = feats.loc["D2"]
    assert d2.loc["b3", "mtg_technical_attended_share"] == 1.0
    assert d2.loc["b2", "mtg_technical_attended_share"] == 0.0  # invited, did not attend
    # meetings organised among the meetings a person was in: the seller organised both; never invited: NaN
    assert d2.loc["b2", "mtg_organised_share"] == 0.0 and math.isnan(d2.loc["b1", "mtg_organised_share"])
    # no executive meeting in D2, no meeting at all in D1: undefined
    assert d2["mtg_executive_attended_share"].isna().all()
    assert feats.loc["D1", "mtg_technical_attended_share"].isna().all()


def test_last_seen_position(feats: pd.DataFrame) -> None:
    d1 = feats.loc["D1"]
    # D1 spans 2024-01-01 .. 2024-01-05 09:00 (its last e-mail); b3's last event is 2024-01-03 09:00
    span = (ts("2024-01-05 09:00") - ts("2024-01-01")) / pd.Timedelta(hours=1)
    assert d1.loc["b3", "last_seen_position"] == pytest.approx(57.0 / span)
    assert d1.loc["b1", "last_seen_position"] == 1.0  # received the deal's last e-mail
    assert (d1["last_seen_position"] >= d1["first_seen_position"]).all()


def test_history_share(feats: pd.DataFrame) -> None:
    assert feats.loc["D1", "hist_deals_share"].isna().all()  # the account's first deal
    assert feats.loc[("D2", "b1"), "hist_deals_share"] == 1.0  # took part in D1, the one earlier deal


def test_cc_weighted_by_the_senders_centrality(feats: pd.DataFrame) -> None:
    d1 = feats.loc["D1"]
    # b3 is in cc once, from b1: the weight is b1's PageRank in D1's graph
    assert d1.loc["b3", "net_cc_weighted"] == pytest.approx(d1.loc["b1", "net_pagerank"])
    assert d1.loc["b1", "net_cc_weighted"] == 0.0  # never in cc
    # b4 is copied only by the seller: our own team's copies do not count
    assert d1.loc["b4", "net_cc_weighted"] == 0.0 and math.isnan(d1.loc["b4", "net_cc_sender_rank"])
    assert d1.loc["b4", "em_received_cc"] == 1
    # the mean centrality of whoever copies the person: one copy from b1 -> b1's PageRank; never copied: NaN
    assert d1.loc["b3", "net_cc_sender_rank"] == pytest.approx(d1.loc["b1", "net_pagerank"])
    assert math.isnan(d1.loc["b1", "net_cc_sender_rank"])


def test_cc_sender_rank_is_volume_free() -> None:
    """Three times the same copies triple the weighted count but leave the mean sender centrality alone."""
    once, thrice = features(1).loc["D1"], features(3).loc["D1"]
    assert thrice.loc["b3", "net_cc_weighted"] == pytest.approx(3 * once.loc["b3", "net_cc_weighted"])
    pd.testing.assert_series_equal(once["net_cc_sender_rank"], thrice["net_cc_sender_rank"])


def test_percentiles_hand_computed(feats: pd.DataFrame) -> None:
    d1 = feats.loc["D1"]
    # e-mails received in D1: b1 1, b2 2, b3 2, b4 1 -> b2 sees (b1, b4) below and b3 tied among 3 others
    assert d1.loc["b2", "pct_em_received"] == pytest.approx((2 + 0.5) / 3)
    assert d1.loc["b1", "pct_em_received"] == pytest.approx(0.5 / 3)
    # D2: b2 is the only one written to by three people -> above all 3 others
    assert feats.loc[("D2", "b2"), "pct_em_fan_in"] == 1.0
    for column in [c for c in feats.columns if c.startswith("pct_")]:
        values = feats[column].dropna()
        assert ((values >= 0) & (values <= 1)).all(), column


def test_percentiles_are_scale_free() -> None:
    """Three times the e-mail volume (same people, same pattern) triples the counts but moves no percentile."""
    once, thrice = features(1), features(3)
    assert (thrice.loc["D1", "em_received"] == 3 * once.loc["D1", "em_received"]).all()
    columns = [c for c in once.columns if c.startswith("pct_")]
    pd.testing.assert_frame_equal(once.loc["D1", columns], thrice.loc["D1", columns])


def test_rows_added_through_pairs_never_shift_percentiles() -> None:
    """A labelled person without activity gets the lowest percentile but changes nobody else's."""
    data = frames()
    extra_person = pd.DataFrame(
        [("b9", "A1", "b9@acme.com", "Analyst", "buyer")], columns=data["people"].columns
    )
    data["people"] = pd.concat([data["people"], extra_person], ignore_index=True)
    ds = Dataset.from_frames(data)
    base = build_features(ds).set_index(["deal_id", "person_id"])
    with_pair = build_features(ds, pairs=pd.DataFrame({"deal_id": ["D2"], "person_id": ["b9"]}))
    with_pair = with_pair.set_index(["deal_id", "person_id"])
    columns = [c for c in base.columns if c.startswith("pct_")]
    assert ("D2", "b9") not in base.index
    pd.testing.assert_frame_equal(base[columns], with_pair.loc[base.index, columns])
    silent = with_pair.loc[("D2", "b9")]
    # received nothing, like b4 (a tie counts half) among D2's 4 active people; outside the network: lowest
    assert silent["pct_em_received"] == pytest.approx(0.5 / 4) and silent["pct_net_pagerank"] == 0.0
    assert np.isfinite(silent[columns].to_numpy(dtype=float)).all()
