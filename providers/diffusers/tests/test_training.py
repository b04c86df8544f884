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

TINY = [
    "--n-train", "64", "--vae-steps", "2", "--vae-batch", "4", "--decoder-steps", "2", "--steps", "2", "--batch", "4",
    "--threads", "1",
]  # fmt: skip


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


def test_aligned_latents_are_the_shrunk_picture_and_samplers_clip_to_them(tmp_path, keep_threads):
    out = tmp_path / "mini"
    train_mini.main(["--out", str(out), *TINY, "--aligned-latents", "--pooled-text", "--attention-levels", "2",
                     "--channels", "32", "64", "64", "--beta-schedule", "squaredcos_cap_v2"])

    pipe = StableDiffusionPipeline.from_pretrained(out, safety_checker=None, requires_safety_checker=False)
    assert pipe.vae.config.scaling_factor == 1.0
    scheduler = pipe.scheduler.config
    assert scheduler.thresholding and scheduler.sample_max_value == 1.0 and not scheduler.clip_sample
    assert scheduler.beta_schedule == "squaredcos_cap_v2"
    assert pipe.unet.config.addition_embed_type == "text"
    assert pipe.unet.config.down_block_types == ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"]
    pipe.set_progress_bar_config(disable=True)
    image = pipe("a red circle", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 32)


def test_a_resumed_stage_keeps_the_saved_models_objective_and_latents(tmp_path, keep_threads):
    first, second = tmp_path / "first", tmp_path / "second"
    train_mini.main(["--out", str(first), *TINY, "--aligned-latents", "--beta-schedule", "squaredcos_cap_v2"])
    record = train_mini.main(["--out", str(second), *TINY, "--resume", str(first)])

    assert record["settings"]["aligned_latents"] is True
    assert record["settings"]["beta_schedule"] == "squaredcos_cap_v2"
    saved = json.loads((second / "scheduler" / "scheduler_config.json").read_text())
    assert saved["thresholding"] is True and saved["beta_schedule"] == "squaredcos_cap_v2"
    assert [stage["settings"]["out"] for stage in record["previous_stages"]] == [str(first)]


def test_the_record_names_every_changed_setting_and_the_step_reached(tmp_path, keep_threads):
    out = tmp_path / "mini"
    train_mini.main(["--out", str(out), *TINY, "--seed", "3", "--snr-floor", "1", "--no-pooled-text"])

    record = json.loads((out / "training.json").read_text())
    command = record["reproduce"]
    assert command.startswith("python train_mini.py --out OUT ")
    for expected in ("--seed 3", "--snr-floor 1", "--n-train 64", "--steps 2", "--stop-after 2", "--budget-min 1e+09"):
        assert expected in command
    assert "--threads 1" in command  # CPU sums round differently with another thread count
    assert "--lr" not in command
    assert "--no-pooled-text" in command and "--aligned-latents" not in command  # flags: named only when changed
    assert record["settings"]["snr_floor"] == 1.0
    assert record["metrics"]["wall_clock_minutes"] > 0


def test_low_noise_dropout_applies_only_below_its_timestep():
    t = torch.tensor([0, 599, 600, 999])
    assert train_mini.dropout_rates(t, 0.1, None, 600).tolist() == pytest.approx([0.1] * 4)
    assert train_mini.dropout_rates(t, 0.1, 0.5, 600).tolist() == pytest.approx([0.5, 0.5, 0.1, 0.1])
