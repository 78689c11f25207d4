"""influence.report: the account summary, and the HTML being self-contained and safe with hostile text.

Maps are written inline with only the fields the report reads; the browser tests (tests/ui) render real ones."""

from __future__ import annotations

import html
import json
import re

from influence.report import account_summary, render_report, script_json


def person(
    pid: str, influence: float | None, rank: int | None, profile: str | None = "end_user", **kw
) -> dict:
    return {
        "id": pid,
        "name": kw.pop("name", pid),
        "title": None,
        "side": kw.pop("side", "buyer"),
        "scored": influence is not None,
        "influence": influence,
        "influence_rank": rank,
        "profile": profile,
        "engagement": "weak",
        "top": rank == 1,
        **kw,
    }


def deal(
    deal_id: str, account: str, outcome: str, created: str, closed: str | None, nodes: list, **kw
) -> dict:
    return {
        "deal": {
            "deal_id": deal_id,
            "account_id": account,
            "account_name": kw.pop("account_name", f"Name of {account}"),
            "outcome": outcome,
            "stage": None,
            "amount": None,
            "currency": None,
            "created_at": created,
            "closed_at": closed,
        },
        "nodes": nodes,
        "edges": [],
        "gaps": kw.pop("gaps", []),
        "next_best_contacts": kw.pop("nbc", []),
        "summary": {"people": len(nodes)},
    }


def test_summary_speaks_about_open_deals_else_the_latest() -> None:
    old_won = deal("D1", "A", "won", "2023-01-01", "2023-06-01", [person("X", 0.99, 1)], gaps=["old gap"])
    open_a = deal(
        "D2",
        "A",
        "open",
        "2024-01-01",
        None,
        [person("P", 0.5, 2), person("Q", 0.7, 1), person("S", None, None, None, side="seller")],
        gaps=["no procurement"],
        nbc=[{"rank": 1, "person_id": "P", "influence": 0.5, "angle": "ROI"}],
    )
    open_b = deal("D3", "A", "open", "2024-03-01", None, [person("P", 0.8, 1)], gaps=["no sponsor"])
    s = account_summary([old_won, open_a, open_b])
    assert s["focus_kind"] == "open" and s["focus"] == ["D3", "D2"]  # newest open deal first
    assert s["deals"] == ["D3", "D2", "D1"]
    # Each person once, at their highest influence across the focus deals; X (closed deal) is not there.
    assert [(p["id"], p["influence"], p["deal_id"]) for p in s["top_people"]] == [
        ("P", 0.8, "D3"),
        ("Q", 0.7, "D2"),
    ]
    assert [g["gap"] for g in s["gaps"]] == ["no sponsor", "no procurement"]
    assert [c["person_id"] for c in s["next_best_contacts"]] == ["P"]

    closed_late = deal("D4", "B", "lost", "2023-01-01", "2024-02-01", [person("Y", 0.3, 1)])
    closed_early = deal("D5", "B", "won", "2023-05-01", "2023-09-01", [person("Z", 0.9, 1)])
    s = account_summary([closed_early, closed_late])
    assert s["focus_kind"] == "latest" and s["focus"] == ["D4"]  # closed most recently
    assert [p["id"] for p in s["top_people"]] == ["Y"]


def test_script_json_cannot_close_the_script_element() -> None:
    value = {"name": "</script><script>alert(1)</script>", "amp": "a & b", "comment": "<!--"}
    text = script_json(value)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == value


HOSTILE = '<img src=x onerror="alert(1)">O\'Neil & "Sons"'


def test_report_is_self_contained_and_escapes_every_text() -> None:
    maps = [
        deal("D2", "B", "open", "2024-01-01", None, [person("P2", 0.4, 1, name=HOSTILE)], gaps=[HOSTILE]),
        deal("D1", "A", "won", "2023-01-01", "2023-02-01", [person("P1", 0.6, 1)], account_name=HOSTILE),
    ]
    text = render_report(
        maps,
        account_names={"A": None, "B": "Beta"},
        source="data/x",
        model_version="m/1",
        unknown_accounts=["A-404"],
        accounts_without_deals=["C-0"],
    )
    assert "<img" not in text  # every occurrence escaped, in the HTML and in the embedded JSON
    assert html.escape(HOSTILE, quote=True) in text
    assert not re.search(r"(?:src|href)=\"(?!#|data:)", text), "nothing is fetched from anywhere"
    assert "@import" not in text and not re.search(r"url\((?!data:)", text)
    assert "default-src 'none'" in text
    # Accounts in id order, each with its deals; the listed problems are shown, not dropped.
    assert re.findall(r'data-account="([^"]+)"', text) == ["A", "B"]
    assert "A-404" in text and "C-0" in text
    data = json.loads(re.search(r'id="dmu-data">(.*?)</script>', text, re.S)[1])
    assert set(data["maps"]) == {"D1", "D2"} and data["maps"]["D2"]["nodes"][0]["name"] == HOSTILE
    # The first deal of every account is open (drawn at load); there is one per account here.
    assert len(re.findall(r'<details class="deal-section" data-deal="[^"]+" open>', text)) == 2


def test_empty_report_says_so() -> None:
    text = render_report([], unknown_accounts=["A-1"])
    assert "No deals to show" in text and "A-1" in text


def test_deal_heading_counts_the_people_scored_as_influence_score_does() -> None:
    nodes = [
        person("P1", 0.6, 1),
        person("P2", 0.2, 2, side="partner"),
        person("S1", None, None, None, side="seller"),
    ]
    text = render_report([deal("D1", "A", "open", "2024-01-01", None, nodes, gaps=["g"])])
    assert "2 people scored + 1 of our team, 1 gap" in text  # a score file of this deal has 2 rows
    alone = render_report([deal("D1", "A", "open", "2024-01-01", None, [person("P1", 0.6, 1)])])
    assert re.findall(r"Deal D1 — [^<]*", alone) == ["Deal D1 — open — 1 person scored, 0 gaps"]


def test_an_empty_next_best_list_says_why() -> None:
    from influence.coverage import NEXT_BEST_MIN_INFLUENCE as bar

    def page(nodes: list) -> str:
        return render_report([deal("D1", "A", "open", "2024-01-01", None, nodes)])

    assert "no next-best contact: nobody scored yet" in page([person("S", None, None, None, side="seller")])
    faint = page([person("P", bar - 0.1, 1)])
    assert f"nobody reaches {bar:.2f} influence yet" in faint and "already engaged" not in faint
    strong = page([person("P", bar + 0.1, 1)])  # influential, and the deal lists no contact: engaged
    assert f"everyone with influence {bar:.2f} or more is already engaged" in strong


def test_a_next_best_contact_is_named_as_on_the_map() -> None:
    nodes = [person("person-1f2e", 0.6, 1, name="carla@acme.example")]  # the map's name for a nameless person
    nbc = [{"rank": 1, "person_id": "person-1f2e", "full_name": None, "influence": 0.6, "angle": "demo"}]
    text = render_report([deal("D1", "A", "open", "2024-01-01", None, nodes, nbc=nbc)])
    contacts = text.split("Next-best contacts", 1)[1]
    assert (
        "<strong>carla@acme.example</strong>" in contacts and "<strong>person-1f2e</strong>" not in contacts
    )
