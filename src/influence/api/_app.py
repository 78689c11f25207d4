"""The FastAPI app factory: `create_app(settings=None)`.

The model is loaded once, in the lifespan, into `app.state.service`; routes are thin (parse, call the service,
return). Errors always answer JSON with the request id and the model version; a client's mistake is never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from influence import __version__
from influence.api import _schemas as s
from influence.api._body import document_json_body, json_body
from influence.api._errors import InvalidRequest, ModelNotReady, problem_item
from influence.api._middleware import GatewayMiddleware
from influence.api._service import ScoringService, load_service
from influence.api._settings import ApiSettings

__all__ = ["create_app"]

logger = logging.getLogger("influence.api")
T = TypeVar("T")

# Allocations (net of frees) between two collections of the young generation while serving; see the lifespan.
_GC_YOUNG_THRESHOLD = 10_000

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": s.ErrorResponse, "description": "Missing or invalid X-API-Key (only when auth is on)."},
    413: {"model": s.ErrorResponse, "description": "Request body larger than INFLUENCE_MAX_BODY_BYTES."},
    422: {
        "model": s.ErrorResponse,
        "description": "Invalid body; `detail` lists every problem by JSON path.",
    },
    503: {"model": s.ErrorResponse, "description": "No model loaded."},
}


def create_app(settings: ApiSettings | None = None, *, bundle: Any = None) -> FastAPI:
    """Build the scoring API. Nothing is loaded until the app starts (lifespan).

    `settings` default to the environment (`INFLUENCE_*`); `bundle` skips loading from `settings.model` (tests,
    or a CLI that has already loaded and verified it).
    """
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import gc

        import anyio
        from threadpoolctl import threadpool_limits

        # Small inputs run fastest on one BLAS/OpenMP thread (scikit-learn #30662); restored on shutdown.
        limits = threadpool_limits(limits=settings.cpu_threads)
        if app.state.service is None:
            app.state.service = load_service(settings, bundle)
            logger.info("model %s loaded from %s", app.state.service.model_version, settings.model)
        # One worker thread per process for large requests: more would only fight over the GIL and the cores.
        app.state.limiter = anyio.CapacityLimiter(1)
        # What is loaded now (the model, pandas, scikit-learn: ~250k objects) lives as long as the process: out of
        # the cyclic collector's reach, a full collection no longer walks it. One took 110-130 ms, about every
        # 200th deal request, stalling the request it fell in (the deal route's p99); frozen, under 1 ms. Frozen
        # objects are still freed by reference counting.
        gc.collect()
        gc.freeze()
        # A deal request holds a few thousand young containers at its peak (pydantic rows, dicts, pandas objects)
        # and frees nearly all of them by reference counting: at the default threshold (700) the young generation
        # was scanned ~3 times per request (0.27 ms of CPU), at 10,000 not once in 200 requests. Cyclic garbage
        # still gets collected, just after more allocations.
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], _GC_YOUNG_THRESHOLD), *thresholds[1:])
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
            limits.restore_original_limits()

    # Swagger UI's assets are served by the app itself (fastapi-offline), so /docs works with no internet.
    app = FastAPIOffline(
        title="influence scoring API",
        version=__version__,
        description=(
            "Hidden influence and DMU profiles for every person around a B2B deal, from deal-history metadata. "
            "Every response names the model in the `X-Model-Version` header (and `model_version` in JSON)."
            + (
                " All routes except /healthz and /readyz need an `X-API-Key` header."
                if settings.auth_enabled
                else ""
            )
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.service = None
    app.state.limiter = None

    def current_version() -> str | None:
        service = app.state.service
        return service.model_version if service is not None else None

    app.add_middleware(
        GatewayMiddleware,
        model_version=current_version,
        api_keys=lambda: settings.api_keys,
        max_body_bytes=lambda: settings.max_body_bytes,
    )
    _add_error_handlers(app, current_version)
    _add_routes(app, settings)
    document_json_body(app, "/v1/deals/score", s.DealScoreRequest)
    from influence.api._pages import pages_router  # the deal map pages (docs/map.md), engineer I

    app.include_router(pages_router(settings))
    return app


# -- routes --------------------------------------------------------------------------------------------------------
async def _service(request: Request) -> ScoringService:
    # async on purpose: FastAPI runs a sync dependency in its thread pool, a thread hop on every request.
    service = request.app.state.service
    if service is None:
        raise ModelNotReady()
    return service


_deal_request = json_body(s.DealScoreRequest, _service)


async def _run(request: Request, fn: Callable[[], T], *, offload: bool) -> T:
    """Run CPU work in the app's one worker thread when it is large, inline when small (a thread hop costs more
    than a one-row fast-path score, and more threads would only fight over the GIL)."""
    limiter = request.app.state.limiter
    if not offload or limiter is None:
        return fn()
    import anyio

    return await anyio.to_thread.run_sync(fn, limiter=limiter)


def _add_routes(app: FastAPI, settings: ApiSettings) -> None:
    # Declared so that /docs offers an "Authorize" button; the middleware enforces it.
    secured = [Depends(APIKeyHeader(name="X-API-Key", auto_error=False))] if settings.auth_enabled else []

    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    async def healthz(request: Request) -> dict[str, str | None]:
        service = request.app.state.service
        return {"status": "ok", "model_version": service.model_version if service is not None else None}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: a model is loaded",
        responses={503: _ERRORS[503]},
    )
    async def readyz(request: Request) -> JSONResponse:
        service = request.app.state.service
        if service is None:
            return JSONResponse({"status": "loading", "model_version": None}, status_code=503)
        return JSONResponse({"status": "ready", "model_version": service.model_version})

    @app.get(
        "/v1/model",
        tags=["model"],
        summary="The loaded model: name, version, training date, metrics, features",
        response_model=s.ModelInfo,
        responses={k: _ERRORS[k] for k in (401, 503)},
        dependencies=secured,
    )
    async def model_info(service: ScoringService = Depends(_service)) -> dict[str, Any]:
        return service.model_info()

    @app.post(
        "/v1/deals/score",
        tags=["scoring"],
        summary="Score everyone around one deal, explain why, and show the DMU coverage",
        response_model=s.DealScoreResponse,
        responses=_ERRORS,
        dependencies=secured,
    )
    async def score_deal(
        request: Request,
        # The body is read by `json_body` (validated in one pass from its bytes; _body.py says why), listed
        # before the service as a declared body would be checked first; the OpenAPI document still names it.
        body: s.DealScoreRequest = Depends(_deal_request),
        service: ScoringService = Depends(_service),
    ) -> dict[str, Any]:
        # Always in the worker thread: validation and features are tens of milliseconds of pandas, which would
        # otherwise stall every other request (health checks included) on the event loop.
        return await _run(request, lambda: service.score_deal(body), offload=True)

    @app.post(
        "/v1/people/score",
        tags=["scoring"],
        summary="Score people from precomputed feature rows (fast path)",
        response_model=s.PeopleScoreResponse,
        responses=_ERRORS,
        dependencies=secured,
    )
    async def score_people(
        body: s.PeopleScoreRequest, request: Request, service: ScoringService = Depends(_service)
    ) -> dict[str, Any]:
        large = len(body.rows) > request.app.state.settings.offload_min_rows
        return await _run(request, lambda: service.score_people(body), offload=large)


# -- errors --------------------------------------------------------------------------------------------------------
def _add_error_handlers(app: FastAPI, version: Callable[[], str | None]) -> None:
    def answer(
        request: Request, status: int, detail: Any, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        request_id = request.scope.get("state", {}).get("request_id")
        payload = {"detail": detail, "request_id": request_id, "model_version": version()}
        return JSONResponse(payload, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        return answer(request, 422, [_pydantic_item(e, request) for e in exc.errors()])

    @app.exception_handler(InvalidRequest)
    async def invalid_contract(request: Request, exc: InvalidRequest) -> JSONResponse:
        return answer(request, 422, exc.detail())

    @app.exception_handler(ModelNotReady)
    async def not_ready(request: Request, exc: ModelNotReady) -> JSONResponse:
        return answer(request, 503, "no model is loaded yet; retry when /readyz answers 200")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError | ValueError):
            # FastAPI answers 400 for a body that is not even text (bad UTF-8): still the body's fault, so 422.
            reason = f"malformed JSON: the body is not valid JSON text ({exc.__cause__})"
            return answer(request, 422, [problem_item(("body",), reason, "json_invalid")])
        return answer(request, exc.status_code, exc.detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def server_fault(request: Request, exc: Exception) -> JSONResponse:
        request_id = request.scope.get("state", {}).get("request_id")
        logger.exception("request %s %s failed (request id %s)", request.method, request.url.path, request_id)
        headers = {"X-Request-ID": str(request_id)}
        if version():
            headers["X-Model-Version"] = str(version())
        return answer(
            request, 500, f"internal error; quote request id {request_id} when reporting it", headers
        )


def _pydantic_item(error: dict[str, Any], request: Request) -> dict[str, Any]:
    loc = tuple(error.get("loc", ()))
    kind = str(error.get("type", "value_error"))
    msg = str(error.get("msg", "invalid value"))
    if kind == "json_invalid":
        position = loc[1] if len(loc) > 1 else "?"
        reason = (error.get("ctx") or {}).get("error", "invalid JSON")
        return problem_item(("body",), f"malformed JSON at character {position}: {reason}", kind)
    if loc == ("body",) and kind in ("model_attributes_type", "dict_type"):
        content_type = request.headers.get("content-type", "")
        if "json" not in content_type:
            msg = (
                f"send the body as JSON with Content-Type: application/json (got {content_type or 'none'!r})"
            )
    return problem_item(loc, msg, kind)
