"""Keys, limits and the queue: refused before anything is spent, in each API's own error shape, and
every refused generation request is a ledger row (without the key)."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from imagegen import Capabilities, InvalidRequest, Ledger
from imagegen.cli import main
from imagegen.server import ServerConfig, add_key, check_listen, hash_key
from imagegen.testing import FakeProvider

SMALL = Capabilities(default_size=(64, 64), max_images_per_call=4, operations=frozenset({"txt2img", "img2img"}),
                     supports=frozenset({"seed"}))
KEY = "sk-ig-test-key-0123456789"


def gen(url: str, key: str | None = None, **body):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{url}/v1/images/generations", json={"prompt": "x", "size": "64x64", **body},
                      headers=headers, timeout=30)


def test_no_key_is_401_in_openai_shape_and_a_ledger_row(live, tmp_path):
    server = live(providers=[FakeProvider(capabilities=SMALL)], api_keys=[KEY], ledger=str(tmp_path / "l.sqlite"))
    res = gen(server.url)
    assert res.status_code == 401 and res.json()["error"]["code"] == "invalid_api_key"
    rows = Ledger(tmp_path / "l.sqlite").entries()
    assert [(r.provider, r.model, r.status, r.error) for r in rows] == [
        ("imagegen-server", "generations", "refused", "Refused")]


def test_no_key_on_the_a1111_api_is_401_in_its_shape_asking_for_basic_auth(live):
    server = live(providers=[FakeProvider(capabilities=SMALL)], api_keys=[KEY])
    res = httpx.post(f"{server.url}/sdapi/v1/txt2img", json={"prompt": "x"})
    assert res.status_code == 401 and res.headers["www-authenticate"] == "Basic"
    assert set(res.json()) == {"error", "detail", "body", "errors"}


def test_the_key_works_as_basic_auth_password_for_a1111_clients(live):
    import webuiapi

    server = live(providers=[FakeProvider(capabilities=SMALL)], api_keys=[KEY])
    client = webuiapi.WebUIApi(host="127.0.0.1", port=server.port, username="anyone", password=KEY)
    assert client.txt2img(prompt="x", width=64, height=64).image.size == (64, 64)


def test_a_wrong_key_is_refused_and_no_key_is_ever_written_to_the_ledger(live, tmp_path):
    path = tmp_path / "l.sqlite"
    server = live(providers=[FakeProvider(capabilities=SMALL)], api_keys=[KEY], ledger=str(path))
    wrong = "sk-ig-wrong-key-99999999999"
    assert gen(server.url, wrong).status_code == 401
    assert gen(server.url, KEY).status_code == 200
    server.service.ledger.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert KEY.encode() not in raw and wrong.encode() not in raw
    assert [r.user for r in Ledger(path).entries() if r.status == "ok"] == ["key1"]


def test_without_keys_any_authorization_header_is_accepted(live):
    server = live(providers=[FakeProvider(capabilities=SMALL)])
    for header in ("Bearer whatever", "Basic dW5kZWZpbmVk", "Token abc"):
        assert httpx.post(f"{server.url}/v1/images/generations", json={"prompt": "x", "size": "64x64"},
                          headers={"Authorization": header}).status_code == 200


def test_health_is_open_and_metrics_need_the_key(live):
    server = live(providers=[FakeProvider(capabilities=SMALL)], api_keys=[KEY])
    assert httpx.get(f"{server.url}/health").status_code == 200
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    assert httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_a_keys_file_holds_only_hashes_and_its_keys_work(live, tmp_path):
    path = str(tmp_path / "keys.json")
    alice = add_key(path, "alice")
    stored = json.loads((tmp_path / "keys.json").read_text())
    assert stored == {"keys": [{"name": "alice", "sha256": hash_key(alice)}]}
    server = live(providers=[FakeProvider(capabilities=SMALL)], keys_file=path)
    assert gen(server.url, alice).status_code == 200


def test_new_key_on_the_command_line_prints_it_once_and_stores_its_hash(tmp_path, capsys):
    path = tmp_path / "keys.json"
    assert main(["serve", "--new-key", "ci", "--keys-file", str(path), "--key-rpm", "5"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("sk-ig-")
    assert json.loads(path.read_text())["keys"] == [{"name": "ci", "sha256": hash_key(key), "rpm": 5.0}]
    assert key not in path.read_text()


def test_a_key_over_its_own_budget_gets_429_while_another_key_goes_on(live, tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": [{"name": "alice", "sha256": hash_key(KEY), "budget_usd": 0.05},
                                         {"name": "bob", "sha256": hash_key(KEY + "b")}]}))
    fake = FakeProvider(capabilities=SMALL, price_per_image=0.04)
    server = live(providers=[fake], keys_file=str(keys), ledger=str(tmp_path / "l.sqlite"))
    assert gen(server.url, KEY).status_code == 200
    over = gen(server.url, KEY)
    assert over.status_code == 429 and over.json()["error"]["code"] == "insufficient_quota"
    assert "alice" in over.json()["error"]["message"]
    assert gen(server.url, KEY + "b").status_code == 200
    assert len(fake.calls) == 2


def test_a_key_over_its_rpm_gets_429_with_retry_after(live, tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": [{"name": "slow", "sha256": hash_key(KEY), "rpm": 2}]}))
    server = live(providers=[FakeProvider(capabilities=SMALL)], keys_file=str(keys), ledger=str(tmp_path / "l.sqlite"))
    assert [gen(server.url, KEY).status_code for _ in range(2)] == [200, 200]
    third = gen(server.url, KEY)
    assert third.status_code == 429 and 1 <= int(third.headers["retry-after"]) <= 60
    refused = [r for r in Ledger(tmp_path / "l.sqlite").entries() if r.status == "refused"]
    assert [(r.user, r.error) for r in refused] == [("slow", "RateLimited")]


def test_a_full_queue_gets_429_with_retry_after_and_a_ledger_row(live, stoppable, tmp_path):
    fake = stoppable(capabilities=SMALL)
    server = live(providers=[fake], max_queue=1, ledger=str(tmp_path / "l.sqlite"))
    first = threading.Thread(target=lambda: gen(server.url))
    first.start()
    assert fake.entered.wait(10)
    full = gen(server.url)
    fake.release.set()
    first.join(20)
    assert full.status_code == 429 and full.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(full.headers["retry-after"]) >= 1
    rows = Ledger(tmp_path / "l.sqlite").entries()
    assert sorted(r.status for r in rows) == ["ok", "refused"]


def test_listening_beyond_this_machine_needs_a_key():
    open_config = ServerConfig(providers=["fake:x"])
    with pytest.raises(InvalidRequest, match="--insecure-no-auth"):
        check_listen("0.0.0.0", open_config)
    check_listen("127.0.0.1", open_config)
    check_listen("::1", open_config)
    check_listen("0.0.0.0", open_config, insecure_no_auth=True)
    check_listen("0.0.0.0", ServerConfig(providers=["fake:x"], api_keys=[KEY]))


def test_the_command_refuses_a_public_host_without_a_key(capsys):
    assert main(["serve", "-p", "fake:x", "--host", "0.0.0.0", "--no-ledger"]) == 2
    assert "--host" in capsys.readouterr().err


def test_a_body_over_the_limit_is_413_before_it_is_read(live):
    server = live(providers=[FakeProvider(capabilities=SMALL)], max_body_bytes=4096)
    res = httpx.post(f"{server.url}/v1/images/generations", content=b"{" + b" " * 10_000 + b"}",
                     headers={"Content-Type": "application/json"})
    assert res.status_code == 413 and res.json()["error"]["code"] == "request_too_large"
    streamed = httpx.post(f"{server.url}/sdapi/v1/txt2img", content=iter([b" " * 3000] * 4))  # no Content-Length
    assert streamed.status_code == 413 and streamed.json()["error"] == "PayloadTooLarge"


def test_an_image_over_the_pixel_limit_is_413_naming_it(live, png):
    fake = FakeProvider(capabilities=SMALL)
    server = live(providers=[fake], max_image_pixels=64 * 64)
    res = httpx.post(f"{server.url}/v1/images/edits", data={"prompt": "x"},
                     files=[("image", ("a.png", png(size=(128, 128)), "image/png"))])
    assert res.status_code == 413 and res.json()["error"]["param"] == "image"
    assert fake.calls == []


def test_a_corrupt_image_is_400_and_never_sent(live, png):
    fake = FakeProvider(capabilities=SMALL)
    server = live(providers=[fake])
    res = httpx.post(f"{server.url}/v1/images/edits", data={"prompt": "x"},
                     files=[("image", ("a.png", png()[:60], "image/png"))])
    assert res.status_code == 400 and res.json()["error"]["param"] == "image"
    assert fake.calls == []


def test_a_prompt_over_the_limit_is_400_naming_it(live):
    server = live(providers=[FakeProvider(capabilities=SMALL)], max_prompt_chars=100)
    res = gen(server.url, prompt="x" * 101)
    assert res.status_code == 400 and res.json()["error"]["param"] == "prompt"
    a1111 = httpx.post(f"{server.url}/sdapi/v1/txt2img", json={"prompt": "y" * 101})
    assert a1111.status_code == 400 and "prompt" in a1111.json()["detail"]


def test_a_client_that_disconnects_stops_its_generation(live, stoppable, tmp_path):
    fake = stoppable(capabilities=SMALL)
    server = live(providers=[fake], ledger=str(tmp_path / "l.sqlite"))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.url}/sdapi/v1/txt2img", json={"prompt": "x"}, timeout=httpx.Timeout(10, read=0.5))
    deadline = time.monotonic() + 20
    while not fake.stopped and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.stopped
    assert [r.status for r in Ledger(tmp_path / "l.sqlite").entries()] == ["cancelled"]


def test_metrics_count_images_and_spend_by_provider(live):
    server = live(providers=[FakeProvider(capabilities=SMALL, price_per_image=0.5)])
    gen(server.url, n=2)
    text = httpx.get(f"{server.url}/metrics").text
    assert "imagegen_images_total 2" in text
    assert 'imagegen_spend_usd{provider="fake:fake-1"} 1.000000' in text
    assert "imagegen_queue_depth 0" in text and "imagegen_in_flight 0" in text


def test_the_openai_user_field_names_the_ledger_row_when_there_are_no_keys(live, tmp_path):
    server = live(providers=[FakeProvider(capabilities=SMALL)], ledger=str(tmp_path / "l.sqlite"))
    gen(server.url, user="end-user-7")
    assert [r.user for r in Ledger(tmp_path / "l.sqlite").entries()] == ["end-user-7"]
