"""A/B comparison: the same prompts and seeds on several providers, side by side.

``run_comparison`` (behind ``Client.compare``) fills a ``Comparison``: one cell per prompt x seed x
provider, holding the result or the error. A failing provider never sinks the others; it shows up
in the grid, the table and the report as what it was. ``Comparison.to_html`` writes one
self-contained file (images inline) with per-provider latency, cost, warnings and scores, and a
human A/B mode whose votes export as JSON.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import os
import re
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ImageGenError, InvalidRequest
from .files import atomic_write
from .params import GenerateParams, build_params
from .prompt import prompt_request
from .provider import Provider
from .result import GeneratedImage, GenerationResult, GenerationWarning, format_usd
from .scoring import Scorer, score, scorer_name

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from .client import Client

__all__ = ["Cell", "Comparison", "Scorer", "run_comparison"]


@dataclass
class Cell:
    """One provider's answer for one prompt and seed: a result, or the error it raised."""

    prompt: str
    prompt_index: int
    provider: str
    seed: int | None
    result: GenerationResult | None = None
    error: ImageGenError | None = None
    latency_s: float = 0.0
    scores: list[float | None] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.result is not None

    @property
    def images(self) -> list[GeneratedImage]:
        return self.result.images if self.result else []

    @property
    def cost_usd(self) -> float | None:
        return self.result.cost.usd if self.result else None

    @property
    def warnings(self) -> list[GenerationWarning]:
        return list(self.result.warnings) if self.result else []

    @property
    def error_text(self) -> str | None:
        return None if self.error is None else f"{type(self.error).__name__}: {self.error.message or self.error}"


@dataclass
class Comparison:
    """Every cell of a comparison, plus views of it: ``grid()``, ``table()``, ``to_html()``."""

    prompts: list[str]
    providers: list[str]
    seeds: list[int | None]
    cells: list[Cell]
    scorer: str | None = None

    def cell(self, provider: str, *, seed: int | None = None, prompt: int = 0) -> Cell:
        """The cell for ``provider`` (its spec label), ``seed`` (default: the first) and prompt index."""
        want = self.seeds[0] if seed is None else seed
        for c in self.cells:
            if c.provider == provider and c.seed == want and c.prompt_index == prompt:
                return c
        raise KeyError(f"no cell for provider={provider!r}, seed={want!r}, prompt={prompt}; "
                       f"providers: {', '.join(self.providers)}; seeds: {self.seeds}")

    def table(self) -> list[dict[str, Any]]:
        """One row per provider: images made, failures, mean latency, total cost, mean score, warnings."""
        rows = []
        for spec in self.providers:
            cells = [c for c in self.cells if c.provider == spec]
            done = [c for c in cells if c.ok]
            costs = [c.cost_usd for c in done]
            scores = [s for c in done for s in c.scores if s is not None]
            warnings: list[GenerationWarning] = []
            for c in done:
                warnings += [w for w in c.warnings if w not in warnings]
            rows.append({
                "provider": spec,
                "images": sum(len(c.images) for c in done),
                "failed": len(cells) - len(done),
                "latency_s": statistics.fmean(c.latency_s for c in done) if done else None,
                "cost_usd": sum(x for x in costs if x is not None) if done and None not in costs else None,
                "score": statistics.fmean(scores) if scores else None,
                "warnings": warnings,
                "errors": [c.error_text for c in cells if c.error is not None],
            })
        return rows

    def grid(self, *, cell_size: int = 256) -> PILImage.Image:
        """A labelled contact sheet: one column per provider, one row per prompt and seed."""
        from PIL import Image, ImageDraw, ImageOps

        rows = [(p, s) for p in range(len(self.prompts)) for s in self.seeds]
        per_cell = max((len(c.images) for c in self.cells), default=1) or 1
        label_w, head_h, pad = 200, 36, 4
        col_w = per_cell * (cell_size + pad)
        sheet = Image.new("RGB", (label_w + len(self.providers) * col_w, head_h + len(rows) * (cell_size + pad)),
                          "white")
        draw = ImageDraw.Draw(sheet)
        font = _font(14)
        for j, spec in enumerate(self.providers):
            draw.text((label_w + j * col_w + 4, 10), _clip(spec, col_w // 8), fill="black", font=font)
        for i, (p, seed) in enumerate(rows):
            y = head_h + i * (cell_size + pad)
            label = f"#{p + 1} seed {seed}\n" + "\n".join(_wrap(self.prompts[p], 26)[:6])
            draw.multiline_text((6, y + 6), label, fill="black", font=font, spacing=3)
            for j, spec in enumerate(self.providers):
                x = label_w + j * col_w
                c = self.cell(spec, seed=seed, prompt=p)
                if not c.ok:
                    draw.rectangle((x, y, x + cell_size - 1, y + cell_size - 1), fill=(235, 235, 235))
                    text = "\n".join(_wrap(c.error_text or "failed", 28)[:8])
                    draw.multiline_text((x + 8, y + 8), text, fill=(160, 0, 0), font=font, spacing=3)
                    continue
                for k, image in enumerate(c.images):
                    thumb = ImageOps.contain(image.to_pil().convert("RGB"), (cell_size, cell_size))
                    sheet.paste(thumb, (x + k * (cell_size + pad), y))
        return sheet

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no image bytes)."""
        return {
            "prompts": self.prompts, "providers": self.providers, "seeds": self.seeds, "scorer": self.scorer,
            "table": self.table(),
            "cells": [{"prompt_index": c.prompt_index, "provider": c.provider, "seed": c.seed, "ok": c.ok,
                       "latency_s": c.latency_s, "cost_usd": c.cost_usd, "scores": c.scores,
                       "seeds": [im.seed for im in c.images], "warnings": c.warnings, "error": c.error_text}
                      for c in self.cells],
        }

    def to_html(self, path: str | os.PathLike[str] | None = None, *, title: str = "imagegen comparison") -> str:
        """The self-contained HTML report (also written to ``path`` when given)."""
        text = render_report(self, title=title)
        if path is not None:
            atomic_write(path, text.encode("utf-8"))
        return text

    def save(self, directory: str | os.PathLike[str], *, cell_size: int = 256) -> dict[str, Any]:
        """Write ``grid.png``, ``report.html``, ``comparison.json`` and every image under ``images/``
        (PNG with metadata). Returns their paths: ``{"grid", "report", "json", "images": [...]}``."""
        out = os.fspath(directory)
        os.makedirs(out, exist_ok=True)
        images = [image.save(os.path.join(out, "images", _image_name(c, k)))
                  for c in self.cells for k, image in enumerate(c.images)]
        paths: dict[str, Any] = {"grid": os.path.join(out, "grid.png"), "report": os.path.join(out, "report.html"),
                                 "json": os.path.join(out, "comparison.json"), "images": images}
        self.grid(cell_size=cell_size).save(paths["grid"])
        self.to_html(paths["report"])
        atomic_write(paths["json"], json.dumps(self.to_dict(), indent=2, default=str).encode("utf-8"))
        return paths

    def __repr__(self) -> str:
        failed = sum(not c.ok for c in self.cells)
        return (f"Comparison({len(self.prompts)} prompts x {len(self.seeds)} seeds x {len(self.providers)} "
                f"providers, {failed} failed cells)")


async def run_comparison(client: Client, prompt: Any, *, providers: Sequence[str | Provider],
                         seeds: Sequence[int | None] = (1,), params: GenerateParams | Mapping[str, Any] | None = None,
                         scorer: Scorer | None = None, **kwargs: Any) -> Comparison:
    """Generate ``prompt`` (a string, an ``imagegen.Prompt``, or a list of them) with every seed on
    every provider. Bad parameters and unknown providers raise before anything is sent; a provider
    that fails at generation time only fails its own cells."""
    prompts = list(prompt) if isinstance(prompt, (list, tuple)) else [prompt]
    if not prompts:
        raise InvalidRequest("prompt: give at least one prompt to compare", field="prompt")
    if not providers:
        raise InvalidRequest("providers: give at least one provider to compare", field="providers")
    seed_list = list(seeds) or [None]
    if len(set(seed_list)) != len(seed_list):
        raise InvalidRequest(f"seeds: each seed must appear once; got {seed_list}", field="seeds")
    if "seed" in kwargs:
        raise InvalidRequest("seed: pass seeds=[...] to compare, not seed=", field="seed")
    planned = [prompt_request(p, params, **kwargs) for p in prompts]
    texts = [text for text, _ in planned]
    requests = [request for _, request in planned]
    resolved = [client.provider(spec) for spec in providers]
    labels = [f"{p.name}:{p.model}" for p in resolved]
    if len(set(labels)) != len(labels):
        raise InvalidRequest(f"providers: each provider must appear once; got {labels}", field="providers")

    cells = [Cell(prompt=texts[i], prompt_index=i, provider=label, seed=s)
             for i in range(len(texts)) for s in seed_list for label in labels]

    async def run_provider(provider: Provider, label: str) -> None:
        # One provider's cells run one after another: local models share one device, and remote
        # ones keep to their rate limits; providers run side by side.
        for c in (c for c in cells if c.provider == label):
            request = build_params(requests[c.prompt_index], seed=c.seed)
            t0 = time.perf_counter()
            try:
                c.result = await client.agenerate(c.prompt, request, provider=provider)
            except ImageGenError as exc:
                c.error = exc
            c.latency_s = time.perf_counter() - t0

    await asyncio.gather(*(run_provider(p, label) for p, label in zip(resolved, labels, strict=True)))
    if scorer is not None:
        for i, text in enumerate(texts):
            done = [c for c in cells if c.prompt_index == i and c.ok]
            images = [im for c in done for im in c.images]
            if not images:
                continue
            scores = await score(scorer, images, text)
            pos = 0
            for c in done:
                c.scores = [float(s) for s in scores[pos:pos + len(c.images)]]
                pos += len(c.images)
    return Comparison(prompts=texts, providers=labels, seeds=seed_list, cells=cells,
                      scorer=None if scorer is None else scorer_name(scorer))


def _image_name(c: Cell, k: int) -> str:
    return f"{_slug(c.provider)}-p{c.prompt_index + 1}-s{c.seed}-{k}.png"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "provider"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 1, 1)] + "…"


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return [line for para in text.splitlines() for line in (textwrap.wrap(para, width) or [""])]


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def data_url(image: GeneratedImage) -> str:
    """The image as a ``data:`` URL, for self-contained HTML."""
    return f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"


def escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


# -- the HTML report -----------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px;white-space:pre-wrap}
table{border-collapse:collapse;background:#fff} th,td{border:1px solid #ddd;padding:6px 8px;vertical-align:top}
th{background:#f0f0f0;text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums}
.cells img{display:block;max-width:320px;max-height:320px;height:auto;margin-bottom:4px}
.cells figure{margin:0 0 6px} figcaption{color:#555;font-size:12px}
.failed{background:#fbeaea} .error{color:#a00;max-width:320px;white-space:pre-wrap}
.warnings{color:#8a5a00;font-size:12px;margin:4px 0 0;padding-left:16px;max-width:320px}
.vote{margin-top:10px;background:#fff;border:1px solid #ccc;padding:8px} .vote label{margin-right:16px}
#votes{margin-top:32px} #votes-json{background:#fff;border:1px solid #ccc;padding:8px;min-height:40px}
.letter{font-weight:bold} body:not(.blind) .letter{display:none} body.blind .name,body.blind .meta,
body.blind #summary{display:none}
"""

_JS = """
(function () {
  var data = JSON.parse(document.getElementById('comparison-data').textContent);
  function collect() {
    return {
      title: data.title, exported_at: new Date().toISOString(), providers: data.providers, seeds: data.seeds,
      votes: data.prompts.map(function (prompt, i) {
        var el = document.querySelector('input[name="vote-' + i + '"]:checked');
        var tie = !!el && el.value === '';
        return {prompt_index: i, prompt: prompt, winner: el && !tie ? el.value : null, tie: tie, voted: !!el};
      })
    };
  }
  function exportVotes() {
    var json = JSON.stringify(collect(), null, 2);
    document.getElementById('votes-json').textContent = json;
    var link = document.getElementById('download');
    link.href = 'data:application/json;charset=utf-8,' + encodeURIComponent(json);
    link.hidden = false;
    return json;
  }
  window.imagegenVotes = {collect: collect, exportVotes: exportVotes};
  document.getElementById('export').addEventListener('click', exportVotes);
  document.querySelectorAll('.vote input').forEach(function (el) { el.addEventListener('change', exportVotes); });
  document.getElementById('blind').addEventListener('change', function (e) {
    document.body.classList.toggle('blind', e.target.checked);
  });
})();
"""


def render_report(cmp: Comparison, *, title: str) -> str:
    """The report as one HTML string: images inline as ``data:`` URLs, no external resources."""
    letters = {spec: _letter(j) for j, spec in enumerate(cmp.providers)}

    def who(spec: str) -> str:
        return f'<span class="name">{escape(spec)}</span><span class="letter">{letters[spec]}</span>'

    out = ['<!doctype html><html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
           f"<header><h1>{escape(title)}</h1><p>{len(cmp.prompts)} prompt(s) &times; {len(cmp.seeds)} seed(s) "
           f"&times; {len(cmp.providers)} provider(s)"
           + (f" &middot; scored by {escape(cmp.scorer)}" if cmp.scorer else "") + "</p>",
           '<label><input type="checkbox" id="blind"> blind A/B mode (hide provider names, latency and cost)'
           "</label></header>",
           '<section id="summary"><h2>Providers</h2><table class="summary"><tr><th>provider</th><th>images</th>'
           "<th>failed</th><th>mean latency</th><th>cost</th><th>mean score</th><th>warnings</th></tr>"]
    for row in cmp.table():
        warnings = "".join(f"<li>{escape(w)}</li>" for w in row["warnings"] + row["errors"])
        out.append(f'<tr data-provider="{escape(row["provider"])}"><td>{escape(row["provider"])}</td>'
                   f'<td class="num">{row["images"]}</td><td class="num">{row["failed"]}</td>'
                   f'<td class="num">{_seconds(row["latency_s"])}</td>'
                   f'<td class="num">{format_usd(row["cost_usd"])}</td>'
                   f'<td class="num">{_score_text(row["score"])}</td>'
                   f'<td><ul class="warnings">{warnings}</ul></td></tr>')
    out.append("</table></section>")
    for i, prompt in enumerate(cmp.prompts):
        out.append(f'<section class="prompt" data-prompt-index="{i}"><h2>#{i + 1} {escape(prompt)}</h2>')
        out.append('<table class="cells"><tr><th>seed</th>'
                   + "".join(f'<th data-provider="{escape(s)}">{who(s)}</th>' for s in cmp.providers) + "</tr>")
        for seed in cmp.seeds:
            out.append(f"<tr><th>{escape(seed)}</th>")
            for spec in cmp.providers:
                out.append(_cell_html(cmp.cell(spec, seed=seed, prompt=i)))
            out.append("</tr>")
        out.append("</table>")
        options = "".join(f'<label><input type="radio" name="vote-{i}" value="{escape(s)}"> {who(s)}</label>'
                          for s in cmp.providers)
        out.append(f'<fieldset class="vote"><legend>Which is better for prompt #{i + 1}?</legend>{options}'
                   f'<label><input type="radio" name="vote-{i}" value=""> tie</label></fieldset></section>')
    payload = json.dumps({"title": title, "prompts": cmp.prompts, "providers": cmp.providers, "seeds": cmp.seeds},
                         ensure_ascii=False).replace("</", "<\\/")
    out.append('<section id="votes"><h2>Votes</h2><button id="export" type="button">Export votes as JSON</button> '
               '<a id="download" download="votes.json" hidden>download votes.json</a>'
               '<pre id="votes-json"></pre></section>')
    out.append(f'<script id="comparison-data" type="application/json">{payload}</script>')
    out.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(out)


def _cell_html(c: Cell) -> str:
    if not c.ok:
        return f'<td class="cell failed"><div class="error">{escape(c.error_text)}</div></td>'
    parts = ['<td class="cell ok">']
    for k, image in enumerate(c.images):
        score = c.scores[k] if k < len(c.scores) else None
        meta = f"{_seconds(c.latency_s)} &middot; {format_usd(c.cost_usd)}"
        parts.append(f'<figure><img src="{data_url(image)}" alt="{escape(c.provider)} seed {escape(image.seed)}" '
                     f'width="{image.width}" height="{image.height}" data-provider="{escape(c.provider)}" '
                     f'data-seed="{escape(image.seed)}"><figcaption>seed {escape(image.seed)} &middot; '
                     f'{image.width}x{image.height}<span class="meta"> &middot; {meta}</span>'
                     + (f" &middot; score {_score_text(score)}" if score is not None else "")
                     + "</figcaption></figure>")
    if c.warnings:
        parts.append('<ul class="warnings">' + "".join(f"<li>{escape(w)}</li>" for w in c.warnings) + "</ul>")
    parts.append("</td>")
    return "".join(parts)


def _letter(j: int) -> str:
    return chr(ord("A") + j) if j < 26 else f"P{j + 1}"


def _seconds(value: float | None) -> str:
    return "&ndash;" if value is None else f"{value:.2f} s"


def _score_text(value: float | None) -> str:
    return "&ndash;" if value is None else f"{value:.2f}"
