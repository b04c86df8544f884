"""The imagegen-mini training script, run for a few steps: it writes a folder the real pipeline loads, and a record
that says how to make the same weights again."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from diffusers import StableDiffusionPipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
import train_mini

TINY = ["--n-train", "64", "--vae-steps", "2", "--vae-batch", "4", "--steps", "2", "--batch", "4", "--threads", "1"]


@pytest.fixture
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(
    ("latent_scale", "channels", "latent_side"), [("2", ["32", "64"], 16), ("1", ["32", "32", "64"], 32)]
)
def test_a_short_run_writes_a_folder_stable_diffusion_loads(
    tmp_path, keep_threads, latent_scale, channels, latent_side
):
    out = tmp_path / "mini"
    train_mini.main(["--out", str(out), *TINY, "--latent-scale", latent_scale, "--channels", *channels])

    pipe = StableDiffusionPipeline.from_pretrained(out, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    image = pipe("a red circle", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 32)
    assert pipe.unet.config.sample_size == latent_side
    assert pipe.unet.config.block_out_channels == [int(c) for c in channels]
    assert (out / "tokenizer" / "vocab.json").exists() and (out / "tokenizer" / "merges.txt").exists()


def test_the_record_names_every_changed_setting_and_the_step_reached(tmp_path, keep_threads):
    out = tmp_path / "mini"
    train_mini.main(["--out", str(out), *TINY, "--seed", "3", "--snr-floor", "1"])

    record = json.loads((out / "training.json").read_text())
    command = record["reproduce"]
    assert command.startswith("python train_mini.py --out OUT ")
    for expected in ("--seed 3", "--snr-floor 1", "--n-train 64", "--steps 2", "--stop-after 2", "--budget-min 1e+09"):
        assert expected in command
    assert "--threads 1" in command  # CPU sums round differently with another thread count
    assert "--lr" not in command
    assert record["settings"]["snr_floor"] == 1.0
    assert record["metrics"]["wall_clock_minutes"] > 0
