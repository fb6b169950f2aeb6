"""Settings: where the task data is found."""

from __future__ import annotations

from pathlib import Path

from promptopt.settings import DATA_DIR_ENV, DEFAULT_DATA_DIR, resolve_data_dir


def test_resolve_data_dir_precedence(tmp_path: Path) -> None:
    env = {DATA_DIR_ENV: str(tmp_path / "from-env")}
    assert resolve_data_dir(tmp_path / "flag", env) == tmp_path / "flag"
    assert resolve_data_dir(None, env) == tmp_path / "from-env"
    assert resolve_data_dir(None, {}) == DEFAULT_DATA_DIR == Path("data")
    assert resolve_data_dir(None, {DATA_DIR_ENV: ""}) == Path("data")
