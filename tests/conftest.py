"""Shared fixtures. Tests never need an API key or the network; tests marked ``model`` run
the real embedded model on small slices. The test doubles (fake completers, the tiny task,
finished runs) are in :mod:`promptopt.testing`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ModelServer

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LOCAL_MODEL = "local/qwen2.5-0.5b-instruct"

RunCli = Callable[..., subprocess.CompletedProcess[str]]
Invoke = Callable[..., Any]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared datasets: $PROMPTOPT_DATA_DIR, else ../shared/data beside the repo."""
    path = Path(os.environ.get("PROMPTOPT_DATA_DIR") or REPO.parent / "shared" / "data")
    if not (path / "banking77" / "train.jsonl").is_file():
        pytest.skip(f"shared datasets not found at {path} (set PROMPTOPT_DATA_DIR)")
    return path


@pytest.fixture(autouse=True)
def _no_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must pass on a machine with no API key, so none leaks in from the shell."""
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OLLAMA_API_BASE"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def cli_env() -> dict[str, str]:
    """The environment of a child ``promptopt`` process: this one's, without API keys."""
    return {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}


@pytest.fixture
def run_cli(cli_env: dict[str, str]) -> RunCli:
    """``python -m promptopt.cli ARGS`` in a child process, as a user runs it (from ``cwd``,
    the repository by default). Its stderr comes back with whitespace collapsed: rich wraps
    long messages at the terminal width."""

    def run(
        *args: str, cwd: Path = REPO, env: Mapping[str, str] | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "promptopt.cli", *args],
            cwd=cwd,
            env={**cli_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        proc.stderr = " ".join(proc.stderr.split())
        return proc

    return run


@pytest.fixture
def invoke() -> Invoke:
    """The command line in this process (typer's runner), so monkeypatched doors apply. The
    result also has ``flat``: its output and stderr with whitespace collapsed."""

    def run(*args: str) -> Any:
        from typer.testing import CliRunner

        from promptopt.cli import app

        result = CliRunner().invoke(app, list(args))
        result.flat = " ".join((result.output + (result.stderr if result.stderr_bytes else "")).split())
        return result

    return run


@pytest.fixture(scope="session")
def model_server() -> Iterator[ModelServer]:
    """The embedded model behind llama-cpp-python's OpenAI-compatible server on 127.0.0.1,
    started once for the session and stopped after: reach it as ``openai/served`` with
    ``--api-base model_server.base_url``."""
    from promptopt.llm import local

    path = local.resolve(DEFAULT_LOCAL_MODEL, local.default_models_dir()).path
    with ModelServer(path, alias="served") as server:
        yield server
