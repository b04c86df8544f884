"""The ``imagegen`` command line, run in-process through ``main(argv)`` with FakeProviders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import imagegen
from imagegen.cli import main, provider_matrix
from imagegen.errors import ContentPolicyError, ProviderUnavailable
from imagegen.metadata import read_metadata
from imagegen.testing import FakeProvider, fake_color

imagegen.register_provider("clibroken", lambda model="x": FakeProvider(model, name="clibroken",
                                                                        script=[ContentPolicyError("refused")] * 50))
imagegen.register_provider("clidown", lambda model="x": FakeProvider(model, name="clidown",
                                                                      script=[ProviderUnavailable("no GPU")] * 50))
imagegen.register_provider("clipricey", lambda model="gold": FakeProvider(model, name="clipricey",
                                                                           price_per_image=1.0))


@pytest.fixture(autouse=True)
def ledger(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "ledger.sqlite"
    monkeypatch.setenv("IMAGEGEN_LEDGER", str(path))
    monkeypatch.setenv("COLUMNS", "200")
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def generate_json(capsys, *argv: str) -> dict:
    code, out, err = run(capsys, "generate", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_generate_saves_pngs_with_metadata_and_reports_them(capsys, tmp_path):
    result = generate_json(capsys, "a red fox", "-p", "fake:fake-1", "--size", "64x64", "-n", "2", "--seed", "7",
                           "--steps", "12", "--negative", "blurry", "-o", tmp_path / "out")
    assert [Path(f).name for f in result["files"]] == ["a-red-fox-7.png", "a-red-fox-8.png"]
    meta = read_metadata(result["files"][1])
    assert (meta.prompt, meta.seed, meta.spec, meta.negative_prompt) == ("a red fox", 8, "fake:fake-1", "blurry")
    assert meta.params["steps"] == 12
    assert Image.open(result["files"][0]).getpixel((0, 0)) == fake_color("a red fox", 7)


def test_generate_prints_a_summary_table(capsys, tmp_path):
    code, out, _ = run(capsys, "generate", "a red fox", "-p", "fake", "--size", "64x64", "--seed", "3",
                       "-o", tmp_path)
    assert code == 0
    for column in ("file", "seed", "size", "provider", "cost", "time"):
        assert column in out
    assert "a-red-fox-3.png" in out and "fake:fake-1" in out and "$0.0000" in out


def test_existing_files_are_never_overwritten(capsys, tmp_path):
    first = generate_json(capsys, "a fox", "-p", "fake", "--size", "64x64", "--seed", "1", "-o", tmp_path)
    second = generate_json(capsys, "a fox", "-p", "fake", "--size", "64x64", "--seed", "1", "-o", tmp_path)
    assert Path(first["files"][0]).name == "a-fox-1.png" and Path(second["files"][0]).name == "a-fox-1-1.png"


def test_repeated_provider_is_a_fallback_chain(capsys, tmp_path):
    result = generate_json(capsys, "a fox", "-p", "clidown", "-p", "fake", "--size", "64x64", "-o", tmp_path)
    assert result["provider"] == "fake"
    assert any(w.startswith("fallback:") for w in result["warnings"])


def test_lora_and_options_reach_the_provider(capsys, tmp_path):
    result = generate_json(capsys, "a fox", "-p", "fake", "--size", "64x64", "--lora", "style.safetensors:0.7",
                           "--option", "background=\"transparent\"", "--option", "tiles=2", "-o", tmp_path)
    params = read_metadata(result["files"][0]).params
    assert params["loras"] == [{"path": "style.safetensors", "scale": 0.7}]
    assert params["provider_options"] == {"background": "transparent", "tiles": 2}


@pytest.mark.parametrize(("argv", "needle"), [
    (["generate", "a fox", "-p", "fake", "--steps", "0"], "--steps:"),
    (["generate", "a fox", "-p", "fake", "--steps", "abc"], "'--steps'"),
    (["generate", "a fox", "-p", "fake", "--size", "12"], "--size:"),
    (["generate", "a fox", "-p", "fake", "--negative", "x", "--strength", "0.5"], "--strength:"),
    (["generate", "a fox", "-p", "fake", "--bogus"], "--bogus"),
    (["generate", "a fox", "-p", "fake", "--option", "novalue"], "--option:"),
    (["generate", "a fox", "-p", "fake", "--select", "1"], "--select:"),
    (["generate", "a fox", "-p", "fake", "--image", "/nonexistent/in.png"], "--image:"),
    (["generate"], "PROMPT"),
    (["compare", "a fox", "-p", "fake", "--seeds", "1,x"], "--seeds:"),
    (["compare", "a fox"], "--provider:"),
    (["info", "/nonexistent.png"], "IMAGE:"),
    (["nonsense"], "nonsense"),
])
def test_bad_input_exits_2_with_one_line_naming_the_option(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]
    assert "Traceback" not in err + out


def test_provider_failure_exits_3(capsys, tmp_path):
    code, _, err = run(capsys, "generate", "a fox", "-p", "clibroken", "-o", tmp_path)
    assert code == 3 and err.startswith("provider failed:") and "refused" in err
    assert len(err.strip().splitlines()) == 1


def test_an_uninstalled_provider_exits_3_and_says_what_is_installed(capsys):
    code, _, err = run(capsys, "generate", "a fox", "-p", "nosuchprovider:x")
    assert code == 3 and "no provider named 'nosuchprovider'" in err


def test_budget_refusal_exits_4_before_spending(capsys, tmp_path, ledger):
    code, _, err = run(capsys, "generate", "a fox", "-p", "clipricey", "--budget", "0.5", "-o", tmp_path / "o")
    assert code == 4 and err.startswith("budget:")
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_replay_reproduces_the_image_bit_for_bit(capsys, tmp_path):
    first = generate_json(capsys, "a lighthouse, in a storm", "-p", "fake", "--size", "96x64", "--seed", "41",
                          "--steps", "9", "-o", tmp_path / "a")
    again = generate_json(capsys, "--replay", first["files"][0], "-o", tmp_path / "b")
    assert again["replay_identical"] == [True]
    assert again["prompt"] == "a lighthouse, in a storm" and again["images"][0]["seed"] == 41
    assert again["params"]["steps"] == 9 and again["params"]["size"] == "96x64"
    a, b = Image.open(first["files"][0]), Image.open(again["files"][0])
    assert a.tobytes() == b.tobytes()


def test_replay_options_on_the_command_line_win(capsys, tmp_path):
    first = generate_json(capsys, "a fox", "-p", "fake", "--size", "64x64", "--seed", "5", "-o", tmp_path / "a")
    again = generate_json(capsys, "--replay", first["files"][0], "--seed", "6", "-o", tmp_path / "b")
    assert again["images"][0]["seed"] == 6 and again["replay_identical"] == [False]


def test_replay_of_an_image_without_metadata_exits_2(capsys, tmp_path):
    bare = tmp_path / "bare.png"
    Image.new("RGB", (8, 8)).save(bare)
    code, _, err = run(capsys, "generate", "--replay", bare)
    assert code == 2 and "--replay:" in err and "carries no metadata imagegen can read" in err


def test_info_reads_back_the_metadata(capsys, tmp_path):
    made = generate_json(capsys, "a fox, in snow\nsecond line", "-p", "fake", "--size", "64x64", "--seed", "2",
                         "--negative", "blurry", "-o", tmp_path)
    code, out, _ = run(capsys, "info", made["files"][0], "--json")
    meta = json.loads(out)
    assert code == 0 and meta["prompt"] == "a fox, in snow\nsecond line" and meta["seed"] == 2
    assert meta["negative_prompt"] == "blurry" and meta["source"] == "imagegen"
    code, out, _ = run(capsys, "info", made["files"][0])
    assert code == 0 and "fake-1" in out and "blurry" in out


def test_compare_writes_grid_report_and_json(capsys, tmp_path):
    code, out, _ = run(capsys, "compare", "a lighthouse in a storm", "-p", "fake:a", "-p", "fake:b",
                       "--seeds", "1,2", "--size", "64x64", "-o", tmp_path / "ab")
    assert code == 0
    summary = json.loads((tmp_path / "ab" / "comparison.json").read_text())
    assert summary["providers"] == ["fake:a", "fake:b"] and summary["seeds"] == [1, 2]
    assert len(list((tmp_path / "ab" / "images").iterdir())) == 4
    assert Image.open(tmp_path / "ab" / "grid.png").size[0] > 0
    assert (tmp_path / "ab" / "report.html").read_text().count("data:image/png;base64,") == 4
    assert "fake:a" in out and "report:" in out


def test_compare_with_a_failing_provider_still_succeeds_and_warns(capsys, tmp_path):
    code, _, err = run(capsys, "compare", "a fox", "-p", "fake", "-p", "clibroken", "--size", "64x64",
                       "-o", tmp_path / "ab")
    assert code == 0 and "clibroken:x seed 1: ContentPolicyError" in err


def test_compare_where_everything_fails_exits_3(capsys, tmp_path):
    code, _, _ = run(capsys, "compare", "a fox", "-p", "clibroken", "-o", tmp_path / "ab")
    assert code == 3


def test_costs_summarises_the_ledger_and_exports_csv(capsys, tmp_path):
    generate_json(capsys, "a fox", "-p", "clipricey", "-n", "2", "--size", "64x64", "-o", tmp_path)
    code, out, _ = run(capsys, "costs", "--by", "provider,model", "--csv", tmp_path / "costs.csv")
    assert code == 0 and "clipricey\tgold\t1\t1\t0\t2\t$2.0000\t" in out.splitlines()
    assert out.splitlines()[-1].split("\t") == ["total", "", "1", "1", "0", "2", "$2.0000", ""]
    assert "clipricey" in (tmp_path / "costs.csv").read_text()


def test_costs_without_a_ledger_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "costs", "--ledger", tmp_path / "missing.sqlite")
    assert code == 2 and "--ledger:" in err


def test_no_ledger_writes_no_file(capsys, tmp_path, ledger):
    generate_json(capsys, "a fox", "-p", "fake", "--size", "64x64", "--no-ledger", "-o", tmp_path / "o")
    assert not ledger.exists()


def test_provider_matrix_lists_capabilities_and_midjourney(capsys):
    table = provider_matrix(["fake:fake-1", "clibroken:x"])
    header, rule, *rows = table.splitlines()
    assert rule.count("---") == header.count("|") - 1
    assert header.startswith("| provider | model | sizes | images/call | txt2img |")
    assert rows[0].startswith("| fake | fake-1 |") and "✓" in rows[0]
    assert rows[-1].startswith("| midjourney |") and "no official API" in rows[-1]
    assert all(row.count("|") == header.count("|") for row in rows)
    code, out, _ = run(capsys, "providers", "--markdown", "--spec", "fake:fake-1")
    assert code == 0 and "| fake | fake-1 |" in out and "midjourney" in out


def test_providers_lists_what_is_installed(capsys):
    code, out, err = run(capsys, "providers")
    assert code == 0 and "fake" in out and "txt2img" in out and "midjourney" in err


def test_console_script_errors_are_one_line_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import sys; from imagegen.cli import main; sys.exit(main())",
                           "generate", "a fox", "--steps", "many"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "IMAGEGEN_LEDGER": str(tmp_path / "l.sqlite")})
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr and "--steps" in proc.stderr
