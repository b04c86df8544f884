"""imagegen's provider contract (``imagegen.testing.ProviderContract``), run against DiffusersProvider with the
tiny random-weight SD 1.x pipeline (and its ControlNet) loaded through the real loading code."""

from __future__ import annotations

from typing import ClassVar

import pytest
from imagegen_diffusers import DiffusersProvider

from imagegen.testing import ProviderContract


class TestDiffusersContract(ProviderContract):
    models = ("sd1",)
    params: ClassVar[dict[str, int]] = {"steps": 2}  # the contract is about answers, not quality

    @pytest.fixture(autouse=True)
    def _tiny_models(self, tiny):
        self.tiny = tiny

    def make_provider(self, model: str) -> DiffusersProvider:
        return DiffusersProvider(str(getattr(self.tiny, model)), controlnet=str(self.tiny.controlnet), device="cpu")
