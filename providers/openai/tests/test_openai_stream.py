"""Streaming from OpenAI: ``Client.stream`` sends ``stream=True`` with ``partial_images`` and yields the partial
images as they arrive, then the final result, priced from the completed event's usage and recorded once.
The stream's events are those of the openai SDK 3.57.0 types ``image_gen_partial_image_event.py`` and
``image_gen_completed_event.py`` (``image_edit_*`` for edits)."""

from __future__ import annotations

import pytest

import imagegen
from imagegen.testing import Reply


def events(kit, kind: str = "image_generation", partials: int = 2, size=(1024, 1024), *, usage=None):
    common = {"background": "opaque", "created_at": 1_764_633_600, "output_format": "png", "quality": "low",
              "size": f"{size[0]}x{size[1]}"}
    out = [(f"{kind}.partial_image", {**common, "type": f"{kind}.partial_image", "partial_image_index": i,
                                      "b64_json": kit.b64(kit.png(*size, shade=200 + i))}) for i in range(partials)]
    final = {**common, "type": f"{kind}.completed", "b64_json": kit.b64(kit.png(*size, shade=30)),
             "usage": usage or kit.usage(text_in=40, image_out=800)}
    return [*out, (f"{kind}.completed", final)]


def test_stream_yields_the_partial_images_then_the_final_result(make, api, kit):
    api.script("/images/generations", Reply.sse(events(kit)))
    seen = list(imagegen.Client(make("gpt-image-2"), retry=False).stream("a fox", size="1024x1024",
                                                                         partial_images=2))
    partials = [e for e in seen if isinstance(e, imagegen.PartialImage)]
    assert [p.partial_index for p in partials] == [0, 1] and partials[0].provider == "openai:gpt-image-2"
    assert partials[0].image.to_pil().getpixel((0, 0))[0] == 200
    result = seen[-1]
    assert isinstance(result, imagegen.GenerationResult) and result.images[0].to_pil().getpixel((0, 0))[0] == 30
    assert seen.index(partials[-1]) < len(seen) - 1
    body = api.requests[0].json
    assert (body["stream"], body["partial_images"], body["n"]) == (True, 2, 1)


def test_a_streamed_result_is_priced_from_the_completed_events_usage_and_recorded_once(make, api, kit, tmp_path):
    api.script("/images/generations", Reply.sse(events(kit)))
    ledger = imagegen.Ledger(tmp_path / "l.sqlite")
    result = list(imagegen.Client(make("gpt-image-2"), retry=False, ledger=ledger).stream("a fox"))[-1]
    assert result.cost.usd == pytest.approx((40 * 5.00 + 800 * 30.00) / 1e6) and result.cost.source == "usage"
    assert result.usage["tokens"]["image_output"] == 800
    rows = ledger.entries()
    assert len(rows) == 1 and rows[0].n == 1 and rows[0].cost_usd == pytest.approx(result.cost.usd)


def test_n_images_are_streamed_one_call_each_with_their_own_index(make, api, kit):
    api.script("/images/generations", Reply.sse(events(kit, partials=1)))
    seen = list(imagegen.Client(make("gpt-image-2"), retry=False).stream("a fox", n=2))
    assert sorted(p.index for p in seen if isinstance(p, imagegen.PartialImage)) == [0, 1]
    assert len(seen[-1].images) == 2 and [c.json["n"] for c in api.requests] == [1, 1]


def test_an_edit_streams_its_partial_images_too(make, api, kit):
    api.script("/images/edits", Reply.sse(events(kit, "image_edit", partials=1)))
    seen = list(imagegen.Client(make("gpt-image-2"), retry=False).stream("make it night", image=kit.png(64, 64)))
    assert [type(e).__name__ for e in seen if not isinstance(e, imagegen.ProgressEvent)] == ["PartialImage",
                                                                                             "GenerationResult"]
    assert api.requests[0].form["stream"] == "true" and api.requests[0].form["partial_images"] == "2"


def test_partial_images_zero_sends_a_plain_request(make, api, kit):
    seen = list(imagegen.Client(make("gpt-image-2"), retry=False).stream("a fox", partial_images=0))
    assert "stream" not in api.requests[0].json and isinstance(seen[-1], imagegen.GenerationResult)


def test_dall_e_streams_progress_and_the_result_without_partial_images(make, api):
    seen = list(imagegen.Client(make("dall-e-3"), retry=False).stream("a fox"))
    assert [e.stage for e in seen if isinstance(e, imagegen.ProgressEvent)] == ["attempt", "generate"]
    assert not [e for e in seen if isinstance(e, imagegen.PartialImage)]
    assert isinstance(seen[-1], imagegen.GenerationResult) and "stream" not in api.requests[0].json


def test_a_stream_that_ends_without_a_final_image_is_retried_like_any_transient_failure(make, api, kit):
    api.script("/images/generations", Reply.sse(events(kit)[:1]), Reply.sse(events(kit)))
    seen = list(imagegen.Client(make("gpt-image-2"), retry=imagegen.RetryPolicy(attempts=2, initial=0.0)).stream("x"))
    result = seen[-1]
    assert [a.status for a in result.attempts] == ["error", "ok"] and len(result.images) == 1
    assert [e.step for e in seen if isinstance(e, imagegen.ProgressEvent) and e.stage == "attempt"] == [1, 2]
