"""``--timeout``: the seconds one model call may take. Over HTTP, through the fault proxy in
front of a scripted OpenAI-compatible server: a response held for 30 s is given up after the
timeout and retried (so ``eval`` ends in seconds, answered), a bad value is refused before any
call, and an optimize run records the timeout so that resume calls the same way."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptopt import compose
from promptopt.errors import UsageError
from promptopt.settings import Paths
from promptopt.testing import topic_answers, write_tiny_task
from tests.servers import FaultProxy, ScriptedServer

REPO = Path(__file__).resolve().parents[2]
HOLD_S = 30.0


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_task(tmp_path_factory.mktemp("task"), n_dev=8, n_test=8)


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(topic_answers()) as scripted:
        yield scripted


def _promptopt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promptopt.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_a_held_call_is_given_up_after_the_timeout_and_retried(
    task: Path, server: ScriptedServer, tmp_path: Path
) -> None:
    first_held = lambda n: "timeout" if n == 0 else "ok"  # noqa: E731
    with FaultProxy(server.port, first_held, hold_s=HOLD_S) as proxy:
        started = time.monotonic()
        proc = _promptopt(
            "eval", str(task), "--data-dir", str(task.parents[1] / "data"), "--model", "openai/served",
            "--api-base", proxy.base_url, "--limit", "4", "--concurrency", "1", "--timeout", "2",
            "--no-cache", "--records", str(tmp_path / "records.jsonl"),
        )  # fmt: skip
        took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == ["ok"] * 4  # the held call was made again and answered
    assert proxy.served["timeout"] == 1 and took < HOLD_S  # given up at 2 s, not after the 30 s hold


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_timeout_that_is_not_positive_is_refused_before_any_call(task: Path, value: str) -> None:
    proc = _promptopt(
        "eval", str(task), "--data-dir", str(task.parents[1] / "data"), "--model", "openai/served",
        "--api-base", "http://127.0.0.1:9/v1", "--limit", "1", f"--timeout={value}",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--timeout must be more than 0 seconds" in proc.stderr and value in proc.stderr


def test_an_optimize_run_records_its_timeout_and_resume_may_change_it(
    task: Path, server: ScriptedServer, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    data = str(task.parents[1] / "data")
    proc = _promptopt(
        "optimize", str(task), "--data-dir", data, "--model", "openai/served", "--api-base", server.base_url,
        "--dev-limit", "8", "--test-limit", "8", "--budget-calls", "40", "--retrievers", "word",
        "--timeout", "45", "--run-dir", str(run), "--no-cache",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    settings = json.loads((run / "run.json").read_text())["settings"]
    assert settings["timeout_s"] == 45.0
    refused = _promptopt("resume", str(run), "--data-dir", data, "--budget-calls", "80", "--timeout", "0")
    assert refused.returncode == 2 and "--timeout must be more than 0" in refused.stderr
    assert json.loads((run / "run.json").read_text())["settings"] == settings  # nothing written


def test_settings_without_a_timeout_write_as_before_and_a_gateway_takes_it(tmp_path: Path) -> None:
    plain = compose.OptimizeSettings(task="t", model="openai/x")
    assert "timeout_s" not in plain.to_json()  # older run.json files stay as they were
    timed = compose.OptimizeSettings(task="t", model="openai/x", timeout_s=600.0)
    assert compose.OptimizeSettings.from_json(timed.to_json()) == timed
    paths = Paths(data_dir=tmp_path, task_dirs=(), models_dir=tmp_path, cache_file=None)
    assert compose.make_gateway(paths, timeout_s=600.0).timeout_s == 600.0
    assert compose.make_gateway(paths).timeout_s == 120.0
    with pytest.raises(UsageError, match="seen: 0"):
        compose.make_gateway(paths, timeout_s=0)
