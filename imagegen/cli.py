"""The ``imagegen`` command line (typer + rich), imported only when the command runs.

Exit codes scripts can rely on (docs/cli.md has the table, a test runs each case): 0 ok, 2 bad input,
3 provider failure, 4 budget, 130 interrupted. Every error is one line on stderr naming the option at
fault; no traceback reaches the user.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from . import errors
from ._output import write_rows
from ._progress import Display
from .client import Client
from .params import OPERATIONS
from .provider import Capabilities, Provider
from .registry import providers as installed_providers
from .registry import resolve_provider
from .result import GenerationResult, GenerationWarning, format_usd
from .retry import RetryPolicy
from .scrub import scrub
from .settings import ImageSettings, ModelRef

if TYPE_CHECKING:
    from .compare import Comparison
    from .replay import Replay

__all__ = ["app", "main", "provider_matrix"]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="One call, many image models.")
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

EXIT_DIFFERENT = 1  # `imagegen models --live`: the vendors' lists differ from imagegen's data
EXIT_OK, EXIT_BAD_INPUT, EXIT_PROVIDER, EXIT_BUDGET, EXIT_INTERRUPTED = 0, 2, 3, 4, 130
EXIT_INTERNAL = 70  # sysexits.h's EX_SOFTWARE: an internal error
PROGRESS_MODES = ("auto", "on", "off")

#: GenerateParams field -> the option that sets it, so errors name what the user typed.
OPTION_OF = {"size": "--size", "n": "-n/--num-images", "seed": "--seed", "steps": "--steps", "guidance": "--guidance",
             "negative_prompt": "--negative", "scheduler": "--scheduler", "image": "--image", "mask": "--mask",
             "strength": "--strength", "control": "--control", "control_image": "--control-image",
             "control_model": "--control-model", "control_scale": "--control-scale", "loras": "--lora",
             "quality": "--quality", "style": "--style", "size_policy": "--size-policy",
             "provider_options": "--option", "provider": "--provider", "budget_usd": "--budget",
             "select": "--select", "model": "--clip", "seeds": "--seeds", "prompt": "PROMPT", "ledger": "--ledger",
             "unsupported": "--unsupported", "prompt_syntax": "--prompt-syntax", "clip_skip": "--clip-skip",
             "embeddings": "--embedding", "hires": "--hires", "refiner": "--refiner",
             "refiner_switch": "--refiner-switch", "vae": "--vae", "tiling": "--tiling", "scale": "--scale",
             "upscaler": "--upscaler"}


class CliError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


def fail(option: str, message: str) -> NoReturn:
    raise CliError(f"{option}: {message}")


# -- option parsing -------------------------------------------------------------------------------

def parse_seeds(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(re.fullmatch(r"\d+", p) for p in parts):
        fail("--seeds", f"expected comma-separated whole numbers like 1,2,3; got {text!r}")
    return [int(p) for p in parts]


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            fail("--option", f"expected KEY=VALUE (VALUE may be JSON); got {item!r}")
        try:
            options[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            options[key.strip()] = raw
    return options


def default_ledger() -> str:
    if env := os.environ.get("IMAGEGEN_LEDGER"):
        return env
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "imagegen", "ledger.sqlite")


def ledger_path(ledger: Path | None, no_ledger: bool) -> str | None:
    if no_ledger:
        return None
    path = str(ledger) if ledger is not None else default_ledger()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return path


def writable_folder(path: Path, option: str = "-o") -> Path:
    """``path`` as an output folder that can take files: checked before anything is generated (and paid for), so
    an image is never made only to be lost when saving fails. A missing folder is made when the first image is
    saved; here its nearest existing parent must be a folder that takes files."""
    if path.exists() and not path.is_dir():
        fail(option, f"{path} is a file, not a folder; give a folder for the images")
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        fail(option, f"cannot write images into {path}: {probe} is a file")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        fail(option, f"cannot write images into {path}: {exc.strerror or exc}")
    return path


def model_path(spec: str) -> str | None:
    """The model of ``spec`` when it is a file or folder on this machine (not a hub id or a cloud model name)."""
    model = spec.partition(":")[2]
    if not model:
        return None
    if (os.path.isabs(model) or model.startswith(("./", "../", "~", ".\\", "..\\"))
            or model.endswith((".safetensors", ".ckpt", ".pt", ".pth", ".bin"))
            or ((os.sep in model or "/" in model) and os.path.exists(model))):
        return model
    return None


def trusted_replay_spec(spec: str, image: Path, model_dirs: Sequence[Path], trust: bool) -> str:
    """``spec`` read from ``image``'s metadata, when it may be loaded: anything but a local path, a path inside a
    ``--model-dir`` the user gave, or any path with ``--trust-model``. Loading a model file runs what it holds,
    so a path an image names is shown and needs the user's say-so."""
    path = model_path(spec)
    if path is None or trust:
        return spec
    real = os.path.realpath(os.path.expanduser(path))
    if any(os.path.commonpath([real, os.path.realpath(d)]) == os.path.realpath(d) for d in model_dirs):
        return spec
    fail("--replay", f"{image} names the model {spec}, a path on this machine that you did not give; "
                     "pass --trust-model to load it, or -p to choose the model")


def make_client(specs: Sequence[str | Provider], budget: float | None, ledger: str | None,
                display: Display | None = None) -> Client:
    """The command's client; with a display, retry waits show on it ("retrying in 3s")."""
    retry = RetryPolicy(sleep=display.sleep) if display is not None else None
    return Client(providers=list(specs), budget_usd=budget, ledger=ledger, retry=retry)


def progress_display(mode: str, *, machine_output: bool = False) -> Display:
    """``--progress``: ``auto`` shows it on a terminal (not under ``--json``), ``on`` always (plain lines
    when stderr is not a terminal), ``off`` never."""
    if mode not in PROGRESS_MODES:
        fail("--progress", f"expected one of {', '.join(PROGRESS_MODES)}; got {mode!r}")
    enabled = mode == "on" or (mode == "auto" and err.is_terminal and not machine_output)
    return Display(err, enabled)


def watch_all(display: Display, specs: Sequence[str]) -> list[Provider]:
    """Each spec's provider, built under an ``importing`` phase (its package is imported here)."""
    found = installed_providers()
    watched: list[Provider] = []
    for spec in specs:
        name = spec.partition(":")[0]
        display.phase(f"importing {found.get(name, name).partition(':')[0]}")
        watched.append(display.watch(resolve_provider(spec)))
    return watched


def image_stem(prompt: str, seed: int | None) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40].strip("-") or "image"
    return f"{slug}-{seed}" if seed is not None else slug


def free_path(directory: Path, stem: str) -> Path:
    path = directory / f"{stem}.png"
    k = 1
    while path.exists():
        path = directory / f"{stem}-{k}.png"
        k += 1
    return path


def emit_json(payload: Any) -> None:
    """Machine output: plain JSON on stdout, no colour, no wrapping."""
    sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")


# -- generate ---------------------------------------------------------------------------------------

Opt = typer.Option


@app.command()
def generate(
    prompt: Annotated[str | None, typer.Argument(help="what to draw (optional with --replay)")] = None,
    provider: Annotated[list[str] | None, Opt("--provider", "-p", help="name:model; repeat for fallback")] = None,
    size: Annotated[str | None, Opt(help='"1024x768" or an aspect ratio like "16:9"')] = None,
    n: Annotated[int | None, Opt("-n", "--num-images", help="number of images")] = None,
    seed: Annotated[int | None, Opt(help="seed of the first image; image i gets seed+i")] = None,
    steps: Annotated[int | None, Opt(help="denoising steps (local models)")] = None,
    guidance: Annotated[float | None, Opt(help="classifier-free guidance scale")] = None,
    negative: Annotated[str | None, Opt(help="negative prompt")] = None,
    scheduler: Annotated[str | None, Opt(help='sampler, e.g. "dpm++ 2m karras"')] = None,
    image: Annotated[Path | None, Opt(help="input image (img2img, inpaint)")] = None,
    mask: Annotated[Path | None, Opt(help="inpainting mask (white = repaint)")] = None,
    strength: Annotated[float | None, Opt(help="how much img2img may change the image, 0..1")] = None,
    control: Annotated[str | None, Opt(help="ControlNet preprocessor, e.g. canny")] = None,
    control_image: Annotated[Path | None, Opt("--control-image", help="ControlNet input image")] = None,
    control_model: Annotated[str | None, Opt("--control-model", help="ControlNet model id or path")] = None,
    control_scale: Annotated[float | None, Opt("--control-scale", help="ControlNet conditioning scale")] = None,
    lora: Annotated[list[str] | None, Opt("--lora", help="LoRA as PATH or PATH:SCALE; repeatable")] = None,
    quality: Annotated[str | None, Opt(help="provider quality, e.g. hd")] = None,
    style: Annotated[str | None, Opt(help="provider style, e.g. vivid")] = None,
    size_policy: Annotated[str | None, Opt("--size-policy", help="nearest | exact | strict")] = None,
    prompt_syntax: Annotated[str | None, Opt("--prompt-syntax", help="a1111 (weights, BREAK) | plain")] = None,
    clip_skip: Annotated[int | None, Opt("--clip-skip", help="A1111's clip skip: 1 = last layer")] = None,
    embedding: Annotated[list[str] | None, Opt("--embedding", help="embedding file or folder; repeatable")] = None,
    hires: Annotated[str | None, Opt(help='hires fix: a scale ("2") or a size ("1024x1536")')] = None,
    hires_upscaler: Annotated[str | None, Opt("--hires-upscaler", help="latent | lanczos | ... | model file")] = None,
    hires_strength: Annotated[float | None, Opt("--hires-strength", help="second pass denoising, 0..1")] = None,
    hires_steps: Annotated[int | None, Opt("--hires-steps", help="second pass steps")] = None,
    refiner: Annotated[str | None, Opt(help="SDXL refiner: folder, hub id or file")] = None,
    refiner_switch: Annotated[float | None, Opt("--refiner-switch", help="share of steps before the refiner")] = None,
    vae: Annotated[str | None, Opt(help="VAE to use instead of the model's: folder, hub id or file")] = None,
    tiling: Annotated[bool, Opt("--tiling", help="seamless tiling (wraps at the edges)")] = False,
    option: Annotated[list[str] | None, Opt("--option", help="provider option KEY=VALUE; repeatable")] = None,
    unsupported: Annotated[str | None, Opt(help="warn | error: what a parameter the provider ignores does")] = None,
    select: Annotated[int | None, Opt(help="keep the best K of the n images (needs --clip)")] = None,
    clip: Annotated[Path | None, Opt(help="CLIP model folder for --select scoring")] = None,
    budget: Annotated[float | None, Opt(help="refuse calls that would spend more than this many USD")] = None,
    ledger: Annotated[Path | None, Opt(help="cost ledger file (default: $IMAGEGEN_LEDGER or ~/.local/share)")] = None,
    no_ledger: Annotated[bool, Opt("--no-ledger", help="do not record costs")] = False,
    replay: Annotated[Path | None, Opt(help="regenerate from the metadata of an earlier image, from any tool")] = None,
    model_dir: Annotated[list[Path] | None, Opt("--model-dir", help="folder to find --replay's checkpoint, LoRAs, "
                                                                     "VAE and embeddings in; repeatable")] = None,
    trust_model: Annotated[bool, Opt("--trust-model", help="let --replay load a model path the image names")
                           ] = False,
    out_dir: Annotated[Path, Opt("-o", "--out", help="output folder")] = Path("."),
    as_json: Annotated[bool, Opt("--json", help="print the result as JSON on stdout")] = False,
    progress: Annotated[str, Opt(help="auto | on | off: the progress display on stderr")] = "auto",
) -> int:
    """Generate images and save them as PNGs with metadata (A1111 `parameters` + imagegen JSON)."""
    given = {"size": size, "n": n, "seed": seed, "steps": steps, "guidance": guidance, "negative_prompt": negative,
             "scheduler": scheduler, "image": image, "mask": mask, "strength": strength, "control": control,
             "control_image": control_image, "control_model": control_model, "control_scale": control_scale,
             "quality": quality, "style": style, "size_policy": size_policy, "unsupported": unsupported,
             "prompt_syntax": prompt_syntax, "clip_skip": clip_skip, "refiner": refiner,
             "refiner_switch": refiner_switch, "vae": vae, "tiling": tiling or None}
    params: dict[str, Any] = {k: (str(v) if isinstance(v, Path) else v) for k, v in given.items() if v is not None}
    if embedding:
        params["embeddings"] = list(embedding)
    if hires is not None or hires_upscaler or hires_strength is not None or hires_steps is not None:
        params["hires"] = hires_spec(hires, hires_upscaler, hires_strength, hires_steps)
    if lora:
        params["loras"] = list(lora)
    if option:
        params["provider_options"] = parse_options(option)
    specs = list(provider or [])
    original = None
    replayed: Replay | None = None
    if model_dir and replay is None:
        fail("--model-dir", "only --replay looks models up by name; give --replay IMAGE too")
    given_fields = set(params)
    if replay is not None:
        replayed = replay_request(replay, prompt, specs, params, model_dir or [])
        prompt = prompt if prompt is not None else replayed.prompt
        if not specs and replayed.spec:
            specs = [trusted_replay_spec(replayed.spec, replay, model_dir or [], trust_model)]
        params = {**replayed.params, **params}
        original = replay if replayed.exact else None
    if prompt is None or not prompt.strip():
        fail("PROMPT", "give a prompt (or --replay IMAGE)")
    scorer = None
    if select is not None:
        if clip is None:
            fail("--select", "needs --clip PATH (a CLIP model folder) to score the images")
        from .eval import ClipScorer

        scorer = ClipScorer(clip)
    if not specs:
        from .registry import default_provider_spec

        specs = [default_provider_spec()]
    writable_folder(out_dir)
    display = progress_display(progress, machine_output=as_json)
    with display:
        client = make_client(watch_all(display, specs), budget, ledger_path(ledger, no_ledger), display)
        try:
            t0 = time.perf_counter()
            result = generate_replayed(client, prompt, params, replayed, given_fields, select=select, scorer=scorer)
            elapsed = time.perf_counter() - t0
        finally:
            client.close()
        display.phase(f"saving {len(result.images)} image{'s' if len(result.images) != 1 else ''}")
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = [im.save(free_path(out_dir, image_stem(prompt, im.seed))) for im in result.images]
    same = None if original is None else [_same_pixels(original, p) for p in paths]
    if as_json:
        payload = {**result.to_dict(), "files": paths, "elapsed_s": elapsed}
        if same is not None:
            payload["replay_identical"] = same
        emit_json(payload)
    else:
        write_rows(out, ["file", "seed", "size", "provider", "cost", "time"], image_rows(result, paths),
                   caption=f"{len(paths)} image{'s' if len(paths) != 1 else ''} from {result.provider}:"
                           f"{result.model} in {elapsed:.2f}s", same_in_caption=["provider"])
        if same is not None:
            verdict = "identical to" if all(same) else "DIFFERENT from"
            say("replay", f"pixels {verdict} {replay}")
    for warning in result.warnings:
        say("warning", warning)
    return partial_exit(result)


def image_rows(result: GenerationResult, paths: Sequence[str]) -> list[list[str]]:
    """One row per saved image. Cost and time are those of the call that made it, shared by the
    images that call made together (a cold first call shows its load time; later ones do not)."""
    calls = [a for a in result.attempts if a.status == "ok" and (a.provider, a.model) == (result.provider,
                                                                                         result.model)]
    rows = []
    for position, (path, im) in enumerate(zip(paths, result.images, strict=True)):
        call = next((a for a in calls if im.seed is not None and im.seed in a.seeds), None)
        if call is None:
            call = next((a for a in calls if a.index <= position < a.index + max(a.n, 1)), None)
        share = max(call.n, 1) if call is not None else 1
        cost = None if call is None or call.cost_usd is None else call.cost_usd / share
        took = "-" if call is None else f"{call.latency_s / share:.2f}s"
        rows.append([path, str(im.seed), f"{im.width}x{im.height}", f"{result.provider}:{result.model}",
                     format_usd(cost), took])
    return rows


def partial_exit(result: GenerationResult) -> int:
    """0 when every call of the request made its images; else 4 when the budget refused some of them,
    3 when a provider failed them (the images that were made are saved either way)."""
    mine = [a for a in result.attempts if (a.provider, a.model) == (result.provider, result.model)]
    made = {a.index for a in mine if a.status == "ok"}
    lost = [a for a in mine if a.status != "ok" and a.index not in made]
    if not lost:
        return EXIT_OK
    return EXIT_BUDGET if any(a.status == "refused" for a in lost) else EXIT_PROVIDER


def hires_spec(amount: str | None, upscaler: str | None, strength: float | None, steps: int | None) -> dict[str, Any]:
    """``--hires 2`` or ``--hires 1024x1536`` and its companions, as ``GenerateParams.hires``."""
    if amount is None:
        fail("--hires", "give a scale (--hires 2) or a size (--hires 1024x1536) with the other --hires-* options")
    spec: dict[str, Any] = {}
    try:
        spec["scale"] = float(amount)
    except ValueError:
        spec["size"] = amount
    extra = {"upscaler": upscaler, "strength": strength, "steps": steps}
    return {**spec, **{k: v for k, v in extra.items() if v is not None}}


def replay_request(path: Path, prompt: str | None, specs: list[str], params: dict[str, Any],
                   model_dirs: Sequence[Path]) -> Replay:
    """How to remake the image at ``path`` (``imagegen.replay``); the options given on the command line win."""
    from .metadata import read_metadata
    from .replay import plan_replay

    if not path.is_file():
        fail("--replay", f"no such file: {path}")
    for folder in model_dirs:
        if not folder.is_dir():
            fail("--model-dir", f"no such folder: {folder}")
    try:
        meta = read_metadata(str(path))
    except Exception as exc:  # not an image Pillow can read
        fail("--replay", f"cannot read {path}: {exc}")
    if meta.source == "none":
        fail("--replay", f"{path} carries no metadata imagegen can read (imagegen, A1111/Forge, ComfyUI, InvokeAI, "
                         "Fooocus or NovelAI)")
    planned = plan_replay(meta, model_dirs=[str(d) for d in model_dirs])
    operation = planned.params.get("operation")
    if operation not in (None, "txt2img") and "image" not in params:
        fail("--replay", f"{path} was made with {operation}; pass its input with --image (and --mask)")
    if not (prompt or planned.prompt):
        fail("--replay", f"{path} records no prompt; give one")
    if not specs and planned.spec is None and planned.exact:
        fail("--replay", f"{path} does not say which provider made it; pass --provider name:model")
    return planned


def generate_replayed(client: Client, prompt: str, params: dict[str, Any], replayed: Replay | None,
                      given: set[str], **kwargs: Any) -> GenerationResult:
    """``client.generate``; for a replay of another tool's image, a setting taken from the image (not one of the
    ``given`` options) that the provider refuses before anything is sent (an ``InvalidRequest`` naming it) is
    dropped with a warning, and the request made without it."""
    warnings = list(replayed.warnings) if replayed is not None else []
    dropped: set[str] = set()
    while True:
        try:
            result = client.generate(prompt, params, **kwargs)
        except errors.InvalidRequest as exc:
            field = (exc.field or "").split(".")[0]
            if replayed is None or replayed.exact or field not in replayed.params or field in given | dropped:
                raise
            dropped.add(field)
            params = {k: v for k, v in params.items() if k != field}
            warnings.append(GenerationWarning(f"replay: {field} {replayed.params[field]!r}: {exc.message}; dropped",
                                              kind="unsupported", field=field))
            continue
        result.warnings[:0] = warnings
        return result


def _same_pixels(original: Path, new: str) -> bool:
    from PIL import Image

    with Image.open(original) as a, Image.open(new) as b:
        return a.size == b.size and a.convert("RGBA").tobytes() == b.convert("RGBA").tobytes()


# -- compare ----------------------------------------------------------------------------------------

@app.command()
def compare(
    prompt: Annotated[list[str], typer.Argument(help="one or more prompts")],
    provider: Annotated[list[str] | None, Opt("--provider", "-p", help="name:model; give two or more")] = None,
    seeds: Annotated[str, Opt(help="comma-separated seeds, e.g. 1,2,3")] = "1",
    size: Annotated[str | None, Opt(help='"1024x768" or "16:9"')] = None,
    n: Annotated[int | None, Opt("-n", "--num-images", help="images per seed")] = None,
    steps: Annotated[int | None, Opt(help="denoising steps (local models)")] = None,
    guidance: Annotated[float | None, Opt(help="classifier-free guidance scale")] = None,
    negative: Annotated[str | None, Opt(help="negative prompt")] = None,
    scheduler: Annotated[str | None, Opt(help='sampler, e.g. "dpm++ 2m karras"')] = None,
    quality: Annotated[str | None, Opt(help="provider quality, e.g. hd")] = None,
    style: Annotated[str | None, Opt(help="provider style, e.g. vivid")] = None,
    unsupported: Annotated[str | None, Opt(help="warn | error: what a parameter a provider ignores does")] = None,
    clip: Annotated[Path | None, Opt(help="CLIP model folder: adds a CLIP score per image")] = None,
    budget: Annotated[float | None, Opt(help="USD cap for the whole comparison")] = None,
    ledger: Annotated[Path | None, Opt(help="cost ledger file")] = None,
    no_ledger: Annotated[bool, Opt("--no-ledger", help="do not record costs")] = False,
    out_dir: Annotated[Path, Opt("-o", "--out", help="output folder")] = Path("compare"),
    cell_size: Annotated[int, Opt("--cell-size", min=32, max=2048, help="grid cell size in pixels")] = 256,
    progress: Annotated[str, Opt(help="auto | on | off: the progress display on stderr")] = "auto",
) -> int:
    """Run the same prompt and seeds on several providers: grid.png, report.html, comparison.json."""
    if not provider:
        fail("--provider", "give at least one provider to compare, e.g. -p openai:gpt-image-2 "
                           "-p diffusers:imagegen-mini")
    seed_list = parse_seeds(seeds)
    given = {"size": size, "n": n, "steps": steps, "guidance": guidance, "negative_prompt": negative,
             "scheduler": scheduler, "quality": quality, "style": style, "unsupported": unsupported}
    params = {k: v for k, v in given.items() if v is not None}
    scorer = None
    if clip is not None:
        from .eval import ClipScorer

        scorer = ClipScorer(clip)
    writable_folder(out_dir)
    display = progress_display(progress)
    with display:
        watched = watch_all(display, provider)
        client = make_client([], budget, ledger_path(ledger, no_ledger), display)
        try:
            what: Any = prompt if len(prompt) > 1 else prompt[0]
            cmp: Comparison = client.compare(what, providers=watched,
                                             seeds=seed_list, params=params, scorer=scorer)
        finally:
            client.close()
        display.phase("saving the grid and report")
        paths = cmp.save(out_dir, cell_size=cell_size)
    rows = [[row["provider"], row["images"], row["failed"],
             "-" if row["latency_s"] is None else f"{row['latency_s']:.2f}s", format_usd(row["cost_usd"]),
             "-" if row["score"] is None else f"{row['score']:.2f}"] for row in cmp.table()]
    write_rows(out, ["provider", "images", "failed", "mean latency", "cost", "mean score"], rows)
    for key in ("grid", "report", "json"):  # each path on a line of its own, whole
        out.print(f"{key + ':':8}{paths[key]}", markup=False, highlight=False, soft_wrap=True)
    failed = [c for c in cmp.cells if not c.ok]
    for c in failed:
        say("warning", f"{c.provider} seed {c.seed}: {c.error_text}")
    refused = [c for c in failed if isinstance(c.error, errors.BudgetExceeded)]
    if failed and len(failed) == len(cmp.cells):
        return _exit_for([c.error for c in failed if c.error is not None])
    return EXIT_BUDGET if refused else EXIT_OK


def _exit_for(failures: Sequence[errors.ImageGenError]) -> int:
    budget = bool(failures) and all(isinstance(e, errors.BudgetExceeded) for e in failures)
    return EXIT_BUDGET if budget else EXIT_PROVIDER


# -- batch ------------------------------------------------------------------------------------------

class BatchProgress:
    """``on_done`` for a batch: items done of all, images per second, dollars spent and the ETA, as one live
    line on a terminal, or (``--progress on`` elsewhere) a plain line at every tenth of the batch."""

    def __init__(self, display: Display, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.display = display
        self.total = total
        self.done = self.failed = self.images = 0
        self.spent = 0.0
        self.started = time.perf_counter()
        self._shown_tenth = 0
        self._bar = Progress(TextColumn("batch"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                             TextColumn("{task.fields[spent]}"), TimeRemainingColumn(), console=display.console,
                             transient=True, disable=not display.live)
        self._task = self._bar.add_task("batch", total=total, rate="", spent="")

    def __call__(self, index: int, outcome: Any) -> None:
        self.done += 1
        if isinstance(outcome, errors.ImageGenError):
            self.failed += 1
        else:
            self.images += outcome.made
            self.spent += outcome.cost_usd or 0.0
        self._bar.update(self._task, completed=self.done, rate=self.rate(), spent=format_usd(self.spent))
        tenth = self.done * 10 // max(self.total, 1)
        if self.display.enabled and not self.display.live and tenth > self._shown_tenth:
            self._shown_tenth = tenth
            self.display.console.print(f"batch: {self.done}/{self.total} items, {self.rate()}, "
                                       f"{format_usd(self.spent)} spent", markup=False, highlight=False)

    def rate(self) -> str:
        return f"{self.images / max(time.perf_counter() - self.started, 1e-9):.2f} images/s"

    def __enter__(self) -> BatchProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()


@app.command()
def batch(
    file: Annotated[Path, typer.Argument(help="items, one a line: a .jsonl or .csv file (see docs/cli.md)")],
    out_dir: Annotated[Path, Opt("-o", "--out", help="output folder; a rerun skips the items already there")],
    provider: Annotated[list[str] | None, Opt(
        "--provider", "-p", help="name:model for items that name none; repeat for fallback")] = None,
    budget_usd: Annotated[float | None, Opt(
        "--budget-usd", help="refuse calls that would take the spend recorded in the ledger past this many USD")
    ] = None,
    ledger: Annotated[Path | None, Opt(help="cost ledger file (default: OUT/ledger.sqlite)")] = None,
    no_ledger: Annotated[bool, Opt("--no-ledger", help="do not record costs (a budget then counts this run only)")
                         ] = False,
    concurrency: Annotated[int | None, Opt(help="items in flight at once (in-process, and cloud items on Ray)",
                                           min=1)] = None,
    rpm: Annotated[float | None, Opt(help="requests per minute, per provider, for the whole batch")] = None,
    timeout: Annotated[float | None, Opt(help="seconds one provider attempt may take")] = None,
    use_ray: Annotated[bool, Opt("--ray", help="run on Ray: $RAY_ADDRESS, or a local instance")] = False,
    ray_address: Annotated[str | None, Opt(
        "--ray-address", help="the Ray cluster: auto, ray://HOST:10001, ... (implies --ray)")] = None,
    workers: Annotated[int | None, Opt(help="with --ray: workers for local models (default: one per GPU, or 1)",
                                       min=1)] = None,
    gpus_per_worker: Annotated[float | None, Opt(
        "--gpus-per-worker", help="with --ray: GPUs per local-model worker (default 1 on a GPU cluster, else 0)")
    ] = None,
    cpus_per_worker: Annotated[float | None, Opt(
        "--cpus-per-worker", help="with --ray: CPUs per local-model worker (default 1)")] = None,
    as_json: Annotated[bool, Opt("--json", help="print one JSON document with every item on stdout")] = False,
    progress: Annotated[str, Opt(help="auto | on | off: the progress display on stderr")] = "auto",
) -> int:
    """Make every item of a JSONL or CSV file into OUT, in this process or on a Ray cluster; resumable."""
    from .batch import run
    from .batchfile import read_items

    address: bool | str = ray_address if ray_address else use_ray
    if address is False:
        for option, value in (("--workers", workers), ("--gpus-per-worker", gpus_per_worker),
                              ("--cpus-per-worker", cpus_per_worker)):
            if value is not None:
                fail(option, "sizes the Ray workers; add --ray")
    else:
        try:
            import ray  # noqa: F401
        except ImportError:
            fail("--ray", 'needs the ray extra: pip install "imagegen-sdk[ray]"')
    items = read_items(file)
    writable_folder(out_dir)
    book = None if no_ledger else str(ledger if ledger is not None else out_dir / "ledger.sqlite")
    if book is not None:
        os.makedirs(os.path.dirname(os.path.abspath(book)), exist_ok=True)
    display = progress_display(progress, machine_output=as_json)
    t0 = time.perf_counter()
    with display, BatchProgress(display, len(items.items)) as bar:
        outcomes = run(items, out_dir=out_dir, provider=list(provider) if provider else None, budget_usd=budget_usd,
                       ledger=book, concurrency=concurrency, rpm=rpm, timeout=timeout, on_done=bar, ray=address,
                       workers=workers, gpus_per_worker=gpus_per_worker,
                       cpus_per_worker=cpus_per_worker if cpus_per_worker is not None else 1.0)
    elapsed = time.perf_counter() - t0
    failures = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, errors.ImageGenError)]
    finished = [o for o in outcomes if not isinstance(o, errors.ImageGenError)]
    made = [o for o in finished if not o.skipped]
    if as_json:
        emit_json({"items": [{"index": i, "where": items.where[i], "error": type(o).__name__, "message": o.message}
                             if isinstance(o, errors.ImageGenError) else {"where": items.where[i], **asdict(o)}
                             for i, o in enumerate(outcomes)],
                   "made": len(made), "skipped": len(finished) - len(made), "failed": len(failures),
                   "images": bar.images, "spent_usd": bar.spent, "elapsed_s": elapsed})
    else:
        if failures:
            write_rows(out, ["item", "error"], [[items.where[i], _one_line(o)] for i, o in failures])
        out.print(f"{len(outcomes)} items: {len(made)} made ({bar.images} images), {len(finished) - len(made)} "
                  f"already there, {len(failures)} failed; {format_usd(bar.spent)} spent in {elapsed:.1f}s; "
                  f"images in {out_dir}", markup=False, highlight=False, soft_wrap=True)
    return _exit_for([o for _, o in failures]) if failures else EXIT_OK


# -- providers, costs, info -------------------------------------------------------------------------

MIDJOURNEY_ROW = ("midjourney", "—", "not supported: Midjourney offers no official API")
_PARAMS = ("seed", "negative_prompt", "steps", "guidance", "scheduler", "lora", "quality", "style", "prompt_syntax",
           "clip_skip", "embeddings", "hires", "refiner", "vae", "tiling")


def _default_specs() -> list[str]:
    specs = []
    for name in installed_providers():
        try:
            inst = resolve_provider(name)
        except Exception:  # a provider that cannot start without its model or key is listed by name
            specs.append(name)
            continue
        specs.append(f"{inst.name}:{inst.model}")
    return specs


def provider_matrix(specs: Sequence[str] | None = None) -> str:
    """A Markdown table of what each provider/model honours, built from its ``Capabilities``.

    ``specs`` default to each installed provider's default model. Midjourney is always listed, as
    not supported (it has no official API)."""
    header = ["provider", "model", "sizes", "images/call", *OPERATIONS, *_PARAMS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for spec in specs if specs is not None else _default_specs():
        name, _, model = spec.partition(":")
        try:
            inst = resolve_provider(spec)
            caps = inst.capabilities()
        except Exception as exc:
            reason = str(exc).replace("|", "/").splitlines()[0][:80]
            lines.append(f"| {name} | {model or '—'} | unavailable here: {reason} |" + " |" * (len(header) - 3))
            continue
        cells = [inst.name, inst.model, _sizes_brief(caps), str(caps.max_images_per_call)]
        cells += ["✓" if op in caps.operations else "—" for op in OPERATIONS]
        cells += ["✓" if p in caps.supports else "—" for p in _PARAMS]
        lines.append("| " + " | ".join(cells) + " |")
    name, model, note = MIDJOURNEY_ROW
    lines.append(f"| {name} | {model} | {note} |" + " |" * (len(header) - 3))
    return "\n".join(lines)


def _sizes_brief(caps: Capabilities) -> str:
    """Sizes in a table cell: short lists as they are, long ones by count and range."""
    if caps.sizes is not None and len(caps.sizes) > 4:
        by_area = sorted(caps.sizes, key=lambda s: (s[0] * s[1], s))
        (w0, h0), (w1, h1) = by_area[0], by_area[-1]
        return f"{len(caps.sizes)} fixed sizes, {w0}x{h0} to {w1}x{h1}"
    return caps.describe_sizes().replace("|", "/")


@app.command("providers")
def list_providers(
    markdown: Annotated[bool, Opt("--markdown", help="print the provider matrix as Markdown")] = False,
    spec: Annotated[list[str] | None, Opt("--spec", help="name:model to include; repeatable")] = None,
) -> None:
    """List installed providers, their models and what they honour."""
    if markdown:
        out.print(provider_matrix(spec or None), markup=False, soft_wrap=True)
        return
    rows = []
    found = installed_providers()
    for s in spec or _default_specs():
        name = s.partition(":")[0]
        try:
            inst = resolve_provider(s)
            caps = inst.capabilities()
        except Exception as exc:
            rows.append([name, found.get(name, "?"), s.partition(":")[2] or "—", f"unavailable: {exc}", "", ""])
            continue
        rows.append([inst.name, found.get(name, "?"), inst.model,
                     " ".join(o for o in OPERATIONS if o in caps.operations),
                     " ".join(p for p in _PARAMS if p in caps.supports), caps.describe_sizes()])
    write_rows(out, ["provider", "from", "model", "operations", "parameters", "sizes"], rows)
    say("note", "midjourney is not supported: Midjourney offers no official API")


@app.command("models")
def list_models(
    provider: Annotated[str | None, Opt("--provider", "-p", help="only this provider's models: openai, google, "
                                        "diffusers (or any installed provider)")] = None,
    live: Annotated[bool, Opt("--live", help="also ask each cloud vendor for its model list (needs its key) and "
                              "print where imagegen's data differs; exit 1 when it does")] = False,
    as_json: Annotated[bool, Opt("--json", help="print JSON: {models: [...], differences: [...]}")] = False,
) -> int:
    """Every model imagegen knows: status, shutdown date, replacement, sizes, images per call, price basis."""
    from .registry import live_differences, models

    known = models(provider)
    differences = []
    failed: list[str] = []
    if live:
        names = [provider.partition(":")[0]] if provider else list(dict.fromkeys(m.provider for m in known))
        for name in names:
            try:
                differences.extend(live_differences(name))
            except errors.InvalidRequest:
                if provider:  # asked for by name: say it has no live list
                    raise
            except errors.ImageGenError as exc:
                failed.append(name)
                say("provider failed", f"{name}: {_one_line(exc)}")
    if as_json:
        emit_json({"models": [m.to_dict() for m in known], "differences": [d.to_dict() for d in differences]})
    else:
        write_rows(out, ["provider", "model", "status", "shutdown", "replacement", "sizes", "per call", "price"],
                   [[m.provider, m.model + (" (default)" if m.recommended else ""), m.status,
                     m.shutdown.isoformat() if m.shutdown else "", m.replacement or "", m.sizes,
                     m.max_images_per_call, m.price] for m in known])
        if live:
            if differences:
                write_rows(out, ["provider", "model", "difference"],
                           [[d.provider, d.model, d.message] for d in differences])
            elif not failed:
                say("note", "the vendors' lists match imagegen's data")
    if failed:
        return EXIT_PROVIDER
    return EXIT_DIFFERENT if differences else EXIT_OK


@app.command()
def costs(
    ledger: Annotated[Path | None, Opt(help="ledger file (default: $IMAGEGEN_LEDGER or ~/.local/share)")] = None,
    by: Annotated[str, Opt(help="group by any of provider,model,day")] = "provider,model,day",
    since: Annotated[str | None, Opt(help="only attempts since this date, e.g. 2026-11-01")] = None,
    csv_path: Annotated[Path | None, Opt("--csv", help="also write every attempt to this CSV file")] = None,
) -> None:
    """Spending recorded in the cost ledger."""
    from .ledger import Ledger

    path = str(ledger) if ledger is not None else default_ledger()
    if not os.path.isfile(path):
        fail("--ledger", f"no ledger file at {path} yet (it is written by generate/compare)")
    groups = [g.strip() for g in by.split(",") if g.strip()]
    if not groups:
        fail("--by", "name at least one of provider, model, day")
    with Ledger(path) as book:
        summary = book.summary(groups, since=since)
        rows: list[list[object]] = [[*(getattr(row, g) for g in groups), row.attempts, row.ok, row.errors, row.images,
                                     f"${row.usd:.4f}", row.unknown_cost or ""] for row in summary]
        total = [sum(getattr(row, k) for row in summary) for k in ("attempts", "ok", "errors", "images", "usd")]
        unknown = sum(row.unknown_cost for row in summary)
        rows.append(["total", *[""] * (len(groups) - 1), *total[:4], f"${total[4]:.4f}", unknown or ""])
        write_rows(out, [*groups, "attempts", "ok", "errors", "images", "usd", "unknown cost"], rows)
        if csv_path is not None:
            count = book.to_csv(csv_path, since=since)
            say("csv", f"wrote {count} attempts to {csv_path}")


@app.command()
def info(
    image: Annotated[Path, typer.Argument(help="an image written by imagegen, A1111/Forge, ComfyUI, InvokeAI, "
                                               "Fooocus or NovelAI (PNG, JPEG or WebP)")],
    as_json: Annotated[bool, Opt("--json", help="print one normalized record as JSON")] = False,
) -> None:
    """Show how an image was made, from its metadata, whichever tool wrote it."""
    from .metadata import read_metadata

    if not image.is_file():
        fail("IMAGE", f"no such file: {image}")
    try:
        meta = read_metadata(str(image))
    except Exception as exc:
        fail("IMAGE", f"cannot read {image}: {exc}")
    if meta.source == "none":
        fail("IMAGE", f"{image} carries no metadata imagegen can read (imagegen, A1111/Forge, ComfyUI, InvokeAI, "
                      "Fooocus or NovelAI)")
    if as_json:
        emit_json(meta.to_dict())
        return
    rows: list[tuple[str, Any]] = [("prompt", meta.prompt), ("negative prompt", meta.negative_prompt),
                                   ("provider", meta.provider), ("model", meta.model),
                                   ("revised prompt", meta.revised_prompt), ("from", meta.source)]
    rows += settings_rows(meta.settings) if meta.settings is not None else [
        ("seed", meta.seed), ("size", f"{meta.width}x{meta.height}" if meta.width else None)]
    shown = {"negative_prompt", "size", "steps", "guidance", "scheduler", "strength"}
    if meta.settings is not None:
        shown |= {"operation", "loras", "quality", "style", "clip_skip", "hires", "vae", "embeddings", "refiner",
                  "refiner_switch", "tiling"}
    rows += [(k, v) for k, v in sorted(meta.params.items()) if k not in shown]
    write_rows(out, ["field", "value"], [[key, value if isinstance(value, str) else json.dumps(value, default=str)]
                                         for key, value in rows if value not in (None, "", [], {}, ())])


def settings_rows(s: ImageSettings) -> list[tuple[str, Any]]:
    """The settings an image was made with, one row each, named as A1111 names them."""
    def ref(r: ModelRef | None) -> str | None:
        return None if r is None else f"{r.name} [{r.hash}]" if r.hash else r.name

    def refs(items: tuple[ModelRef, ...]) -> str:
        return ", ".join(f"{ref(r)}" + (f" x{r.weight:g}" if r.weight is not None else "") for r in items)

    hires = s.hires
    return [("steps", s.steps), ("sampler", s.sampler), ("schedule type", s.schedule_type), ("CFG scale", s.guidance),
            ("seed", s.seed), ("size", f"{s.width}x{s.height}" if s.width and s.height else None),
            ("checkpoint", ref(s.model)), ("model hash", s.model.hash if s.model else None), ("VAE", ref(s.vae)),
            ("denoising strength", s.strength), ("clip skip", s.clip_skip), ("tiling", s.tiling or None),
            ("hires fix", hires.model_dump(exclude_none=True) if hires else None), ("LoRAs", refs(s.loras)),
            ("embeddings", refs(s.embeddings)), ("refiner", ref(s.refiner)), ("refiner switch at", s.refiner_switch),
            ("operation", s.operation), ("quality", s.quality), ("style", s.style),
            *sorted(s.extra.items())]


@app.command()
def upscale(
    image: Annotated[Path, typer.Argument(help="the image to enlarge")],
    scale: Annotated[float | None, Opt(help="factor, e.g. 2")] = None,
    size: Annotated[str | None, Opt(help='target size instead of --scale, e.g. "2048x1536"')] = None,
    upscaler: Annotated[str, Opt(help="lanczos | nearest | latent | an upscaler model file (ESRGAN, ...)")] = "lanczos",
    provider: Annotated[str | None, Opt("--provider", "-p", help="local provider for latent and models")] = None,
    out_dir: Annotated[Path, Opt("-o", "--out", help="output folder")] = Path("."),
    as_json: Annotated[bool, Opt("--json", help="print the result as JSON")] = False,
) -> None:
    """Enlarge an image: Lanczos or nearest here, an upscaler model file or the latent upscaler through a local
    provider (diffusers; model files need imagegen-diffusers[upscalers])."""
    import asyncio

    from .imageio import load_image
    from .metadata import read_png_text, with_png_text

    if not image.is_file():
        fail("IMAGE", f"no such file: {image}")
    try:
        source = load_image(str(image), "image")
    except errors.ImageGenError as exc:
        fail("IMAGE", exc.message)
    width, height = upscale_target(source.width, source.height, scale, size)
    name = upscaler.strip().lower()
    if name in ("lanczos", "nearest"):
        from PIL import Image

        from .imageio import encode_png

        resample = Image.Resampling.LANCZOS if name == "lanczos" else Image.Resampling.NEAREST
        data = encode_png(source.to_pil().resize((width, height), resample))
    else:
        from .registry import default_provider_spec

        local = resolve_provider(provider or default_provider_spec())
        hook = getattr(local, "upscale", None)
        if hook is None:
            fail("--upscaler", f"{local.name}:{local.model} cannot run the {upscaler!r} upscaler; use lanczos or "
                               "nearest, or a local provider such as diffusers:imagegen-mini")
        data = asyncio.run(hook(source, width, height, upscaler)).data
    if source.mime == "image/png":
        data = with_png_text(data, read_png_text(str(image)))
    out_dir.mkdir(parents=True, exist_ok=True)
    from .files import atomic_write

    path = atomic_write(str(free_path(out_dir, f"{image.stem}-{width}x{height}")), data)
    if as_json:
        emit_json({"file": path, "width": width, "height": height, "upscaler": upscaler})
    else:
        write_rows(out, ["file", "size", "upscaler"], [[path, f"{width}x{height}", upscaler]])


def upscale_target(width: int, height: int, scale: float | None, size: str | None) -> tuple[int, int]:
    """The size ``imagegen upscale`` makes: ``--scale`` times the image, or ``--size``."""
    if (scale is None) == (size is None):
        fail("--scale", "give one of --scale (e.g. 2) or --size (e.g. 2048x1536)")
    if size is not None:
        from .params import Size

        try:
            parsed = Size.parse(size)
        except ValueError as exc:
            fail("--size", str(exc))
        if parsed.is_ratio or parsed.width is None or parsed.height is None:
            fail("--size", f"expected pixels such as 2048x1536; got {size!r}")
        return parsed.width, parsed.height
    assert scale is not None
    if not 1 < scale <= 16:
        fail("--scale", f"expected a factor above 1 and at most 16; got {scale:g}")
    return max(1, round(width * scale)), max(1, round(height * scale))


# -- serve ------------------------------------------------------------------------------------------

#: ServerConfig field -> the option that sets it, so errors name what the user typed.
_SERVE_OPTION = {"providers": "--provider", "aliases": "--alias", "api_keys": "--api-key"}


@app.command()
def serve(
    provider: Annotated[list[str] | None, Opt(
        "--provider", "-p", help="name:model to serve; repeat for more. In order, they are the default chain "
        "for requests that name no model")] = None,
    alias: Annotated[list[str] | None, Opt(
        "--alias", help="NAME=SPEC[,SPEC...]: serve a fallback chain under NAME "
        "(e.g. gpt-image-2=openai:gpt-image-2,diffusers:imagegen-mini)")] = None,
    host: Annotated[str, Opt(help="interface to listen on; beyond 127.0.0.1 a key is required")] = "127.0.0.1",
    port: Annotated[int, Opt(help="TCP port", min=1, max=65535)] = 8000,
    ledger: Annotated[Path | None, Opt(help="ledger file (default: $IMAGEGEN_LEDGER or ~/.local/share)")] = None,
    no_ledger: Annotated[bool, Opt(
        "--no-ledger", help="keep no ledger (spend is then counted in memory only)")] = False,
    budget_usd: Annotated[float | None, Opt(
        "--budget-usd", help="refuse calls that would take the server's spend (in this ledger) past this many USD")
    ] = None,
    api_key: Annotated[list[str] | None, Opt(
        "--api-key", envvar="IMAGEGEN_API_KEY", help="a key clients must send (Bearer, or Basic password); "
        "repeatable")] = None,
    keys_file: Annotated[Path | None, Opt(
        "--keys-file", help="JSON file of named, hashed keys with optional budget_usd and rpm each")] = None,
    new_key: Annotated[str | None, Opt(
        "--new-key", help="make a key with this name, add its hash to --keys-file, print the key once, and exit")
    ] = None,
    key_budget_usd: Annotated[float | None, Opt(
        "--key-budget-usd", help="with --new-key: the key's own USD cap")] = None,
    key_rpm: Annotated[float | None, Opt("--key-rpm", help="with --new-key: the key's requests per minute")] = None,
    max_queue: Annotated[int, Opt(
        "--max-queue", help="requests in hand at once; more get 429 with Retry-After", min=1)] = 64,
    insecure_no_auth: Annotated[bool, Opt(
        "--insecure-no-auth", help="listen beyond 127.0.0.1 without any key")] = False,
    max_body_bytes: Annotated[int, Opt(
        "--max-body-bytes", help="largest request body (413 beyond)", min=1024)] = 50 * 1024 * 1024,
    max_image_pixels: Annotated[int, Opt(
        "--max-image-pixels", help="most pixels of an input image or asked size", min=4096)] = 4096 * 4096,
    max_prompt_chars: Annotated[int, Opt("--max-prompt-chars", help="longest prompt, in characters", min=1)] = 32_000,
    max_images: Annotated[int, Opt("--max-images", help="most images per request", min=1)] = 10,
    timeout: Annotated[float | None, Opt(help="seconds one provider attempt may take")] = None,
    keep_images: Annotated[int, Opt(
        "--keep-images", help="finished images kept in memory for url answers and the page's gallery", min=0)] = 256,
    drain_timeout: Annotated[int | None, Opt(
        "--drain-timeout", help="after SIGTERM, seconds to wait for requests in flight (default: as long as they "
        "take)", min=0)] = None,
    log_level: Annotated[str, Opt("--log-level", help="uvicorn's log level")] = "info",
    use_ray: Annotated[bool, Opt("--ray", help="deploy with Ray Serve: $RAY_ADDRESS, or a local instance")] = False,
    ray_address: Annotated[str | None, Opt(
        "--ray-address", help="the Ray cluster: auto, ray://HOST:10001, ... (implies --ray)")] = None,
    replicas: Annotated[int | None, Opt(help="with --ray: replicas of the server (default: one per GPU, or 1)",
                                        min=1)] = None,
    gpus_per_replica: Annotated[float | None, Opt(
        "--gpus-per-replica", help="with --ray: GPUs per replica (default 1 where there are GPUs, else 0)")] = None,
    cpus_per_replica: Annotated[float | None, Opt(
        "--cpus-per-replica", help="with --ray: CPUs per replica (default 1)")] = None,
) -> None:
    """Serve the OpenAI Images API (/v1) and the AUTOMATIC1111 API (/sdapi/v1) over your providers."""
    address: bool | str = ray_address if ray_address else use_ray
    if address is False:
        for flag, value in (("--replicas", replicas), ("--gpus-per-replica", gpus_per_replica),
                            ("--cpus-per-replica", cpus_per_replica)):
            if value is not None:
                fail(flag, "sizes the Ray Serve replicas; add --ray")
    if new_key is not None:
        if keys_file is None:
            fail("--new-key", "give --keys-file PATH to add the key to")
        from .server.keys import add_key

        key = add_key(str(keys_file), new_key, budget_usd=key_budget_usd, rpm=key_rpm)
        out.print(key, markup=False, highlight=False)
        say("note", f"added key {new_key!r} to {keys_file}; it is shown only now: store it where your client reads it")
        return
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        fail("serve", 'the server needs its extra: pip install "imagegen-sdk[server]"')
    from .server import ServerConfig, parse_alias
    from .server import serve as run

    aliases = dict(parse_alias(a) for a in alias or [])
    try:
        config = ServerConfig(
            providers=list(provider or []), aliases=aliases, ledger=ledger_path(ledger, no_ledger),
            budget_usd=budget_usd, api_keys=list(api_key or []),
            keys_file=os.fspath(keys_file) if keys_file is not None else None, max_queue=max_queue,
            max_body_bytes=max_body_bytes, max_image_pixels=max_image_pixels, max_prompt_chars=max_prompt_chars,
            max_images=max_images, timeout=timeout, keep_images=keep_images)
    except errors.InvalidRequest as exc:
        option = _SERVE_OPTION.get(exc.field or "", f"--{(exc.field or 'serve').replace('_', '-')}")
        fail(option, exc.message.partition(": ")[2] or exc.message)
    if address is not False:
        try:
            from .server.replicas import serve_on_ray
        except ImportError:
            fail("--ray", 'needs the ray extra: pip install "imagegen-sdk[ray]"')
        serve_on_ray(config, host=host, port=port, insecure_no_auth=insecure_no_auth, address=address,
                     replicas=replicas, gpus_per_replica=gpus_per_replica,
                     cpus_per_replica=cpus_per_replica if cpus_per_replica is not None else 1.0)
        return
    run(config, host=host, port=port, insecure_no_auth=insecure_no_auth, log_level=log_level,
        drain_timeout=drain_timeout)


# -- entry point ------------------------------------------------------------------------------------

def _one_line(exc: errors.ImageGenError) -> str:
    field = getattr(exc, "field", None)
    message = exc.message or str(exc)
    option = OPTION_OF.get(field or "")
    if option and field:
        message = re.sub(rf"^{re.escape(field)}(\.\d+)?:\s*", "", message)
        message = f"{option}: {message}"
    where = f"[{exc.provider}] " if exc.provider and not isinstance(exc, errors.InvalidRequest) else ""
    return " ".join(f"{where}{message}".split())


def _click_errors(name: str) -> tuple[type[BaseException], ...]:
    """``name`` from click and from the click typer vendors (typer >= 0.22), whichever exist."""
    found = []
    for module in ("click.exceptions", "typer._click.exceptions"):
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


_NO_ARGS = _click_errors("NoArgsIsHelpError")
_USAGE = _click_errors("UsageError")
_CLICK = _click_errors("ClickException")


class _Notices(logging.Handler):
    """imagegen's log records while a command runs. Its warnings (a fallback, a retry, a model note) are
    already in the result's warnings, the error or the progress display, so they are not printed a
    second time by Python's last-resort handler; errors show as one line, without a traceback."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            say("warning", record.getMessage())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    notices = _Notices()
    logging.getLogger("imagegen").addHandler(notices)
    try:
        return _main(argv)
    finally:
        logging.getLogger("imagegen").removeHandler(notices)


def _main(argv: Sequence[str] | None) -> int:
    command = typer.main.get_command(app)
    try:
        result = command.main(args=list(argv) if argv is not None else sys.argv[1:], prog_name="imagegen",
                              standalone_mode=False)
    except _NO_ARGS as exc:  # `imagegen` alone: help, not an error
        ctx = getattr(exc, "ctx", None)
        out.print(ctx.get_help() if ctx else "imagegen --help", markup=False, highlight=False)
        return EXIT_OK
    except _USAGE as exc:
        ctx = getattr(exc, "ctx", None)
        say("error", _click_message(exc) + (f" (see `{ctx.command_path} --help`)" if ctx else ""))
        return EXIT_BAD_INPUT
    except _CLICK as exc:
        say("error", _click_message(exc))
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, typer.Abort):
        say("error", "interrupted")
        return EXIT_INTERRUPTED
    except CliError as exc:
        say("error", str(exc))
        return EXIT_BAD_INPUT
    except (errors.InvalidRequest, errors.UnsupportedFeature) as exc:
        say("error", _one_line(exc))
        return EXIT_BAD_INPUT
    except errors.BudgetExceeded as exc:
        say("budget", _one_line(exc))
        return EXIT_BUDGET
    except errors.AllProvidersFailed as exc:
        say("provider failed", _one_line(exc))
        return _exit_for(exc.errors)
    except errors.ImageGenError as exc:
        say("provider failed", _one_line(exc))
        return EXIT_PROVIDER
    except OSError as exc:
        say("error", str(exc))
        return EXIT_PROVIDER
    except Exception as exc:  # a bug (imagegen's or a provider's): one line, never a traceback
        if os.environ.get("IMAGEGEN_DEBUG"):
            raise
        say("error", f"internal error: {type(exc).__name__}: {scrub(str(exc))} (a bug: please report it; set "
                     "IMAGEGEN_DEBUG=1 to see the traceback)")
        return EXIT_INTERNAL
    return result if isinstance(result, int) else EXIT_OK


def say(kind: str, message: str) -> None:
    """One line on stderr, never wrapped, whatever the terminal width."""
    style = "yellow" if kind == "warning" else "red"
    err.print(f"[{style}]{kind}:[/] {escape(' '.join(message.split()))}", soft_wrap=True)


def _click_message(exc: BaseException) -> str:
    fmt = getattr(exc, "format_message", None)
    return str(fmt() if callable(fmt) else exc)

