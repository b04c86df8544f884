"""Prompts the way AUTOMATIC1111 reads them: weights, ``BREAK``, no 77-token limit, clip skip, embeddings.

``parse_a1111`` reads A1111's emphasis syntax into (text, weight) runs, with the same results as A1111's
``modules/prompt_parser.py`` (``parse_prompt_attention``): ``(word)`` x1.1, ``((word))`` x1.21, ``(word:1.3)``,
``[word]`` /1.1, ``\\(`` for a literal bracket, an unclosed bracket weighting to the end, and ``BREAK``.

``PromptEncoder`` turns the runs into the embeddings a pipeline takes (``prompt_embeds``,
``negative_prompt_embeds`` and, for SDXL, the pooled ones) with compel's ``EmbeddingsProvider``, which weights
tokens and encodes a prompt of any length as 77-token chunks, concatenated, as A1111 does. Where the result
differs from A1111's (compel's choices, documented in the provider's README):

- weights above 1 scale each token's distance from the empty prompt's embedding; A1111 multiplies the embedding
  and then restores the chunk's mean. Weights below 1 blend towards the prompt with those words masked out;
  A1111 multiplies by the weight.
- a chunk ends at the last ``,`` ``.`` ``;`` or ``:`` before its 75 tokens are full (else at a word's end);
  A1111 moves the words after the last comma to the next chunk only when that comma is within 20 tokens of the end.

Each ``BREAK`` ends the chunk there (the rest is padded) and starts a new one, as in A1111. The pooled SDXL
embedding comes from the first chunk, as A1111's does. Clip skip ``N`` (A1111's meaning: 1 = the last layer)
takes the text encoder's ``N``-th layer from the end (normalized, for SD 1.x/2.x); for SDXL it counts from the
penultimate layer the model was trained on, as diffusers' ``clip_skip`` does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._lazy import torch

__all__ = ["BREAK", "Fragment", "PromptEncoder", "Segment", "parse_a1111", "segments"]

#: The weight ``parse_a1111`` gives a ``BREAK`` marker (the text is ``"BREAK"``).
BREAK = -1.0
#: Brackets multiply by this: ``(word)`` x1.1, ``[word]`` /1.1.
_EMPHASIS = 1.1

# One lexeme of A1111's emphasis grammar, in the order its parser tries them.
_LEXEME = re.compile(r"""
    (?P<escaped>\\[()\[\]\\]) | (?P<backslash>\\)
  | (?P<open_round>\() | (?P<open_square>\[)
  | :(?P<weight>[+-]?[.\d]+)\) | (?P<close_round>\)) | (?P<close_square>])
  | (?P<text>[^\\()\[\]:]+) | (?P<colon>:)
""", re.VERBOSE)
_BREAK_WORD = re.compile(r"\s*\bBREAK\b\s*", re.S)

Fragment = tuple[str, float]
Segment = list[Fragment]


def parse_a1111(text: str) -> list[Fragment]:
    """``text`` as (text, weight) runs; a ``BREAK`` is the run ``("BREAK", BREAK)``. Runs of equal weight merge."""
    runs: list[list[Any]] = []
    opened: dict[str, list[int]] = {"(": [], "[": []}

    def scale(start: int, factor: float) -> None:
        for run in runs[start:]:
            run[1] *= factor

    for match in _LEXEME.finditer(text):
        kind, value = match.lastgroup, match.group(0)
        if kind == "escaped" or kind == "backslash":
            runs.append([value[1:] if kind == "escaped" else "", 1.0])
        elif kind == "open_round":
            opened["("].append(len(runs))
        elif kind == "open_square":
            opened["["].append(len(runs))
        elif kind == "weight" and opened["("] and _is_number(match.group("weight")):
            scale(opened["("].pop(), float(match.group("weight")))
        elif kind == "close_round" and opened["("]:
            scale(opened["("].pop(), _EMPHASIS)
        elif kind == "close_square" and opened["["]:
            scale(opened["["].pop(), 1 / _EMPHASIS)
        else:  # plain text, a stray ':' or closing bracket, or a weight with no '(' open: all literal text
            for i, part in enumerate(_BREAK_WORD.split(value)):
                if i:
                    runs.append(["BREAK", BREAK])
                runs.append([part, 1.0])
    for start in opened["("]:
        scale(start, _EMPHASIS)
    for start in opened["["]:
        scale(start, 1 / _EMPHASIS)
    if not runs:
        runs = [["", 1.0]]
    merged: list[list[Any]] = [runs[0]]
    for run in runs[1:]:
        if run[1] == merged[-1][1]:
            merged[-1][0] += run[0]
        else:
            merged.append(run)
    return [(str(t), float(w)) for t, w in merged]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def segments(fragments: Sequence[Fragment]) -> list[Segment]:
    """The runs between ``BREAK``s: each starts a new chunk. A leading ``BREAK`` leaves an empty chunk before it
    and a trailing one adds none, as in A1111."""
    out: list[Segment] = []
    current: Segment = []
    for text, weight in fragments:
        if weight == BREAK and text == "BREAK":
            out.append(current)
            current = []
        elif text:
            current.append((text, weight))
    if current or not out:
        out.append(current)
    return out


@dataclass(frozen=True)
class Encoded:
    """One prompt's embeddings: (1, 77 x chunks, width), and the pooled one (1, width) for SDXL."""

    embeds: Any
    pooled: Any | None


class PromptEncoder:
    """Prompt embeddings for one pipeline's text encoders (SD: one; SDXL: two; the SDXL refiner: the second)."""

    def __init__(self, pipe: Any, *, xl: bool) -> None:
        self.xl = xl
        pairs = [(getattr(pipe, "tokenizer", None), getattr(pipe, "text_encoder", None)),
                 (getattr(pipe, "tokenizer_2", None), getattr(pipe, "text_encoder_2", None))]
        self.pairs = [(tok, enc) for tok, enc in pairs if tok is not None and enc is not None]
        self.pipe = pipe
        self._embedders: dict[tuple[int, int, bool], Any] = {}

    def encode(self, prompt: str, negative: str | None, *, clip_skip: int, guided: bool,
               parse: bool = True) -> dict[str, Any]:
        """Keyword arguments for the pipeline: ``prompt_embeds`` (and the negative and pooled ones when needed),
        each with a batch of one. ``parse=False`` takes the prompts literally (no weights, no ``BREAK``) but still
        without the 77-token limit."""
        wanted = self._encode(prompt, clip_skip, parse)
        out: dict[str, Any] = {"prompt_embeds": wanted.embeds}
        if wanted.pooled is not None:
            out["pooled_prompt_embeds"] = wanted.pooled
        if not guided:
            return out
        if negative is None and self.xl and getattr(self.pipe.config, "force_zeros_for_empty_prompt", False):
            out["negative_prompt_embeds"] = torch().zeros_like(wanted.embeds)
            out["negative_pooled_prompt_embeds"] = torch().zeros_like(wanted.pooled)
            return out
        unwanted = self._encode(negative or "", clip_skip, parse)
        embeds, negative_embeds = self._same_length(wanted.embeds, unwanted.embeds, clip_skip)
        out.update(prompt_embeds=embeds, negative_prompt_embeds=negative_embeds)
        if unwanted.pooled is not None:
            out["negative_pooled_prompt_embeds"] = unwanted.pooled
        return out

    def _encode(self, text: str, clip_skip: int, parse: bool) -> Encoded:
        chunks = segments(parse_a1111(text)) if parse else [[(text, 1.0)] if text else []]
        parts: list[Any] = []
        pooled = None
        for index, (_, encoder) in enumerate(self.pairs):
            embedder = self._embedder(index, clip_skip)
            pieces = []
            for chunk in chunks:
                texts, weights = [t for t, _ in chunk] or [""], [w for _, w in chunk] or [1.0]
                pieces.append(embedder.get_embeddings_for_weighted_prompt_fragments(
                    [texts], [weights], device=self._device(encoder)))
            parts.append(torch().cat(pieces, dim=1))
            if self.xl and index == len(self.pairs) - 1:
                first = chunks[0]
                pooled = embedder.first_chunk_pooled([t for t, _ in first], [w for _, w in first],
                                                     self._device(encoder))
        return Encoded(torch().cat(parts, dim=-1), pooled)

    def _same_length(self, a: Any, b: Any, clip_skip: int) -> tuple[Any, Any]:
        """Pad the shorter of two embeddings with empty chunks, as A1111 pads cond and uncond."""
        if a.shape[1] == b.shape[1]:
            return a, b
        empty = torch().cat([self._embedder(i, clip_skip).empty_z for i in range(len(self.pairs))], dim=-1)
        empty = empty.to(device=a.device, dtype=a.dtype)
        longest = max(a.shape[1], b.shape[1])

        def pad(x: Any) -> Any:
            missing = (longest - x.shape[1]) // empty.shape[1]
            return torch().cat([x, *([empty] * missing)], dim=1) if missing else x

        return pad(a), pad(b)

    @staticmethod
    def _device(encoder: Any) -> Any:
        return encoder.device

    def _embedder(self, index: int, clip_skip: int) -> Any:
        key = (index, clip_skip, self._has_embeddings(index))
        found = self._embedders.get(key)
        if found is None:
            tokenizer, encoder = self.pairs[index]
            manager = _TextualInversions(self.pipe, tokenizer) if key[2] else None
            found = self._embedders[key] = _embedder_class()(
                tokenizer, encoder, manager, xl=self.xl, clip_skip=clip_skip)
        return found

    def _has_embeddings(self, index: int) -> bool:
        tokenizer = self.pairs[index][0]
        return any(not t.special for t in getattr(tokenizer, "added_tokens_decoder", {}).values())

    def forget(self) -> None:
        """Drop the cached embedders (their empty-prompt embedding), after the text encoders changed."""
        self._embedders.clear()


def _embedder_class() -> Any:
    """compel's ``EmbeddingsProvider`` with the layer choice clip skip needs (compel offers the last and the
    penultimate layer only, and reaches the final layer norm through ``text_model``, which transformers' plain
    ``CLIPTextModel`` no longer has)."""
    global _Embedder
    if _Embedder is not None:
        return _Embedder
    from compel.embeddings_provider import EmbeddingsProvider, SplitLongTextMode

    class Embedder(EmbeddingsProvider):  # type: ignore[misc]
        def __init__(self, tokenizer: Any, encoder: Any, manager: Any, *, xl: bool, clip_skip: int) -> None:
            super().__init__(tokenizer, encoder, textual_inversion_manager=manager, truncate=False,
                             split_long_text_mode=SplitLongTextMode.PHRASES)
            self.xl = xl
            self.clip_skip = clip_skip

        def _encode_token_ids_to_embeddings(self, token_ids: Any, attention_mask: Any = None) -> Any:
            encoder = self.text_encoder
            if not self.xl and self.clip_skip == 1:
                return encoder(token_ids, attention_mask, return_dict=True).last_hidden_state
            out = encoder(token_ids, attention_mask, output_hidden_states=True, return_dict=True)
            if self.xl:  # SDXL conditions on the penultimate layer, not normalized
                return out.hidden_states[-(self.clip_skip + 1)]
            hidden = out.hidden_states[-self.clip_skip]
            model: Any = getattr(encoder, "text_model", encoder)
            return model.final_layer_norm(hidden)

        def first_chunk_pooled(self, texts: list[str], weights: list[float], device: Any) -> Any:
            """The projected pooled embedding of the prompt's first chunk (unweighted, as in A1111)."""
            ids, _, _ = self.get_token_ids_and_expand_weights(texts or [""], weights or [1.0], device=device)
            out = self.text_encoder(ids[:self.max_token_count].unsqueeze(0), return_dict=True)
            return out.text_embeds

    _Embedder = Embedder
    return _Embedder


_Embedder: Any = None


class _TextualInversions:
    """compel's hook for multi-vector embeddings: ``name`` becomes ``name name_1 ...`` (what diffusers'
    ``maybe_convert_prompt`` does), for one of the pipeline's tokenizers."""

    def __init__(self, pipe: Any, tokenizer: Any) -> None:
        self.pipe = pipe
        self.tokenizer = tokenizer

    def expand_textual_inversion_token_ids_if_necessary(self, token_ids: list[int]) -> list[int]:
        if not token_ids:
            return token_ids
        text = self.tokenizer.decode(token_ids)
        converted = self.pipe.maybe_convert_prompt(text, self.tokenizer)
        if converted == text:
            return token_ids
        return list(self.tokenizer.encode(converted, add_special_tokens=False))
