"""AUTOMATIC1111's infotext (the ``parameters`` text of its PNGs), written and read exactly as A1111 does.

Writing follows ``create_infotext`` in A1111's ``modules/processing.py``: the prompt, a ``Negative prompt:``
line when there is one, then one line of ``Key: value`` pairs in A1111's key order (``Steps, Sampler, Schedule
type, CFG scale, Seed, Size, Model hash, Model, VAE hash, VAE, Denoising strength, Clip skip, Tiling``, then
what A1111 adds as it runs: the hires-fix keys, ``Lora hashes``, ``TI hashes``, ``Refiner``, ``Refiner switch
at``; then imagegen's ``Quality`` and ``Style`` of a cloud model, a provider's own keys, ``Version``), with values
quoted by ``infotext_utils.quote`` (JSON strings when they hold a comma, colon or newline). Numbers print as
A1111's UI prints them (``7``, ``7.5``); each LoRA is an ``<lora:name:weight>`` tag in the prompt, as A1111 holds it.

Reading follows ``parse_generation_parameters`` in ``modules/infotext_utils.py``: the last line holds the
pairs when it has at least three (else it is part of the prompt), lines from ``Negative prompt:`` on are the
negative prompt, and an old-style sampler name with its schedule (``DPM++ 2M Karras``) splits the way
``sd_samplers.get_sampler_and_scheduler`` splits it.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .settings import HiresSettings, ImageSettings, ModelRef

__all__ = ["A1111_DEFAULT_SCHEDULE", "SCHEDULE_TYPES", "Infotext", "format_infotext", "lora_tags", "parse_infotext",
           "quote", "settings_from_pairs", "split_sampler"]

#: A1111's schedule types (``modules/sd_schedulers.py``), by label.
SCHEDULE_TYPES = ("Automatic", "Uniform", "Karras", "Exponential", "Polyexponential", "SGM Uniform", "KL Optimal",
                  "Align Your Steps", "Simple", "Normal", "DDIM", "Beta")
#: What ``Schedule type: Automatic`` means for each A1111 sampler (the ``scheduler`` option of its entry in
#: ``modules/sd_samplers_kdiffusion.py``); a sampler not listed samples on the model's own schedule.
A1111_DEFAULT_SCHEDULE = {"DPM++ 2M": "Karras", "DPM++ SDE": "Karras", "DPM++ 2M SDE": "Exponential",
                          "DPM++ 2M SDE Heun": "Exponential", "DPM++ 2S a": "Karras", "DPM++ 3M SDE": "Exponential",
                          "DPM2": "Karras", "DPM2 a": "Karras", "Restart": "Karras"}

# A1111's own pattern (modules/infotext_utils.py, re_param_code): ``Key: value`` or ``Key: "json string"``.
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")
_HASHED = re.compile(r"^(.*?)\s*\[([0-9a-fA-F]{8,64})\]$")
#: Keys ``settings_from_pairs`` turns into fields (everything else stays in ``ImageSettings.extra``).
_KNOWN = {"Steps", "Sampler", "Schedule type", "CFG scale", "Seed", "Size", "Model hash", "Model", "VAE hash", "VAE",
          "Denoising strength", "Clip skip", "Tiling", "Hires upscale", "Hires resize", "Hires steps",
          "Hires upscaler", "Hires sampler", "Hires schedule type", "Lora hashes", "TI hashes", "Refiner",
          "Refiner switch at", "Quality", "Style", "Version"}


def quote(value: Any) -> str:
    """A1111's ``infotext_utils.quote``: a JSON string when the text holds a comma, colon or newline."""
    text = _text(value)
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _list_name(name: str) -> str:
    """A LoRA's or embedding's name as A1111 lists it in ``Lora hashes``: without ``:`` and ``,``."""
    return name.replace(":", "").replace(",", "")


def _hash_list(refs: tuple[ModelRef, ...]) -> str | None:
    items = [f"{_list_name(r.name)}: {r.hash}" for r in refs if r.hash]
    return ", ".join(items) or None


def _titled(ref: ModelRef | None) -> str | None:
    """A checkpoint as A1111's ``short_title`` shows it: ``name [hash]``."""
    if ref is None:
        return None
    return f"{ref.name} [{ref.hash}]" if ref.hash else ref.name


def format_infotext(prompt: str, negative_prompt: str | None, settings: ImageSettings, *,
                    extra: Mapping[str, Any] | None = None, version: str | None = None) -> str:
    """The ``parameters`` text A1111 would write for ``settings``.

    ``extra`` pairs go after A1111's own keys and the settings' ``extra``, before ``Version``. The pairs line
    always holds at least three pairs (A1111 reads a line with fewer as part of the prompt): ``Size`` and
    ``Model`` are always known, and ``Version`` is written unless ``version`` is ``""``."""
    from ._version import __version__

    s = settings
    hires = s.hires
    size = f"{s.width}x{s.height}" if s.width and s.height else None
    strength = hires.strength if hires is not None and hires.strength is not None else s.strength
    pairs: list[tuple[str, Any]] = [
        ("Steps", s.steps), ("Sampler", s.sampler), ("Schedule type", s.schedule_type), ("CFG scale", s.guidance),
        ("Seed", s.seed), ("Size", size), ("Model hash", s.model.hash if s.model else None),
        ("Model", s.model.name if s.model else None), ("VAE hash", s.vae.hash if s.vae else None),
        ("VAE", s.vae.name if s.vae else None), ("Denoising strength", strength),
        ("Clip skip", s.clip_skip if s.clip_skip is not None and s.clip_skip > 1 else None),
        ("Tiling", "True" if s.tiling else None),
    ]
    if hires is not None:
        pairs += [("Hires sampler", hires.sampler if hires.sampler != s.sampler else None),
                  ("Hires schedule type", hires.schedule_type if hires.schedule_type != s.schedule_type else None),
                  ("Hires upscale", hires.scale),
                  ("Hires resize", f"{hires.width}x{hires.height}" if hires.scale is None and hires.width else None),
                  ("Hires steps", hires.steps), ("Hires upscaler", hires.upscaler)]
    pairs += [("Lora hashes", _hash_list(s.loras)), ("TI hashes", _hash_list(s.embeddings)),
              ("Refiner", _titled(s.refiner)), ("Refiner switch at", s.refiner_switch if s.refiner else None),
              ("Quality", s.quality), ("Style", s.style)]  # a cloud model's, after A1111's keys
    pairs += list(s.extra.items()) + list((extra or {}).items())
    pairs.append(("Version", f"imagegen {__version__}" if version is None else version or None))
    line = ", ".join(f"{k}: {quote(v)}" for k, v in pairs if v is not None)
    negative = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    return f"{_with_lora_tags(prompt, s.loras)}{negative}\n{line}".strip()


def _with_lora_tags(prompt: str, loras: tuple[ModelRef, ...]) -> str:
    """The prompt as A1111 holds it: each LoRA as an ``<lora:name:weight>`` tag (how A1111 applies one)."""
    named = {name for name, _ in lora_tags(prompt)[1]}
    tags = [f"<lora:{_list_name(r.name)}:{_text(r.weight if r.weight is not None else 1.0)}>"
            for r in loras if _list_name(r.name) not in named]
    return " ".join([prompt, *tags]) if tags else prompt


@dataclass
class Infotext:
    """A parsed ``parameters`` text: the prompt, the negative prompt and the pairs, in the order written."""

    prompt: str
    negative_prompt: str
    pairs: dict[str, str] = field(default_factory=dict)


def parse_infotext(text: str) -> Infotext:
    """Parse a ``parameters`` text the way A1111's ``parse_generation_parameters`` does."""
    *lines, last = text.strip().split("\n")
    if len(_PARAM.findall(last)) < 3:
        lines.append(last)
        last = ""
    prompt = negative = ""
    done_with_prompt = False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            done_with_prompt = True
            line = line[16:].strip()
        if done_with_prompt:
            negative += ("" if negative == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line
    pairs: dict[str, str] = {}
    for key, value in _PARAM.findall(last):
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            with contextlib.suppress(json.JSONDecodeError):
                value = str(json.loads(value))
        pairs[key.strip()] = value
    return Infotext(prompt=prompt, negative_prompt=negative, pairs=pairs)


def settings_from_pairs(pairs: Mapping[str, str]) -> ImageSettings:
    """The settings an A1111-style pairs line records; keys it does not know are kept in ``extra``."""
    fields: dict[str, Any] = {}
    for key, name, kind in (("Steps", "steps", int), ("CFG scale", "guidance", float), ("Seed", "seed", int),
                            ("Clip skip", "clip_skip", int)):
        number = _number(pairs.get(key), kind)
        if number is not None:
            fields[name] = number
    sampler, schedule = split_sampler(pairs.get("Sampler"), pairs.get("Schedule type"))
    fields.update(sampler=sampler, schedule_type=schedule)
    if m := _SIZE.match(pairs.get("Size", "")):
        fields.update(width=int(m[1]), height=int(m[2]))
    if "Model" in pairs or "Model hash" in pairs:
        fields["model"] = ModelRef(name=pairs.get("Model") or pairs["Model hash"], hash=pairs.get("Model hash"))
    if "VAE" in pairs or "VAE hash" in pairs:
        fields["vae"] = ModelRef(name=pairs.get("VAE") or pairs["VAE hash"], hash=pairs.get("VAE hash"))
    fields["tiling"] = pairs.get("Tiling") == "True"
    strength = _number(pairs.get("Denoising strength"), float)
    if any(k.startswith("Hires ") for k in pairs):
        resize = _SIZE.match(pairs.get("Hires resize", ""))
        fields["hires"] = HiresSettings(
            scale=_number(pairs.get("Hires upscale"), float), width=int(resize[1]) if resize else None,
            height=int(resize[2]) if resize else None, upscaler=pairs.get("Hires upscaler"),
            steps=_number(pairs.get("Hires steps"), int), strength=strength,
            sampler=pairs.get("Hires sampler"), schedule_type=pairs.get("Hires schedule type"))
    else:
        fields["strength"] = strength
    fields["loras"] = _parse_hash_list(pairs.get("Lora hashes"))
    fields["embeddings"] = _parse_hash_list(pairs.get("TI hashes"))
    if pairs.get("Refiner"):
        m = _HASHED.match(pairs["Refiner"])
        fields["refiner"] = ModelRef(name=m[1], hash=m[2]) if m else ModelRef(name=pairs["Refiner"])
        fields["refiner_switch"] = _number(pairs.get("Refiner switch at"), float)
    fields.update(quality=pairs.get("Quality"), style=pairs.get("Style"))
    fields["extra"] = {k: v for k, v in pairs.items() if k not in _KNOWN}
    return ImageSettings(**{k: v for k, v in fields.items() if v is not None})


def split_sampler(sampler: str | None, schedule: str | None) -> tuple[str | None, str | None]:
    """(sampler, schedule type) as A1111 1.9+ records them: ``"DPM++ 2M Karras"`` with no schedule type
    (infotexts of older versions) is ``("DPM++ 2M", "Karras")``."""
    if sampler and not schedule:
        for label in sorted(SCHEDULE_TYPES, key=len, reverse=True):
            if sampler.endswith(" " + label) and len(sampler) > len(label) + 1:
                return sampler[:-len(label) - 1], label
    return sampler, schedule


_LORA_TAG = re.compile(r"<lora:([^:>]+)(?::([^:>]*))?(?::[^>]*)?>")


def lora_tags(prompt: str) -> tuple[str, list[tuple[str, float]]]:
    """A1111's extra-network tags: ``"a castle <lora:detail:0.6>"`` is ``("a castle", [("detail", 0.6)])``.
    The first number after the name is the strength (A1111's ``te`` multiplier; 1 when none is given)."""
    found: list[tuple[str, float]] = []

    def take(m: re.Match[str]) -> str:
        weight = _number(m[2].removeprefix("te="), float) if m[2] else 1.0
        found.append((m[1].strip(), 1.0 if weight is None else weight))
        return ""

    clean = _LORA_TAG.sub(take, prompt)
    return re.sub(r"[ \t]{2,}", " ", clean).strip(" \t,"), found


def _parse_hash_list(text: str | None) -> tuple[ModelRef, ...]:
    """``"name: hash, name: hash"`` (``Lora hashes``, ``TI hashes``) as references."""
    refs = []
    for item in (text or "").split(","):
        name, sep, digest = item.rpartition(":")
        if sep and name.strip() and digest.strip():
            refs.append(ModelRef(name=name.strip(), hash=digest.strip()))
    return tuple(refs)


def _number(value: str | None, kind: type[int] | type[float]) -> Any:
    if value is None:
        return None
    try:
        return kind(float(value)) if kind is int and "." in value else kind(value)
    except ValueError:
        return None
