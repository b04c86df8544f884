"""``DiffusersProvider``: local Stable Diffusion (SD 1.x, SD 2.x, SDXL, imagegen-mini) behind imagegen's contract.

The model is a hub id, a diffusers folder, a single ``.safetensors``/``.ckpt`` checkpoint (with ``config=`` a
folder or hub id of its architecture when offline), or ``imagegen-mini``, the embedded model. Its configs are
read first (no torch) for capabilities; the weights load on the first call, into a cache shared by every
provider instance, and every later call reuses them. The blocking work runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import secrets
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from imagegen.provider import (
    Capabilities,
    Cost,
    CostItem,
    GeneratedImage,
    GenerationWarning,
    ImageData,
    ImageGenError,
    ImageSettings,
    InvalidRequest,
    LoRA,
    ModelRef,
    ProgressEvent,
    ProviderRequest,
    ProviderResponse,
    encode_png,
)
from imagegen.provider import ModelInfo as CatalogModel

from ._lazy import diffusers, torch
from .cache import CacheKey, PipelineCache, device_lock
from .device import DeviceInfo, parse_device, probe_device
from .embeddings import resolve_embeddings
from .engine import Cancelled, HiresPass, Job, LoadedModel, LoRASpec, adapter_name, load_model
from .fewstep import FewStep, check_kind, detect
from .guidance import check_cutoff, is_guidance
from .images import CANNY_DEFAULTS
from .models import MINI, ModelInfo, Source, describe, is_steps, resolve_source
from .presets import DTYPES, PRESETS, Settings, choose_settings
from .reporting import embedding_refs, job_settings, lora_ref, model_ref, refiner_ref, vae_ref
from .schedulers import Sampler, resolve_sampler, sampler_names
from .upscalers import resolve_upscaler, upscale_image

__all__ = ["FAMILY_DEFAULTS", "MAX_SEED", "OPERATIONS", "SUPPORTS", "DiffusersProvider", "shared_cache"]

OPERATIONS = frozenset({"txt2img", "img2img", "inpaint", "controlnet"})
SUPPORTS = frozenset({"seed", "negative_prompt", "steps", "guidance", "scheduler", "lora", "strength",
                      "control_scale", "prompt_syntax", "clip_skip", "embeddings", "vae", "tiling", "hires",
                      "refiner"})
#: Default (steps, guidance) per family; the sampler defaults to the model's own scheduler.
FAMILY_DEFAULTS = {"sd1": (20, 7.0), "sd2": (25, 7.5), "sdxl": (30, 5.0)}
#: Default strength per operation (how much of the input image is re-noised).
DEFAULT_STRENGTH = {"img2img": 0.75, "inpaint": 1.0}
#: Hires fix's default denoising strength (A1111's default for its second pass).
HIRES_STRENGTH = 0.7
#: The share of the steps the base model denoises before an SDXL refiner takes over (A1111's "Switch at").
REFINER_SWITCH = 0.8
MAX_SEED = 2**64 - 1
#: ``provider_options`` this provider reads (``--option KEY=VALUE`` on the CLI).
OPTIONS = ("canny_low", "canny_high", "guidance_cutoff")
#: Environment defaults: the $/hour rate of local device time, and how many models stay loaded.
RATE_ENV = "IMAGEGEN_GPU_USD_PER_HOUR"
MAX_PIPELINES_ENV = "IMAGEGEN_DIFFUSERS_MAX_PIPELINES"


def _env_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value >= 1 else default


logger = logging.getLogger("imagegen.diffusers")
_CACHE: PipelineCache[LoadedModel] = PipelineCache(_env_int(MAX_PIPELINES_ENV, 2), release=LoadedModel.release)


def shared_cache() -> PipelineCache[LoadedModel]:
    """The cache every provider instance shares unless given its own (``cache=``)."""
    return _CACHE


class DiffusersProvider:
    """Local Stable Diffusion. ``DiffusersProvider("stable-diffusion-v1-5/stable-diffusion-v1-5", preset="fast")``.

    ``model``: a hub id, a diffusers folder, a ``.safetensors``/``.ckpt`` file, or ``"imagegen-mini"`` (default).
    ``config``: for a single file, a diffusers folder or hub id with its architecture's configs (needed offline).
    ``preset``: one of ``PRESETS`` ("auto" picks from the device). ``device``: "auto", "cpu", "mps", "cuda",
    "cuda:N". ``dtype``: force "float32", "float16" or "bfloat16". ``controlnet``: a default ControlNet
    (folder, hub id or file) for ``controlnet`` requests. ``inpaint_model``: a dedicated inpainting model
    (its UNet is used for inpainting, the base model's other components are shared; ``inpaint_config`` for
    a single file). ``vae``: a VAE used instead of the model's own (a folder, hub id or single file; ``vae=`` per
    call overrides it). ``steps``, ``guidance``, ``scheduler``, ``clip_skip``, ``canny`` (low, high): defaults for
    every call. ``few_step``: declare the model a few-step one (``fewstep.KINDS``: "lcm", "lcm-unet", "tcd",
    "lightning", "turbo") when its name does not say so: its steps, guidance and sampler become the defaults.
    ``guidance_cutoff``: the share of the steps that keep classifier-free guidance (default: what the
    model folder recommends, else 1, every step). ``usd_per_hour``: the rate local device time is costed at
    (default ``$IMAGEGEN_GPU_USD_PER_HOUR`` or 0). ``max_images_per_call``: the largest batch. ``cache_dir``: the
    Hugging Face cache for hub ids (default: the standard one). ``cache``: a ``PipelineCache`` for loaded models
    (default: one shared by all instances).
    """

    name = "diffusers"
    #: Runs on this machine's device: a Ray batch gives it one warm pipeline per worker
    #: (``imagegen.registry.is_local``).
    local = True

    def __init__(self, model: str = MINI, *, config: str | None = None, preset: str = "auto",
                 device: str | None = None, dtype: str | None = None, controlnet: str | None = None,
                 inpaint_model: str | None = None, inpaint_config: str | None = None, vae: str | None = None,
                 steps: int | None = None,
                 guidance: float | None = None, guidance_cutoff: float | None = None, few_step: str | None = None,
                 scheduler: str | None = None, clip_skip: int | None = None,
                 canny: Sequence[int] = CANNY_DEFAULTS, usd_per_hour: float | None = None,
                 max_images_per_call: int = 4, cache_dir: str | None = None,
                 cache: PipelineCache[LoadedModel] | None = None) -> None:
        if preset not in PRESETS:
            raise InvalidRequest(f"preset: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}",
                                 field="preset")
        parse_device(device)
        if dtype is not None and dtype not in DTYPES:
            raise InvalidRequest(f"dtype: expected one of {', '.join(DTYPES)} or None; got {dtype!r}", field="dtype")
        if steps is not None and not is_steps(steps):
            raise InvalidRequest(f"steps: expected a whole number 1..1000; got {steps!r}", field="steps")
        if guidance is not None and not is_guidance(guidance):
            raise InvalidRequest(f"guidance: expected a number 0..100; got {guidance!r}", field="guidance")
        if isinstance(max_images_per_call, bool) or not isinstance(max_images_per_call, int) or max_images_per_call < 1:
            raise InvalidRequest(f"max_images_per_call: expected a whole number >= 1; got {max_images_per_call!r}",
                                 field="max_images_per_call")
        rate = usd_per_hour if usd_per_hour is not None else _env_rate()
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate < 0:
            raise InvalidRequest(f"usd_per_hour: expected a number >= 0; got {rate!r}", field="usd_per_hour")
        self.model = model
        self.preset = preset
        self.device = device
        self.dtype = dtype
        self.config = config
        self.controlnet = controlnet
        self.inpaint_model = inpaint_model
        self.inpaint_config = inpaint_config
        self.vae = vae
        self.usd_per_hour = float(rate)
        self.cache_dir = cache_dir
        self.source: Source = resolve_source(model)
        self._steps = steps
        self._guidance = None if guidance is None else float(guidance)
        self._guidance_cutoff = None if guidance_cutoff is None else check_cutoff(guidance_cutoff)
        self._few_step = None if few_step is None else check_kind(few_step)
        self._sampler: Sampler | None = resolve_sampler(scheduler) if scheduler else None
        self._clip_skip = _clip_skip(clip_skip)
        self._canny = _canny(canny)
        self._max_images = max_images_per_call
        self._cache = cache if cache is not None else _CACHE
        self._info: ModelInfo | None = None
        self._device_info: DeviceInfo | None = None
        self._keys: set[CacheKey] = set()
        self._last_key: CacheKey | None = None
        self._model_ref: ModelRef | None = None
        self._lock = threading.Lock()
        self._upscaler_models: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"DiffusersProvider({self.model!r}, preset={self.preset!r})"

    # -- what the model is ----------------------------------------------------------------------------

    def info(self) -> ModelInfo:
        """The model's family, native size and scheduler, from its configs (cached; no weights loaded)."""
        if self._info is None:
            with self._lock:
                if self._info is None:
                    self._info = describe(self.source, config=self.config, cache_dir=self.cache_dir)
        return self._info

    def samplers(self) -> list[str]:
        """The sampler names ``scheduler`` takes (A1111's; diffusers class names are accepted too). A server
        lists these as its samplers (``/sdapi/v1/samplers``)."""
        return sampler_names()

    @classmethod
    def catalog(cls) -> list[CatalogModel]:
        """The embedded model, for ``imagegen.models()``: any SD 1.x, SD 2.x or SDXL model works too, by path
        or hub id, and is described when it is named."""
        caps = cls(MINI).capabilities()
        return [CatalogModel(
            provider=cls.name, model=MINI, status="active", sizes=caps.describe_sizes(),
            max_images_per_call=caps.max_images_per_call,
            price=f"local: device time at {RATE_ENV} (default $0 per hour)", operations=tuple(sorted(caps.operations)),
            recommended=True, source="shipped with imagegen-diffusers",
            note="any SD 1.x, SD 2.x or SDXL folder, checkpoint or hub id works as diffusers:<path or id>")]

    def capabilities(self) -> Capabilities:
        info = self.info()
        factor = info.vae_scale_factor
        multiple = math.lcm(8, factor)
        native = max(multiple, round(info.native_side / multiple) * multiple)
        smallest = factor * 2 ** max(0, info.levels - 1)
        min_side = max(multiple, -(-smallest // multiple) * multiple)
        max_side = max(native, min(4096, native * 4) // multiple * multiple)
        return Capabilities(sizes=None, multiple_of=multiple, min_side=min(min_side, native), max_side=max_side,
                            default_size=(native, native), max_images_per_call=self._batch_limit(),
                            operations=frozenset({"inpaint"}) if info.inpainting else OPERATIONS,
                            supports=SUPPORTS, max_seed=MAX_SEED, partial_images=3)

    def _batch_limit(self) -> int:
        entry = self._cache.peek(self._last_key) if self._last_key is not None else None
        return max(1, min(self._max_images, entry.max_batch)) if entry is not None else self._max_images

    def defaults(self, few: FewStep | None = None) -> tuple[int, float]:
        """(steps, guidance) used when a request gives none: this provider's own, else what the model folder
        recommends (its ``imagegen.json``), else a few-step model's (``few``, see ``few_step``), else its family's."""
        info = self.info()
        steps, guidance = (few.steps, few.guidance) if few is not None else FAMILY_DEFAULTS[info.family]
        steps = info.recommended_steps or steps
        guidance = info.recommended_guidance if info.recommended_guidance is not None else guidance
        return (self._steps or steps, self._guidance if self._guidance is not None else guidance)

    def few_step(self, loras: Sequence[str] = ()) -> FewStep | None:
        """The few-step settings this model (with ``loras``) is made for, or None: declared (``few_step=`` on the
        provider, else ``few_step`` in the folder's ``imagegen.json``) or recognised (``fewstep.detect``)."""
        info = self.info()
        declared, by = (self._few_step, "few_step= on the provider") if self._few_step else (
            info.few_step, "the model folder's imagegen.json")
        return detect(self.model, loras, declared=declared, declared_by=by, guidance_embedded=info.guidance_embedded)

    def settings(self) -> Settings:
        """The settings this provider's preset picks for its model on its device (probes the device)."""
        info = self.info()
        return choose_settings(self._device(), self.preset, family=info.family, width=info.native_side,
                               height=info.native_side, batch=self._max_images, params=info.params, dtype=self.dtype)

    def _device(self) -> DeviceInfo:
        if self._device_info is None:
            self._device_info = probe_device(self.device)
        return self._device_info

    def _cache_key(self, device: DeviceInfo) -> CacheKey:
        model = self.source.location
        if self.source.kind == "file":
            model += f"|config={self.info().config_dir}"
        return CacheKey(model=model, dtype=self.dtype or "auto", device=device.torch_device, preset=self.preset)

    # -- costs ----------------------------------------------------------------------------------------

    def _cost(self, seconds: float, device: DeviceInfo) -> Cost:
        per_second = self.usd_per_hour / 3600
        usd = seconds * per_second
        item = CostItem(f"{device.kind} seconds ({device.name or device.torch_device}) at ${self.usd_per_hour:g}/hour",
                        quantity=seconds, unit_usd=per_second, usd=usd)
        return Cost(usd=usd, source="gpu-seconds", items=[item])

    def estimate_cost(self, req: ProviderRequest) -> Cost | None:
        """Zero at the default rate; else measured device seconds per step and megapixel x the request."""
        if self.usd_per_hour == 0:
            return Cost(usd=0.0, source="gpu-seconds")
        entry = self._cache.peek(self._last_key) if self._last_key is not None else None
        if entry is None or entry.seconds_per_unit is None:
            return None
        steps = req.steps or self.defaults()[0]
        seconds = entry.seconds_per_unit * steps * req.n * req.width * req.height / 1e6
        return Cost(usd=seconds * self.usd_per_hour / 3600, source="gpu-seconds")

    # -- generation -----------------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Read the model's configs (for a hub id: fetch them) in a worker thread, before the client plans a
        request. The weights load on the first ``generate``, after the request is validated."""
        if self._info is None:
            await asyncio.to_thread(self.info)

    async def generate(self, req: ProviderRequest) -> ProviderResponse:
        sampler = resolve_sampler(req.scheduler) if req.scheduler else self._sampler  # fail before any work
        return await asyncio.to_thread(self._generate, req, sampler)

    def _generate(self, req: ProviderRequest, sampler: Sampler | None) -> ProviderResponse:
        warnings: list[GenerationWarning] = []
        job = self._job(req, sampler, warnings)
        if "diffusers" not in sys.modules:  # the first call of the process: seconds a display should name
            _tell(req, "import", "torch, diffusers")
            torch(), diffusers()
        device = self._device()
        key = self._cache_key(device)
        info = self.info()
        t0 = time.perf_counter()
        with device_lock(device.torch_device):
            queued = time.perf_counter() - t0
            if req.cancel is not None and req.cancel.is_set():
                raise Cancelled("cancelled while waiting for the device (no image made)")
            def load() -> LoadedModel:
                _tell(req, "load", f"{self.name}:{self.model}")
                return load_model(key, self.source, info, self._choose(info, device), device,
                                  cache_dir=self.cache_dir)

            entry, loaded = self._cache.get_or_load(key, load)
            self._keys.add(key)
            self._last_key = key
            try:
                out = entry.run(job)
            except ImageGenError:
                raise
            except ValueError as exc:  # the pipeline's own input checks
                raise InvalidRequest(f"diffusers rejected the request: {exc}".splitlines()[0][:500]) from exc
        warnings += out.warnings
        used = self._used(job, entry)
        for image in out.images:
            image.settings = used.model_copy(update={"seed": image.seed})
        settings = out.settings or entry.settings
        report = {"settings": settings.as_dict(), "scheduler": out.scheduler, "steps": job.steps,
                  "guidance": job.guidance, "guidance_cutoff": job.guidance_cutoff, "family": info.family,
                  "device": device.describe(),
                  "batches": out.batches, "loaded": loaded, "loras": [[lo.label, lo.scale] for lo in job.loras],
                  "prompt_syntax": job.prompt_syntax, "clip_skip": job.clip_skip or 1,
                  "embeddings": {e.name: e.path for e in job.embeddings}, "vae": job.vae, "tiling": job.tiling}
        if job.operation in ("img2img", "inpaint"):
            report["strength"] = job.strength
        if job.operation == "controlnet":
            report.update(control_model=job.control_model, control=job.control or "image")
        if job.few_step is not None:
            report["few_step"] = job.few_step.report()
        if job.refiner is not None:
            report["refiner"] = {"model": job.refiner, "switch": job.refiner_switch}
        if job.hires is not None:
            h = job.hires
            report["hires"] = {"size": f"{h.width}x{h.height}", "first_pass": f"{job.width}x{job.height}",
                               "upscaler": h.upscaler.label, "strength": h.strength, "steps": h.steps}
        if job.operation == "inpaint" and job.inpaint_model and not info.inpainting:
            report["inpaint_model"] = job.inpaint_model
        for image in out.images:
            image.info["local"] = report
        timings = {"gpu_s": out.device_s, "encode_s": out.encode_s, "queue_s": queued}
        if loaded:
            timings["load_s"] = entry.load_s
        return ProviderResponse(images=out.images, cost=self._cost(out.device_s, device), warnings=list(warnings),
                                usage=report, timings=timings)

    async def upscale(self, image: ImageData, width: int, height: int, upscaler: str) -> GeneratedImage:
        """``image`` enlarged to ``width`` x ``height`` (what ``imagegen upscale`` calls): ``lanczos``/``nearest``,
        an upscaler model file (spandrel), or ``latent`` through this provider's model's VAE."""
        chosen = resolve_upscaler(upscaler, field="upscaler")  # fail before any work
        return await asyncio.to_thread(self._upscale, image, width, height, chosen)

    def _upscale(self, image: ImageData, width: int, height: int, upscaler: Any) -> GeneratedImage:
        device = self._device()
        with device_lock(device.torch_device):
            if upscaler.kind == "latent":
                key = self._cache_key(device)
                info = self.info()
                entry, _ = self._cache.get_or_load(key, lambda: load_model(
                    key, self.source, info, self._choose(info, device), device, cache_dir=self.cache_dir))
                self._keys.add(key)
                picture = entry.latent_upscale(image.to_pil(), width, height, upscaler)
            else:
                picture = upscale_image(image.to_pil().convert("RGB"), width, height, upscaler, device.torch_device,
                                        self._upscaler_models)
        return GeneratedImage(data=encode_png(picture), mime="image/png", width=picture.width, height=picture.height,
                              info={"upscaler": upscaler.label})

    def _used(self, job: Job, entry: LoadedModel) -> ImageSettings:
        """What ``job`` ran with, as A1111 records it (models hashed once per file, see ``reporting``)."""
        if self._model_ref is None:
            self._model_ref = model_ref(self.model, self.source, cache_dir=self.cache_dir)
        scheduler = entry.scheduler(job.sampler)
        return job_settings(job, model=self._model_ref, scheduler_class=type(scheduler).__name__,
                            scheduler_config=scheduler.config, loras=tuple(lora_ref(lo) for lo in job.loras),
                            vae=vae_ref(job.vae, cache_dir=self.cache_dir) if job.vae else None,
                            refiner=refiner_ref(job.refiner, cache_dir=self.cache_dir) if job.refiner else None,
                            embeddings=embedding_refs(job.embeddings, job.prompt, job.negative_prompt))

    def _choose(self, info: ModelInfo, device: DeviceInfo) -> Settings:
        return choose_settings(device, self.preset, family=info.family, width=info.native_side,
                               height=info.native_side, batch=self._max_images, params=info.params, dtype=self.dtype)

    def _job(self, req: ProviderRequest, sampler: Sampler | None, warnings: list[GenerationWarning]) -> Job:
        """Resolve every default of ``req`` (which ``normalize`` fitted to these capabilities: operation, size,
        ``n`` and seed range); a problem with what only this provider checks is an ``InvalidRequest`` before work."""
        info = self.info()
        operation = req.operation
        seeds = [s if s is not None else secrets.randbelow(2**32)
                 for s in (list(req.seeds) + [None] * req.n)[:req.n]]
        few = self.few_step([lo.path for lo in req.loras])
        default_steps, default_guidance = self.defaults(few)
        steps = req.steps or default_steps
        guidance = req.guidance if req.guidance is not None else default_guidance
        options = self._options(req.provider_options, info, warnings)
        eta = None
        if sampler is None and few is not None:
            sampler, eta = resolve_sampler(few.sampler), few.eta
        clip_skip = req.clip_skip if req.clip_skip is not None else self._clip_skip
        if clip_skip is not None and info.text_layers is not None and clip_skip > info.text_layers:
            raise InvalidRequest(f"clip_skip: this model's text encoder has {info.text_layers} layers; clip_skip must "
                                 f"be 1..{info.text_layers} (1 = the last layer); got {clip_skip}", field="clip_skip")
        strength = None
        if operation in DEFAULT_STRENGTH:
            strength = req.strength if req.strength is not None else DEFAULT_STRENGTH[operation]
            if int(steps * strength) < 1:
                raise InvalidRequest(f"strength: {strength:g} of {steps} steps leaves no step to run; raise strength "
                                     "or steps", field="strength")
        control = req.control.strip().lower() if req.control else None
        control_model = None
        if operation == "controlnet":
            if control not in (None, "canny"):
                raise InvalidRequest(f"control: unknown preprocessor {req.control!r}; use 'canny' (edges computed "
                                     "from control_image) or none (control_image is the ready-made control image)",
                                     field="control")
            control_model = req.control_model or self.controlnet
            if control_model is None:
                raise InvalidRequest("control_model: ControlNet needs a ControlNet model: pass control_model= (a "
                                     "folder, hub id or file) or DiffusersProvider(..., controlnet=...)",
                                     field="control_model")
        if req.negative_prompt and guidance <= 1:
            warnings.append(GenerationWarning(f"negative_prompt: has no effect at guidance {guidance:g} "
                                              "(classifier-free guidance is off at 1 or below)",
                                              field="negative_prompt"))
        hires = self._hires(req, steps, warnings)
        refiner = self._refiner(req, info, steps, warnings)
        return Job(operation=operation, prompt=req.prompt, width=req.width, height=req.height, seeds=seeds,
                   steps=steps, guidance=float(guidance), guidance_cutoff=options["guidance_cutoff"],
                   negative_prompt=req.negative_prompt, sampler=sampler, eta=eta, few_step=few,
                   strength=strength, control_scale=req.control_scale, control=control, control_model=control_model,
                   control_model_from_request=req.control_model is not None, inpaint_model=self.inpaint_model,
                   inpaint_config=self.inpaint_config, loras=_lora_specs(req.loras),
                   prompt_syntax=req.prompt_syntax or "a1111", clip_skip=clip_skip,
                   embeddings=resolve_embeddings(req.embeddings), vae=req.vae or self.vae, tiling=req.tiling,
                   hires=hires, refiner=refiner,
                   refiner_switch=req.refiner_switch if req.refiner_switch is not None else REFINER_SWITCH,
                   canny=(options["canny_low"], options["canny_high"]),
                   image=req.image, mask=req.mask, control_image=req.control_image, index=req.index,
                   progress=req.progress, cancel=req.cancel, previews=req.partial_images, partial=req.partial)

    def _refiner(self, req: ProviderRequest, info: ModelInfo, steps: int,
                 warnings: list[GenerationWarning]) -> str | None:
        """The refiner to use, checked before any work: an SDXL base, txt2img, a step left on each side."""
        if req.refiner is None:
            return None
        if info.family != "sdxl":
            raise InvalidRequest(f"refiner: a refiner takes over from an SDXL base model; this is an "
                                 f"{info.family_name} model", field="refiner")
        if req.operation != "txt2img":
            warnings.append(GenerationWarning(f"refiner: the refiner takes over a txt2img run; ignored for "
                                              f"{req.operation}", kind="unsupported", field="refiner"))
            return None
        switch = req.refiner_switch if req.refiner_switch is not None else REFINER_SWITCH
        if round(steps * switch) < 1 or round(steps * switch) >= steps:
            raise InvalidRequest(f"refiner_switch: {switch:g} of {steps} steps leaves no step for the base model or "
                                 "none for the refiner; give more steps or another switch point",
                                 field="refiner_switch")
        return req.refiner

    def _hires(self, req: ProviderRequest, steps: int, warnings: list[GenerationWarning]) -> HiresPass | None:
        """Hires fix resolved against this model: the target size on its grid, A1111's defaults for the rest
        (upscaler "latent", strength 0.7, the first pass's steps)."""
        hires = req.hires
        if hires is None:
            return None
        if req.operation != "txt2img":
            warnings.append(GenerationWarning(f"hires: hires fix is a second pass after txt2img; ignored for "
                                              f"{req.operation}", kind="unsupported", field="hires"))
            return None
        caps = self.capabilities()
        m = caps.multiple_of
        if hires.size is not None:
            wanted = hires.size
        else:
            assert hires.scale is not None
            wanted = (round(req.width * hires.scale), round(req.height * hires.scale))
        target = (max(m, round(wanted[0] / m) * m), max(m, round(wanted[1] / m) * m))
        if max(target) > caps.max_side:
            raise InvalidRequest(f"hires: {target[0]}x{target[1]} is past the largest side this model makes "
                                 f"({caps.max_side}); use a smaller scale or size", field="hires")
        if target[0] < req.width or target[1] < req.height:
            raise InvalidRequest(f"hires: {target[0]}x{target[1]} is smaller than the first pass ({req.width}x"
                                 f"{req.height}); hires fix makes the image larger", field="hires")
        if hires.size is not None and target != wanted:
            warnings.append(GenerationWarning(f"hires: {wanted[0]}x{wanted[1]} rounded to {target[0]}x{target[1]} "
                                              f"(sides are multiples of {m})", kind="size", field="hires"))
        strength = hires.strength if hires.strength is not None else HIRES_STRENGTH
        second = hires.steps or steps
        if int(second * strength) < 1:
            raise InvalidRequest(f"hires: strength {strength:g} of {second} steps leaves no step to run; raise the "
                                 "strength or the steps", field="hires")
        return HiresPass(width=target[0], height=target[1], upscaler=resolve_upscaler(hires.upscaler),
                         strength=strength, steps=second, scale=hires.scale)

    def _options(self, given: Mapping[str, Any], info: ModelInfo, warnings: list[GenerationWarning]) -> dict[str, Any]:
        unknown = sorted(set(given) - set(OPTIONS))
        if unknown:
            names = ", ".join(map(repr, unknown))
            warnings.append(GenerationWarning(f"provider_options: diffusers does not know {names}; ignored (known: "
                                              f"{', '.join(OPTIONS)})", kind="unsupported", field="provider_options"))
        low = given.get("canny_low", self._canny[0])
        high = given.get("canny_high", self._canny[1])
        canny = _canny((low, high))
        if "guidance_cutoff" in given:
            cutoff = check_cutoff(given["guidance_cutoff"])
        elif self._guidance_cutoff is not None:
            cutoff = self._guidance_cutoff
        else:
            cutoff = info.recommended_guidance_cutoff or 1.0
        return {"canny_low": canny[0], "canny_high": canny[1], "guidance_cutoff": cutoff}

    async def aclose(self) -> None:
        """Drop the models this provider loaded from the cache, freeing their memory."""
        for key in list(self._keys):
            self._cache.evict(key)
        self._keys.clear()


def _env_rate() -> float:
    raw = os.environ.get(RATE_ENV, "").strip()
    if not raw:
        return 0.0
    try:
        return float(raw)
    except ValueError:
        raise InvalidRequest(f"{RATE_ENV}: expected dollars per hour as a number; got {raw!r}",
                             field="usd_per_hour") from None


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidRequest(f"{name}: expected a whole number; got {value!r}", field=name)
    if isinstance(value, str):
        value = value.strip()
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidRequest(f"{name}: expected a whole number; got {value!r}", field=name) from None
    if isinstance(value, float) and not value.is_integer():
        raise InvalidRequest(f"{name}: expected a whole number; got {value!r}", field=name)
    return number


def _clip_skip(value: Any) -> int | None:
    if value is None:
        return None
    n = _int(value, "clip_skip")
    if n < 1:
        raise InvalidRequest(f"clip_skip: expected 1 or more (1 = the text encoder's last layer, 2 = the one "
                             f"before, as in AUTOMATIC1111); got {n}", field="clip_skip")
    return n


def _canny(value: Sequence[Any]) -> tuple[int, int]:
    if isinstance(value, (str, bytes)) or len(value) != 2:
        raise InvalidRequest(f"canny: expected (low, high) thresholds; got {value!r}", field="canny")
    low, high = _int(value[0], "canny_low"), _int(value[1], "canny_high")
    if not 0 <= low <= high <= 2000:
        raise InvalidRequest(f"canny: thresholds must satisfy 0 <= low <= high <= 2000; got ({low}, {high})",
                             field="canny")
    return low, high


def _tell(req: ProviderRequest, stage: str, detail: str) -> None:
    """A phase for the caller's progress display; a broken display never costs the images."""
    if req.progress is not None:
        try:
            req.progress(ProgressEvent(stage, 0, 0, req.index, detail))
        except Exception:
            logger.exception("imagegen diffusers: progress callback failed")


def _lora_specs(loras: Sequence[LoRA]) -> tuple[LoRASpec, ...]:
    specs: list[LoRASpec] = []
    for lo in loras:
        path = os.path.abspath(os.path.expanduser(lo.path))
        weight_name = None
        if os.path.exists(path):
            location = path
        else:
            parts = lo.path.strip("/").split("/")
            if len(parts) == 3 and parts[2].endswith((".safetensors", ".bin")):
                location, weight_name = "/".join(parts[:2]), parts[2]
            elif len(parts) == 2 and not lo.path.startswith((".", "~", "/")) and not lo.path.endswith(".safetensors"):
                location = lo.path
            else:
                raise InvalidRequest(f"loras: no such LoRA file or folder: {lo.path!r} (resolved to {path}); give a "
                                     "file, a folder, a hub id 'owner/name' or 'owner/name/file.safetensors'",
                                     field="loras")
        name = adapter_name(location + (f"/{weight_name}" if weight_name else ""), lo.name)
        if any(s.name == name for s in specs):
            raise InvalidRequest(f"loras: {lo.path!r} is given twice (adapter {name!r}); give each LoRA once",
                                 field="loras")
        specs.append(LoRASpec(name=name, location=location, scale=float(lo.scale), weight_name=weight_name,
                              label=lo.path))
    return tuple(specs)
