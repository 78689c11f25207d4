"""The deal route's one-pass body (influence.api._body): whatever a client sends, it is accepted or refused exactly
as FastAPI's declared body would (same parsed request, same errors, same status), and the OpenAPI document still
names the body. The reference is a FastAPI app declaring `DealScoreRequest` as its body, the way FastAPI does it."""

from __future__ import annotations

import copy
import json
import random
import warnings
from typing import Any

import pytest
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from influence.api import ApiSettings, create_app, deal_request_from_dataset
from influence.api._body import json_body
from influence.api._schemas import DealScoreRequest


def _answer_errors(app: FastAPI) -> None:
    """Both probe apps answer the raw FastAPI errors (type, loc, msg, ctx), so they can be compared as they are."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {k: e.get(k) for k in ("type", "loc", "msg", "ctx")} for e in exc.errors()
        ]  # `input` is the whole body, and `ctx` may hold exceptions: compared by their text
        return JSONResponse({"errors": json.loads(json.dumps(errors, default=str))}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail, "cause": type(exc.__cause__).__name__}, status_code=exc.status_code
        )


def _declared() -> FastAPI:
    app = FastAPI()
    _answer_errors(app)

    @app.post("/score")
    async def score(body: DealScoreRequest) -> dict[str, Any]:
        return body.model_dump(mode="json")

    return app


def _one_pass(ready: bool = True) -> FastAPI:
    app = FastAPI()
    _answer_errors(app)

    async def check(request: Request) -> None:
        if not ready:
            raise HTTPException(status_code=503, detail="not ready")

    @app.post("/score")
    async def score(
        body: DealScoreRequest = Depends(json_body(DealScoreRequest, check)), _: None = Depends(check)
    ) -> dict[str, Any]:  # as the real route: the body, then the service (503 without a model)
        return body.model_dump(mode="json")

    return app


@pytest.fixture(scope="module")
def body() -> dict[str, Any]:
    from influence.generate import generate

    ds = generate(3, 7)
    deal_id = str(ds.deals["deal_id"].iloc[0])
    return deal_request_from_dataset(ds, deal_id)


@pytest.fixture(scope="module")
def clients() -> tuple[TestClient, TestClient]:
    return TestClient(_declared()), TestClient(_one_pass())


def _same(clients: tuple[TestClient, TestClient], content: bytes, content_type: str | None) -> int:
    headers = {} if content_type is None else {"Content-Type": content_type}
    declared, one_pass = (c.post("/score", content=content, headers=headers) for c in clients)
    assert (one_pass.status_code, one_pass.json()) == (declared.status_code, declared.json()), content[:200]
    return declared.status_code


def test_a_valid_body_parses_to_the_same_request(clients, body) -> None:
    raw = json.dumps(body).encode()
    assert _same(clients, raw, "application/json") == 200
    assert _same(clients, raw, "application/json; charset=utf-8") == 200
    assert _same(clients, raw, "application/vnd.influence+json") == 200
    # json.loads reads UTF-16 too (it sniffs the encoding); pydantic's parser does not: FastAPI's route decides
    assert _same(clients, json.dumps(body).encode("utf-16"), "application/json") == 200


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"deal": {', "application/json"),  # malformed JSON
        (b"", "application/json"),  # no body at all
        (b"rows=1", "text/plain"),  # not JSON by its Content-Type
        (b"{}", None),  # no Content-Type: FastAPI does not read it as JSON
        (b"\xff\xfe\x00{", "application/json"),  # not even text
        (b"[1, 2]", "application/json"),  # JSON, but not an object
        (b'{"deal": NaN}', "application/json"),  # Python's JSON reads NaN, pydantic's does not
        (b'{"deal": {}, "people": [], "deal": 1}', "application/json"),  # a repeated key
    ],
)
def test_bad_bodies_get_fastapis_errors(clients, content: bytes, content_type: str | None) -> None:
    assert _same(clients, content, content_type) != 200


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            out += _paths(v, (*at, i))
    return out


def test_mutated_bodies_are_accepted_or_refused_alike(clients, body) -> None:
    """Random single changes of a generated deal body (seeded): the same answer from both routes, every time."""
    rng = random.Random(11)
    replacements: list[Any] = [
        None, 1, -1, 1.5, "x", "", True, [], {}, "2024-01-01", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00+05:30",
        1e308, float("nan"), "buyer", 10**30,
    ]  # fmt: skip
    paths = [p for p in _paths(body) if p]
    statuses = set()
    for _ in range(60):
        mutated = copy.deepcopy(body)
        path = rng.choice(paths)
        parent = mutated
        for key in path[:-1]:
            parent = parent[key]
        kind = rng.random()
        if kind < 0.15 and isinstance(parent, dict):
            del parent[path[-1]]
        elif kind < 0.25 and isinstance(parent, dict):
            parent["unexpected_" + str(path[-1])] = 1
        else:
            parent[path[-1]] = rng.choice(replacements)
        statuses.add(_same(clients, json.dumps(mutated).encode(), "application/json"))
    assert statuses == {200, 422}  # both outcomes were exercised


def test_a_server_without_a_model_answers_503_for_any_well_formed_body(body) -> None:
    """As with a declared body: malformed JSON is refused first (422); any other body waits for the dependencies,
    so a server with no model says 503 whether the body is valid or not."""
    client = TestClient(_one_pass(ready=False))
    json_type = {"Content-Type": "application/json"}
    assert client.post("/score", content=b'{"deal": {', headers=json_type).status_code == 422
    assert client.post("/score", content=b'{"deal": 1}', headers=json_type).status_code == 503
    assert client.post("/score", content=b"", headers=json_type).status_code == 503
    assert client.post("/score", json=body).status_code == 503
    # the real app, with no model loaded (no lifespan): the same order
    app = TestClient(create_app(ApiSettings(model="/nowhere")))
    assert app.post("/v1/deals/score", content=b'{"deal": {', headers=json_type).status_code == 422
    assert app.post("/v1/deals/score", json={"deal": 1}).status_code == 503


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"]} if isinstance(value.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value))
    return set()


def test_openapi_documents_the_deal_body() -> None:
    document = create_app(ApiSettings(model="unused")).openapi()
    operation = document["paths"]["/v1/deals/score"]["post"]
    assert list(operation) == ["tags", "summary", "operationId", "requestBody", "responses"]
    assert operation["requestBody"] == {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DealScoreRequest"}}},
        "required": True,
    }
    schemas = document["components"]["schemas"]
    assert list(schemas) == sorted(schemas)
    assert {"DealScoreRequest", "DealRow", "PersonRow", "SignalRow"} <= set(schemas)
    assert set(schemas["DealScoreRequest"]["required"]) == {"deal", "people"}
    missing = {r for r in _refs(document) if r.removeprefix("#/components/schemas/") not in schemas}
    assert not missing
