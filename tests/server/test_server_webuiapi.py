"""``webuiapi`` (a real AUTOMATIC1111 client, mix1009/sdwebuiapi) against ``imagegen serve``: it asks
``/sdapi/v1/scripts`` when it starts, sends its full default payload, decodes ``images`` as raw base64
and ``json.loads`` the ``info`` string."""

from __future__ import annotations

import threading

import pytest
import webuiapi
from PIL import Image

from imagegen import Capabilities
from imagegen.testing import FakeProvider, fake_color

SMALL = Capabilities(default_size=(64, 64), max_images_per_call=4, operations=frozenset(
    {"txt2img", "img2img", "inpaint"}), supports=frozenset({"seed", "steps", "guidance", "negative_prompt",
                                                          "scheduler", "strength"}))


class WithSamplers(FakeProvider):
    def samplers(self) -> list[str]:
        return ["Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras"]


def api(server) -> webuiapi.WebUIApi:
    return webuiapi.WebUIApi(host="127.0.0.1", port=server.port)


def test_txt2img_returns_the_image_and_info_with_the_seed(live):
    server = live(providers=[WithSamplers(capabilities=SMALL)])
    result = api(server).txt2img(prompt="a red circle", seed=3, steps=20, width=64, height=64)
    assert isinstance(result.image, Image.Image)
    assert result.image.convert("RGB").getpixel((0, 0)) == fake_color("a red circle", 3)
    assert result.info["seed"] == 3 and result.info["all_seeds"] == [3]
    assert result.info["steps"] == 20 and result.info["sampler_name"] == "Euler a"


def test_its_default_512_size_is_normalized_to_the_model_with_a_warning(live):
    tiny = Capabilities(sizes=frozenset({(64, 64)}), supports=frozenset())
    server = live(providers=[FakeProvider(capabilities=tiny)])
    result = api(server).txt2img(prompt="x")  # webuiapi sends width/height 512, seed -1, scheduler automatic
    assert result.image.size == (64, 64)
    assert any(w.startswith("size:") for w in result.info["warnings"])
    assert result.info["seed"] == -1  # this provider takes no seed: reported as A1111's "random"


def test_a_random_seed_is_reported_in_info(live):
    server = live(providers=[WithSamplers(capabilities=SMALL)])
    result = api(server).txt2img(prompt="x", width=64, height=64, batch_size=2)
    first, second = result.info["all_seeds"]
    assert first >= 0 and second == first + 1
    assert [im.convert("RGB").getpixel((0, 0)) for im in result.images] == [fake_color("x", first),
                                                                           fake_color("x", second)]


def test_img2img_with_a_mask_is_an_inpaint(live):
    fake = WithSamplers(capabilities=SMALL)
    server = live(providers=[fake])
    source = Image.new("RGB", (64, 64), (9, 9, 9))
    mask = Image.new("L", (64, 64), 255)
    result = api(server).img2img(images=[source], mask_image=mask, prompt="a hat", denoising_strength=0.5,
                                 width=64, height=64, seed=1)
    assert len(result.images) == 1
    call = fake.calls[0]
    assert call.operation == "inpaint" and call.strength == 0.5
    assert call.image.to_pil().convert("RGB").getpixel((0, 0)) == (9, 9, 9)


def test_samplers_and_schedulers_list_what_the_chain_accepts(live):
    server = live(providers=[WithSamplers(capabilities=SMALL)])
    client = api(server)
    assert client.util_get_sampler_names() == sorted(["Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras"])
    assert client.util_get_scheduler_names() == ["automatic", "karras"]


def test_an_unknown_sampler_is_refused_naming_the_parameter_and_the_choices(live):
    server = live(providers=[WithSamplers(capabilities=SMALL)])
    with pytest.raises(RuntimeError) as info:
        api(server).txt2img(prompt="x", sampler_name="Heunish", width=64, height=64)
    status, text = info.value.args
    assert status == 400 and "sampler_name" in text and "DPM++ 2M Karras" in text


def test_karras_scheduler_picks_the_karras_sampler(live):
    fake = WithSamplers(capabilities=SMALL)
    server = live(providers=[fake])
    api(server).txt2img(prompt="x", sampler_name="DPM++ 2M", scheduler="karras", width=64, height=64)
    assert fake.calls[0].scheduler == "DPM++ 2M Karras"


def test_models_and_switching_the_checkpoint(live):
    server = live(providers=["fake:one", "fake:two"])
    client = api(server)
    names = client.util_get_model_names()
    assert names == sorted(c.title for c in server.service.chains.values())
    two = next(n for n in names if n.startswith("fake:two ["))
    client.util_set_model(two, find_closest=False)
    assert client.util_get_current_model() == two
    result = client.txt2img(prompt="x", width=64, height=64)
    assert result.info["sd_model_name"] == "fake:two"
    assert result.info["imagegen"]["model"] == "two"


def test_png_info_reads_back_the_parameters_it_wrote(live):
    server = live(providers=[WithSamplers(capabilities=SMALL)])
    client = api(server)
    made = client.txt2img(prompt="a blue square", negative_prompt="blurry", seed=11, steps=7, width=64, height=64)
    info = client.png_info(made.image)
    assert info.info.startswith("a blue square\nNegative prompt: blurry\n")
    assert "Seed: 11" in info.info and "Steps: 7" in info.info
    assert info.json["parameters"]["Seed"] == "11"


def test_interrupt_stops_the_running_generation(live, stoppable):
    fake = stoppable(capabilities=SMALL)
    server = live(providers=[fake])
    client = api(server)
    box = {}
    thread = threading.Thread(target=lambda: box.update(result=client.txt2img(prompt="x", width=64, height=64)))
    thread.start()
    assert fake.entered.wait(10)
    assert client.get_progress()["state"]["job_count"] == 1
    assert client.interrupt() == {}  # webuiapi .json()s the answer: interrupt must answer a JSON body
    thread.join(20)
    assert fake.stopped, "the provider was not stopped"
    assert box["result"].images == []
    assert any(w.startswith("interrupted:") for w in box["result"].info["warnings"])


def test_progress_reports_steps_while_generating_and_zero_when_idle(live, stoppable):
    fake = stoppable(capabilities=SMALL)
    server = live(providers=[fake])
    client = api(server)
    thread = threading.Thread(target=lambda: client.txt2img(prompt="x", width=64, height=64))
    thread.start()
    assert fake.entered.wait(10)
    busy = client.get_progress()
    fake.release.set()
    thread.join(20)
    idle = client.get_progress()
    assert busy["state"]["job_count"] == 1 and busy["state"]["sampling_steps"] == fake.steps
    assert 0 < busy["progress"] < 1
    assert idle["progress"] == 0 and idle["state"]["job_count"] == 0
    client.util_wait_for_ready(check_interval=0.01)  # what clients poll after switching models: returns


def test_hires_fix_fields_become_imagegens_hires(live):
    hires = Capabilities(default_size=(64, 64), supports=frozenset({"seed", "hires"}))
    fake = FakeProvider(capabilities=hires)
    server = live(providers=[fake])
    client = api(server)
    assert [u["name"] for u in client.get_upscalers()] == ["None", "Lanczos", "Nearest"]
    assert "Latent (antialiased)" in [m["name"] for m in client.get_latent_upscale_modes()]
    client.txt2img(prompt="x", width=64, height=64, enable_hr=True, hr_scale=2, hr_upscaler="Latent (antialiased)",
                   denoising_strength=0.4, hr_second_pass_steps=5)
    assert fake.calls[0].hires.as_dict() == {"scale": 2.0, "upscaler": "latent (antialiased)", "strength": 0.4,
                                             "steps": 5}


def test_a_field_of_the_wrong_type_is_a1111s_422_naming_it(live):
    import httpx

    server = live(providers=[FakeProvider(capabilities=SMALL)])
    res = httpx.post(f"{server.url}/sdapi/v1/txt2img", json={"prompt": "x", "steps": "many"})
    body = res.json()
    assert res.status_code == 422 and body["detail"][0]["loc"] == ["steps"]
    assert body["errors"].startswith("steps:")
