"""Samplers by name: the AUTOMATIC1111 names people know, and diffusers' scheduler class names.

``resolve_sampler("dpm++ 2m karras")`` gives the diffusers class and the config overrides that make it
that sampler (the mapping diffusers documents for A1111's names); an unknown name is an ``InvalidRequest``
naming ``scheduler`` and listing every valid name. Resolving needs no torch, so a bad name fails before
any work. ``make_scheduler`` builds the scheduler from the model's own scheduler config, so what the model
was trained with (``prediction_type``, beta schedule, timestep spacing) carries over to every sampler.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from imagegen.provider import InvalidRequest

from ._lazy import diffusers

__all__ = ["SAMPLERS", "Sampler", "a1111_sampler", "describe_scheduler", "make_scheduler", "resolve_sampler",
           "sampler_names"]


@dataclass(frozen=True)
class Sampler:
    """A sampler: its display name, the diffusers scheduler class, and the config that makes it so."""

    name: str
    cls: str
    config: Mapping[str, Any] = field(default_factory=dict)


def _s(name: str, cls: str, **config: Any) -> Sampler:
    return Sampler(name, cls, config)


_K = {"use_karras_sigmas": True}
_NO_K = {"use_karras_sigmas": False}
_DPM2M = {"algorithm_type": "dpmsolver++", "solver_order": 2}
_DPM2M_SDE = {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}

#: Every sampler by display name, in the order they are listed to users.
SAMPLERS: dict[str, Sampler] = {s.name: s for s in (
    _s("DDPM", "DDPMScheduler"),
    _s("DDIM", "DDIMScheduler"),
    _s("PNDM", "PNDMScheduler"),
    _s("LMS", "LMSDiscreteScheduler", **_NO_K),
    _s("LMS Karras", "LMSDiscreteScheduler", **_K),
    _s("Euler", "EulerDiscreteScheduler", **_NO_K),
    _s("Euler a", "EulerAncestralDiscreteScheduler"),
    _s("Heun", "HeunDiscreteScheduler", **_NO_K),
    _s("DPM2", "KDPM2DiscreteScheduler", **_NO_K),
    _s("DPM2 Karras", "KDPM2DiscreteScheduler", **_K),
    _s("DPM2 a", "KDPM2AncestralDiscreteScheduler", **_NO_K),
    _s("DPM2 a Karras", "KDPM2AncestralDiscreteScheduler", **_K),
    _s("DPM++ 2M", "DPMSolverMultistepScheduler", **_DPM2M, **_NO_K),
    _s("DPM++ 2M Karras", "DPMSolverMultistepScheduler", **_DPM2M, **_K),
    _s("DPM++ 2M SDE", "DPMSolverMultistepScheduler", **_DPM2M_SDE, **_NO_K),
    _s("DPM++ 2M SDE Karras", "DPMSolverMultistepScheduler", **_DPM2M_SDE, **_K),
    _s("DPM++ SDE", "DPMSolverSinglestepScheduler", **_NO_K),
    _s("DPM++ SDE Karras", "DPMSolverSinglestepScheduler", **_K),
    _s("UniPC", "UniPCMultistepScheduler"),
    _s("DEIS", "DEISMultistepScheduler"),
    # few-step samplers: LCM (A1111's name), TCD, and Euler on trailing timesteps (A1111's "SGM Uniform"
    # schedule, which SDXL Lightning and Turbo are made for)
    _s("LCM", "LCMScheduler"),
    _s("TCD", "TCDScheduler"),
    _s("Euler SGM Uniform", "EulerDiscreteScheduler", **_NO_K, timestep_spacing="trailing"),
    _s("Euler a SGM Uniform", "EulerAncestralDiscreteScheduler", timestep_spacing="trailing"),
)}

#: Other spellings people use (A1111's internal ``k_`` names, ComfyUI's, old ones), before normalizing.
_ALIASES = {"plms": "PNDM", "euler ancestral": "Euler a", "k euler a": "Euler a", "dpm2 ancestral": "DPM2 a",
            "dpm2 ancestral karras": "DPM2 a Karras", "dpm++ 2m sde gpu": "DPM++ 2M SDE",
            "uni pc": "UniPC", "unipc multistep": "UniPC"}

#: diffusers class names accepted as they are: the class with the model's own scheduler config.
_CLASSES = sorted({s.cls for s in SAMPLERS.values()})


def _key(name: str) -> str:
    """A spelling-insensitive key: case, spaces, ``_``/``-``, ``dpmpp``, a ``k_`` prefix and a ``_ka`` suffix."""
    s = re.sub(r"[\s_\-]+", " ", name.strip().lower())
    s = s.replace("dpmpp", "dpm++").replace("ancestral", "a")
    s = re.sub(r"^k ", "", s)
    s = re.sub(r" ka$", " karras", s)
    return s.replace(" ", "")


_BY_KEY: dict[str, Sampler] = {_key(s.name): s for s in SAMPLERS.values()}
_BY_KEY.update({_key(alias): SAMPLERS[target] for alias, target in _ALIASES.items()})
_BY_CLASS: dict[str, Sampler] = {cls.lower(): Sampler(cls, cls) for cls in _CLASSES}


def sampler_names() -> list[str]:
    """Every A1111-style name, in display order (diffusers class names are accepted too)."""
    return list(SAMPLERS)


def resolve_sampler(name: str) -> Sampler:
    """The sampler called ``name`` (any spelling of an A1111 name, or a diffusers class name)."""
    if isinstance(name, str):
        by_class = _BY_CLASS.get(name.strip().lower())
        if by_class is not None:
            return by_class
        found = _BY_KEY.get(_key(name))
        if found is not None:
            return found
    raise InvalidRequest(
        f"scheduler: unknown sampler {name!r}; valid: {', '.join(SAMPLERS)} (any case; diffusers class names "
        f"such as {', '.join(_CLASSES[:3])}, ... work too)", field="scheduler")


def make_scheduler(sampler: Sampler, base_config: Mapping[str, Any]) -> Any:
    """A new scheduler for ``sampler`` built from the model's own scheduler config."""
    cls = getattr(diffusers(), sampler.cls)
    return cls.from_config(dict(base_config), **dict(sampler.config))


def describe_scheduler(cls_name: str, config: Mapping[str, Any]) -> str:
    """The display name of a scheduler: the A1111 name it matches, else its class name."""
    for sampler in SAMPLERS.values():
        if sampler.cls == cls_name and all(config.get(k, _DEFAULTS.get(k)) == v for k, v in sampler.config.items()):
            return sampler.name
    return cls_name


#: Values a scheduler config holds when it does not say (the classes' defaults), for ``describe_scheduler``.
_DEFAULTS: dict[str, Any] = {"use_karras_sigmas": False, "algorithm_type": "dpmsolver++", "solver_order": 2}


#: Samplers A1111 calls by another name (diffusers' PNDM with PRK steps skipped is A1111's PLMS).
_A1111_NAMES = {"PNDM": "PLMS"}
#: Samplers that step on k-diffusion sigmas, for which A1111 records a schedule type.
_SIGMA_SAMPLERS = {"LMS", "Euler", "Euler a", "Heun", "DPM2", "DPM2 a", "DPM++ 2M", "DPM++ 2M SDE", "DPM++ SDE"}


def a1111_sampler(cls_name: str, config: Mapping[str, Any]) -> tuple[str, str | None]:
    """(``Sampler``, ``Schedule type``) as A1111 1.9+ writes them for a scheduler of class ``cls_name``.

    The schedule is named for the sigmas the scheduler will step on (diffusers' own mapping of A1111's
    schedule types, ``docs/source/en/api/schedulers/overview.md``, "Noise schedules and schedule types"):
    Karras, exponential and beta sigmas by their names; otherwise the timestep spacing — ``trailing`` is
    A1111's ``SGM Uniform``, ``linspace`` (t from the last training step to 0) its ``Uniform``, and ``leading``
    with ``steps_offset`` 1 (t = 1, 1 + k, 1 + 2k, ...) its ``DDIM`` schedule. Samplers that do not step on
    sigmas (DDIM, PLMS, UniPC, ...) get no schedule type, as in A1111."""
    name = describe_scheduler(cls_name, config)
    base = name.removesuffix(" Karras")
    if base not in _SIGMA_SAMPLERS:
        return _A1111_NAMES.get(name, name), None
    if name != base or config.get("use_karras_sigmas"):
        return base, "Karras"
    if config.get("use_exponential_sigmas"):
        return base, "Exponential"
    if config.get("use_beta_sigmas"):
        return base, "Beta"
    spacing = config.get("timestep_spacing", "linspace")
    if spacing == "trailing":
        return base, "SGM Uniform"
    if spacing == "linspace":
        return base, "Uniform"
    if spacing == "leading" and config.get("steps_offset", 0) == 1:
        return base, "DDIM"
    return base, None
