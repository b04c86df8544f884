"""What a call actually used, as ``ImageSettings``: every default resolved, the scheduler as A1111 names it,
and the models by name and A1111 hash.

The provider fills ``GeneratedImage.settings`` from the ``Job`` (the request with this provider's defaults,
the model folder's ``imagegen.json`` and the family's applied) and the scheduler the pipeline ran with, so
the ``parameters`` text of a saved image says what made it, not only what the caller typed.

Names and hashes follow A1111: a checkpoint file is named by its stem, a folder by its name, a hub model by
its id, the embedded model ``imagegen-mini``; hashes come from ``imagegen.provider``'s hashing helpers (cached
per file). A diffusers folder is hashed as the manifest of its weight files (``imagegen.hashing``); a hub model
is hashed from its local snapshot when one is cached, else it has no hash.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from imagegen.provider import HiresSettings, ImageSettings, ModelRef, file_sha256, lora_sha256, model_sha256

from .embeddings import EmbeddingSpec
from .engine import Job, LoRASpec
from .models import MINI, Source
from .schedulers import a1111_sampler

__all__ = ["embedding_refs", "job_settings", "lora_ref", "model_ref", "refiner_ref", "vae_ref"]


def _file_name(path: str) -> str:
    return os.path.splitext(os.path.basename(path.rstrip("/\\")))[0] or path


def model_ref(model: str, source: Source, *, cache_dir: str | None = None) -> ModelRef:
    """The checkpoint as A1111 would name and hash it."""
    if model == MINI:
        name = MINI
    elif source.kind == "hub":
        name = source.location
    else:
        name = _file_name(source.location)
    where = _local_snapshot(source.location, cache_dir) if source.kind == "hub" else source.location
    digest = model_sha256(where) if where else None
    return ModelRef(name=name, hash=digest[:10] if digest else None, sha256=digest)


def _local_snapshot(repo: str, cache_dir: str | None) -> str | None:
    """The folder of a hub model's cached snapshot, when there is one (nothing is fetched)."""
    try:
        from huggingface_hub import snapshot_download

        return str(snapshot_download(repo, cache_dir=cache_dir, local_files_only=True))
    except Exception:  # not cached, or no huggingface_hub: the model has no hash
        return None


def vae_ref(vae: str, *, cache_dir: str | None = None) -> ModelRef:
    """A VAE as A1111 names it (``sd_vae.get_loaded_vae_name``: the file's name, extension included) and hashes
    it (``sd_vae.get_loaded_vae_hash``: 10 hex digits of its SHA-256); a folder by its name, a hub VAE by its id."""
    path = os.path.abspath(os.path.expanduser(vae))
    if os.path.exists(path):
        digest = model_sha256(path)
        return ModelRef(name=os.path.basename(path.rstrip("/\\")), hash=digest[:10] if digest else None, sha256=digest)
    where = _local_snapshot(vae, cache_dir)
    digest = model_sha256(where) if where else None
    return ModelRef(name=vae, hash=digest[:10] if digest else None, sha256=digest)


def refiner_ref(refiner: str, *, cache_dir: str | None = None) -> ModelRef:
    """An SDXL refiner as A1111's ``Refiner`` key names it: a checkpoint's stem, a folder's name or a hub id, with
    the checkpoint's 10-digit hash."""
    path = os.path.abspath(os.path.expanduser(refiner))
    if os.path.exists(path):
        digest = model_sha256(path)
        return ModelRef(name=_file_name(path), hash=digest[:10] if digest else None, sha256=digest)
    where = _local_snapshot(refiner, cache_dir)
    digest = model_sha256(where) if where else None
    return ModelRef(name=refiner, hash=digest[:10] if digest else None, sha256=digest)


def embedding_refs(embeddings: tuple[EmbeddingSpec, ...], *texts: str | None) -> tuple[ModelRef, ...]:
    """The embeddings a call used, as ``TI hashes`` lists them: those whose name the prompt or negative prompt
    holds (A1111 lists the ones its text encoder met), each with 12 hex digits of its file's SHA-256."""
    words = " ".join(t for t in texts if t)
    refs = []
    for spec in embeddings:
        if re.search(rf"(?<![\w]){re.escape(spec.name)}(?![\w])", words):
            digest = file_sha256(spec.path)
            refs.append(ModelRef(name=spec.name, hash=digest[:12] if digest else None, sha256=digest))
    return tuple(refs)


def lora_ref(lora: LoRASpec) -> ModelRef:
    """A LoRA as A1111 lists it: its file's name, its 12-digit hash when it is a local file, its strength."""
    where = os.path.join(lora.location, lora.weight_name) if lora.weight_name else lora.location
    name = _file_name(lora.weight_name or lora.label or lora.location)
    digest = lora_sha256(where) if os.path.exists(where) else None
    return ModelRef(name=name, hash=digest[:12] if digest else None, sha256=digest, weight=lora.scale)


def job_settings(job: Job, *, model: ModelRef, scheduler_class: str, scheduler_config: Mapping[str, Any],
                 loras: tuple[ModelRef, ...] = (), vae: ModelRef | None = None,
                 embeddings: tuple[ModelRef, ...] = (), refiner: ModelRef | None = None) -> ImageSettings:
    """The settings ``job`` ran with (the seed is the first image's; each image gets its own). ``clip_skip``
    is A1111's count in both (1 = the last layer, not recorded)."""
    sampler, schedule = a1111_sampler(scheduler_class, scheduler_config)
    extra: dict[str, str | int | float | bool] = {}
    if job.guidance > 1 and job.guidance_cutoff < 1:
        extra["Guidance cutoff"] = job.guidance_cutoff
    hires = None
    if job.hires is not None:
        h = job.hires
        hires = HiresSettings(scale=h.scale, width=h.width, height=h.height, upscaler=h.upscaler.label,
                              steps=h.steps, strength=h.strength)
    return ImageSettings(
        steps=job.steps, sampler=sampler, schedule_type=schedule, guidance=job.guidance,
        seed=job.seeds[0] if job.seeds else None, width=job.width, height=job.height, model=model,
        strength=job.strength if job.operation in ("img2img", "inpaint") else None,
        clip_skip=job.clip_skip if job.clip_skip and job.clip_skip > 1 else None, vae=vae, tiling=job.tiling,
        hires=hires, refiner=refiner, refiner_switch=job.refiner_switch if refiner is not None else None,
        loras=loras, embeddings=embeddings, operation=job.operation, extra=extra)
