"""Resolved settings, built once by the CLI and passed down. Nothing here reads the
environment by itself: callers pass ``env`` explicitly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

VERSION = "0.1.0"  # promptopt.__version__; kept here so that no layer has to import the package root
DATA_DIR_ENV = "PROMPTOPT_DATA_DIR"
MODELS_DIR_ENV = "PROMPTOPT_MODELS_DIR"
DEFAULT_DATA_DIR = Path("data")
DEFAULT_CACHE_DIR = Path(".promptopt-cache")
PROJECT_TASKS_DIR = Path(__file__).resolve().parent.parent / "tasks"


@dataclass(frozen=True)
class Paths:
    data_dir: Path
    task_dirs: tuple[Path, ...]
    models_dir: Path
    cache_file: Path | None
    embed_dir: Path | None = None  # embeddings of retrieval pools (derived data, keyed by content)


def resolve_data_dir(flag: Path | None, env: Mapping[str, str]) -> Path:
    """``--data-dir``, then ``$PROMPTOPT_DATA_DIR``, then ``./data``."""
    if flag is not None:
        return flag
    if env.get(DATA_DIR_ENV):
        return Path(env[DATA_DIR_ENV])
    return DEFAULT_DATA_DIR


def resolve_paths(
    *,
    data_dir: Path | None,
    models_dir: Path | None,
    cache_dir: Path | None,
    use_cache: bool,
    env: Mapping[str, str],
    cwd: Path,
    default_models: Path,
) -> Paths:
    models = models_dir or (Path(env[MODELS_DIR_ENV]) if env.get(MODELS_DIR_ENV) else default_models)
    task_dirs = tuple(dict.fromkeys([cwd / "tasks", PROJECT_TASKS_DIR]))
    root = cache_dir or cwd / DEFAULT_CACHE_DIR
    cache = root / "completions.sqlite" if use_cache else None
    return Paths(
        data_dir=resolve_data_dir(data_dir, env),
        task_dirs=task_dirs,
        models_dir=models,
        cache_file=cache,
        embed_dir=root / "embeddings",
    )
