"""Distinct-contact network features (net_pagerank_distinct, net_top_tie_share, pct_net_degree,
pct_net_pagerank_distinct): hand-computed values on inline data, and the invariance they exist for: a heavy
pair (an assistant, a close colleague) repeating its mail moves the weighted PageRank but not these."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from influence.contract import Dataset
from influence.eval_real import email_pagerank
from influence.features import FEATURE_COLUMNS, FEATURE_DOCS, build_features

NEW = ("net_pagerank_distinct", "net_top_tie_share", "pct_net_degree", "pct_net_pagerank_distinct")
# one deal, buyers a-e; (sender, [recipients]); the first message is the heavy pair d -> b
MAIL = [
    ("d", ["b"]),
    ("c", ["b"]),
    ("d", ["c"]),
    ("e", ["a"]),
    ("a", ["b"]),
    ("b", ["c"]),
    ("c", ["d"]),
]


def dataset(heavy: int = 1) -> Dataset:
    """`heavy` copies of the first message (d -> b); every other message once."""
    t0 = pd.Timestamp("2024-01-02 09:00", tz="UTC")
    people = pd.DataFrame(
        [(p, "A1", f"{p}@acme.com", None, "buyer") for p in "abcde"],
        columns=["person_id", "account_id", "email", "title", "side"],
    )
    emails, recipients = [], []
    messages = [MAIL[0]] * heavy + MAIL[1:]
    for i, (sender, to) in enumerate(messages):
        emails.append((f"m{i}", "D1", f"t{i}", t0 + pd.Timedelta(hours=i), sender, None))
        recipients += [(f"m{i}", r, "to") for r in to]
    return Dataset.from_frames(
        {
            "accounts": pd.DataFrame({"account_id": ["A1"], "name": ["Acme"], "domain": ["acme.com"]}),
            "people": people,
            "deals": pd.DataFrame(
                [("D1", "A1", pd.Timestamp("2024-01-01", tz="UTC"), None, "Discovery", "open", 1.0)],
                columns=["deal_id", "account_id", "created_at", "closed_at", "stage", "outcome", "amount"],
            ),
            "emails": pd.DataFrame(
                emails, columns=["message_id", "deal_id", "thread_id", "sent_at", "sender_id", "in_reply_to"]
            ),
            "email_recipients": pd.DataFrame(recipients, columns=["message_id", "person_id", "kind"]),
        }
    )


def feats(heavy: int = 1) -> pd.DataFrame:
    return build_features(dataset(heavy)).set_index("person_id")


def test_new_columns_are_declared_and_documented() -> None:
    for name in NEW:
        assert name in FEATURE_COLUMNS and FEATURE_DOCS[name]


def test_distinct_pagerank_is_pagerank_of_the_deduplicated_graph() -> None:
    f = feats(heavy=5)
    people = list("abcde")
    edges = {(s, r) for s, to in MAIL for r in to}
    src = np.array([people.index(s) for s, _ in sorted(edges)])
    dst = np.array([people.index(r) for _, r in sorted(edges)])
    expected = email_pagerank(src, dst, len(people)) * len(people)  # 1 = the average person
    np.testing.assert_allclose(f.loc[people, "net_pagerank_distinct"].to_numpy(), expected, atol=1e-5)


def test_top_tie_share_hand_computed() -> None:
    f = feats(heavy=4)
    # d: 4 e-mails with b, 2 with c -> 4/6 ; b: 4 with d, 2 with c, 1 with a -> 4/7 ; a: b 1, e 1 -> 1/2
    assert f.loc["d", "net_top_tie_share"] == pytest.approx(4 / 6)
    assert f.loc["b", "net_top_tie_share"] == pytest.approx(4 / 7)
    assert f.loc["a", "net_top_tie_share"] == pytest.approx(1 / 2)
    assert f.loc["e", "net_top_tie_share"] == pytest.approx(1.0)


@pytest.mark.parametrize("heavy", [3, 20])
def test_a_heavy_pair_moves_weighted_pagerank_but_not_distinct_measures(heavy: int) -> None:
    one, many = feats(1), feats(heavy)
    for column in ("net_pagerank_distinct", "pct_net_pagerank_distinct", "net_degree", "pct_net_degree"):
        pd.testing.assert_series_equal(one[column], many[column], check_exact=False, rtol=1e-6)
    # the weighted PageRank of the heavy pair's recipient grows with the pair's volume
    assert many.loc["b", "net_pagerank"] > one.loc["b", "net_pagerank"] + 0.05
    # d's strongest tie is b once the pair is heavy (else c: d -> c and c -> d)
    assert many.loc["d", "net_top_tie_share"] == pytest.approx(heavy / (heavy + 2))
    assert one.loc["d", "net_top_tie_share"] == pytest.approx(2 / 3)


def test_pct_net_degree_hand_computed() -> None:
    f = feats()
    # distinct contacts either way: a {b, e} 2, b {a, c, d} 3, c {b, d} 2, d {b, c} 2, e {a} 1
    degree = {"a": 2, "b": 3, "c": 2, "d": 2, "e": 1}
    for person, value in degree.items():
        others = [v for p, v in degree.items() if p != person]
        expected = (sum(v < value for v in others) + 0.5 * sum(v == value for v in others)) / len(others)
        assert f.loc[person, "net_degree"] == value
        assert f.loc[person, "pct_net_degree"] == pytest.approx(expected)


def test_one_deal_alone_gets_exactly_the_network_features_it_gets_in_a_batch() -> None:
    # PageRank iterates until converged; with one convergence test for the whole batch, a deal's values (and the
    # percentiles ranked on them) depended on which other deals were scored with it: an API deal and the same
    # deal in batch scoring then got different scores. Each deal now converges on its own.
    from influence.api import deal_request_from_dataset
    from influence.api._schemas import DealScoreRequest
    from influence.api._service import deal_frames
    from influence.data import validate_frames
    from influence.features import FEATURE_COLUMNS, build_features
    from influence.generate import generate

    ds = generate(24, 5)
    per_account = ds.deals.groupby("account_id")["deal_id"].transform("size")
    single = ds.deals.loc[per_account == 1, "deal_id"].astype(str)
    people = ds.labels.groupby("deal_id")["person_id"].size()
    deal = max(single, key=lambda d: (people.get(d, 0), d))
    frames, _ = deal_frames(DealScoreRequest.model_validate(deal_request_from_dataset(ds, deal)))
    alone = build_features(validate_frames(frames)[0])
    batch = build_features(ds)
    alone = alone[alone["deal_id"] == deal].set_index("person_id").sort_index()
    batch = batch[batch["deal_id"] == deal].set_index("person_id").loc[alone.index]
    network = [c for c in FEATURE_COLUMNS if "pagerank" in c or c.startswith("pct_")]
    np.testing.assert_array_equal(alone[network].to_numpy(), batch[network].to_numpy())
