"""Model hashes as AUTOMATIC1111 computes them, computed once per file.

The algorithms are A1111's: ``modules/hashes.py`` (``calculate_sha256``, ``addnet_hash_safetensors``),
``modules/sd_models.py`` (``model_hash``, the legacy hash; ``CheckpointInfo.shorthash`` = ``sha256[0:10]``) and
``extensions-builtin/Lora/network.py`` (``NetworkOnDisk.set_hash``: ``shorthash = hash[0:12]``, the addnet hash
for ``.safetensors``). Each expected value below is computed here with hashlib, independently of the module.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct

import pytest

from imagegen import hashing


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    """Each test gets its own cache file and an empty in-memory cache."""
    monkeypatch.setenv(hashing.CACHE_ENV, str(tmp_path / "hashes.json"))
    monkeypatch.delenv(hashing.NO_HASHING_ENV, raising=False)
    monkeypatch.setattr(hashing, "_memory", {})
    monkeypatch.setattr(hashing, "_disk", None)


@pytest.fixture
def counted(monkeypatch):
    """How many times a file was actually read and hashed."""
    calls: list[str] = []
    whole, addnet = hashing._whole, hashing._addnet
    monkeypatch.setattr(hashing, "_whole", lambda path: calls.append(path) or whole(path))
    monkeypatch.setattr(hashing, "_addnet", lambda path: calls.append(path) or addnet(path))
    return calls


def safetensors_file(path, payload: bytes = b"\x01\x02" * 500, metadata: dict | None = None) -> bytes:
    """A safetensors file as the format defines it: an 8-byte little-endian header length, the JSON header
    (tensor names, dtypes, shapes, offsets, ``__metadata__``), then the tensor bytes."""
    header = json.dumps({"w": {"dtype": "U8", "shape": [len(payload)], "data_offsets": [0, len(payload)]},
                         "__metadata__": metadata or {"ss_output_name": "detail"}}).encode()
    data = struct.pack("<Q", len(header)) + header + payload
    path.write_bytes(data)
    return data


def test_model_hash_is_the_first_10_hex_digits_of_the_files_sha256(tmp_path):
    path = tmp_path / "model.safetensors"
    data = safetensors_file(path)
    assert hashing.model_hash(path) == hashlib.sha256(data).hexdigest()[:10]


def test_a_safetensors_lora_hash_skips_the_header_like_kohyas_addnet_hash(tmp_path):
    path = tmp_path / "detail.safetensors"
    payload = bytes(range(256)) * 8
    safetensors_file(path, payload)
    assert hashing.lora_hash(path) == hashlib.sha256(payload).hexdigest()[:12]


def test_two_loras_that_differ_only_in_their_metadata_have_the_same_hash(tmp_path):
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    safetensors_file(a, metadata={"ss_output_name": "one"})
    safetensors_file(b, metadata={"ss_output_name": "another name"})
    assert hashing.lora_hash(a) == hashing.lora_hash(b) and hashing.model_hash(a) != hashing.model_hash(b)


def test_other_lora_formats_and_embeddings_hash_the_whole_file(tmp_path):
    path = tmp_path / "easynegative.pt"
    path.write_bytes(b"embedding bytes" * 100)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert hashing.lora_hash(path) == digest[:12] and hashing.embedding_hash(path) == digest[:12]


def test_legacy_hash_is_64_kib_at_offset_1_mib(tmp_path):
    path = tmp_path / "old.ckpt"
    data = os.urandom(0x100000 + 0x20000)
    path.write_bytes(data)
    assert hashing.legacy_model_hash(path) == hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8]


def test_a_second_call_reads_no_file(tmp_path, counted):
    path = tmp_path / "model.safetensors"
    safetensors_file(path)
    first = hashing.model_hash(path)
    assert hashing.model_hash(path) == first and len(counted) == 1


def test_a_new_process_uses_the_cache_file_instead_of_hashing(tmp_path, counted, monkeypatch):
    path = tmp_path / "model.safetensors"
    safetensors_file(path)
    first = hashing.model_hash(path)
    monkeypatch.setattr(hashing, "_memory", {})  # what a fresh interpreter starts with
    monkeypatch.setattr(hashing, "_disk", None)
    assert hashing.model_hash(path) == first and len(counted) == 1
    assert os.path.isfile(tmp_path / "hashes.json")


def test_a_changed_file_is_hashed_again(tmp_path, counted):
    path = tmp_path / "model.safetensors"
    safetensors_file(path, b"\x00" * 64)
    first = hashing.model_hash(path)
    safetensors_file(path, b"\x01" * 80)
    assert hashing.model_hash(path) != first and len(counted) == 2


def test_no_hashing_computes_nothing_but_keeps_using_cached_digests(tmp_path, counted, monkeypatch):
    cached, new = tmp_path / "cached.safetensors", tmp_path / "new.safetensors"
    safetensors_file(cached)
    safetensors_file(new, b"\x07" * 10)
    known = hashing.model_hash(cached)
    monkeypatch.setenv(hashing.NO_HASHING_ENV, "1")
    assert hashing.model_hash(cached) == known and hashing.model_hash(new) is None and len(counted) == 1


def test_a_folder_hash_follows_its_weights_and_ignores_its_configs(tmp_path):
    folder = tmp_path / "model"
    (folder / "unet").mkdir(parents=True)
    (folder / "unet" / "config.json").write_text("{}")
    safetensors_file(folder / "unet" / "diffusion_pytorch_model.safetensors", b"\x01" * 32)
    first = hashing.model_hash(folder)
    (folder / "unet" / "config.json").write_text('{"sample_size": 64}')
    assert hashing.model_hash(folder) == first
    safetensors_file(folder / "unet" / "diffusion_pytorch_model.safetensors", b"\x02" * 32)
    assert hashing.model_hash(folder) != first and len(first) == 10


def test_a_folder_hash_is_the_sha256_of_its_sorted_weight_manifest(tmp_path):
    folder = tmp_path / "model"
    (folder / "vae").mkdir(parents=True)
    (folder / "unet").mkdir()
    unet = safetensors_file(folder / "unet" / "diffusion_pytorch_model.safetensors", b"\x01" * 8)
    vae = safetensors_file(folder / "vae" / "diffusion_pytorch_model.safetensors", b"\x02" * 8)
    manifest = (f"unet/diffusion_pytorch_model.safetensors {hashlib.sha256(unet).hexdigest()}\n"
                f"vae/diffusion_pytorch_model.safetensors {hashlib.sha256(vae).hexdigest()}\n")
    assert hashing.model_sha256(folder) == hashlib.sha256(manifest.encode()).hexdigest()
