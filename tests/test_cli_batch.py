"""`imagegen batch FILE --out DIR`: a bad line fails before anything runs, reruns skip what is there, the budget
exits 4 with the refused items listed, and `--ray` runs the same file on a local Ray instance."""

from __future__ import annotations

import json
import os

import pytest

import imagegen
from imagegen.cli import main
from imagegen.testing import FakeProvider

LOG = "IMAGEGEN_TEST_BATCH_LOG"


def _logged(model: str = "m") -> FakeProvider:
    return FakeProvider(model, name="clibatchlog", price_per_image=0.04, log=os.environ[LOG])


imagegen.register_provider("clibatchlog", _logged)


@pytest.fixture
def log(tmp_path, monkeypatch):
    path = tmp_path / "calls.jsonl"
    monkeypatch.setenv(LOG, str(path))
    return path


def started(path) -> list[str]:
    if not path.exists():
        return []
    return [e["prompt"] for e in map(json.loads, path.read_text().splitlines()) if e["event"] == "start"]


def batch(capsys, *argv) -> tuple[int, str, str]:
    code = main(["batch", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def items_file(tmp_path, count: int = 3):
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"item {i}", "seed": i}) + "\n" for i in range(count)))
    return path


def pngs(directory) -> list[str]:
    return sorted(f for f in os.listdir(directory) if f.endswith(".png"))


def test_a_batch_makes_every_item_and_says_what_it_did(capsys, tmp_path, log):
    code, out, _ = batch(capsys, items_file(tmp_path), "-o", tmp_path / "out", "-p", "clibatchlog")
    assert code == 0 and len(pngs(tmp_path / "out")) == 3
    assert "3 items: 3 made (3 images), 0 already there, 0 failed; $0.1200 spent" in out
    assert (tmp_path / "out" / "ledger.sqlite").exists()  # the batch's own ledger, by default


def test_a_bad_line_exits_2_naming_it_before_anything_runs(capsys, tmp_path, log):
    path = tmp_path / "items.jsonl"
    path.write_text('{"prompt": "a"}\n{"prompt": "b", "steps": 0}\n')
    code, _, err = batch(capsys, path, "-o", tmp_path / "out", "-p", "clibatchlog")
    assert code == 2 and "line 2: steps:" in err and str(path) in err
    assert len(err.strip().splitlines()) == 1
    assert started(log) == [] and not (tmp_path / "out").exists()


def test_a_rerun_makes_only_the_missing_items(capsys, tmp_path, log):
    path, out = items_file(tmp_path), tmp_path / "out"
    batch(capsys, path, "-o", out, "-p", "clibatchlog")
    os.remove(out / pngs(out)[1])
    code, text, _ = batch(capsys, path, "-o", out, "-p", "clibatchlog")
    assert code == 0 and started(log) == ["item 0", "item 1", "item 2", "item 1"]
    assert "1 made (1 images), 2 already there" in text


def test_a_budget_that_runs_out_exits_4_and_lists_the_refused_items(capsys, tmp_path, log):
    code, out, _ = batch(capsys, items_file(tmp_path, 5), "-o", tmp_path / "out", "-p", "clibatchlog",
                         "--budget-usd", "0.1", "--concurrency", "1")
    assert code == 4 and len(pngs(tmp_path / "out")) == 2
    refused = [line for line in out.splitlines() if line.startswith("line ")]
    assert [line.split("\t")[0] for line in refused] == ["line 3", "line 4", "line 5"]
    assert all("budget" in line for line in refused)


def test_json_lists_every_item_with_where_it_came_from(capsys, tmp_path, log):
    code, out, _ = batch(capsys, items_file(tmp_path, 2), "-o", tmp_path / "out", "-p", "clibatchlog", "--json")
    payload = json.loads(out)
    assert code == 0 and [i["where"] for i in payload["items"]] == ["line 1", "line 2"]
    assert payload["items"][0]["paths"][0].endswith("-0.png") and payload["made"] == 2


@pytest.mark.parametrize("option", [["--workers", "2"], ["--gpus-per-worker", "1"], ["--cpus-per-worker", "2"]])
def test_worker_options_without_ray_exit_2_naming_them(capsys, tmp_path, log, option):
    code, _, err = batch(capsys, items_file(tmp_path), "-o", tmp_path / "out", "-p", "clibatchlog", *option)
    assert code == 2 and err.startswith(f"error: {option[0]}: sizes the Ray workers; add --ray")


def test_ray_runs_the_same_file_on_ray(capsys, tmp_path, ray_local):
    code, out, _ = batch(capsys, items_file(tmp_path, 4), "-o", tmp_path / "out", "-p", "fake", "--ray",
                         "--no-ledger", "--concurrency", "2")
    assert code == 0 and len(pngs(tmp_path / "out")) == 4
    assert "4 items: 4 made (4 images)" in out
