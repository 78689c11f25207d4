"""The map routes and `influence report` without a browser: the JSON the pages call, the errors a user sees,
and no training/serving skew (a deal mapped from a pasted body carries exactly the scores of /v1/deals/score)."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from influence.api import ApiSettings, create_app
from influence.api._convert import deal_request_from_dataset
from influence.cli import app as cli


@pytest.fixture(scope="module")
def client(bundle_path: Path, data_dir: Path):
    with TestClient(create_app(ApiSettings(model=str(bundle_path), data=str(data_dir)))) as c:
        yield c


@pytest.fixture(scope="module")
def client_without_data(bundle_path: Path):
    with TestClient(create_app(ApiSettings(model=str(bundle_path)))) as c:
        yield c


def test_body_map_carries_the_same_scores_as_deal_score(client, model) -> None:
    _, ds = model
    deal_id = str(ds.deals["deal_id"].iloc[1])
    body = deal_request_from_dataset(ds, deal_id)
    scored = client.post("/v1/deals/score", json=body).json()
    mapped = client.post("/v1/deals/map", json=body)
    assert mapped.status_code == 200, mapped.text
    m = mapped.json()
    nodes = {n["id"]: n for n in m["nodes"]}
    assert m["deal"]["deal_id"] == deal_id and m["model_version"] == scored["model_version"]
    for person in scored["people"]:
        node = nodes[person["person_id"]]
        assert node["scored"]
        for field in ("influence", "influence_rank", "profile", "engagement", "reasons"):
            assert node[field] == person[field], field
    assert {n["id"] for n in m["nodes"] if n["scored"]} == {p["person_id"] for p in scored["people"]}
    assert m["gaps"] == scored["gaps"]
    assert [c["person_id"] for c in m["next_best_contacts"]] == [
        c["person_id"] for c in scored["next_best_contacts"]
    ]
    # Every person of the body who e-mailed or met about the deal is on the map, our team included.
    active = {r["sender_id"] for r in body["emails"]} | {r["person_id"] for r in body["email_recipients"]}
    active |= {r["person_id"] for r in body["meeting_attendees"]}
    active |= {r["organizer_id"] for r in body["meetings"] if r["organizer_id"]}
    assert active <= set(nodes)
    sellers = {p["person_id"] for p in body["people"] if p["side"] == "seller"} & active
    assert sellers and all(nodes[s]["side"] == "seller" and not nodes[s]["scored"] for s in sellers)


def test_body_map_errors_name_the_json_path(client, model) -> None:
    _, ds = model
    body = deal_request_from_dataset(ds, str(ds.deals["deal_id"].iloc[0]))
    body["meeting_attendees"][0]["person_id"] = "NOBODY"
    r = client.post("/v1/deals/map", json=body)
    assert r.status_code == 422
    paths = [d["path"] for d in r.json()["detail"]]
    assert "body.meeting_attendees[0].person_id" in paths
    early = deal_request_from_dataset(ds, str(ds.deals["deal_id"].iloc[0]), as_of="1999-01-01T00:00:00Z")
    r = client.post("/v1/deals/map", json=early)
    assert r.status_code == 422 and r.json()["detail"][0]["path"] == "body.as_of"


def test_dataset_routes(client, model) -> None:
    _, ds = model
    listed = client.get("/v1/dataset/deals").json()["deals"]
    assert sorted(d["deal_id"] for d in listed) == sorted(ds.deals["deal_id"].astype(str))
    deal_id = listed[0]["deal_id"]
    m = client.get(f"/v1/dataset/deals/{deal_id}/map")
    assert m.status_code == 200 and m.json()["deal"]["deal_id"] == deal_id
    assert client.get(f"/v1/dataset/deals/{deal_id}/map").json() == m.json(), "cached and stable"
    missing = client.get("/v1/dataset/deals/NOPE/map")
    assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]


def test_a_deal_mapped_before_the_background_scoring_equals_one_mapped_after(
    bundle_path, data_dir, model
) -> None:
    from influence.api._pages import load_served_dataset
    from influence.api._service import load_service

    _, ds = model
    service = load_service(ApiSettings(model=str(bundle_path)))
    deal_id = str(ds.deals["deal_id"].iloc[-1])
    early = load_served_dataset(data_dir)
    alone = early.deal_map(deal_id, service)  # nothing scored yet: this deal on its own
    late = load_served_dataset(data_dir)
    late.score_all(service)
    assert late.deal_map(deal_id, service) == alone
    with pytest.raises(KeyError):
        late.deal_map("NOPE", service)


def test_without_data_the_dataset_routes_say_how_to_get_one(client_without_data) -> None:
    r = client_without_data.get("/v1/dataset/deals")
    assert r.status_code == 404 and "--data" in r.json()["detail"]
    assert client_without_data.get("/", follow_redirects=False).headers["location"] == "/map"


def test_pages_and_assets_are_served_locally(client) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/deals"
    for page in ("/deals", "/deals/ANY", "/map"):
        r = client.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        # Every asset a page names is one the app serves: no CDN, no other host.
        for ref in re.findall(r'(?:src|href)="([^"]+)"', r.text):
            if ref.startswith("data:"):
                continue
            assert ref.startswith("/"), f"{page} refers to {ref}"
            assert client.get(ref).status_code == 200, ref
    assert client.get("/static/dmu-map.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/deal.html").status_code == 404  # only the listed assets
    assert client.get("/static/..%2Fdmu_map.py").status_code == 404


def test_people_count_matches_the_dataset(model) -> None:
    """The graph's people, counted independently from the raw tables: everyone in the deal's meetings and
    e-mails plus everyone scored for it (buyer, partner and seller side)."""
    from influence.dmu_map import deal_graphs

    _, ds = model
    mtg = ds.meetings
    att = ds.meeting_attendees.merge(mtg[["meeting_id", "deal_id"]], on="meeting_id")
    rec = ds.email_recipients.merge(ds.emails[["message_id", "deal_id"]], on="message_id")
    expected = pd.concat(
        [
            att[["deal_id", "person_id"]],
            mtg[["deal_id", "organizer_id"]].rename(columns={"organizer_id": "person_id"}),
            ds.emails[["deal_id", "sender_id"]].rename(columns={"sender_id": "person_id"}),
            rec[["deal_id", "person_id"]],
        ]
    ).dropna()
    counts = expected.astype(str).drop_duplicates().groupby("deal_id").size()
    graphs = deal_graphs(ds)
    assert {d: len(g.nodes) for d, g in graphs.items() if len(g.nodes)} == counts.to_dict()


# -- the CLI ------------------------------------------------------------------------------------------------------
runner = CliRunner()


def test_report_command_writes_a_self_contained_file(data_dir, bundle_path, model, tmp_path) -> None:
    _, ds = model
    wanted = sorted(ds.accounts["account_id"].astype(str))[:2]
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("account_id\n" + "\n".join([*wanted, "A-UNKNOWN"]) + "\n", encoding="utf-8")
    out = tmp_path / "out" / "report.html"
    args = [
        "report",
        str(data_dir),
        "--out",
        str(out),
        "--accounts",
        str(accounts),
        "--model",
        str(bundle_path),
    ]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "A-UNKNOWN" in result.stderr
    text = out.read_text(encoding="utf-8")
    data = json.loads(
        re.search(r'<script type="application/json" id="dmu-data">(.*?)</script>', text, re.S)[1]
    )
    expected = ds.deals[ds.deals["account_id"].isin(wanted)]["deal_id"].astype(str)
    assert sorted(data["maps"]) == sorted(expected)
    assert re.findall(r'data-account="([^"]+)"', text) == wanted
    assert "A-UNKNOWN" in text  # listed in the report too, not silently dropped
    assert not re.search(r'(?:src|href)="(?!#|data:)', text), "nothing to fetch"
    assert "default-src 'none'" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "no/such/dir", "--out", "r.html"], "not a dataset folder"),
        (["report", "{data}", "--out", "r.txt"], "HTML file"),
        (["report", "{data}", "--out", "r.html", "--accounts", "{missing}"], "account list not found"),
        (["report", "{data}", "--out", "r.html", "--accounts", "{bad_header}"], "account_id"),
        (["report", "{data}", "--out", "r.html", "--accounts", "{all_unknown}"], "none of the 1 listed"),
        (["report", "{data}", "--out", "r.html", "--model", "{tmp}/nomodel"], "error:"),
    ],
)
def test_report_command_user_errors(args, message, data_dir, tmp_path) -> None:
    (tmp_path / "bad.csv").write_text("account\nA1\n", encoding="utf-8")
    (tmp_path / "unknown.csv").write_text("account_id\nA-NOPE\n", encoding="utf-8")
    fill = {
        "data": str(data_dir),
        "missing": str(tmp_path / "missing.csv"),
        "bad_header": str(tmp_path / "bad.csv"),
        "all_unknown": str(tmp_path / "unknown.csv"),
        "tmp": str(tmp_path),
    }
    result = runner.invoke(cli, [a.format(**fill) for a in args])
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output
