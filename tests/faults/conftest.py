"""Fixtures for the fault-injection suites: instant retries, a ledger per test, a scripted server."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from imagegen import Ledger, RetryPolicy
from imagegen.testing import FakeClock, RecordedRequest, Reply, ScriptedServer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def retry(clock) -> RetryPolicy:
    """Three tries with waits on a fake clock: retries cost no real time."""
    return RetryPolicy(attempts=3, sleep=clock.sleep, clock=clock)


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    with Ledger(tmp_path / "ledger.sqlite") as opened:
        yield opened


# -- a scripted HTTP server on 127.0.0.1 -----------------------------------------------------------

def png_b64(size: tuple[int, int], color: tuple[int, int, int] = (10, 120, 200)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG", compress_level=1)
    return base64.b64encode(buf.getvalue()).decode()


def image_response(request: RecordedRequest) -> Reply:
    """What the OpenAI Images API answers: one b64 PNG per requested image, of the requested size."""
    body = request.json or {}
    w, h = (int(v) for v in str(body.get("size", "1024x1024")).split("x"))
    data = [{"b64_json": png_b64((w, h)), "revised_prompt": f"revised: {body.get('prompt', '')}"}
            for _ in range(int(body.get("n") or 1))]
    return Reply.json({"created": 1_700_000_000, "data": data})


@pytest.fixture
def server():
    """A scripted server (``imagegen.testing.ScriptedServer``) answering as the OpenAI Images API does;
    ``server.push(...)`` makes the next requests fail."""
    with ScriptedServer(default=image_response) as srv:
        yield srv
