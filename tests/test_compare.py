"""A/B comparison: cells, table, grid, HTML report and files, with FakeProviders."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path

import pytest

import imagegen
from imagegen import InvalidRequest, Prompt
from imagegen.compare import Comparison, run_comparison
from imagegen.errors import ContentPolicyError
from imagegen.metadata import read_metadata
from imagegen.testing import FakeProvider, fake_color


def compare(*args, **kwargs) -> Comparison:
    return asyncio.run(run_comparison(imagegen.Client(), *args, **kwargs))


@pytest.fixture
def a() -> FakeProvider:
    return FakeProvider("a", price_per_image=0.04)


@pytest.fixture
def b() -> FakeProvider:
    return FakeProvider("b", name="other", price_per_image=None)


def test_every_provider_gets_the_same_prompt_and_seeds(a, b):
    cmp = compare("a lighthouse in a storm", providers=[a, b], seeds=[1, 2], size="64x64")
    assert cmp.providers == ["fake:a", "other:b"] and cmp.seeds == [1, 2]
    for provider in (a, b):
        assert [(r.prompt, r.seeds) for r in provider.calls] == [("a lighthouse in a storm", (1,)),
                                                                ("a lighthouse in a storm", (2,))]
    image = cmp.cell("other:b", seed=2).images[0]
    assert image.seed == 2 and image.to_pil().getpixel((0, 0)) == fake_color("a lighthouse in a storm", 2)


def test_a_failing_provider_only_fails_its_own_cells(a):
    flaky = FakeProvider("flaky", script=[ContentPolicyError("refused")])
    cmp = compare("a fox", providers=[a, flaky], seeds=[1, 2], size="64x64")
    assert not cmp.cell("fake:flaky", seed=1).ok and cmp.cell("fake:flaky", seed=2).ok
    assert all(cmp.cell("fake:a", seed=s).ok for s in (1, 2))
    row = {r["provider"]: r for r in cmp.table()}["fake:flaky"]
    assert row["failed"] == 1 and row["images"] == 1 and row["errors"] == ["ContentPolicyError: refused"]


def test_table_sums_known_costs_and_reports_unknown_as_none(a, b):
    rows = {r["provider"]: r for r in compare("a fox", providers=[a, b], seeds=[1, 2, 3], size="64x64").table()}
    assert rows["fake:a"]["cost_usd"] == pytest.approx(0.12)
    assert rows["other:b"]["cost_usd"] is None
    assert any(w.startswith("cost:") for w in rows["other:b"]["warnings"])
    assert rows["fake:a"]["latency_s"] >= 0 and rows["fake:a"]["images"] == 3


def test_scorer_gets_each_prompts_images_and_scores_land_on_their_cells(a, b):
    seen = []

    def brightness(images, prompt):
        seen.append((prompt, len(images)))
        return [sum(im.to_pil().getpixel((0, 0))) for im in images]

    cmp = compare(["a fox", "a cat"], providers=[a, b], seeds=[1, 2], size="64x64", scorer=brightness)
    assert seen == [("a fox", 4), ("a cat", 4)]
    assert cmp.cell("other:b", seed=2, prompt=1).scores == [float(sum(fake_color("a cat", 2)))]
    assert cmp.scorer == "brightness"
    expected = sum(sum(fake_color(p, s)) for p in ("a fox", "a cat") for s in (1, 2)) / 4
    assert {r["provider"]: r["score"] for r in cmp.table()}["fake:a"] == pytest.approx(expected)


def test_scorer_must_return_one_score_per_image(a):
    with pytest.raises(InvalidRequest, match="one score per image"):
        compare("a fox", providers=[a], seeds=[1, 2], size="64x64", scorer=lambda images, prompt: [1.0])


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"seeds": [1, 1]}, "seeds"),
    ({"seed": 3}, "seed"),
    ({"steps": 0}, "steps"),
    ({"providers": []}, "providers"),
])
def test_bad_input_raises_before_any_provider_is_called(a, kwargs, field):
    kwargs = {"providers": [a], **kwargs}
    with pytest.raises(InvalidRequest) as info:
        compare("a fox", **kwargs)
    assert info.value.field == field and a.calls == []


def test_the_same_provider_twice_is_refused(a):
    with pytest.raises(InvalidRequest, match="once"):
        compare("a fox", providers=[a, FakeProvider("a")])


def test_prompt_objects_send_their_text_and_negative_prompt(a):
    p = Prompt("a fox", environment="in snow", negative="default")
    cmp = compare(p, providers=[a], size="64x64")
    assert cmp.prompts == ["a fox, in snow"]
    assert a.calls[0].prompt == "a fox, in snow" and a.calls[0].negative_prompt == p.negative_prompt


def test_grid_has_a_column_per_provider_and_a_row_per_prompt_and_seed(a, b):
    cmp = compare(["a fox", "a cat"], providers=[a, b], seeds=[1, 2, 3], size="64x64")
    grid = cmp.grid(cell_size=96)
    assert grid.size == (200 + 2 * 100, 36 + 6 * 100)
    assert grid.getpixel((200 + 100 + 40, 36 + 4 * 100 + 40)) == fake_color("a cat", 2)


def test_html_report_is_self_contained_with_every_image_inline(a, b):
    cmp = compare('a <script>alert("x")</script> fox', providers=[a, b], seeds=[1, 2], size="64x64")
    page = cmp.to_html()
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<link" not in page
    for c in cmp.cells:
        assert base64.b64encode(c.images[0].data).decode() in page
    assert '<script>alert("x")</script>' not in page and "&lt;script&gt;" in page
    assert page.count('type="radio"') == 3 and "fake:a" in page and "$0.0400" in page


def test_html_report_shows_errors_warnings_and_scores(a):
    flaky = FakeProvider("flaky", script=[ContentPolicyError("refused")], price_per_image=None)
    cmp = compare("a fox", providers=[a, flaky], seeds=[1, 2], size="64x64",
                  scorer=lambda images, prompt: [42.5] * len(images))
    page = cmp.to_html()
    assert "ContentPolicyError: refused" in page and "cost: " in page and "score 42.50" in page


def test_save_writes_grid_report_json_and_images_with_metadata(tmp_path, a, b):
    cmp = compare("a fox", providers=[a, b], seeds=[5, 6], size="64x64")
    paths = cmp.save(tmp_path / "ab")
    assert len(paths["images"]) == 4
    meta = read_metadata(paths["images"][0])
    assert (meta.prompt, meta.seed, meta.spec) == ("a fox", 5, "fake:a")
    summary = json.loads(Path(paths["json"]).read_text())
    assert summary["providers"] == ["fake:a", "other:b"] and len(summary["cells"]) == 4
    assert Path(paths["report"]).read_text().startswith("<!doctype html>")
    from PIL import Image

    assert Image.open(paths["grid"]).size[0] > 0
