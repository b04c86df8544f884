"""The distribution: a light import, the entry point, the embedded model as default, and its packaged data."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import imagegen_diffusers
import tomllib
from imagegen_diffusers import DiffusersProvider
from imagegen_diffusers.mini import WEIGHTS_DIR

import imagegen

PACKAGE = Path(imagegen_diffusers.__file__).parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"


def test_import_pulls_in_neither_torch_nor_diffusers():
    code = ("import sys, imagegen_diffusers; "
            "print(sorted(m for m in ('torch', 'diffusers', 'transformers', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_capabilities_of_a_folder_need_no_torch():
    code = ("import sys, imagegen_diffusers; imagegen_diffusers.DiffusersProvider('imagegen-mini').capabilities(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_entry_point_names_the_provider_class():
    assert imagegen.providers()["diffusers"] == "imagegen_diffusers:DiffusersProvider"


def test_bare_name_means_the_embedded_model():
    provider = imagegen.Client().provider("diffusers")
    assert isinstance(provider, DiffusersProvider) and provider.model == "imagegen-mini"


def test_embedded_model_is_the_default_without_keys(monkeypatch):
    for name in ("IMAGEGEN_PROVIDER", "OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    provider = imagegen.Client().provider()  # the default: no provider named, no key set
    assert isinstance(provider, DiffusersProvider) and provider.model == "imagegen-mini"


def test_metadata_requires_torch_2_4_and_the_libraries_it_uses():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    names = {d.split(">")[0].split("=")[0].split("<")[0].strip() for d in project["dependencies"]}
    assert "torch>=2.4" in project["dependencies"]
    assert {"imagegen-sdk", "diffusers", "transformers", "accelerate", "peft", "safetensors", "opencv-python-headless",
            "pillow", "numpy", "scipy", "compel"} <= names
    assert project["entry-points"]["imagegen.providers"]["diffusers"] == "imagegen_diffusers:DiffusersProvider"


def test_package_data_covers_every_embedded_weight_file_and_py_typed():
    patterns = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]["imagegen_diffusers"]
    shipped = {os.path.normpath(p) for pattern in patterns
               for p in glob.glob(str(PACKAGE / pattern), recursive=True)}
    weights = {os.path.normpath(str(p)) for p in WEIGHTS_DIR.rglob("*") if p.is_file()}
    assert weights and weights <= shipped
    assert str(PACKAGE / "py.typed") in shipped
