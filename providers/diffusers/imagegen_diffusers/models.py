"""Where a model comes from and what it is, read from its configs or file header without loading weights.

``resolve_source(model)`` turns a spec's model part into a folder, a single checkpoint file or a hub id
(``imagegen-mini`` is the embedded model's folder). ``describe(source)`` reads the diffusers configs
(or a checkpoint's tensor names) and says which family it is (SD 1.x, SD 2.x, SDXL), its native size,
VAE scale factor, scheduler and parameter count: what capabilities and presets need, before any torch.
Anything missing, corrupt or of another architecture is a ``ProviderUnavailable`` that says what to do.
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from imagegen.provider import ProviderUnavailable

from .fewstep import KINDS as FEW_STEP_KINDS
from .guidance import is_cutoff, is_guidance
from .shipped import shipped_config

__all__ = ["MINI", "ModelInfo", "Source", "checkpoint_tensors", "describe", "detect_checkpoint_family",
           "family_of_configs", "is_steps", "resolve_source"]

#: The embedded model's id: ``diffusers:imagegen-mini``.
MINI = "imagegen-mini"
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
FAMILY_NAMES = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL"}
#: Pipelines whose folders hold an SD 1.x/2.x/SDXL model (UNet, VAE, CLIP text encoders).
_SD_PIPELINES = {
    "StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline",
    "StableDiffusionControlNetPipeline", "StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline",
    "StableDiffusionXLInpaintPipeline", "StableDiffusionXLControlNetPipeline", "AutoPipelineForText2Image",
}
#: Native latent side, VAE factor and prediction type of each family, for a checkpoint file given without configs.
_FAMILY_DEFAULTS = {"sd1": (64, 8, "epsilon"), "sd2": (96, 8, "v_prediction"), "sdxl": (128, 8, "epsilon")}


@dataclass(frozen=True)
class Source:
    """A model's location: ``kind`` is "folder", "file" or "hub"; ``location`` an absolute path or hub id."""

    kind: str
    location: str

    def describe(self) -> str:
        return {"folder": "folder", "file": "checkpoint file", "hub": "hub model"}[self.kind] + f" {self.location!r}"


@dataclass(frozen=True)
class ModelInfo:
    """What a model is, from its configs: enough for capabilities and presets, no weights loaded."""

    family: str
    inpainting: bool
    sample_size: int
    vae_scale_factor: int
    levels: int
    prediction_type: str
    scheduler_class: str
    scheduler_config: Mapping[str, Any] = field(default_factory=dict)
    params: int | None = None
    text_layers: int | None = None
    cross_attention_dim: int | None = None
    config_dir: str | None = None
    #: The model's own recommended (steps, guidance, guidance cutoff) from its folder's ``imagegen.json``.
    recommended_steps: int | None = None
    recommended_guidance: float | None = None
    recommended_guidance_cutoff: float | None = None
    #: A few-step kind the folder's ``imagegen.json`` declares (``fewstep.KINDS``).
    few_step: str | None = None
    #: The UNet takes the guidance scale as an input (``time_cond_proj_dim``): an LCM-distilled model.
    guidance_embedded: bool = False

    @property
    def native_side(self) -> int:
        return self.sample_size * self.vae_scale_factor

    @property
    def family_name(self) -> str:
        return FAMILY_NAMES[self.family]


def resolve_source(model: str, *, component: bool = False) -> Source:
    """Where ``model`` is: ``imagegen-mini``, a folder, a ``.safetensors``/``.ckpt`` file, or a hub id.
    ``component``: a single model (a ControlNet, a UNet) whose folder holds a ``config.json``, or a pipeline."""
    if not isinstance(model, str) or not model.strip():
        raise ProviderUnavailable(f"model: expected a hub id, a folder or a checkpoint file; got {model!r}")
    model = model.strip()
    if model == MINI:
        from .mini import WEIGHTS_DIR

        return Source("folder", str(WEIGHTS_DIR))
    path = os.path.abspath(os.path.expanduser(model))
    if os.path.isdir(path):
        if component and os.path.isfile(os.path.join(path, "config.json")):
            return Source("folder", path)
        if not os.path.isfile(os.path.join(path, "model_index.json")):
            raise ProviderUnavailable(
                f"{model!r} is a folder but not a diffusers pipeline (it has no model_index.json); give the folder "
                "a pipeline was saved to with save_pretrained(), or a single .safetensors/.ckpt checkpoint")
        return Source("folder", path)
    if os.path.isfile(path):
        if not path.lower().endswith(SINGLE_FILE_SUFFIXES):
            raise ProviderUnavailable(f"{model!r} is a file but not a checkpoint: expected a .safetensors or .ckpt "
                                      "file, or a diffusers folder")
        return Source("file", path)
    looks_like_path = (model.startswith(("/", "./", "../", "~", "\\")) or model.lower().endswith(SINGLE_FILE_SUFFIXES)
                       or bool(re.match(r"^[A-Za-z]:[\\/]", model)) or model.count("/") > 1)
    if looks_like_path or not _HUB_ID.match(model):
        raise ProviderUnavailable(
            f"no such model file or folder: {model!r} (resolved to {path}); check the path, or give a Hugging Face hub "
            f"id such as 'stable-diffusion-v1-5/stable-diffusion-v1-5', or {MINI!r} for the embedded model")
    return Source("hub", model)


# -- diffusers folders ------------------------------------------------------------------------------

def _read_json(path: str, what: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise ProviderUnavailable(f"{what}: {path} is missing; the model folder is incomplete (re-download or "
                                  "re-save it)") from None
    except (OSError, ValueError) as exc:
        raise ProviderUnavailable(f"{what}: cannot read {path} ({exc}); the file is corrupt (re-download it)") from None
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"{what}: {path} is not a JSON object; the file is corrupt (re-download it)")
    return data


def family_of_configs(index: Mapping[str, Any], unet: Mapping[str, Any], text_encoder: Mapping[str, Any] | None,
                      *, label: str) -> str:
    """"sd1", "sd2" or "sdxl" from a pipeline's model_index and its UNet and text-encoder configs."""
    cls = str(index.get("_class_name", ""))
    if cls and cls not in _SD_PIPELINES:
        raise ProviderUnavailable(
            f"{label} is a {cls}; imagegen-diffusers runs Stable Diffusion 1.x, 2.x and SDXL pipelines (UNet, VAE and "
            "CLIP text encoders)")
    if unet.get("_class_name") not in (None, "UNet2DConditionModel"):
        raise ProviderUnavailable(f"{label}: its UNet is a {unet.get('_class_name')}, not a Stable Diffusion "
                                  "UNet2DConditionModel")
    has_te2 = (index.get("text_encoder_2") or [None])[0] is not None
    has_te = (index.get("text_encoder") or [None])[0] is not None
    if unet.get("addition_embed_type") == "text_time" or has_te2:
        if not has_te:
            raise ProviderUnavailable(f"{label} is an SDXL refiner (one text encoder); use it after an SDXL base "
                                      "model, it cannot make images from text on its own here")
        return "sdxl"
    if text_encoder is not None and (text_encoder.get("hidden_act") == "gelu"
                                     or text_encoder.get("hidden_size") == 1024):
        return "sd2"
    if unet.get("cross_attention_dim") == 1024:
        return "sd2"
    return "sd1"


#: A model folder may ship this file with the sampling defaults it was tuned for:
#: ``{"steps": 20, "guidance": 7.0, "guidance_cutoff": 0.4, "few_step": "lcm"}`` (each optional).
RECOMMENDED_FILE = "imagegen.json"


def is_steps(value: Any) -> bool:
    """A number of sampling steps: a whole number 1..1000."""
    return not isinstance(value, bool) and isinstance(value, int) and 1 <= value <= 1000


def _recommended(folder: str, label: str) -> tuple[int | None, float | None, float | None, str | None]:
    """(steps, guidance, guidance cutoff, few-step kind) a folder's ``imagegen.json`` recommends; None for what it
    leaves out."""
    path = os.path.join(folder, RECOMMENDED_FILE)
    if not os.path.isfile(path):
        return None, None, None, None
    data = _read_json(path, label)
    steps, guidance, cutoff = data.get("steps"), data.get("guidance"), data.get("guidance_cutoff")
    few = data.get("few_step")
    if few is not None and few not in FEW_STEP_KINDS:
        raise ProviderUnavailable(f"{label}: {path}: 'few_step' must be one of {', '.join(FEW_STEP_KINDS)}; got "
                                  f"{few!r}")
    if steps is not None and not is_steps(steps):
        raise ProviderUnavailable(f"{label}: {path}: 'steps' must be a whole number 1..1000; got {steps!r}")
    if guidance is not None and not is_guidance(guidance):
        raise ProviderUnavailable(f"{label}: {path}: 'guidance' must be a number 0..100; got {guidance!r}")
    if cutoff is not None and not is_cutoff(cutoff):
        raise ProviderUnavailable(f"{label}: {path}: 'guidance_cutoff' must be a number in (0, 1]; got {cutoff!r}")
    return (steps, None if guidance is None else float(guidance), None if cutoff is None else float(cutoff),
            None if few is None else str(few))


def describe_folder(folder: str, *, label: str | None = None) -> ModelInfo:
    """Read a diffusers pipeline folder's configs (no weights)."""
    label = label or repr(folder)
    index = _read_json(os.path.join(folder, "model_index.json"), label)
    unet = _read_json(os.path.join(folder, "unet", "config.json"), label)
    vae = _read_json(os.path.join(folder, "vae", "config.json"), label)
    te_path = os.path.join(folder, "text_encoder", "config.json")
    text_encoder = _read_json(te_path, label) if os.path.isfile(te_path) else None
    sched_path = os.path.join(folder, "scheduler", "scheduler_config.json")
    scheduler = _read_json(sched_path, label) if os.path.isfile(sched_path) else {}
    family = family_of_configs(index, unet, text_encoder, label=label)
    blocks = vae.get("block_out_channels") or [128, 256, 512, 512]
    down = unet.get("down_block_types") or ["x"] * 4
    sample = unet.get("sample_size") or _FAMILY_DEFAULTS[family][0]
    cross = unet.get("cross_attention_dim")
    steps, guidance, cutoff, few = _recommended(folder, label)
    return ModelInfo(
        family=family, inpainting=int(unet.get("in_channels", 4)) == 9,
        sample_size=int(sample[0] if isinstance(sample, (list, tuple)) else sample),
        vae_scale_factor=2 ** (len(blocks) - 1), levels=len(down),
        prediction_type=str(scheduler.get("prediction_type", "epsilon")),
        scheduler_class=str(scheduler.get("_class_name", "PNDMScheduler")),
        scheduler_config={k: v for k, v in scheduler.items() if not k.startswith("_")},
        params=_folder_params(folder),
        text_layers=int(text_encoder["num_hidden_layers"]) if text_encoder and "num_hidden_layers" in text_encoder
        else None,
        cross_attention_dim=int(cross[0] if isinstance(cross, (list, tuple)) else cross) if cross else None,
        config_dir=folder, recommended_steps=steps, recommended_guidance=guidance,
        recommended_guidance_cutoff=cutoff, few_step=few, guidance_embedded=unet.get("time_cond_proj_dim") is not None)


def _folder_params(folder: str) -> int | None:
    """Parameters of the UNet, VAE and text encoders, counted from safetensors headers (None if unknown)."""
    total = 0
    for part in ("unet", "vae", "text_encoder", "text_encoder_2"):
        directory = os.path.join(folder, part)
        if not os.path.isdir(directory):
            continue
        files = sorted(f for f in os.listdir(directory) if f.endswith(".safetensors"))
        plain = [f for f in files if f.count(".") == 1]  # diffusion_pytorch_model.safetensors, not *.fp16.safetensors
        chosen = plain or files
        if not chosen:
            return None
        for name in chosen:
            try:
                total += sum(_numel(shape) for shape in checkpoint_tensors(os.path.join(directory, name)).values())
            except ProviderUnavailable:
                return None
    return total or None


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


# -- single checkpoint files --------------------------------------------------------------------------

def checkpoint_tensors(path: str) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of a checkpoint: read from a safetensors header without loading the
    weights (no torch); a ``.ckpt`` is opened with ``torch.load(weights_only=True, mmap=True)``."""
    if path.lower().endswith(".safetensors"):
        return _safetensors_header(path)
    return _torch_checkpoint_shapes(path)


def _safetensors_header(path: str) -> dict[str, tuple[int, ...]]:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise ValueError("shorter than a safetensors header")
            (length,) = struct.unpack("<Q", head)
            size = os.fstat(fh.fileno()).st_size
            if length > min(size - 8, 100 * 2**20):
                raise ValueError(f"header length {length} does not fit in a {size}-byte file")
            header = json.loads(fh.read(length))
    except (OSError, ValueError) as exc:
        raise ProviderUnavailable(f"{path} is not a readable safetensors file ({exc}); it is corrupt or truncated: "
                                  "download it again") from None
    if not isinstance(header, dict):
        raise ProviderUnavailable(f"{path} has a malformed safetensors header; download it again")
    end = 0
    shapes: dict[str, tuple[int, ...]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            shapes[name] = tuple(int(d) for d in entry["shape"])
            end = max(end, int(entry["data_offsets"][1]))
        except (KeyError, TypeError, ValueError, IndexError):
            raise ProviderUnavailable(f"{path} has a malformed safetensors header entry {name!r}; download it "
                                      "again") from None
    if 8 + length + end > os.path.getsize(path):
        raise ProviderUnavailable(f"{path} is truncated ({os.path.getsize(path)} bytes, its header describes "
                                  f"{8 + length + end}); download it again")
    return shapes


def _torch_checkpoint_shapes(path: str) -> dict[str, tuple[int, ...]]:
    from ._lazy import torch

    try:
        state: Any = torch().load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # pickle, zip and torch errors alike: the file cannot be read as a checkpoint
        raise ProviderUnavailable(f"{path} cannot be read as a PyTorch checkpoint ({type(exc).__name__}: {exc}); it "
                                  "is corrupt, truncated or not a checkpoint: download it again, or prefer the "
                                  ".safetensors version") from None
    while isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ProviderUnavailable(f"{path} holds no state dict; it is not a Stable Diffusion checkpoint")
    return {str(k): tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}


def detect_checkpoint_family(keys: Mapping[str, tuple[int, ...]], *, label: str) -> tuple[str, bool]:
    """(family, is_inpainting) of an original-layout (LDM) checkpoint, from its tensor names and shapes."""
    names = list(keys)
    unet_in = keys.get("model.diffusion_model.input_blocks.0.0.weight")
    if unet_in is None:
        raise ProviderUnavailable(f"{label} is not a Stable Diffusion checkpoint: {_what_else(names)}")
    inpainting = len(unet_in) > 1 and unet_in[1] == 9
    if any(k.startswith("conditioner.embedders.1.") for k in names):
        return "sdxl", inpainting
    if any(k.startswith("conditioner.embedders.0.model.") for k in names):
        raise ProviderUnavailable(f"{label} is an SDXL refiner checkpoint; it cannot make images from text on its own "
                                  "here: use an SDXL base checkpoint")
    if any(k.startswith("cond_stage_model.model.") for k in names):
        return "sd2", inpainting
    if any(k.startswith("cond_stage_model.transformer.") for k in names):
        return "sd1", inpainting
    # no text encoder in the file: the cross-attention width still tells the families apart
    widths = {shape[-1] for k, shape in keys.items() if k.endswith("attn2.to_k.weight")}
    if "model.diffusion_model.label_emb.0.0.weight" in keys or 2048 in widths:
        return "sdxl", inpainting
    if widths == {768}:
        return "sd1", inpainting
    if widths == {1024}:
        return "sd2", inpainting
    raise ProviderUnavailable(f"{label} holds a UNet but no text encoder, and its layout matches no known family; pass "
                              "config= a diffusers folder (or hub id) of the same architecture")


def _what_else(names: list[str]) -> str:
    if any("lora" in k.lower() for k in names[:50]):
        return "it looks like a LoRA; pass it as loras=[...] with a base model"
    if any(k.startswith(("control_model.", "controlnet_cond_embedding.", "input_hint_block.")) for k in names):
        return "it looks like a ControlNet; pass it as control_model= (or controlnet=) with a base model"
    if any(k.startswith(("double_blocks.", "model.diffusion_model.double_blocks.", "joint_blocks.",
                         "model.diffusion_model.joint_blocks.")) for k in names):
        return "it looks like a Flux or SD3 transformer, which imagegen-diffusers does not run (SD 1.x, 2.x, SDXL only)"
    if any(k.startswith(("encoder.down.", "decoder.up.", "first_stage_model.")) for k in names):
        return "it looks like a VAE alone; give a full Stable Diffusion checkpoint"
    return "no UNet weights (model.diffusion_model.*) were found; the architecture is unknown"


#: Environment variables naming a config folder (or hub id) per family, for single files given without one.
CONFIG_ENV = {"sd1": "IMAGEGEN_DIFFUSERS_CONFIG_SD1", "sd2": "IMAGEGEN_DIFFUSERS_CONFIG_SD2",
              "sdxl": "IMAGEGEN_DIFFUSERS_CONFIG_SDXL"}


def find_config(path: str, family: str, *, inpainting: bool = False) -> str | None:
    """Configs for a single file given without ``config=``: a diffusers folder beside it with the same name
    (``sd15.safetensors`` and ``sd15/``), else ``$IMAGEGEN_DIFFUSERS_CONFIG_<FAMILY>``, else the published
    architecture's, shipped with this package (``shipped.py``). An inpainting file has no shipped configs: None
    (diffusers then fetches its default configs for the family from the hub, or its cache)."""
    beside = os.path.splitext(path)[0]
    if os.path.isfile(os.path.join(beside, "model_index.json")):
        return beside
    if os.environ.get(CONFIG_ENV[family]):
        return os.environ[CONFIG_ENV[family]]
    return None if inpainting else shipped_config(family)


def describe_file(path: str, *, config: str | None, cache_dir: str | None = None) -> ModelInfo:
    """A checkpoint file's family from its tensor names; sizes and scheduler from its configs when known."""
    keys = checkpoint_tensors(path)
    family, inpainting = detect_checkpoint_family(keys, label=repr(path))
    params = sum(_numel(s) for k, s in keys.items() if k.startswith(("model.diffusion_model.", "first_stage_model.",
                                                                     "cond_stage_model.", "conditioner.")))
    config = config or find_config(path, family, inpainting=inpainting)
    if config is not None:
        config_source = resolve_source(config)
        if config_source.kind == "file":
            raise ProviderUnavailable(f"config={config!r} is a file; give a diffusers folder or hub id whose configs "
                                      "match the checkpoint's architecture")
        config_dir = (config_source.location if config_source.kind == "folder"
                      else hub_config_folder(config_source.location, cache_dir=cache_dir))
        configured = describe_folder(config_dir, label=f"config {config!r}")
        if configured.family != family:
            raise ProviderUnavailable(
                f"{path!r} is an {FAMILY_NAMES[family]} checkpoint but config {config!r} describes an "
                f"{configured.family_name} model; pass config= a folder (or hub id) of the same architecture")
        return ModelInfo(**{**configured.__dict__, "inpainting": inpainting, "params": params or None,
                            "config_dir": config_dir})
    sample, factor, prediction = _FAMILY_DEFAULTS[family]
    return ModelInfo(family=family, inpainting=inpainting, sample_size=sample, vae_scale_factor=factor, levels=4,
                     prediction_type=prediction, scheduler_class="PNDMScheduler", params=params or None)


# -- the hub -------------------------------------------------------------------------------------------

def hub_config_folder(repo_id: str, *, cache_dir: str | None = None) -> str:
    """A local folder with ``repo_id``'s configs (the JSON and tokenizer text files only), from the
    Hugging Face cache (``cache_dir``, default the standard one) or downloaded."""
    from huggingface_hub import snapshot_download

    try:
        return str(snapshot_download(repo_id, allow_patterns=["*.json", "*.txt"], cache_dir=cache_dir))
    except Exception as exc:  # offline, not cached, gated, missing: all mean this model cannot be used now
        raise ProviderUnavailable(hub_advice(repo_id, exc)) from None


def hub_advice(repo_id: str, exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    where = "offline mode (HF_HUB_OFFLINE) is on and " if offline else ""
    return (f"cannot get hub model {repo_id!r}: {where}it is not in the Hugging Face cache or could not be downloaded "
            f"({text}). Download it once while online (`hf download {repo_id}`), check the id, log in for gated "
            "models (`hf auth login`), or give a local folder or checkpoint file instead")


def describe(source: Source, *, config: str | None = None, cache_dir: str | None = None) -> ModelInfo:
    """Describe ``source``. ``config``: a folder or hub id with the configs of a single file's architecture
    (found beside the file or in ``CONFIG_ENV`` when not given). ``cache_dir``: the Hugging Face cache."""
    if source.kind == "folder":
        return describe_folder(source.location)
    if source.kind == "hub":
        return describe_folder(hub_config_folder(source.location, cache_dir=cache_dir), label=repr(source.location))
    return describe_file(source.location, config=config, cache_dir=cache_dir)
