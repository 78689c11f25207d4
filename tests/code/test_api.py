"""The scoring API (influence.api) through FastAPI's TestClient: every route, exact JSON paths for bad input, 413,
auth on and off, model version everywhere, and no training/serving skew: a generated deal scored through the API
equals the Scorer on the same data read from files, and /v1/people/score equals the Scorer on the same rows."""

from __future__ import annotations

import copy
import json
import logging
import random
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

# starlette's TestClient warns that driving it with httpx is deprecated (in favour of httpx2)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from influence.api import ApiSettings, create_app, deal_request_from_dataset
from influence.contract import PROFILES, TABLES

SEED = 5
N_ACCOUNTS = 24


# -- fixtures: the suite's small bundle (tests/conftest.py: generate(24, 5), few iterations) and its data -----------
@pytest.fixture(scope="module")
def model(unit_bundle) -> tuple[Any, Any]:
    """(bundle, dataset): the bundle was trained on this very generated dataset (24 accounts, seed 5)."""
    from influence.generate import generate

    return unit_bundle, generate(N_ACCOUNTS, SEED)


@pytest.fixture(scope="module")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Under pytest's base temp folder, which tests/conftest.py adds to the folders models may be loaded from."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def saved_bundle(model, models_root: Path) -> Path:
    from influence.bundle import save_bundle

    bundle, _ = model
    return save_bundle(copy.copy(bundle), models_root)


@pytest.fixture(scope="module")
def client(saved_bundle: Path):
    """The app loading the saved bundle from disk in its lifespan, as `influence serve` does."""
    with TestClient(create_app(ApiSettings(model=str(saved_bundle)))) as c:
        yield c


@pytest.fixture(scope="module")
def scorer(model):
    from influence.predict import Scorer

    return Scorer(model[0])


def _deal_ids_by_size(ds) -> list[str]:
    """Deals whose account has exactly one deal (the body then holds the account's whole history), largest first."""
    per_account = ds.deals.groupby("account_id")["deal_id"].transform("size")
    single = ds.deals[per_account == 1]
    attendees = ds.meeting_attendees.merge(ds.meetings[["meeting_id", "deal_id"]], on="meeting_id")
    size = attendees.groupby("deal_id")["person_id"].nunique()
    return sorted(single["deal_id"].astype(str), key=lambda d: (-size.get(d, 0), d))


@pytest.fixture(scope="module")
def deal_body(model) -> dict[str, Any]:
    _, ds = model
    return deal_request_from_dataset(ds, _deal_ids_by_size(ds)[0])


def _problems(response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {item["path"]: item["msg"] for item in response.json()["detail"]}


# -- health, model, versions ---------------------------------------------------------------------------------------
def test_health_ready_and_model_info_name_the_model(client, model) -> None:
    bundle, _ = model
    version = f"{bundle.name}/{bundle.version}"
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok", "model_version": version}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "model_version": version}
    info = client.get("/v1/model")
    assert info.status_code == 200
    body = info.json()
    assert body["model_version"] == version and info.headers["x-model-version"] == version
    assert body["trained_at"] == bundle.created
    assert body["features"] == list(bundle.feature_columns)
    assert body["profiles"] == list(PROFILES)
    assert set(body["metrics"]) == set(bundle.metadata["metrics"])
    for response in (health, ready):
        assert response.headers["x-model-version"] == version
        assert len(response.headers["x-request-id"]) >= 16


def test_not_ready_before_the_model_is_loaded(model) -> None:
    # Without the lifespan (no `with`), nothing is loaded: readiness and scoring say so with 503, liveness is fine.
    c = TestClient(create_app(ApiSettings(model="/nowhere")))
    assert c.get("/healthz").status_code == 200
    ready = c.get("/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "loading"
    scored = c.post("/v1/people/score", json={"rows": [{"person_id": "p", "features": {}}]})
    assert scored.status_code == 503
    assert "x-model-version" not in scored.headers


def test_a_missing_model_stops_the_app_from_starting() -> None:
    from influence.bundle import BundleError

    with (
        pytest.raises(BundleError, match="no model bundle"),
        TestClient(create_app(ApiSettings(model="/nowhere"))),
    ):
        pass


def test_request_id_is_echoed_and_generated(client) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"
    # A malformed id (spaces, too long) is replaced, never reflected.
    replaced = client.get("/healthz", headers={"X-Request-ID": "a b" * 40})
    assert replaced.headers["x-request-id"] != "a b" * 40


# -- /v1/deals/score ------------------------------------------------------------------------------------------------
def _files_dataset(body: dict[str, Any], folder: Path):
    """The body written as one CSV per table and read back with influence.data.load: the batch path."""
    from influence.data import load

    folder.mkdir()
    tables = {k: v for k, v in body.items() if k not in ("deal", "as_of")}
    tables["deals"] = [body["deal"]]
    for key, rows in tables.items():
        pd.DataFrame(rows, columns=TABLES[key].column_names).to_csv(folder / f"{key}.csv", index=False)
    return load(folder)


def test_deal_round_trip_equals_the_scorer_on_the_same_files(
    client, scorer, deal_body, tmp_path: Path
) -> None:
    response = client.post("/v1/deals/score", json=deal_body)
    assert response.status_code == 200, response.text
    answer = response.json()
    expected = scorer.score_dataset(_files_dataset(deal_body, tmp_path / "deal")).deal_report(
        deal_body["deal"]["deal_id"]
    )
    assert answer["model_version"] == expected["model_version"] == response.headers["x-model-version"]
    got = {p["person_id"]: p for p in answer["people"]}
    want = {p["person_id"]: p for p in expected["people"]}
    assert len(got) >= 5 and got.keys() == want.keys()
    for pid, person in want.items():
        assert got[pid]["influence"] == pytest.approx(person["influence"], abs=1e-12)
        assert got[pid]["influence_rank"] == person["influence_rank"]
        assert got[pid]["profile"] == person["profile"]
        assert got[pid]["reasons"] == person["reasons"]
        assert got[pid]["profile_probabilities"] == pytest.approx({p: person[f"p_{p}"] for p in PROFILES})
    assert [p["person_id"] for p in answer["people"]] == [p["person_id"] for p in expected["people"]]
    assert [c["status"] for c in answer["coverage"]] == [c["status"] for c in expected["coverage"]]
    assert answer["gaps"] == expected["gaps"]
    assert [n["person_id"] for n in answer["next_best_contacts"]] == [
        n["person_id"] for n in expected["next_best_contacts"]
    ]


def test_deal_scores_equal_the_scorer_on_the_whole_generated_dataset(client, scorer, model) -> None:
    # The deal's account has no other deal, so the body holds all the history the batch path would use.
    _, ds = model
    deal_id = _deal_ids_by_size(ds)[1]
    answer = client.post("/v1/deals/score", json=deal_request_from_dataset(ds, deal_id)).json()
    # A body carries no labels, so no CRM contact roles either (batch scoring adds a row for a role without
    # activity): compare with the dataset without its labels.
    no_labels = type(ds).from_frames({**{name: ds[name] for name in ds}, "labels": ds.labels.iloc[0:0]})
    batch = scorer.score_dataset(no_labels, deal_ids=[deal_id]).people
    got = pd.Series({p["person_id"]: p["influence"] for p in answer["people"]}).sort_index()
    want = batch.set_index(batch["person_id"].astype(str))["influence"].sort_index()
    assert list(got.index) == list(want.index)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=1e-12)


def test_every_person_gets_a_profile_probabilities_and_reasons(client, deal_body) -> None:
    answer = client.post("/v1/deals/score", json=deal_body).json()
    ranks = sorted(p["influence_rank"] for p in answer["people"])
    assert ranks == list(range(1, len(ranks) + 1))
    for person in answer["people"]:
        assert 0.0 <= person["influence"] <= 1.0
        if person["method"] == "model":
            assert person["profile"] in PROFILES
            assert sum(person["profile_probabilities"].values()) == pytest.approx(1.0)
            assert 3 <= len(person["reasons"]) <= 5
    assert len(answer["coverage"]) == 9  # every profile but peripheral
    assert answer["engagement_assessable"] is True


def test_row_order_of_the_body_does_not_change_the_scores(client, deal_body) -> None:
    shuffled = copy.deepcopy(deal_body)
    rng = random.Random(3)
    for key in ("people", "meetings", "meeting_attendees", "emails", "email_recipients", "signals"):
        rng.shuffle(shuffled[key])
    a = client.post("/v1/deals/score", json=deal_body).json()
    b = client.post("/v1/deals/score", json=shuffled).json()
    assert [(p["person_id"], p["influence"]) for p in a["people"]] == [
        (p["person_id"], p["influence"]) for p in b["people"]
    ]


def test_accounts_and_deal_ids_may_be_left_out(client, deal_body) -> None:
    short = copy.deepcopy(deal_body)
    account = short.pop("accounts")[0]
    del short["deal"]["outcome"]  # defaults to open
    short["deal"]["closed_at"] = None
    for key in ("meetings", "emails"):
        for row in short[key]:
            del row["deal_id"]
    others = [p for p in short["people"] if p["account_id"] not in (None, account["account_id"])]
    assert not others
    response = client.post("/v1/deals/score", json=short)
    assert response.status_code == 200, response.text
    full = client.post("/v1/deals/score", json=deal_body).json()
    assert {p["person_id"] for p in response.json()["people"]} == {p["person_id"] for p in full["people"]}


def test_as_of_scores_the_deal_as_it_stood_then(client, scorer, deal_body, tmp_path: Path) -> None:
    starts = sorted(m["start_at"] for m in deal_body["meetings"])
    as_of = starts[len(starts) // 2]
    body = {**deal_body, "as_of": as_of}
    answer = client.post("/v1/deals/score", json=body).json()
    assert pd.Timestamp(answer["as_of"]) == pd.Timestamp(as_of)
    expected = scorer.score_dataset(_files_dataset(deal_body, tmp_path / "d"), as_of=as_of).deal_report(
        deal_body["deal"]["deal_id"]
    )
    assert [p["person_id"] for p in answer["people"]] == [p["person_id"] for p in expected["people"]]
    np.testing.assert_allclose(
        [p["influence"] for p in answer["people"]], [p["influence"] for p in expected["people"]], atol=1e-12
    )
    everything = client.post("/v1/deals/score", json=deal_body).json()
    assert answer["people"] != everything["people"]
    too_early = client.post("/v1/deals/score", json={**deal_body, "as_of": deal_body["deal"]["created_at"]})
    assert "did not exist yet" in _problems(too_early)["body.as_of"]


# -- validation: exact JSON paths ------------------------------------------------------------------------------------
def test_type_errors_name_the_json_path(client, deal_body) -> None:
    bad = copy.deepcopy(deal_body)
    bad["meetings"][0]["start_at"] = "2024-05-01T09:30:00"  # naive
    bad["people"][2]["titel"] = "CFO"  # typo: unknown field
    bad["people"][0]["side"] = "vendor"
    bad["meeting_attendees"][1]["attended"] = "maybe"
    bad["deal"]["amount"] = -5
    del bad["deal"]["created_at"]
    problems = _problems(client.post("/v1/deals/score", json=bad))
    assert set(problems) == {
        "body.meetings[0].start_at",
        "body.people[2].titel",
        "body.people[0].side",
        "body.meeting_attendees[1].attended",
        "body.deal.amount",
        "body.deal.created_at",
    }
    assert "timezone" in problems["body.meetings[0].start_at"]
    assert "buyer" in problems["body.people[0].side"]


def test_contract_errors_across_rows_name_the_json_path(client, deal_body) -> None:
    bad = copy.deepcopy(deal_body)
    bad["email_recipients"][3]["person_id"] = "nobody"
    bad["people"][1]["person_id"] = bad["people"][0]["person_id"]
    bad["meetings"][0]["start_at"] = "2001-01-01T00:00:00Z"  # before the deal was created
    bad["emails"][2]["deal_id"] = "another-deal"
    response = client.post("/v1/deals/score", json=bad)
    problems = _problems(response)
    assert problems["body.email_recipients[3].person_id"] == "references unknown people.person_id 'nobody'"
    assert problems["body.people[1].person_id"].startswith("duplicate key")
    assert "before its deal" in problems["body.meetings[0].start_at"]
    assert "references unknown deals.deal_id 'another-deal'" in problems["body.emails[2].deal_id"]
    assert response.json()["model_version"] == response.headers["x-model-version"]


def test_body_frames_are_typed_and_validate_like_the_same_rows_as_text(deal_body) -> None:
    """The service builds the contract's canonical dtypes straight from the pydantic rows; validation of those
    frames must accept exactly what it accepts from the same rows as plain JSON text (the general route), with
    timestamps of any offset converted exactly."""
    from influence.api._schemas import DealScoreRequest
    from influence.api._service import deal_frames
    from influence.contract import PANDAS_DTYPES
    from influence.data import validate_frames

    body = copy.deepcopy(deal_body)
    body["emails"][0]["sent_at"] = (
        (pd.Timestamp(body["emails"][0]["sent_at"]) + pd.Timedelta(microseconds=7))
        .tz_convert("Asia/Kolkata")
        .isoformat()
    )
    frames, synthesized = deal_frames(DealScoreRequest.model_validate(body))
    assert not synthesized
    for table, frame in frames.items():
        assert {c: str(frame[c].dtype) for c in frame.columns} == {
            c.name: PANDAS_DTYPES[c.dtype] for c in TABLES[table].columns
        }, table
    typed, typed_report = validate_frames(frames)
    keys = {"deal": "deals"}
    text = {
        keys.get(key, key): pd.DataFrame(rows if isinstance(rows, list) else [rows], dtype=object)
        for key, rows in body.items()
        if key != "as_of"
    }
    expected, text_report = validate_frames(text)
    assert typed_report.ok and text_report.ok
    for table in frames:
        want = expected[table].astype({c.name: PANDAS_DTYPES[c.dtype] for c in TABLES[table].columns})
        pd.testing.assert_frame_equal(typed[table], want, obj=table)
    assert typed.emails["sent_at"].iloc[0] == pd.Timestamp(body["emails"][0]["sent_at"])


@pytest.mark.parametrize("ignore_timezone", ["", "1"])
def test_offsets_are_converted_even_when_pyspark_or_pandera_told_arrow_to_ignore_them(
    deal_body, monkeypatch: pytest.MonkeyPatch, ignore_timezone: str
) -> None:
    """Importing pandera or pyspark.pandas sets PYARROW_IGNORE_TIMEZONE=1 process-wide; Arrow then drops offsets.
    The API's typed frames must hold the right UTC instant either way (found when tests/data ran first)."""
    from influence.api._schemas import DealScoreRequest
    from influence.api._service import deal_frames

    if ignore_timezone:
        monkeypatch.setenv("PYARROW_IGNORE_TIMEZONE", ignore_timezone)
    else:
        monkeypatch.delenv("PYARROW_IGNORE_TIMEZONE", raising=False)
    body = copy.deepcopy(deal_body)
    instant = pd.Timestamp(body["emails"][0]["sent_at"]).tz_convert("UTC")
    body["emails"][0]["sent_at"] = instant.tz_convert("Asia/Kolkata").isoformat()
    frames, _ = deal_frames(DealScoreRequest.model_validate(body))
    assert frames["emails"]["sent_at"].iloc[0] == instant


def test_an_empty_string_is_still_an_empty_value(client, deal_body) -> None:
    bad = copy.deepcopy(deal_body)
    bad["emails"][1]["thread_id"] = ""
    assert _problems(client.post("/v1/deals/score", json=bad))["body.emails[1].thread_id"] == (
        "is empty; a value is required"
    )


def test_deal_level_rules_point_into_the_deal_object(client, deal_body) -> None:
    bad = copy.deepcopy(deal_body)
    bad["deal"]["outcome"] = "won"
    bad["deal"]["closed_at"] = "2000-01-01T00:00:00Z"
    problems = _problems(client.post("/v1/deals/score", json=bad))
    assert "body.deal.closed_at" in problems and "before created_at" in problems["body.deal.closed_at"]


def test_out_of_range_values_are_422_not_500(client, deal_body) -> None:
    bad = copy.deepcopy(deal_body)
    bad["signals"][0]["occurred_at"] = "0001-01-01T00:00:00Z"
    bad["meetings"][0]["duration_min"] = 12345.5
    text = json.dumps(bad).replace("12345.5", "1e400")  # overflows to inf when parsed
    problems = _problems(
        client.post("/v1/deals/score", content=text.encode(), headers={"Content-Type": "application/json"})
    )
    assert "1900" in problems["body.signals[0].occurred_at"]
    assert "body.meetings[0].duration_min" in problems


@pytest.mark.parametrize(
    ("text", "inside"),
    [
        ("1899-12-31T23:00:00-02:00", True),  # 1900-01-01T01:00Z: the local year is not what counts
        ("1900-01-01T01:00:00+02:00", False),  # 1899-12-31T23:00Z
        ("1900-01-01T00:00:00Z", True),
        ("2199-12-31T23:59:59.999999Z", True),
        ("2199-12-31T23:30:00-01:00", False),  # 2200-01-01T00:30Z
        ("2200-01-01T00:30:00+01:00", True),  # 2199-12-31T23:30Z
        ("1950-06-01T12:00:00+05:30", True),
        ("0001-01-01T00:00:00Z", False),
    ],
)
def test_timestamp_window_is_decided_in_utc_at_both_edges(text: str, inside: bool) -> None:
    from pydantic import TypeAdapter, ValidationError

    from influence.api._schemas import Timestamp

    adapter = TypeAdapter(Timestamp)
    if inside:
        assert adapter.validate_python(text).isoformat().startswith(text[:10])
    else:
        with pytest.raises(ValidationError, match="timestamp must lie between 1900-01-01 and 2199-12-31"):
            adapter.validate_python(text)


def test_too_many_people_is_refused(saved_bundle: Path, deal_body) -> None:
    with TestClient(create_app(ApiSettings(model=str(saved_bundle), max_people=3))) as c:
        problems = _problems(c.post("/v1/deals/score", json=deal_body))
    assert list(problems) == ["body.people"] and "limit of 3" in problems["body.people"]


def test_malformed_json_and_wrong_content_type_are_422(client) -> None:
    broken = client.post(
        "/v1/deals/score", content=b'{"deal": {', headers={"Content-Type": "application/json"}
    )
    assert _problems(broken).keys() == {"body"}
    assert "malformed JSON" in _problems(broken)["body"]
    text = client.post("/v1/people/score", content=b"rows=1", headers={"Content-Type": "text/plain"})
    assert "Content-Type: application/json" in _problems(text)["body"]
    empty = client.post("/v1/people/score", content=b"", headers={"Content-Type": "application/json"})
    assert empty.status_code == 422
    binary = client.post(
        "/v1/people/score", content=b"\xff\xfe\x00{", headers={"Content-Type": "application/json"}
    )
    assert "malformed JSON" in _problems(binary)["body"]


# -- /v1/people/score ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def feature_rows(model) -> pd.DataFrame:
    from influence.features import build_features

    _, ds = model
    return build_features(ds).head(40).reset_index(drop=True)


def _people_body(rows: pd.DataFrame, names: tuple[str, ...], explain: bool = False) -> dict[str, Any]:
    out = []
    for _, row in rows.iterrows():
        values = {n: (None if np.isnan(row[n]) else float(row[n])) for n in names}
        out.append({"person_id": str(row["person_id"]), "deal_id": str(row["deal_id"]), "features": values})
    return {"rows": out, "explain": explain}


def test_people_score_equals_the_scorer(client, scorer, model, feature_rows: pd.DataFrame) -> None:
    bundle, _ = model
    response = client.post("/v1/people/score", json=_people_body(feature_rows, bundle.feature_columns))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model_version"] == f"{bundle.name}/{bundle.version}" == response.headers["x-model-version"]
    expected = scorer.score_features(feature_rows, explain=True)
    got = answer["rows"]
    assert [r["person_id"] for r in got] == feature_rows["person_id"].astype(str).tolist()
    np.testing.assert_allclose([r["influence"] for r in got], expected["influence"].to_numpy(), atol=1e-12)
    assert [r["profile"] for r in got] == [None if pd.isna(p) else p for p in expected["profile"]]
    assert [r["method"] for r in got] == expected["method"].tolist()
    for r, (_, e) in zip(got, expected.iterrows(), strict=True):
        if r["method"] == "model":
            assert r["profile_probabilities"] == pytest.approx({p: e[f"p_{p}"] for p in PROFILES}, abs=1e-12)
        assert r["reasons"] is None  # only with explain


def test_people_score_explains_on_request(client, scorer, model, feature_rows: pd.DataFrame) -> None:
    bundle, _ = model
    rows = feature_rows.head(5)
    answer = client.post(
        "/v1/people/score", json=_people_body(rows, bundle.feature_columns, explain=True)
    ).json()
    expected = scorer.score_features(rows.drop(columns=["deal_id"]), explain=True)
    assert [r["reasons"] for r in answer["rows"]] == expected["reasons"].tolist()
    assert all(r["reasons"] for r in answer["rows"] if r["method"] == "model")


def test_people_score_accepts_missing_values_as_null(client, model) -> None:
    bundle, _ = model
    features = dict.fromkeys(bundle.feature_columns)
    response = client.post("/v1/people/score", json={"rows": [{"person_id": "p1", "features": features}]})
    assert response.status_code == 200, response.text
    row = response.json()["rows"][0]
    # Nothing observed: the network prior stands in and no profile is claimed.
    assert row["method"] == "prior" and row["profile"] is None and 0.0 <= row["influence"] <= 1.0


def test_people_score_names_unknown_and_missing_features(client, model) -> None:
    bundle, _ = model
    names = list(bundle.feature_columns)
    complete = dict.fromkeys(names, 0.0)
    unknown = {**complete, "shoe_size": 44.0}
    missing = {k: v for k, v in complete.items() if k not in names[:2]}
    body = {
        "rows": [
            {"person_id": "ok", "features": complete},
            {"person_id": "u", "features": unknown},
            {"person_id": "m", "features": missing},
        ]
    }
    problems = _problems(client.post("/v1/people/score", json=body))
    assert problems == {
        "body.rows[1].features.shoe_size": "unknown feature name",
        "body.rows[2].features": f"missing feature(s): {names[0]}, {names[1]} (send null for a missing value)",
    }
    # Types are checked first (by the schema), names after: a text value is named on its own.
    typed = {"rows": [{"person_id": "t", "features": {**complete, names[0]: "high"}}]}
    assert list(_problems(client.post("/v1/people/score", json=typed))) == [
        f"body.rows[0].features.{names[0]}"
    ]


def test_people_score_bounds(saved_bundle: Path, model) -> None:
    bundle, _ = model
    row = {"person_id": "p", "features": dict.fromkeys(bundle.feature_columns, 1.0)}
    with TestClient(create_app(ApiSettings(model=str(saved_bundle), max_rows=2))) as c:
        assert list(_problems(c.post("/v1/people/score", json={"rows": [row] * 3}))) == ["body.rows"]
        assert c.post("/v1/people/score", json={"rows": [row] * 2}).status_code == 200
        assert list(_problems(c.post("/v1/people/score", json={"rows": []}))) == ["body.rows"]


# -- body size ---------------------------------------------------------------------------------------------------------
def test_oversized_bodies_get_413_by_length_and_by_stream(saved_bundle: Path) -> None:
    with TestClient(create_app(ApiSettings(model=str(saved_bundle), max_body_bytes=4096))) as c:
        declared = c.post(
            "/v1/deals/score", content=b"x" * 5000, headers={"Content-Type": "application/json"}
        )
        assert declared.status_code == 413
        assert "4096 bytes" in declared.json()["detail"] and declared.json()["request_id"]

        def chunks():  # no Content-Length: the middleware has to count
            for _ in range(10):
                yield b" " * 1000

        streamed = c.post("/v1/deals/score", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        small = c.post("/v1/people/score", content=b"{}", headers={"Content-Type": "application/json"})
        assert small.status_code == 422  # under the limit: reaches validation


# -- auth ----------------------------------------------------------------------------------------------------------
def test_auth_off_by_default(client) -> None:
    assert client.get("/v1/model").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_auth_on_needs_a_key_everywhere_but_health(model, deal_body) -> None:
    bundle, _ = model
    settings = ApiSettings(model="unused", api_keys=["key-one", "key-two"])
    with TestClient(create_app(settings, bundle=bundle)) as c:
        for path in ("/healthz", "/readyz"):
            assert c.get(path).status_code == 200
        for method, path in (
            ("GET", "/v1/model"),
            ("GET", "/docs"),
            ("GET", "/openapi.json"),
            ("POST", "/v1/deals/score"),
        ):
            response = c.request(method, path, json=deal_body if method == "POST" else None)
            assert response.status_code == 401, path
            assert "X-API-Key" in response.json()["detail"]
            assert response.headers["www-authenticate"].startswith("APIKey")
        wrong = c.get("/v1/model", headers={"X-API-Key": "key-three"})
        assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid API key"
        for key in ("key-one", "key-two"):
            assert c.get("/v1/model", headers={"X-API-Key": key}).status_code == 200
        scored = c.post("/v1/deals/score", json=deal_body, headers={"X-API-Key": "key-two"})
        assert scored.status_code == 200
        schema = c.get("/openapi.json", headers={"X-API-Key": "key-one"}).json()
        assert "APIKeyHeader" in schema["components"]["securitySchemes"]


def test_docs_work_offline(client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    # every script and stylesheet comes from the app itself, never a CDN
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: ?'([^']+)'", page.text)
    assert assets and not [a for a in assets if a.startswith(("http://", "https://", "//"))]
    for asset in assets:
        if asset.endswith((".js", ".css")):
            assert client.get(asset).status_code == 200, asset


def test_auth_on_page_shells_open_but_their_json_needs_the_key(model) -> None:
    bundle, _ = model
    settings = ApiSettings(model="unused", api_keys=["key-one"])
    with TestClient(create_app(settings, bundle=bundle)) as c:
        # the HTML shell holds no data; a browser navigation cannot carry the header, so it must load
        page = c.get("/map")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        # the data behind the pages is protected like every other API route
        assert c.post("/v1/deals/map", json={}).status_code == 401
        assert c.get("/v1/dataset/deals").status_code == 401
        # a path that merely starts like a page is not public
        assert c.get("/mapx").status_code == 401


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFLUENCE_API_KEYS", " sekrit-1 , sekrit-2,")
    monkeypatch.setenv("INFLUENCE_MAX_BODY_BYTES", "65536")
    monkeypatch.setenv("INFLUENCE_MODEL", "models:/influence@champion")
    settings = ApiSettings()
    assert settings.api_keys == ["sekrit-1", "sekrit-2"] and settings.auth_enabled
    assert settings.max_body_bytes == 65536 and settings.model == "models:/influence@champion"
    assert "sekrit" not in repr(settings)  # keys are never printed


# -- server faults -------------------------------------------------------------------------------------------------
def test_a_server_fault_is_a_500_with_a_request_id_that_is_logged(
    model, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bundle, _ = model
    app = create_app(ApiSettings(model="unused"), bundle=bundle)
    with TestClient(app, raise_server_exceptions=False) as c:
        monkeypatch.setattr(app.state.service.scorer, "score_rows", _boom)
        with caplog.at_level(logging.ERROR, logger="influence.api"):
            row = {"person_id": "p", "features": dict.fromkeys(bundle.feature_columns, 1.0)}
            response = c.post("/v1/people/score", json={"rows": [row]}, headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.json()["request_id"] == "req-500" and response.headers["x-request-id"] == "req-500"
    assert "disk on fire" not in response.text  # internals stay in the log
    assert "req-500" in caplog.text and "disk on fire" in caplog.text


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("disk on fire")


# -- the CLI -----------------------------------------------------------------------------------------------------------
def test_serve_refuses_a_missing_or_corrupt_model(
    saved_bundle: Path, models_root: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from influence.cli import app

    runner = CliRunner()
    missing = runner.invoke(app, ["serve", "--model", str(tmp_path / "nothing")])
    assert missing.exit_code == 1
    assert "cannot serve" in missing.output and "Traceback" not in missing.output

    corrupt = models_root / "corrupt"
    shutil.copytree(saved_bundle, corrupt)
    artifact = next(p for p in corrupt.iterdir() if p.suffix == ".joblib")
    artifact.write_bytes(artifact.read_bytes()[:-10] + b"0123456789")
    result = runner.invoke(app, ["serve", "--model", str(corrupt)])
    assert result.exit_code == 1
    assert "checksum" in result.output and "Traceback" not in result.output


def test_openapi_lists_every_route(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/readyz", "/v1/model", "/v1/deals/score", "/v1/people/score"} <= set(paths)
    deal_schema = json.dumps(client.get("/openapi.json").json()["components"]["schemas"]["DealScoreRequest"])
    assert "meeting_attendees" in deal_schema


def test_the_documented_example_deal_scores(client) -> None:
    from influence.settings import project_root

    body = json.loads((project_root() / "docs" / "examples" / "deal.json").read_text(encoding="utf-8"))
    response = client.post("/v1/deals/score", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    scored = {p["person_id"] for p in answer["people"]}
    sides = {p["person_id"]: p["side"] for p in body["people"]}
    assert scored and all(sides[pid] in ("buyer", "partner") for pid in scored)
    assert answer["as_of"].startswith(body["as_of"][:10])


def test_a_new_deal_without_activity_scores_empty_not_500(client) -> None:
    # A brand-new opportunity: known contacts, no meetings or e-mails yet. Nobody is active, so nobody is scored,
    # and the answer says so (a gap) instead of failing.
    body = {
        "deal": {"deal_id": "new-deal", "account_id": "acc-new", "created_at": "2025-01-06T09:00:00Z"},
        "people": [
            {"person_id": "b-1", "account_id": "acc-new", "title": "CFO", "side": "buyer"},
            {"person_id": "s-1", "side": "seller"},
        ],
    }
    response = client.post("/v1/deals/score", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["people"] == [] and answer["next_best_contacts"] == []
    assert any("no buyer-side activity" in gap for gap in answer["gaps"])
