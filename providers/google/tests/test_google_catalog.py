"""``imagegen.models()`` and ``--live`` for Google: the built-in rows and the comparison with Google's models
list (scripted: the real google-genai client lists models from 127.0.0.1)."""

from __future__ import annotations

import pytest
from imagegen_google.models import MODELS

import imagegen


@pytest.fixture
def gemini_env(api, kit, monkeypatch):
    monkeypatch.setenv("GOOGLE_API_KEY", kit.API_KEY)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", api.url)


def test_models_lists_imagen_as_retired_with_its_dates_and_the_ga_models_in_service():
    rows = {m.model: m for m in imagegen.models("google")}
    assert set(rows) == set(MODELS)
    assert (rows["imagen-4.0-generate-001"].status, str(rows["imagen-4.0-generate-001"].shutdown)) == ("retired",
                                                                                                     "2026-08-17")
    assert rows["gemini-3-pro-image"].status == "active" and rows["gemini-3-pro-image"].price == "unknown"
    assert [m.model for m in rows.values() if m.recommended] == ["gemini-3.1-flash-image"]


def test_live_differences_report_a_new_image_model_and_one_no_longer_listed(api, kit, gemini_env):
    listed = [{"name": f"models/{name}", "displayName": name, "supportedGenerationMethods": ["generateContent"]}
              for name in ("gemini-3.1-flash-image", "gemini-3-pro-image", "gemini-3.1-flash-lite-image",
                           "gemini-nano-banana-2.2", "gemini-3.8-flash")]
    api.script("/models", kit.json_response({"models": listed}))
    kinds = {(d.model, d.kind) for d in imagegen.live_differences("google")}
    assert kinds == {("gemini-nano-banana-2.2", "new"), ("gemini-nano-banana-2.1", "not-listed")}
    assert api.requests[0].path.endswith("/models")
