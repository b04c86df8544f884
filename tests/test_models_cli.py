"""``imagegen models`` on the command line: the table, ``--json``, and ``--live`` against a scripted
``GET /v1/models`` (the real openai client, imagegen-openai's data)."""

from __future__ import annotations

import json

import pytest

from imagegen.cli import main
from imagegen.testing import Reply, ScriptedServer

pytest.importorskip("imagegen_openai")
KEY = "sk-test-models-cli-0123456789abcdef"


@pytest.fixture
def openai_list(monkeypatch):
    """A scripted OpenAI whose /v1/models marks gpt-image-2 with a shutdown_date imagegen's data lacks."""
    listed = [{"id": "gpt-image-2", "object": "model", "created": 1776700000, "owned_by": "system",
               "shutdown_date": "2027-03-01"},
              {"id": "gpt-image-2.6-sunburst", "object": "model", "created": 1777000000, "owned_by": "system"}]
    with ScriptedServer(default=lambda request: Reply.json({"object": "list", "data": listed}),
                        base_path="/v1") as server:
        for name in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "IMAGEGEN_OPENAI_PRICES"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        yield server


def test_live_reports_the_shutdown_date_the_scripted_list_has_and_the_data_lacks(openai_list, capsys):
    code = main(["models", "-p", "openai", "--live"])
    out = capsys.readouterr().out
    assert code == 1
    assert ("openai\tgpt-image-2\topenai:gpt-image-2: the vendor reports shutdown 2027-03-01; imagegen's data has "
            "none") in out.splitlines()
    assert [r.path for r in openai_list.requests] == ["/v1/models"]


def test_live_json_has_the_models_and_the_differences(openai_list, capsys):
    assert main(["models", "-p", "openai", "--live", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert {"gpt-image-2", "dall-e-3"} <= {m["model"] for m in doc["models"]}
    assert {"model": "gpt-image-2", "kind": "shutdown-added", "live": "2027-03-01"}.items() <= \
        next(d for d in doc["differences"] if d["model"] == "gpt-image-2").items()


def test_the_table_marks_the_default_model_and_shows_lifecycle(capsys):
    assert main(["models", "-p", "openai"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[:5] == ["provider", "model", "status", "shutdown", "replacement"]
    assert any(line.startswith("openai\tgpt-image-2.6-sunburst (default)\tactive") for line in lines)
    assert any(line.startswith("openai\tdall-e-3\tretired\t2026-05-12\tgpt-image-2.5-sunburst") for line in lines)


def test_live_without_a_key_exits_3_naming_the_key(monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["models", "-p", "openai", "--live"]) == 3
    assert "OPENAI_API_KEY" in capsys.readouterr().err


def test_live_for_a_local_provider_is_bad_input(capsys):
    pytest.importorskip("imagegen_diffusers")
    assert main(["models", "-p", "diffusers", "--live"]) == 2
    assert "no live model list" in capsys.readouterr().err
