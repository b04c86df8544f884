"""imagegen.batch in this process: items and batch files checked whole before anything runs, one ItemDone or
error per item in input order, files by the naming rule, reruns that make only what is missing, one budget."""

from __future__ import annotations

import json
import os

import pytest

import imagegen
from imagegen import BudgetExceeded, Capabilities, InvalidRequest, Ledger
from imagegen.batch import BadItems, Item, ItemDone, item_name, items_of, run
from imagegen.batchfile import read_items
from imagegen.params import build_params
from imagegen.testing import FakeProvider, fake_color

CAPS = Capabilities(default_size=(64, 64), max_images_per_call=1, supports=frozenset({"seed"}))


def fake(**kw) -> FakeProvider:
    return FakeProvider(capabilities=CAPS, **kw)


def pngs(directory) -> list[str]:
    return sorted(f for f in os.listdir(directory) if f.endswith(".png"))


def started(log) -> list[str]:
    if not os.path.exists(log):
        return []
    with open(log, encoding="utf-8") as fh:
        return [e["prompt"] for e in map(json.loads, fh) if e["event"] == "start"]


# -- items ---------------------------------------------------------------------------------------------

def test_an_item_takes_a_flat_record_of_prompt_provider_name_and_params():
    item = Item.of({"prompt": "a fox", "provider": "fake:x", "name": "fox", "seed": 3, "size": "16:9"})
    assert (item.prompt, item.provider, item.name, item.params.seed, str(item.params.size)) == (
        "a fox", ("fake:x",), "fox", 3, "16:9")


def test_an_item_provider_may_be_a_fallback_chain():
    assert Item(prompt="a", provider=["fake:a", "fake:b"]).provider == ("fake:a", "fake:b")


@pytest.mark.parametrize(("record", "field"), [
    ({"seed": 1}, "prompt"),
    ({"prompt": "  "}, "prompt"),
    ({"prompt": "a", "promt": "b"}, "promt"),
    ({"prompt": "a", "steps": 0}, "steps"),
    ({"prompt": "a", "name": "../up"}, "name"),
    ({"prompt": "a", "provider": ":nomodel"}, "provider"),
])
def test_a_bad_record_names_its_field(record, field):
    with pytest.raises(InvalidRequest) as info:
        Item.of(record)
    assert info.value.field == field and info.value.message.startswith(f"{field}:")


def test_every_bad_item_is_reported_at_once_with_where_it_is():
    with pytest.raises(BadItems) as info:
        items_of(["fine", {"prompt": "a", "steps": 0}, 7, {"prompt": "b"}, {"seed": 1}])
    assert [where for where, _ in info.value.problems] == ["item 2", "item 3", "item 5"]
    assert info.value.field == "items" and "item 2: steps:" in info.value.message


def test_two_items_cannot_share_a_name():
    with pytest.raises(BadItems, match=r"item 2: name: 'fox' is already the name of item 1"):
        items_of([{"prompt": "a", "name": "fox"}, {"prompt": "b", "name": "fox"}])


# -- batch files -----------------------------------------------------------------------------------------

def test_a_jsonl_file_reads_one_item_a_line_skipping_blank_lines(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"prompt": "a fox", "seed": 1}\n\n"a bare prompt"\n{"prompt": "x", "loras": ["a.safetensors"]}\n')
    read = read_items(path)
    assert [i.prompt for i in read.items] == ["a fox", "a bare prompt", "x"]
    assert read.where == ["line 1", "line 3", "line 4"]
    assert read.items[2].params.loras[0].path == "a.safetensors"


def test_a_csv_file_reads_numbers_json_cells_and_leaves_text_as_text(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text('prompt,seed,guidance,negative_prompt,provider,provider_options\n'
                    '"a fox, in snow",7,7.5,12,"[""fake:a"", ""fake:b""]","{""k"": 1}"\n'
                    'an owl,,,,,\n')
    first, second = read_items(path).items
    assert (first.prompt, first.params.seed, first.params.guidance, first.params.negative_prompt) == (
        "a fox, in snow", 7, 7.5, "12")
    assert first.provider == ("fake:a", "fake:b") and first.params.provider_options == {"k": 1}
    assert (second.prompt, second.params.seed, second.provider) == ("an owl", None, ())


def test_a_tsv_file_splits_on_tabs(tmp_path):
    path = tmp_path / "items.tsv"
    path.write_text("prompt\tsize\na fox, in snow\t16:9\n")
    assert str(read_items(path).items[0].params.size) == "16:9"


def test_every_bad_line_of_a_file_is_reported_with_its_number_and_field(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text('{"prompt": "ok"}\n{"prompt": "a", "steps": 0}\nnot json\n[1]\n{"prompt": "b", "sede": 1}\n')
    with pytest.raises(BadItems) as info:
        read_items(path)
    assert [w for w, _ in info.value.problems] == ["line 2", "line 3", "line 4", "line 5"]
    assert str(path) in info.value.message and "line 5: sede: unknown field" in info.value.message


def test_a_csv_row_with_more_cells_than_the_header_is_a_bad_line(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("prompt,seed\na,1,extra\n")
    with pytest.raises(BadItems, match="line 2: 3 cells but the header names 2 fields"):
        read_items(path)


def test_a_csv_file_needs_a_prompt_column(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("text,seed\na,1\n")
    with pytest.raises(BadItems, match="line 1: the header row must name a 'prompt' column"):
        read_items(path)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("items.txt", "a fox\n", "must end in one of .jsonl, .ndjson, .csv, .tsv"),
    ("items.jsonl", "\n\n", "has no items"),
])
def test_a_file_that_is_not_a_batch_is_refused_naming_it(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InvalidRequest, match=message):
        read_items(path)


def test_relative_image_paths_are_relative_to_the_batch_file(tmp_path, png):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(png)
    path = tmp_path / "items.jsonl"
    path.write_text('{"prompt": "a", "image": "in/a.png", "strength": 0.5}\n')
    assert read_items(path).items[0].params.image.width == 64


# -- running in this process -----------------------------------------------------------------------------

def test_run_returns_one_item_done_per_item_in_input_order_with_its_files(tmp_path):
    done = run([{"prompt": "a", "seed": 1, "n": 2}, "b"], out_dir=tmp_path, provider=fake())
    assert [type(d) for d in done] == [ItemDone, ItemDone]
    stem = item_name(0, "a", build_params(seed=1, n=2))
    assert done[0].paths == [str(tmp_path / f"{stem}-0.png"), str(tmp_path / f"{stem}-1.png")]
    assert (done[0].made, done[0].seeds, done[1].made) == (2, [1, 2], 1)
    with imagegen.GeneratedImage.from_bytes(open(done[0].paths[1], "rb").read()).to_pil() as im:
        assert im.getpixel((0, 0)) == fake_color("a", 2)


def test_an_item_goes_to_its_own_provider(tmp_path):
    imagegen.register_provider("batchother", lambda model="m": FakeProvider(model, name="batchother",
                                                                              capabilities=CAPS))
    done = run([{"prompt": "a", "provider": "batchother:m"}, "b"], out_dir=tmp_path, provider=fake())
    assert [(d.provider, d.model) for d in done] == [("batchother", "m"), ("fake", "fake-1")]


def test_an_item_naming_a_provider_that_is_not_installed_fails_before_anything_runs(tmp_path):
    log = tmp_path / "calls.jsonl"
    with pytest.raises(BadItems, match=r"item 2: provider: no provider named 'nosuch' is installed"):
        run(["a", {"prompt": "b", "provider": "nosuch:x"}], out_dir=tmp_path / "out", provider=fake(log=log))
    assert not log.exists() and not (tmp_path / "out").exists()


def test_a_rerun_skips_what_is_on_disk_and_makes_only_what_is_missing(tmp_path):
    items = [{"prompt": f"p{i}", "seed": i} for i in range(4)]
    first = run(items, out_dir=tmp_path, provider=fake())
    os.remove(first[2].paths[0])
    log = tmp_path / "calls.jsonl"
    again = run(items, out_dir=tmp_path, provider=fake(log=log))
    assert started(log) == ["p2"]
    assert [d.made for d in again] == [0, 0, 1, 0] and again[0].skipped
    assert again[0].warnings[0].startswith("skip_existing:")


def test_one_budget_holds_for_the_batch_and_refused_items_say_so(tmp_path):
    book = tmp_path / "ledger.sqlite"
    done = run([f"p{i}" for i in range(10)], out_dir=tmp_path, provider=fake(price_per_image=0.04), budget_usd=0.2,
               ledger=book, concurrency=4)
    assert sum(isinstance(d, ItemDone) for d in done) == 5
    assert sum(isinstance(d, BudgetExceeded) for d in done) == 5
    with Ledger(book) as ledger:
        assert ledger.spent() == pytest.approx(0.2)


def test_on_done_sees_every_item_once_as_it_finishes(tmp_path):
    seen: list[tuple[int, str]] = []
    run([f"p{i}" for i in range(5)], out_dir=tmp_path, provider=fake(),
        on_done=lambda i, d: seen.append((i, d.name)))
    assert sorted(i for i, _ in seen) == [0, 1, 2, 3, 4] and len(pngs(tmp_path)) == 5


def test_bad_batch_settings_fail_naming_the_setting(tmp_path):
    with pytest.raises(InvalidRequest, match="concurrency"):
        run(["a"], out_dir=tmp_path, provider=fake(), concurrency=0)
    with pytest.raises(InvalidRequest, match="budget_usd"):
        run(["a"], out_dir=tmp_path, provider=fake(), budget_usd=-1)
    assert pngs(tmp_path) == []
