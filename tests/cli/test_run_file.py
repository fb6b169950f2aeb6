"""Run files (``optimize --config``): keys are the option names, the command line overrides the
file, a bad file is a usage error that lists the keys; ``show RUN --config`` writes a file that
reads back to the same settings; and the next commands each command prints."""

from __future__ import annotations

import tomllib
from pathlib import Path

from promptopt.cli.next_steps import next_commands
from promptopt.cli.run_file import run_file_text
from promptopt.compose import OptimizeSettings
from promptopt.llm.budget import Budget
from promptopt.search.space import SearchSpace
from tests.conftest import Invoke


def test_values_come_from_the_file_and_flags_override_them(tmp_path: Path, invoke: Invoke) -> None:
    config = tmp_path / "run.toml"
    config.write_text('task = "banking77"\ndev-limit = 1\nmax_trials = 3\n')
    from_file = invoke("optimize", "--config", str(config))
    assert from_file.exit_code == 2 and "--dev-limit must be at least 2 (seen: 1)" in from_file.flat
    overridden = invoke("optimize", "--config", str(config), "--dev-limit", "4", "--test-limit", "0")
    assert overridden.exit_code == 2 and "--test-limit must be at least 1 (seen: 0)" in overridden.flat


def _plain(result: object) -> str:
    """typer's error box without its borders, whitespace collapsed."""
    return " ".join(str(getattr(result, "flat", "")).replace("│", " ").split())


def test_a_bad_run_file_lists_the_keys_it_may_hold(tmp_path: Path, invoke: Invoke) -> None:
    config = tmp_path / "run.toml"
    config.write_text("time-limt = 600\n")
    result = invoke("optimize", "banking77", "--config", str(config))
    assert result.exit_code == 2
    assert "unknown key 'time-limt'" in _plain(result) and "time-limit" in _plain(result)
    config.write_text("time-limit = \n")
    broken = invoke("optimize", "banking77", "--config", str(config))
    assert broken.exit_code == 2 and "is not a valid TOML run file" in _plain(broken)
    missing = invoke("optimize", "banking77", "--config", str(tmp_path / "none.toml"))
    assert missing.exit_code == 2 and "run file not found" in _plain(missing)


def test_a_task_is_needed_from_the_file_or_the_command_line(tmp_path: Path, invoke: Invoke) -> None:
    config = tmp_path / "run.toml"
    config.write_text("dev-limit = 40\n")
    result = invoke("optimize", "--config", str(config))
    assert result.exit_code == 2 and "optimize needs a task" in result.flat


def test_the_written_run_file_reads_back_to_the_settings(tmp_path: Path) -> None:
    settings = OptimizeSettings(
        task="tasks/tickets.toml",
        model="openai/served",
        budget=Budget(calls=300, seconds=600.0),
        dev_limit=None,
        test_limit=77,
        ceiling_resolution=0.07,
        space=SearchSpace(k_choices=(2, 4), retrievers=("word",), demo_strategies=("none", "retrieved")),
        api_base="http://127.0.0.1:8000/v1",
    )
    text = run_file_text(settings.to_json(), run=tmp_path / "r1")
    data = tomllib.loads(text)
    assert data == {
        "task": "tasks/tickets.toml", "model": "openai/served", "seed": 0, "dev-limit": 0, "test-limit": 77,
        "budget-calls": 300, "time-limit": 600.0, "ceiling-points": 7.0, "k-choices": [2, 4],
        "retrievers": ["word"], "demos": ["none", "retrieved"], "api-base": "http://127.0.0.1:8000/v1",
    }  # fmt: skip
    assert "# not options of optimize" in text


def test_next_commands_fill_in_the_paths() -> None:
    steps = dict(next_commands("optimize", run="runs/my run", task="tasks/t.toml", data_dir="/d"))
    assert steps["the plateau report"] == "promptopt report 'runs/my run' --data-dir /d"
    assert (
        steps["check the exported prompt"]
        == "promptopt verify 'runs/my run'/export/prompt.json tasks/t.toml --data-dir /d"
    )
    assert next_commands("export", run="r") == []  # no artifact path given: no half-filled command
    assert next_commands("runs") == []
