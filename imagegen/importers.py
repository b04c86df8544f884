"""Reading what other tools write into their images, into one ``ImageMetadata`` with ``ImageSettings``.

``import_metadata(text)`` takes an image's text entries (``imagegen.metadata.image_text``) and tries each tool's
reader in turn; a reader returns ``None`` when the entries are not its tool's, so the first that recognises them
wins. What each tool writes, and where that is read from its source:

- imagegen: the ``imagegen`` JSON entry (exact).
- Fooocus: ``parameters`` holding JSON (its own scheme; ``fooocus_scheme: fooocus``), or in a JPEG/WebP the same
  JSON as an EXIF UserComment (lllyasviel/Fooocus ``modules/meta_parser.py``: ``FooocusMetadataParser.parse_string``,
  ``get_exif``, ``read_info_from_image``). Its A1111 scheme is A1111 infotext, read as such.
- AUTOMATIC1111 and Forge: infotext in ``parameters`` (``imagegen.infotext``).
- ComfyUI: ``prompt``, the executed graph in its API format (``{node id: {"class_type", "inputs"}}``, a link
  being ``[node id, output index]``), and ``workflow``, the editor's graph (comfyanonymous/ComfyUI ``nodes.py``,
  ``SaveImage.save_images``). The sampler node that made the image is read with its checkpoint, LoRA, CLIP-skip,
  prompt, latent-size and hires/refiner nodes (input names from ``nodes.py``; sampler and scheduler names from
  ``comfy/samplers.py``); nodes it does not map are listed in ``settings.extra``.
- InvokeAI 3+: ``invokeai_metadata``, JSON of its ``core_metadata`` node (invoke-ai/InvokeAI
  ``invokeai/app/invocations/metadata.py``, ``CoreMetadataInvocation``; scheduler names from
  ``invokeai/backend/stable_diffusion/schedulers/schedulers.py``, ``_k`` meaning Karras sigmas).
- NovelAI: ``Comment`` JSON with ``Software: NovelAI``, the prompt also in ``Description`` and the model in
  ``Source`` (the chunks as documented by Eta0/naipng's README, "Technical Background", and read by sd-parsers'
  ``parsers/_novelai.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import ValidationError

from .infotext import lora_tags, parse_infotext, settings_from_pairs
from .settings import HiresSettings, ImageSettings, ModelRef, model_name

__all__ = ["SOURCES", "ImageMetadata", "import_metadata", "params_of"]

#: Where ``ImageMetadata`` came from: imagegen's own entry, A1111/Forge infotext, the other tools read, or nothing.
SOURCES = ("imagegen", "parameters", "comfyui", "invokeai", "fooocus", "novelai", "none")
#: Fields of the ``imagegen`` entry's params that a replay passes back to ``GenerateParams``.
_REPLAYABLE = ("steps", "guidance", "negative_prompt", "scheduler", "strength", "control", "control_model",
               "control_scale", "quality", "style", "loras", "provider_options")


@dataclass
class ImageMetadata:
    """What an image says about how it was made.

    ``source`` is one of ``SOURCES``: ``"imagegen"`` (imagegen's exact entry), ``"parameters"`` (A1111 or
    Forge infotext), ``"comfyui"``, ``"invokeai"``, ``"fooocus"``, ``"novelai"``, or ``"none"``. ``settings``
    is the normalized record of how it was made, whatever wrote it; ``params`` the ``GenerateParams`` fields
    it maps to; ``parameters`` the infotext pairs as written; ``raw`` the source's own entry, parsed."""

    prompt: str | None = None
    negative_prompt: str | None = None
    provider: str | None = None
    model: str | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    revised_prompt: str | None = None
    source: str = "none"
    parameters: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    settings: ImageSettings | None = None

    @property
    def spec(self) -> str | None:
        """``"name:model"`` of the provider that made the image, when known."""
        return f"{self.provider}:{self.model}" if self.provider and self.model else None

    def replay_params(self) -> dict[str, Any]:
        """``GenerateParams`` fields that remake this image (one image, same seed and size)."""
        out: dict[str, Any] = {k: self.params[k] for k in _REPLAYABLE if self.params.get(k) not in (None, "", [])}
        if self.negative_prompt:
            out["negative_prompt"] = self.negative_prompt
        size = self.params.get("output_size") or self.params.get("size")
        if size is None and self.width and self.height:
            size = f"{self.width}x{self.height}"
        if size is not None:
            out["size"] = size
        if self.params.get("output_size"):
            out["size_policy"] = "exact"
        if self.seed is not None:
            out["seed"] = self.seed
        operation = self.params.get("operation")
        if operation and operation != "txt2img":
            out["operation"] = operation
        return out

    def to_dict(self) -> dict[str, Any]:
        """One normalized, JSON-ready record (what ``imagegen info --json`` prints)."""
        record = asdict(self)
        record["settings"] = None if self.settings is None else self.settings.model_dump(mode="json",
                                                                                         exclude_defaults=True)
        record["spec"] = self.spec
        return record




def import_metadata(text: Mapping[str, str]) -> ImageMetadata:
    """The metadata ``text`` (an image's text entries) records, from whichever tool wrote it."""
    for reader in _READERS:
        found = reader(text)
        if found is not None:
            return found
    return ImageMetadata()


def params_of(settings: ImageSettings, negative_prompt: str | None = None) -> dict[str, Any]:
    """The ``GenerateParams`` fields ``settings`` name directly (what ``imagegen info`` lists)."""
    out: dict[str, Any] = {"steps": settings.steps, "scheduler": settings.scheduler, "guidance": settings.guidance,
                           "strength": settings.strength, "negative_prompt": negative_prompt or None}
    if settings.width and settings.height:
        out["size"] = f"{settings.width}x{settings.height}"
    return {k: v for k, v in out.items() if v is not None}


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None


def _exact_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _imagegen(text: Mapping[str, str]) -> ImageMetadata | None:
    """imagegen's own entry. A file can say anything: a field of the wrong type (``"prompt": 5``) is dropped,
    as if the entry did not have it, so nothing downstream meets a number where it expects text."""
    entry = _json(text.get("imagegen"))
    if not isinstance(entry, dict):
        return None
    given = entry.get("params")
    exact = {str(k): v for k, v in given.items()} if isinstance(given, dict) else {}
    settings = None
    if isinstance(entry.get("settings"), dict):
        try:
            settings = ImageSettings.model_validate(entry["settings"])
        except ValidationError:
            settings = None
    pairs = parse_infotext(text["parameters"]).pairs if text.get("parameters") else {}
    return ImageMetadata(
        prompt=entry["prompt"] if isinstance(entry.get("prompt"), str) else None,
        negative_prompt=_str(exact.get("negative_prompt")),
        provider=_str(entry.get("provider")), model=_str(entry.get("model")), seed=_exact_int(entry.get("seed")),
        width=_exact_int(entry.get("width")), height=_exact_int(entry.get("height")), params=exact,
        revised_prompt=_str(entry.get("revised_prompt")), source="imagegen", parameters=pairs, raw=entry,
        settings=settings)


def _a1111(text: Mapping[str, str]) -> ImageMetadata | None:
    """AUTOMATIC1111 and Forge: infotext in ``parameters`` (a PNG text chunk, or a JPEG/WebP UserComment)."""
    raw = text.get("parameters")
    if not raw or raw.lstrip().startswith("{"):
        return None
    parsed = parse_infotext(raw)
    settings = settings_from_pairs(parsed.pairs)
    _, tags = lora_tags(parsed.prompt)
    if tags:
        hashes = {ref.name: ref.hash for ref in settings.loras}
        named = [ModelRef(name=name, hash=hashes.get(name), weight=weight) for name, weight in tags]
        rest = [ref for ref in settings.loras if ref.name not in {name for name, _ in tags}]
        settings = settings.model_copy(update={"loras": (*named, *rest)})
    negative = parsed.negative_prompt or None
    return ImageMetadata(
        prompt=parsed.prompt, negative_prompt=negative, provider=parsed.pairs.get("Provider"),
        model=settings.model.name if settings.model else None, seed=settings.seed, width=settings.width,
        height=settings.height, params=params_of(settings, negative), source="parameters", parameters=parsed.pairs,
        settings=settings)


def _foreign(source: str, prompt: str | None, negative: str | None, settings: ImageSettings,
             raw: dict[str, Any]) -> ImageMetadata:
    negative = negative or None
    return ImageMetadata(prompt=prompt, negative_prompt=negative, model=settings.model.name if settings.model else None,
                         seed=settings.seed, width=settings.width, height=settings.height,
                         params=params_of(settings, negative), source=source, raw=raw, settings=settings)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _settings(**fields: Any) -> ImageSettings:
    return ImageSettings(**{k: v for k, v in fields.items() if v is not None})


# -- Fooocus and ComfyUI share ComfyUI's sampler names ---------------------------------------------------------

#: ComfyUI's ``KSAMPLER_NAMES`` and ``SAMPLER_NAMES`` (comfy/samplers.py) as A1111 names them.
COMFY_SAMPLERS = {
    "euler": "Euler", "euler_ancestral": "Euler a", "heun": "Heun", "dpm_2": "DPM2", "dpm_2_ancestral": "DPM2 a",
    "lms": "LMS", "dpm_fast": "DPM fast", "dpm_adaptive": "DPM adaptive", "dpmpp_2s_ancestral": "DPM++ 2S a",
    "dpmpp_sde": "DPM++ SDE", "dpmpp_sde_gpu": "DPM++ SDE", "dpmpp_2m": "DPM++ 2M", "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_2m_sde_gpu": "DPM++ 2M SDE", "dpmpp_3m_sde": "DPM++ 3M SDE", "dpmpp_3m_sde_gpu": "DPM++ 3M SDE",
    "ddpm": "DDPM", "lcm": "LCM", "ddim": "DDIM", "uni_pc": "UniPC", "uni_pc_bh2": "UniPC", "deis": "DEIS",
}
#: ComfyUI's ``SCHEDULER_NAMES`` as A1111's schedule types (``ddim_uniform`` is A1111's ``DDIM`` schedule).
COMFY_SCHEDULES = {"normal": "Normal", "karras": "Karras", "exponential": "Exponential", "sgm_uniform": "SGM Uniform",
                   "simple": "Simple", "ddim_uniform": "DDIM", "beta": "Beta", "kl_optimal": "KL Optimal"}


def _comfy_sampler(name: Any) -> str | None:
    text = _str(name)
    return None if text is None else COMFY_SAMPLERS.get(text, text)


def _comfy_schedule(name: Any) -> str | None:
    text = _str(name)
    return None if text is None else COMFY_SCHEDULES.get(text, text)


def _fooocus(text: Mapping[str, str]) -> ImageMetadata | None:
    entry = _json(text.get("parameters"))
    if not isinstance(entry, dict) or not ({"base_model", "guidance_scale"} <= set(entry)
                                           or text.get("fooocus_scheme") == "fooocus"):
        return None
    resolution = re.findall(r"\d+", str(entry.get("resolution", "")))
    width, height = (int(resolution[0]), int(resolution[1])) if len(resolution) >= 2 else (None, None)
    # the prompt as Fooocus sent it: its styles and prompt expansion applied (``full_prompt``), else as typed
    full = entry.get("full_prompt")
    prompt = ", ".join(map(str, full)) if isinstance(full, list) and full else _str(entry.get("prompt"))
    full_negative = entry.get("full_negative_prompt")
    negative = (", ".join(map(str, full_negative)) if isinstance(full_negative, list) and full_negative
                else _str(entry.get("negative_prompt")))
    loras = []
    for item in entry.get("loras") or []:
        if isinstance(item, (list, tuple)) and len(item) >= 2 and _str(item[0]) and str(item[0]) != "None":
            loras.append(ModelRef(name=model_name(str(item[0])), weight=_float(item[1]),
                                  hash=_str(item[2]) if len(item) > 2 else None))
    refiner = _str(entry.get("refiner_model"))
    vae = _str(entry.get("vae"))
    extra = {f"Fooocus {k}": str(v) for k, v in entry.items()
             if k in ("performance", "sharpness", "adm_guidance", "styles", "refiner_swap_method", "adaptive_cfg",
                      "overwrite_switch", "freeu") and v not in (None, "", "None", "[]")}
    settings = _settings(
        steps=_int(entry.get("steps")), sampler=_comfy_sampler(entry.get("sampler")),
        schedule_type=_comfy_schedule(entry.get("scheduler")), guidance=_float(entry.get("guidance_scale")),
        seed=_int(entry.get("seed")), width=width, height=height,
        model=ModelRef(name=model_name(str(entry["base_model"])), hash=_str(entry.get("base_model_hash")))
        if _str(entry.get("base_model")) else None,
        vae=ModelRef(name=vae) if vae and not vae.startswith("Default") and vae != "None" else None,
        clip_skip=_int(entry.get("clip_skip")), loras=tuple(loras),
        refiner=ModelRef(name=model_name(refiner), hash=_str(entry.get("refiner_model_hash")))
        if refiner and refiner != "None" else None,
        refiner_switch=_float(entry.get("refiner_switch")) if refiner and refiner != "None" else None,
        operation="txt2img", extra=extra)
    return _foreign("fooocus", prompt, negative, settings, entry)


# -- ComfyUI ----------------------------------------------------------------------------------------------------

_SAMPLER_NODES = {"KSampler", "KSamplerAdvanced"}
_CHECKPOINT_NODES = {"CheckpointLoaderSimple": "ckpt_name", "CheckpointLoader": "ckpt_name",
                     "UNETLoader": "unet_name", "unCLIPCheckpointLoader": "ckpt_name"}
_LORA_NODES = {"LoraLoader", "LoraLoaderModelOnly"}
_LATENT_SOURCES = {"EmptyLatentImage", "EmptySD3LatentImage"}
_UPSCALE_NODES = {"LatentUpscale", "LatentUpscaleBy"}
#: Nodes whose meaning the read settings cover (the rest of the sampler's graph is listed as not read).
_READ_NODES = (_SAMPLER_NODES | set(_CHECKPOINT_NODES) | _LORA_NODES | _LATENT_SOURCES | _UPSCALE_NODES
               | {"CLIPTextEncode", "CLIPTextEncodeSDXL", "CLIPTextEncodeSDXLRefiner", "CLIPSetLastLayer",
                  "VAELoader", "VAEDecode", "VAEEncode", "LoadImage", "SaveImage", "PreviewImage",
                  "ConditioningCombine", "ConditioningConcat", "PrimitiveNode", "PrimitiveString", "PrimitiveInt"})


class _Graph:
    """ComfyUI's API-format graph: ``{node id: {"class_type", "inputs"}}``, a link being ``[node id, index]``."""

    def __init__(self, nodes: dict[str, dict[str, Any]]) -> None:
        self.nodes = nodes
        self.seen: set[str] = set()

    def node(self, ref: Any) -> tuple[str, dict[str, Any]] | None:
        if isinstance(ref, list) and len(ref) == 2 and str(ref[0]) in self.nodes:
            key = str(ref[0])
            self.seen.add(key)
            return key, self.nodes[key]
        return None

    def inputs(self, node: dict[str, Any]) -> dict[str, Any]:
        found = node.get("inputs")
        return found if isinstance(found, dict) else {}

    def value(self, node: dict[str, Any], name: str, depth: int = 0) -> Any:
        """An input's value, following a link to a primitive node that holds it."""
        raw = self.inputs(node).get(name)
        linked = self.node(raw)
        if linked is None or depth > 8:
            return raw
        target = linked[1]
        for key in (name, "value", "string", "text", "int", "float", "seed"):
            if key in self.inputs(target):
                return self.value(target, key, depth + 1)
        return None

    def upstream(self, ref: Any, through: str, depth: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
        """The chain of nodes a ``through`` input (``model``, ``clip``, ``samples``, ...) leads back to."""
        found = self.node(ref)
        while found is not None and depth < 64:
            yield found
            found = self.node(self.inputs(found[1]).get(through))
            depth += 1

    def text(self, ref: Any, depth: int = 0) -> str | None:
        """The prompt a conditioning input was encoded from (the first text along its links)."""
        found = self.node(ref)
        if found is None or depth > 16:
            return ref if isinstance(ref, str) else None
        node = found[1]
        for key in ("text", "text_g", "string", "value"):
            value = self.value(node, key)
            if isinstance(value, str):
                return value
        for key in ("conditioning", "conditioning_1", "conditioning_to", "positive", "negative"):
            if key in self.inputs(node):
                return self.text(self.inputs(node)[key], depth + 1)
        return None


def _comfyui(text: Mapping[str, str]) -> ImageMetadata | None:
    prompt = _json(text.get("prompt"))
    if not isinstance(prompt, dict) or not prompt or not all(
            isinstance(n, dict) and isinstance(n.get("class_type"), str) for n in prompt.values()):
        return None
    graph = _Graph({str(k): v for k, v in prompt.items()})
    samplers = {k: n for k, n in graph.nodes.items() if n["class_type"] in _SAMPLER_NODES}
    raw: dict[str, Any] = {"prompt": prompt}
    if isinstance(workflow := _json(text.get("workflow")), dict):
        raw["workflow"] = workflow
    if not samplers:
        return _foreign("comfyui", None, None, ImageSettings(), raw)
    fed = {str(graph.inputs(n).get("latent_image", [None])[0]) for n in samplers.values()
           if isinstance(graph.inputs(n).get("latent_image"), list)}
    upscaled = {str(graph.inputs(n).get("samples", [None])[0]) for n in graph.nodes.values()
                if n["class_type"] in _UPSCALE_NODES and isinstance(graph.inputs(n).get("samples"), list)}
    # the last sampler of the chain (its output feeds no other sampler), and the first one, that started it
    last_id = next((k for k in samplers if k not in fed and k not in upscaled), next(iter(samplers)))
    chain = [last_id]
    via: list[dict[str, Any] | None] = []
    while True:
        origin = graph.inputs(samplers[chain[-1]]).get("latent_image")
        found = graph.node(origin)
        upscale = None
        if found is not None and found[1]["class_type"] in _UPSCALE_NODES:
            upscale = found[1]
            found = graph.node(graph.inputs(found[1]).get("samples"))
        if found is None or found[0] not in samplers or found[0] in chain:
            break
        chain.append(found[0])
        via.append(upscale)
    chain.reverse()
    via.reverse()
    base = samplers[chain[0]]
    graph.seen.update(chain)
    settings = _comfy_pass(graph, base)
    fields: dict[str, Any] = {}
    if len(chain) > 1:
        second, how = samplers[chain[1]], via[0]
        second_model = _comfy_model(graph, second)[0]
        if how is not None:  # an upscaled latent sampled again: A1111's hires fix
            scale = _float(graph.value(how, "scale_by"))
            method = _str(graph.value(how, "upscale_method"))
            fields["hires"] = HiresSettings(
                scale=scale, width=None if scale else _int(graph.value(how, "width")),
                height=None if scale else _int(graph.value(how, "height")),
                upscaler=f"Latent ({method})" if method and method != "bilinear" else "Latent",
                steps=_int(graph.value(second, "steps")), strength=_float(graph.value(second, "denoise")),
                sampler=_comfy_sampler(graph.value(second, "sampler_name")),
                schedule_type=_comfy_schedule(graph.value(second, "scheduler")))
        elif second_model is not None and second_model != settings.model:  # base then refiner on the same latent
            end, steps = _int(graph.value(base, "end_at_step")), settings.steps
            fields["refiner"] = second_model
            fields["refiner_switch"] = round(end / steps, 4) if end and steps and end < steps else None
    origin = graph.node(graph.inputs(base).get("latent_image"))
    if origin is not None and origin[1]["class_type"] in _LATENT_SOURCES:
        fields.update(width=_int(graph.value(origin[1], "width")), height=_int(graph.value(origin[1], "height")))
        fields["operation"] = "txt2img"
        fields["strength"] = None
    elif origin is not None and origin[1]["class_type"] in ("VAEEncode", "VAEEncodeForInpaint", "SetLatentNoiseMask"):
        fields["operation"] = "img2img" if origin[1]["class_type"] == "VAEEncode" else "inpaint"
    vae = _comfy_vae(graph, chain[-1])
    if vae is not None:
        fields["vae"] = vae
    prompt_text = graph.text(graph.inputs(base).get("positive"))
    negative = graph.text(graph.inputs(base).get("negative"))
    skipped = sorted({n["class_type"] for k, n in graph.nodes.items() if k in graph.seen} - _READ_NODES)
    extra = dict(settings.extra)
    extra.update({f"ComfyUI {name}": "not read" for name in skipped})
    fields["extra"] = extra
    return _foreign("comfyui", prompt_text, negative,
                    settings.model_copy(update={k: v for k, v in fields.items() if v is not None or k == "strength"}),
                    raw)


def _comfy_model(graph: _Graph, sampler: dict[str, Any]) -> tuple[ModelRef | None, tuple[ModelRef, ...]]:
    """The checkpoint a sampler's ``model`` input loads, and the LoRAs applied on the way (in order)."""
    loras: list[ModelRef] = []
    model = None
    for _, node in graph.upstream(graph.inputs(sampler).get("model"), "model"):
        kind = node["class_type"]
        if kind in _LORA_NODES and _str(graph.value(node, "lora_name")):
            loras.append(ModelRef(name=model_name(str(graph.value(node, "lora_name"))),
                                  weight=_float(graph.value(node, "strength_model"))))
        if kind in _CHECKPOINT_NODES and _str(graph.value(node, _CHECKPOINT_NODES[kind])):
            model = ModelRef(name=model_name(str(graph.value(node, _CHECKPOINT_NODES[kind]))))
            break
    loras.reverse()
    return model, tuple(loras)


def _comfy_clip_skip(graph: _Graph, sampler: dict[str, Any]) -> int | None:
    """A1111's clip skip from the ``CLIPSetLastLayer`` on the prompt's CLIP (``stop_at_clip_layer`` -2 is 2)."""
    encoder = graph.node(graph.inputs(sampler).get("positive"))
    for _ in range(8):
        if encoder is None or "clip" in graph.inputs(encoder[1]):
            break
        links = [v for k, v in graph.inputs(encoder[1]).items() if k in ("conditioning", "conditioning_1", "positive")]
        encoder = graph.node(links[0]) if links else None
    if encoder is None:
        return None
    for _, node in graph.upstream(graph.inputs(encoder[1]).get("clip"), "clip"):
        if node["class_type"] == "CLIPSetLastLayer":
            layer = _int(graph.value(node, "stop_at_clip_layer"))
            return -layer if layer is not None and layer < -1 else None
    return None


def _comfy_vae(graph: _Graph, sampler_id: str) -> ModelRef | None:
    """A VAE loaded apart from the checkpoint by the ``VAEDecode`` of the final sampler's output."""
    for node in graph.nodes.values():
        if node["class_type"] == "VAEDecode" and isinstance(graph.inputs(node).get("samples"), list) and str(
                graph.inputs(node)["samples"][0]) == sampler_id:
            found = graph.node(graph.inputs(node).get("vae"))
            if found is not None and found[1]["class_type"] == "VAELoader" and _str(graph.value(found[1], "vae_name")):
                return ModelRef(name=str(graph.value(found[1], "vae_name")).replace("\\", "/").rsplit("/", 1)[-1])
    return None


def _comfy_pass(graph: _Graph, sampler: dict[str, Any]) -> ImageSettings:
    model, loras = _comfy_model(graph, sampler)
    seed = graph.value(sampler, "seed") if "seed" in graph.inputs(sampler) else graph.value(sampler, "noise_seed")
    return _settings(steps=_int(graph.value(sampler, "steps")),
                     sampler=_comfy_sampler(graph.value(sampler, "sampler_name")),
                     schedule_type=_comfy_schedule(graph.value(sampler, "scheduler")),
                     guidance=_float(graph.value(sampler, "cfg")), seed=_int(seed), model=model, loras=loras,
                     strength=_float(graph.value(sampler, "denoise")), clip_skip=_comfy_clip_skip(graph, sampler))


# -- InvokeAI ---------------------------------------------------------------------------------------------------

#: InvokeAI's scheduler names (its ``SCHEDULER_MAP``) as A1111 names them; a ``_k`` suffix is Karras sigmas.
INVOKEAI_SCHEDULERS = {"ddim": "DDIM", "ddpm": "DDPM", "deis": "DEIS", "lms": "LMS", "pndm": "PLMS", "heun": "Heun",
                       "euler": "Euler", "euler_a": "Euler a", "kdpm_2": "DPM2", "kdpm_2_a": "DPM2 a",
                       "dpmpp_2s": "DPM++ 2S a", "dpmpp_2m": "DPM++ 2M", "dpmpp_2m_sde": "DPM++ 2M SDE",
                       "dpmpp_3m": "DPM++ 3M", "dpmpp_sde": "DPM++ SDE", "unipc": "UniPC", "lcm": "LCM", "tcd": "TCD"}


def _invoke_model(value: Any) -> ModelRef | None:
    """An InvokeAI model identifier (``{"name", "key", "hash", ...}``; 3.x: ``{"model_name", ...}``). Its hash is
    InvokeAI's own (BLAKE3), not an A1111 hash, so only the name is kept."""
    if not isinstance(value, dict):
        return None
    name = _str(value.get("name")) or _str(value.get("model_name"))
    return ModelRef(name=name) if name else None


def _invokeai(text: Mapping[str, str]) -> ImageMetadata | None:
    entry = _json(text.get("invokeai_metadata"))
    if not isinstance(entry, dict):
        return None
    scheduler = _str(entry.get("scheduler")) or ""
    karras = scheduler.endswith("_k")
    base = scheduler[:-2] if karras else scheduler
    loras = []
    for item in entry.get("loras") or []:
        ref = _invoke_model(item.get("model") or item.get("lora")) if isinstance(item, dict) else None
        if ref is not None:
            loras.append(ref.model_copy(update={"weight": _float(item.get("weight"))}))
    mode = _str(entry.get("generation_mode")) or ""
    operation = next((op for op in ("img2img", "inpaint", "outpaint", "txt2img") if mode.endswith(op)), None)
    skip = _int(entry.get("clip_skip"))  # InvokeAI counts the layers skipped; A1111 counts the layer used
    extra = {f"InvokeAI {k}": str(v) for k, v in entry.items()
             if k in ("controlnets", "ipAdapters", "t2iAdapters", "cfg_rescale_multiplier", "positive_style_prompt",
                      "negative_style_prompt") and v not in (None, "", [], 0)}
    hires = None
    if entry.get("hrf_enabled"):
        hires = HiresSettings(strength=_float(entry.get("hrf_strength")), upscaler=_str(entry.get("hrf_method")))
    refiner = _invoke_model(entry.get("refiner_model"))
    settings = _settings(
        steps=_int(entry.get("steps")), sampler=INVOKEAI_SCHEDULERS.get(base, scheduler or None),
        schedule_type="Karras" if karras else None, guidance=_float(entry.get("cfg_scale")),
        seed=_int(entry.get("seed")), width=_int(entry.get("width")), height=_int(entry.get("height")),
        model=_invoke_model(entry.get("model")), vae=_invoke_model(entry.get("vae")),
        strength=_float(entry.get("strength")) if operation in ("img2img", "inpaint", "outpaint") else None,
        clip_skip=skip + 1 if skip else None, tiling=bool(entry.get("seamless_x") and entry.get("seamless_y")),
        hires=hires, loras=tuple(loras), refiner=refiner,
        refiner_switch=_float(entry.get("refiner_start")) if refiner else None,
        operation="inpaint" if operation == "outpaint" else operation, extra=extra)
    return _foreign("invokeai", _str(entry.get("positive_prompt")), _str(entry.get("negative_prompt")), settings, entry)


# -- NovelAI ----------------------------------------------------------------------------------------------------

#: NovelAI's sampler names (k-diffusion's, with a ``k_`` prefix) as A1111 names them.
NOVELAI_SAMPLERS = {"k_euler": "Euler", "k_euler_ancestral": "Euler a", "k_dpmpp_2s_ancestral": "DPM++ 2S a",
                    "k_dpmpp_2m": "DPM++ 2M", "k_dpmpp_sde": "DPM++ SDE", "k_dpmpp_2m_sde": "DPM++ 2M SDE",
                    "k_dpm_2": "DPM2", "k_dpm_2_ancestral": "DPM2 a", "k_lms": "LMS", "ddim": "DDIM",
                    "ddim_v3": "DDIM"}
NOVELAI_SCHEDULES = {"karras": "Karras", "exponential": "Exponential", "polyexponential": "Polyexponential"}
#: NovelAI settings with no A1111 counterpart, and the value that means "off" (so only ones in use are listed).
_NOVELAI_DEFAULTS: dict[str, Any] = {"sm": False, "sm_dyn": False, "cfg_rescale": 0, "uncond_scale": 1.0,
                                     "dynamic_thresholding": False, "skip_cfg_above_sigma": None,
                                     "reference_strength_multiple": None, "controlnet_model": None}


def _novelai(text: Mapping[str, str]) -> ImageMetadata | None:
    entry = _json(text.get("Comment"))
    if not isinstance(entry, dict) or (text.get("Software") != "NovelAI" and "uc" not in entry):
        return None
    sampler = _str(entry.get("sampler"))
    extra = {f"NovelAI {k}": str(entry[k]) for k, default in _NOVELAI_DEFAULTS.items()
             if k in entry and entry[k] is not None and entry[k] != default and entry[k] != []}
    source = _str(text.get("Source"))
    settings = _settings(
        steps=_int(entry.get("steps")), sampler=NOVELAI_SAMPLERS.get(sampler or "", sampler),
        schedule_type=NOVELAI_SCHEDULES.get(str(entry.get("noise_schedule"))), guidance=_float(entry.get("scale")),
        seed=_int(entry.get("seed")), width=_int(entry.get("width")), height=_int(entry.get("height")),
        model=ModelRef(name=source) if source else None, strength=_float(entry.get("strength")),
        operation="img2img" if entry.get("strength") is not None else "txt2img", extra=extra)
    prompt = _str(entry.get("prompt")) or _str(text.get("Description"))
    return _foreign("novelai", prompt, _str(entry.get("uc")), settings, entry)


_READERS: tuple[Callable[[Mapping[str, str]], ImageMetadata | None], ...] = (
    _imagegen, _fooocus, _a1111, _comfyui, _invokeai, _novelai)
