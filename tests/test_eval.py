"""CLIP score, FID and best-of-n, offline, with a tiny random CLIP built from config."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("torchmetrics")
pytest.importorskip("transformers")

import torch

import imagegen
from imagegen import InvalidRequest
from imagegen import eval as ig_eval
from imagegen.testing import FakeProvider

PROMPT = "a red fox"


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory) -> str:
    # seed 5 gives this tiny model positive cosines for the fake images, so clamping at 0 hides nothing
    return ig_eval.build_tiny_clip(tmp_path_factory.mktemp("clip"), seed=5)


@pytest.fixture(scope="module")
def images():
    return imagegen.Client().generate(PROMPT, provider=FakeProvider(), n=4, seed=1, size="64x64").images


def reference_scores(path: str, images, prompt: str) -> list[float]:
    """CLIP score from its definition, straight from transformers: 100 * max(cos(image, text), 0)."""
    from transformers import CLIPModel, CLIPProcessor

    model, processor = CLIPModel.from_pretrained(path), CLIPProcessor.from_pretrained(path)
    with torch.no_grad():
        pixels = processor(images=[im.to_pil().convert("RGB") for im in images], return_tensors="pt")
        img = model.get_image_features(pixel_values=pixels["pixel_values"])
        txt = model.get_text_features(**processor(text=[prompt], return_tensors="pt", padding=True))
    img = getattr(img, "pooler_output", img)
    txt = getattr(txt, "pooler_output", txt)
    cos = torch.nn.functional.cosine_similarity(img, txt)
    return [max(100 * float(c), 0.0) for c in cos]


def test_clip_score_matches_the_definition(clip_path, images):
    scores = ig_eval.clip_score(images, PROMPT, model=clip_path)
    expected = reference_scores(clip_path, images, PROMPT)
    assert scores == pytest.approx(expected, abs=1e-3)
    assert len(set(round(s, 3) for s in scores)) == 4 and min(scores) > 0


def test_one_prompt_per_image_is_scored_pairwise(clip_path, images):
    prompts = ["a red fox", "a lighthouse", "a cat", "a boat"]
    scores = ig_eval.clip_score(images, prompts, model=clip_path)
    for k, prompt in enumerate(prompts):
        assert scores[k] == pytest.approx(reference_scores(clip_path, [images[k]], prompt)[0], abs=1e-3)


def test_clip_scorer_accepts_pil_images_bytes_and_paths(clip_path, images, tmp_path):
    scorer = ig_eval.ClipScorer(clip_path)
    path = images[0].save(tmp_path / "a.png")
    forms = [images[0], images[0].to_pil(), images[0].data, path]
    scores = scorer(forms, PROMPT)
    assert scores == pytest.approx([scores[0]] * 4, abs=1e-4)


def test_best_of_n_keeps_the_top_scores_best_first(clip_path):
    scorer = ig_eval.ClipScorer(clip_path)
    fake = FakeProvider()
    result = imagegen.Client().generate(PROMPT, provider=fake, n=4, seed=1, size="64x64", select=2, scorer=scorer)
    all_images = imagegen.Client().generate(PROMPT, provider=FakeProvider(), n=4, seed=1, size="64x64").images
    every = scorer(all_images, PROMPT)
    best = sorted(range(4), key=lambda i: -every[i])[:2]
    assert [im.seed for im in result.images] == [all_images[i].seed for i in best]


def test_compare_reports_clip_scores_per_image(clip_path):
    cmp = imagegen.Client().compare(PROMPT, providers=[FakeProvider("a"), FakeProvider("b")], seeds=[1, 2],
                                    size="64x64", scorer=ig_eval.ClipScorer(clip_path))
    assert cmp.scorer == "clip"
    assert all(len(c.scores) == 1 and c.scores[0] >= 0 for c in cmp.cells)
    assert "score " in cmp.to_html()


def test_prompt_count_must_match_image_count(clip_path, images):
    with pytest.raises(InvalidRequest, match="prompts: got 2 prompts for 4 images"):
        ig_eval.clip_score(images, ["a", "b"], model=clip_path)


def test_a_missing_model_is_a_clear_error_naming_model(tmp_path):
    with pytest.raises(InvalidRequest) as info:
        ig_eval.ClipScorer(tmp_path / "nothing-here")
    assert info.value.field == "model" and "nothing-here" in str(info.value)


def test_fid_is_zero_for_the_same_set_and_positive_for_different_sets(clip_path, images):
    others = imagegen.Client().generate("a lighthouse", provider=FakeProvider(), n=4, seed=50, size="64x64").images
    assert ig_eval.fid(images, images, model=clip_path) == pytest.approx(0.0, abs=1e-3)
    assert ig_eval.fid(images, others, model=clip_path) > 0.1


def test_fid_needs_two_images_per_set(clip_path, images):
    with pytest.raises(InvalidRequest, match="at least 2 images"):
        ig_eval.fid(images[:1], images, model=clip_path)


def test_importing_imagegen_eval_loads_no_torch():
    code = ("import sys, imagegen.eval; "
            "print([m for m in ('torch', 'torchmetrics', 'transformers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
