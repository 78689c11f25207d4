"""Mailbox realism of the generator (docs/synthetic-data.md, "Real mail vs the generator"): each mailbox knob moves
the label-free shape statistic it is meant to move, leaves every other kind of account untouched, and
`mail_shape`'s contact statistics agree with hand-computed values.

Small mailboxes (50-70 people, 3 accounts) keep this file to a few seconds; margins are about half of the measured
differences.
"""

from __future__ import annotations

import pandas as pd
import pytest

from influence.contract import TABLE_ORDER, Dataset
from influence.generate import GeneratorConfig, generate, generate_with_truth, mail_shape

NEW_MAILBOX_KNOBS = {
    "mailbox_reply_all": 0.1,
    "mailbox_copy_ties": 3.0,
    "mailbox_sender_sd": 2.5,
    "mailbox_routine_volume_sd": 0.5,
    "mailbox_broadcast_share": 0.6,
    "mailbox_copies_per_message": 3.0,
    "mailbox_custodian_share": (0.3, 0.5),
}


def _shape(**overrides: object) -> pd.Series:
    cfg = GeneratorConfig(mailbox_share=1.0, header_only_share=0.0, mailbox_people=(50, 70), **overrides)
    ds = generate(3, seed=3, config=cfg)
    return pd.DataFrame([mail_shape(ds, deal) for deal in ds.deals["deal_id"]]).mean()


def test_mailbox_knobs_leave_every_other_account_untouched() -> None:
    """The mailbox knobs only change mailbox accounts: full and header-only accounts draw exactly as before."""
    base = GeneratorConfig(mailbox_share=0.0, header_only_share=0.5)
    changed = GeneratorConfig(mailbox_share=0.0, header_only_share=0.5, **NEW_MAILBOX_KNOBS)
    a, b = generate(5, seed=21, config=base), generate(5, seed=21, config=changed)
    for name in TABLE_ORDER:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def test_reply_without_copies_concentrates_mail_on_fewer_correspondents() -> None:
    every_reply_keeps_copies = _shape(mailbox_reply_all=1.0)
    no_reply_keeps_copies = _shape(mailbox_reply_all=0.0)
    assert (
        no_reply_keeps_copies["recipients_per_message"]
        < every_reply_keeps_copies["recipients_per_message"] - 0.4
    )
    assert no_reply_keeps_copies["pairs_per_person"] < 0.75 * every_reply_keeps_copies["pairs_per_person"]
    # volume then says less about breadth, as in real mail
    rho = "rho_received_distinct_senders"
    assert no_reply_keeps_copies[rho] < every_reply_keeps_copies[rho] - 0.08


def test_copies_that_follow_ties_form_recurring_circles() -> None:
    free = _shape(mailbox_copy_ties=0.0)
    circles = _shape(mailbox_copy_ties=3.0)
    assert circles["pairs_per_person"] < free["pairs_per_person"] - 1.5
    assert circles["contact_clustering"] < free["contact_clustering"] - 0.07
    assert circles["rho_group_received_distinct_senders"] < free["rho_group_received_distinct_senders"] - 0.03


def test_personal_sending_habit_spreads_sent_volume() -> None:
    assert _shape(mailbox_sender_sd=3.0)["sent_gini"] > _shape(mailbox_sender_sd=0.0)["sent_gini"] + 0.02


def _broadcast_senders_gap(hierarchy: float) -> float:
    cfg = GeneratorConfig(
        mailbox_share=1.0,
        header_only_share=0.0,
        mailbox_people=(50, 70),
        mailbox_broadcast_share=1.0,
        mail_hierarchy_strength=hierarchy,
        assistant_rate=0.0,
    )
    ds, truth = generate_with_truth(3, seed=4, config=cfg)
    seniority = truth.drop_duplicates("person_id").set_index("person_id")["seniority_level"]
    size = ds.email_recipients.groupby("message_id").size()
    wide = ds.emails[ds.emails["message_id"].map(size).fillna(0).to_numpy() >= 5]
    assert len(wide) > 50
    return float(
        seniority.reindex(wide["sender_id"]).mean() - seniority.reindex(ds.emails["sender_id"]).mean()
    )


def test_broadcasts_come_from_those_who_lead() -> None:
    """Announcements to a list are sent mostly by managers and seniors (through the hierarchy's pull)."""
    with_hierarchy = _broadcast_senders_gap(1.0)
    assert with_hierarchy > 0.4
    assert with_hierarchy > _broadcast_senders_gap(0.0) + 0.15


def test_a_custodian_export_holds_only_mail_among_custodians() -> None:
    cfg = GeneratorConfig(
        mailbox_share=1.0,
        header_only_share=0.0,
        open_deal_share=0.0,
        mailbox_people=(50, 60),
        mailbox_custodian_share=(0.4, 0.4),
    )
    ds, truth = generate_with_truth(2, seed=5, config=cfg)
    labelled = truth[truth["labelled"]]
    # only custodians are labelled, about the drawn share of the company's buyers (clustered by function)
    share = len(labelled[labelled["side"] == "buyer"]) / (truth["side"] == "buyer").sum()
    assert 0.15 < share < 0.7, share
    assert set(zip(ds.labels["deal_id"], ds.labels["person_id"], strict=True)) == set(
        zip(labelled["deal_id"], labelled["person_id"], strict=True)
    )
    # every buyer who sends or receives mail is a custodian; the others are not in the export at all
    buyers = set(truth.loc[truth["side"] == "buyer", "person_id"])
    custodians = set(labelled["person_id"])
    in_mail = set(ds.emails["sender_id"]) | set(ds.email_recipients["person_id"])
    assert (in_mail & buyers) <= custodians
    outside = truth[~truth["labelled"] & (truth["side"] == "buyer")]
    assert len(outside) > 0 and (outside["captured_emails_sent"] == 0).all()
    assert (outside["captured_emails_received"] == 0).all()
    # no message is left without a recipient
    assert ds.emails["message_id"].isin(ds.email_recipients["message_id"]).all()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mailbox_reply_all", 1.5),
        ("mailbox_copy_ties", -1.0),
        ("mailbox_sender_sd", -0.1),
        ("mailbox_routine_volume_sd", -1.0),
        ("mailbox_custodian_share", (0.0, 0.5)),
        ("mailbox_custodian_share", (0.8, 0.5)),
    ],
)
def test_invalid_mailbox_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        GeneratorConfig(**{field: value})


def test_contact_statistics_hand_computed() -> None:
    # a -> b (twice), b -> a, b -> c, c -> a: every pair is in contact (a triangle), and one message goes to four
    # people (d, e, f, g, besides a)
    emails = pd.DataFrame(
        {
            "message_id": ["m1", "m2", "m3", "m4", "m5", "m6"],
            "deal_id": ["D1"] * 6,
            "sender_id": ["a", "a", "b", "b", "c", "c"],
        }
    )
    recipients = pd.DataFrame(
        {
            "message_id": ["m1", "m2", "m3", "m4", "m5", "m6", "m6", "m6", "m6", "m6"],
            "person_id": ["b", "b", "a", "c", "a", "a", "d", "e", "f", "g"],
        }
    )
    shape = mail_shape(Dataset({"emails": emails, "email_recipients": recipients}, path=None))
    assert shape["people"] == 7
    # directed pairs: a>b, b>a, b>c, c>a, c>d, c>e, c>f, c>g = 8 over 7 people
    assert shape["pairs_per_person"] == pytest.approx(8 / 7)
    # undirected contacts: ab, bc, ca, cd, ce, cf, cg = 7 of 21 pairs
    assert shape["contact_density"] == pytest.approx(7 / 21)
    # clustering: a and b sit in the triangle with 2 contacts (1.0 each); c has 6 contacts, one tie among them (ab):
    # 1 / 15; d..g have a single contact and are left out
    assert shape["contact_clustering"] == pytest.approx((1 + 1 + 1 / 15) / 3)
    assert shape["wide_message_share"] == pytest.approx(1 / 6)
    # sent: a 2, b 2, c 2, d..g 0
    assert shape["sent_gini"] == pytest.approx(1 - 3 / 7, abs=1e-9)
