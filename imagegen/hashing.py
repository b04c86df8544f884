"""Model hashes as AUTOMATIC1111 computes them, each file hashed once and remembered.

Civitai and A1111 match an image to its checkpoint, VAE, LoRAs and embeddings by these hashes
(A1111: ``modules/hashes.py``, ``modules/sd_models.py``, ``modules/sd_vae.py``,
``extensions-builtin/Lora/network.py``, ``modules/textual_inversion/textual_inversion.py``):

- ``Model hash`` and ``VAE hash``: the first 10 hex digits of the file's SHA-256 (Civitai's "AutoV2");
- LoRA hashes: the first 12 hex digits of the SHA-256 of a ``.safetensors`` file *without its header* (the
  kohya-ss "addnet" hash, ``hashes.addnet_hash_safetensors``), of the whole file for other formats;
- ``TI hashes`` (embeddings): the first 12 hex digits of the whole file's SHA-256;
- ``legacy_model_hash``: A1111's old 8-digit hash of 64 KiB at offset 1 MiB (``sd_models.model_hash``),
  which old infotexts carry.

A diffusers folder has no single file: its hash is the SHA-256 of a manifest, one line
``<relative path> <sha256>\\n`` per weight file (``*.safetensors``, ``*.bin``, ``*.ckpt``, ``*.pt``, ``*.pth``)
in sorted order, so it changes when any weight does and never when a config does.

Hashing a 2-7 GB checkpoint takes seconds, so each digest is cached in memory and on disk
(``$XDG_CACHE_HOME/imagegen/hashes.json``, default ``~/.cache/imagegen/hashes.json``), keyed by the kind
of hash and the file's absolute path, and valid while its size and modification time are unchanged: a
warm call reads no file. ``IMAGEGEN_NO_HASHING=1`` turns hashing off (cached digests are still used), as
A1111's ``--no-hashing`` does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable
from typing import BinaryIO

from .files import atomic_write

__all__ = ["CACHE_ENV", "NO_HASHING_ENV", "WEIGHT_SUFFIXES", "addnet_sha256", "cache_path", "embedding_hash",
           "file_sha256", "folder_sha256", "hashing_enabled", "legacy_model_hash", "lora_hash", "lora_sha256",
           "model_hash", "model_sha256"]

#: Set to a path to keep the hash cache there instead of the user's cache folder.
CACHE_ENV = "IMAGEGEN_HASH_CACHE"
#: Set to 1 (or true/yes) to compute no hash: images then carry only the hashes already cached.
NO_HASHING_ENV = "IMAGEGEN_NO_HASHING"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")
_BLOCK = 1024 * 1024

_lock = threading.Lock()
_memory: dict[str, tuple[int, int, str]] = {}
_disk: dict[str, dict[str, object]] | None = None
_disk_path: str | None = None


def hashing_enabled() -> bool:
    return os.environ.get(NO_HASHING_ENV, "").strip().lower() not in ("1", "true", "yes", "on")


def cache_path() -> str:
    """Where digests are kept between runs."""
    if env := os.environ.get(CACHE_ENV):
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "imagegen", "hashes.json")


def _sha256_stream(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(_BLOCK), b""):
        digest.update(block)
    return digest.hexdigest()


def _whole(path: str) -> str:
    with open(path, "rb") as fh:
        return _sha256_stream(fh)


def _addnet(path: str) -> str:
    """kohya-ss' hash of a safetensors file: everything after the 8-byte length and the JSON header."""
    with open(path, "rb") as fh:
        header = int.from_bytes(fh.read(8), "little")
        fh.seek(8 + header)
        return _sha256_stream(fh)


def _load_disk(path: str, *, fresh: bool = False) -> dict[str, dict[str, object]]:
    global _disk, _disk_path
    if fresh or _disk is None or _disk_path != path:
        try:
            with open(path, encoding="utf-8") as fh:
                loaded = json.load(fh)
            _disk = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            _disk = {}
        _disk_path = path
    return _disk


def _cached(kind: str, path: str, compute: Callable[[str], str]) -> str | None:
    """``compute(path)``, remembered under (kind, absolute path) while the file's size and mtime hold."""
    path = os.path.abspath(path)
    st = os.stat(path)
    key = f"{kind}:{path}"
    stamp = (st.st_size, st.st_mtime_ns)
    with _lock:
        hit = _memory.get(key)
        if hit is not None and hit[:2] == stamp:
            return hit[2]
        where = cache_path()
        entry = _load_disk(where).get(key)
        if isinstance(entry, dict) and entry.get("size") == stamp[0] and entry.get("mtime_ns") == stamp[1]:
            digest = str(entry.get("sha256"))
            _memory[key] = (*stamp, digest)
            return digest
    if not hashing_enabled():
        return None
    digest = compute(path)
    with _lock:
        _memory[key] = (*stamp, digest)
        disk = _load_disk(where, fresh=True)  # what other processes added since, kept
        disk[key] = {"size": stamp[0], "mtime_ns": stamp[1], "sha256": digest}
        with contextlib.suppress(OSError):  # a read-only home: the digest is still remembered for this process
            atomic_write(where, json.dumps(disk, indent=1, sort_keys=True).encode("utf-8"))
    return digest


def file_sha256(path: str | os.PathLike[str]) -> str | None:
    """The full SHA-256 of a file (cached); ``None`` when hashing is off and it is not cached."""
    return _cached("sha256", os.fspath(path), _whole)


def addnet_sha256(path: str | os.PathLike[str]) -> str | None:
    """kohya-ss' SHA-256 of a ``.safetensors`` file without its header (cached)."""
    return _cached("addnet", os.fspath(path), _addnet)


def folder_sha256(path: str | os.PathLike[str]) -> str | None:
    """The SHA-256 of a diffusers folder's weight manifest (see the module docstring); ``None`` when a weight
    file's digest is unknown (hashing off) or the folder holds no weights."""
    root = os.path.abspath(os.fspath(path))
    lines = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if not name.lower().endswith(WEIGHT_SUFFIXES):
                continue
            full = os.path.join(folder, name)
            digest = file_sha256(full)
            if digest is None:
                return None
            lines.append(f"{os.path.relpath(full, root).replace(os.sep, '/')} {digest}\n")
    if not lines:
        return None
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def model_sha256(path: str | os.PathLike[str]) -> str | None:
    """The full digest behind a model's short hash: a file's SHA-256, or a folder's manifest hash."""
    return folder_sha256(path) if os.path.isdir(path) else file_sha256(path)


def model_hash(path: str | os.PathLike[str]) -> str | None:
    """A1111's ``Model hash`` (and ``VAE hash``): 10 hex digits of the SHA-256 (a folder: of its manifest)."""
    digest = model_sha256(path)
    return digest[:10] if digest else None


def lora_sha256(path: str | os.PathLike[str]) -> str | None:
    """The digest A1111 keys a LoRA by: the addnet hash of a ``.safetensors`` file, else the file's SHA-256."""
    text = os.fspath(path)
    if os.path.isdir(text):
        return folder_sha256(text)
    return addnet_sha256(text) if text.lower().endswith(".safetensors") else file_sha256(text)


def lora_hash(path: str | os.PathLike[str]) -> str | None:
    """A LoRA's entry in ``Lora hashes``: 12 hex digits of ``lora_sha256``."""
    digest = lora_sha256(path)
    return digest[:12] if digest else None


def embedding_hash(path: str | os.PathLike[str]) -> str | None:
    """An embedding's entry in ``TI hashes``: 12 hex digits of the file's SHA-256."""
    digest = file_sha256(path)
    return digest[:12] if digest else None


def legacy_model_hash(path: str | os.PathLike[str]) -> str:
    """A1111's old ``Model hash`` (before v1.0): 8 hex digits of the SHA-256 of 64 KiB at offset 1 MiB."""
    with open(path, "rb") as fh:
        fh.seek(0x100000)
        return hashlib.sha256(fh.read(0x10000)).hexdigest()[:8]
