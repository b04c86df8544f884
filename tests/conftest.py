"""Shared fixtures for the core tests: small images in every accepted input form."""

from __future__ import annotations

import io

import pytest
from PIL import Image


def png_bytes(size: tuple[int, int] = (64, 64), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


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
def ray_local():
    """One local Ray instance (2 CPUs) for the whole session, shut down at its end."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
