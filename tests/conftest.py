"""Shared fixtures. Tests never need an API key or the network; tests marked ``model`` run
the real embedded model on small slices."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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
