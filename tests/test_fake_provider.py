from __future__ import annotations

import asyncio

import pytest

from imagegen import Capabilities, ProviderRequest, RateLimited, TransientError
from imagegen.imageio import sniff
from imagegen.testing import FakeProvider


def request(**fields):
    return ProviderRequest(**{"prompt": "p", "operation": "txt2img", "width": 64, "height": 32, "n": 2,
                              "seeds": (1, 2), **fields})


def run(provider, req):
    return asyncio.run(provider.generate(req))


def test_images_are_valid_pngs_of_the_requested_size():
    response = run(FakeProvider(), request())
    assert [sniff(im.data) for im in response.images] == [("image/png", 64, 32)] * 2
    assert [im.seed for im in response.images] == [1, 2]


def test_script_raises_in_order_then_succeeds():
    fake = FakeProvider(script=[RateLimited(retry_after=0.5), TransientError("503"), None])
    with pytest.raises(RateLimited):
        run(fake, request())
    with pytest.raises(TransientError):
        run(fake, request())
    assert len(run(fake, request()).images) == 2
    assert len(run(fake, request()).images) == 2
    assert len(fake.calls) == 4


def test_handler_decides_the_images(make_png):
    fake = FakeProvider(handler=lambda req: [make_png((8, 8))] * req.n)
    response = run(fake, request())
    assert [im.size for im in response.images] == [(8, 8), (8, 8)]
    assert [im.seed for im in response.images] == [1, 2]


def test_handler_can_raise():
    def refuse(req):
        raise TransientError("boom")

    with pytest.raises(TransientError, match="boom"):
        run(FakeProvider(handler=refuse), request())


def test_latency_sequence_is_applied_per_call():
    fake = FakeProvider(latency=[0.0, 0.01])
    run(fake, request())
    run(fake, request())
    run(fake, request())  # past the end: the last latency repeats
    assert len(fake.calls) == 3


def test_capabilities_and_price_are_configurable():
    caps = Capabilities(sizes=frozenset({(256, 256)}))
    fake = FakeProvider("m", capabilities=caps, price_per_image=0.02)
    assert fake.capabilities() is caps
    estimate = fake.estimate_cost(request())
    assert estimate is not None and estimate.usd == pytest.approx(0.04)
