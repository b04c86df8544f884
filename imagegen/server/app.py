"""``create_app(config)``: the one place the server app is built, for uvicorn, tests, another ASGI app
to mount, or a Ray Serve deployment (``serve.ingress(create_app(config))`` in each replica).

Routes: the OpenAI Images API under ``/v1``, AUTOMATIC1111's under ``/sdapi/v1``, ``/health``,
``/metrics`` (Prometheus text), the page at ``/`` and the JSON it reads under ``/imagegen``. Errors are
answered in the shape of the API the path belongs to; keys are checked on every route but ``/health``
and the page's own files.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..errors import ImageGenError, InvalidRequest, RateLimited
from . import a1111_api, openai_api, page
from .config import ServerConfig
from .errors import PayloadTooLarge, a1111_body, http_error, openai_body
from .service import QueueFull, Refused, Service

__all__ = ["create_app"]

logger = logging.getLogger("imagegen.server")

#: Routes that generate: a refused request on one of these is a ledger row.
GENERATING = {"/v1/images/generations": "generations", "/v1/images/edits": "edits",
              "/v1/images/variations": "variations", "/sdapi/v1/txt2img": "txt2img",
              "/sdapi/v1/img2img": "img2img"}
_OPEN = ("/health", "/", "/favicon.ico", "/v1/images/files/")


def create_app(config: ServerConfig | None = None, **settings: Any) -> FastAPI:
    """The server app for ``config`` (or a ``ServerConfig`` made from ``settings``). Providers are
    built now, so a spec that cannot be served fails here; the ledger and providers close on shutdown."""
    if config is None:
        config = ServerConfig(**settings)
    elif settings:
        config = config.model_copy(update=settings)
    svc = Service(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await svc.aclose()

    app = FastAPI(title="imagegen", version=__version__, lifespan=lifespan,
                  description="The OpenAI Images API and the AUTOMATIC1111 API over imagegen's provider chains.",
                  dependencies=[Depends(_authenticate)])
    app.state.service = svc
    app.include_router(openai_api.router)
    app.include_router(a1111_api.router)
    app.include_router(page.router)
    app.add_exception_handler(ImageGenError, _on_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_crash)
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    return app


async def _authenticate(request: Request) -> None:
    """Every route but the open ones needs a key when the server has keys; generating routes also
    count against the key's rpm."""
    svc: Service = request.app.state.service
    path = request.url.path
    request.state.key = None
    if path in _OPEN or path.startswith(_OPEN[-1]) or (path.startswith("/static/")):
        return
    request.state.key = svc.authenticate(request.headers.get("authorization"))
    if path in GENERATING:
        svc.pace(request.state.key)


def _is_a1111(request: Request) -> bool:
    return request.url.path.startswith("/sdapi/")


def _answer(request: Request, exc: BaseException) -> Response:
    error = http_error(exc)
    if isinstance(exc, InvalidRequest) and exc.status in (413, 422):
        error.status = exc.status
    path = request.url.path
    if path in GENERATING and isinstance(exc, (Refused, QueueFull, RateLimited)) and error.status in (401, 429):
        key = getattr(request.state, "key", None)
        svc: Service = request.app.state.service
        svc.record_refusal(GENERATING[path], exc, key.name if key is not None else None, error.status)  # type: ignore[arg-type]
    if _is_a1111(request):
        body = a1111_body(error)
        headers = dict(error.headers)
        if error.status == 401:
            headers["WWW-Authenticate"] = "Basic"
    else:
        body = openai_body(error)
        headers = dict(error.headers)
    if error.status >= 500:
        logger.warning("imagegen server: %s %s -> %d %s", request.method, path, error.status, error.message)
    return JSONResponse(body, status_code=error.status, headers=headers)


async def _on_error(request: Request, exc: ImageGenError) -> Response:
    return _answer(request, exc)


async def _on_validation(request: Request, exc: RequestValidationError) -> Response:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(loc) or "body"
    message = f"{field}: {first.get('msg')}"
    if _is_a1111(request):
        return JSONResponse({"error": "RequestValidationError", "detail": json.loads(json.dumps(errors, default=str)),
                             "body": "", "errors": message}, status_code=422)
    return _answer(request, InvalidRequest(message, field=field))


async def _on_http(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 404:
        error: ImageGenError = InvalidRequest(f"no route {request.method} {request.url.path} on this server",
                                              field="path", code="unknown_url")
    elif exc.status_code == 405:
        error = InvalidRequest(f"method {request.method} is not allowed on {request.url.path}", field="method",
                               code="method_not_allowed")
    else:
        error = InvalidRequest(str(exc.detail), field=None)
    response = _answer(request, error)
    response.status_code = exc.status_code
    return response


async def _on_crash(request: Request, exc: Exception) -> Response:
    logger.exception("imagegen server: %s %s crashed", request.method, request.url.path)
    return _answer(request, exc)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyLimit:
    """Answers 413 (in the path's API's error shape) to a body over ``limit`` bytes, by its
    Content-Length or, when it streams without one, as soon as it passes the limit."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracking)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        error = http_error(PayloadTooLarge(f"body: larger than this server's limit of {self.limit} bytes "
                                           "(--max-body-bytes)", field="body"))
        body = a1111_body(error) if scope["path"].startswith("/sdapi/") else openai_body(error)
        del request
        await JSONResponse(body, status_code=413)(scope, receive, send)


class _TooLarge(Exception):
    pass
