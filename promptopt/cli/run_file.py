"""Run files: ``optimize --config run.toml`` takes its options from a TOML file whose keys are
the option names (``time-limit = 600``, ``dev-limit = 40``, ``model = "..."``; ``task`` may be
given there too), and ``show RUN --config`` prints the file that reproduces a finished run.

Options given on the command line override the file: the file only fills click's defaults.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import typer

_NOT_IN_FILE = {"config", "help"}


def load_run_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Eager ``--config`` callback: the file's values become the command's defaults."""
    if value is None:
        return None
    data = _read(value)
    known = {p.name: p for p in ctx.command.params if p.name and p.name not in _NOT_IN_FILE}
    defaults: dict[str, Any] = {}
    for key, item in data.items():
        name = key.replace("-", "_")
        if name not in known:
            options = ", ".join(sorted(n.replace("_", "-") for n in known))
            raise typer.BadParameter(f"{value}: unknown key {key!r} (keys a run file may hold: {options})")
        defaults[name] = _cli_value(key, item, value)
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


def _read(path: Path) -> Mapping[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as exc:
        raise typer.BadParameter(f"run file not found: {path}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"{path} is not a valid TOML run file: {exc}") from exc


def _cli_value(key: str, item: Any, path: Path) -> Any:
    """A file value as the option takes it: lists become comma-separated text."""
    if isinstance(item, list):
        return ",".join(str(v) for v in item)
    if isinstance(item, dict):
        raise typer.BadParameter(f"{path}: {key} must be a single value or a list (seen a table)")
    return item


def run_file_text(settings: Mapping[str, Any], *, run: Path) -> str:
    """The run file of ``settings`` (run.json's), with the values the command line cannot set
    noted as comments."""
    budget, space = settings.get("budget") or {}, settings.get("space") or {}
    values: dict[str, Any] = {
        "task": settings["task"],
        "model": settings["model"],
        "proposer-model": settings.get("proposer_model"),
        "seed": settings.get("seed", 0),
        "dev-limit": settings.get("dev_limit") or 0,
        "test-limit": settings.get("test_limit"),
        "max-trials": settings.get("max_trials"),
        "budget-calls": budget.get("calls"),
        "budget-tokens": budget.get("tokens"),
        "budget-usd": budget.get("usd"),
        "time-limit": budget.get("seconds"),
        "max-prompt-tokens": settings.get("max_prompt_tokens"),
        "ceiling-points": round(100 * float(settings.get("ceiling_resolution", 0.05)), 6),
        "k-choices": list(space.get("k_choices") or []) or None,
        "retrievers": list(space.get("retrievers") or []) or None,
        "demos": list(space.get("demo_strategies") or []) or None,
        "api-base": settings.get("api_base"),
        "router": settings.get("router"),
        "timeout": settings.get("timeout_s"),
    }
    lines = [f"# the settings of run {run.name}; reproduce it with: promptopt optimize --config FILE"]
    lines += [f"{key} = {json.dumps(v)}" for key, v in values.items() if v is not None]
    fixed = {k: settings.get(k) for k in ("first_rung", "concurrency", "temperature") if k in settings}
    lines.append(f"# not options of optimize (their defaults were used): {json.dumps(fixed)}")
    return "\n".join(lines) + "\n"


def starter_run_file(task: str, *, model: str, dev_size: int) -> str:
    """The run file ``init`` writes beside a new task: a 10-minute run on the whole dev split
    (up to 200 examples), with the other common keys as comments."""
    return (
        "\n".join(
            [
                "# promptopt optimize --config THIS_FILE; options on the command line override these",
                f"task = {json.dumps(task)}",
                f"model = {json.dumps(model)}",
                "time-limit = 600             # seconds; or budget-calls, budget-tokens, budget-usd",
                f"dev-limit = {min(200, dev_size)}             # dev examples the search scores on (0 = all)",
                "# test-limit = 300          # test examples for the final scoring (default: all)",
                '# retrievers = ["minilm", "char", "word"]',
                '# demos = ["none", "stratified", "retrieved"]',
                "# k-choices = [4, 10, 16]",
                "# ceiling-points = 5",
            ]
        )
        + "\n"
    )
