"""The optimize / resume / runs / show commands as a user meets them, on the real embedded
model (small slices): Ctrl-C mid-run, resume to the end, a complete run folder, and clear
errors for bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import RunCli


def _wait_for(path: Path, text: str, proc: subprocess.Popen[str], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and text in path.read_text():
            return
        if proc.poll() is not None:
            raise AssertionError(
                f"the run ended early (rc {proc.returncode}): {proc.stderr.read() if proc.stderr else ''}"
            )
        time.sleep(0.5)
    raise AssertionError(f"{text!r} never appeared in {path}")


@pytest.mark.model
def test_ctrl_c_then_resume_finishes_the_run_without_repeating_work(
    data_dir: Path, tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    run = tmp_path / "run"
    args = [
        "optimize",
        "banking77",
        "--data-dir",
        str(data_dir.resolve()),
        "--dev-limit",
        "10",
        "--test-limit",
        "6",
        "--max-trials",
        "4",
        "--k-choices",
        "2",
        "--retrievers",
        "word,char",
        "--run-dir",
        str(run),
        "--no-cache",
    ]
    # as from a terminal: SIGINT not ignored, even when the tests run from a background job
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptopt.cli", *args],
        cwd=tmp_path,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for(run / "events.jsonl", '"event":"evaluated"', proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    stderr = " ".join(stderr.split())
    assert proc.returncode == 130, stderr
    assert "promptopt resume" in stderr and not (run / "summary.json").exists()
    # before the first call: what 10 dev examples resolve, and the dev size a 5-point ceiling needs
    assert "ceiling outlook: at 10 dev examples the plateau test will likely resolve gains of about" in stderr
    assert "will read 'ceiling not resolved'; about 742 dev examples would resolve 5 points" in stderr

    unfinished = run_cli("show", str(run), cwd=tmp_path)
    assert unfinished.returncode == 0 and "unfinished" in unfinished.stdout

    resumed = run_cli("resume", str(run), "--data-dir", str(data_dir.resolve()), "--no-cache", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stop_reason"] == "max-trials" and summary["test_n"] == 6
    assert summary["best_test_accuracy"] is not None and summary["baseline_test_accuracy"] is not None
    rows = [json.loads(line) for line in (run / "evaluations.jsonl").read_text().splitlines()]
    assert max(Counter((r["candidate_id"], r["split"], r["example_id"]) for r in rows).values()) == 1
    ledger = (run / "ledger.jsonl").read_text().splitlines()
    assert len(ledger) == summary["calls"]

    again = run_cli("resume", str(run), "--data-dir", str(data_dir.resolve()), cwd=tmp_path)
    assert again.returncode == 2 and "finished" in again.stderr
    listed = run_cli("runs", str(tmp_path), cwd=tmp_path)
    assert listed.returncode == 0 and "finished" in listed.stdout
    shown = run_cli("show", str(run), "--json", cwd=tmp_path)
    assert json.loads(shown.stdout)["best_candidate_id"] == summary["best_candidate_id"]


def test_resume_of_a_folder_that_is_not_a_run_exits_8(tmp_path: Path, run_cli: RunCli) -> None:
    (tmp_path / "nope").mkdir()  # a folder, but without run.json
    proc = run_cli("resume", str(tmp_path / "nope"), cwd=tmp_path)
    assert proc.returncode == 8 and "not a run folder" in proc.stderr
    missing = run_cli("resume", str(tmp_path / "nowhere"), cwd=tmp_path)  # one run reader: as export says it
    assert (
        missing.returncode == 8 and "does not exist" in missing.stderr and "promptopt runs" in missing.stderr
    )


def test_bad_optimize_flags_exit_2_before_any_work(data_dir: Path, tmp_path: Path, run_cli: RunCli) -> None:
    for flags, needle in (
        (["--k-choices", "4,x"], "--k-choices"),
        (["--retrievers", "bm25"], "--retrievers"),
        (["--demos", "fixed"], "--demos"),
        (["--budget-calls", "0"], "budget calls"),
        (["--dev-limit", "1"], "--dev-limit"),
        (["--ceiling-points", "0"], "--ceiling-points must be between 0 and 100"),
    ):
        proc = run_cli(
            "optimize",
            "banking77",
            "--data-dir",
            str(data_dir.resolve()),
            "--run-dir",
            str(tmp_path / "r"),
            *flags,
            cwd=tmp_path,
        )
        assert proc.returncode == 2, (flags, proc.stderr)
        assert needle in proc.stderr, (flags, proc.stderr)
        assert not (tmp_path / "r").exists()


def test_an_unknown_model_exits_5_and_leaves_no_run_folder(
    data_dir: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    proc = run_cli(
        "optimize",
        "banking77",
        "--data-dir",
        str(data_dir.resolve()),
        "--model",
        "local/no-such-model",
        "--run-dir",
        str(tmp_path / "r"),
        cwd=tmp_path,
    )
    assert proc.returncode == 5 and "no-such-model" in proc.stderr
    assert not (tmp_path / "r").exists()
