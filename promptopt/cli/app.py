"""The command-line application: the typer app, the consoles, the options every command
group shares, and the guard that turns a PromptoptError into its message and exit code.

Heavy libraries (LiteLLM, datasets, llama.cpp) are imported on first use so that
``promptopt --help`` stays fast.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler

from promptopt import __version__
from promptopt.errors import PromptoptError
from promptopt.llm import embed

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="promptopt: optimize classification prompts, find their ceiling, hand off to fine-tuning.",
)
out = Console()
err = Console(stderr=True)

DEFAULT_MODEL = "local/qwen2.5-0.5b-instruct"

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder the task's [data] dir resolves against (default: $PROMPTOPT_DATA_DIR, else ./data).",
    ),
]
ModelsDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--models-dir",
        help="Where local GGUF models are assembled (default: $PROMPTOPT_MODELS_DIR, else <venv>/share/promptopt/models).",
    ),
]


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        out.print(__version__)
        raise typer.Exit()
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_time=False, show_path=False)],
    )
    # embedding a large train pool and the small fine-tune take minutes: their progress shows
    # without --verbose
    logging.getLogger(embed.__name__).setLevel(logging.INFO)
    logging.getLogger("promptopt.handoff.finetune.small").setLevel(logging.INFO)


def run_guarded(action: Callable[[], None]) -> None:
    """Run a command; a PromptoptError becomes a clear message and its exit code."""
    try:
        action()
    except PromptoptError as exc:
        err.print(f"[bold red]error:[/] {exc.what}", highlight=False)
        if exc.hint:
            err.print(f"  [yellow]fix:[/] {exc.hint}", highlight=False)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: nothing was written past the last complete step")
        raise typer.Exit(130) from None


def cli_paths(
    data_dir: Path | None,
    models_dir: Path | None = None,
    cache_dir: Path | None = None,
    use_cache: bool = True,
) -> Any:
    from promptopt.llm.local import default_models_dir
    from promptopt.settings import resolve_paths

    return resolve_paths(
        data_dir=data_dir,
        models_dir=models_dir,
        cache_dir=cache_dir,
        use_cache=use_cache,
        env=os.environ,
        cwd=Path.cwd(),
        default_models=default_models_dir(),
    )


CacheDirOpt = Annotated[
    Path | None, typer.Option("--cache-dir", help="Completion cache folder (default: ./.promptopt-cache).")
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Call the model even for requests seen before.")]
CacheOnlyOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir", help="Use a completion cache in this folder (default: no cache, every call is live)."
    ),
]
ApiBaseOpt = Annotated[
    str | None,
    typer.Option(
        "--api-base",
        help="Base URL of the server that answers the model, e.g. http://127.0.0.1:8000/v1 for a "
        "self-hosted OpenAI-compatible server (model: openai/<served name>; no key needed).",
    ),
]
RouterOpt = Annotated[
    Path | None,
    typer.Option(
        "--router",
        help="A LiteLLM Router file (JSON or YAML model_list): --model names one of its model_name "
        "groups, and calls spread over that group's deployments (see docs/models.md).",
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        help="Seconds one model call may take before it is retried as a timeout (default: 120); "
        "raise it for a slow server, e.g. a CPU serving long prompts.",
    ),
]
ConcurrencyOpt = Annotated[
    int | None, typer.Option(help="Calls in flight (default: 1 for local/, 8 otherwise).")
]
