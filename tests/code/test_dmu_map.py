"""influence.dmu_map: the deal graph from raw metadata, the layout, and the map merged with scores.

The dataset and the scores are written inline, so every expected count below is worked out by hand from the
rows, not copied from the code's output."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from influence.contract import TABLES, Dataset
from influence.dmu_map import MIN_SEPARATION, deal_graph, deal_graphs, deal_map, spring_layout, spring_layouts

TS = pd.Timestamp


def frames() -> dict[str, pd.DataFrame]:
    """One deal D1 (and an empty D2). B1..B4 buyers, P1 partner, S1 seller.

    M1 (Feb 1, organised by S1, who is not on the invitation list): B1 accepted (attendance unknown), B2 attended,
    B3 declined. M2 (Mar 1, organised by B1): B1 invited without answer (organiser: attends), P1 accepted but
    recorded as absent. E1 B1 -> B2, S1; E2 B2 -> B1; E3 B1 -> B2 cc P1 (Apr 1); E4 B1 -> B1 (to self)."""
    return {
        "accounts": pd.DataFrame({"account_id": ["A1"], "name": ["Acme BV"]}),
        "people": pd.DataFrame(
            {
                "person_id": ["B1", "B2", "B3", "B4", "P1", "S1"],
                "account_id": ["A1", "A1", "A1", "A1", None, None],
                "full_name": ["Ann", "Bob", "Cas", "Dee", "Pat", "Sam"],
                "title": ["CFO", "IT Manager", "Analyst", None, "Consultant", "Account Executive"],
                "side": ["buyer", "buyer", "buyer", "buyer", "partner", "seller"],
            }
        ),
        "deals": pd.DataFrame(
            {
                "deal_id": ["D1", "D2"],
                "account_id": ["A1", "A1"],
                "created_at": [TS("2024-01-01", tz="UTC"), TS("2024-01-05", tz="UTC")],
                "outcome": ["open", "open"],
            }
        ),
        "meetings": pd.DataFrame(
            {
                "meeting_id": ["M1", "M2"],
                "deal_id": ["D1", "D1"],
                "start_at": [TS("2024-02-01 09:00", tz="UTC"), TS("2024-03-01 09:00", tz="UTC")],
                "organizer_id": ["S1", "B1"],
            }
        ),
        "meeting_attendees": pd.DataFrame(
            {
                "meeting_id": ["M1", "M1", "M1", "M2", "M2"],
                "person_id": ["B1", "B2", "B3", "B1", "P1"],
                "response": ["accepted", "tentative", "declined", "none", "accepted"],
                "attended": pd.array([None, True, None, None, False], dtype="boolean"),
            }
        ),
        "emails": pd.DataFrame(
            {
                "message_id": ["E1", "E2", "E3", "E4"],
                "deal_id": ["D1", "D1", "D1", "D1"],
                "thread_id": ["T1", "T1", "T2", "T3"],
                "sent_at": [
                    TS("2024-02-02", tz="UTC"),
                    TS("2024-02-03", tz="UTC"),
                    TS("2024-04-01", tz="UTC"),
                    TS("2024-02-04", tz="UTC"),
                ],
                "sender_id": ["B1", "B2", "B1", "B1"],
            }
        ),
        "email_recipients": pd.DataFrame(
            {
                "message_id": ["E1", "E1", "E2", "E3", "E3", "E4"],
                "person_id": ["B2", "S1", "B1", "B2", "P1", "B1"],
                "kind": ["to", "to", "to", "to", "cc", "to"],
            }
        ),
    }


def dataset(shuffle_seed: int | None = None) -> Dataset:
    tables = frames()
    if shuffle_seed is not None:  # the same facts in another row order
        rng = np.random.default_rng(shuffle_seed)
        tables = {k: v.iloc[rng.permutation(len(v))].reset_index(drop=True) for k, v in tables.items()}
    for name, frame in tables.items():  # absent optional columns as empty values
        for column in TABLES[name].column_names:
            if column not in frame.columns:
                frame[column] = None
    return Dataset.from_frames(tables)


def edges_of(graph) -> dict[tuple[str, str], tuple[int, int, int]]:
    return {(s, t): (e, m, w) for s, t, e, m, w in graph.edges.itertuples(index=False, name=None)}


def test_graph_counts_ties_from_emails_and_attended_meetings() -> None:
    g = deal_graph(dataset(), "D1")
    # Everyone invited or writing is a node, whatever the answer: B3 declined but was invited. B4 did nothing.
    assert sorted(g.nodes["person_id"]) == ["B1", "B2", "B3", "P1", "S1"]
    assert dict(zip(g.nodes["person_id"], g.nodes["side"], strict=True))["S1"] == "seller"
    assert edges_of(g) == {
        ("B1", "B2"): (3, 1, 4),  # E1, E2 (the other way round), E3; M1
        ("B1", "P1"): (1, 0, 1),  # E3 cc; P1 was recorded absent from M2
        ("B1", "S1"): (1, 1, 2),  # E1; M1 (S1 organised it without being invited)
        ("B2", "S1"): (0, 1, 1),  # M1
    }
    counts = g.nodes.set_index("person_id")
    assert counts.loc["B1", "emails_sent"] == 3  # E1, E3, E4 (to self: a message, but no tie)
    assert counts.loc["B1", "emails_received"] == 1  # E2; E4 to self is not a tie
    assert counts.loc["B1", "meetings"] == 2  # M1 (accepted) and M2 (organiser)
    assert counts.loc["B3", "meetings"] == 0 and counts.loc["P1", "meetings"] == 0
    assert (g.n_meetings, g.n_emails) == (2, 4)


def test_as_of_keeps_only_earlier_events() -> None:
    g = deal_graph(dataset(), "D1", as_of="2024-03-15T00:00:00Z")
    assert edges_of(g)[("B1", "B2")] == (2, 1, 3)  # E3 is later
    assert ("B1", "P1") not in edges_of(g)
    assert "P1" in set(g.nodes["person_id"])  # invited to M2, which was before
    early = deal_graph(dataset(), "D1", as_of="2024-02-01T12:00:00Z")  # M1 only
    assert sorted(early.nodes["person_id"]) == ["B1", "B2", "B3", "S1"]
    assert edges_of(early) == {("B1", "B2"): (0, 1, 1), ("B1", "S1"): (0, 1, 1), ("B2", "S1"): (0, 1, 1)}
    with pytest.raises(ValueError, match="time zone"):
        deal_graph(dataset(), "D1", as_of="2024-02-01")


def test_extra_people_empty_deals_and_unknown_deals() -> None:
    graphs = deal_graphs(dataset(), extra_people={"D1": ["B4"], "D2": ["B2"]})
    assert "B4" in set(graphs["D1"].nodes["person_id"])
    assert graphs["D2"].nodes["person_id"].tolist() == ["B2"] and graphs["D2"].edges.empty
    with pytest.raises(KeyError, match="NOPE"):
        deal_graphs(dataset(), ["D1", "NOPE"])


def test_graph_does_not_depend_on_row_order() -> None:
    a = deal_graph(dataset(), "D1")
    for seed in (1, 2, 3):
        b = deal_graph(dataset(shuffle_seed=seed), "D1")
        pd.testing.assert_frame_equal(a.nodes, b.nodes)
        pd.testing.assert_frame_equal(a.edges, b.edges)


# -- layout -------------------------------------------------------------------------------------------------------
def test_layout_is_deterministic_bounded_and_separated() -> None:
    rng = np.random.default_rng(0)
    n = 30
    edges = [
        (int(i), int(j), float(w))
        for i, j, w in zip(
            rng.integers(0, n, 60), rng.integers(0, n, 60), rng.integers(1, 20, 60), strict=True
        )
        if i != j
    ]
    a = spring_layout(n, edges, seed=4)
    b = spring_layout(n, edges, seed=4)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (n, 2) and a.min() >= 0.0 and a.max() <= 1.0
    dist = np.linalg.norm(a[:, None] - a[None, :], axis=2) + np.eye(n)
    assert dist.min() >= 0.9 * MIN_SEPARATION
    assert not np.array_equal(a, spring_layout(n, edges, seed=5)), "the seed matters"


def test_layout_pulls_heavier_ties_closer_and_puts_hubs_in_the_middle() -> None:
    # A triangle with one heavy side: the heavy pair ends up closer than the light pairs.
    pos = spring_layout(3, [(0, 1, 50.0), (1, 2, 1.0), (0, 2, 1.0)])
    d = lambda i, j: float(np.linalg.norm(pos[i] - pos[j]))  # noqa: E731
    assert d(0, 1) < d(1, 2) and d(0, 1) < d(0, 2)
    # A star: the hub is nearer the centre of the picture than any leaf.
    star = spring_layout(9, [(0, k, 1.0) for k in range(1, 9)])
    centre = star.mean(axis=0)
    radii = np.linalg.norm(star - centre, axis=1)
    assert radii[0] < radii[1:].min()
    assert spring_layout(0, []).shape == (0, 2)
    np.testing.assert_array_equal(spring_layout(1, []), [[0.5, 0.5]])


# -- the map ------------------------------------------------------------------------------------------------------
def report() -> dict:
    """Scores for D1 as the scorer reports them (only the fields the map reads), written by hand."""
    people = [
        ("B2", 2, 0.40, "end_user"),
        ("B1", 1, 0.90, "budget_holder"),
        ("B3", 3, 0.10, "peripheral"),
        ("P1", 4, 0.05, "external_advisor"),
        ("B4", 5, float("nan"), None),  # a prior row: scored, no profile
    ]
    return {
        "model_version": "m/1",
        "as_of": None,
        "engagement_assessable": True,
        "people": [
            {
                "person_id": pid,
                "deal_id": "D1",
                "full_name": None,
                "title": None,
                "influence": inf,
                "influence_rank": rank,
                "profile": prof,
                "profile_confidence": 0.5 if prof else float("nan"),
                "p_end_user": 0.1,
                "method": "model" if prof else "prior",
                "engagement": "engaged",
                "seller_meetings": 1,
                "seller_emails": np.int64(2),
                "reasons": ["in 50% of threads"] if prof else [],
            }
            for pid, rank, inf, prof in people
        ],
        "coverage": [
            {"deal_id": "D1", "profile": "procurement", "status": "missing", "message": "no procurement"}
        ],
        "gaps": ["no procurement"],
        "next_best_contacts": [
            {"deal_id": "D1", "rank": 1, "person_id": "B2", "angle": "demo", "influence": 0.4}
        ],
    }


def test_map_merges_scores_marks_the_top_person_and_is_json() -> None:
    ds = dataset()
    graph = deal_graphs(ds, ["D1"], extra_people={"D1": ["B4"]})["D1"]
    m = deal_map(
        graph, report(), deal={"outcome": "open", "amount": np.float64(10.0)}, account_name="Acme BV"
    )
    text = json.dumps(m, allow_nan=False)  # NaN became null: valid JSON for a browser
    assert json.loads(text) == m
    ids = [n["id"] for n in m["nodes"]]
    assert ids == ["B1", "B2", "B3", "P1", "B4", "S1"]  # by rank, then the unscored (our team)
    nodes = {n["id"]: n for n in m["nodes"]}
    assert m["top_person_id"] == "B1" and [n["id"] for n in m["nodes"] if n["top"]] == ["B1"]
    assert (
        nodes["S1"]["scored"] is False
        and nodes["S1"]["influence"] is None
        and nodes["S1"]["side"] == "seller"
    )
    assert (
        nodes["B4"]["influence"] is None and nodes["B4"]["profile"] is None and nodes["B4"]["side"] == "buyer"
    )
    assert nodes["B1"]["name"] == "Ann", "the dataset's name is used when the scores carry none"
    assert nodes["B2"]["seller_emails"] == 2 and isinstance(nodes["B2"]["seller_emails"], int)
    assert "p_end_user" not in nodes["B2"] and "deal_id" not in m["coverage"][0]
    assert all(0.0 <= n["x"] <= 1.0 and 0.0 <= n["y"] <= 1.0 for n in m["nodes"])
    assert len(m["edges"]) == 4 and m["deal"]["account_name"] == "Acme BV" and m["deal"]["amount"] == 10.0
    assert m["summary"] == {
        "people": 6,
        "scored": 5,
        "buyer": 4,
        "partner": 1,
        "seller": 1,
        "ties": 4,
        "emails": 4,
        "meetings": 2,
    }
    assert deal_map(graph, report()) == deal_map(graph, report()), "deterministic, layout included"


def test_scored_people_missing_from_the_graph_still_become_nodes() -> None:
    graph = deal_graph(dataset(), "D1")  # B4 not passed as extra: only the scores know about them
    m = deal_map(graph, report())
    b4 = next(n for n in m["nodes"] if n["id"] == "B4")
    assert b4["side"] == "unknown" and b4["scored"] and b4["emails_sent"] == 0
    assert len(m["nodes"]) == 6


def test_map_does_not_depend_on_row_order() -> None:
    base = deal_map(deal_graph(dataset(), "D1"), report())
    shuffled = report()
    shuffled["people"] = shuffled["people"][::-1]
    for seed in (1, 2):
        assert deal_map(deal_graph(dataset(shuffle_seed=seed), "D1"), shuffled) == base


def test_no_scores_means_no_top_person() -> None:
    m = deal_map(deal_graph(dataset(), "D1"), {"people": [], "gaps": []})
    assert m["top_person_id"] is None and not any(n["top"] for n in m["nodes"])
    assert all(not n["scored"] and n["reasons"] == [] for n in m["nodes"])
    assert all(math.isfinite(n["x"]) for n in m["nodes"])


def test_batched_layouts_equal_single_ones() -> None:
    """The report lays out all deals at once, the page one at a time: the pictures must be identical."""
    rng = np.random.default_rng(3)
    cases = []
    for n in (2, 5, 9, 9, 16, 17, 30):
        ends = rng.integers(0, n, size=(2 * n, 2))
        cases.append(
            (
                n,
                [
                    (int(a), int(b), float(w))
                    for (a, b), w in zip(ends, rng.integers(1, 9, 2 * n), strict=True)
                ],
                n * 7,
            )
        )
    batch = spring_layouts(cases)
    for (n, edges, seed), pos in zip(cases, batch, strict=True):
        np.testing.assert_array_equal(pos, spring_layout(n, edges, seed=seed))


def test_layout_keeps_room_around_big_nodes() -> None:
    rng = np.random.default_rng(1)
    n = 30
    ends = rng.integers(0, n, size=(90, 2))
    edges = [
        (int(a), int(b), float(w)) for (a, b), w in zip(ends, rng.integers(1, 30, 90), strict=True) if a != b
    ]
    radii = np.full(n, 0.06)
    radii[:3] = 0.1  # the biggest circles, one with the top badge
    need = radii[:, None] + radii[None, :]
    off = ~np.eye(n, dtype=bool)

    def tightest(pos: np.ndarray) -> float:
        return float((np.linalg.norm(pos[:, None] - pos[None, :], axis=2) / need)[off].min())

    assert tightest(spring_layout(n, edges, radii=radii)) >= 0.98
    assert tightest(spring_layout(n, edges)) < 0.98, "without the radii this picture would be too tight"


def test_a_deal_as_of_a_date_before_its_close_is_shown_open() -> None:
    from influence.dmu_map import deal_as_of

    won = {
        "stage": "Closed Won",
        "outcome": "won",
        "amount": 10.0,
        "currency": "EUR",
        "created_at": pd.Timestamp("2024-01-01", tz="UTC"),
        "closed_at": pd.Timestamp("2024-06-01", tz="UTC"),
    }
    then = deal_as_of(won, pd.Timestamp("2024-03-01", tz="UTC"))
    assert (then["outcome"], then["closed_at"], then["stage"]) == ("open", None, None)
    assert then["amount"] == 10.0 and then["created_at"] == won["created_at"]
    assert deal_as_of(won, pd.Timestamp("2024-07-01", tz="UTC")) == won  # closed by then: as it is
    assert deal_as_of(won, None) == won
    still_open = {**won, "outcome": "open", "closed_at": pd.NaT, "stage": "Negotiation"}
    assert deal_as_of(still_open, pd.Timestamp("2024-03-01", tz="UTC")) == still_open


def test_a_scored_person_without_a_name_is_shown_by_e_mail_address() -> None:
    ds = dataset()
    nameless = ds.people["person_id"].astype(str) == "B2"
    ds.people.loc[nameless, "full_name"] = pd.NA  # an imported mailbox: an address, no display name
    graph = deal_graphs(ds, ["D1"])["D1"]
    scores = report()
    for p in scores["people"]:
        p["email"] = f"{p['person_id'].lower()}@acme.example"
    nodes = {n["id"]: n for n in deal_map(graph, scores)["nodes"]}
    assert nodes["B2"]["name"] == "b2@acme.example"
    assert nodes["B1"]["name"] == "Ann"  # a name, when there is one, still wins
    assert nodes["S1"]["name"] == "Sam"  # our team is not scored: its name comes from the dataset
