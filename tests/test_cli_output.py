"""What the command prints for people (an 80-column terminal) and for pipes (TSV), and its progress phases."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

import imagegen
from imagegen import cli
from imagegen._output import write_rows
from imagegen._progress import Display, describe
from imagegen.errors import TransientError
from imagegen.provider import Capabilities, ProgressEvent
from imagegen.result import Attempt, GeneratedImage, GenerationResult
from imagegen.testing import FakeProvider

LONG = "a-provider-with-a-rather-long-name"
ONE_PER_CALL = Capabilities(sizes=None, multiple_of=8, min_side=64, max_side=512, default_size=(64, 64),
                            max_images_per_call=1)
imagegen.register_provider(LONG, lambda model="a-model-name-that-is-long-too": FakeProvider(model, name=LONG))
imagegen.register_provider("clionecall", lambda model="m": FakeProvider(model, name="clionecall",
                                                                         capabilities=ONE_PER_CALL))
imagegen.register_provider("cliflaky", lambda model="m": FakeProvider(model, name="cliflaky",
                                                                       script=[TransientError("503 busy")]))


@pytest.fixture(autouse=True)
def _ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_LEDGER", str(tmp_path / "ledger.sqlite"))


@pytest.fixture
def terminal(monkeypatch) -> io.StringIO:
    """stdout as an 80-column terminal."""
    buffer = io.StringIO()
    monkeypatch.setattr(cli, "out", Console(file=buffer, force_terminal=True, width=80, color_system=None,
                                            highlight=False))
    return buffer


def run(capsys, *argv: object) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def table_cells(rendered: str, key: str | None) -> list[dict[str, str]]:
    """The rows of a rendered table, each cell's folded pieces joined again (columns found from the header).
    A row starts on the line where column ``key`` (one too short to fold) has text; ``None``: one row."""
    lines = [line for line in rendered.splitlines() if line.strip()]
    header = lines[0]
    names = header.split()
    starts = [header.index(f" {name} ") + 1 if f" {name} " in header else header.index(name) for name in names]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    rows: list[dict[str, str]] = []
    for line in lines[1:]:
        if set(line.strip()) <= {"─", "━", " "}:
            continue
        pieces = [line[a:b].strip() if b is not None else line[a:].strip() for a, b in bounds]
        if not rows or (key is not None and pieces[names.index(key)]):
            rows.append(dict.fromkeys(names, ""))
        for name, piece in zip(names, pieces, strict=True):
            rows[-1][name] += piece
    return rows


def test_generate_piped_prints_tsv_with_every_path_whole(capsys, tmp_path):
    out_dir = tmp_path / "a-folder-whose-name-is-long-enough-to-be-cut"
    code, out, _ = run(capsys, "generate", "a red circle on a blue background", "-p", LONG, "-n", "4",
                       "--seed", "1", "--size", "64x64", "-o", out_dir)
    header, *rows = [line.split("\t") for line in out.splitlines()]
    assert code == 0 and header == ["file", "seed", "size", "provider", "cost", "time"] and len(rows) == 4
    assert all(Path(row[0]).is_file() and row[0].startswith(str(out_dir)) for row in rows)
    assert {row[3] for row in rows} == {f"{LONG}:a-model-name-that-is-long-too"}


def test_generate_in_an_80_column_terminal_folds_paths_and_specs_instead_of_cutting(capsys, tmp_path, terminal):
    out_dir = tmp_path / "a-folder-whose-name-is-long-enough-to-be-cut"
    code, _, _ = run(capsys, "generate", "a red circle on a blue background", "-p", LONG, "-n", "4",
                     "--seed", "1", "--size", "64x64", "-o", out_dir)
    rendered = terminal.getvalue()
    assert code == 0 and "…" not in rendered and max(len(line) for line in rendered.splitlines()) <= 80
    table, _, caption = rendered.partition("4 images from ")
    rows = table_cells(table, "seed")
    assert [Path(r["file"]).name for r in rows] == [f"a-red-circle-on-a-blue-background-{s}.png" for s in (1, 2, 3, 4)]
    assert all(Path(r["file"]).is_file() for r in rows)
    assert "provider" not in rows[0]  # the same on every row: the caption names it, whole
    assert " ".join(caption.split()).startswith(f"{LONG}:a-model-name-that-is-long-too in ")


def test_costs_piped_prints_every_column_whole(capsys, tmp_path):
    run(capsys, "generate", "a fox", "-p", LONG, "--size", "64x64", "-o", tmp_path)
    code, out, _ = run(capsys, "costs")
    header, row, total = [line.split("\t") for line in out.splitlines()]
    assert code == 0 and header[:3] == ["provider", "model", "day"]
    assert row[:2] == [LONG, "a-model-name-that-is-long-too"] and len(row[2]) == len("2026-12-02")
    assert total[0] == "total"


def test_providers_in_an_80_column_terminal_cuts_nothing(capsys, terminal):
    code, _, _ = run(capsys, "providers", "--spec", f"{LONG}:a-model-name-that-is-long-too")
    rows = table_cells(terminal.getvalue(), None)
    assert code == 0 and "…" not in terminal.getvalue()
    assert rows[0]["provider"] == LONG and rows[0]["model"] == "a-model-name-that-is-long-too"
    assert rows[0]["from"].startswith("registered:")
    assert "seednegative_promptsteps" in rows[0]["parameters"]  # words wrap, none is cut


def test_compare_in_an_80_column_terminal_shows_specs_and_paths_whole(capsys, tmp_path, terminal):
    out_dir = tmp_path / "a-comparison-folder-with-a-long-name"
    code, _, _ = run(capsys, "compare", "a fox", "-p", f"{LONG}:a-model-name-that-is-long-too", "-p", "fake:b",
                     "--size", "64x64", "-o", out_dir)
    rendered = terminal.getvalue()
    table = rendered.partition("grid:")[0]
    assert code == 0 and "…" not in rendered
    assert [r["provider"] for r in table_cells(table, "images")] == [f"{LONG}:a-model-name-that-is-long-too", "fake:b"]
    assert f"report: {out_dir / 'report.html'}" in rendered and (out_dir / "grid.png").is_file()


def test_write_rows_keeps_tsv_rows_on_one_line_each():
    buffer = io.StringIO()
    write_rows(Console(file=buffer, force_terminal=False), ["a", "b"], [["x\ty", "two\nlines"], [None, 3]])
    assert buffer.getvalue() == "a\tb\nx y\ttwo lines\n\t3\n"


def test_each_image_shows_the_time_and_cost_of_the_call_that_made_it(tmp_path):
    images = [GeneratedImage(data=b"", mime="image/png", width=8, height=8, seed=s) for s in (5, 6, 7)]
    attempts = [Attempt("p", "m", "ok", latency_s=8.0, n=1, index=0, seeds=(5,), cost_usd=0.04),  # cold: load
                Attempt("p", "m", "ok", latency_s=1.0, n=2, index=1, seeds=(6, 7), cost_usd=0.08)]
    result = GenerationResult(images=images, provider="p", model="m", prompt="x", attempts=attempts)
    rows = cli.image_rows(result, ["a.png", "b.png", "c.png"])
    assert [(r[1], r[4], r[5]) for r in rows] == [("5", "$0.0400", "8.00s"), ("6", "$0.0400", "0.50s"),
                                                  ("7", "$0.0400", "0.50s")]


def test_progress_on_when_piped_prints_one_line_per_phase(capsys, tmp_path):
    code, _, err = run(capsys, "generate", "a fox", "-p", "fake", "--size", "64x64", "--progress", "on",
                       "-o", tmp_path)
    assert code == 0
    assert err.splitlines()[:3] == ["importing imagegen.testing", "waiting for fake:fake-1", "saving 1 image"]


def test_progress_auto_is_quiet_when_stderr_is_not_a_terminal(capsys, tmp_path):
    code, _, err = run(capsys, "generate", "a fox", "-p", "fake", "--size", "64x64", "-o", tmp_path)
    assert code == 0 and "waiting for" not in err and "saving" not in err


def test_a_retry_names_what_it_waits_for(capsys, tmp_path):
    code, _, err = run(capsys, "generate", "a fox", "-p", "cliflaky", "--size", "64x64", "--progress", "on",
                       "-o", tmp_path)
    phases = err.splitlines()
    assert code == 0 and "waiting for cliflaky:m" in phases and "waiting for cliflaky:m (attempt 2)" in phases
    assert any(line.startswith("retrying cliflaky:m") for line in phases)


def test_progress_names_a_providers_own_phases_with_counts_only_where_known():
    display = Display(Console(file=io.StringIO()), enabled=False)
    for event in [ProgressEvent("attempt", 1, 0), ProgressEvent("import", 0, 0, detail="torch, diffusers"),
                  ProgressEvent("load", 0, 0, detail="diffusers:tiny"), ProgressEvent("denoise", 1, 3),
                  ProgressEvent("denoise", 2, 3)]:
        display.event(event, "diffusers:tiny")
    assert display.shown == ["waiting for diffusers:tiny", "importing torch, diffusers", "loading diffusers:tiny",
                             "denoising diffusers:tiny"]
    task = display._progress.tasks[0]
    assert (task.completed, task.total) == (2, 3)
    assert describe(ProgressEvent("upscale", 1, 2), "x:y") == "upscale x:y"


def test_bad_progress_mode_is_bad_input(capsys):
    code, _, err = run(capsys, "generate", "a fox", "-p", "fake", "--progress", "sometimes")
    assert code == 2 and err.startswith("error: --progress: expected one of auto, on, off")


def test_the_fallback_notice_is_printed_once(capsys, tmp_path):
    imagegen.register_provider("clidown2", lambda model="x": FakeProvider(
        model, name="clidown2", script=[imagegen.ProviderUnavailable("no GPU")] * 50))
    code, _, err = run(capsys, "generate", "a fox", "-p", "clidown2", "-p", "fake", "--size", "64x64", "-o", tmp_path)
    assert code == 0 and err.count("fallback:") == 1


def test_unsupported_error_refuses_without_saying_it_ignores(capsys, tmp_path):
    code, _, err = run(capsys, "generate", "a fox", "-p", "clionecall", "--size", "64x64", "--quality", "hd",
                       "--unsupported", "error", "-o", tmp_path)
    assert code == 2 and err.startswith("error:") and "--quality: " in err and "ignoring" not in err


def test_unsupported_warn_says_what_it_ignored(capsys, tmp_path):
    code, _, err = run(capsys, "generate", "a fox", "-p", "clionecall", "--size", "64x64", "--quality", "hd",
                       "--unsupported", "warn", "-o", tmp_path)
    assert code == 0 and "warning: quality: clionecall:m does not support quality; ignoring 'hd'" in err


def test_num_images_is_the_long_form_of_n(capsys, tmp_path):
    code, out, _ = run(capsys, "generate", "a fox", "-p", "fake", "--size", "64x64", "--num-images", "2",
                       "--json", "-o", tmp_path)
    assert code == 0 and len(json.loads(out)["files"]) == 2


def test_watched_provider_shows_each_attempt_and_forwards_the_providers_own_progress():
    class Stepper(FakeProvider):
        async def generate(self, req):
            response = await super().generate(req)  # raises first, as scripted
            for step in range(1, 4):
                req.progress(ProgressEvent("denoise", step, 3))
            return response

    display = Display(Console(file=io.StringIO()), enabled=False)
    client = imagegen.Client(display.watch(Stepper(script=[TransientError("busy"), None])),
                             retry=imagegen.RetryPolicy(attempts=2, initial=0))
    client.generate("a fox", size="64x64")
    assert display.shown == ["waiting for fake:fake-1", "waiting for fake:fake-1 (attempt 2)", "denoising fake:fake-1"]
    assert display._progress.tasks[0].completed == 3


def test_compare_exits_4_when_the_budget_refused_some_cells(capsys, tmp_path):
    imagegen.register_provider("clifourcents", lambda model="m": FakeProvider(model, name="clifourcents",
                                                                               price_per_image=0.04))
    code, _, err = run(capsys, "compare", "a fox", "-p", "clifourcents", "--seeds", "1,2,3", "--budget", "0.10",
                       "--size", "64x64", "-o", tmp_path / "ab")
    assert code == 4 and err.count("BudgetExceeded") == 1
    assert len(list((tmp_path / "ab" / "images").iterdir())) == 2
