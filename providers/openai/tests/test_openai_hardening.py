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
