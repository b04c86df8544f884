"""AUTOMATIC1111's ``/sdapi/v1`` API, at the root of the app (SillyTavern rewrites the URL path to
``/sdapi/v1/...``, whatever base URL it was given).

What clients depend on, read from their source (the tests replay each): ``images`` are raw base64
(``webuiapi`` decodes them directly); ``info`` is always there and is a JSON *string* (``webuiapi``
``json.loads`` it; Open WebUI stores it); ``sd_model_checkpoint`` in ``/options`` is one of
``/sd-models``' titles (``"name [hash]"``), and ``POST /options`` takes the whole options dict echoed back
(Open WebUI) or just ``{"sd_model_checkpoint": title}`` (webuiapi, SillyTavern); an idle ``/progress``
reports ``progress: 0`` and ``state.job_count: 0``; every route answers JSON; unknown request keys are
ignored, as A1111's own models do. A1111 fields the chain cannot honour are dropped with a warning,
listed in ``info``'s ``warnings``.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._version import __version__
from ..errors import ImageGenError, InvalidRequest
from ..imageio import ImageData, encode_png
from ..metadata import a1111_parameters, image_settings, parse_parameters, read_png_text
from ..params import GenerateParams, build_params
from ..result import GenerationResult
from ..settings import ModelRef
from .images import decode_b64_image, encode_image
from .service import Chain, Service, cost_header, per_image_cost, run_until_disconnected

__all__ = ["Img2ImgRequest", "Txt2ImgRequest", "router"]

router = APIRouter(prefix="/sdapi/v1")


class Txt2ImgRequest(BaseModel):
    """``POST /sdapi/v1/txt2img``: A1111's fields; any other key is ignored, as A1111 does. A field left
    out means "the model's default" (the embedded model's recommended steps and guidance, its native size),
    not A1111's own 50 steps at 512x512."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = ""
    negative_prompt: str | None = None
    styles: list[str] | None = None
    seed: int | None = Field(None, ge=-1, le=2**64 - 1)
    subseed: int | None = None
    subseed_strength: float | None = None
    seed_resize_from_h: int | None = None
    seed_resize_from_w: int | None = None
    sampler_name: str | None = Field(None, max_length=64)
    sampler_index: str | None = Field(None, max_length=64)
    scheduler: str | None = Field(None, max_length=64)
    batch_size: int | None = Field(None, ge=1, le=128)
    n_iter: int | None = Field(None, ge=1, le=128)
    steps: int | None = Field(None, ge=1, le=1000)
    cfg_scale: float | None = Field(None, ge=0, le=100)
    width: int | None = Field(None, ge=1, le=16384)
    height: int | None = Field(None, ge=1, le=16384)
    restore_faces: bool | None = None
    tiling: bool | None = None
    eta: float | None = None
    s_min_uncond: float | None = None
    s_churn: float | None = None
    s_tmax: float | None = None
    s_tmin: float | None = None
    s_noise: float | None = None
    denoising_strength: float | None = None
    override_settings: dict[str, Any] | None = None
    override_settings_restore_afterwards: bool | None = None
    refiner_checkpoint: str | None = None
    refiner_switch_at: float | None = None
    enable_hr: bool | None = None
    hr_scale: float | None = None
    hr_upscaler: str | None = None
    hr_second_pass_steps: int | None = None
    hr_resize_x: int | None = None
    hr_resize_y: int | None = None
    script_name: str | None = None
    script_args: list[Any] | None = None
    alwayson_scripts: dict[str, Any] | None = None
    infotext: str | None = None
    send_images: bool = True
    save_images: bool | None = None
    clip_skip: int | None = None  # SD.Next's spelling of CLIP_stop_at_last_layers (SillyTavern sends both)


class Img2ImgRequest(Txt2ImgRequest):
    """``POST /sdapi/v1/img2img``: ``init_images`` (base64), optional ``mask``, ``denoising_strength``."""

    init_images: list[str] | None = None
    mask: str | None = None
    resize_mode: int | None = None
    image_cfg_scale: float | None = None
    mask_blur: int | None = None
    inpainting_fill: int | None = Field(None, ge=0, le=3)
    inpaint_full_res: bool | int | None = None
    inpaint_full_res_padding: int | None = None
    inpainting_mask_invert: int | None = Field(None, ge=0, le=1)
    initial_noise_multiplier: float | None = None
    include_init_images: bool | None = None


#: A1111 fields imagegen does not honour, with the values that ask for nothing (off, or A1111's default).
#: Any other value is dropped with a warning.
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "subseed": (None, -1), "subseed_strength": (None, 0), "seed_resize_from_h": (None, -1, 0),
    "seed_resize_from_w": (None, -1, 0), "restore_faces": (None, False), "tiling": (None, False),
    "eta": (None, 0, 1), "s_min_uncond": (None, 0), "s_churn": (None, 0), "s_tmax": (None, 0),
    "s_tmin": (None, 0), "s_noise": (None, 1), "styles": (None, []),
    "refiner_checkpoint": (None, "", "None"), "infotext": (None, ""), "save_images": (None, False),
}
#: A1111's hires-fix upscaler names that imagegen's local provider has too (``Hires.upscaler`` takes them in
#: lower case). Only names: a request never names a file on the server.
_LATENT_MODES = ("Latent", "Latent (antialiased)", "Latent (bicubic)", "Latent (bicubic antialiased)",
                 "Latent (nearest)", "Latent (nearest-exact)")
_PIXEL_UPSCALERS = ("Lanczos", "Nearest")
_UPSCALERS = {name.lower(): name.lower() for name in (*_LATENT_MODES, *_PIXEL_UPSCALERS)}
#: ... and those that only matter for inpainting, checked when a mask is given. imagegen inpaints from
#: the original image, like A1111's ``inpainting_fill=1``.
_NEUTRAL_INPAINT: dict[str, tuple[Any, ...]] = {
    "mask_blur": (None, 0, 4), "inpainting_fill": (None, 1), "inpaint_full_res_padding": (None, 0, 32),
    "inpaint_full_res": (None, True, False, 0, 1), "initial_noise_multiplier": (None, 1), "resize_mode": (None, 0),
}
_SCHEDULERS = {"automatic": "Automatic", "karras": "Karras"}
_OPTION_KEYS = {"sd_model_checkpoint", "sd_checkpoint_hash", "sd_vae", "CLIP_stop_at_last_layers",
                "samples_format"}


def service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


# -- listings ------------------------------------------------------------------------------------

@router.get("/sd-models")
async def sd_models(request: Request) -> list[dict[str, Any]]:
    """Every served name as a checkpoint: ``title`` is ``"name [hash]"``, the value ``/options`` takes."""
    return [{"title": c.title, "model_name": c.name, "hash": c.hash, "sha256": _sha256(c), "filename": c.name,
             "config": None} for c in service(request).chains.values()]


def _sha256(chain: Chain) -> str:
    import hashlib

    return hashlib.sha256(chain.name.encode()).hexdigest()


@router.get("/samplers")
async def samplers(request: Request) -> list[dict[str, Any]]:
    """The sampler names the selected checkpoint's chain accepts (none when it takes no scheduler)."""
    svc = service(request)
    names = svc.samplers(svc.checkpoint) or []
    return [{"name": n, "aliases": [], "options": {}} for n in names]


@router.get("/schedulers")
async def schedulers(request: Request) -> list[dict[str, Any]]:
    """``automatic`` (the sampler's own schedule) and, where the chain has Karras samplers, ``karras``."""
    svc = service(request)
    names = svc.samplers(svc.checkpoint) or []
    found = ["automatic"] + (["karras"] if any(n.endswith(" Karras") for n in names) else [])
    return [{"name": n, "label": _SCHEDULERS[n], "aliases": None, "default_rho": -1, "need_inner_model": False}
            for n in found]


@router.get("/upscalers")
async def upscalers(request: Request) -> list[dict[str, Any]]:
    """A1111's ``None`` entry, then Lanczos and Nearest when the selected chain does hires fix (``hr_upscaler``)."""
    names = ["None", *(_PIXEL_UPSCALERS if _hires_capable(service(request).checkpoint) else ())]
    return [{"name": n, "model_name": None, "model_path": None, "model_url": None, "scale": 4} for n in names]


@router.get("/latent-upscale-modes")
async def latent_upscale_modes(request: Request) -> list[dict[str, Any]]:
    return [{"name": n} for n in _LATENT_MODES] if _hires_capable(service(request).checkpoint) else []


def _hires_capable(chain: Chain) -> bool:
    return any("hires" in p.capabilities().supports for p in chain.providers)


@router.get("/loras")
async def loras() -> list[dict[str, Any]]:
    return []


@router.get("/sd-vae")
async def sd_vae() -> list[dict[str, Any]]:
    return []


@router.get("/scripts")
async def scripts() -> dict[str, list[str]]:
    """No scripts: ``webuiapi`` asks this when it starts, to see whether ControlNet or ADetailer is there."""
    return {"txt2img": [], "img2img": []}


@router.get("/options")
async def get_options(request: Request) -> dict[str, Any]:
    svc = service(request)
    return {**svc.options, "sd_model_checkpoint": svc.checkpoint.title, "sd_checkpoint_hash": _sha256(svc.checkpoint),
            "sd_vae": "Automatic", "CLIP_stop_at_last_layers": svc.options.get("CLIP_stop_at_last_layers", 1),
            "samples_format": "png"}


@router.post("/options")
async def set_options(request: Request) -> dict[str, Any]:
    """Select the checkpoint (by title, name or hash); keys A1111 has and imagegen does not use are
    accepted and ignored, as Open WebUI posts back the whole dict it read."""
    svc = service(request)
    body = await _json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("body: expected a JSON object of options", field="body")
    checkpoint = body.get("sd_model_checkpoint")
    if checkpoint is not None:
        if not isinstance(checkpoint, str):
            raise InvalidRequest("sd_model_checkpoint: expected a checkpoint title from /sdapi/v1/sd-models",
                                 field="sd_model_checkpoint")
        svc.checkpoint = _checkpoint(svc, checkpoint)
    skip = body.get("CLIP_stop_at_last_layers")
    if skip is not None:
        if isinstance(skip, bool) or not isinstance(skip, int) or not 1 <= skip <= 12:
            raise InvalidRequest(f"CLIP_stop_at_last_layers: expected a whole number 1..12; got {skip!r}",
                                 field="CLIP_stop_at_last_layers")
        svc.options["CLIP_stop_at_last_layers"] = skip
    return {}


def _checkpoint(svc: Service, name: str) -> Chain:
    try:
        return svc.chain(name)
    except InvalidRequest:
        titles = ", ".join(c.title for c in svc.chains.values())
        raise InvalidRequest(f"sd_model_checkpoint: {name!r} is not served here; choose one of {titles}",
                             field="sd_model_checkpoint") from None


@router.get("/progress")
async def progress(request: Request, skip_current_image: bool = False) -> dict[str, Any]:
    """The oldest request in hand: its fraction done, an ETA, and its step counts. ``current_image`` is
    null: imagegen's providers report steps, not previews."""
    state = service(request).progress()
    job = state["job"]
    return {
        "progress": state["progress"] if job else 0.0, "eta_relative": state["eta"] if job else 0.0,
        "state": {"skipped": False, "interrupted": bool(job and job.interrupted), "stopping_generation": False,
                  "job": job.api if job else "", "job_count": state["job_count"],
                  "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(job.admitted)) if job else "0",
                  "job_no": 0, "sampling_step": state["step"], "sampling_steps": state["steps"]},
        "current_image": None, "textinfo": None, "current_task": job.id if job else None}


@router.post("/interrupt")
async def interrupt(request: Request) -> dict[str, Any]:
    """Stop the requests in hand (this key's, when the server has keys) at their next step; each answers
    with the images finished so far."""
    service(request).interrupt(request.state.key.name if request.state.key else None)
    return {}


@router.post("/skip")
async def skip(request: Request) -> dict[str, Any]:
    return await interrupt(request)


@router.post("/png-info")
async def png_info(request: Request) -> dict[str, Any]:
    """The generation parameters an image carries: A1111's ``parameters`` text (imagegen writes it too)."""
    svc = service(request)
    body = await _json(request)
    text = body.get("image") if isinstance(body, dict) else None
    image = decode_b64_image(text, "image", svc.config.max_image_pixels)
    if image.mime != "image/png":
        return {"info": "", "items": {}, "parameters": {}}
    chunks = read_png_text(image.data)
    info = chunks.pop("parameters", "")
    parsed = parse_parameters(info) if info else None
    parameters: dict[str, Any] = {}
    if parsed is not None:
        parameters = {"Prompt": parsed["prompt"], "Negative prompt": parsed["negative_prompt"] or "",
                      **parsed["pairs"]}
        if "Size" in parsed["pairs"] and "x" in parsed["pairs"]["Size"]:
            w, _, h = parsed["pairs"]["Size"].partition("x")
            parameters["Size-1"], parameters["Size-2"] = w, h
    return {"info": info, "items": chunks, "parameters": parameters}


# -- generation ----------------------------------------------------------------------------------

@router.post("/txt2img", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": Txt2ImgRequest.model_json_schema()}}}})
async def txt2img(request: Request) -> Any:
    return await _generate(request, Txt2ImgRequest)


@router.post("/img2img", openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": Img2ImgRequest.model_json_schema()}}}})
async def img2img(request: Request) -> Any:
    return await _generate(request, Img2ImgRequest)


async def _json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"body: not valid JSON ({exc})", field="body") from None


async def _generate(request: Request, model: type[Txt2ImgRequest]) -> Any:
    from fastapi.responses import JSONResponse

    svc = service(request)
    body = await _json(request)
    if not isinstance(body, dict):
        raise InvalidRequest("body: expected a JSON object", field="body")
    try:
        req = model.model_validate(body)
    except ValidationError as exc:  # A1111's answer for its request models: FastAPI's 422
        raise RequestValidationError(exc.errors()) from None
    if req.script_name:
        raise InvalidRequest(f"script_name: Script '{req.script_name}' not found (this server has no scripts)",
                             field="script_name", status=422)
    warnings: list[str] = []
    chain = svc.checkpoint
    override = dict(req.override_settings or {})
    if isinstance(override.get("sd_model_checkpoint"), str) and override["sd_model_checkpoint"]:
        chain = _checkpoint(svc, override.pop("sd_model_checkpoint"))
    params = _params(svc, req, chain, override, warnings)
    key = request.state.key
    async with svc.admitted("a1111", key.name if key else None) as job:
        try:
            result = await run_until_disconnected(request.receive, svc.generate(job, req.prompt, params, chain))
        except ImageGenError as exc:
            if not job.interrupted:
                raise
            result = _interrupted(exc, req.prompt, params)
            warnings.append(f"interrupted: stopped by /sdapi/v1/interrupt; {len(result.images)} images were finished")
    body_out = _answer(svc, req, chain, params, result, warnings)
    return JSONResponse(body_out, headers={"X-Imagegen-Cost-Usd": cost_header(result.cost.usd),
                                           "X-Imagegen-Request-Id": result.request_id})


def _interrupted(exc: ImageGenError, prompt: str, params: GenerateParams) -> GenerationResult:
    provider, _, model = (exc.provider or ":").partition(":")
    return GenerationResult(images=list(exc.images), provider=provider, model=model, prompt=prompt,
                            request_id=exc.request_id or "", attempts=list(exc.attempts))


def _params(svc: Service, req: Txt2ImgRequest, chain: Chain, override: dict[str, Any],
            warnings: list[str]) -> GenerateParams:
    svc.check_prompts(prompt=req.prompt, negative_prompt=req.negative_prompt)
    if not req.prompt.strip():
        raise InvalidRequest("prompt: give a prompt (the text to draw)", field="prompt")
    n = (req.batch_size or 1) * (req.n_iter or 1)
    if n > svc.config.max_images:
        raise InvalidRequest(f"batch_size: batch_size x n_iter is {n}; this server makes at most "
                             f"{svc.config.max_images} images per request", field="batch_size")
    out: dict[str, Any] = {"n": n}
    if req.width is not None or req.height is not None:
        width, height = req.width or 512, req.height or 512
        if width * height > svc.config.max_image_pixels:
            raise InvalidRequest(f"width: {width}x{height} is more than this server's {svc.config.max_image_pixels} "
                                 "pixels", field="width")
        out["size"] = f"{width}x{height}"
    if req.seed is not None and req.seed >= 0:
        out["seed"] = req.seed
    if req.steps is not None:
        out["steps"] = req.steps
    if req.cfg_scale is not None:
        out["guidance"] = req.cfg_scale
    if req.negative_prompt:
        out["negative_prompt"] = req.negative_prompt
    sampler = _sampler(svc, req, chain, warnings)
    if sampler is not None:
        out["scheduler"] = sampler
    skip = (override.pop("CLIP_stop_at_last_layers", None) or req.clip_skip
            or svc.options.get("CLIP_stop_at_last_layers"))
    if isinstance(skip, int) and not isinstance(skip, bool) and skip > 1:  # 1: the last layer, A1111's default
        out["clip_skip"] = skip
    vae = override.pop("sd_vae", None)
    if vae not in (None, "", "Automatic", "None"):
        warnings.append(f"override_settings.sd_vae: {vae!r} is not available here; the model's own VAE was used")
    for name in sorted(override):
        warnings.append(f"override_settings.{name}: not supported by this server; ignored")
    if req.tiling:
        out["tiling"] = True
    if req.enable_hr:
        out["hires"] = _hires(req, warnings)
    _neutral(req, _NEUTRAL, warnings)
    _scripts(req, warnings)
    if isinstance(req, Img2ImgRequest):
        _img2img(svc, req, out, warnings)
    try:
        return build_params(out)
    except InvalidRequest as exc:
        raise InvalidRequest(_a1111_names(exc.message), field=_A1111_FIELD.get(exc.field or "", exc.field)) from None


_A1111_FIELD = {"guidance": "cfg_scale", "strength": "denoising_strength", "n": "batch_size", "size": "width",
                "image": "init_images", "scheduler": "sampler_name", "hires": "enable_hr",
                "clip_skip": "CLIP_stop_at_last_layers"}


def _a1111_names(message: str) -> str:
    field, sep, rest = message.partition(":")
    return f"{_A1111_FIELD.get(field, field)}{sep}{rest}" if sep else message


def _hires(req: Txt2ImgRequest, warnings: list[str]) -> dict[str, Any]:
    """A1111's hires fix (``enable_hr`` and the ``hr_`` fields) as ``GenerateParams.hires``."""
    hires: dict[str, Any] = {}
    if req.hr_resize_x and req.hr_resize_y:
        hires["size"] = f"{req.hr_resize_x}x{req.hr_resize_y}"
    else:
        hires["scale"] = req.hr_scale if req.hr_scale is not None else 2.0
    name = (req.hr_upscaler or "").strip()
    if name.lower() in _UPSCALERS:
        hires["upscaler"] = _UPSCALERS[name.lower()]
    elif name and name != "None":
        known = ", ".join((*_LATENT_MODES, *_PIXEL_UPSCALERS))
        warnings.append(f"hr_upscaler: {name!r} is not available here ({known}); the provider's default "
                        "upscaler was used")
    if req.denoising_strength is not None and 0 < req.denoising_strength <= 1:
        hires["strength"] = req.denoising_strength
    if req.hr_second_pass_steps:
        hires["steps"] = req.hr_second_pass_steps
    return hires


def _sampler(svc: Service, req: Txt2ImgRequest, chain: Chain, warnings: list[str]) -> str | None:
    name = (req.sampler_name or req.sampler_index or "").strip()
    schedule = (req.scheduler or "").strip().lower()
    if not name:
        if schedule not in ("", "automatic", "normal"):
            warnings.append(f"scheduler: {req.scheduler!r} needs a sampler_name; ignored")
        return None
    known = svc.samplers(chain)
    if known == []:  # the chain takes no scheduler: the client's normalize warns that it is dropped
        return name
    if schedule == "karras" and not name.lower().endswith("karras"):
        if known is None or f"{name} Karras" in known:
            return f"{name} Karras"
        warnings.append(f"scheduler: {name!r} has no Karras schedule here; used {name!r} as it is")
    elif schedule not in ("", "automatic", "normal", "karras"):
        warnings.append(f"scheduler: {req.scheduler!r} is not available here (only automatic and karras); "
                        f"used {name!r} with its own schedule")
    if known is not None and name not in known and name.lower() not in {k.lower() for k in known}:
        raise InvalidRequest(f"sampler_name: Sampler not found: {name!r}; samplers here: {', '.join(known)}",
                             field="sampler_name")
    return name


def _neutral(req: BaseModel, table: dict[str, tuple[Any, ...]], warnings: list[str]) -> None:
    for name, neutral in table.items():
        value = getattr(req, name, None)
        if value not in neutral:
            warnings.append(f"{name}: {value!r} is not supported by this server; ignored")


def _scripts(req: Txt2ImgRequest, warnings: list[str]) -> None:
    for name, entry in (req.alwayson_scripts or {}).items():
        args = entry.get("args") if isinstance(entry, dict) else entry
        if args:
            warnings.append(f"alwayson_scripts.{name}: this server has no such script; ignored")


def _img2img(svc: Service, req: Img2ImgRequest, out: dict[str, Any], warnings: list[str]) -> None:
    if not req.init_images:
        raise InvalidRequest("init_images: img2img needs at least one base64 image in init_images",
                             field="init_images")
    image = decode_b64_image(req.init_images[0], "init_images", svc.config.max_image_pixels)
    out["image"] = image
    if len(req.init_images) > 1:
        warnings.append(f"init_images: imagegen takes one input image; used the first of {len(req.init_images)}")
    strength = req.denoising_strength if req.denoising_strength is not None else 0.75
    if not 0 < strength <= 1:
        raise InvalidRequest(f"denoising_strength: expected a number in (0, 1]; got {strength!r}",
                             field="denoising_strength")
    out["strength"] = strength
    if req.mask:
        mask = decode_b64_image(req.mask, "mask", svc.config.max_image_pixels)
        if req.inpainting_mask_invert == 1:
            mask = _inverted(mask)
        if mask.size != image.size:
            mask = _resized(mask, image.size)
            warnings.append(f"mask: resized to the image's {image.width}x{image.height}")
        out["mask"] = mask
        _neutral(req, _NEUTRAL_INPAINT, warnings)


def _inverted(mask: ImageData) -> ImageData:
    from PIL import ImageOps

    data = encode_png(ImageOps.invert(mask.to_pil().convert("L")))
    return ImageData(data=data, mime="image/png", width=mask.width, height=mask.height)


def _resized(mask: ImageData, size: tuple[int, int]) -> ImageData:
    data = encode_png(mask.to_pil().convert("L").resize(size))
    return ImageData(data=data, mime="image/png", width=size[0], height=size[1])


def _answer(svc: Service, req: Txt2ImgRequest, chain: Chain, params: GenerateParams, result: GenerationResult,
            warnings: list[str]) -> dict[str, Any]:
    share = per_image_cost(result)
    images: list[str] = []
    infotexts: list[str] = []
    for image in result.images:
        data, mime = encode_image(image)
        svc.keep(image, data, mime, result, cost_usd=share)
        if req.send_images:
            images.append(base64.b64encode(data).decode("ascii"))
        # what the provider used, under the checkpoint name and hash this server lists in /sdapi/v1/sd-models
        used = image_settings(image).model_copy(update={"model": ModelRef(name=chain.name, hash=chain.hash)})
        infotexts.append(a1111_parameters(result.prompt, image.info.get("params", {}).get("negative_prompt"), used,
                                          provider=f"{result.provider}:{result.model}"))
    first = result.images[0] if result.images else None
    local = (first.info.get("local") or {}) if first is not None else {}
    seeds = [s if s is not None else -1 for s in result.seeds] or [params.seed if params.seed is not None else -1]
    n = params.n
    negative = req.negative_prompt or ""
    info = {
        "prompt": req.prompt, "all_prompts": [req.prompt] * max(1, len(result.images)),
        "negative_prompt": negative, "all_negative_prompts": [negative] * max(1, len(result.images)),
        "seed": seeds[0], "all_seeds": seeds, "subseed": -1, "all_subseeds": [-1] * len(seeds),
        "subseed_strength": 0, "width": first.width if first else 0, "height": first.height if first else 0,
        "sampler_name": local.get("scheduler") or params.scheduler, "cfg_scale": local.get("guidance", params.guidance),
        "steps": local.get("steps", params.steps), "batch_size": n, "restore_faces": False,
        "face_restoration_model": None, "sd_model_name": chain.name, "sd_model_hash": chain.hash,
        "sd_vae_name": None, "sd_vae_hash": None, "seed_resize_from_w": -1, "seed_resize_from_h": -1,
        "denoising_strength": params.strength,
        "extra_generation_params": {"Provider": f"{result.provider}:{result.model}"},
        "index_of_first_image": 0, "infotexts": infotexts, "styles": req.styles or [],
        "job_timestamp": time.strftime("%Y%m%d%H%M%S"), "clip_skip": params.clip_skip or 1,
        "is_using_inpainting_conditioning": False, "version": f"imagegen {__version__}",
        "warnings": [*warnings, *map(str, result.warnings)],
        "imagegen": {"request_id": result.request_id, "provider": result.provider, "model": result.model,
                     "served_as": chain.name, "cost_usd": result.cost.usd, "cost_source": result.cost.source},
    }
    parameters = req.model_dump()
    if isinstance(req, Img2ImgRequest) and not req.include_init_images:
        parameters["init_images"] = None
        parameters["mask"] = None
    return {"images": images, "parameters": parameters, "info": json.dumps(info, default=str)}
