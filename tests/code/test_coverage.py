"""Engagement from the data, DMU coverage gaps and next-best contacts, on small inline datasets and frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from influence.contract import PROFILES, TABLES, Dataset
from influence.coverage import (
    ANGLES,
    IMPORTANT_PROFILES,
    NEXT_BEST_MIN_INFLUENCE,
    PRESENT_MIN_CONFIDENCE,
    PRESENT_MIN_INFLUENCE,
    deal_coverage,
    engagement,
    engagement_counts,
    has_seller_side,
    next_best_contacts,
)

ts = pd.Timestamp


def _dataset(with_seller: bool = True) -> Dataset:
    """One deal: B1 meets the seller, B2 meets only colleagues, B3 gets one e-mail from the seller, B4 writes
    to the seller after the cut-off, B5 only e-mails a colleague."""
    side = "seller" if with_seller else "buyer"
    frames = {
        "accounts": pd.DataFrame({"account_id": ["A"], "name": ["Acme"]}),
        "people": pd.DataFrame(
            {
                "person_id": ["B1", "B2", "B3", "B4", "B5", "S1"],
                "account_id": ["A", "A", "A", "A", "A", None if with_seller else "A"],
                "full_name": ["Ann", "Bo", "Cy", "Di", "Ed", "Sam"],
                "side": ["buyer"] * 5 + [side],
            }
        ),
        "deals": pd.DataFrame(
            {
                "deal_id": ["D"],
                "account_id": ["A"],
                "created_at": [ts("2024-01-01T00:00Z")],
                "outcome": ["open"],
            }
        ),
        "meetings": pd.DataFrame(
            {
                "meeting_id": ["M1", "M2", "M3"],
                "deal_id": ["D", "D", "D"],
                "start_at": [ts("2024-01-05T10:00Z"), ts("2024-01-06T10:00Z"), ts("2024-03-01T10:00Z")],
                "organizer_id": ["S1", "B2", "S1"],
                "duration_min": [30.0, 30.0, 30.0],
            }
        ),
        "meeting_attendees": pd.DataFrame(
            {
                "meeting_id": ["M1", "M1", "M2", "M2", "M3", "M1"],
                "person_id": ["B1", "S1", "B2", "B5", "B4", "B5"],
                "response": ["accepted", "accepted", "accepted", "accepted", "accepted", "declined"],
                # B5 was invited to M1 but declined and did not attend: no engagement.
                "attended": [True, True, None, True, True, False],
            }
        ),
        "emails": pd.DataFrame(
            {
                "message_id": ["E1", "E2", "E3"],
                "deal_id": ["D", "D", "D"],
                "thread_id": ["T1", "T2", "T3"],
                "sent_at": [ts("2024-01-07T10:00Z"), ts("2024-03-02T10:00Z"), ts("2024-01-08T10:00Z")],
                "sender_id": ["S1", "B4", "B5"],
            }
        ),
        "email_recipients": pd.DataFrame(
            {"message_id": ["E1", "E2", "E3"], "person_id": ["B3", "S1", "B1"], "kind": ["to", "to", "to"]}
        ),
    }
    for name, frame in frames.items():  # every contract column, empty where the story does not need it
        for column in TABLES[name].column_names:
            if column not in frame.columns:
                frame[column] = None
    return Dataset.from_frames(frames)


def _levels(frame: pd.DataFrame) -> dict[str, str]:
    return dict(zip(frame["person_id"].astype(str), frame["engagement"], strict=True))


def test_engagement_levels_from_meetings_and_emails_before_as_of() -> None:
    ds = _dataset()
    before = engagement(ds, ts("2024-02-01T00:00Z"))
    levels = _levels(before)
    assert levels["B1"] == "engaged"  # shared meeting with the seller
    assert levels["B3"] == "weak"  # one e-mail from the seller, no meeting
    assert "B2" not in levels and "B5" not in levels  # only colleagues: no seller contact at all
    assert "B4" not in levels  # everything after as_of
    row = before.set_index("person_id").loc["B3"]
    assert (row["seller_meetings"], row["seller_emails"]) == (0, 1)
    after = _levels(engagement(ds))
    assert after["B4"] == "engaged"  # M3 with the seller and an e-mail to the seller, now in range
    assert engagement(ds).set_index("person_id").loc["B4", "seller_emails"] == 1
    assert "S1" not in after  # sellers are not scored


def test_engagement_counts_are_the_engagement_frame_keyed_by_deal_and_person() -> None:
    ds = _dataset()
    for as_of in (None, ts("2024-02-01T00:00Z")):
        frame = engagement(ds, as_of)
        counts = engagement_counts(ds, as_of)
        expected = {
            (str(d), str(p)): (int(m), int(e))
            for d, p, m, e in frame[["deal_id", "person_id", "seller_meetings", "seller_emails"]].itertuples(
                index=False
            )
        }
        assert counts == expected
    # B4 meets the seller and writes to them only after the cut-off
    assert ("D", "B4") not in engagement_counts(ds, ts("2024-02-01T00:00Z"))
    assert engagement_counts(ds)[("D", "B4")][1] == 1


def test_without_seller_side_engagement_is_unknown() -> None:
    ds = _dataset(with_seller=False)
    assert not has_seller_side(ds)
    assert set(engagement(ds)["engagement"]) <= {"unknown"}


def test_seller_ids_read_once_give_the_same_assessability_and_counts() -> None:
    from influence.coverage import seller_ids

    for with_seller in (True, False):
        ds = _dataset(with_seller=with_seller)
        sellers = seller_ids(ds)
        assert bool(sellers) == has_seller_side(ds) == with_seller
        assert sellers == ({"S1"} if with_seller else set())
        assert engagement_counts(ds, sellers=sellers) == engagement_counts(ds)
    # the caller's set is what counts as the seller side
    ds = _dataset()
    assert engagement_counts(ds, sellers=set()) == {}


def _people(rows: list[tuple]) -> pd.DataFrame:
    cols = ["deal_id", "person_id", "full_name", "title", "influence", "profile", "profile_confidence",
            "engagement", "seller_meetings", "seller_emails"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=cols)
    frame["method"] = "model"
    return frame


def test_coverage_reports_missing_and_unengaged_important_profiles() -> None:
    people = _people(
        [
            ("D", "p1", "Ann", "CEO", 0.9, "executive_sponsor", 0.8, "engaged", 2, 3),
            ("D", "p2", "Bo", "Architect", 0.7, "silent_influencer", 0.7, "none", 0, 0),
            ("D", "p3", "Cy", "CFO", 0.6, "budget_holder", 0.9, "weak", 0, 2),
            # Below the presence thresholds: does not make procurement or the gatekeeper present.
            ("D", "p4", "Di", "Buyer", 0.9, "procurement", PRESENT_MIN_CONFIDENCE - 0.01, "none", 0, 0),
            ("D", "p5", "Ed", "IT", PRESENT_MIN_INFLUENCE - 0.01, "technical_gatekeeper", 0.9, "none", 0, 0),
        ]
    )
    cov = deal_coverage(people, engagement_assessable=True).set_index("profile")
    assert len(cov) == len(PROFILES) - 1 and "peripheral" not in cov.index
    assert cov.loc["executive_sponsor", "status"] == "engaged"
    assert cov.loc["executive_sponsor", "message"] is None
    assert cov.loc["silent_influencer", "status"] == "not_engaged"
    assert cov.loc["silent_influencer", "message"] == "the silent influencer (Bo) has met us in no meeting"
    assert cov.loc["budget_holder", "status"] == "weak"
    assert "budget holder (Cy) is only weakly engaged: 2 e-mails" in cov.loc["budget_holder", "message"]
    for missing in ("procurement", "technical_gatekeeper", "political_gatekeeper"):
        assert not cov.loc[missing, "present"]
        assert cov.loc[missing, "message"].startswith(f"no {missing.replace('_', ' ')} identified")
    # Not important: no message even when missing.
    assert cov.loc["end_user", "status"] == "missing" and cov.loc["end_user", "message"] is None
    messages = [m for m in cov["message"] if m]
    assert all(p in IMPORTANT_PROFILES for p in cov[cov["message"].notna()].index)
    assert len(messages) == 5


def test_a_missing_profile_names_the_likeliest_unsure_person() -> None:
    under = PRESENT_MIN_CONFIDENCE - 0.05
    people = _people(
        [
            ("D", "p1", "Di", "Buyer", 0.5, "procurement", under, "none", 0, 0),
            ("D", "p2", "Flo", "Purchasing", 0.7, "procurement", under - 0.1, "none", 0, 0),
            ("E", "p3", "Gus", "Clerk", 0.9, "end_user", 0.9, "none", 0, 0),
        ]
    )
    cov = deal_coverage(people, engagement_assessable=True).set_index(["deal_id", "profile"])
    message = cov.loc[("D", "procurement"), "message"]
    assert cov.loc[("D", "procurement"), "status"] == "missing"
    # The most influential unsure candidate, with the figures that kept it under the bar.
    assert "no procurement identified with confidence: the likeliest is Flo" in message
    assert f"{math.floor((under - 0.1) * 100 + 1e-9)}%" in message and "influence 0.70" in message
    # Another deal's people never fill this deal's gap; a profile nobody has keeps the plain message.
    assert (
        cov.loc[("E", "procurement"), "message"] == "no procurement identified among the people seen so far"
    )
    assert (
        cov.loc[("D", "budget_holder"), "message"]
        == "no budget holder identified among the people seen so far"
    )


def test_not_engaged_sponsor_message_names_the_person() -> None:
    people = _people([("D", "p1", "Ann", "CEO", 0.9, "executive_sponsor", 0.8, "none", 0, 0)])
    cov = deal_coverage(people, engagement_assessable=True).set_index("profile")
    assert cov.loc["executive_sponsor", "message"].startswith(
        "no executive sponsor engaged: Ann has met us in no"
    )


def test_coverage_without_seller_side_reports_presence_but_no_engagement_gaps() -> None:
    people = _people([("D", "p1", "Ann", "CEO", 0.9, "executive_sponsor", 0.8, "unknown", 0, 0)])
    cov = deal_coverage(people, engagement_assessable=False).set_index("profile")
    assert cov.loc["executive_sponsor", "status"] == "unknown"
    assert cov.loc["executive_sponsor", "message"] is None
    assert cov.loc["budget_holder", "status"] == "missing"  # absence is still known


def test_next_best_contacts_are_unengaged_high_influence_people_with_an_angle() -> None:
    people = _people(
        [
            ("D", "p1", "Ann", "CEO", 0.95, "executive_sponsor", 0.8, "engaged", 2, 3),
            ("D", "p2", "Bo", "Architect", 0.7, "silent_influencer", 0.7, "none", 0, 0),
            ("D", "p3", "Cy", "CFO", 0.8, "budget_holder", 0.9, "weak", 0, 2),
            ("D", "p4", "Di", "Buyer", 0.5, "procurement", 0.9, "none", 0, 0),
            ("D", "p5", "Ed", "Clerk", NEXT_BEST_MIN_INFLUENCE - 0.01, "end_user", 0.9, "none", 0, 0),
            ("E", "q1", "Fay", "CTO", 0.6, "technical_gatekeeper", 0.9, "none", 0, 0),
        ]
    )
    nbc = next_best_contacts(people, engagement_assessable=True, k=2)
    d = nbc[nbc["deal_id"] == "D"]
    assert d["person_id"].tolist() == ["p3", "p2"]  # engaged Ann excluded, by influence, k = 2
    assert d["rank"].tolist() == [1, 2]
    assert d["angle"].tolist() == [ANGLES["budget_holder"], ANGLES["silent_influencer"]]
    assert "technical depth" in ANGLES["silent_influencer"] and "ROI" in ANGLES["budget_holder"]
    assert nbc[nbc["deal_id"] == "E"]["person_id"].tolist() == ["q1"]
    # Nothing below the influence threshold, however unengaged.
    assert "p5" not in set(next_best_contacts(people, engagement_assessable=True, k=10)["person_id"])


def test_next_best_without_seller_side_lists_top_influencers() -> None:
    people = _people(
        [
            ("D", "p1", "Ann", "CEO", 0.95, "executive_sponsor", 0.8, "unknown", 0, 0),
            ("D", "p2", "Bo", "Architect", 0.7, "silent_influencer", 0.7, "unknown", 0, 0),
        ]
    )
    nbc = next_best_contacts(people, engagement_assessable=False)
    assert nbc["person_id"].tolist() == ["p1", "p2"]
    assert set(nbc["engagement"]) == {"unknown"}


def test_every_profile_has_an_angle() -> None:
    assert set(ANGLES) == set(PROFILES)
    assert all(len(a) > 20 for a in ANGLES.values())


@pytest.fixture(scope="module")
def scorer(unit_bundle):
    from influence.predict import Scorer

    return Scorer(unit_bundle)


def test_score_dataset_coverage_matches_the_people_frame(scorer) -> None:
    from influence.generate import generate

    ds = generate(5, 31)
    result = scorer.score_dataset(ds)
    people, cov = result.people, result.coverage
    for deal_id, group in people.groupby("deal_id"):
        rows = cov[cov["deal_id"] == deal_id].set_index("profile")
        for profile in rows.index:
            qualifying = group[
                (group["profile"] == profile)
                & (group["profile_confidence"] >= PRESENT_MIN_CONFIDENCE)
                & (group["influence"] >= PRESENT_MIN_INFLUENCE)
            ]
            assert rows.loc[profile, "present"] == (len(qualifying) > 0)
    # engagement in the people frame is the data's, person by person
    eng = engagement(ds).set_index(["deal_id", "person_id"])["engagement"]
    for row in people.itertuples():
        expected = eng.get((row.deal_id, row.person_id), "none")
        assert row.engagement == expected
    # next-best contacts are never engaged people
    merged = result.next_best_contacts.merge(people, on=["deal_id", "person_id"], suffixes=("", "_p"))
    assert (merged["engagement_p"].isin(["none", "weak"])).all()
    assert np.all(merged["influence"] >= NEXT_BEST_MIN_INFLUENCE)


def test_score_dataset_coverage_and_next_best_equal_the_frame_functions(scorer) -> None:
    # score_dataset computes coverage and next-best contacts from its arrays (PeopleColumns); the public frame
    # functions on its people frame must give the very same frames, dtypes included.
    from influence.coverage import deal_coverage, next_best_contacts
    from influence.generate import generate

    ds = generate(4, 7)
    for as_of in (None, "2024-03-01T00:00:00Z"):
        result = scorer.score_dataset(ds, as_of=as_of)
        assert len(result.next_best_contacts) > 0
        pd.testing.assert_frame_equal(
            result.coverage, deal_coverage(result.people, engagement_assessable=result.engagement_assessable)
        )
        nbc = next_best_contacts(result.people, engagement_assessable=result.engagement_assessable)
        pd.testing.assert_frame_equal(result.next_best_contacts.drop(columns="why"), nbc.drop(columns="why"))
        # the deal report (the API answer) holds the same values as the frames, NaN as None
        deal_id = str(result.next_best_contacts["deal_id"].iloc[0])
        report = result.deal_report(deal_id)
        people = result.people[result.people["deal_id"] == deal_id]
        assert [p["person_id"] for p in report["people"]] == people["person_id"].tolist()
        assert [p["influence"] for p in report["people"]] == people["influence"].tolist()
        assert [p["reasons"] for p in report["people"]] == [list(r) for r in people["reasons"]]


def test_next_best_rows_carry_each_persons_own_people_values_and_dtypes(scorer) -> None:
    # The text columns are picked from the people's values (not an Arrow take): each row must still be exactly
    # that person's row of the people frame, in the people frame's dtypes, missing values included.
    from influence.coverage import next_best_contacts
    from influence.generate import generate

    people = scorer.score_dataset(generate(4, 7)).people.copy()
    people.loc[people.index[::3], "title"] = pd.NA  # some missing titles among the candidates
    nbc = next_best_contacts(people, engagement_assessable=True, k=10)
    assert len(nbc) > 3
    mine = people.set_index(["deal_id", "person_id"]).loc[
        list(zip(nbc["deal_id"], nbc["person_id"], strict=True))
    ]
    for column in ("full_name", "title", "profile", "engagement"):
        assert nbc[column].dtype == people[column].dtype, column
        assert nbc[column].tolist() == mine[column].tolist(), column
    assert nbc["title"].isna().any()
    assert str(nbc["deal_id"].dtype) == "string" and str(nbc["person_id"].dtype) == "string"


def test_score_dataset_without_seller_side_says_engagement_cannot_be_assessed(scorer) -> None:
    from influence.coverage import NOT_ASSESSABLE_MESSAGE
    from influence.generate import generate

    ds = generate(3, 32)
    people = ds.people.copy()
    people = people[people["side"] != "seller"]  # an imported mailbox knows no seller side
    keep = set(people["person_id"])
    tables = dict(ds.tables)
    tables["people"] = people
    tables["meetings"] = ds.meetings.assign(
        organizer_id=ds.meetings["organizer_id"].where(ds.meetings["organizer_id"].isin(keep))
    )
    tables["meeting_attendees"] = ds.meeting_attendees[ds.meeting_attendees["person_id"].isin(keep)]
    emails = ds.emails[ds.emails["sender_id"].isin(keep)]
    tables["emails"] = emails
    rec = ds.email_recipients
    tables["email_recipients"] = rec[
        rec["person_id"].isin(keep) & rec["message_id"].isin(emails["message_id"])
    ]
    tables["signals"] = ds.signals[ds.signals["person_id"].isin(keep)]
    tables["labels"] = ds.labels[ds.labels["person_id"].isin(keep)]
    result = scorer.score_dataset(Dataset(tables))
    assert not result.engagement_assessable
    assert set(result.people["engagement"]) == {"unknown"}
    assert all(NOT_ASSESSABLE_MESSAGE in gaps for gaps in result.deals["gaps"])


def test_engagement_counts_arrays_agree_with_the_loop() -> None:
    """Large inputs take integer arrays, small ones a plain loop: the same counts, cut-off or not."""
    from influence.coverage import _engagement_counts_arrays, _engagement_counts_loop
    from influence.generate import generate

    generated = generate(6, 29)
    middle = generated.emails["sent_at"].sort_values().iloc[len(generated.emails) // 2]
    for ds in (_dataset(), generated):
        for as_of in (None, ts("2024-02-01T00:00Z"), middle):
            arrays = _engagement_counts_arrays(ds, as_of)
            assert arrays is not None
            assert arrays == _engagement_counts_loop(ds, as_of)
    assert len(_engagement_counts_loop(generated, None)) > 20  # the generated deals do have seller contact


def test_engagement_counts_with_a_repeated_meeting_id_take_the_loop() -> None:
    from influence.coverage import _engagement_counts_arrays, _engagement_counts_loop

    ds = _dataset()
    meetings = pd.concat([ds.meetings, ds.meetings.iloc[[0]]], ignore_index=True)
    twice = Dataset({**ds.tables, "meetings": meetings})
    assert _engagement_counts_arrays(twice, None) is None
    assert engagement_counts(twice) == _engagement_counts_loop(twice, None)


@pytest.mark.parametrize(
    ("confidence", "influence", "missed"),
    [
        (0.47, 0.04, ["influence"]),  # a confident profile on someone who barely matters
        (0.31, 0.70, ["confidence"]),
        (0.31, 0.04, ["confidence", "influence"]),
    ],
)
def test_unsure_gap_names_only_the_bar_that_was_missed(
    confidence: float, influence: float, missed: list[str]
) -> None:
    people = _people([("D", "p1", "Flo", "Buyer", influence, "procurement", confidence, "none", 0, 0)])
    cov = deal_coverage(people, engagement_assessable=True).set_index("profile")
    message = cov.loc["procurement", "message"]
    assert cov.loc["procurement", "status"] == "missing"
    bar = message.split("under the bar of ", 1)[1]
    assert (f"{PRESENT_MIN_CONFIDENCE:.0%} confidence" in bar) == ("confidence" in missed)
    assert (f"{PRESENT_MIN_INFLUENCE:.2f} influence" in bar) == ("influence" in missed)
    # "identified with confidence" would be false of a confident prediction.
    assert ("identified with confidence" in message) == ("confidence" in missed)
    assert "the likeliest is Flo" in message


def test_unsure_gap_never_shows_a_missed_figure_rounded_up_to_the_bar() -> None:
    people = _people([("D", "p1", "Flo", "Buyer", 0.1999, "procurement", 0.9, "none", 0, 0)])
    message = (
        deal_coverage(people, engagement_assessable=True).set_index("profile").loc["procurement", "message"]
    )
    assert "influence 0.19)" in message and "influence 0.20)" not in message
