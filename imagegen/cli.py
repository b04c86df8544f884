"""The ``imagegen`` command line (typer + rich), imported only when the command runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from . import errors
from .client import Client
from .registry import providers as installed_providers

app = typer.Typer(add_completion=False, no_args_is_help=True, help="One call, many image models.")
console = Console(stderr=True)

EXIT_OK, EXIT_BAD_INPUT, EXIT_PROVIDER, EXIT_BUDGET = 0, 2, 3, 4


@app.command()
def generate(
    prompt: str,
    provider: Annotated[Optional[str], typer.Option("--provider", "-p", help="name:model")] = None,  # noqa: UP045
    size: Annotated[Optional[str], typer.Option(help='"1024x768" or "16:9"')] = None,  # noqa: UP045
    n: Annotated[int, typer.Option("-n", help="number of images")] = 1,
    seed: Annotated[Optional[int], typer.Option()] = None,  # noqa: UP045
    steps: Annotated[Optional[int], typer.Option()] = None,  # noqa: UP045
    guidance: Annotated[Optional[float], typer.Option()] = None,  # noqa: UP045
    out: Annotated[Path, typer.Option("-o", "--out", help="output folder")] = Path("."),
) -> None:
    """Generate images and save them as PNGs with metadata."""
    try:
        result = Client().generate(prompt, provider=provider, size=size, n=n, seed=seed, steps=steps,
                                   guidance=guidance)
    except (errors.InvalidRequest, errors.UnsupportedFeature) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except errors.BudgetExceeded as exc:
        console.print(f"[red]budget:[/] {exc}")
        raise typer.Exit(EXIT_BUDGET) from None
    except errors.ImageGenError as exc:
        console.print(f"[red]provider failed:[/] {exc}")
        raise typer.Exit(EXIT_PROVIDER) from None
    paths = result.save(out, prefix=f"{result.request_id[:8]}")
    table = Table("file", "seed", "size", "provider", "cost")
    usd = "unknown" if result.cost.usd is None else f"${result.cost.usd:.4f}"
    for path, image in zip(paths, result.images, strict=True):
        table.add_row(path, str(image.seed), f"{image.width}x{image.height}", f"{result.provider}:{result.model}", usd)
    Console().print(table)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")


@app.command("providers")
def list_providers() -> None:
    """List installed providers."""
    for name, origin in installed_providers().items():
        Console().print(f"{name}\t{origin}")


def main() -> None:
    sys.exit(app())
