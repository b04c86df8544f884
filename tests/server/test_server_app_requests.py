"""Requests shaped exactly as Open WebUI and SillyTavern send them, read from their source:

- Open WebUI: open-webui/open-webui ``backend/open_webui/routers/images.py`` (commit 02530d50):
  ``get_automatic1111_api_auth``, ``set_image_model``, ``get_models``, ``image_generations`` and
  ``image_edits`` (its ``automatic1111`` and ``openai`` engines);
- SillyTavern: SillyTavern/SillyTavern ``src/endpoints/stable-diffusion.js`` (its ``/ping``,
  ``/upscalers``, ``/vaes``, ``/samplers``, ``/schedulers``, ``/models``, ``/get-model``, ``/set-model``
  and ``/generate`` routes) with the body ``generateAutoImage`` builds in
  ``public/scripts/extensions/stable-diffusion/index.js`` from its ``defaultSettings``, and
  ``getBasicAuthHeader`` in ``src/util.js`` (snapshot ba6f7b7a).
"""

from __future__ import annotations

import base64
import io
import json
import socket
import uuid

import httpx
import pytest
from PIL import Image

from imagegen import Capabilities
from imagegen.testing import FakeProvider

SMALL = Capabilities(default_size=(64, 64), max_images_per_call=4, operations=frozenset(
    {"txt2img", "img2img", "inpaint"}), supports=frozenset({"seed", "steps", "guidance", "negative_prompt",
                                                          "scheduler", "clip_skip"}))


class Local(FakeProvider):
    """Stands for the local provider: lists the samplers it takes, DDIM among them (SillyTavern's default)."""

    def samplers(self) -> list[str]:
        return ["DDIM", "Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras"]


def raw_get(port: int, path: str, authorization: str) -> tuple[int, dict]:
    """A GET sent byte for byte (httpx refuses a header value with trailing space, as "Basic " has)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nauthorization: {authorization}\r\n"
                     "Connection: close\r\n\r\n".encode())
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def basic(auth) -> str:
    """SillyTavern's getBasicAuthHeader: `Basic ${base64(`${auth}`)}` (so undefined is "dW5kZWZpbmVk")."""
    text = "undefined" if auth is None else str(auth)
    return "Basic " + base64.b64encode(text.encode()).decode()


# -- Open WebUI, engine "automatic1111" ----------------------------------------------------------

@pytest.mark.parametrize("authorization", ["", "Basic "])  # AUTOMATIC1111_API_AUTH None / "" (no auth set)
def test_open_webui_reads_options_with_an_empty_authorization(live, authorization):
    server = live(providers=[Local(capabilities=SMALL)])
    status, options = raw_get(server.port, "/sdapi/v1/options", authorization)
    assert status == 200 and options["sd_model_checkpoint"] == server.service.default.title


def test_open_webui_switches_the_model_by_posting_the_whole_options_back(live):
    server = live(providers=[Local("one", capabilities=SMALL), Local("two", capabilities=SMALL)])
    with httpx.Client(base_url=server.url, headers={"authorization": ""}) as http:
        models = [{"id": m["title"], "name": m["model_name"]} for m in http.get("/sdapi/v1/sd-models").json()]
        target = next(m["id"] for m in models if m["name"] == "fake:two")
        options = http.get("/sdapi/v1/options").json()
        assert options["sd_model_checkpoint"] in [m["id"] for m in models]
        if target != options["sd_model_checkpoint"]:
            options["sd_model_checkpoint"] = target
            http.post("/sdapi/v1/options", json=options).raise_for_status()
        assert http.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == target


def test_open_webui_txt2img_gets_raw_base64_images_and_an_info_string(live):
    fake = Local(capabilities=SMALL)
    server = live(providers=[fake])
    data = {"prompt": "a red circle", "batch_size": 2, "width": 64, "height": 64, "steps": 12,
            "negative_prompt": "blurry"}
    res = httpx.post(f"{server.url}/sdapi/v1/txt2img", json=data, headers={"authorization": ""}).json()
    assert isinstance(res["info"], str) and json.loads(res["info"])["steps"] == 12
    for image in res["images"]:  # get_image_data: no ',' in the string -> b64decode, mime image/png
        assert "," not in image
        assert Image.open(io.BytesIO(base64.b64decode(image))).format == "PNG"
    assert len(res["images"]) == 2 and fake.calls[0].steps == 12


# -- Open WebUI, engine "openai" -----------------------------------------------------------------

def test_open_webui_openai_generation_with_b64_json(live):
    server = live(providers=[Local(capabilities=SMALL)], aliases={"gpt-image-1": ["fake:fake-1"]},
                  api_keys=["sk-ig-openwebui-0000000001"])
    headers = {"Authorization": "Bearer sk-ig-openwebui-0000000001", "Content-Type": "application/json"}
    data = {"model": "gpt-image-1", "prompt": "a fox", "n": 1, "size": "64x64", "response_format": "b64_json"}
    res = httpx.post(f"{server.url}/v1/images/generations", json=data, headers=headers)
    assert res.status_code == 200
    image = res.json()["data"][0]
    assert image.get("url") is None
    assert Image.open(io.BytesIO(base64.b64decode(image["b64_json"]))).size == (64, 64)


def test_open_webui_fetches_url_answers_with_its_own_authorization_header(live):
    # IMAGE_URL_RESPONSE_MODELS_REGEX_PATTERN models get no response_format; a url answer is fetched with
    # the request's headers minus Content-Type
    server = live(providers=[Local(capabilities=SMALL)], api_keys=["sk-ig-openwebui-0000000001"])
    headers = {"Authorization": "Bearer sk-ig-openwebui-0000000001", "Content-Type": "application/json"}
    body = {"model": "fake:fake-1", "prompt": "a fox", "n": 1, "size": "64x64", "response_format": "url"}
    url = httpx.post(f"{server.url}/v1/images/generations", json=body, headers=headers).json()["data"][0]["url"]
    got = httpx.get(url, headers={"Authorization": headers["Authorization"]})
    assert got.status_code == 200 and got.headers["content-type"].split("/")[0] == "image"


@pytest.mark.parametrize("several", [False, True])
def test_open_webui_edit_sends_image_or_repeated_image_brackets(live, png, several):
    fake = Local(capabilities=SMALL)
    server = live(providers=[fake])
    data = {"model": "fake:fake-1", "prompt": "add a hat", "n": 1, "size": "64x64", "response_format": "b64_json"}
    picture = png(color=(5, 6, 7))
    if several:  # get_image_file_item(img, 'image[]') for each image of a list
        files = [("image[]", (f"{uuid.uuid4()}.png", picture, "image/png")) for _ in range(2)]
    else:
        files = [("image", (f"{uuid.uuid4()}.png", picture, "image/png"))]
    form = {k: str(v) for k, v in data.items()}  # aiohttp.FormData: form.add_field(key, str(value))
    res = httpx.post(f"{server.url}/v1/images/edits", data=form, files=files)
    assert res.status_code == 200, res.text
    assert "b64_json" in res.json()["data"][0]
    assert fake.calls[0].operation == "img2img"


# -- SillyTavern ---------------------------------------------------------------------------------

@pytest.mark.parametrize("auth", ["", None])  # auto_auth defaults to ''; undefined becomes "undefined"
def test_sillytavern_pings_with_its_basic_header(live, auth):
    server = live(providers=[Local(capabilities=SMALL)])
    status, _ = raw_get(server.port, "/sdapi/v1/options", basic(auth))
    assert status == 200


def test_sillytavern_connects_lists_and_switches_models(live):
    server = live(providers=[Local("one", capabilities=SMALL), Local("two", capabilities=SMALL)])
    headers = {"Authorization": basic(None)}
    with httpx.Client(base_url=server.url, headers=headers) as http:
        assert http.get("/sdapi/v1/options").is_success  # /ping
        upscalers = [x["name"] for x in http.get("/sdapi/v1/upscalers").json()]
        latent = [x["name"] for x in http.get("/sdapi/v1/latent-upscale-modes").json()]
        upscalers[1:1] = latent  # 0 = None, then latent upscalers, then upscalers
        assert upscalers[0] == "None"
        assert isinstance(http.get("/sdapi/v1/sd-vae").json(), list)  # /vaes: Array.isArray or it fails
        assert "DDIM" in [x["name"] for x in http.get("/sdapi/v1/samplers").json()]
        assert "automatic" in [x["name"] for x in http.get("/sdapi/v1/schedulers").json()]
        models = [{"value": x["title"], "text": x["title"]} for x in http.get("/sdapi/v1/sd-models").json()]
        target = next(m["value"] for m in models if m["value"].startswith("fake:two ["))
        assert http.post("/sdapi/v1/options", json={"sd_model_checkpoint": target}).is_success  # /set-model
        progress = http.get("/sdapi/v1/progress").json()
        assert progress["progress"] == 0.0 and progress["state"]["job_count"] == 0  # it stops waiting
        assert http.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == target  # /get-model


def test_sillytavern_generate_body_with_its_default_settings(live):
    fake = Local(capabilities=SMALL)
    server = live(providers=[fake])
    body = {  # {...getSdRequestBody(), ...} from generateAutoImage, defaultSettings values; seed -1 -> undefined
        "url": server.url, "auth": "", "prompt": "best quality, absurdres, aesthetic, a cat",
        "negative_prompt": "lowres, bad anatomy, bad hands, text, error", "sampler_name": "DDIM",
        "scheduler": "normal", "steps": 20, "cfg_scale": 7, "width": 512, "height": 512, "restore_faces": False,
        "enable_hr": False, "hr_upscaler": "Latent", "hr_scale": 2.0, "denoising_strength": 0.7,
        "hr_second_pass_steps": 0, "override_settings": {"CLIP_stop_at_last_layers": 1},
        "override_settings_restore_afterwards": True, "clip_skip": 1, "save_images": True, "send_images": True,
        "do_not_save_grid": False, "do_not_save_samples": False}
    res = httpx.post(f"{server.url}/sdapi/v1/txt2img", json=body, headers={"Authorization": basic(None)},
                     timeout=30)
    assert res.status_code == 200, res.text
    data = res.json()
    assert Image.open(io.BytesIO(base64.b64decode(data["images"][0]))).format == "PNG"  # format: 'png'
    call = fake.calls[0]
    assert call.scheduler == "DDIM" and call.steps == 20 and call.guidance == 7
    assert call.strength is None  # denoising_strength belongs to the (disabled) hires fix here
    info = json.loads(data["info"])
    assert any(w.startswith("save_images:") for w in info["warnings"])


def test_sillytavern_interrupt_on_disconnect_is_answered(live):
    server = live(providers=[Local(capabilities=SMALL)])
    res = httpx.post(f"{server.url}/sdapi/v1/interrupt", headers={"Authorization": basic(None)})
    assert res.status_code == 200 and res.json() == {}


def test_unknown_keys_are_ignored_as_a1111_does(live):
    server = live(providers=[Local(capabilities=SMALL)])
    res = httpx.post(f"{server.url}/sdapi/v1/txt2img", json={"prompt": "x", "width": 64, "height": 64,
                                                             "forge_additional_modules": ["a"], "nonsense": 1})
    assert res.status_code == 200
