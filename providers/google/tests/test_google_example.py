"""examples/google_generate.py, run as a user runs it: with a key it generates, without one it explains."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from imagegen import read_metadata

SCRIPT = Path(__file__).resolve().parents[3] / "examples" / "google_generate.py"


def run_script(tmp_path, env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_"))}
    env.update(env_extra)
    proc = subprocess.run([sys.executable, str(SCRIPT), "out"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_without_credentials_it_shows_the_plan_and_exits_0(tmp_path):
    proc = run_script(tmp_path, {})
    assert "No Google credentials" in proc.stdout
    assert "google:gemini-3.1-flash-image: 2 call(s) of [1, 1] images at 1376x768 (aspect 16:9, 1K); estimated " \
           "unknown" in proc.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.filterwarnings("ignore::Warning")
def test_with_a_key_it_generates_and_saves_through_the_gemini_api(tmp_path, api, kit):
    api.script(":generateContent", kit.gemini_ok((1376, 768)))
    proc = run_script(tmp_path, {"GOOGLE_API_KEY": kit.API_KEY, "GOOGLE_GEMINI_BASE_URL": api.url})
    assert "google:gemini-3.1-flash-image made 2 images (unknown)" in proc.stdout
    assert len(api.calls(kit.gemini_path("gemini-3.1-flash-image"))) == 2
    saved = tmp_path / "out" / "fox-1.png"
    assert read_metadata(saved).prompt.startswith("a red fox") and kit.API_KEY.encode() not in saved.read_bytes()
