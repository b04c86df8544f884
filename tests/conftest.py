"""Shared fixtures for the core tests: small images in every accepted input form."""

from __future__ import annotations

import importlib.util
import io
import os
from types import ModuleType

import pytest
from PIL import Image


def png_bytes(size: tuple[int, int] = (64, 64), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="session", autouse=True)
def _hash_cache_in_a_temp_folder(tmp_path_factory):
    """Model hashes computed by tests are cached in the session's temp folder, not the user's cache."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("IMAGEGEN_HASH_CACHE", str(tmp_path_factory.mktemp("hash-cache") / "hashes.json"))
        yield


@pytest.fixture
def make_png():
    """Factory: ``make_png((w, h), (r, g, b))`` -> PNG bytes."""
    return png_bytes


@pytest.fixture
def png() -> bytes:
    return png_bytes()


@pytest.fixture
def png_path(tmp_path, png) -> str:
    path = tmp_path / "input.png"
    path.write_bytes(png)
    return str(path)


@pytest.fixture(scope="session")
def tools() -> ModuleType:
    """``tests/fixtures_tools.py``: images with metadata written the way ComfyUI, InvokeAI, Fooocus, NovelAI and
    A1111 write it (test modules are imported by path, so the helpers come in through this fixture)."""
    path = os.path.join(os.path.dirname(__file__), "fixtures_tools.py")
    spec = importlib.util.spec_from_file_location("imagegen_test_fixtures_tools", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance (2 CPUs) for the whole session, shut down at its end."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
