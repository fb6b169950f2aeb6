"""A task on disk and two finished runs of the real optimizer on it, over the fake topic
completer: one that reaches its plateau (the flat landscape) and a short one that stops at
``max-trials``. The report and the fine-tuning spec read them (see the ``world`` fixture)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from promptopt import compose
from promptopt.compose import OptimizeSettings
from promptopt.run.store import RunStore
from promptopt.settings import Paths
from promptopt.task.spec import Task
from promptopt.testing import FakeCompleter, fake_optimizer, new_run_store, topic_answers, write_tiny_task


@dataclass(frozen=True)
class Recipe:
    """How a test module wants its world: the task's rows, the run settings, the trials of
    the two runs, and whether the runs end as ``promptopt optimize`` ends them (which writes
    the fine-tuning spec after a plateau) or with the optimizer alone."""

    name: str
    rows: Mapping[str, Sequence[tuple[str, str]]]
    settings: OptimizeSettings
    short_trials: int
    plateau_trials: int = 60
    through_cli: bool = False


@dataclass(frozen=True)
class World:
    root: Path
    data_dir: Path
    paths: Paths
    task: Task
    plateau_run: Path
    short_run: Path


def build_world(root: Path, recipe: Recipe) -> World:
    task_file = write_tiny_task(root, rows=recipe.rows)
    paths = Paths(data_dir=root / "data", task_dirs=(), models_dir=root / "models", cache_file=None)
    task = compose.load(str(task_file), paths)
    finish = _through_cli if recipe.through_cli else _optimize
    plateau, short = root / "runs" / "plateau", root / "runs" / "short"
    settings = recipe.settings
    finish(
        task,
        replace(settings, max_trials=recipe.plateau_trials),
        paths,
        plateau,
        FakeCompleter(topic_answers(flat=True)),
    )
    finish(
        task, replace(settings, max_trials=recipe.short_trials), paths, short, FakeCompleter(topic_answers())
    )
    return World(root, root / "data", paths, task, plateau, short)


def _optimize(task: Task, settings: OptimizeSettings, paths: Paths, path: Path, fake: FakeCompleter) -> None:
    fake_optimizer(new_run_store(path, task, settings), task, settings, fake).optimizer.run()


def _through_cli(
    task: Task, settings: OptimizeSettings, paths: Paths, path: Path, fake: FakeCompleter
) -> None:
    """A run as `promptopt optimize` finishes it (cli.runs._run_optimizer), on the fake completer."""
    from promptopt.cli import runs as cli

    def fake_open(
        task: Task, settings: OptimizeSettings, paths: Paths, store: RunStore, *, env: Any, observers: Any
    ) -> compose.OptimizeRun:
        return fake_optimizer(store, task, settings, fake, observers=observers)

    store = new_run_store(path, task, settings)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compose, "open_optimize", fake_open)
        cli._run_optimizer(task, settings, paths, store)
