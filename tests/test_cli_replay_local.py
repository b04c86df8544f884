"""`imagegen generate --replay` remakes a local image bit for bit on CPU, with the embedded model.

Runs once imagegen-diffusers (the local provider with `diffusers:imagegen-mini`) is installed."""

from __future__ import annotations

import json

import pytest
from PIL import Image

pytest.importorskip("imagegen_diffusers")

from imagegen.cli import main
from imagegen.metadata import read_metadata


def generate(capsys, *argv: str) -> dict:
    code = main(["generate", *argv, "--no-ledger", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_replay_reproduces_a_local_image_bit_for_bit(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    first = generate(capsys, "a red circle on a blue background", "-p", "diffusers:imagegen-mini", "--seed", "1",
                     "-o", str(tmp_path / "a"))
    meta = read_metadata(first["files"][0])
    assert meta.spec == "diffusers:imagegen-mini" and meta.seed == 1
    again = generate(capsys, "--replay", first["files"][0], "-o", str(tmp_path / "b"))
    assert again["replay_identical"] == [True]
    with Image.open(first["files"][0]) as a, Image.open(again["files"][0]) as b:
        assert a.size == b.size and a.tobytes() == b.tobytes()


def test_replay_with_another_seed_makes_a_different_image(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    first = generate(capsys, "a red circle on a blue background", "-p", "diffusers:imagegen-mini", "--seed", "1",
                     "-o", str(tmp_path / "a"))
    other = generate(capsys, "--replay", first["files"][0], "--seed", "2", "-o", str(tmp_path / "b"))
    assert other["replay_identical"] == [False] and other["images"][0]["seed"] == 2
