"""``imagegen.models()`` and ``imagegen models [--live]`` for OpenAI: the built-in rows, and the comparison with
``GET /v1/models`` (scripted: the real openai client lists models from 127.0.0.1)."""

from __future__ import annotations

import pytest
from imagegen_openai import MODELS

import imagegen

LISTED = [  # what the scripted /v1/models answers (shape: openai SDK 3.57.0 openai/types/model.py)
    {"id": "gpt-image-2", "object": "model", "created": 1776700000, "owned_by": "system",
     "shutdown_date": "2027-03-01"},  # a shutdown the data lacks
    {"id": "gpt-image-2.6-sunburst", "object": "model", "created": 1777000000, "owned_by": "system",
     "shutdown_date": None},
    {"id": "gpt-image-2.7-nova", "object": "model", "created": 1777100000, "owned_by": "system"},  # new
    {"id": "gpt-6.1-sol", "object": "model", "created": 1777100000, "owned_by": "system"},  # not an image model
]


@pytest.fixture
def openai_env(api, kit, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", kit.API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", api.url)
    api.script("/models", kit.json_response({"object": "list", "data": LISTED}))


def test_models_lists_every_model_in_the_data_with_its_lifecycle():
    rows = {m.model: m for m in imagegen.models("openai")}
    assert set(rows) == set(MODELS)
    dall_e = rows["dall-e-3"]
    assert (dall_e.status, dall_e.shutdown.isoformat(), dall_e.replacement) == ("retired", "2026-05-12",
                                                                               "gpt-image-2.5-sunburst")
    assert "developers.openai.com" in dall_e.source and "2026-12-02" in dall_e.source
    assert [m.model for m in rows.values() if m.recommended] == ["gpt-image-2.6-sunburst"]


def test_a_model_priced_by_its_family_says_so():
    rows = {m.model: m for m in imagegen.models("openai")}
    assert rows["gpt-image-2.5-flare"].price.startswith("as gpt-image-2: tokens per 1M: text input $5.00")
    assert "cached text input $1.25" in rows["gpt-image-2.6-sunburst"].price


def test_live_differences_report_a_shutdown_date_the_data_lacks_a_new_id_and_models_no_longer_listed(
        api, kit, openai_env):
    found = {(d.model, d.kind): d for d in imagegen.live_differences("openai")}
    assert found[("gpt-image-2", "shutdown-added")].live == "2027-03-01"
    assert ("gpt-image-2.7-nova", "new") in found and ("gpt-image-2.6-flare", "not-listed") in found
    assert not [key for key in found if key[0] in ("gpt-6.1-sol", "dall-e-3")]
    assert [r.path for r in api.requests] == ["/v1/models"]
    assert api.requests[0].headers["Authorization"] == f"Bearer {kit.API_KEY}"


def test_lists_that_match_have_no_differences(api, kit, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", kit.API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", api.url)
    same = [{"id": m.model, "object": "model", "created": 0, "owned_by": "system",
             "shutdown_date": m.shutdown.isoformat() if m.shutdown else None}
            for m in imagegen.models("openai") if m.status != "retired"]
    api.script("/models", kit.json_response({"object": "list", "data": same}))
    assert imagegen.live_differences("openai") == []


def test_live_differences_without_a_key_are_provider_unavailable_naming_the_key():
    with pytest.raises(imagegen.ProviderUnavailable, match="OPENAI_API_KEY"):
        imagegen.live_differences("openai")
