"""The scene grammar and the pixel checker, on the renderer's own ground truth (no model involved)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from imagegen_diffusers.mini import checker, scenes


def _truthful_spec(scene: scenes.Scene) -> scenes.Spec:
    """The scene's caption with the background it was actually drawn on, so every promise can be checked."""
    s = scene.spec
    return scenes.Spec(s.objects, scene.background, s.corner, s.relation)


@pytest.fixture(scope="module")
def ground_truth() -> list[scenes.Scene]:
    rng = random.Random(123)
    return [scenes.sample_scene(rng) for _ in range(300)]


def test_every_sampled_caption_parses_back_to_its_spec(ground_truth):
    for scene in ground_truth:
        assert scenes.parse(scene.spec.caption) == scene.spec


def test_checker_accepts_nearly_all_ground_truth_renders(ground_truth):
    verdicts = [checker.check(scenes.render(s), _truthful_spec(s)) for s in ground_truth]
    assert sum(v.ok for v in verdicts) / len(verdicts) >= 0.98


def test_checker_reads_every_held_out_caption_from_its_render():
    rng = random.Random(5)
    for spec in scenes.held_out_specs():
        assert checker.check(scenes.render(scenes.place(spec, rng)), spec).ok, spec.caption


def test_checker_rejects_the_wrong_colour_shape_corner_and_background():
    caption = "a red circle at the top left on a blue background"
    image = scenes.render(scenes.place(scenes.parse(caption), random.Random(0)))
    assert checker.check(image, caption).ok
    assert not checker.check(image, "a green circle on a blue background").colour
    assert not checker.check(image, "a red square on a blue background").shape
    assert checker.check(image, "a red circle at the bottom right").position is False
    assert checker.check(image, "a red circle on a yellow background").background is False


def test_checker_finds_nothing_in_a_plain_background():
    blank = np.full((32, 32, 3), scenes.COLOURS["purple"], dtype=np.uint8)
    verdict = checker.check(blank, "a white triangle on a purple background")
    assert verdict.background is True
    assert not verdict.colour
    assert verdict.blobs == ()


def test_relation_captions_are_checked_by_position():
    spec = scenes.parse("a yellow triangle below a purple square on a black background")
    image = scenes.render(scenes.place(spec, random.Random(2)))
    assert checker.check(image, spec).position is True
    assert checker.check(image, "a yellow triangle above a purple square on a black background").position is False


def test_checker_scales_larger_images_down_to_the_grammar_size():
    spec = scenes.parse("an orange square on a green background")
    image = scenes.render(scenes.place(spec, random.Random(3)), size=128)
    assert image.size == (128, 128)
    assert checker.check(image, spec).ok


def test_caption_outside_the_grammar_is_a_clear_error():
    with pytest.raises(ValueError, match=r"caption: .*outside the imagegen-mini grammar.*colours: red"):
        scenes.parse("a photo of a cat")


def test_held_out_split_is_fifty_captions_of_twenty_five_unseen_triples():
    specs = scenes.held_out_specs()
    triples = {(s.objects[0].colour, s.objects[0].shape, s.background) for s in specs}
    assert len(specs) == 50
    assert triples == set(scenes.held_out_triples())
    assert len(triples) == 25


def test_sampled_training_scenes_can_be_filtered_off_the_held_out_triples():
    held = set(scenes.held_out_triples())
    rng = random.Random(0)
    sampled = [scenes.sample_scene(rng) for _ in range(2000)]
    assert any(scenes.uses_held_out(s, held) for s in sampled)  # the filter has something to do
    kept = [s for s in sampled if not scenes.uses_held_out(s, held)]
    assert all((p.thing.colour, p.thing.shape, s.background) not in held for s in kept for p in s.placed)
