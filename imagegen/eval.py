"""Automatic image evaluation: CLIP score (prompt adherence) and FID (distance between image sets).

Both run through torchmetrics with a CLIP model the user points at (a local folder or a hub id in
the local cache); nothing is downloaded behind your back. Needs the ``eval`` extra::

    pip install "imagegen[eval]"

    scorer = imagegen.eval.ClipScorer("/models/clip-vit-base-patch32")
    r = client.generate("a red fox", n=8, select=2, scorer=scorer)        # best-of-n
    imagegen.eval.clip_score(r.images, "a red fox", model="/models/clip-vit-base-patch32")

torch, transformers and torchmetrics are imported on first use only, never by ``import imagegen``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .errors import InvalidRequest, ProviderUnavailable
from .imageio import ImageData

if TYPE_CHECKING:
    import torch

__all__ = ["ClipScorer", "build_tiny_clip", "clip_score", "fid"]

ImageLike = Any  # GeneratedImage / ImageData, PIL image, bytes, or a file path
_INSTALL = 'the imagegen.eval helpers need torch, transformers and torchmetrics: pip install "imagegen[eval]"'


def _require() -> None:
    try:
        import torch  # noqa: F401
        import torchmetrics  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ProviderUnavailable(f"{_INSTALL} ({exc})") from exc


class _ClipFeatures:
    """Adapts a transformers ``CLIPModel`` to what torchmetrics expects: ``get_*_features`` that
    return tensors (transformers 5 returns model outputs) and ``to(device)``."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.config = model.config

    def to(self, device: Any) -> _ClipFeatures:
        self.model = self.model.to(device)
        return self

    def get_image_features(self, *args: Any, **kwargs: Any) -> Any:
        return _tensor(self.model.get_image_features(*args, **kwargs))

    def get_text_features(self, *args: Any, **kwargs: Any) -> Any:
        return _tensor(self.model.get_text_features(*args, **kwargs))


def _tensor(out: Any) -> Any:
    pooled = getattr(out, "pooler_output", None)
    return pooled if pooled is not None else out


_cache_lock = threading.Lock()


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' progress bars ("Loading weights", "Writing model shards") off while imagegen loads or
    saves a model for you: the caller's own display (or none) says what is happening."""
    from transformers.utils import logging as hf_logging

    hf: Any = hf_logging  # untyped functions
    was_on = hf.is_progress_bar_enabled()
    hf.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf.enable_progress_bar()


@functools.lru_cache(maxsize=4)
def _load(model: str) -> tuple[_ClipFeatures, Any]:
    _require()
    from transformers import CLIPModel, CLIPProcessor

    try:
        with quiet_transformers():
            clip = CLIPModel.from_pretrained(model, local_files_only=True)
            processor = CLIPProcessor.from_pretrained(model, local_files_only=True)
    except OSError as exc:
        raise InvalidRequest(f"model: cannot load a CLIP model from {model!r} (a local folder with config.json, "
                             f"weights and processor files, or a hub id already in the local cache): {exc}",
                             field="model") from exc
    clip.eval()  # type: ignore[no-untyped-call]
    return _ClipFeatures(clip), processor


def load_clip(model: str | os.PathLike[str]) -> tuple[Any, Any]:
    """The (model, processor) pair for ``model``, loaded once per process."""
    if not isinstance(model, (str, os.PathLike)) or not os.fspath(model):
        raise InvalidRequest("model: pass the path (or cached hub id) of a CLIP model, e.g. "
                             "model='/models/clip-vit-base-patch32'", field="model")
    with _cache_lock:
        return _load(os.fspath(model))


def _to_tensor(image: ImageLike, field: str = "images") -> torch.Tensor:
    """An image as a uint8 CHW RGB tensor."""
    import numpy as np
    import torch

    if hasattr(image, "convert") and hasattr(image, "size") and type(image).__module__.startswith("PIL."):
        pil = image
    else:
        data = image if isinstance(image, ImageData) else _load_image(image, field)
        pil = data.to_pil()
    array = np.asarray(pil.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def _load_image(image: Any, field: str) -> ImageData:
    from .imageio import load_image

    return load_image(image, field)


def _prompts(prompts: str | Sequence[str], count: int) -> list[str]:
    if isinstance(prompts, str):
        return [prompts] * count
    texts = [str(p) for p in prompts]
    if len(texts) != count:
        raise InvalidRequest(f"prompts: got {len(texts)} prompts for {count} images; pass one prompt for all "
                             "or one per image", field="prompts")
    return texts


class ClipScorer:
    """CLIP score, ``100 * max(cos(image, text), 0)``, per image; higher means closer to the prompt.

    Its call signature, ``scorer(images, prompt) -> list[float]``, is the one ``Client.generate(...,
    select=k, scorer=...)`` and ``Client.compare(..., scorer=...)`` use.
    """

    name = "clip"

    def __init__(self, model: str | os.PathLike[str], *, device: str | None = None) -> None:
        self.model = os.fspath(model)
        self.device = device
        load_clip(self.model)  # fail now, with a clear message, not mid-batch

    def __call__(self, images: Sequence[ImageLike], prompt: str | Sequence[str]) -> list[float]:
        return self.score(images, prompt)

    def score(self, images: Sequence[ImageLike], prompts: str | Sequence[str]) -> list[float]:
        import torch
        from torchmetrics.functional.multimodal import clip_score as tm_clip_score

        images = list(images)
        if not images:
            return []
        texts = _prompts(prompts, len(images))
        features, processor = load_clip(self.model)
        if self.device:
            features.to(self.device)
        scores: list[float] = []
        with torch.inference_mode():
            for image, text in zip(images, texts, strict=True):
                tensor = _to_tensor(image)
                if self.device:
                    tensor = tensor.to(self.device)
                value = tm_clip_score([tensor], [text], model_name_or_path=lambda: (features, processor))
                scores.append(float(value))
        return scores

    def __repr__(self) -> str:
        return f"ClipScorer({self.model!r})"


def clip_score(images: Sequence[ImageLike], prompts: str | Sequence[str], *,
               model: str | os.PathLike[str]) -> list[float]:
    """CLIP score of each image against its prompt (one prompt for all, or one per image)."""
    return ClipScorer(model).score(images, prompts)


def _clip_extractor(model: str) -> Any:
    """CLIP image embeddings as the feature extractor FID needs: uint8 NCHW -> (N, d)."""
    import torch

    features, processor = load_clip(model)

    class ClipImageFeatures(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.clip = features.model
            self.num_features = int(features.config.projection_dim)

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            pixels = processor(images=[im.cpu() for im in images], return_tensors="pt")["pixel_values"]
            out: torch.Tensor = _tensor(self.clip.get_image_features(pixel_values=pixels.to(images.device)))
            return out.double()

    return ClipImageFeatures()


def fid(real: Sequence[ImageLike], generated: Sequence[ImageLike], *, model: str | os.PathLike[str] | None = None,
        feature: Any = None) -> float:
    """Fréchet distance between two image sets (lower: more alike).

    With ``model`` (a CLIP path) it compares CLIP image embeddings, which works offline; without
    it, torchmetrics' Inception features are used (``pip install torch-fidelity``; their weights
    are downloaded on first use). Each set needs at least two images; FID is only meaningful with
    hundreds or more."""
    _require()
    import torch
    from torchmetrics.image.fid import FrechetInceptionDistance

    real, generated = list(real), list(generated)
    if len(real) < 2 or len(generated) < 2:
        raise InvalidRequest(f"fid: each image set needs at least 2 images; got {len(real)} and {len(generated)}",
                             field="images")
    if model is not None:
        extractor: Any = _clip_extractor(os.fspath(model))
    elif feature is not None:
        extractor = feature
    else:
        extractor = 2048
    try:
        metric = FrechetInceptionDistance(feature=extractor, normalize=False)
    except (ModuleNotFoundError, ImportError) as exc:
        raise ProviderUnavailable(f"fid: Inception features need torch-fidelity and its weights; pass "
                                  f"model=<CLIP path> to use CLIP features offline ({exc})") from exc
    with torch.inference_mode():
        for batch, is_real in ((real, True), (generated, False)):
            for image in batch:
                metric.update(_to_tensor(image).unsqueeze(0), real=is_real)
        return float(metric.compute())


# -- a tiny random CLIP, for tests and offline demos ---------------------------------------------

def build_tiny_clip(directory: str | os.PathLike[str], *, seed: int = 0, image_size: int = 32) -> str:
    """Write a tiny, randomly initialised CLIP model + processor to ``directory`` and return it.

    Its scores mean nothing; it exists so code that scores images can be tested offline, in
    seconds, through the same loading path as a real model."""
    _require()
    import torch
    import transformers
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    # transformers 5 without torchvision wants the Pillow image processor; 4.x only has the one
    image_processor: Any = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    processor_class: Any = transformers.CLIPProcessor

    out = os.fspath(directory)
    os.makedirs(out, exist_ok=True)
    chars = list(bytes_to_unicode().values())  # type: ignore[no-untyped-call]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    bos, eos = len(vocab), len(vocab) + 1
    vocab.update({"<|startoftext|>": bos, "<|endoftext|>": eos})
    tokenizer: Any
    try:
        tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    except TypeError:  # transformers 4: files only
        with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as fh:
            json.dump(vocab, fh)
        with open(os.path.join(out, "merges.txt"), "w", encoding="utf-8") as fh:
            fh.write("#version: 0.2\n")
        tokenizer = CLIPTokenizer(os.path.join(out, "vocab.json"), os.path.join(out, "merges.txt"),
                                  model_max_length=77)
    processor = processor_class(image_processor=image_processor(size={"shortest_edge": image_size},
                                                                crop_size={"height": image_size, "width": image_size}),
                                tokenizer=tokenizer)
    config = CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "max_position_embeddings": 77, "bos_token_id": bos,
                     "eos_token_id": eos, "pad_token_id": eos},
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
                       "image_size": image_size, "patch_size": 8},
        projection_dim=16)
    with torch.random.fork_rng(devices=[]), quiet_transformers():
        torch.manual_seed(seed)
        CLIPModel(config).save_pretrained(out)
        processor.save_pretrained(out)
    return out

