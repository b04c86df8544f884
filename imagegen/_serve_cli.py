"""``imagegen serve``: the command's options, kept apart from ``cli.py``; it imports the server (FastAPI,
uvicorn) only when it runs, so the rest of the CLI works without the ``server`` extra."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["serve"]

Opt = typer.Option
#: ServerConfig field -> the option that sets it, so errors name what the user typed.
_OPTION = {"providers": "--provider", "aliases": "--alias", "api_keys": "--api-key"}


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
) -> None:
    """Serve the OpenAI Images API (/v1) and the AUTOMATIC1111 API (/sdapi/v1) over your providers."""
    from . import errors
    from .cli import fail, ledger_path, out, say

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
        option = _OPTION.get(exc.field or "", f"--{(exc.field or 'serve').replace('_', '-')}")
        fail(option, exc.message.partition(": ")[2] or exc.message)
    run(config, host=host, port=port, insecure_no_auth=insecure_no_auth, log_level=log_level,
        drain_timeout=drain_timeout)
