"""One small pure-ASGI middleware in front of the app: request ids, version headers, API keys, body size.

Pure ASGI rather than Starlette's BaseHTTPMiddleware: it adds no task or stream per request, which matters at
the fast path's sub-millisecond budget.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["GatewayMiddleware", "PUBLIC_PATHS"]

logger = logging.getLogger("influence.api")

# Answer without an API key even when auth is on: orchestrators probe these and they reveal nothing.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})
# The map pages' HTML shells and their static assets carry no data (the JSON they fetch does, and needs the key);
# a browser cannot add a header to a navigation, so without this the pages could never ask for the key.
PAGE_SHELLS = frozenset({"/", "/deals", "/map"})
PAGE_PREFIXES = ("/deals/", "/static/")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class GatewayMiddleware:
    """Per HTTP request, in this order:

    1. take the client's `X-Request-ID` when it is well formed, else make one; it is echoed in every response and
       stored in `scope["state"]["request_id"]` for the error handlers and logs;
    2. add `X-Model-Version` to every response once a model is loaded;
    3. when `api_keys()` is non-empty, refuse (401) any path but /healthz, /readyz and the map pages' data-free
       HTML shells and static assets without a valid `X-API-Key`;
    4. refuse (413) a body larger than `max_body_bytes()`: by its Content-Length up front, and by counting the
       streamed bytes (chunked uploads, or a Content-Length that lies). The body is buffered and replayed to the app.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        model_version: Callable[[], str | None],
        api_keys: Callable[[], list[str]],
        max_body_bytes: Callable[[], int],
    ) -> None:
        self.app = app
        self.model_version = model_version
        self.api_keys = api_keys
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else os.urandom(12).hex()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-request-id", request_id.encode("latin-1"))]
                version = self.model_version()
                if version:
                    extra.append((b"x-model-version", version.encode("latin-1", "replace")))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        keys = self.api_keys()
        if keys and not _public(scope["path"]):
            offered = headers.get("x-api-key", "")
            # Compare against every key in constant time, so timing reveals neither a key nor which one matched.
            matched = False
            for key in keys:
                matched |= hmac.compare_digest(offered.encode("utf-8", "replace"), key.encode("utf-8"))
            if not matched:
                reason = "invalid API key" if offered else "missing API key: send it in the X-API-Key header"
                await _error(send_with_headers, 401, reason, request_id, self.model_version(), auth=True)
                return

        if scope.get("method") in _NO_BODY and "content-length" not in headers:
            await self.app(scope, receive, send_with_headers)
            return
        limit = self.max_body_bytes()
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send_with_headers, limit, request_id, self.model_version())
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(send_with_headers, limit, request_id, self.model_version())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send_with_headers)


def _public(path: str) -> bool:
    """Health probes and the pages' data-free shells answer without a key."""
    return path in PUBLIC_PATHS or path in PAGE_SHELLS or path.startswith(PAGE_PREFIXES)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


async def _too_large(send: Send, limit: int, request_id: str, version: str | None) -> None:
    await _error(send, 413, f"request body is larger than the limit of {limit} bytes", request_id, version)


async def _error(
    send: Send, status: int, detail: str, request_id: str, version: str | None, *, auth: bool = False
) -> None:
    payload: dict[str, Any] = {"detail": detail, "request_id": request_id, "model_version": version}
    body = json.dumps(payload).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if auth:
        headers.append((b"www-authenticate", b'APIKey header="X-API-Key"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
