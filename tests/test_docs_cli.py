"""docs/cli.md is the CLI as it is: every command has its section naming every option (and no option the
command lacks), and each row of the exit-code table is one case run here."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from PIL import Image

import imagegen
from imagegen.cli import app, main
from imagegen.errors import ContentPolicyError
from imagegen.provider import Capabilities, LiveModel, ModelInfo
from imagegen.testing import FakeProvider

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
ONE_PER_CALL = Capabilities(sizes=None, multiple_of=8, min_side=64, max_side=512, default_size=(64, 64),
                            max_images_per_call=1)

imagegen.register_provider("docsrefuses", lambda model="x": FakeProvider(
    model, name="docsrefuses", script=[ContentPolicyError("refused")] * 50))
imagegen.register_provider("docspricey", lambda model="x": FakeProvider(model, name="docspricey",
                                                                         price_per_image=1.0))
imagegen.register_provider("docsfour", lambda model="x": FakeProvider(  # 4 cents an image, one per call
    model, name="docsfour", price_per_image=0.04, capabilities=ONE_PER_CALL))
imagegen.register_provider("docshalf", lambda model="x": FakeProvider(  # the second of two calls is refused
    model, name="docshalf", capabilities=ONE_PER_CALL, handler=_second_call_refused()))


class _StaleCatalog(FakeProvider):
    """A cloud provider whose vendor lists a model imagegen's data does not know."""

    @classmethod
    def catalog(cls) -> list[ModelInfo]:
        return [ModelInfo("docsstale", "m-1", "active")]

    async def list_models(self) -> list[LiveModel]:
        return [LiveModel("m-1"), LiveModel("m-2")]


imagegen.register_provider("docsstale", _StaleCatalog)


def _second_call_refused() -> Callable[..., list[bytes]]:
    import io

    def handler(req):
        if req.index == 1:
            raise ContentPolicyError("refused")
        buf = io.BytesIO()
        Image.new("RGB", (req.width, req.height), (9, 9, 9)).save(buf, format="PNG")
        return [buf.getvalue()] * req.n

    return handler


def sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def commands() -> dict[str, Any]:
    """The app's commands (click's, or the click typer vendors: both are read by attribute)."""
    return dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def options_of(command: Any) -> set[str]:
    found = {opt for p in command.params if p.param_type_name == "option" for opt in (*p.opts, *p.secondary_opts)}
    if hasattr(command, "commands"):  # a group: its subcommands' options belong to its section too
        for sub in command.commands.values():
            found |= options_of(sub)
    return found


def code_spans(section: str) -> str:
    """The text inside backticks and code blocks of a section: where options are named."""
    blocks = re.findall(r"```.*?\n(.*?)```", section, re.S)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", section, flags=re.S))
    return "\n".join(blocks + spans)


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_option_of_every_command_is_in_its_docs_section(name):
    section = sections().get(name)
    assert section is not None, f"docs/cli.md has no '## {name}' section"
    named = code_spans(section)
    missing = sorted(o for o in options_of(commands()[name])
                     if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", named))
    assert not missing, f"docs/cli.md '## {name}' does not name {missing}"


@pytest.mark.parametrize("name", sorted(commands()))
def test_docs_name_no_option_a_command_lacks(name):
    section = sections()[name]
    table = "\n".join(line for line in section.splitlines() if line.startswith("| `"))  # its option table
    named = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", code_spans(table)))
    assert named, f"docs/cli.md '## {name}' has no option table"
    assert not sorted(named - options_of(commands()[name]) - {"--help"})


def test_every_section_named_like_a_command_is_one():
    prose = {"What it prints", "Exit codes"}
    assert set(sections()) - prose == set(commands())


# -- the exit-code table, row by row -------------------------------------------------------------------------

def exit_rows() -> list[tuple[int, str]]:
    table = sections()["Exit codes"]
    return [(int(m[1]), m[2]) for m in re.finditer(r"^\| (\d+) \| ([a-z ]+):", table, re.M)]


@pytest.fixture
def run(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_LEDGER", str(tmp_path / "ledger.sqlite"))

    def call(*argv: object) -> tuple[int, str]:
        code = main([str(a) for a in argv])
        return code, capsys.readouterr().err

    return call


def case_done(run, tmp_path):
    code, _ = run("generate", "a fox", "-p", "fake", "-n", "2", "--size", "64x64", "-o", tmp_path / "o")
    assert len(list((tmp_path / "o").glob("*.png"))) == 2
    return code


def case_bad_input(run, tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "bare.png")
    codes = {run("generate", "a fox", "-p", "fake", "--steps", "0")[0], run("generate")[0],
             run("generate", "a fox", "--image", tmp_path / "missing.png")[0], run("info", tmp_path / "bare.png")[0]}
    assert len(codes) == 1
    return codes.pop()


def case_provider_failure(run, tmp_path):
    code, err = run("generate", "a fox", "-p", "docsrefuses", "-o", tmp_path / "o")
    assert "refused" in err and not (tmp_path / "o").exists()
    return code


def case_partial_failure(run, tmp_path):
    code, err = run("generate", "a fox", "-p", "docshalf", "-n", "2", "--size", "64x64", "-o", tmp_path / "o")
    assert len(list((tmp_path / "o").glob("*.png"))) == 1 and "warning: partial: 1 of 2 images" in err
    return code


def case_budget(run, tmp_path):
    code, err = run("generate", "a fox", "-p", "docspricey", "--budget", "0.5", "-o", tmp_path / "o")
    assert err.startswith("budget:") and not (tmp_path / "o").exists()
    return code


def case_partial_budget(run, tmp_path):  # the case: 3 images at $0.04 under $0.10
    code, err = run("generate", "a fox", "-p", "docsfour", "-n", "3", "--budget", "0.10", "--size", "64x64",
                    "-o", tmp_path / "o")
    assert len(list((tmp_path / "o").glob("*.png"))) == 2 and "warning: partial: 2 of 3 images" in err
    return code


def case_interrupted(run, tmp_path):
    script = textwrap.dedent("""
        import sys
        import imagegen
        from imagegen.cli import main
        from imagegen.testing import FakeProvider

        imagegen.register_provider("slow", lambda model="x": FakeProvider(model, name="slow", latency=120))
        sys.exit(main(sys.argv[1:]))
    """)
    env = {**os.environ, "IMAGEGEN_LEDGER": str(tmp_path / "ledger.sqlite")}
    proc = subprocess.Popen([sys.executable, "-c", script, "generate", "a fox", "-p", "slow", "--size", "64x64",
                             "--progress", "on", "-o", tmp_path / "o"], stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    try:
        for line in proc.stderr:  # the call is in flight once the display says it waits for it
            if line.startswith("waiting for slow:x"):
                break
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    return code


def case_catalog_differs(run, tmp_path):
    code, _ = run("models", "-p", "docsstale", "--live")
    return code


class _Broken(FakeProvider):
    """A provider with a bug."""

    def capabilities(self) -> Capabilities:
        raise ZeroDivisionError("a provider bug")


imagegen.register_provider("docsbroken", lambda model="x": _Broken(model, name="docsbroken"))


def case_internal_error(run, tmp_path):
    code, err = run("generate", "a fox", "-p", "docsbroken", "-o", tmp_path / "o")
    assert err.startswith("error: internal error: ZeroDivisionError") and "Traceback" not in err
    return code


CASES = {"done": case_done, "catalog differs": case_catalog_differs, "bad input": case_bad_input,
         "provider failure": case_provider_failure, "partial failure": case_partial_failure, "budget": case_budget,
         "partial budget": case_partial_budget, "interrupted": case_interrupted, "internal error": case_internal_error}


def test_the_exit_code_table_has_a_case_for_each_row_and_a_row_for_each_case():
    assert sorted(label for _, label in exit_rows()) == sorted(CASES)


@pytest.mark.parametrize(("code", "label"), exit_rows(), ids=[label for _, label in exit_rows()])
def test_each_documented_exit_code_is_what_the_command_returns(code, label, run, tmp_path):
    assert CASES[label](run, tmp_path) == code
