"""``imagegen.testing.ScriptedServer``: a real HTTP server on 127.0.0.1 that records each request and answers
with what was scripted, including the ways networks fail."""

from __future__ import annotations

import httpx
import pytest

from imagegen.testing import Delayed, Hang, Raw, Reply, Reset, ScriptedServer


@pytest.fixture
def server():
    with ScriptedServer(default=Reply.json({"ok": True}), base_path="/v1") as srv:
        yield srv


def test_it_listens_on_127_0_0_1_under_its_base_path(server):
    assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/v1")
    assert httpx.get(f"{server.url}/x").json() == {"ok": True} and server.requests[0].path == "/v1/x"


def test_it_records_json_query_and_headers_case_insensitively(server):
    httpx.post(f"{server.url}/images?a=1", json={"n": 2}, headers={"Authorization": "Bearer t"})
    seen = server.requests[0]
    assert (seen.method, seen.json, seen.fields, seen.query) == ("POST", {"n": 2}, {"n": 2}, {"a": "1"})
    assert seen.headers["authorization"] == "Bearer t" and "AUTHORIZATION" in seen.headers


def test_it_records_multipart_fields_and_files(server):
    httpx.post(f"{server.url}/edits", data={"model": "m", "n": "1"}, files={"image": ("a.png", b"PNG", "image/png")})
    seen = server.requests[0]
    assert seen.form == {"model": "m", "n": "1"} and seen.fields == seen.form
    assert seen.files["image"] == ("a.png", "image/png", b"PNG") and seen.files["image"].data == b"PNG"


def test_pushed_answers_come_first_then_scripts_whose_last_answer_repeats_then_the_default(server):
    server.script("/images", Reply(201), Reply(202))
    server.push(Reply(418))
    codes = [httpx.get(f"{server.url}/images").status_code for _ in range(4)]
    assert [*codes, httpx.get(f"{server.url}/other").status_code] == [418, 201, 202, 202, 200]
    assert server.count == 5 and len(server.calls("/images")) == 4


def test_a_handler_answers_from_the_request(server):
    server.script("/echo", lambda request: Reply.json({"got": request.json["n"]}, status=202))
    response = httpx.post(f"{server.url}/echo", json={"n": 3})
    assert (response.status_code, response.json()) == (202, {"got": 3})


def test_a_delayed_answer_still_arrives(server):
    server.push(Delayed(0.01, Reply.json({"late": True})))
    assert httpx.get(f"{server.url}/x").json() == {"late": True}


def test_a_body_cut_short_fails_the_client(server):
    server.push(Reply.json({"data": "x" * 200}).truncated())
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{server.url}/x")


def test_raw_bytes_are_sent_as_they_are(server):
    server.push(Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"), Raw(b""))
    assert httpx.get(f"{server.url}/x").text == "hi"
    with pytest.raises(httpx.RemoteProtocolError):  # hung up without a word
        httpx.get(f"{server.url}/x")


def test_a_reset_is_a_reset(server):
    server.push(Reset())
    with pytest.raises(httpx.ReadError, match="reset"):
        httpx.get(f"{server.url}/x")


def test_a_hang_holds_the_call_until_the_client_gives_up(server):
    server.push(Hang())
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{server.url}/x", timeout=0.2)
    assert server.count == 1


def test_without_a_default_an_unscripted_path_is_a_404():
    with ScriptedServer() as bare:
        assert httpx.get(f"{bare.url}/nothing").status_code == 404


def test_a_handler_that_raises_gets_a_500_and_fails_the_with_block():
    with pytest.raises(AssertionError, match="ZeroDivisionError"), ScriptedServer() as srv:
        srv.script("/bad", lambda request: 1 / 0)
        assert httpx.get(f"{srv.url}/bad").status_code == 500
