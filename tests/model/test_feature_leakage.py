"""Feature behaviour on generated data: no leakage from the future or from outcomes/labels, point-in-time
equivalence, invariance to ids and row order, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from influence.contract import Dataset
from influence.features import FEATURE_COLUMNS, build_features

SEED = 5


@pytest.fixture(scope="module")
def ds() -> Dataset:
    from influence.generate import generate

    return generate(24, seed=SEED)


@pytest.fixture(scope="module")
def as_of(ds: Dataset) -> pd.Timestamp:
    """A moment in the middle of the history: some deals closed, some running, some not created yet."""
    return ds.deals["created_at"].sort_values().iloc[len(ds.deals) // 2] + pd.Timedelta(hours=7)


def copy(ds: Dataset) -> dict[str, pd.DataFrame]:
    return {name: ds[name].copy() for name in ds}


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert len(a) == len(b)
    pd.testing.assert_frame_equal(
        a.reset_index(drop=True), b.reset_index(drop=True), check_exact=False, rtol=1e-9
    )


def future_events(ds: Dataset, as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Heavy activity at exactly as_of and later on every existing deal: meetings with the whole account, e-mails
    from every buyer to everyone (replying to captured messages), signals for everybody."""
    frames = copy(ds)
    deals = ds.deals[["deal_id", "account_id"]]
    buyers = ds.people[ds.people["side"] == "buyer"][["person_id", "account_id"]]
    seller = ds.people.loc[ds.people["side"] == "seller", "person_id"].iloc[0]
    new_meetings, new_att, new_emails, new_rec = [], [], [], []
    first_msg = ds.emails.groupby("deal_id")["message_id"].first()
    for i, (deal_id, account_id) in enumerate(deals.itertuples(index=False)):
        people = buyers.loc[buyers["account_id"] == account_id, "person_id"].tolist()
        if not people:
            continue
        for k, when in enumerate((as_of, as_of + pd.Timedelta(days=3))):
            mid = f"future-m-{i}-{k}"
            new_meetings.append((mid, deal_id, when, 60.0, people[0], "executive steering"))
            new_att += [(mid, pid, "accepted", True) for pid in people + [seller]]
        for j, sender in enumerate(people):
            eid = f"future-e-{i}-{j}"
            reply_to = first_msg.get(deal_id)
            new_emails.append(
                (eid, deal_id, f"future-t-{i}", as_of + pd.Timedelta(minutes=j), sender, reply_to)
            )
            new_rec += [
                (eid, pid, "cc" if pid != seller else "to") for pid in people + [seller] if pid != sender
            ]
    frames["meetings"] = pd.concat(
        [frames["meetings"], pd.DataFrame(new_meetings, columns=ds.meetings.columns[:6])]
    )
    frames["meeting_attendees"] = pd.concat(
        [frames["meeting_attendees"], pd.DataFrame(new_att, columns=ds.meeting_attendees.columns[:4])]
    )
    frames["emails"] = pd.concat([frames["emails"], pd.DataFrame(new_emails, columns=ds.emails.columns[:6])])
    frames["email_recipients"] = pd.concat(
        [frames["email_recipients"], pd.DataFrame(new_rec, columns=ds.email_recipients.columns[:3])]
    )
    sig = pd.DataFrame(
        {
            "person_id": ds.people["person_id"],
            "occurred_at": as_of,
            "kind": "pricing_page",
        }
    )
    frames["signals"] = pd.concat([frames["signals"], sig])
    return {k: v.reset_index(drop=True) for k, v in frames.items()}


def test_future_events_change_nothing(ds: Dataset, as_of: pd.Timestamp) -> None:
    base = build_features(ds, as_of=as_of)
    assert len(base) > 50 and base["deal_id"].nunique() > 5
    noisy = Dataset.from_frames(future_events(ds, as_of))
    assert_same(base, build_features(noisy, as_of=as_of))
    # the same events do move features once they are in the past: the check above can fail
    later = build_features(noisy, as_of=as_of + pd.Timedelta(days=1))
    merged = base.merge(later, on=["deal_id", "person_id"], suffixes=("", "_later"))
    assert (merged["mtg_attended_later"] > merged["mtg_attended"]).any()
    assert (merged["sig_in_deal_later"] != merged["sig_in_deal"]).any() or (
        merged["em_received_later"] > merged["em_received"]
    ).any()


def test_outcomes_and_labels_change_nothing(ds: Dataset, as_of: pd.Timestamp) -> None:
    frames = copy(ds)
    deals = frames["deals"]
    deals["outcome"] = deals["outcome"].map({"won": "lost", "lost": "won", "open": "won"})
    deals["closed_at"] = deals["created_at"] + pd.Timedelta(days=1)
    deals["stage"] = "Closed Won"
    deals["amount"] = 1e9
    labels = frames["labels"]
    labels["influence"] = 1.0 - labels["influence"]
    labels["profile"] = "peripheral"
    for when in (None, as_of):
        assert_same(build_features(ds, as_of=when), build_features(Dataset.from_frames(frames), as_of=when))
    frames["labels"] = frames["labels"].iloc[0:0]
    assert_same(build_features(ds), build_features(Dataset.from_frames(frames)))


def test_point_in_time_equals_truncated_history(ds: Dataset, as_of: pd.Timestamp) -> None:
    """Features as of T from the full history == features from the data as it physically was at T."""
    frames = copy(ds)
    deals = frames["deals"][frames["deals"]["created_at"] < as_of]
    meetings = frames["meetings"][
        (frames["meetings"]["start_at"] < as_of) & frames["meetings"]["deal_id"].isin(deals["deal_id"])
    ]
    emails = frames["emails"][
        (frames["emails"]["sent_at"] < as_of) & frames["emails"]["deal_id"].isin(deals["deal_id"])
    ]
    truncated = {
        **frames,
        "deals": deals,
        "meetings": meetings,
        "meeting_attendees": frames["meeting_attendees"][
            frames["meeting_attendees"]["meeting_id"].isin(meetings["meeting_id"])
        ],
        "emails": emails,
        "email_recipients": frames["email_recipients"][
            frames["email_recipients"]["message_id"].isin(emails["message_id"])
        ],
        "signals": frames["signals"][frames["signals"]["occurred_at"] < as_of],
        "labels": frames["labels"].iloc[0:0],
    }
    assert_same(build_features(ds, as_of=as_of), build_features(Dataset.from_frames(truncated)))


def test_renaming_ids_and_shuffling_rows_changes_nothing_but_ids(ds: Dataset) -> None:
    rng = np.random.default_rng(0)
    frames = copy(ds)

    def renamer(values: pd.Series, prefix: str) -> dict[str, str]:
        uniq = values.dropna().unique()
        # a random permutation so the sort order of new ids is unrelated to the old one
        return {old: f"{prefix}{i:06d}" for old, i in zip(uniq, rng.permutation(len(uniq)), strict=True)}

    people = renamer(frames["people"]["person_id"], "x")
    deals = renamer(frames["deals"]["deal_id"], "y")
    accounts = renamer(frames["accounts"]["account_id"], "z")
    meetings = renamer(frames["meetings"]["meeting_id"], "m")
    messages = renamer(frames["emails"]["message_id"], "e")
    threads = renamer(frames["emails"]["thread_id"], "t")
    columns = {
        "person_id": people,
        "organizer_id": people,
        "sender_id": people,
        "deal_id": deals,
        "account_id": accounts,
        "meeting_id": meetings,
        "message_id": messages,
        "in_reply_to": messages,
        "thread_id": threads,
    }
    for name, frame in frames.items():
        for column, mapping in columns.items():
            if column in frame.columns:
                frame[column] = frame[column].map(lambda v, m=mapping: m.get(v, v) if pd.notna(v) else v)
        frames[name] = frame.sample(frac=1.0, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)

    base = build_features(ds)
    renamed = build_features(Dataset.from_frames(frames))
    assert list(renamed.columns) == list(base.columns)
    keys = renamed[["deal_id", "person_id"]]
    assert list(zip(keys["deal_id"], keys["person_id"], strict=True)) == sorted(
        zip(keys["deal_id"], keys["person_id"], strict=True)
    )
    back = (
        {v: k for k, v in people.items()},
        {v: k for k, v in deals.items()},
        {v: k for k, v in accounts.items()},
    )
    renamed["person_id"] = renamed["person_id"].map(back[0])
    renamed["deal_id"] = renamed["deal_id"].map(back[1])
    renamed["account_id"] = renamed["account_id"].map(back[2])
    renamed = renamed.sort_values(["deal_id", "person_id"]).reset_index(drop=True)
    for column in ("deal_id", "person_id", "account_id"):
        assert list(renamed[column]) == list(base[column])
    np.testing.assert_allclose(
        renamed[FEATURE_COLUMNS].to_numpy(), base[FEATURE_COLUMNS].to_numpy(), rtol=1e-9, atol=1e-12
    )


def test_deterministic_and_sellers_excluded(ds: Dataset) -> None:
    a, b = build_features(ds), build_features(ds)
    pd.testing.assert_frame_equal(a, b)
    sellers = set(ds.people.loc[ds.people["side"] == "seller", "person_id"])
    assert sellers and not set(a["person_id"]) & sellers


def test_labelled_pairs_all_get_rows(ds: Dataset) -> None:
    labels = ds.labels[["deal_id", "person_id"]]
    out = build_features(ds, pairs=ds.labels)
    got = set(zip(out["deal_id"], out["person_id"], strict=True))
    sellers = set(ds.people.loc[ds.people["side"] == "seller", "person_id"])
    want = {(d, p) for d, p in zip(labels["deal_id"], labels["person_id"], strict=True) if p not in sellers}
    assert want <= got
    assert not out[FEATURE_COLUMNS].isin([np.inf, -np.inf]).any().any()
