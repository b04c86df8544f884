"""The architecture configs this package ships, for single checkpoint files given without ``config=``.

``configs/<family>/`` holds the published pipeline's configs for SD 1.x (SD 1.5), SD 2.x (2.1, 768 px v-prediction,
what diffusers also assumes for a 2.x file) and SDXL (base 1.0); ``configs/clip/`` one copy of CLIP's BPE
vocabulary, which every tokenizer of these models uses (written by ``scripts/make_configs.py``, where the sources
are). The tokenizers are built from it here and handed to ``from_single_file``, so nothing is fetched.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any

__all__ = ["CONFIGS", "is_shipped", "shipped_config", "tokenizers"]

CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
FAMILIES = ("sd1", "sd2", "sdxl")


def shipped_config(family: str) -> str:
    """The folder with ``family``'s configs."""
    return os.path.join(CONFIGS, family)


def is_shipped(folder: str | None) -> bool:
    return folder is not None and os.path.dirname(os.path.abspath(folder)) == CONFIGS


@lru_cache(maxsize=1)
def _vocabulary() -> tuple[dict[str, int], tuple[tuple[str, str], ...]]:
    with open(os.path.join(CONFIGS, "clip", "vocab.json"), encoding="utf-8") as fh:
        vocab = json.load(fh)
    with open(os.path.join(CONFIGS, "clip", "merges.txt"), encoding="utf-8") as fh:
        lines = fh.read().split("\n")[1:]
    merges = tuple((a, b) for a, _, b in (line.partition(" ") for line in lines if line))
    return vocab, merges


def tokenizers(family: str) -> dict[str, Any]:
    """New tokenizers (``tokenizer``, and ``tokenizer_2`` for SDXL) for ``family``: new objects each time, since
    textual-inversion embeddings add words to a model's own."""
    from transformers import CLIPTokenizer

    vocab, merges = _vocabulary()
    out: dict[str, Any] = {}
    for name in ("tokenizer", "tokenizer_2"):
        path = os.path.join(shipped_config(family), name, "tokenizer_config.json")
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
        pairs: list[Any] = list(merges)  # transformers types merges as strings; its BPE takes (a, b) pairs
        out[name] = CLIPTokenizer(vocab=dict(vocab), merges=pairs, unk_token=config["unk_token"],
                                  bos_token=config["bos_token"], eos_token=config["eos_token"],
                                  pad_token=config["pad_token"], model_max_length=config["model_max_length"])
    return out
