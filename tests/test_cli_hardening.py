"""The CLI never shows a traceback: every error is one line on stderr with a documented exit code, output
folders and ledgers are checked before anything is generated (and paid for), and ``--replay`` never loads a
model path an image names without the user's say-so."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import struct
import subprocess
import sys
import textwrap
import zlib

import pytest
from PIL import Image

from imagegen import Capabilities
from imagegen.cli import EXIT_BAD_INPUT, EXIT_BUDGET, EXIT_INTERNAL, main
from imagegen.metadata import with_png_text
from imagegen.testing import FakeProvider, registered_provider

CAPS = Capabilities(default_size=(64, 64), max_images_per_call=2, operations=frozenset({"txt2img", "img2img"}))


@pytest.fixture
def fake(monkeypatch, tmp_path):
    monkeypatch.setenv("IMAGEGEN_LEDGER", str(tmp_path / "default-ledger.sqlite"))
    made: list[FakeProvider] = []

    def factory(model: str = "cli", **options: object) -> FakeProvider:
        made.append(FakeProvider(model, capabilities=CAPS, price_per_image=0.0))
        return made[-1]

    with registered_provider("fake", factory):
        yield made


@pytest.fixture
def run(capsys):
    def call(*argv: object) -> tuple[int, str]:
        code = main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return code, err

    return call


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def png_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))


def png_with_entry(entry: dict) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, format="PNG")
    return with_png_text(buf.getvalue(), {"imagegen": json.dumps(entry)})


def made_nothing(fake: list[FakeProvider]) -> bool:
    return all(p.calls == [] for p in fake)


def test_a_size_of_800_digits_is_one_line_exit_2(fake, run, tmp_path):
    code, err = run("generate", "x", "-p", "fake", "--size", "1" * 400 + ":" + "1" * 400, "-o", tmp_path)
    assert code == EXIT_BAD_INPUT and one_line(err).startswith("error: --size:") and made_nothing(fake)


def test_an_image_claiming_a_huge_size_is_one_line_exit_2(fake, run, tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_claiming(100_000, 100_000))
    code, err = run("generate", "x", "-p", "fake", "--image", tmp_path / "bomb.png", "-o", tmp_path)
    assert code == EXIT_BAD_INPUT and one_line(err).startswith("error: --image:") and made_nothing(fake)


@pytest.mark.parametrize("kind", ["folder", "text file"])
def test_a_ledger_that_is_not_one_is_refused_before_anything_is_made(kind, fake, run, tmp_path):
    ledger = tmp_path / "ledger"
    ledger.mkdir() if kind == "folder" else ledger.write_text("my notes\n" * 100)
    code, err = run("generate", "x", "-p", "fake", "--ledger", ledger, "-o", tmp_path / "out")
    assert code == EXIT_BAD_INPUT and one_line(err).startswith("error: --ledger:") and made_nothing(fake)


def _real_ledger(path, fake, run, tmp_path) -> None:
    code, _ = run("generate", "x", "-p", "fake", "--ledger", path, "-o", tmp_path / "out")
    assert code == 0


def corrupt(path) -> None:
    data = bytearray(path.read_bytes())
    data[100:4096] = os.urandom(3996)
    path.write_bytes(bytes(data))


def truncated(path) -> None:
    path.write_bytes(path.read_bytes()[:1500])


def wrong_schema(path) -> None:
    path.unlink()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE attempts (anything TEXT)")
        conn.execute("PRAGMA user_version = 2")


def garbage(path) -> None:
    path.write_bytes(os.urandom(8192))


@pytest.mark.parametrize("damage", [corrupt, truncated, wrong_schema, garbage])
def test_costs_on_a_damaged_ledger_is_one_line_exit_2(damage, fake, run, tmp_path):
    path = tmp_path / "ledger.sqlite"
    _real_ledger(path, fake, run, tmp_path)
    for extra in ("-wal", "-shm"):
        (tmp_path / f"ledger.sqlite{extra}").unlink(missing_ok=True)
    damage(path)
    code, err = run("costs", "--ledger", path)
    assert code == EXIT_BAD_INPUT and one_line(err).startswith("error: --ledger:")


def test_costs_on_a_ledger_with_seeds_no_imagegen_wrote_is_one_line_exit_2(fake, run, tmp_path):
    path = tmp_path / "ledger.sqlite"
    _real_ledger(path, fake, run, tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE attempts SET seeds = 'not json'")
    code, err = run("costs", "--ledger", path, "--csv", tmp_path / "out.csv")
    assert code == EXIT_BAD_INPUT and "--ledger" in err


def test_replay_of_an_entry_with_a_number_for_a_prompt_is_one_line_exit_2(fake, run, tmp_path):
    (tmp_path / "five.png").write_bytes(png_with_entry({"prompt": 5, "provider": "fake", "model": "cli"}))
    code, err = run("generate", "--replay", tmp_path / "five.png", "-o", tmp_path / "out")
    assert code == EXIT_BAD_INPUT and one_line(err).startswith("error: --replay:") and made_nothing(fake)


@pytest.mark.parametrize("entry", [{"prompt": ["a", "fox"], "params": "nope"}, {"prompt": "a fox", "seed": "7",
                                                                                "params": {"steps": "many"}}])
def test_replay_of_an_entry_with_wrong_types_never_crashes(entry, fake, run, tmp_path):
    (tmp_path / "odd.png").write_bytes(png_with_entry({"provider": "fake", "model": "cli", **entry}))
    code, err = run("generate", "--replay", tmp_path / "odd.png", "-o", tmp_path / "out")
    assert code == 0 or (code == EXIT_BAD_INPUT and one_line(err).startswith("error: "))
    code, _ = run("info", tmp_path / "odd.png")
    assert code == 0


def test_an_output_path_that_is_a_file_is_refused_before_anything_is_made(fake, run, tmp_path):
    (tmp_path / "taken.txt").write_text("x")
    code, err = run("generate", "x", "-p", "fake", "-o", tmp_path / "taken.txt")
    assert code == EXIT_BAD_INPUT and one_line(err).startswith("error: -o:") and made_nothing(fake)


def test_an_output_folder_that_cannot_be_made_is_refused_before_anything_is_made(fake, run, tmp_path):
    (tmp_path / "taken.txt").write_text("x")
    code, err = run("generate", "x", "-p", "fake", "-o", tmp_path / "taken.txt" / "images")
    assert code == EXIT_BAD_INPUT and "cannot write images into" in one_line(err) and made_nothing(fake)


@pytest.mark.parametrize("command", [["compare", "x", "-p", "fake"], ["batch", "ITEMS"]])
def test_compare_and_batch_check_their_output_folder_first(command, fake, run, tmp_path):
    (tmp_path / "items.jsonl").write_text('{"prompt": "a fox"}\n')
    (tmp_path / "taken.txt").write_text("x")
    argv = [str(tmp_path / "items.jsonl") if a == "ITEMS" else a for a in command]
    code, err = run(*argv, "-o", tmp_path / "taken.txt", "--no-ledger")
    assert code == EXIT_BAD_INPUT and "-o:" in err and made_nothing(fake)


def evil_png(tmp_path, model: str):
    path = tmp_path / "made-elsewhere.png"
    path.write_bytes(png_with_entry({"prompt": "a fox", "provider": "fake", "model": model, "params": {"seed": 1}}))
    return path


def test_replay_shows_a_model_path_the_image_names_and_asks_for_trust(fake, run, tmp_path):
    model = str(tmp_path / "models" / "evil.safetensors")
    code, err = run("generate", "--replay", evil_png(tmp_path, model), "-o", tmp_path / "out")
    line = one_line(err)
    assert code == EXIT_BAD_INPUT and model in line and "--trust-model" in line and fake == []  # nothing built


def test_replay_loads_the_named_path_with_trust_model(fake, run, tmp_path):
    model = str(tmp_path / "models" / "evil.safetensors")
    code, _ = run("generate", "--replay", evil_png(tmp_path, model), "--trust-model", "-o", tmp_path / "out")
    assert code == 0 and [p.model for p in fake] == [model]


def test_replay_loads_a_path_inside_a_model_dir_the_user_gave(fake, run, tmp_path):
    (tmp_path / "models").mkdir()
    model = str(tmp_path / "models" / "mine.safetensors")
    code, _ = run("generate", "--replay", evil_png(tmp_path, model), "--model-dir", tmp_path / "models",
                  "-o", tmp_path / "out")
    assert code == 0 and [p.model for p in fake] == [model]


def test_replay_of_a_named_cloud_or_hub_model_needs_no_trust(fake, run, tmp_path):
    code, _ = run("generate", "--replay", evil_png(tmp_path, "cli"), "-o", tmp_path / "out")
    assert code == 0


BROKEN = textwrap.dedent("""
    import sys
    import imagegen
    from imagegen.cli import main
    from imagegen.testing import FakeProvider

    class Broken(FakeProvider):
        def capabilities(self):
            raise ZeroDivisionError("a provider bug")

    imagegen.register_provider("broken", lambda model="x": Broken(model, name="broken"))
    sys.exit(main(sys.argv[1:]))
""")


def test_an_unexpected_error_is_one_line_and_exit_70_in_the_console(tmp_path):
    env = {**os.environ, "IMAGEGEN_LEDGER": str(tmp_path / "l.sqlite")}
    env.pop("IMAGEGEN_DEBUG", None)
    proc = subprocess.run([sys.executable, "-c", BROKEN, "generate", "x", "-p", "broken", "-o", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == EXIT_INTERNAL == 70
    assert "Traceback" not in proc.stderr
    assert one_line(proc.stderr).startswith("error: internal error: ZeroDivisionError: a provider bug")


def test_imagegen_debug_shows_the_traceback_of_an_unexpected_error(tmp_path):
    env = {**os.environ, "IMAGEGEN_LEDGER": str(tmp_path / "l.sqlite"), "IMAGEGEN_DEBUG": "1"}
    proc = subprocess.run([sys.executable, "-c", BROKEN, "generate", "x", "-p", "broken", "-o", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "ZeroDivisionError" in proc.stderr


def test_the_cli_refuses_an_unbounded_cloud_call_under_budget_before_anything_is_sent(run, monkeypatch, tmp_path):
    pytest.importorskip("imagegen_openai")
    from imagegen.testing import ScriptedServer

    with ScriptedServer(base_path="/v1") as api:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-cli-0123456789abcdef")
        monkeypatch.setenv("OPENAI_BASE_URL", api.url)
        code, err = run("generate", "a fox", "-p", "openai:gpt-image-2", "--size", "1280x720", "--budget", "0.50",
                        "-n", "20", "--ledger", tmp_path / "l.sqlite", "-o", tmp_path / "out")
        assert code == EXIT_BUDGET and api.count == 0  # no table price at 1280x720: the cost cannot be bounded
    assert one_line(err).startswith("budget:") and "unknown_cost" in err
