"""The README's provider matrix is what the installed providers declare today."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imagegen.cli import provider_matrix

README = Path(__file__).resolve().parent.parent / "README.md"
MATRIX = re.compile(r"<!-- provider-matrix:start -->\n(.*?)\n<!-- provider-matrix:end -->", re.S)


def test_readme_provider_matrix_matches_the_installed_providers(monkeypatch):
    for package in ("imagegen_openai", "imagegen_google", "imagegen_diffusers"):
        pytest.importorskip(package)
    for name in ("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_ENTERPRISE"):
        monkeypatch.delenv(name, raising=False)
    shown = MATRIX.search(README.read_text(encoding="utf-8"))
    assert shown is not None, "README.md lost its provider-matrix markers"
    specs = [f"{row.split('|')[1].strip()}:{row.split('|')[2].strip()}" for row in shown[1].splitlines()[2:]
             if not row.startswith("| midjourney")]
    assert "diffusers:imagegen-mini" in specs and "openai:gpt-image-2.6-sunburst" in specs
    assert provider_matrix(specs) == shown[1]
