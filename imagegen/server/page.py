"""The page at ``/``, and the server's own routes: ``/health``, ``/metrics`` and the JSON the page reads.

The page uses the same HTTP API as any client: it lists ``/v1/models``, generates with
``POST /v1/images/generations`` (``response_format="url"``, plus imagegen's ``seed`` and ``steps``) and
shows ``/imagegen/gallery`` (recent images with their settings and cost) and ``/imagegen/spend`` (spend
per provider, from the ledger). With keys, it asks for one and sends it as a bearer token.
"""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from .._version import __version__
from .service import Service

__all__ = ["router"]

router = APIRouter()


def service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index() -> HTMLResponse:
    html = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    svc = service(request)
    return {"status": "ok", "version": __version__, "models": list(svc.chains), "queue": len(svc.jobs),
            "in_flight": svc.in_flight, "auth": svc.auth}


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format: queue depth, calls in flight, requests, images, refusals, spend."""
    svc = service(request)
    waiting = max(0, len(svc.jobs) - sum(1 for j in svc.jobs.values() if j.started is not None))
    lines = [
        "# HELP imagegen_queue_depth Requests admitted and not yet generating.",
        "# TYPE imagegen_queue_depth gauge", f"imagegen_queue_depth {waiting}",
        "# HELP imagegen_requests_in_hand Requests admitted (generating or waiting); --max-queue bounds it.",
        "# TYPE imagegen_requests_in_hand gauge", f"imagegen_requests_in_hand {len(svc.jobs)}",
        "# HELP imagegen_in_flight Provider calls running now.",
        "# TYPE imagegen_in_flight gauge", f"imagegen_in_flight {svc.in_flight}",
        "# HELP imagegen_requests_total Generation requests answered with images.",
        "# TYPE imagegen_requests_total counter", f"imagegen_requests_total {int(svc.counters['requests'])}",
        "# HELP imagegen_images_total Images made.",
        "# TYPE imagegen_images_total counter", f"imagegen_images_total {int(svc.counters['images'])}",
        "# HELP imagegen_errors_total Generation requests that failed.",
        "# TYPE imagegen_errors_total counter", f"imagegen_errors_total {int(svc.counters['errors'])}",
        "# HELP imagegen_refused_total Requests refused before generation (no key, full queue, rpm).",
        "# TYPE imagegen_refused_total counter", f"imagegen_refused_total {int(svc.counters['refused'])}",
        "# HELP imagegen_spend_usd Dollars spent, by provider (from the ledger when there is one).",
        "# TYPE imagegen_spend_usd counter",
    ]
    for label, usd in sorted(svc.spend_by_provider().items()):
        lines.append(f'imagegen_spend_usd{{provider="{_escape(label)}"}} {usd:.6f}')
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@router.get("/imagegen/gallery")
async def gallery(request: Request, limit: int = 24) -> dict[str, Any]:
    """The most recent images this server made, newest first, with their settings and cost."""
    svc = service(request)
    items = svc.images.recent(max(0, min(limit, 200)))
    return {"images": [{"url": str(request.url_for("image_file", image_id=f"{i.id}.{i.mime.split('/')[1]}")),
                        **i.meta} for i in items]}


@router.get("/imagegen/spend")
async def spend(request: Request) -> dict[str, Any]:
    """Dollars per provider (from the ledger when there is one) and the budget left."""
    svc = service(request)
    budget = svc.client.budget
    return {"by_provider": svc.spend_by_provider(), "ledger": svc.ledger is not None,
            "budget_usd": budget.limit_usd if budget else None, "remaining_usd": budget.remaining if budget else None,
            "time": int(time.time())}
