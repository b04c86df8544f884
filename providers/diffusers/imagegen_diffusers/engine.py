"""A loaded model and the work done on it: loading, the shared components, and one call's denoising.

``load_model`` loads a pipeline once (from a folder, a hub id or a single checkpoint file) and applies the
chosen ``Settings``. ``LoadedModel.run(job)`` runs one validated request on it:

- every operation uses the same components: img2img, inpainting and ControlNet pipelines are views built
  from the base pipeline's modules (a dedicated inpainting UNet or a ControlNet is the only extra weight);
- the sampler is a scheduler built from the model's own scheduler config, cached by name;
- LoRAs are loaded once as named adapters and switched with ``set_adapters`` (the base model is never
  reloaded for a different set);
- each image gets its own ``torch.Generator`` seeded with its seed, so an image is the same alone or in a batch;
- each denoising step reports progress and checks the cancel event;
- on out-of-memory it steps down ``presets.LADDER`` and retries, with a ``memory:`` warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import os
import re
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from imagegen.provider import (
    GeneratedImage,
    GenerationWarning,
    ImageData,
    ImageGenError,
    InvalidRequest,
    PartialImage,
    ProgressEvent,
    ProviderUnavailable,
    encode_png,
)

from . import images as imaging
from ._lazy import diffusers, torch
from .cache import CacheKey
from .device import DeviceInfo
from .embeddings import EmbeddingSpec, load_embedding, unload_embedding
from .fewstep import FewStep
from .guidance import after_step, tensor_inputs
from .models import ModelInfo, Source, hub_advice, hub_config_folder, resolve_source
from .presets import LADDER, Settings, apply_rung, call_settings, next_rung
from .prompts import PromptEncoder
from .schedulers import Sampler, describe_scheduler, make_scheduler
from .shipped import is_shipped, tokenizers
from .upscalers import Upscaler, upscale_image, upscale_latents

__all__ = ["Cancelled", "HiresPass", "Job", "LoRASpec", "LoadedModel", "Outcome", "adapter_name", "is_oom",
           "load_model"]

logger = logging.getLogger("imagegen.diffusers")

#: Pipeline class per (family group, operation).
_PIPELINES = {
    ("sd", "txt2img"): "StableDiffusionPipeline", ("sd", "img2img"): "StableDiffusionImg2ImgPipeline",
    ("sd", "inpaint"): "StableDiffusionInpaintPipeline", ("sd", "controlnet"): "StableDiffusionControlNetPipeline",
    ("sdxl", "txt2img"): "StableDiffusionXLPipeline", ("sdxl", "img2img"): "StableDiffusionXLImg2ImgPipeline",
    ("sdxl", "inpaint"): "StableDiffusionXLInpaintPipeline",
    ("sdxl", "controlnet"): "StableDiffusionXLControlNetPipeline",
}
#: LoRA adapters kept loaded (the least recently used inactive ones are deleted past this).
MAX_ADAPTERS = 8
#: ControlNets and dedicated inpainting UNets kept loaded per model.
MAX_EXTRA_MODELS = 2


class Cancelled(ImageGenError):
    """The request's cancel event was set: generation stopped at the next step. ``images`` holds the
    images finished before that (from earlier batches of the same call)."""


class _Stop(Exception):
    def __init__(self, step: int, total: int) -> None:
        super().__init__(f"cancelled at step {step} of {total}")
        self.step, self.total = step, total


def is_oom(exc: BaseException) -> bool:
    """True for a CUDA (or MPS) out-of-memory error."""
    t = torch()
    oom = getattr(t, "OutOfMemoryError", None) or t.cuda.OutOfMemoryError
    if isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


@dataclass(frozen=True)
class LoRASpec:
    """A LoRA to apply: its adapter ``name``, where it is (a file, folder or hub repo) and its scale."""

    name: str
    location: str
    scale: float
    weight_name: str | None = None
    label: str = ""


@dataclass(frozen=True)
class HiresPass:
    """Hires fix, resolved: the target size, the upscaler, and the second pass's strength and steps."""

    width: int
    height: int
    upscaler: Upscaler
    strength: float
    steps: int
    #: The factor asked for (None when a size was): what A1111 records as "Hires upscale".
    scale: float | None = None


@dataclass
class Job:
    """One provider call, validated and with every default resolved."""

    operation: str
    prompt: str
    width: int
    height: int
    seeds: list[int]
    steps: int
    guidance: float
    #: The share of the steps that keep classifier-free guidance (see ``guidance.py``).
    guidance_cutoff: float = 1.0
    negative_prompt: str | None = None
    sampler: Sampler | None = None
    #: The sampler's eta (TCD's gamma), when the few-step model it was chosen for asks for one.
    eta: float | None = None
    #: The few-step model settings the defaults came from, for the report.
    few_step: FewStep | None = None
    strength: float | None = None
    control_scale: float | None = None
    control: str | None = None
    control_model: str | None = None
    control_model_from_request: bool = False
    inpaint_model: str | None = None
    inpaint_config: str | None = None
    loras: tuple[LoRASpec, ...] = ()
    #: "a1111": weights, ``BREAK`` and long prompts (``prompts.py``); "plain": the prompt as written.
    prompt_syntax: str = "a1111"
    #: A1111's clip skip: 1 (or None) uses the text encoder's last layer, 2 the one before, ...
    clip_skip: int | None = None
    embeddings: tuple[EmbeddingSpec, ...] = ()
    #: A VAE to decode (and encode) with instead of the model's own: a folder, hub id or single file.
    vae: str | None = None
    #: Seamless tiling: circular padding in the UNet's and VAE's convolutions for this call.
    tiling: bool = False
    #: Hires fix: a second pass at a larger size (txt2img only).
    hires: HiresPass | None = None
    #: An SDXL refiner (folder, hub id or file) that denoises the steps after ``refiner_switch`` (a share of them).
    refiner: str | None = None
    refiner_switch: float = 0.8
    canny: tuple[int, int] = imaging.CANNY_DEFAULTS
    image: ImageData | None = None
    mask: ImageData | None = None
    control_image: ImageData | None = None
    index: int = 0
    progress: Callable[[ProgressEvent], None] | None = None
    cancel: threading.Event | None = None
    #: Streaming: this many previews per image during the first denoising pass, sent to ``partial``.
    previews: int = 0
    partial: Callable[[PartialImage], None] | None = None


@dataclass
class Outcome:
    """What ``LoadedModel.run`` made, and how."""

    images: list[GeneratedImage]
    warnings: list[GenerationWarning] = field(default_factory=list)
    device_s: float = 0.0
    encode_s: float = 0.0
    scheduler: str = ""
    settings: Settings | None = None
    batches: list[int] = field(default_factory=list)


def _dtype(name: str) -> Any:
    return getattr(torch(), name)


def _group(info: ModelInfo) -> str:
    return "sdxl" if info.family == "sdxl" else "sd"


@contextlib.contextmanager
def _quiet_diffusers() -> Iterator[None]:
    """diffusers' and transformers' progress bars and loading chatter off while we load (our own errors say
    what matters); their settings are restored afterwards."""
    import transformers

    libraries = [diffusers().utils.logging, transformers.utils.logging]
    saved = [(lib.get_verbosity(), lib.is_progress_bar_enabled()) for lib in libraries]
    for lib in libraries:
        lib.set_verbosity_error()
        lib.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            # several LoRAs on one UNet is the point of named adapters, not a mistake
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute", category=UserWarning)
            yield
    finally:
        for lib, (level, bars) in zip(libraries, saved, strict=True):
            lib.set_verbosity(level)
            if bars:
                lib.enable_progress_bar()


def _dtype_kwarg(dtype: Any) -> dict[str, Any]:
    """``dtype=`` for diffusers 0.42 and later (which deprecates ``torch_dtype``), ``torch_dtype=`` before."""
    version = tuple(int(p) for p in re.findall(r"\d+", diffusers().__version__)[:2])
    return {"dtype" if version >= (0, 42) else "torch_dtype": dtype}


def _load_error(source: Source, exc: BaseException, *, config_dir: str | None) -> ProviderUnavailable:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:400]
    if is_oom(exc):
        return ProviderUnavailable(f"not enough device memory to load {source.describe()} ({text}); try "
                                   "preset='low-memory', a smaller model, or device='cpu'")
    if source.kind == "hub":
        return ProviderUnavailable(hub_advice(source.location, exc))
    if source.kind == "file" and config_dir is None:
        return ProviderUnavailable(
            f"cannot load {source.describe()} ({text}). A single checkpoint needs the configs of its architecture: "
            "pass config= a local diffusers folder (or a cached hub id) of the same family, e.g. "
            "DiffusersProvider('model.safetensors', config='/models/stable-diffusion-v1-5')")
    if source.kind == "file" and is_shipped(config_dir):
        return ProviderUnavailable(
            f"cannot load {source.describe()} ({text}). Its tensors do not fit the published architecture of its "
            "family (the configs imagegen-diffusers ships): if it is a model of another shape, pass config= a "
            "diffusers folder (or hub id) of its architecture; else the file is incomplete or corrupt: download it "
            "again")
    return ProviderUnavailable(f"cannot load {source.describe()} ({text}); the files are incomplete, corrupt or of "
                               "another architecture: re-download or re-save them")


def load_model(key: CacheKey, source: Source, info: ModelInfo, settings: Settings, device: DeviceInfo, *,
               cache_dir: str | None = None) -> LoadedModel:
    """Load ``source`` and set it up per ``settings``; any failure is a ``ProviderUnavailable``.
    ``cache_dir``: the Hugging Face cache for hub ids (default: the standard one)."""
    kwargs: dict[str, Any] = _dtype_kwarg(_dtype(settings.dtype))
    if info.family != "sdxl":
        kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    t0 = time.perf_counter()
    try:
        with _quiet_diffusers():
            cls = getattr(diffusers(), _PIPELINES[(_group(info), "inpaint" if info.inpainting else "txt2img")])
            if source.kind == "file":
                if is_shipped(info.config_dir):  # the package's own configs: tokenizers built here, nothing fetched
                    kwargs.update(tokenizers(info.family))
                pipe = cls.from_single_file(source.location, config=info.config_dir,
                                            local_files_only=info.config_dir is not None, **kwargs)
            else:
                pipe = cls.from_pretrained(source.location, cache_dir=cache_dir, **kwargs)
    except ImageGenError:
        raise
    except Exception as exc:  # diffusers, transformers, hub and OS errors: all mean the model cannot be loaded
        raise _load_error(source, exc, config_dir=info.config_dir) from exc
    model = LoadedModel(key, source, info, settings, device, pipe)
    model.cache_dir = cache_dir
    try:
        model.configure()
    except Exception as exc:
        if is_oom(exc):
            raise _load_error(source, exc, config_dir=info.config_dir) from exc
        raise
    model.load_s = time.perf_counter() - t0
    return model


class LoadedModel:
    """A loaded pipeline with its settings, and the views, schedulers, adapters and extra models built on it."""

    def __init__(self, key: CacheKey, source: Source, info: ModelInfo, settings: Settings, device: DeviceInfo,
                 base: Any) -> None:
        self.key = key
        self.source = source
        self.info = info
        self.settings = settings
        self.device = device
        self.base = base
        self.load_s = 0.0
        self.cache_dir: str | None = None
        self.max_batch = settings.max_batch
        self.base_scheduler: Any = base.scheduler
        self.scheduler_config: dict[str, Any] = dict(base.scheduler.config)
        self.vae_scale_factor = int(getattr(base, "vae_scale_factor", info.vae_scale_factor))
        self.calls = 0
        self.seconds_per_unit: float | None = None  # device seconds per (step x image x megapixel)
        self._ops: dict[tuple[str, str | None, str | None], Any] = {}
        self._schedulers: dict[str, Any] = {}
        self._controlnets: OrderedDict[str, Any] = OrderedDict()
        self._unets: OrderedDict[str, Any] = OrderedDict()
        self._vaes: OrderedDict[str, Any] = OrderedDict()
        self._upscalers: dict[str, Any] = {}  # upscaler model file -> loaded model
        self._refiners: OrderedDict[str, Any] = OrderedDict()
        self._refiner_schedulers: dict[tuple[str, str], Any] = {}
        self._adapters: OrderedDict[str, str] = OrderedDict()
        self._encoders: dict[tuple[int, int], PromptEncoder] = {}
        self._embeddings: dict[str, tuple[str, list[str]]] = {}  # name -> (file, tokens added)
        self._active: tuple[tuple[str, str, float], ...] = ()
        self._applied = replace(settings, vae_slicing=False, vae_tiling=False, attention="sdpa", offload="none")
        self._offload_owner: int | None = None
        self._fused = False

    # -- set-up -------------------------------------------------------------------------------------

    def configure(self) -> None:
        """Apply the load-time settings: placement, channels-last, fused QKV, compile, memory savers."""
        t, s, pipe = torch(), self.settings, self.base
        pipe.set_progress_bar_config(disable=True)
        if s.offload == "none":
            pipe.to(self.device.torch_device)
        if s.channels_last:
            pipe.unet.to(memory_format=t.channels_last)
        if s.fused_qkv:
            pipe.fuse_qkv_projections()
            self._fused = True
        if s.compile_unet:
            pipe.unet.compile(mode="max-autotune", fullgraph=False)
        self._sync_memory(pipe, s)

    def _sync_memory(self, pipe: Any, s: Settings) -> None:
        """Make the savers in effect match ``s``: VAE slicing/tiling both ways, the rest only ever on."""
        a = self._applied
        if s.vae_slicing != a.vae_slicing:
            (pipe.vae.enable_slicing if s.vae_slicing else pipe.vae.disable_slicing)()
        if s.vae_tiling != a.vae_tiling:
            (pipe.vae.enable_tiling if s.vae_tiling else pipe.vae.disable_tiling)()
        if s.attention == "sliced" and a.attention != "sliced":
            self.base.enable_attention_slicing()
        if s.offload != "none" and (self._offload_owner != id(pipe) or a.offload != s.offload):
            if s.offload == "model":
                pipe.enable_model_cpu_offload(device=self.device.torch_device)
            else:
                pipe.enable_sequential_cpu_offload(device=self.device.torch_device)
            self._offload_owner = id(pipe)
        self._applied = replace(a, vae_slicing=s.vae_slicing, vae_tiling=s.vae_tiling,
                                attention="sliced" if s.attention == "sliced" else a.attention, offload=s.offload)

    def release(self) -> None:
        """Forget the views and extra models built on this model (a job still running keeps what it uses;
        the memory is freed when the last reference goes)."""
        self._ops.clear()
        self._controlnets.clear()
        self._unets.clear()
        self._vaes.clear()
        self._upscalers.clear()
        self._refiners.clear()
        self._refiner_schedulers.clear()
        self._schedulers.clear()
        self._empty_cache()

    # -- views, schedulers, adapters, extra models ----------------------------------------------------

    def pipeline(self, job: Job) -> Any:
        """The pipeline for ``job``'s operation, built once from the base pipeline's components."""
        op = job.operation
        control = job.control_model if op == "controlnet" else None
        inpaint = job.inpaint_model if op == "inpaint" and not self.info.inpainting else None
        key = (op, control, inpaint)
        pipe = self._ops.get(key)
        if pipe is not None:
            return pipe
        if op == "txt2img" or (op == "inpaint" and self.info.inpainting):
            pipe = self.base
        else:
            components = dict(self.base.components)
            if control is not None:
                components["controlnet"] = self._controlnet(control, from_request=job.control_model_from_request)
            if inpaint is not None:
                components["unet"] = self._inpaint_unet(inpaint, job.inpaint_config)
            with _quiet_diffusers():
                cls = getattr(diffusers(), _PIPELINES[(_group(self.info), op)])
                params = inspect.signature(cls.__init__).parameters
                kwargs = {k: v for k, v in components.items() if k in params}
                if "requires_safety_checker" in params:
                    kwargs["requires_safety_checker"] = False
                pipe = cls(**kwargs)
            pipe.set_progress_bar_config(disable=True)
        self._ops[key] = pipe
        return pipe

    def scheduler(self, sampler: Sampler | None) -> Any:
        if sampler is None:
            return self.base_scheduler
        sched = self._schedulers.get(sampler.name)
        if sched is None:
            sched = self._schedulers[sampler.name] = make_scheduler(sampler, self.scheduler_config)
        return sched

    def scheduler_name(self, sampler: Sampler | None) -> str:
        sched = self.scheduler(sampler)
        return sampler.name if sampler is not None else describe_scheduler(type(sched).__name__, sched.config)

    def set_loras(self, loras: tuple[LoRASpec, ...]) -> None:
        """Make exactly ``loras`` active at their scales (loading any adapter not loaded yet)."""
        wanted = tuple((lo.name, _where(lo), lo.scale) for lo in loras)
        if wanted == self._active:
            return
        pipe = self.base
        for lo in loras:
            where = _where(lo)
            if self._adapters.get(lo.name, where) != where:  # the same name given to another file: replace it
                pipe.delete_adapters(lo.name)
                del self._adapters[lo.name]
            if lo.name not in self._adapters:
                self._load_lora(lo)
            self._adapters.move_to_end(lo.name)
        if loras:
            pipe.enable_lora()
            pipe.set_adapters([lo.name for lo in loras], adapter_weights=[lo.scale for lo in loras])
        elif self._adapters:
            pipe.disable_lora()
        self._active = wanted
        active = {lo.name for lo in loras}
        while len(self._adapters) > MAX_ADAPTERS:
            name = next((n for n in self._adapters if n not in active), None)
            if name is None:
                break
            pipe.delete_adapters(name)
            del self._adapters[name]

    def _load_lora(self, lo: LoRASpec) -> None:
        pipe = self.base
        if self._fused:  # LoRA layers wrap the unfused projections
            pipe.unfuse_qkv_projections()
            self._fused = False
            self.settings = replace(self.settings, fused_qkv=False)
        kwargs: dict[str, Any] = {"adapter_name": lo.name}
        if self.cache_dir is not None:
            kwargs["cache_dir"] = self.cache_dir
        if lo.weight_name:
            kwargs["weight_name"] = lo.weight_name
        try:
            with _quiet_diffusers():
                pipe.load_lora_weights(lo.location, **kwargs)
        except Exception as exc:
            with contextlib.suppress(Exception):
                pipe.delete_adapters(lo.name)
            text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            if os.path.exists(lo.location):
                raise InvalidRequest(f"loras: cannot apply {lo.label!r} to this {self.info.family_name} model "
                                     f"({text}); is it a LoRA for this model family?", field="loras") from exc
            raise ProviderUnavailable(hub_advice(lo.location, exc)) from exc
        self._adapters[lo.name] = _where(lo)

    def set_embeddings(self, embeddings: tuple[EmbeddingSpec, ...]) -> None:
        """Make exactly ``embeddings`` loaded: load the new ones, take out the ones this call does not ask for."""
        wanted = {e.name: e for e in embeddings}
        xl = self.info.family == "sdxl"
        for name, (path, tokens) in list(self._embeddings.items()):
            if name not in wanted or wanted[name].path != path:
                with _quiet_diffusers():
                    unload_embedding(self.base, tokens, xl=xl)
                del self._embeddings[name]
        for name, spec in wanted.items():
            if name not in self._embeddings:
                with _quiet_diffusers():
                    tokens = load_embedding(self.base, spec, xl=xl, family_name=self.info.family_name)
                self._embeddings[name] = (spec.path, tokens)

    def loaded_embeddings(self) -> dict[str, str]:
        """Embedding name -> file, of those loaded now."""
        return {name: path for name, (path, _) in self._embeddings.items()}

    def loaded_adapters(self) -> list[str]:
        return list(self._adapters)

    def _place(self, module: Any) -> Any:
        if self.settings.offload == "none":
            module.to(self.device.torch_device)
        if self.settings.channels_last:
            module.to(memory_format=torch().channels_last)
        return module

    def _controlnet(self, ref: str, *, from_request: bool) -> Any:
        found = self._controlnets.get(ref)
        if found is not None:
            self._controlnets.move_to_end(ref)
            return found
        try:
            source = resolve_source(ref, component=True)
        except ProviderUnavailable as exc:
            if from_request:
                raise InvalidRequest(f"control_model: {exc.message}", field="control_model") from None
            raise
        cls = diffusers().ControlNetModel
        try:
            with _quiet_diffusers():
                if source.kind == "file":
                    net = cls.from_single_file(source.location, **_dtype_kwarg(_dtype(self.settings.dtype)))
                else:
                    net = cls.from_pretrained(source.location, cache_dir=self.cache_dir,
                                              **_dtype_kwarg(_dtype(self.settings.dtype)))
        except Exception as exc:
            raise _load_error(source, exc, config_dir=None) from exc
        mine, theirs = self.base.unet.config.cross_attention_dim, net.config.cross_attention_dim
        xl = self.info.family == "sdxl"
        if mine != theirs or (net.config.addition_embed_type == "text_time") != xl:
            raise InvalidRequest(f"control_model: {ref!r} is a ControlNet for another model family (cross-attention "
                                 f"width {theirs}, this {self.info.family_name} model's is {mine})",
                                 field="control_model")
        self._controlnets[ref] = self._place(net)
        while len(self._controlnets) > MAX_EXTRA_MODELS:
            old_ref, _ = self._controlnets.popitem(last=False)
            self._ops = {k: v for k, v in self._ops.items() if k[1] != old_ref}
        return net

    def vae(self, ref: str) -> Any:
        """The VAE at ``ref`` (a VAE folder, a pipeline folder or hub id with ``vae/``, or a single file in either
        layout), loaded once and kept with the model's other extras. A single file is read with the model's own VAE
        config, so it loads offline; a VAE of another shape is an ``InvalidRequest`` naming ``vae``."""
        found = self._vaes.get(ref)
        if found is not None:
            self._vaes.move_to_end(ref)
            return found
        try:
            source = resolve_source(ref, component=True)
        except ProviderUnavailable as exc:
            raise InvalidRequest(f"vae: {exc.message}", field="vae") from None
        cls = diffusers().AutoencoderKL
        dtype = _dtype_kwarg(_dtype(self.settings.dtype))
        try:
            with _quiet_diffusers():
                if source.kind == "file":
                    config = self.info.config_dir
                    vae = cls.from_single_file(source.location, config=config, subfolder="vae" if config else None,
                                               local_files_only=config is not None, **dtype)
                elif source.kind == "folder" and os.path.isfile(os.path.join(source.location, "config.json")):
                    vae = cls.from_pretrained(source.location, **dtype)
                else:
                    vae = cls.from_pretrained(source.location, subfolder="vae", cache_dir=self.cache_dir, **dtype)
        except Exception as exc:
            if source.kind == "hub":
                raise ProviderUnavailable(hub_advice(source.location, exc)) from exc
            text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            raise InvalidRequest(f"vae: cannot load {ref!r} as a VAE for this {self.info.family_name} model ({text})",
                                 field="vae") from exc
        mine = self.base.vae.config
        if (vae.config.latent_channels, list(vae.config.block_out_channels)) != (
                mine.latent_channels, list(mine.block_out_channels)):
            raise InvalidRequest(f"vae: {ref!r} is a VAE of another shape ({vae.config.latent_channels} latent "
                                 f"channels, blocks {list(vae.config.block_out_channels)}; this model's: "
                                 f"{mine.latent_channels}, {list(mine.block_out_channels)})", field="vae")
        self._vaes[ref] = self._place(vae)
        while len(self._vaes) > MAX_EXTRA_MODELS:
            self._vaes.popitem(last=False)
        return vae

    @contextlib.contextmanager
    def _modules_for(self, pipe: Any, job: Job) -> Iterator[None]:
        """``pipe`` with the call's VAE and tiling in place, and as it was afterwards (calls on a device are serial)."""
        own_vae = pipe.vae
        if job.vae is not None:
            pipe.vae = self.vae(job.vae)
            if pipe.vae is not own_vae:  # the memory savers in effect apply to it too
                (pipe.vae.enable_slicing if self._applied.vae_slicing else pipe.vae.disable_slicing)()
                (pipe.vae.enable_tiling if self._applied.vae_tiling else pipe.vae.disable_tiling)()
        convs: list[Any] = []
        if job.tiling:
            conv = torch().nn.Conv2d
            for model in (pipe.unet, pipe.vae):
                convs += [m for m in model.modules() if isinstance(m, conv) and m.padding_mode == "zeros"]
            for m in convs:
                m.padding_mode = "circular"
        try:
            yield
        finally:
            for m in convs:
                m.padding_mode = "zeros"
            if pipe.vae is not own_vae:
                pipe.vae = own_vae

    def _inpaint_unet(self, ref: str, config: str | None) -> Any:
        found = self._unets.get(ref)
        if found is not None:
            self._unets.move_to_end(ref)
            return found
        source = resolve_source(ref, component=True)
        cls = diffusers().UNet2DConditionModel
        dtype = _dtype(self.settings.dtype)
        in_pipeline = source.kind == "hub" or os.path.isfile(os.path.join(source.location, "model_index.json"))
        try:
            with _quiet_diffusers():
                if source.kind == "file":
                    config_dir = None if config is None else resolve_source(config).location
                    unet = cls.from_single_file(source.location, config=config_dir, subfolder="unet",
                                                local_files_only=config_dir is not None, **_dtype_kwarg(dtype))
                else:
                    unet = cls.from_pretrained(source.location, subfolder="unet" if in_pipeline else None,
                                               cache_dir=self.cache_dir, **_dtype_kwarg(dtype))
        except Exception as exc:
            raise _load_error(source, exc, config_dir=config) from exc
        if unet.config.in_channels != 9:
            raise ProviderUnavailable(f"inpaint_model {ref!r} is not an inpainting model (its UNet takes "
                                      f"{unet.config.in_channels} input channels, an inpainting UNet takes 9)")
        if unet.config.cross_attention_dim != self.base.unet.config.cross_attention_dim:
            raise ProviderUnavailable(f"inpaint_model {ref!r} is for another model family than {self.source.location}")
        self._unets[ref] = self._place(unet)
        while len(self._unets) > MAX_EXTRA_MODELS:
            old_ref, _ = self._unets.popitem(last=False)
            self._ops = {k: v for k, v in self._ops.items() if k[2] != old_ref}
        return unet

    # -- one call -----------------------------------------------------------------------------------

    def run(self, job: Job) -> Outcome:
        """Make ``job``'s images; the caller holds the device lock."""
        inputs = self._inputs(job)
        pipe = self.pipeline(job)
        pipe.scheduler = self.scheduler(job.sampler)
        self.set_loras(job.loras)
        self.set_embeddings(job.embeddings)
        n = len(job.seeds)
        made: list[GeneratedImage] = []
        out = Outcome(images=made, scheduler=self.scheduler_name(job.sampler))
        batch = max(1, min(n, self.max_batch))
        while len(made) < n:
            if job.cancel is not None and job.cancel.is_set():
                raise self._cancelled(job, len(made), 0, made)
            count = min(batch, n - len(made))
            final = (job.hires.width, job.hires.height) if job.hires is not None else (job.width, job.height)
            settings = call_settings(self.settings, *final)
            t0 = time.perf_counter()
            try:
                self._sync_memory(pipe, settings)
                with self._threads():
                    pictures = self._call(pipe, job, inputs, len(made), count)
                self._synchronize()
            except _Stop as stop:
                out.device_s += time.perf_counter() - t0
                raise self._cancelled(job, stop.step, stop.total, made) from None
            except Exception as exc:
                out.device_s += time.perf_counter() - t0
                if not is_oom(exc):
                    raise
                batch = self._step_down(exc, batch, out, made)
                continue
            out.device_s += time.perf_counter() - t0
            out.batches.append(count)
            t1 = time.perf_counter()
            for picture in pictures:
                made.append(GeneratedImage(data=encode_png(picture), mime="image/png", width=picture.width,
                                           height=picture.height, seed=job.seeds[len(made)]))
            out.encode_s += time.perf_counter() - t1
        out.settings = self.settings
        self.calls += 1
        units = job.steps * n * job.width * job.height / 1e6
        if units > 0 and out.device_s > 0:
            self.seconds_per_unit = out.device_s / units
        return out

    def _cancelled(self, job: Job, step: int, total: int, made: list[GeneratedImage]) -> Cancelled:
        where = f"at step {step} of {total}" if total else "before it started"
        error = Cancelled(f"cancelled {where} ({len(made)} of {len(job.seeds)} images finished)")
        error.images = list(made)
        return error

    def _step_down(self, exc: BaseException, batch: int, out: Outcome, made: list[GeneratedImage]) -> int:
        self._empty_cache()
        rung = next_rung(self.settings, batch)
        if rung is None:
            error = ProviderUnavailable(
                f"out of memory on {self.device.describe()} even with {', '.join(LADDER[:-1])} and one image at a "
                f"time ({str(exc).splitlines()[0][:200]}); use a smaller size, a smaller model, or device='cpu'")
            error.images = list(made)
            raise error from exc
        self.settings, batch = apply_rung(self.settings, rung, batch)
        if rung == "smaller-batch":
            self.max_batch = batch
        out.warnings.append(GenerationWarning(
            f"memory: {self.device.torch_device} ran out of memory; retrying with {rung} "
            f"(now: {', '.join(self.settings.savers()) or 'no savers'}, {batch} image(s) at a time)"))
        logger.warning("imagegen diffusers: %s", out.warnings[-1])
        return batch

    @contextlib.contextmanager
    def _threads(self) -> Iterator[None]:
        """torch's intra-op threads set to the settings' count for the call, and given back after."""
        wanted = self.settings.threads
        t = torch()
        before = int(t.get_num_threads())
        if wanted is None or wanted == before:
            yield
            return
        t.set_num_threads(wanted)
        try:
            yield
        finally:
            t.set_num_threads(before)

    def _empty_cache(self) -> None:
        t = torch()
        if self.device.kind == "cuda" and t.cuda.is_available():
            t.cuda.empty_cache()

    def _synchronize(self) -> None:
        t = torch()
        if self.device.kind == "cuda" and t.cuda.is_available():
            t.cuda.synchronize(self.device.index)

    def _inputs(self, job: Job) -> dict[str, Any]:
        """The PIL inputs of the operation, fitted to the request size."""
        w, h = job.width, job.height
        found: dict[str, Any] = {}
        if job.operation in ("img2img", "inpaint"):
            if job.image is None:
                raise InvalidRequest(f"image: {job.operation} needs an input image", field="image")
            found["image"] = imaging.fit(job.image, w, h)
        if job.operation == "inpaint":
            if job.mask is None:
                raise InvalidRequest("mask: inpainting needs a mask (white = repaint)", field="mask")
            found["mask_image"] = imaging.fit(job.mask, w, h, mode="L")
        if job.operation == "controlnet":
            if job.control_image is None:
                raise InvalidRequest("control_image: ControlNet needs a control image", field="control_image")
            control = imaging.fit(job.control_image, w, h)
            found["image"] = imaging.canny(control, *job.canny) if job.control == "canny" else control
        return found

    def _call(self, pipe: Any, job: Job, inputs: dict[str, Any], start: int, count: int) -> list[Any]:
        seeds = job.seeds[start:start + count]
        first = job.index + start
        kwargs: dict[str, Any] = {
            "num_inference_steps": job.steps, "guidance_scale": job.guidance, "generator": _generators(seeds),
            "output_type": "pil", **self._callbacks(pipe, job, first, "denoise"),
        }
        kwargs.update(self.prompt_inputs(pipe, job, count))
        if job.operation != "img2img":
            kwargs.update(height=job.height, width=job.width)
        for name, value in inputs.items():
            kwargs[name] = [value] * count
        if job.operation in ("img2img", "inpaint") and job.strength is not None:
            kwargs["strength"] = job.strength
        if job.operation == "controlnet" and job.control_scale is not None:
            kwargs["controlnet_conditioning_scale"] = job.control_scale
        if job.eta is not None:
            kwargs["eta"] = job.eta
        if self.info.family == "sdxl":  # micro-conditioning: made at, and meant for, this size
            kwargs.update(original_size=(job.height, job.width), target_size=(job.height, job.width))
        with torch().inference_mode(), self._modules_for(pipe, job):
            if job.hires is None and job.refiner is None:
                return list(pipe(**kwargs).images)
            kwargs["output_type"] = "latent"
            if job.refiner is not None:
                kwargs["denoising_end"] = job.refiner_switch
            latents = pipe(**kwargs).images
            if job.refiner is not None:
                refined = self._refiner_pass(job, latents, count, seeds, first, latent=job.hires is not None)
                if job.hires is None:
                    return list(refined)
                latents = refined
            return self._hires_pass(pipe, job, latents, kwargs, seeds, first)

    def _refiner_pass(self, job: Job, latents: Any, count: int, seeds: list[int], first: int, *,
                      latent: bool) -> Any:
        """The SDXL ensemble of experts: the refiner denoises the steps after the switch point of the base's
        latents (``denoising_start``), with its own prompt embeddings (its text encoder) and scheduler."""
        assert job.refiner is not None
        refiner = self.refiner(job.refiner)
        refiner.scheduler = self._refiner_scheduler(job.refiner, refiner, job.sampler)
        kwargs: dict[str, Any] = {
            "image": latents, "denoising_start": job.refiner_switch, "num_inference_steps": job.steps,
            "guidance_scale": job.guidance, "generator": _generators(seeds),
            "output_type": "latent" if latent else "pil", **self._callbacks(refiner, job, first, "refiner"),
            **self.prompt_inputs(refiner, job, count),
        }
        with self._modules_for(refiner, job):
            out = refiner(**kwargs).images
        return out if latent else list(out)

    def refiner(self, ref: str) -> Any:
        """The SDXL refiner at ``ref`` as an img2img pipeline, loaded once. Its second text encoder, tokenizer and
        VAE are the base model's when their configs match (as the official pair's do), so only its UNet is new."""
        found = self._refiners.get(ref)
        if found is not None:
            self._refiners.move_to_end(ref)
            return found
        if self.info.family != "sdxl":
            raise InvalidRequest(f"refiner: a refiner takes over from an SDXL base model; this is an "
                                 f"{self.info.family_name} model", field="refiner")
        try:
            source = resolve_source(ref)
        except ProviderUnavailable as exc:
            raise InvalidRequest(f"refiner: {exc.message}", field="refiner") from None
        cls = diffusers().StableDiffusionXLImg2ImgPipeline
        kwargs: dict[str, Any] = {**_dtype_kwarg(_dtype(self.settings.dtype)), **self._shared_with_refiner(source)}
        try:
            with _quiet_diffusers():
                if source.kind == "file":
                    beside = os.path.splitext(source.location)[0]
                    config = beside if os.path.isfile(os.path.join(beside, "model_index.json")) else None
                    pipe = cls.from_single_file(source.location, config=config, local_files_only=config is not None,
                                                **kwargs)
                else:
                    pipe = cls.from_pretrained(source.location, cache_dir=self.cache_dir, **kwargs)
        except Exception as exc:
            if source.kind == "hub":
                raise ProviderUnavailable(hub_advice(source.location, exc)) from exc
            text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            raise InvalidRequest(f"refiner: cannot load {ref!r} as an SDXL refiner ({text})", field="refiner") from exc
        if getattr(pipe.unet.config, "addition_embed_type", None) != "text_time" or pipe.text_encoder_2 is None:
            raise InvalidRequest(f"refiner: {ref!r} is not an SDXL model (a refiner or base)", field="refiner")
        pipe.set_progress_bar_config(disable=True)
        for name in ("unet", "text_encoder", "text_encoder_2", "vae"):
            module = getattr(pipe, name, None)
            if module is not None and module is not getattr(self.base, name, None):
                self._place(module)
        self._refiners[ref] = pipe
        while len(self._refiners) > 1:  # a refiner is as large as a base model: keep one
            old, _ = self._refiners.popitem(last=False)
            self._refiner_schedulers = {k: v for k, v in self._refiner_schedulers.items() if k[0] != old}
        return pipe

    def _shared_with_refiner(self, source: Source) -> dict[str, Any]:
        """The base's modules a refiner can take as they are: those whose configs match the refiner's own."""
        folder = source.location if source.kind == "folder" else None
        if source.kind == "hub":
            try:
                folder = hub_config_folder(source.location, cache_dir=self.cache_dir)
            except ProviderUnavailable:
                folder = None
        if folder is None:
            return {}
        shared: dict[str, Any] = {}
        for name in ("text_encoder_2", "vae"):
            path = os.path.join(folder, name, "config.json")
            mine = getattr(self.base, name, None)
            if mine is None or not os.path.isfile(path):
                continue
            with open(path, encoding="utf-8") as fh:
                theirs = {k: v for k, v in json.load(fh).items() if not k.startswith("_")}
            config = mine.config.to_dict() if hasattr(mine.config, "to_dict") else dict(mine.config)  # transformers'
            # or diffusers'; textual inversions grow a text encoder's vocabulary, which is not another architecture
            own = {k: v for k, v in config.items() if not k.startswith("_") and k in theirs and k != "vocab_size"}

            if all(_same(own[k], theirs[k]) for k in own):
                shared[name] = mine
                if name == "text_encoder_2":
                    shared["tokenizer_2"] = self.base.tokenizer_2
        return shared

    def _refiner_scheduler(self, ref: str, refiner: Any, sampler: Sampler | None) -> Any:
        key = (ref, sampler.name if sampler is not None else "")
        found = self._refiner_schedulers.get(key)
        if found is None:
            own = dict(refiner.scheduler.config)
            found = make_scheduler(sampler, own) if sampler is not None else refiner.scheduler
            self._refiner_schedulers[key] = found
        return found

    def _callbacks(self, pipe: Any, job: Job, first: int, stage: str) -> dict[str, Any]:
        """The step callback of one pass: progress events, the cancel check and the guidance cutoff."""
        progress = job.progress
        cancel = job.cancel
        cutting = job.guidance > 1 and job.guidance_cutoff < 1

        previews = job.previews if job.partial is not None and stage == "denoise" else 0
        sent = 0

        def on_step(p: Any, i: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            nonlocal progress, sent
            total = int(getattr(p, "_num_timesteps", 0) or job.steps)
            if cancel is not None and cancel.is_set():
                raise _Stop(i + 1, total)
            if cutting:
                kwargs = after_step(p, i, total, job.guidance_cutoff, kwargs)
            if sent < previews and i + 1 < total and i + 1 >= total * (sent + 1) // (previews + 1):
                ok = self._preview(p, job, kwargs.get("latents"), first, sent, i + 1, total)
                sent = sent + 1 if ok else previews
            if progress is not None:
                try:
                    progress(ProgressEvent(stage, i + 1, total, first))
                except Exception:  # a broken progress display must not cost the images
                    logger.exception("imagegen diffusers: progress callback failed; no more progress events")
                    progress = None
            return kwargs

        out: dict[str, Any] = {"callback_on_step_end": on_step}
        if cutting:
            out["callback_on_step_end_tensor_inputs"] = tensor_inputs(pipe)
        return out

    def _preview(self, pipe: Any, job: Job, latents: Any, first: int, number: int, step: int, total: int) -> bool:
        """The latents of step ``step`` decoded by the VAE (no gradients, nothing the pipeline reads changes, so
        the final pixels are the same as without previews) and sent as one ``PartialImage`` per image."""
        if latents is None or job.partial is None:
            return False
        try:
            with torch().no_grad():
                pictures = self.decode(pipe, latents.detach().clone())
            for k, picture in enumerate(pictures):
                job.partial(PartialImage(ImageData.from_bytes(encode_png(picture)), index=first + k,
                                         partial_index=number, step=step, total=total))
        except Exception:  # a preview that cannot be made must not cost the image
            logger.exception("imagegen diffusers: a preview could not be decoded; no more previews this pass")
            return False
        return True

    def _hires_pass(self, pipe: Any, job: Job, latents: Any, first_pass: dict[str, Any], seeds: list[int],
                    first: int) -> list[Any]:
        """Hires fix: the first pass's latents upscaled (in latent space, or decoded and upscaled as pixels), then
        re-noised by the hires strength and denoised again at the target size by the img2img view of the same
        components, with the same prompt embeddings and seeds."""
        hires = job.hires
        assert hires is not None
        view = self.pipeline(replace(job, operation="img2img"))
        view.scheduler = pipe.scheduler
        if hires.upscaler.kind == "latent":
            image: Any = upscale_latents(latents, hires.width, hires.height, hires.upscaler, self.vae_scale_factor)
        else:
            image = [upscale_image(picture, hires.width, hires.height, hires.upscaler, self.device.torch_device,
                                   self._upscalers) for picture in self.decode(pipe, latents)]
        kwargs = {k: v for k, v in first_pass.items() if k in _PROMPT_KWARGS}
        kwargs.update(image=image, strength=hires.strength, num_inference_steps=hires.steps,
                      guidance_scale=job.guidance, generator=_generators(seeds), output_type="pil",
                      **self._callbacks(view, job, first, "hires"))
        if job.eta is not None:
            kwargs["eta"] = job.eta
        if self.info.family == "sdxl":
            kwargs.update(original_size=(hires.height, hires.width), target_size=(hires.height, hires.width))
        with self._modules_for(view, job):
            return list(view(**kwargs).images)

    def latent_upscale(self, picture: Any, width: int, height: int, upscaler: Upscaler) -> Any:
        """``picture`` enlarged in this model's latent space (encoded, interpolated, decoded), then fitted to
        exactly ``width`` x ``height``. Without hires fix's second pass this is soft: it is where that pass starts."""
        from PIL import Image

        t = torch()
        pipe = self.base
        f = self.vae_scale_factor
        w, h = picture.size
        w, h = max(f, w // f * f), max(f, h // f * f)
        with t.inference_mode():
            pixels = pipe.image_processor.preprocess(picture.convert("RGB").resize((w, h), Image.Resampling.LANCZOS))
            pixels = pixels.to(device=pipe.vae.device, dtype=pipe.vae.dtype)
            latents = pipe.vae.encode(pixels).latent_dist.mode() * pipe.vae.config.scaling_factor
            big = upscale_latents(latents, -(-width // f) * f, -(-height // f) * f, upscaler, f)
            out = self.decode(pipe, big)[0]
        return out if out.size == (width, height) else out.resize((width, height), Image.Resampling.LANCZOS)

    @staticmethod
    def decode(pipe: Any, latents: Any) -> list[Any]:
        """Latents as PIL images, through ``pipe``'s VAE (upcast to float32 where its config asks, as the
        pipelines do for SDXL's float16 VAE)."""
        t = torch()
        vae = pipe.vae
        upcast = vae.dtype == t.float16 and getattr(vae.config, "force_upcast", False)
        dtype = vae.dtype
        if upcast:
            vae.to(t.float32)
        try:
            decoded = vae.decode(latents.to(t.float32 if upcast else dtype) / vae.config.scaling_factor,
                                 return_dict=False)[0]
        finally:
            if upcast:
                vae.to(dtype)
        return list(pipe.image_processor.postprocess(decoded, output_type="pil"))

    def prompt_inputs(self, pipe: Any, job: Job, count: int) -> dict[str, Any]:
        """The prompt and negative prompt as ``pipe`` takes them for ``count`` images: embeddings built by
        ``prompts.PromptEncoder`` (A1111 syntax, long prompts, clip skip), or the plain strings when the pipeline's
        own encoding gives the same (a literal prompt within the text encoder's 77 tokens, no clip skip)."""
        clip_skip = job.clip_skip or 1
        parse = job.prompt_syntax != "plain"
        if not parse and clip_skip == 1 and not self._too_long(pipe, job):
            plain: dict[str, Any] = {"prompt": [job.prompt] * count}
            if job.negative_prompt:
                plain["negative_prompt"] = [job.negative_prompt] * count
            return plain
        encoder = self._prompt_encoder(pipe)
        with _quiet_diffusers():  # transformers warns about every prompt longer than 77 tokens
            embeds = encoder.encode(job.prompt, job.negative_prompt, clip_skip=clip_skip, guided=job.guidance > 1,
                                    parse=parse)
        return {name: value.expand(count, *value.shape[1:]) for name, value in embeds.items()}

    def _prompt_encoder(self, pipe: Any) -> PromptEncoder:
        """One encoder per set of text encoders (the views share the base model's; a refiner has its own)."""
        key = (id(getattr(pipe, "text_encoder", None)), id(getattr(pipe, "text_encoder_2", None)))
        found = self._encoders.get(key)
        if found is None:
            found = self._encoders[key] = PromptEncoder(pipe, xl=self.info.family == "sdxl")
        return found

    @staticmethod
    def _too_long(pipe: Any, job: Job) -> bool:
        tokenizer = pipe.tokenizer if getattr(pipe, "tokenizer", None) is not None else pipe.tokenizer_2
        texts = [job.prompt] + ([job.negative_prompt] if job.negative_prompt else [])
        limit = int(tokenizer.model_max_length)
        with _quiet_diffusers():
            return any(len(ids) > limit for ids in tokenizer(texts, truncation=False).input_ids)


#: What a pipeline call takes about the prompt (the second pass of hires fix takes the first's as they are).
_PROMPT_KWARGS = ("prompt", "negative_prompt", "prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
                  "negative_pooled_prompt_embeds")


def _generators(seeds: list[int]) -> list[Any]:
    """One CPU generator per image, seeded with its seed: the same noise alone or in a batch, on every device."""
    return [torch().Generator("cpu").manual_seed(seed) for seed in seeds]


def _same(a: Any, b: Any) -> bool:
    """Config values equal, lists and tuples alike (JSON has only lists)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


_NAME = re.compile(r"[^A-Za-z0-9_]+")


def _where(lo: LoRASpec) -> str:
    return lo.location if lo.weight_name is None else f"{lo.location}/{lo.weight_name}"


def adapter_name(path: str, given: str | None) -> str:
    """A stable adapter name for a LoRA: the one given, else its file stem plus a short hash of the path."""
    if given:
        cleaned = _NAME.sub("_", given).strip("_")
        if cleaned:
            return cleaned
    stem = _NAME.sub("_", os.path.splitext(os.path.basename(path.rstrip("/\\")))[0]).strip("_")[:40] or "lora"
    return f"{stem}_{hashlib.sha1(path.encode('utf-8')).hexdigest()[:8]}"
