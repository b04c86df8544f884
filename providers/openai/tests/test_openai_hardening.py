"""Bad input never reaches OpenAI: the real ``openai`` client talks to a scripted server on 127.0.0.1, and the
server's record of requests proves that nothing was sent."""

from __future__ import annotations

import pytest

import imagegen


@pytest.mark.parametrize(("model", "limit"), [("dall-e-2", 1000), ("dall-e-3", 4000), ("gpt-image-1", 32000),
                                              ("gpt-image-2", 32000)])
def test_a_prompt_over_the_models_limit_is_refused_before_anything_is_sent(model, limit, make, api):
    client = imagegen.Client(make(model), retry=False)
    with pytest.raises(imagegen.InvalidRequest, match=f"at most {limit} characters") as info:
        client.generate("a" * (limit + 1))
    assert info.value.field == "prompt" and api.count == 0
    client.generate("a" * limit)
    assert api.count == 1 and len(api.requests[0].json["prompt"]) == limit


def _corrupt_pngs(kit) -> dict[str, bytes]:
    good = kit.png(256, 256)
    at = good.index(b"IDAT") + 20
    return {"truncated": good[: len(good) // 2], "bad checksum": good[:at] + bytes([good[at] ^ 0xFF]) + good[at + 1:],
            "header only": good[:33]}


@pytest.mark.parametrize("name", ["truncated", "bad checksum", "header only"])
@pytest.mark.parametrize(("model", "kwargs"), [("gpt-image-1", {}), ("gpt-image-1", {"mask": "good"}),
                                               ("dall-e-2", {"operation": "variation"})])
def test_a_corrupt_input_image_is_never_uploaded(name, model, kwargs, make, api, kit):
    image = _corrupt_pngs(kit)[name]
    if kwargs.get("mask") == "good":
        kwargs = {"mask": kit.png(256, 256)}
    with pytest.raises(imagegen.InvalidRequest) as info:
        imagegen.Client(make(model), retry=False).generate("a fox", image=image, **kwargs)
    assert info.value.field == "image" and api.count == 0


@pytest.mark.parametrize("name", ["truncated", "bad checksum", "header only"])
def test_a_corrupt_mask_is_never_uploaded(name, make, api, kit):
    with pytest.raises(imagegen.InvalidRequest) as info:
        imagegen.Client(make("gpt-image-1"), retry=False).generate("a fox", image=kit.png(256, 256),
                                                                    mask=_corrupt_pngs(kit)[name])
    assert info.value.field == "mask" and api.count == 0
