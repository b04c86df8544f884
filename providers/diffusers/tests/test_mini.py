"""imagegen-mini, the embedded model: it loads as a plain Stable Diffusion folder and draws what captions say.

Accuracy is read from the pixels by the checker on 50 captions whose (colour, shape, background) triples were
held out of training, with fixed seeds.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
)
from imagegen_diffusers.guidance import cutoff_kwargs
from imagegen_diffusers.mini import WEIGHTS_DIR, checker, scenes
from PIL import Image
from transformers import CLIPTokenizer

STEPS = 20
#: What the model folder recommends (written by training/evaluate_mini.py, read by imagegen-diffusers as defaults).
RECOMMENDED = json.loads((WEIGHTS_DIR / "imagegen.json").read_text())
GUIDANCE = float(RECOMMENDED["guidance"])
#: The share of the steps guidance stays on for (imagegen-diffusers applies it whatever the guidance).
CUTOFF = float(RECOMMENDED.get("guidance_cutoff", 1.0))


@dataclass(frozen=True)
class Score:
    colour: float
    shape: float

    @property
    def both(self) -> float:
        return (self.colour + self.shape) / 2


@pytest.fixture(scope="module")
def pipe() -> StableDiffusionPipeline:
    torch.set_num_threads(2)
    p = StableDiffusionPipeline.from_pretrained(WEIGHTS_DIR, safety_checker=None, requires_safety_checker=False)
    p.scheduler = DPMSolverMultistepScheduler.from_config(p.scheduler.config)
    p.set_progress_bar_config(disable=True)
    return p


def _generate(pipe: StableDiffusionPipeline, captions: list[str], guidance: float, **kw) -> list[Image.Image]:
    """One image per caption, caption i with seed i, all in one batch, sampled as imagegen-diffusers samples it."""
    generators = [torch.Generator().manual_seed(i) for i in range(len(captions))]
    kw = {**cutoff_kwargs(pipe, CUTOFF), **kw}
    return pipe(captions, num_inference_steps=STEPS, guidance_scale=guidance, generator=generators, **kw).images


def _score(images: list[Image.Image], specs: list[scenes.Spec]) -> Score:
    verdicts = [checker.check(im, spec) for im, spec in zip(images, specs, strict=True)]
    return Score(
        colour=sum(v.colour for v in verdicts) / len(verdicts),
        shape=sum(v.shape for v in verdicts) / len(verdicts),
    )


@pytest.fixture(scope="module")
def held_out() -> list[scenes.Spec]:
    return scenes.held_out_specs()


@pytest.fixture(scope="module")
def score_recommended(pipe, held_out) -> Score:
    return _score(_generate(pipe, [s.caption for s in held_out], GUIDANCE), held_out)


@pytest.fixture(scope="module")
def score_cfg7(pipe, held_out, request) -> Score:
    if GUIDANCE == 7.0:
        return request.getfixturevalue("score_recommended")
    return _score(_generate(pipe, [s.caption for s in held_out], 7.0), held_out)


@pytest.fixture(scope="module")
def score_cfg1(pipe, held_out) -> Score:
    return _score(_generate(pipe, [s.caption for s in held_out], 1.0), held_out)


def _truth(caption: str, seed: int = 0) -> Image.Image:
    return scenes.render(scenes.place(scenes.parse(caption), random.Random(seed)))


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32)


# ---------------------------------------------------------------------------------------------------------------
# The folder is a standard diffusers model, small enough to ship.


def test_weights_are_safetensors_and_a_few_megabytes():
    files = [f for f in WEIGHTS_DIR.rglob("*") if f.is_file()]
    weights = [f for f in files if f.suffix in (".safetensors", ".bin", ".ckpt", ".pt")]
    assert {f.parent.name for f in weights} == {"unet", "vae", "text_encoder"}
    assert all(f.suffix == ".safetensors" for f in weights)
    assert sum(f.stat().st_size for f in files) < 20 * 2**20


def test_tokenizer_has_its_own_vocabulary_with_one_token_per_word():
    tok = CLIPTokenizer.from_pretrained(WEIGHTS_DIR / "tokenizer")
    assert (WEIGHTS_DIR / "tokenizer" / "vocab.json").exists()
    assert (WEIGHTS_DIR / "tokenizer" / "merges.txt").exists()
    for word in scenes.vocabulary():
        assert len(tok(word, add_special_tokens=False).input_ids) == 1, word


def test_the_longest_caption_fits_the_text_encoder():
    tok = CLIPTokenizer.from_pretrained(WEIGHTS_DIR / "tokenizer")
    longest = "a purple triangle right of an orange square at the bottom right on a yellow background"
    assert scenes.parse(longest).relation == "right of"
    assert len(tok(longest).input_ids) <= tok.model_max_length


def test_training_record_holds_settings_and_final_metrics():
    record = json.loads((WEIGHTS_DIR / "training.json").read_text())
    stages = [*record.get("previous_stages", []), record]
    assert stages[0]["settings"]["seed"] == 0
    assert all(isinstance(stage["settings"]["seed"], int) for stage in stages)
    assert "reproduce" in record
    assert record["evaluation"]["captions"] == 50
    assert record["held_out_triples"] == [list(t) for t in scenes.held_out_triples()]
    assert record["metrics"]["vae_psnr_db"] > 20
    assert record["evaluation"]["recommended_guidance"] == GUIDANCE and RECOMMENDED["steps"] == STEPS
    assert record["evaluation"]["recommended_guidance_cutoff"] == CUTOFF


def test_shipped_weights_come_from_one_training_run_under_an_hour_on_two_cores():
    record = json.loads((WEIGHTS_DIR / "training.json").read_text())
    assert "previous_stages" not in record and record["settings"]["resume"] is None
    assert record["settings"]["threads"] == 2 and record["metrics"]["wall_clock_minutes"] < 60


def test_loads_as_a_stable_diffusion_pipeline_at_32_pixels(pipe):
    assert pipe.vae_scale_factor * pipe.unet.config.sample_size == scenes.IMAGE_SIZE
    assert pipe.safety_checker is None


# ---------------------------------------------------------------------------------------------------------------
# It draws what the caption says.


def test_held_out_colour_accuracy_is_at_least_90_percent(score_recommended):
    assert score_recommended.colour >= 0.90


def test_held_out_shape_accuracy_is_at_least_80_percent(score_recommended):
    assert score_recommended.shape >= 0.80


def test_the_recommended_guidance_beats_no_guidance(score_recommended, score_cfg1):
    assert GUIDANCE > 1.0 and score_recommended.both > score_cfg1.both


def test_guidance_7_beats_guidance_1(score_cfg7, score_cfg1):
    assert score_cfg7.both > score_cfg1.both


def test_readme_caption_draws_a_red_circle_on_blue(pipe):
    caption = "a red circle on a blue background"
    images = _generate(pipe, [caption] * 4, GUIDANCE)
    assert sum(checker.check(im, caption).ok for im in images) >= 3


def test_same_seed_same_image_other_seed_other_image(pipe):
    caption = "two green squares on a white background"
    a, b = (_pixels(_generate(pipe, [caption, caption], 7.0)[0]) for _ in range(2))
    other = _pixels(pipe(caption, num_inference_steps=STEPS, generator=torch.Generator().manual_seed(99)).images[0])
    assert np.array_equal(a, b)
    assert not np.array_equal(a, other)


def test_negative_prompt_changes_the_image(pipe):
    caption = "a white circle"
    plain = _pixels(_generate(pipe, [caption], 7.0)[0])
    negative = _pixels(_generate(pipe, [caption], 7.0, negative_prompt=["on a black background"])[0])
    assert np.abs(plain - negative).mean() > 1.0


def test_another_sampler_meets_the_same_accuracy_bar(pipe, held_out):
    ddim = StableDiffusionPipeline(**{**pipe.components, "scheduler": DDIMScheduler.from_config(pipe.scheduler.config)})
    score = _score(_generate(ddim, [s.caption for s in held_out], GUIDANCE), held_out)
    assert score.colour >= 0.90 and score.shape >= 0.80


# ---------------------------------------------------------------------------------------------------------------
# Editing: img2img and inpaint through the same components.


def test_img2img_low_strength_stays_closer_to_the_input_than_high_strength(pipe):
    i2i = StableDiffusionImg2ImgPipeline(**pipe.components)
    source = _truth("a red circle on a blue background")
    prompt = ["a green triangle on a yellow background"] * 4

    def distance(strength: float) -> float:
        gens = [torch.Generator().manual_seed(i) for i in range(4)]
        out = i2i(prompt, image=[source] * 4, strength=strength, num_inference_steps=STEPS, generator=gens).images
        return float(np.mean([np.abs(_pixels(o) - _pixels(source)).mean() for o in out]))

    assert distance(0.3) < distance(0.9)


def test_inpaint_changes_pixels_only_inside_the_mask(pipe):
    inpaint = StableDiffusionInpaintPipeline(**pipe.components)
    source = _truth("a red circle at the bottom right on a blue background")
    mask = np.zeros((32, 32), dtype=np.uint8)
    mask[2:16, 2:16] = 255  # top-left quadrant, away from the circle
    border = 3
    outside = np.ones((32, 32), dtype=bool)
    outside[: 16 + border, : 16 + border] = False
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    out = inpaint(
        ["a yellow square at the top left on a blue background"] * 2,
        image=[source] * 2,
        mask_image=[Image.fromarray(mask)] * 2,
        height=32,
        width=32,
        num_inference_steps=STEPS,
        generator=gens,
    ).images
    for image in out:
        diff = np.abs(_pixels(image) - _pixels(source)).mean(-1)
        assert diff[outside].mean() < 6.0
        assert diff[mask > 0].mean() > 5 * diff[outside].mean()
