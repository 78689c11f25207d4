"""Feature pipeline: hand-computed values on a tiny inline dataset, pairs, seller exclusion, degraded inputs,
the catalogue and its docs, and the CLI."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from influence.contract import Dataset, write_dataset
from influence.features import (
    FEATURE_COLUMNS,
    FEATURE_DOCS,
    FEATURE_GROUPS,
    KEY_COLUMNS,
    MONOTONE_INCREASING,
    build_features,
    parse_as_of,
)

ROOT = Path(__file__).resolve().parents[2]


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def tiny_frames() -> dict[str, pd.DataFrame]:
    """Three deals of one account; D1 is the one with hand-computed expectations (see the test docstrings).

    D1 is created 2024-01-01 00:00 and its last event is e6 at 2024-02-25 12:00, so its observed span is 55.5 days
    (as_of = None): M1 (day 9) and M2 (day 19) are early, M3 (day 50) is late.
    """
    accounts = pd.DataFrame(
        {"account_id": ["A1", "A2"], "name": ["Acme", "Beta"], "domain": ["acme.com", "beta.nl"]}
    )
    people = pd.DataFrame(
        [
            ("b1", "A1", "b1@acme.com", "CEO", "Executive", "buyer"),
            ("b2", "A1", "b2@it.acme.com", "IT Manager", "IT", "buyer"),
            ("b3", "A1", "b3@acme.com", "Procurement Officer", "Procurement", "buyer"),
            ("b4", "A1", "b4@gmail.com", None, None, "buyer"),
            ("b5", "A1", "b5@acme.com", "Analyst", "Finance", "buyer"),
            ("p1", None, "p1@advisors.com", "Consultant", None, "partner"),
            ("s1", None, "s1@vendor.com", "Account Executive", "Sales", "seller"),
            ("s2", None, "s2@vendor.com", "Solutions Engineer", "Presales", "seller"),
        ],
        columns=["person_id", "account_id", "email", "title", "department", "side"],
    )
    deals = pd.DataFrame(
        [
            ("D0", "A1", ts("2023-06-01"), ts("2023-08-01"), "Closed Lost", "lost", 10.0),
            ("D1", "A1", ts("2024-01-01"), ts("2024-03-01"), "Closed Won", "won", 50.0),
            ("D2", "A1", ts("2024-05-01"), None, "Discovery", "open", None),
        ],
        columns=["deal_id", "account_id", "created_at", "closed_at", "stage", "outcome", "amount"],
    )
    meetings = pd.DataFrame(
        [
            ("M0", "D0", ts("2023-06-10"), 30.0, "s1", "discovery"),
            ("M1", "D1", ts("2024-01-10"), 60.0, "s1", "discovery"),
            ("M2", "D1", ts("2024-01-20"), 90.0, "b2", "technical demo"),
            ("M3", "D1", ts("2024-02-20"), 30.0, "s1", "executive briefing"),
            ("M4", "D2", ts("2024-05-10"), 30.0, "s1", "discovery"),
        ],
        columns=["meeting_id", "deal_id", "start_at", "duration_min", "organizer_id", "kind"],
    )
    attendees = pd.DataFrame(
        [
            ("M0", "s1", "accepted", True),
            ("M0", "b1", "accepted", True),
            ("M1", "s1", "accepted", True),
            ("M1", "b1", "accepted", True),
            ("M1", "b2", "accepted", True),
            ("M1", "b3", "declined", False),
            ("M2", "s2", "accepted", None),
            ("M2", "b3", "tentative", None),
            ("M2", "p1", "none", None),
            ("M3", "s1", "accepted", True),
            ("M3", "b1", "accepted", True),
            ("M3", "b2", "declined", False),
            ("M4", "b1", "accepted", True),
            ("M4", "b2", "accepted", True),
        ],
        columns=["meeting_id", "person_id", "response", "attended"],
    )
    emails = pd.DataFrame(
        [
            ("e0", "D0", "T0", ts("2023-06-05 09:00"), "s1", None),
            ("e1", "D1", "T1", ts("2024-01-05 09:00"), "s1", None),
            ("e2", "D1", "T1", ts("2024-01-05 11:00"), "b1", "e1"),
            ("e3", "D1", "T2", ts("2024-01-06 09:00"), "b2", None),
            ("e4", "D1", "T2", ts("2024-01-06 10:00"), "b1", "e3"),
            ("e5", "D1", "T2", ts("2024-01-07 09:00"), "s2", "e3"),
            ("e6", "D1", "T3", ts("2024-02-25 12:00"), "b1", None),
        ],
        columns=["message_id", "deal_id", "thread_id", "sent_at", "sender_id", "in_reply_to"],
    )
    recipients = pd.DataFrame(
        [
            ("e0", "b1", "to"),
            ("e1", "b1", "to"),
            ("e1", "b2", "cc"),
            ("e2", "s1", "to"),
            ("e2", "b3", "cc"),
            ("e3", "b1", "to"),
            ("e3", "s1", "to"),
            ("e4", "b2", "to"),
            ("e5", "b2", "to"),
            ("e6", "b4", "to"),
            ("e6", "b2", "cc"),
        ],
        columns=["message_id", "person_id", "kind"],
    )
    signals = pd.DataFrame(
        [
            ("b2", ts("2023-05-01"), "web_visit"),  # before D1's 180-day look-back window
            ("b2", ts("2023-12-20"), "web_visit"),
            ("b2", ts("2024-01-02"), "pricing_page"),
            ("b2", ts("2024-01-04"), "web_visit"),
            ("b2", ts("2024-01-08"), "webinar"),  # after the first seller contact (e1, 2024-01-05 09:00)
        ],
        columns=["person_id", "occurred_at", "kind"],
    )
    labels = pd.DataFrame(
        [("D1", "b1", 0.9, "executive_sponsor"), ("D1", "b5", 0.1, "peripheral")],
        columns=["deal_id", "person_id", "influence", "profile"],
    )
    return {
        "accounts": accounts,
        "people": people,
        "deals": deals,
        "meetings": meetings,
        "meeting_attendees": attendees,
        "emails": emails,
        "email_recipients": recipients,
        "signals": signals,
        "labels": labels,
    }


def tiny() -> Dataset:
    return Dataset.from_frames(tiny_frames())


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    return build_features(tiny())


def row(frame: pd.DataFrame, deal: str, person: str) -> pd.Series:
    hit = frame[(frame["deal_id"] == deal) & (frame["person_id"] == person)]
    assert len(hit) == 1, f"expected one row for ({deal}, {person}), got {len(hit)}"
    return hit.iloc[0]


def test_shape_keys_dtypes_and_order(feats: pd.DataFrame) -> None:
    assert list(feats.columns) == KEY_COLUMNS + FEATURE_COLUMNS
    assert all(feats[c].dtype == np.float64 for c in FEATURE_COLUMNS)
    keys = list(zip(feats["deal_id"], feats["person_id"], strict=True))
    assert keys == sorted(keys)
    assert set(keys) == {
        ("D0", "b1"),
        ("D1", "b1"),
        ("D1", "b2"),
        ("D1", "b3"),
        ("D1", "b4"),
        ("D1", "p1"),
        ("D2", "b1"),
        ("D2", "b2"),
    }
    assert (feats["account_id"] == "A1").all()  # the deal's account, also for the partner


def test_seller_side_people_never_get_rows(feats: pd.DataFrame) -> None:
    assert not feats["person_id"].isin(["s1", "s2"]).any()
    with_pairs = build_features(tiny(), pairs=pd.DataFrame({"deal_id": ["D1"], "person_id": ["s1"]}))
    assert not with_pairs["person_id"].isin(["s1", "s2"]).any()


def test_meeting_features_hand_computed(feats: pd.DataFrame) -> None:
    b1, b2, b3, p1 = (row(feats, "D1", x) for x in ("b1", "b2", "b3", "p1"))
    # b1: invited to M1 and M3, attended both, of D1's 3 meetings; M1 early, M3 late
    assert b1["mtg_invited"] == 2 and b1["mtg_attended"] == 2
    assert b1["mtg_attended_share"] == pytest.approx(2 / 3)
    assert (b1["mtg_attended_early"], b1["mtg_attended_late"], b1["mtg_late_share"]) == (1, 1, 0.5)
    assert b1["mtg_resp_accepted_share"] == 1.0 and b1["mtg_resp_declined_share"] == 0.0
    assert b1["mtg_executive_share"] == 0.5  # M3 "executive briefing" of {M1, M3}
    # b2 organised M2 without being on its invitee list: counts as invited, organised and attended;
    # response shares only cover real invitations (M1 accepted, M3 declined)
    assert (b2["mtg_invited"], b2["mtg_attended"], b2["mtg_organised"]) == (3, 2, 1)
    assert b2["mtg_resp_accepted_share"] == 0.5 and b2["mtg_resp_declined_share"] == 0.5
    assert b2["mtg_technical_share"] == 0.5  # M2 "technical demo" of {M1, M2}
    # b2 sat in M1 with the CEO (seniority 6); b1 never met another senior buyer
    assert b2["mtg_senior_coattend_share"] == 0.5
    assert b1["mtg_senior_coattend_share"] == 0.0
    # M1 had s1, b1, b2 attending (3); M2 had b2 (organiser) and s2 (accepted, attendance unknown) (2)
    assert b2["mtg_size_mean"] == pytest.approx(2.5)
    # b3 declined M1 and answered tentative to M2 (attendance unknown -> not attended)
    assert (b3["mtg_invited"], b3["mtg_attended"]) == (2, 0)
    assert math.isnan(b3["mtg_late_share"]) and math.isnan(b3["mtg_technical_share"])
    assert b3["mtg_resp_declined_share"] == 0.5 and b3["mtg_resp_tentative_share"] == 0.5
    assert p1["mtg_resp_none_share"] == 1.0


def test_email_features_hand_computed(feats: pd.DataFrame) -> None:
    b1, b2, b3, b4 = (row(feats, "D1", x) for x in ("b1", "b2", "b3", "b4"))
    assert (b1["em_sent"], b1["em_received"], b1["em_received_cc"]) == (3, 2, 0)
    assert (b2["em_sent"], b2["em_received"], b2["em_received_cc"]) == (1, 4, 2)
    # cc from the CEO (buyer, seniority 6) counts, cc from the seller s1 does not
    assert b2["em_cc_by_senior"] == 1 and b3["em_cc_by_senior"] == 1 and b1["em_cc_by_senior"] == 0
    assert b1["em_threads_share"] == 1.0 and b3["em_threads_share"] == pytest.approx(1 / 3)
    assert (b1["em_threads_started"], b2["em_threads_started"], b3["em_threads_started"]) == (1, 1, 0)
    # b1 answered s1 after 2 h and b2 after 1 h; b2 was answered after 1 h (b1) and 24 h (s2)
    assert (b1["em_replies_given"], b1["em_replies_received"]) == (2, 0)
    assert (b2["em_replies_given"], b2["em_replies_received"]) == (0, 2)
    assert b1["em_latency_given_h"] == pytest.approx(1.5) and math.isnan(b1["em_latency_received_h"])
    assert b2["em_latency_received_h"] == pytest.approx(12.5) and math.isnan(b2["em_latency_given_h"])
    assert math.isnan(b1["em_latency_log_ratio"])
    assert (b1["em_fan_out"], b1["em_fan_in"]) == (4, 2)  # out: s1, b3, b2, b4; in: s1, b2
    assert (b2["em_fan_out"], b2["em_fan_in"]) == (2, 3)  # out: b1, s1; in: s1, b1, s2
    assert b4["em_received"] == 1 and b4["em_sent"] == 0
    # relative within the deal: b2 received the most
    assert b2["rel_em_received"] == 1.0 and b1["rel_em_received"] == 0.5


def test_latency_asymmetry_sign() -> None:
    frames = tiny_frames()
    # b2 answers b1's e4 after 3 h: b2 now gives 3 h and receives 12.5 h -> others are slower than b2
    reply = pd.DataFrame(
        [("e7", "D1", "T2", ts("2024-01-06 13:00"), "b2", "e4")], columns=frames["emails"].columns
    )
    frames["emails"] = pd.concat([frames["emails"], reply], ignore_index=True)
    frames["email_recipients"] = pd.concat(
        [
            frames["email_recipients"],
            pd.DataFrame([("e7", "b1", "to")], columns=["message_id", "person_id", "kind"]),
        ],
        ignore_index=True,
    )
    b2 = row(build_features(Dataset.from_frames(frames)), "D1", "b2")
    assert b2["em_latency_given_h"] == pytest.approx(3.0)
    assert b2["em_latency_log_ratio"] == pytest.approx(math.log(4.0) - math.log(13.5))


def test_network_features_hand_computed(feats: pd.DataFrame) -> None:
    b1, b2, b3, b4, p1 = (row(feats, "D1", x) for x in ("b1", "b2", "b3", "b4", "p1"))
    # undirected ties in D1: b1-{s1, b3, b2, b4}, b2-{s1, b1, s2}; p1 was invited but attended nothing
    assert (b1["net_degree"], b2["net_degree"], b3["net_degree"], p1["net_degree"]) == (4, 3, 1, 0)
    # b1's contacts: 6 pairs, only s1-b2 tied; b2's: 3 pairs, only s1-b1 tied
    assert b1["net_brokerage"] == pytest.approx(5 / 6) and b2["net_brokerage"] == pytest.approx(2 / 3)
    assert math.isnan(b3["net_brokerage"])
    assert b3["net_constraint"] == pytest.approx(1.0)  # a single contact constrains fully
    assert (b1["net_hops_to_seller"], b3["net_hops_to_seller"], b4["net_hops_to_seller"]) == (1, 2, 2)
    assert p1["net_hops_to_seller"] == 5  # not connected
    # b1's tie weights: s1 4 (2 e-mails, M1, M3), b2 4 (3 e-mails, M1), b3 1, b4 1
    assert b1["net_seller_tie_share"] == pytest.approx(0.4)
    # 10 recipient links in D1, 4 of them to b2
    assert b2["net_in_strength_share"] == pytest.approx(0.4)
    # buyer contacts with a known department: b1 -> procurement (b3), it (b2); b2 -> executive (b1)
    assert (b1["net_dept_count"], b1["net_cross_dept_share"]) == (2, 1.0)
    assert (b2["net_dept_count"], b2["net_cross_dept_share"]) == (1, 1.0)
    assert math.isnan(b4["net_cross_dept_share"])  # b4's own department is unknown
    assert p1["net_pagerank"] == 0.0 and b1["net_pagerank"] > b3["net_pagerank"] > 0
    # account graphs hold the account's events up to the deal's observation end: D0's graph ends with M0
    # (b1-s1) and never sees D1 or D2; D1's adds D0's tie b1-s1, which it already has
    assert row(feats, "D0", "b1")["acct_degree"] == 1
    assert b1["acct_degree"] == 4 and b2["acct_degree"] == 3


def test_pagerank_block_normalisation() -> None:
    """Within a deal, PageRank (times people in the deal) averages 1 over the deal's graph, sellers included."""
    from influence.features._graph import _metrics

    # two blocks: a 3-cycle and a 2-node pair with one e-mail; no meetings
    src = np.array([0, 1, 2, 3])
    dst = np.array([1, 2, 0, 4])
    out = _metrics(
        5,
        np.array([0, 0, 0, 1, 1]),
        2,
        np.zeros(5, bool),
        np.full(5, -1),
        (src, dst),
        (np.zeros(0, int), np.zeros(0, int), 0),
        False,
    )
    assert out["pagerank"][:3] == pytest.approx([1.0, 1.0, 1.0])
    # node 4 receives from 3; 3 is only teleported to: PR(3) = 0.15/2 + 0.85 * PR(4)/2, PR(4) = 0.15/2 + 0.85 * (PR(3) + PR(4)/2)
    a = np.array([[1.0, -0.425], [-0.85, 0.575]])
    pr34 = np.linalg.solve(a, [0.075, 0.075])
    assert out["pagerank"][3:] == pytest.approx(pr34 * 2)


def test_title_external_and_context(feats: pd.DataFrame) -> None:
    b1, b2, b4, p1 = (row(feats, "D1", x) for x in ("b1", "b2", "b4", "p1"))
    assert b1["title_seniority"] == 6 and b1["title_missing"] == 0
    assert b4["title_missing"] == 1 and b4["title_seniority"] == 0
    assert (b1["ext_external"], b2["ext_external"]) == (0, 0)  # it.acme.com is a subdomain of acme.com
    assert (b4["ext_external"], p1["ext_external"]) == (1, 1)
    assert b1["ctx_deal_people"] == 5 and b1["ctx_deal_meetings"] == 3 and b1["ctx_deal_emails"] == 6
    assert b1["ctx_deal_age_days"] == pytest.approx(55.5) and b1["ctx_deal_has_seller"] == 1
    assert b1["first_seen_days"] == pytest.approx(4.375)  # e1 at 2024-01-05 09:00
    assert b4["first_seen_position"] == pytest.approx(1.0)  # b4 only appears in the deal's last e-mail


def test_signal_features_hand_computed(feats: pd.DataFrame) -> None:
    b2 = row(feats, "D1", "b2")
    # window [2024-01-01 - 180 days, first seller contact 2024-01-05 09:00): 12-20, 01-02, 01-04
    assert b2["sig_before_contact"] == 3 and b2["sig_kinds_before_contact"] == 2
    assert b2["sig_days_first_to_contact"] == pytest.approx(16.375)
    assert b2["sig_in_deal"] == 4  # the 01-08 webinar is inside the deal, the 2023-05-01 visit is not
    b1 = row(feats, "D1", "b1")
    assert b1["sig_before_contact"] == 0 and math.isnan(b1["sig_days_first_to_contact"])


def test_history_counts_only_earlier_deals(feats: pd.DataFrame) -> None:
    b1 = row(feats, "D1", "b1")
    assert (b1["hist_account_deals"], b1["hist_deals"], b1["hist_meetings"], b1["hist_emails"]) == (
        1,
        1,
        1,
        1,
    )
    d0 = row(feats, "D0", "b1")
    assert (d0["hist_account_deals"], d0["hist_deals"], d0["hist_meetings"], d0["hist_emails"]) == (
        0,
        0,
        0,
        0,
    )
    d2 = row(feats, "D2", "b2")  # b2 took part in D1 (M1, 4 e-mails received + 1 sent, M2 organised)
    assert (d2["hist_account_deals"], d2["hist_deals"], d2["hist_emails"]) == (2, 1, 5)
    assert d2["hist_meetings"] == 3  # invited to M1, M3, organised M2


def test_pairs_add_zero_activity_rows_and_change_nothing_else(feats: pd.DataFrame) -> None:
    pairs = pd.DataFrame({"deal_id": ["D1", "D1"], "person_id": ["b5", "b1"], "influence": [0.1, 0.9]})
    out = build_features(tiny(), pairs=pairs)
    assert len(out) == len(feats) + 1
    b5 = row(out, "D1", "b5")
    for name in (
        "mtg_invited",
        "mtg_attended",
        "em_sent",
        "em_received",
        "net_degree",
        "net_pagerank",
        "rel_em_received",
    ):
        assert b5[name] == 0, name
    assert b5["net_hops_to_seller"] == 5 and math.isnan(b5["net_brokerage"])
    assert b5["title_seniority"] > 0  # "Analyst" still parses
    pd.testing.assert_frame_equal(out[out["person_id"] != "b5"].reset_index(drop=True), feats)


def test_pairs_bad_ids_are_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"pairs: row 0: person_id 'nobody'"):
        build_features(tiny(), pairs=pd.DataFrame({"deal_id": ["D1"], "person_id": ["nobody"]}))
    with pytest.raises(ValueError, match=r"pairs: row 1: deal_id 'D9'"):
        build_features(tiny(), pairs=pd.DataFrame({"deal_id": ["D1", "D9"], "person_id": ["b1", "b1"]}))
    with pytest.raises(ValueError, match="deal_id and person_id"):
        build_features(tiny(), pairs=pd.DataFrame({"deal": ["D1"]}))


def test_dangling_reference_names_table_row_and_field() -> None:
    frames = tiny_frames()
    frames["email_recipients"].loc[3, "person_id"] = "ghost"
    with pytest.raises(ValueError, match=r"email_recipients: row 3: person_id 'ghost'"):
        build_features(Dataset.from_frames(frames))


def test_as_of_excludes_later_deals_and_parses_strictly() -> None:
    out = build_features(tiny(), as_of=pd.Timestamp("2024-03-01", tz="UTC"))
    assert set(out["deal_id"]) == {"D0", "D1"}
    same = build_features(tiny(), as_of="2024-03-01T01:00:00+01:00")
    pd.testing.assert_frame_equal(out, same)
    with pytest.raises(ValueError, match="add Z"):
        parse_as_of("2024-03-01T00:00:00")
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_as_of("last tuesday")


def test_as_of_mid_deal_uses_only_earlier_events() -> None:
    out = build_features(tiny(), as_of=pd.Timestamp("2024-01-06 09:30", tz="UTC"))
    b1 = row(out, "D1", "b1")
    # seen so far: e1, e2, e3 (e4 at 10:00 is later); no meeting yet
    assert (b1["em_sent"], b1["em_received"], b1["mtg_invited"]) == (1, 2, 0)
    assert b1["ctx_deal_age_days"] == pytest.approx(5.375)  # last event e3 at 01-06 09:00
    assert set(out.loc[out["deal_id"] == "D1", "person_id"]) == {"b1", "b2", "b3"}


def test_email_only_dataset_degrades_gracefully() -> None:
    """Like an Enron import: only e-mails among buyer-side employees, no cc, no meetings, signals or sellers."""
    frames = tiny_frames()
    people = frames["people"][frames["people"]["side"] == "buyer"].copy()
    people["title"] = None
    emails = pd.DataFrame(
        [
            ("x1", "D1", "T", ts("2024-01-02"), "b1", None),
            ("x2", "D1", "T", ts("2024-01-03"), "b2", "x1"),
        ],
        columns=["message_id", "deal_id", "thread_id", "sent_at", "sender_id", "in_reply_to"],
    )
    recipients = pd.DataFrame(
        [("x1", "b2", "to"), ("x2", "b1", "to")], columns=["message_id", "person_id", "kind"]
    )
    ds = Dataset.from_frames(
        {
            "accounts": frames["accounts"],
            "people": people,
            "deals": frames["deals"],
            "emails": emails,
            "email_recipients": recipients,
        }
    )
    out = build_features(ds)
    assert list(out["person_id"]) == ["b1", "b2"]
    assert (out["mtg_attended"] == 0).all() and (out["mtg_attended_share"] == 0).all()
    assert out["mtg_late_share"].isna().all() and out["mtg_resp_none_share"].isna().all()
    assert out["net_hops_to_seller"].isna().all() and (out["ctx_deal_has_seller"] == 0).all()
    assert (out["sig_before_contact"] == 0).all() and out["sig_days_first_to_contact"].isna().all()
    assert (out["net_degree"] == 1).all() and (out["em_replies_received"] == [1, 0]).all()
    assert out["em_latency_received_h"].iloc[0] == pytest.approx(24.0)


def test_empty_dataset() -> None:
    frames = tiny_frames()
    ds = Dataset.from_frames({k: frames[k] for k in ("accounts", "people", "deals")})
    out = build_features(ds)
    assert len(out) == 0 and list(out.columns) == KEY_COLUMNS + FEATURE_COLUMNS


def test_catalogue_is_consistent() -> None:
    grouped = [name for names in FEATURE_GROUPS.values() for name in names]
    assert grouped == FEATURE_COLUMNS and len(set(grouped)) == len(grouped)
    assert set(FEATURE_DOCS) == set(FEATURE_COLUMNS) and all(FEATURE_DOCS.values())
    assert set(MONOTONE_INCREASING) <= set(FEATURE_COLUMNS)
    for group in ("meetings", "email", "network", "title", "signals", "history"):
        assert FEATURE_GROUPS[group]


def test_docs_list_every_feature_and_nothing_else() -> None:
    from influence.features import DOC_BEGIN, DOC_END

    text = (ROOT / "docs" / "features.md").read_text(encoding="utf-8")
    # only the catalogue block: other sections (e.g. title parsing) may hold tables of their own
    catalogue = text[text.index(DOC_BEGIN) : text.index(DOC_END)]
    documented = re.findall(r"^\| `([a-z0-9_]+)` \|", catalogue, flags=re.MULTILINE)
    assert sorted(documented) == sorted(FEATURE_COLUMNS)
    assert len(documented) == len(set(documented))


def test_cli_writes_parquet_and_csv(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from influence.cli import app

    data = write_dataset(tiny(), tmp_path / "ds")
    runner = CliRunner()
    out = tmp_path / "f.parquet"
    res = runner.invoke(app, ["features", str(data), "--out", str(out), "--as-of", "2024-03-01T00:00:00Z"])
    assert res.exit_code == 0, res.output
    written = pd.read_parquet(out)
    assert list(written.columns) == KEY_COLUMNS + FEATURE_COLUMNS
    assert f"{len(written)} rows" in res.output
    assert set(written["deal_id"]) == {"D0", "D1"}
    res = runner.invoke(app, ["features", str(data), "--out", str(tmp_path / "f.csv")])
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(tmp_path / "f.csv")) == 8


def test_cli_user_errors_exit_1(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from influence.cli import app

    data = write_dataset(tiny(), tmp_path / "ds")
    runner = CliRunner()
    res = runner.invoke(
        app, ["features", str(data), "--out", str(tmp_path / "f.parquet"), "--as-of", "2024-03-01"]
    )
    assert res.exit_code == 1 and "add Z" in res.output
    res = runner.invoke(app, ["features", str(data), "--out", str(tmp_path / "f.xlsx")])
    assert res.exit_code == 1 and ".parquet or .csv" in res.output
    res = runner.invoke(app, ["features", str(tmp_path / "missing"), "--out", str(tmp_path / "f.csv")])
    assert res.exit_code == 1 and "Traceback" not in res.output


def test_docs_generated_section_is_current() -> None:
    from influence.features import render_features_doc

    text = (ROOT / "docs" / "features.md").read_text(encoding="utf-8")
    assert render_features_doc(text) == text, "run: python -m influence.features"


def test_dense_and_sparse_graph_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small inputs take a dense numpy path (the scoring API), large ones scipy.sparse: same numbers."""
    from influence.features import _graph
    from influence.generate import generate

    ds = generate(3, seed=2)
    dense = build_features(ds)
    monkeypatch.setattr(_graph, "DENSE_MAX_NODES", 0)
    sparse = build_features(ds)
    assert len(dense) > 20
    pd.testing.assert_frame_equal(dense, sparse, check_exact=False, rtol=1e-9, atol=1e-12)


def test_boundaries_at_as_of_are_excluded() -> None:
    """A deal created exactly at as_of does not exist yet; an e-mail sent exactly at as_of is not seen."""
    out = build_features(tiny(), as_of=ts("2024-01-01"))  # D1's creation instant
    assert set(out["deal_id"]) == {"D0"}
    out = build_features(tiny(), as_of=ts("2024-01-05 11:00"))  # e2's send instant
    b1 = row(out, "D1", "b1")
    assert (b1["em_received"], b1["em_sent"]) == (1, 0)


def test_bad_references_and_duplicates_are_clear_errors() -> None:
    frames = tiny_frames()
    frames["email_recipients"].loc[5, "message_id"] = "e99"
    with pytest.raises(ValueError, match=r"email_recipients: row 5: message_id 'e99'"):
        build_features(Dataset.from_frames(frames))
    frames = tiny_frames()
    frames["people"] = pd.concat([frames["people"], frames["people"].iloc[[2]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"people: person_id 'b3' appears more than once"):
        build_features(Dataset.from_frames(frames))
    frames = tiny_frames()
    frames["meetings"].loc[1, "deal_id"] = "D7"
    with pytest.raises(ValueError, match=r"meetings: row 1: deal_id 'D7'"):
        build_features(Dataset.from_frames(frames))


def test_threaded_run_equals_sequential(monkeypatch: pytest.MonkeyPatch) -> None:
    import influence.features as features_module
    from influence.generate import generate

    ds = generate(3, seed=4)
    sequential = build_features(ds, n_jobs=1)
    monkeypatch.setattr(features_module, "PARALLEL_MIN_EVENTS", 0)
    threaded = build_features(ds, n_jobs=2)
    pd.testing.assert_frame_equal(sequential, threaded)


def test_account_graph_keeps_one_year_up_to_the_deal_end() -> None:
    frames = tiny_frames()
    # b5 e-mails b1 in D0 (2023-06-06); D2 runs until 2024-07-01, more than a year after that e-mail
    frames["emails"] = pd.concat(
        [
            frames["emails"],
            pd.DataFrame(
                [
                    ("e9", "D0", "T9", ts("2023-06-06"), "b5", None),
                    ("e10", "D2", "T10", ts("2024-07-01"), "b2", None),
                ],
                columns=frames["emails"].columns,
            ),
        ],
        ignore_index=True,
    )
    frames["email_recipients"] = pd.concat(
        [
            frames["email_recipients"],
            pd.DataFrame(
                [("e9", "b1", "to"), ("e10", "b1", "to")], columns=["message_id", "person_id", "kind"]
            ),
        ],
        ignore_index=True,
    )
    out = build_features(Dataset.from_frames(frames))
    assert row(out, "D1", "b1")["acct_degree"] == 5  # s1, b2, b3, b4 and b5 (D0, within the year)
    assert row(out, "D2", "b1")["acct_degree"] == 4  # b5's D0 e-mail is more than a year before D2's end
