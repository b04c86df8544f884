"""Schemathesis over the server's own OpenAPI schema: no generated request (bounded in number, derandomized
so a run is repeatable) is answered with a 5xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from imagegen import Capabilities
from imagegen.server import create_app
from imagegen.testing import FakeProvider

SMALL = Capabilities(default_size=(64, 64), max_side=256, max_images_per_call=4, supports=frozenset(
    {"seed", "steps", "guidance", "negative_prompt", "scheduler", "strength"}),
    operations=frozenset({"txt2img", "img2img", "inpaint", "variation"}))

app = create_app(providers=[FakeProvider(capabilities=SMALL)], max_images=4, keep_images=16,
                 max_image_pixels=256 * 256, max_body_bytes=1024 * 1024)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_generated_request_is_answered_with_a_server_error(case):
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:500]}"
