"""Textual-inversion embeddings (``embeddings=["easynegative.safetensors", "/models/embeddings/"]``).

An embedding is triggered by its name, the file's stem (as in AUTOMATIC1111), in the prompt or the negative
prompt. A file holds one of the formats people share: A1111's ``.pt`` (``string_to_param``), its
``.safetensors`` (``emb_params``), diffusers' (one tensor under the token's name), or an SDXL pair (``clip_l``
and ``clip_g``, one per text encoder). They are added to the tokenizers and text encoders with diffusers'
``load_textual_inversion`` once, kept loaded across calls that ask for them, and taken out (``unload_textual_
inversion``) when a call asks for a set without them, so a name means the embedding only when it is asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from imagegen.provider import InvalidRequest

from ._lazy import torch

__all__ = ["SUFFIXES", "EmbeddingSpec", "load_embedding", "resolve_embeddings"]

SUFFIXES = (".safetensors", ".pt", ".bin")


@dataclass(frozen=True)
class EmbeddingSpec:
    """An embedding to load: its trigger ``name`` and its file."""

    name: str
    path: str


def resolve_embeddings(paths: tuple[str, ...]) -> tuple[EmbeddingSpec, ...]:
    """The embedding files of ``paths`` (files, or folders of them), named by their stems; checked before work."""
    found: dict[str, EmbeddingSpec] = {}
    for given in paths:
        path = os.path.abspath(os.path.expanduser(given))
        if os.path.isdir(path):
            files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(SUFFIXES))
            if not files:
                raise InvalidRequest(f"embeddings: folder {given!r} holds no {'/'.join(SUFFIXES)} files",
                                     field="embeddings")
        elif os.path.isfile(path):
            if not path.lower().endswith(SUFFIXES):
                raise InvalidRequest(f"embeddings: {given!r} is not an embedding file (expected "
                                     f"{', '.join(SUFFIXES)})", field="embeddings")
            files = [path]
        else:
            raise InvalidRequest(f"embeddings: no such file or folder: {given!r} (resolved to {path})",
                                 field="embeddings")
        for file in files:
            name = os.path.splitext(os.path.basename(file))[0]
            other = found.get(name)
            if other is not None and other.path != file:
                raise InvalidRequest(f"embeddings: two files are named {name!r} ({other.path} and {file}); the name "
                                     "triggers the embedding, so it must be unique", field="embeddings")
            found[name] = EmbeddingSpec(name, file)
    return tuple(found.values())


def _read(path: str) -> dict[str, Any]:
    try:
        if path.lower().endswith(".safetensors"):
            import safetensors.torch

            return dict(safetensors.torch.load_file(path, device="cpu"))
        state = torch().load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated or not a tensor file
        raise InvalidRequest(f"embeddings: cannot read {path} ({type(exc).__name__}: {exc}); download it again",
                             field="embeddings") from None
    if isinstance(state, dict):
        return state
    if hasattr(state, "shape"):
        return {"*": state}
    raise InvalidRequest(f"embeddings: {path} holds no embedding tensors", field="embeddings")


def vectors(path: str) -> dict[str, Any]:
    """The file's vectors per text encoder: ``{"clip_l": t, "clip_g": t}`` for SDXL, ``{"": t}`` otherwise; each
    ``t`` is (vectors, width)."""
    state = _read(path)
    if "clip_l" in state or "clip_g" in state:
        if not ("clip_l" in state and "clip_g" in state):
            raise InvalidRequest(f"embeddings: {path} has only one of clip_l and clip_g; an SDXL embedding needs both",
                                 field="embeddings")
        return {"clip_l": _matrix(state["clip_l"], path), "clip_g": _matrix(state["clip_g"], path)}
    if isinstance(state.get("string_to_param"), dict):  # A1111 .pt
        return {"": _matrix(state["string_to_param"]["*"], path)}
    if "emb_params" in state:  # A1111 .safetensors
        return {"": _matrix(state["emb_params"], path)}
    tensors = [v for v in state.values() if hasattr(v, "shape")]
    if len(tensors) == 1:  # diffusers: {"<token>": tensor}
        return {"": _matrix(tensors[0], path)}
    raise InvalidRequest(f"embeddings: {path} is not a textual-inversion embedding (keys: "
                         f"{', '.join(sorted(map(str, state))[:6])})", field="embeddings")


def _matrix(tensor: Any, path: str) -> Any:
    if not hasattr(tensor, "shape") or tensor.ndim not in (1, 2):
        raise InvalidRequest(f"embeddings: {path} holds a tensor of shape {getattr(tensor, 'shape', '?')}, not "
                             "embedding vectors", field="embeddings")
    return tensor.reshape(1, -1) if tensor.ndim == 1 else tensor


def load_embedding(pipe: Any, spec: EmbeddingSpec, *, xl: bool, family_name: str) -> list[str]:
    """Add ``spec`` to ``pipe``'s tokenizers and text encoders; returns the tokens added."""
    parts = vectors(spec.path)
    if xl and "" in parts:
        raise InvalidRequest(f"embeddings: {spec.path} is an embedding for SD 1.x/2.x (one text encoder); an SDXL "
                             "model needs one with clip_l and clip_g", field="embeddings")
    if not xl and "" not in parts:
        raise InvalidRequest(f"embeddings: {spec.path} is an SDXL embedding (clip_l and clip_g); this is an "
                             f"{family_name} model", field="embeddings")
    targets = ([("clip_l", pipe.tokenizer, pipe.text_encoder), ("clip_g", pipe.tokenizer_2, pipe.text_encoder_2)]
               if xl else [("", pipe.tokenizer, pipe.text_encoder)])
    for part, tokenizer, encoder in targets:
        width = encoder.get_input_embeddings().weight.shape[-1]
        if parts[part].shape[-1] != width:
            raise InvalidRequest(f"embeddings: {spec.path} is for another model family (vectors "
                                 f"{parts[part].shape[-1]} wide; this {family_name} model's text encoder takes "
                                 f"{width})", field="embeddings")
        if spec.name in tokenizer.get_vocab():
            raise InvalidRequest(f"embeddings: {spec.name!r} is already a word of this model's tokenizer; rename the "
                                 "file so its name is a new word", field="embeddings")
    tokens = [spec.name] + [f"{spec.name}_{i}" for i in range(1, parts[targets[0][0]].shape[0])]
    for part, tokenizer, encoder in targets:
        vecs = parts[part].to(dtype=encoder.dtype)
        names = [spec.name] + [f"{spec.name}_{i}" for i in range(1, vecs.shape[0])]
        pipe.load_textual_inversion(list(vecs), token=names, tokenizer=tokenizer, text_encoder=encoder)
    return tokens


def unload_embedding(pipe: Any, tokens: list[str], *, xl: bool) -> None:
    targets = [(pipe.tokenizer, pipe.text_encoder)]
    if xl:
        targets.append((pipe.tokenizer_2, pipe.text_encoder_2))
    for tokenizer, encoder in targets:
        pipe.unload_textual_inversion(tokens=tokens, tokenizer=tokenizer, text_encoder=encoder)
