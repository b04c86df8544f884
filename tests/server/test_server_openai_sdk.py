"""The official ``openai`` Python SDK against ``imagegen serve`` on 127.0.0.1: what it sends, what it
parses, and every error status arriving as the SDK's own exception class."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io

import httpx
import openai
import pytest
from PIL import Image

from imagegen import Capabilities, ContentPolicyError, TransientError
from imagegen.errors import AuthenticationError as UpstreamAuth
from imagegen.testing import FakeProvider, fake_color

SMALL = Capabilities(default_size=(64, 64), max_images_per_call=4, operations=frozenset(
    {"txt2img", "img2img", "inpaint", "variation"}), supports=frozenset({"seed", "steps", "negative_prompt"}))


def sdk(base: str, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key=kw.pop("api_key", "unused"), max_retries=0, **kw)


def pixels(b64: str) -> tuple[tuple[int, int], tuple[int, int, int]]:
    im = Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")
    return im.size, im.getpixel((0, 0))


def test_generate_returns_b64_json_by_default_with_the_seeded_image(live):
    server = live(providers=[FakeProvider(capabilities=SMALL)])
    out = sdk(server.url).images.generate(model="fake:fake-1", prompt="a red fox", n=2, size="64x64",
                                          extra_body={"seed": 5})
    assert [d.url for d in out.data] == [None, None]
    assert [pixels(d.b64_json) for d in out.data] == [((64, 64), fake_color("a red fox", 5)),
                                                      ((64, 64), fake_color("a red fox", 6))]
    assert out.created > 0 and out.size == "64x64"


def test_url_answers_are_fetchable_from_the_server(live):
    server = live(providers=[FakeProvider(capabilities=SMALL)])
    out = sdk(server.url).images.generate(prompt="a lighthouse", response_format="url", size="64x64")
    url = out.data[0].url
    assert url.startswith(server.url + "/v1/images/files/")
    got = httpx.get(url)
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(got.content)).size == (64, 64)


def test_async_client_generates(live):
    server = live(providers=[FakeProvider(capabilities=SMALL)])

    async def go():
        client = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
        results = await asyncio.gather(*(client.images.generate(prompt=f"p{i}", size="64x64") for i in range(3)))
        await client.close()
        return results

    assert [len(r.data) for r in asyncio.run(go())] == [1, 1, 1]


def test_streaming_ends_with_a_completed_event_per_image(live):
    server = live(providers=[FakeProvider(capabilities=SMALL)])
    events = list(sdk(server.url).images.generate(prompt="a fox", size="64x64", n=2, stream=True, partial_images=2,
                                                  extra_body={"seed": 1}))
    assert [e.type for e in events] == ["image_generation.completed"] * 2
    assert [pixels(e.b64_json)[1] for e in events] == [fake_color("a fox", 1), fake_color("a fox", 2)]
    assert events[0].output_format == "png" and events[0].size == "64x64"


def test_a_failure_mid_stream_raises_the_sdks_api_error(live):
    server = live(providers=[FakeProvider(capabilities=SMALL, script=[ContentPolicyError("refused")])])
    with pytest.raises(openai.APIError, match="refused"):
        list(sdk(server.url).images.generate(prompt="x", size="64x64", stream=True))


def test_edit_with_one_image_and_a_mask_is_an_inpaint(live, png):
    fake = FakeProvider(capabilities=SMALL)
    server = live(providers=[fake])
    mask = png(mode="RGBA", color=(0, 0, 0), alpha=0)  # OpenAI's masks: transparent where the image is edited
    out = sdk(server.url).images.edit(image=("in.png", png(), "image/png"), mask=("m.png", mask, "image/png"),
                                      prompt="a hat", size="64x64")
    assert len(out.data) == 1
    assert fake.calls[0].operation == "inpaint" and fake.calls[0].image.size == (64, 64)
    assert fake.calls[0].mask.to_pil().getpixel((0, 0)) == 255  # imagegen's: white where it is repainted


def test_edit_with_several_images_uses_the_first_and_says_so(live, png):
    fake = FakeProvider(capabilities=SMALL)
    server = live(providers=[fake])
    images = [("a.png", png(color=(10, 10, 10)), "image/png"), ("b.png", png(color=(20, 20, 20)), "image/png")]
    raw = sdk(server.url).images.with_raw_response.edit(image=images, prompt="both", size="64x64")
    body = raw.http_request.read()
    assert b'name="image[]"' in body  # how the SDK sends a list
    out = raw.parse()
    assert fake.calls[0].operation == "img2img"
    assert fake.calls[0].image.to_pil().convert("RGB").getpixel((0, 0)) == (10, 10, 10)
    assert any("first of 2" in w for w in out.model_extra["imagegen"]["warnings"])


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_variation_sends_the_image_as_a_variation(live, png):
    fake = FakeProvider(capabilities=SMALL)
    server = live(providers=[fake])
    out = sdk(server.url).images.create_variation(image=("a.png", png(), "image/png"), n=1, size="64x64")
    assert len(out.data) == 1 and fake.calls[0].operation == "variation"


def test_models_lists_every_served_name(live):
    server = live(providers=["fake:fake-1"], aliases={"gpt-image-2": ["fake:other", "fake:fake-1"]})
    ids = [m.id for m in sdk(server.url).models.list()]
    assert ids == ["gpt-image-2", "fake:fake-1", "fake-1"]


def test_an_alias_falls_back_along_its_chain(live):
    broken = FakeProvider("cloud", capabilities=SMALL, name="cloudy", script=[TransientError("503")] * 10)
    local = FakeProvider("local", capabilities=SMALL)
    server = live(aliases={"gpt-image-2": [broken, local]})
    out = sdk(server.url).images.generate(model="gpt-image-2", prompt="x", size="64x64")
    extension = out.model_extra["imagegen"]
    assert extension["provider"] == "fake" and extension["model"] == "local"
    assert any(w.startswith("fallback:") for w in extension["warnings"])


@pytest.mark.parametrize(("status", "raises"), [
    (400, openai.BadRequestError), (404, openai.NotFoundError), (429, openai.RateLimitError),
    (502, openai.InternalServerError), (503, openai.InternalServerError)])
def test_each_error_status_is_the_sdks_own_exception(live, status, raises):
    script = {502: [TransientError("upstream 503")] * 10, 503: [], 429: [], 400: [], 404: []}[status]
    fake = FakeProvider(capabilities=SMALL, script=script, price_per_image=1.0)
    kw = {"budget_usd": 0.5} if status == 429 else {}
    server = live(providers=[_Unavailable()]) if status == 503 else live(providers=[fake], **kw)
    args = {"prompt": "x", "size": "64x64"}
    if status == 400:
        args["size"] = "banana"
    if status == 404:
        args["model"] = "dall-e-9"
    with pytest.raises(raises) as info:
        sdk(server.url).images.generate(**args)
    assert info.value.status_code == status
    body = info.value.body
    assert set(body) == {"message", "type", "param", "code"}


class _Unavailable(FakeProvider):
    async def prepare(self) -> None:
        from imagegen import ProviderUnavailable

        raise ProviderUnavailable("no GPU here")


def test_an_upstream_auth_failure_is_a_server_error_not_the_clients_401(live):
    server = live(providers=[FakeProvider(capabilities=SMALL, script=[UpstreamAuth("bad upstream key")])])
    with pytest.raises(openai.InternalServerError) as info:
        sdk(server.url).images.generate(prompt="x", size="64x64")
    assert info.value.status_code == 502 and info.value.code == "upstream_authentication_failed"


def test_a_keyed_server_answers_the_sdk_401_without_the_key(live):
    server = live(providers=[FakeProvider(capabilities=SMALL)], api_keys=["sk-ig-0123456789abcdef"])
    with pytest.raises(openai.AuthenticationError) as info:
        sdk(server.url, api_key="sk-wrong-0000000000000").images.generate(prompt="x", size="64x64")
    assert info.value.status_code == 401
    ok = sdk(server.url, api_key="sk-ig-0123456789abcdef").images.generate(prompt="x", size="64x64")
    assert len(ok.data) == 1


def test_a_bad_value_names_the_parameter_and_the_allowed_values(live):
    server = live(providers=[FakeProvider(capabilities=SMALL)])
    with pytest.raises(openai.BadRequestError) as info:
        sdk(server.url).images.generate(prompt="x", quality="ultra")  # type: ignore[arg-type]
    assert info.value.body["param"] == "quality"
    assert "'standard'" in info.value.body["message"] and "'hd'" in info.value.body["message"]


def test_output_format_webp_is_encoded_by_the_server(live):
    server = live(providers=[FakeProvider(capabilities=SMALL)])
    out = sdk(server.url).images.generate(prompt="x", size="64x64", output_format="webp", output_compression=80)
    assert out.output_format == "webp"
    assert Image.open(io.BytesIO(base64.b64decode(out.data[0].b64_json))).format == "WEBP"


def test_each_answer_reports_its_cost(live):
    server = live(providers=[FakeProvider(capabilities=SMALL, price_per_image=0.04)])
    raw = sdk(server.url).images.with_raw_response.generate(prompt="x", size="64x64", n=2)
    assert raw.headers["x-imagegen-cost-usd"] == "0.080000"
    assert raw.parse().model_extra["imagegen"]["cost_usd"] == pytest.approx(0.08)


def test_a_body_over_the_limit_is_the_sdks_413_status_error(live):
    server = live(providers=[FakeProvider(capabilities=SMALL)], max_body_bytes=2048)
    with pytest.raises(openai.APIStatusError) as info:
        sdk(server.url).images.generate(prompt="x" * 4000, size="64x64")
    assert info.value.status_code == 413 and info.value.body["code"] == "request_too_large"


class _CountingTokens(FakeProvider):
    """A provider that reports token usage the way imagegen-openai does (``usage["tokens"]``)."""

    async def generate(self, req):
        response = await super().generate(req)
        response.usage = {"tokens": {"text_input": 7, "image_input": 0, "image_output": 272 * req.n,
                                     "text_output": 0}}
        return response


def test_the_answer_carries_openai_usage_summed_over_calls(live):
    one_per_call = dataclasses.replace(SMALL, max_images_per_call=1)
    server = live(providers=[_CountingTokens(capabilities=one_per_call)])
    out = sdk(server.url).images.generate(model="fake:fake-1", prompt="a fox", n=2, size="64x64")
    assert out.usage is not None
    assert (out.usage.input_tokens, out.usage.output_tokens, out.usage.total_tokens) == (14, 544, 558)
    assert out.usage.input_tokens_details.text_tokens == 14 and out.usage.input_tokens_details.image_tokens == 0


def test_no_usage_is_sent_when_no_provider_counted_tokens(live):
    server = live(providers=[FakeProvider(capabilities=SMALL)])
    out = sdk(server.url).images.generate(model="fake:fake-1", prompt="a fox", size="64x64")
    assert out.usage is None


def test_a_streamed_completed_event_carries_usage(live):
    server = live(providers=[_CountingTokens(capabilities=SMALL)])
    events = list(sdk(server.url).images.generate(model="fake:fake-1", prompt="a fox", size="64x64", stream=True))
    assert events[-1].usage.total_tokens == 7 + 272


class _Previewing(FakeProvider):
    """A provider that makes previews (``Capabilities.partial_images``): a grey square per preview, then the image."""

    async def generate(self, req):
        from imagegen.provider import ImageData, PartialImage, encode_png

        if req.partial is not None:
            for k in range(req.partial_images):
                grey = Image.new("RGB", (req.width, req.height), (40 * (k + 1),) * 3)
                req.partial(PartialImage(image=ImageData(data=encode_png(grey), mime="image/png", width=req.width,
                                                         height=req.height), index=req.index, partial_index=k,
                                         step=k + 1, total=req.partial_images + 1))
        return await super().generate(req)


def test_streaming_sends_the_providers_partial_images_before_the_completed_one(live):
    previewing = dataclasses.replace(SMALL, partial_images=3)
    server = live(providers=[_Previewing(capabilities=previewing)])
    events = list(sdk(server.url).images.generate(model="fake:fake-1", prompt="a fox", size="64x64", stream=True,
                                                  partial_images=2, extra_body={"seed": 4}))
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    assert [pixels(e.b64_json)[1] for e in events[:2]] == [(40, 40, 40), (80, 80, 80)]
    assert pixels(events[-1].b64_json)[1] == fake_color("a fox", 4)


def test_streaming_without_partial_images_sends_no_previews(live):
    previewing = dataclasses.replace(SMALL, partial_images=3)
    server = live(providers=[_Previewing(capabilities=previewing)])
    events = list(sdk(server.url).images.generate(model="fake:fake-1", prompt="a fox", size="64x64", stream=True))
    assert [e.type for e in events] == ["image_generation.completed"]
