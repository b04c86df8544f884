"""generate_many with out_dir: atomic saves, stable names, and reruns that never pay twice."""

from __future__ import annotations

import os

import pytest

from imagegen import Capabilities, Client, TransientError
from imagegen.batch import item_name
from imagegen.params import build_params
from imagegen.testing import FakeProvider, fake_color

CAPS = Capabilities(default_size=(64, 64), max_images_per_call=1, supports=frozenset({"seed"}))


def provider(**kw) -> FakeProvider:
    return FakeProvider(capabilities=CAPS, price_per_image=0.01, **kw)


def pngs(directory) -> list[str]:
    return sorted(f for f in os.listdir(directory) if f.endswith(".png"))


def test_images_are_saved_under_stable_names(tmp_path):
    items = Client(provider(), retry=False).generate_many(["a", "b"], n=2, seed=1, out_dir=tmp_path)
    stem = item_name(0, "a", build_params(n=2, seed=1))
    assert pngs(tmp_path) == sorted([f"{stem}-0.png", f"{stem}-1.png"] +
                                    [f"{item_name(1, 'b', build_params(seed=1))}-{k}.png" for k in (0, 1)])
    assert items[0].images[1].info["path"] == str(tmp_path / f"{stem}-1.png")
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".part")]


def test_names_can_be_given(tmp_path):
    Client(provider(), retry=False).generate_many(["a", "b"], names=["fox", "owl"], out_dir=tmp_path)
    assert pngs(tmp_path) == ["fox-0.png", "owl-0.png"]


def test_a_rerun_loads_from_disk_instead_of_paying_again(tmp_path):
    first = provider()
    Client(first, retry=False).generate_many(["a", "b"], seed=3, out_dir=tmp_path)
    again = provider()
    items = Client(again, retry=False).generate_many(["a", "b"], seed=3, out_dir=tmp_path)
    assert again.calls == []
    assert [(i.cost.usd, i.cost.source) for i in items] == [(0.0, "skipped")] * 2
    assert items[0].images[0].seed == 3 and items[0].images[0].to_pil().getpixel((0, 0)) == fake_color("a", 3)
    assert items[1].provider == "fake" and items[1].warnings[0].startswith("skip_existing:")


def test_skip_existing_false_generates_again(tmp_path):
    Client(provider(), retry=False).generate_many(["a"], out_dir=tmp_path)
    again = provider()
    Client(again, retry=False).generate_many(["a"], out_dir=tmp_path, skip_existing=False)
    assert len(again.calls) == 1


def test_only_missing_images_of_an_item_are_made_with_their_own_seeds(tmp_path):
    Client(provider(), retry=False).generate_many(["a"], n=4, seed=10, out_dir=tmp_path)
    stem = item_name(0, "a", build_params(n=4, seed=10))
    for k in (1, 3):
        os.remove(tmp_path / f"{stem}-{k}.png")
    again = provider()
    [item] = Client(again, retry=False).generate_many(["a"], n=4, seed=10, out_dir=tmp_path)
    assert [c.seeds for c in again.calls] == [(11,), (13,)]
    assert item.seeds == [10, 11, 12, 13] and item.cost.usd == pytest.approx(0.02)
    assert len(pngs(tmp_path)) == 4


def test_images_of_a_failed_item_are_still_saved(tmp_path):
    def handler(req):
        if req.index == 1:
            raise TransientError("503")
        return [FakeProvider()._paint(req, 0)]

    [item] = Client(provider(handler=handler), retry=False, partial="raise").generate_many(
        ["a"], n=2, seed=1, out_dir=tmp_path)
    assert isinstance(item, TransientError) and len(item.images) == 1
    assert len(pngs(tmp_path)) == 1


def test_best_of_n_batches_save_the_kept_images_and_rerun_for_free(tmp_path):
    first = provider()
    Client(first, retry=False).generate_many(["a"], n=4, select=2, scorer=lambda ims, p: [0, 3, 1, 2], seed=1,
                                             out_dir=tmp_path)
    assert len(pngs(tmp_path)) == 2 and len(first.calls) == 4
    again = provider()
    [item] = Client(again, retry=False).generate_many(["a"], n=4, select=2, scorer=lambda ims, p: [0, 3, 1, 2],
                                                      seed=1, out_dir=tmp_path)
    assert again.calls == [] and item.seeds == [2, 4]
