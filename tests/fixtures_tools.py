"""Images whose metadata is written byte for byte the way each tool writes it (built here, from each tool's source).

- ComfyUI (comfyanonymous/ComfyUI ``nodes.py``, ``SaveImage.save_images``): ``PngInfo.add_text("prompt",
  json.dumps(prompt))`` and, for each ``extra_pnginfo`` key (``workflow``), ``add_text(key, json.dumps(value))``.
  The graph is ComfyUI's default workflow (node ids 3-9) with a LoRA, CLIP skip, a separate VAE and a latent
  hires pass added, with the input names ``nodes.py`` declares.
- InvokeAI (invoke-ai/InvokeAI ``invokeai/app/services/image_files/image_files_disk.py``, ``save``):
  ``pnginfo.add_text("invokeai_metadata", json.dumps(metadata))`` and ``"invokeai_graph"``; the metadata is a
  ``CoreMetadataInvocation`` dump (``invokeai/app/invocations/metadata.py``).
- Fooocus (lllyasviel/Fooocus ``modules/private_logger.py``, ``log``; ``modules/meta_parser.py``,
  ``FooocusMetadataParser.parse_string``): ``parameters`` = ``json.dumps(dict(sorted(res.items())))`` and
  ``fooocus_scheme`` = ``"fooocus"`` in a PNG; ``get_exif`` (UserComment in IFD0, Software, MakerNote) in a JPEG.
- NovelAI (Eta0/naipng README, "Technical Background"; sd-parsers ``parsers/_novelai.py``): ``tEXt`` chunks
  ``Title``, ``Description`` (the prompt), ``Software`` (``NovelAI``), ``Source`` (the model) and ``Comment``
  (JSON of the request).
- AUTOMATIC1111 (``modules/images.py``, ``save_image_with_geninfo``): ``PngInfo.add_text("parameters", geninfo)``.
"""

from __future__ import annotations

import io
import json
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

__all__ = ["A1111_TEXT", "COMFY_PROMPT", "FOOOCUS", "INVOKEAI", "NOVELAI", "a1111_png", "comfy_png", "comfy_workflow",
           "fooocus_jpeg", "fooocus_png", "invokeai_png", "novelai_png"]

A1111_TEXT = (
    "a red circle on a blue background <lora:detail_tweaker:0.6>\n"
    "Negative prompt: blurry\n"
    "Steps: 4, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 5, Size: 32x32, "
    "Model hash: 0123456789, Model: imagegen-mini, Clip skip: 2, ENSD: 31337, "
    'Lora hashes: "detail_tweaker: 7c6bad76eb54", Version: v1.10.1')

COMFY_PROMPT: dict[str, Any] = {
    "3": {"inputs": {"seed": 8566257, "steps": 4, "cfg": 7.0, "sampler_name": "dpmpp_2m", "scheduler": "karras",
                     "denoise": 1.0, "model": ["10", 0], "positive": ["6", 0], "negative": ["7", 0],
                     "latent_image": ["5", 0]}, "class_type": "KSampler", "_meta": {"title": "KSampler"}},
    "4": {"inputs": {"ckpt_name": "SD1.5/imagegen-mini.safetensors"}, "class_type": "CheckpointLoaderSimple",
          "_meta": {"title": "Load Checkpoint"}},
    "5": {"inputs": {"width": 32, "height": 32, "batch_size": 1}, "class_type": "EmptyLatentImage",
          "_meta": {"title": "Empty Latent Image"}},
    "6": {"inputs": {"text": "a red circle on a blue background", "clip": ["11", 0]}, "class_type": "CLIPTextEncode",
          "_meta": {"title": "CLIP Text Encode (Prompt)"}},
    "7": {"inputs": {"text": "blurry, low quality", "clip": ["11", 0]}, "class_type": "CLIPTextEncode",
          "_meta": {"title": "CLIP Text Encode (Prompt)"}},
    "8": {"inputs": {"samples": ["13", 0], "vae": ["14", 0]}, "class_type": "VAEDecode",
          "_meta": {"title": "VAE Decode"}},
    "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}, "class_type": "SaveImage",
          "_meta": {"title": "Save Image"}},
    "10": {"inputs": {"lora_name": "detail_tweaker.safetensors", "strength_model": 0.6, "strength_clip": 0.6,
                      "model": ["4", 0], "clip": ["4", 1]}, "class_type": "LoraLoader",
           "_meta": {"title": "Load LoRA"}},
    "11": {"inputs": {"stop_at_clip_layer": -2, "clip": ["10", 1]}, "class_type": "CLIPSetLastLayer",
           "_meta": {"title": "CLIP Set Last Layer"}},
    "12": {"inputs": {"upscale_method": "nearest-exact", "scale_by": 1.5, "samples": ["3", 0]},
           "class_type": "LatentUpscaleBy", "_meta": {"title": "Upscale Latent By"}},
    "13": {"inputs": {"seed": 8566257, "steps": 2, "cfg": 7.0, "sampler_name": "dpmpp_2m", "scheduler": "karras",
                      "denoise": 0.5, "model": ["10", 0], "positive": ["6", 0], "negative": ["7", 0],
                      "latent_image": ["12", 0]}, "class_type": "KSampler", "_meta": {"title": "KSampler"}},
    "14": {"inputs": {"vae_name": "vae-ft-mse-840000-ema-pruned.safetensors"}, "class_type": "VAELoader",
           "_meta": {"title": "Load VAE"}},
}

_LINK_TYPES = {"model": "MODEL", "clip": "CLIP", "positive": "CONDITIONING", "negative": "CONDITIONING",
               "latent_image": "LATENT", "samples": "LATENT", "vae": "VAE", "images": "IMAGE"}


def comfy_workflow(prompt: dict[str, Any]) -> dict[str, Any]:
    """The editor graph ComfyUI saves beside ``prompt``: its nodes and its links, each link
    ``[link id, from node, from slot, to node, to slot, type]`` (what sd-parsers' ComfyUI reader walks)."""
    links, nodes = [], []
    for node_id, node in prompt.items():
        inputs = []
        for slot, (name, value) in enumerate(node["inputs"].items()):
            if isinstance(value, list):
                kind = _LINK_TYPES.get(name, "INT")
                links.append([len(links) + 1, int(value[0]), value[1], int(node_id), slot, kind])
                inputs.append({"name": name, "type": kind, "link": len(links)})
        widgets = [v for v in node["inputs"].values() if not isinstance(v, list)]
        nodes.append({"id": int(node_id), "type": node["class_type"], "pos": [0, 0], "size": [315, 100], "flags": {},
                      "order": len(nodes), "mode": 0, "inputs": inputs, "properties": {}, "widgets_values": widgets})
    return {"last_node_id": max(int(k) for k in prompt), "last_link_id": len(links), "nodes": nodes, "links": links,
            "groups": [], "config": {}, "extra": {}, "version": 0.4}


INVOKEAI: dict[str, Any] = {
    "generation_mode": "txt2img", "positive_prompt": "a red circle on a blue background",
    "negative_prompt": "blurry", "width": 32, "height": 32, "seed": 1234, "rand_device": "cpu", "cfg_scale": 7.5,
    "cfg_rescale_multiplier": 0, "steps": 4, "scheduler": "dpmpp_2m_k", "clip_skip": 1,
    "model": {"key": "7a1b2c3d", "hash": "blake3:9f2c", "name": "imagegen-mini", "base": "sd-1", "type": "main"},
    "loras": [{"model": {"key": "5e6f", "hash": "blake3:11aa", "name": "detail_tweaker", "base": "sd-1",
                         "type": "lora"}, "weight": 0.75}],
    "seamless_x": False, "seamless_y": False, "app_version": "5.6.0",
}

FOOOCUS: dict[str, Any] = {
    "adm_guidance": "(1.5, 0.8, 0.3)", "base_model": "imagegen-mini", "base_model_hash": "0123456789",
    "full_negative_prompt": ["blurry", "(worst quality, low quality:1.4)"],
    "full_prompt": ["a red circle on a blue background", "sharp focus"], "guidance_scale": 4.0,
    "loras": [["sd_xl_offset_example-lora_1.0", 0.1, "4852686128"]], "negative_prompt": "blurry",
    "performance": "Speed", "prompt": "a red circle on a blue background", "refiner_model": "None",
    "refiner_switch": 0.5, "resolution": "(32, 32)", "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras",
    "seed": "1234", "sharpness": 2.0, "steps": 4, "styles": "['Fooocus V2', 'Fooocus Enhance']",
    "vae": "Default (model)", "version": "Fooocus v2.5.5",
}

NOVELAI: dict[str, Any] = {
    "prompt": "a red circle on a blue background", "steps": 4, "height": 32, "width": 32, "scale": 5.0,
    "uncond_scale": 1.0, "cfg_rescale": 0.0, "seed": 2210386917, "n_samples": 1, "hide_debug_overlay": False,
    "noise_schedule": "karras", "legacy_v3_extend": False, "sampler": "k_euler_ancestral", "sm": True,
    "sm_dyn": False, "uc": "lowres, blurry", "request_type": "PromptGenerateRequest",
}


def _png(info: PngInfo, size: tuple[int, int] = (32, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (30, 60, 200)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def a1111_png(text: str = A1111_TEXT) -> bytes:
    info = PngInfo()
    info.add_text("parameters", text)
    return _png(info)


def comfy_png(prompt: dict[str, Any] = COMFY_PROMPT) -> bytes:
    info = PngInfo()
    info.add_text("prompt", json.dumps(prompt))
    info.add_text("workflow", json.dumps(comfy_workflow(prompt)))
    return _png(info)


def invokeai_png(metadata: dict[str, Any] = INVOKEAI) -> bytes:
    info = PngInfo()
    info.add_text("invokeai_metadata", json.dumps(metadata))
    info.add_text("invokeai_graph", json.dumps({"id": "graph", "nodes": {}, "edges": []}))
    return _png(info)


def fooocus_png(metadata: dict[str, Any] = FOOOCUS) -> bytes:
    info = PngInfo()
    info.add_text("parameters", json.dumps(dict(sorted(metadata.items()))))
    info.add_text("fooocus_scheme", "fooocus")
    return _png(info)


def fooocus_jpeg(metadata: dict[str, Any] = FOOOCUS) -> bytes:
    exif = Image.Exif()
    exif[0x9286] = json.dumps(dict(sorted(metadata.items())))  # UserComment, in IFD0 as Fooocus' get_exif puts it
    exif[0x0131] = "Fooocus v2.5.5"  # Software
    exif[0x927C] = "fooocus"  # MakerNote: the scheme
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (30, 60, 200)).save(buf, format="JPEG", quality=95, optimize=True, progressive=True,
                                                   exif=exif)
    return buf.getvalue()


def novelai_png(comment: dict[str, Any] = NOVELAI) -> bytes:
    info = PngInfo()
    info.add_text("Title", "NovelAI generated image")
    info.add_text("Description", comment["prompt"])
    info.add_text("Software", "NovelAI")
    info.add_text("Source", "Stable Diffusion XL C1E1DE52")
    info.add_text("Generation time", "2.5")
    info.add_text("Comment", json.dumps(comment))
    return _png(info)
