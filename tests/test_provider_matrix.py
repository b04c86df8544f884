"""The provider matrix (``imagegen providers --markdown``) is built from each provider's capabilities."""

from __future__ import annotations

import pytest

from imagegen.cli import main, provider_matrix


def test_the_openai_row_marks_exactly_what_the_model_honours():
    pytest.importorskip("imagegen_openai")
    lines = provider_matrix(["openai:dall-e-3"]).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    row = next([c.strip() for c in line.strip("|").split("|")] for line in lines if "| dall-e-3 |" in line)
    cells = dict(zip(header, row, strict=True))
    assert cells["sizes"] == "1024x1024, 1024x1792, 1792x1024" and cells["images/call"] == "1"
    assert {k for k, v in cells.items() if v == "✓"} == {"txt2img", "quality", "style"}


def test_the_diffusers_row_comes_from_the_capabilities(capsys):
    pytest.importorskip("imagegen_diffusers")
    assert main(["providers", "--markdown", "--spec", "diffusers:imagegen-mini"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| diffusers"))
    assert "imagegen-mini" in row and "sides 8..128 in steps of 8" in row
