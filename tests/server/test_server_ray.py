"""`imagegen serve --ray`: the server app as two Ray Serve replicas on the local Ray instance, with the same
endpoints and keys, one ledger and one budget for both, and images fetchable from either."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import threading
import time

import httpx
import pytest

from imagegen import Ledger
from imagegen.errors import InvalidRequest
from imagegen.provider import Capabilities
from imagegen.server import ServerConfig
from imagegen.testing import FakeProvider, unused_port

KEY = "k" * 24
AUTH = {"Authorization": f"Bearer {KEY}"}
CAPS = Capabilities(default_size=(64, 64), max_images_per_call=1)


@pytest.fixture(scope="module")
def served(ray_local, tmp_path_factory):
    from ray import serve

    from imagegen.server.replicas import serve_on_ray

    folder = tmp_path_factory.mktemp("serve-ray")
    log = folder / "calls.jsonl"
    config = ServerConfig(providers=[FakeProvider("free", capabilities=CAPS, log=log),
                                     FakeProvider("priced", price_per_image=0.04, latency=0.2, capabilities=CAPS,
                                                  log=log)],
                          ledger=str(folder / "ledger.sqlite"), budget_usd=0.1, api_keys=[KEY])
    port, stop = unused_port(), threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            serve_on_ray(config, port=port, replicas=2, cpus_per_replica=0.5, stop=stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        assert not errors, errors
        assert time.monotonic() < deadline, "Ray Serve did not come up"
        try:
            app = serve.status().applications.get("imagegen")
            states = app.deployments["imagegen-server"].replica_states if app is not None else {}
            if states == {"RUNNING": 2} and httpx.get(f"{url}/health", timeout=5).status_code == 200:
                break
        except (httpx.HTTPError, KeyError):
            pass
        time.sleep(1)
    yield {"url": url, "ledger": config.ledger, "log": log, "serve": serve}
    stop.set()
    thread.join(120)


def generate(served, model: str, prompt: str, **extra) -> httpx.Response:
    return httpx.post(f"{served['url']}/v1/images/generations", headers=AUTH, timeout=120,
                      json={"model": model, "prompt": prompt, "size": "64x64", **extra})


def test_the_deployment_runs_the_replicas_asked_for(served):
    deployment = served["serve"].status().applications["imagegen"].deployments["imagegen-server"]
    assert deployment.replica_states == {"RUNNING": 2}
    assert served["serve"].status().applications["imagegen"].deployments.keys() == {"imagegen-server"}


def test_replicas_answer_the_openai_api_behind_the_same_keys(served):
    assert httpx.post(f"{served['url']}/v1/images/generations", json={"prompt": "a"}, timeout=60).status_code == 401
    answer = generate(served, "fake:free", "a fox")
    assert answer.status_code == 200
    assert base64.b64decode(answer.json()["data"][0]["b64_json"]).startswith(b"\x89PNG")


def test_one_budget_holds_across_the_replicas(served):
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda i: generate(served, "fake:priced", f"priced {i}"), range(5)))
    assert sorted(a.status_code for a in answers) == [200, 200, 429, 429, 429]
    assert all("budget" in a.json()["error"]["message"] for a in answers if a.status_code == 429)
    with Ledger(served["ledger"]) as ledger:
        assert ledger.spent() == pytest.approx(0.08)
        assert [e.status for e in ledger.entries() if e.model == "priced"].count("ok") == 2
    with open(served["log"], encoding="utf-8") as fh:
        calls = [e for e in map(json.loads, fh) if e["event"] == "start"]
    assert calls and os.getpid() not in {e["pid"] for e in calls}  # made in the replicas' processes


def test_an_image_made_by_one_replica_is_fetched_from_any(served):
    answer = generate(served, "fake:free", "a url answer", response_format="url")
    link = answer.json()["data"][0]["url"]
    fetched = [httpx.get(link, headers=AUTH, timeout=60) for _ in range(6)]
    assert [f.status_code for f in fetched] == [200] * 6
    assert fetched[0].content.startswith(b"\x89PNG")


def test_more_gpus_per_replica_than_the_machine_has_is_refused(ray_local):
    from imagegen.server.replicas import placement

    with pytest.raises(InvalidRequest, match="gpus_per_replica: 1 GPUs per replica, but this machine has 0"):
        placement(ServerConfig(ledger="x.sqlite"), replicas=None, gpus_per_replica=1, cpus_per_replica=1)


@pytest.mark.parametrize("option", [["--replicas", "2"], ["--gpus-per-replica", "1"], ["--cpus-per-replica", "2"]])
def test_replica_options_without_ray_exit_2_naming_them(capsys, option):
    from imagegen.cli import main

    assert main(["serve", *option]) == 2
    assert capsys.readouterr().err.startswith(f"error: {option[0]}: sizes the Ray Serve replicas; add --ray")
