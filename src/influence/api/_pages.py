"""The deal map pages and the JSON they call: `pages_router(settings)`, mounted by `create_app`.

Pages (plain HTML + the assets in `influence/static`, all served by the app: no CDN, works offline):

- `GET /deals`: the deals of the dataset the server was started with (`influence serve --data DIR`);
- `GET /deals/{deal_id}`: that deal's DMU map;
- `GET /map`: paste or upload a deal (the JSON body of `POST /v1/deals/score`) and see its map;
- `GET /static/{name}`: the CSS/JS of the pages.

JSON (what the pages call; documented in /docs):

- `GET /v1/dataset/deals`: the served dataset's deals (404 without `--data`);
- `GET /v1/dataset/deals/{deal_id}/map`: one deal's map (`influence.dmu_map.deal_map`);
- `POST /v1/deals/map`: the map of a deal body, scored exactly like `POST /v1/deals/score`.

The page shells hold no data: they fetch it from `/v1/...`, which the API-key middleware protects, and ask for
the key when the server wants one. The served dataset is loaded and validated at startup and scored in the
background (see `ServedDataset`); maps are kept in memory.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from influence.api._errors import ApiProblem, InvalidRequest, ModelNotReady
from influence.api._schemas import DealScoreRequest
from influence.api._settings import ApiSettings

if TYPE_CHECKING:
    from influence.api._service import ScoringService
    from influence.contract import Dataset
    from influence.predict import ScoreResult

__all__ = ["DealMap", "pages_router", "ServedDataset"]

logger = logging.getLogger("influence.api")

# The only files /static/ serves (no path from the URL ever reaches the file system).
ASSETS: dict[str, str] = {
    "dmu-map.css": "text/css; charset=utf-8",
    "dmu-map.js": "text/javascript; charset=utf-8",
}
PAGES = ("deal.html", "deals.html", "map.html")


def asset_text(name: str) -> str:
    """The text of one file of `influence/static` (package data)."""
    return resources.files("influence").joinpath("static", name).read_text(encoding="utf-8")


# -- response models (for /docs; the dict comes from influence.dmu_map) ------------------------------------------
class MapNode(BaseModel):
    id: str
    name: str
    title: str | None = None
    department: str | None = None
    side: str = Field(..., description="buyer, partner or seller (our team; never scored), or unknown.")
    account_id: str | None = None
    emails_sent: int
    emails_received: int
    meetings: int = Field(..., description="Meetings of this deal the person attended.")
    scored: bool
    influence: float | None = None
    influence_rank: int | None = None
    profile: str | None = None
    profile_confidence: float | None = None
    method: str | None = None
    engagement: str | None = None
    seller_meetings: int | None = None
    seller_emails: int | None = None
    reasons: list[str]
    top: bool = Field(..., description="The rank-1 person of the deal.")
    x: float = Field(..., ge=0.0, le=1.0, description="Layout position (seeded spring layout), 0..1.")
    y: float = Field(..., ge=0.0, le=1.0)


class MapEdge(BaseModel):
    source: str
    target: str
    emails: int = Field(..., description="Messages between the two, either direction.")
    meetings: int = Field(..., description="Meetings both attended.")
    weight: int = Field(..., description="emails + meetings: the line width.")


class DealMap(BaseModel):
    """One deal's DMU network merged with its scores (docs/map.md)."""

    model_config = {"protected_namespaces": ()}

    map_version: int
    deal: dict[str, Any]
    model_version: str | None
    as_of: str | None
    engagement_assessable: bool
    profiles: list[str]
    layout: dict[str, Any]
    top_person_id: str | None
    nodes: list[MapNode]
    edges: list[MapEdge]
    coverage: list[dict[str, Any]]
    gaps: list[str]
    next_best_contacts: list[dict[str, Any]]
    summary: dict[str, int]
    warnings: list[str] = Field(default_factory=list)


class DealListItem(BaseModel):
    deal_id: str
    account_id: str
    account_name: str | None = None
    outcome: str | None = None
    stage: str | None = None
    created_at: str | None = None


class DealList(BaseModel):
    dataset: str
    deals: list[DealListItem]


# -- the served dataset ------------------------------------------------------------------------------------------
class ServedDataset:
    """The dataset of `--data DIR` and its maps.

    Scoring the whole dataset takes a while on a large folder, so it runs once in the background from startup
    (`score_in_background`); a deal asked for before it is done is scored on its own
    (`score_dataset(deal_ids=[deal])`, which builds the same features from the whole dataset, so the numbers are
    the same either way). Maps are cached per deal. Thread-safe.
    """

    def __init__(self, path: Path, dataset: Dataset) -> None:
        self.path = path
        self.dataset = dataset
        self.deal_ids = frozenset(dataset.deals["deal_id"].astype(str))
        self._result: ScoreResult | None = None
        self._maps: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def deals(self) -> list[dict[str, Any]]:
        from influence.dmu_map import json_ready

        ds = self.dataset
        names = dict(zip(ds.accounts["account_id"].astype(str), ds.accounts["name"], strict=True))
        deals = ds.deals.sort_values(["account_id", "deal_id"], kind="stable")
        return [
            {
                "deal_id": str(d.deal_id),
                "account_id": str(d.account_id),
                "account_name": json_ready(names.get(str(d.account_id))),
                "outcome": json_ready(d.outcome),
                "stage": json_ready(d.stage),
                "created_at": json_ready(d.created_at),
            }
            for d in deals.itertuples(index=False)
        ]

    def score_all(self, service: ScoringService) -> None:
        """Score every deal once (what `score_in_background` runs)."""
        started = time.perf_counter()
        result = service.scorer.score_dataset(self.dataset)
        with self._lock:
            self._result = result
        logger.info(
            "scored %d deals of %s in %.1f s", len(result.deals), self.path, time.perf_counter() - started
        )

    def score_in_background(self, service: ScoringService) -> threading.Thread:
        def run() -> None:
            try:
                self.score_all(service)
            except Exception:  # the per-deal path still works; say why the batch did not
                logger.exception(
                    "scoring %s in the background failed; deals are scored on request", self.path
                )

        thread = threading.Thread(target=run, name="influence-map-scoring", daemon=True)
        thread.start()
        return thread

    def deal_map(self, deal_id: str, service: ScoringService) -> dict[str, Any]:
        """The map of one deal (KeyError when the dataset has no such deal)."""
        from influence.dmu_map import deal_maps

        if deal_id not in self.deal_ids:
            raise KeyError(deal_id)
        with self._lock:
            cached = self._maps.get(deal_id)
            result = self._result
        if cached is not None and cached["model_version"] == service.model_version:
            return cached
        if result is None or result.model_version != service.model_version:
            result = service.scorer.score_dataset(self.dataset, deal_ids=[deal_id])
        deal_map = deal_maps(self.dataset, result, deal_ids=[deal_id])[0]
        with self._lock:
            self._maps[deal_id] = deal_map
        return deal_map


def load_served_dataset(path: str | Path) -> ServedDataset:
    """Load and validate `path` (raises `influence.data.DatasetError` naming every problem)."""
    from influence.data import load

    folder = Path(path)
    return ServedDataset(folder, load(folder))


# -- routes ------------------------------------------------------------------------------------------------------
def _service(request: Request) -> ScoringService:
    service = request.app.state.service
    if service is None:
        raise ModelNotReady()
    return service


def _served(request: Request) -> ServedDataset:
    served = getattr(request.app.state, "served_dataset", None)
    if served is None:
        raise HTTPException(
            404,
            "no dataset is served: start the server with `influence serve --data DIR` (or INFLUENCE_DATA)",
        )
    return served


async def _offload(request: Request, fn: Any) -> Any:
    """CPU work in the app's worker thread, so the event loop keeps answering health checks."""
    import anyio

    return await anyio.to_thread.run_sync(fn, limiter=getattr(request.app.state, "limiter", None))


def _html(name: str) -> HTMLResponse:
    # no-cache: the shell is tiny, and a stale one after an upgrade would call routes that moved.
    return HTMLResponse(asset_text(name), headers={"Cache-Control": "no-cache"})


def pages_router(settings: ApiSettings) -> APIRouter:
    """The pages, their assets and JSON. With `settings.data`, that dataset is loaded at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.served_dataset = None
        if settings.data:
            import anyio

            from influence.data import DatasetError

            try:
                served = await anyio.to_thread.run_sync(load_served_dataset, settings.data)
            except (DatasetError, OSError) as exc:
                # Raised again so the server does not start half-configured; the log line says why.
                logger.error("cannot serve --data %s: %s", settings.data, exc)
                raise
            app.state.served_dataset = served
            logger.info("serving the deal maps of %s", settings.data)
            if (
                getattr(app.state, "service", None) is not None
            ):  # loaded by the app's own lifespan, which runs first
                served.score_in_background(app.state.service)
        yield

    router = APIRouter(lifespan=lifespan)

    @router.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/deals" if settings.data else "/map")

    @router.get("/deals", include_in_schema=False, response_class=HTMLResponse)
    async def deals_page() -> HTMLResponse:
        return _html("deals.html")

    @router.get("/deals/{deal_id}", include_in_schema=False, response_class=HTMLResponse)
    async def deal_page(deal_id: str) -> HTMLResponse:
        return _html("deal.html")

    @router.get("/map", include_in_schema=False, response_class=HTMLResponse)
    async def map_page() -> HTMLResponse:
        return _html("map.html")

    @router.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in ASSETS:
            raise HTTPException(404, f"no such asset: {name}")
        return Response(asset_text(name), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    @router.get(
        "/v1/dataset/deals",
        tags=["map"],
        summary="The deals of the dataset the server was started with (--data DIR)",
        response_model=DealList,
        responses={404: {"description": "The server was started without --data."}},
    )
    async def dataset_deals(served: ServedDataset = Depends(_served)) -> dict[str, Any]:
        return {"dataset": str(served.path), "deals": served.deals()}

    @router.get(
        "/v1/dataset/deals/{deal_id}/map",
        tags=["map"],
        summary="One deal of the served dataset as a DMU map: people, ties, scores, coverage, next-best contacts",
        response_model=DealMap,
        responses={404: {"description": "Unknown deal, or no dataset served."}},
    )
    async def dataset_deal_map(
        deal_id: str,
        request: Request,
        served: ServedDataset = Depends(_served),
        service: ScoringService = Depends(_service),
    ) -> dict[str, Any]:
        try:
            return await _offload(request, lambda: served.deal_map(deal_id, service))
        except KeyError:
            raise HTTPException(404, f"deal {deal_id!r} is not in the served dataset {served.path}") from None

    @router.post(
        "/v1/deals/map",
        tags=["map"],
        summary="Score a deal (the body of POST /v1/deals/score) and return it as a DMU map",
        response_model=DealMap,
        responses={422: {"description": "Invalid body; `detail` lists every problem by JSON path."}},
    )
    async def body_deal_map(
        body: DealScoreRequest, request: Request, service: ScoringService = Depends(_service)
    ) -> dict[str, Any]:
        return await _offload(request, lambda: map_of_body(body, service))

    return router


def map_of_body(body: DealScoreRequest, service: ScoringService) -> dict[str, Any]:
    """Validate the body like `POST /v1/deals/score` does, score it with the same Scorer, and build its map."""
    import pandas as pd

    from influence.api._service import _SOURCES, _report_problems, deal_tables
    from influence.data import validate_frames
    from influence.dmu_map import deal_maps

    service.check_deal_size(body)
    tables, synthesized = deal_tables(body)
    dataset, report = validate_frames(tables, sources=_SOURCES)
    if not report.ok:
        raise InvalidRequest(_report_problems(report, synthesized))
    as_of = None if body.as_of is None else pd.Timestamp(body.as_of).tz_convert("UTC")
    deal_id = body.deal.deal_id
    # A deal opened after as_of did not exist yet (as in build_features): say so rather than score nothing.
    created = dataset.deals["created_at"].iloc[0]
    if as_of is not None and not created < as_of:
        raise InvalidRequest(
            [
                ApiProblem(
                    ("body", "as_of"),
                    f"deal {deal_id!r} was created at {created.isoformat()}, not before as_of "
                    f"{as_of.isoformat()}: it did not exist yet, so there is nothing to map",
                    "as_of",
                )
            ]
        )
    result = service.scorer.score_dataset(dataset, as_of=as_of)
    deal_map = deal_maps(dataset, result, deal_ids=[deal_id])[0]
    deal_map["warnings"] = [
        p.format() for p in report.warnings if not (synthesized and p.table == "accounts")
    ]
    return deal_map
