"""``Client.stream`` / ``astream`` / ``imagegen.stream``: progress and partial images from any provider (from the
loop or a worker thread), then the same result ``generate`` gives, with retries, fallback and the ledger."""

from __future__ import annotations

import asyncio
import io
import threading

import pytest
from PIL import Image

import imagegen
from imagegen.provider import Capabilities, GeneratedImage, ImageData, PartialImage, ProviderRequest, ProviderResponse
from imagegen.testing import FakeProvider

CAPS = Capabilities(sizes=None, multiple_of=8, min_side=8, max_side=256, default_size=(16, 16),
                    max_images_per_call=4, partial_images=3)


def png(shade: int, size: int = 16) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (shade, shade, shade)).save(buf, format="PNG")
    return buf.getvalue()


class Previewing:
    """A provider that sends ``partial_images`` previews per image from a worker thread, like a local model."""

    name = "previewing"
    model = "p-1"

    def __init__(self) -> None:
        self.calls = 0

    def capabilities(self) -> Capabilities:
        return CAPS

    async def generate(self, req: ProviderRequest) -> ProviderResponse:
        self.calls += 1

        def work() -> list[GeneratedImage]:
            for i in range(req.n):
                for k in range(req.partial_images if req.partial else 0):
                    assert req.partial is not None and threading.current_thread() is not threading.main_thread()
                    req.partial(PartialImage(ImageData.from_bytes(png(k * 10)), index=req.index + i, partial_index=k,
                                             step=k + 1, total=4))
            return [GeneratedImage.from_bytes(png(255)) for _ in range(req.n)]  # type: ignore[misc]

        return ProviderResponse(images=await asyncio.to_thread(work))


def test_a_provider_s_previews_come_in_order_then_the_result():
    seen = list(imagegen.Client(Previewing()).stream("x", n=2, partial_images=3))
    previews = [e for e in seen if isinstance(e, PartialImage)]
    assert [(p.index, p.partial_index) for p in previews] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert {p.provider for p in previews} == {"previewing:p-1"}
    assert isinstance(seen[-1], imagegen.GenerationResult) and len(seen[-1].images) == 2


def test_partial_images_zero_asks_for_no_previews():
    seen = list(imagegen.Client(Previewing()).stream("x", partial_images=0))
    assert not [e for e in seen if isinstance(e, PartialImage)]


@pytest.mark.parametrize("value", [-1, 4, 1.5, True, "2"])
def test_a_bad_partial_images_value_is_invalid_naming_it(value):
    with pytest.raises(imagegen.InvalidRequest) as info:
        imagegen.Client(Previewing()).stream("x", partial_images=value)
    assert info.value.field == "partial_images"


def test_any_provider_streams_progress_and_the_result():
    seen = list(imagegen.Client(FakeProvider()).stream("x", size="64x64"))
    assert isinstance(seen[0], imagegen.ProgressEvent) and seen[0].stage == "attempt"
    assert seen[0].provider == "fake:fake-1" and isinstance(seen[-1], imagegen.GenerationResult)


def test_a_stream_falls_back_like_generate_and_the_result_says_so():
    down = FakeProvider("down", script=[imagegen.TransientError("503")] * 5)
    seen = list(imagegen.Client([down, FakeProvider("up")], retry=2).stream("x", size="64x64"))
    attempts = [(e.provider, e.step) for e in seen if isinstance(e, imagegen.ProgressEvent) and e.stage == "attempt"]
    assert attempts == [("fake:down", 1), ("fake:down", 2), ("fake:up", 1)]
    result = seen[-1]
    assert result.model == "up" and [w for w in result.warnings if w.kind == "fallback"]


def test_an_error_is_raised_after_the_events_that_came_before_it():
    down = FakeProvider("down", script=[imagegen.ContentPolicyError("refused")])
    got = []
    with pytest.raises(imagegen.ContentPolicyError):
        for event in imagegen.Client(down, retry=False).stream("x", size="64x64"):
            got.append(event)
    assert [e.stage for e in got] == ["attempt"]


def test_stopping_a_stream_early_cancels_the_request_and_records_it(tmp_path):
    slow = FakeProvider("slow", latency=30)
    ledger = imagegen.Ledger(tmp_path / "l.sqlite")
    stream = imagegen.Client(slow, retry=False, ledger=ledger).stream("x", size="64x64")
    first = next(stream)
    assert first.stage == "attempt"
    stream.close()  # returns promptly: the 30 s call is cancelled, not waited for
    for _ in range(100):
        if ledger.entries():
            break
        threading.Event().wait(0.05)
    assert [row.status for row in ledger.entries()] == ["cancelled"]


def test_astream_yields_the_same_events_from_async_code():
    async def collect():
        return [e async for e in imagegen.Client(Previewing()).astream("x", partial_images=1)]

    seen = asyncio.run(collect())
    assert [type(e).__name__ for e in seen] == ["ProgressEvent", "PartialImage", "GenerationResult"]


def test_the_final_result_is_what_generate_returns(tmp_path):
    streamed = list(imagegen.Client(FakeProvider()).stream("x", size="64x64", seed=5))[-1]
    made = imagegen.Client(FakeProvider()).generate("x", size="64x64", seed=5)
    assert streamed.images[0].data == made.images[0].data and streamed.seeds == made.seeds


def test_imagegen_stream_uses_the_default_client(monkeypatch):
    import imagegen.testing

    monkeypatch.setenv("IMAGEGEN_PROVIDER", "fake:via-env")
    with imagegen.testing.fresh_default_client():
        seen = list(imagegen.stream("x", size="64x64"))
    assert seen[-1].model == "via-env"
