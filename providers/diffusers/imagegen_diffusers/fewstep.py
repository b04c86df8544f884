"""Few-step models: LCM and TCD LoRAs, LCM-distilled UNets, SDXL Lightning and Turbo, with the sampling settings
each is made for, used when the request does not give its own.

What each wants, from its makers' pages (checked 2026-12-02):

- LCM-LoRA (huggingface.co/latent-consistency/lcm-lora-sdv1-5 and lcm-lora-sdxl): the ``LCMScheduler``, 2 to 8
  steps, guidance off or 1.0-2.0: 4 steps at guidance 1 here.
- An LCM-distilled UNet (its config has ``time_cond_proj_dim``: guidance is an input, not two passes): diffusers'
  ``LatentConsistencyModelPipeline`` defaults, 4 steps at guidance 8.5.
- TCD-LoRA (huggingface.co/h1t/TCD-SD15-LoRA, TCD-SDXL-LoRA): the ``TCDScheduler``, 4 steps, guidance 0 and
  eta (gamma) 0.3.
- SDXL-Lightning (huggingface.co/ByteDance/SDXL-Lightning): Euler on "trailing" timesteps (A1111's SGM Uniform),
  guidance 0, the steps of the checkpoint (``sdxl_lightning_4step_lora.safetensors``: 4).
- SD/SDXL Turbo (huggingface.co/stabilityai/sdxl-turbo): 1 step at guidance 0, Euler a on trailing timesteps.

A model is recognised by what it is (a UNet with ``time_cond_proj_dim``), by its name or its LoRAs' names (the
words ``lcm``, ``tcd``, ``lightning`` and ``turbo``, as the files are published; a LoRA's folder name when the file
has diffusers' generic name), or by a declaration: ``few_step`` in the model folder's ``imagegen.json`` or
``DiffusersProvider(..., few_step=...)``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from imagegen.provider import InvalidRequest

__all__ = ["KINDS", "FewStep", "check_kind", "detect", "profile"]

#: What a model may declare itself as.
KINDS = ("lcm", "lcm-unet", "tcd", "lightning", "turbo")
_STEPS = re.compile(r"(\d+)[-_ ]?steps?", re.I)


@dataclass(frozen=True)
class FewStep:
    """A few-step model's sampling settings, and what told us (``source``)."""

    kind: str
    steps: int
    guidance: float
    sampler: str
    eta: float | None = None
    source: str = ""

    def report(self) -> dict[str, object]:
        return {"kind": self.kind, "from": self.source, "steps": self.steps, "guidance": self.guidance,
                "sampler": self.sampler}


_PROFILES = {
    "lcm": FewStep("lcm", 4, 1.0, "LCM"),
    "lcm-unet": FewStep("lcm-unet", 4, 8.5, "LCM"),
    "tcd": FewStep("tcd", 4, 0.0, "TCD", eta=0.3),
    "lightning": FewStep("lightning", 4, 0.0, "Euler SGM Uniform"),
    "turbo": FewStep("turbo", 1, 0.0, "Euler a SGM Uniform"),
}


def check_kind(value: object, field: str = "few_step") -> str:
    if not isinstance(value, str) or value.strip().lower() not in KINDS:
        raise InvalidRequest(f"{field}: expected one of {', '.join(KINDS)}; got {value!r}", field=field)
    return value.strip().lower()


def profile(kind: str, source: str, name: str = "") -> FewStep:
    """The settings for ``kind``; a Lightning checkpoint's step count comes from its ``name`` (``4step``)."""
    found = replace(_PROFILES[kind], source=source)
    if kind == "lightning" and (m := _STEPS.search(name)):
        found = replace(found, steps=max(1, int(m[1])))
    return found


#: File names diffusers and peft save every LoRA under: the folder's name is the LoRA's.
_GENERIC = ("pytorch_lora_weights", "adapter_model", "diffusion_pytorch_model")


def _name(path: str) -> str:
    parts = [p for p in re.split(r"[/\\]", path) if p]
    if not parts:
        return path
    if len(parts) > 1 and os.path.splitext(parts[-1])[0] in _GENERIC:
        return parts[-2]
    return parts[-1]


def _kind_of_name(name: str, *, lora: bool = False) -> str | None:
    """The kind a name says, as a whole word (``lcm-lora-sdv1-5``, ``TCD-SDXL-LoRA``, ``sdxl-turbo``); a LoRA named
    Lightning must also give its steps (``sdxl_lightning_4step_lora``), so a style LoRA about lightning is not one."""
    words = set(re.split(r"[^a-z0-9]+", name.lower()))
    for kind in ("lightning", "turbo", "tcd", "lcm"):
        if kind in words and not (lora and kind == "lightning" and not _STEPS.search(name)):
            return kind
    return None


def detect(model: str, loras: Iterable[str], *, declared: str | None = None, declared_by: str = "",
           guidance_embedded: bool = False) -> FewStep | None:
    """The few-step settings for ``model`` with ``loras``, or None for an ordinary model. A declaration wins; then
    a LoRA's name (it changes what the model is); then what the model is or is named."""
    if declared is not None:
        return profile(declared, declared_by, os.path.basename(model))
    for lora in loras:
        name = _name(lora)
        kind = _kind_of_name(name, lora=True)
        if kind is not None and kind != "turbo":
            return profile(kind, f"LoRA {name!r}", name)
    if guidance_embedded:
        return profile("lcm-unet", "its UNet takes the guidance scale as an input (an LCM-distilled model)")
    name = _name(model)
    kind = _kind_of_name(name)
    if kind is not None:
        return profile(kind, f"model name {name!r}", name)
    return None
