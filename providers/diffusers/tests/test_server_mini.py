"""The server issue's "done when", with the embedded model: ``imagegen serve`` over
``diffusers:imagegen-mini`` answers the ``openai`` SDK with an image the model's checker accepts and
``webuiapi`` with an image and ``info`` carrying seed 3; a request without the key gets 401, one past a
full queue gets 429, and each of those requests is a row in the ledger."""

from __future__ import annotations

import base64
import io
import threading
import time

import openai
import pytest
import webuiapi
from imagegen_diffusers.mini import checker
from PIL import Image

from imagegen import Ledger
from imagegen.testing import LiveServer

KEY = "sk-ig-done-when-0123456789"
CAPTION = "a red circle on a blue background"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    ledger = tmp_path_factory.mktemp("serve") / "ledger.sqlite"
    with LiveServer(providers=["diffusers:imagegen-mini"], api_keys=[KEY], ledger=str(ledger), max_queue=1) as server:
        yield server, ledger


def test_the_openai_sdk_gets_an_image_the_checker_accepts(served):
    server, _ = served
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0)
    out = client.images.generate(model="diffusers:imagegen-mini", prompt=CAPTION, extra_body={"seed": 1})
    image = Image.open(io.BytesIO(base64.b64decode(out.data[0].b64_json))).convert("RGB")
    assert checker.check(image, CAPTION).ok


def test_webuiapi_gets_an_image_and_info_with_seed_3(served):
    server, _ = served
    api = webuiapi.WebUIApi(host="127.0.0.1", port=server.port, username="me", password=KEY)
    result = api.txt2img(prompt=CAPTION, seed=3, steps=20)
    assert isinstance(result.image, Image.Image)
    assert result.info["seed"] == 3 and result.info["steps"] == 20
    assert result.info["sd_model_name"] == "diffusers:imagegen-mini"
    assert any(w.startswith("size:") for w in result.info["warnings"])  # webuiapi's 512x512, made at 32x32


def test_the_openai_sdks_stream_gets_the_local_models_previews_then_the_same_image_as_generate():
    with LiveServer(providers=["diffusers:imagegen-mini"]) as server:  # its own: the ledger test counts rows
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
        events = list(client.images.generate(model="diffusers:imagegen-mini", prompt=CAPTION, stream=True,
                                             partial_images=2, extra_body={"seed": 2}))
        once = client.images.generate(model="diffusers:imagegen-mini", prompt=CAPTION, extra_body={"seed": 2})
    kinds = [e.type for e in events]
    assert kinds[-1] == "image_generation.completed"
    assert 1 <= kinds.count("image_generation.partial_image") <= 2

    def pixels(b64):
        return Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB").tobytes()

    assert pixels(events[-1].b64_json) == pixels(once.data[0].b64_json)


def test_without_the_key_it_is_401(served):
    server, _ = served
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-not-the-key-000000", max_retries=0).images.generate(
            prompt=CAPTION)


def test_past_a_full_queue_it_is_429(served):
    server, _ = served
    api = webuiapi.WebUIApi(host="127.0.0.1", port=server.port, username="me", password=KEY)
    long = threading.Thread(target=lambda: api.txt2img(prompt=CAPTION, steps=1000, seed=5))
    long.start()
    deadline = time.monotonic() + 60
    while api.get_progress()["state"]["job_count"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0)
    try:
        with pytest.raises(openai.RateLimitError) as info:
            client.images.generate(prompt=CAPTION)
    finally:
        api.interrupt()
        long.join(60)
    assert int(info.value.response.headers["retry-after"]) >= 1


def test_each_of_those_requests_is_a_row_in_the_ledger(served):
    _, path = served
    rows = Ledger(path).entries()
    made = [r for r in rows if r.provider == "diffusers"]
    refused = [r for r in rows if r.provider == "imagegen-server"]
    assert [r.seeds for r in made[:2]] == [[1], [3]] and all(r.user == "key1" for r in made)
    assert sorted((r.model, r.error) for r in refused) == [("generations", "QueueFull"), ("generations", "Refused")]
    assert len(made) == 3  # the two above and the long one, interrupted
