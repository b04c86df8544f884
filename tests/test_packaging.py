"""The distributions as a user gets them: ``python -m build`` makes a wheel and an sdist for the core and each
provider; the providers depend on ``imagegen-sdk`` (PyPI's ``imagegen`` is someone else's); the built wheels,
installed by name into a fresh venv as README shows, make the embedded model's image offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from imagegen._version import __version__

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTIONS = {"imagegen-sdk": ".", "imagegen-openai": "providers/openai", "imagegen-google": "providers/google",
                 "imagegen-diffusers": "providers/diffusers"}
SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".mypy_cache",
                              ".ruff_cache", ".hypothesis", ".pytest_cache", "out", ".whl")


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """Every distribution built from a copy of the checkout (so no build/ lands in it), without network."""
    pytest.importorskip("build")
    source = tmp_path_factory.mktemp("source") / "imagegen"
    shutil.copytree(ROOT, source, ignore=SKIP)
    out = tmp_path_factory.mktemp("dist")
    for folder in DISTRIBUTIONS.values():
        proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out),
                               str(source / folder)], capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"building {folder} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return out


def wheel(dist: Path, name: str) -> zipfile.ZipFile:
    (path,) = dist.glob(f"{name.replace('-', '_')}-*.whl")
    return zipfile.ZipFile(path)


def metadata(dist: Path, name: str) -> tuple[dict[str, str], list[str]]:
    with wheel(dist, name) as whl:
        (meta,) = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        message = Parser().parsestr(whl.read(meta).decode())
    return dict(message.items()), message.get_all("Requires-Dist") or []


def test_each_distribution_builds_a_wheel_and_an_sdist(dist):
    for name in DISTRIBUTIONS:
        stem = name.replace("-", "_")
        assert len(list(dist.glob(f"{stem}-*-py3-none-any.whl"))) == 1, name
        assert len(list(dist.glob(f"{stem}-*.tar.gz"))) == 1, name


def test_the_core_is_imagegen_sdk_with_the_import_name_and_command_imagegen(dist):
    fields, _ = metadata(dist, "imagegen-sdk")
    assert fields["Name"] == "imagegen-sdk"
    with wheel(dist, "imagegen-sdk") as whl:
        names = whl.namelist()
        (points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = whl.read(points).decode()
    assert "imagegen/__init__.py" in names and "imagegen/py.typed" in names
    assert {n.split("/")[0] for n in names} == {"imagegen", f"imagegen_sdk-{__version__}.dist-info"}  # no tests
    assert "imagegen = imagegen.cli:main" in entry_points


@pytest.mark.parametrize("name", ["imagegen-openai", "imagegen-google", "imagegen-diffusers"])
def test_each_provider_depends_on_imagegen_sdk(dist, name):
    _, requires = metadata(dist, name)
    assert any(r.split(";")[0].strip().startswith("imagegen-sdk") for r in requires), requires
    assert not any(r.split()[0] == "imagegen" for r in requires)


def test_the_diffusers_wheel_and_sdist_carry_the_embedded_model(dist):
    weights = ["model_index.json", "unet/diffusion_pytorch_model.safetensors",
               "vae/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors", "tokenizer/vocab.json",
               "tokenizer/merges.txt"]
    with wheel(dist, "imagegen-diffusers") as whl:
        names = set(whl.namelist())
    assert {f"imagegen_diffusers/mini/weights/{w}" for w in weights} <= names
    (sdist,) = dist.glob("imagegen_diffusers-*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = {m.split("/", 1)[1] for m in tar.getnames() if "/" in m}
    assert {f"imagegen_diffusers/mini/weights/{w}" for w in weights} <= members


@pytest.mark.slow
def test_the_wheels_install_by_name_into_a_fresh_venv_and_make_the_embedded_models_image(dist, tmp_path):
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
           and not k.startswith(("IMAGEGEN_", "OPENAI_", "GOOGLE_", "GEMINI_"))}
    env.update(HF_HUB_OFFLINE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", IMAGEGEN_LEDGER=str(tmp_path / "l.sqlite"))
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"

    def run(*argv: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(list(argv), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"{' '.join(argv)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc

    run(sys.executable, "-m", "venv", str(venv))
    pip = str(venv / "bin" / "pip")
    run(pip, "install", "-q", "torch==2.13.0")  # the CPU build README pins (a local wheel here)
    # what README tells a user to type, with this checkout's wheels standing in for the registry's
    run(pip, "install", "-q", "--find-links", str(dist), "imagegen-diffusers", "imagegen-openai", "imagegen-google")
    where = run(str(venv / "bin" / "python"), "-c", "import imagegen, imagegen_diffusers, imagegen_openai, "
                "imagegen_google; print(imagegen.__file__); print(sorted(imagegen.providers()))").stdout
    assert str(venv) in where.splitlines()[0] and "['diffusers', 'fake', 'google', 'openai']" in where
    made = json.loads(run(str(venv / "bin" / "imagegen"), "generate", "a red circle on a blue background",
                          "--seed", "1", "--json", "-o", "out").stdout)
    assert made["provider"] == "diffusers" and made["model"] == "imagegen-mini"
    assert (tmp_path / made["files"][0]).is_file() and made["images"][0]["width"] == 32
