"""examples/openai_generate.py, run as a user runs it: with a key it generates, without one it explains."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from imagegen import read_metadata

SCRIPT = Path(__file__).resolve().parents[3] / "examples" / "openai_generate.py"


def run_script(tmp_path, env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "IMAGEGEN_"))}
    env.update(env_extra)
    proc = subprocess.run([sys.executable, str(SCRIPT), "out"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_without_a_key_it_shows_the_plan_and_exits_0(tmp_path):
    proc = run_script(tmp_path, {})
    assert "No OPENAI_API_KEY set" in proc.stdout
    assert "openai:gpt-image-2.6-sunburst: 1 call(s) at 1360x768, quality low; at most unknown" in proc.stdout
    assert "openai:gpt-image-2: 1 call(s) at 1024x1024, quality medium; at most $0.055" in proc.stdout
    assert not (tmp_path / "out").exists()


def test_with_a_key_it_generates_with_both_models_and_saves_the_images(tmp_path, api, kit):
    def answer(seen):
        w, h = (int(v) for v in seen.json["size"].split("x"))
        return kit.json_response(kit.images_body(1, (w, h), usage=kit.usage(text_in=20, image_out=400)))

    api.script("/images/generations", answer)
    proc = run_script(tmp_path, {"OPENAI_API_KEY": kit.API_KEY, "OPENAI_BASE_URL": api.url})
    assert [(c.json["model"], c.json["size"]) for c in api.requests] == [("gpt-image-2.6-sunburst", "1360x768"),
                                                                         ("gpt-image-2", "1024x1024")]
    # 20 text tokens at $5/1M + 400 image tokens at $30/1M (prices.json, checked 2026-12-02)
    assert "openai:gpt-image-2.6-sunburst made 1 image(s), $0.012 (usage)" in proc.stdout
    assert "openai:gpt-image-2 made 1 image(s), $0.012 (usage)" in proc.stdout
    saved = tmp_path / "out" / "fox-gpt-image-2.6-sunburst-0.png"
    assert read_metadata(saved).prompt.startswith("a red fox") and kit.API_KEY.encode() not in saved.read_bytes()
    assert (tmp_path / "out" / "fox-gpt-image-2-0.png").exists()
