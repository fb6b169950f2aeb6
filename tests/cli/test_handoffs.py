"""``promptopt export`` as a user meets it: the default artifact, no overwrite without
--force, and errors that say what and how to fix. (The report and finetune-spec commands are
tested with their hand-offs, on the runs those tests build once: tests/handoff/.)"""

from __future__ import annotations

import json
from pathlib import Path

from promptopt.production.artifact import read_artifact
from promptopt.testing import build_finished_run, load_tiny_task, write_tiny_task
from tests.conftest import RunCli
from tests.handoff.export_cases import CASES, hashed


def test_cli_export_writes_the_default_artifact_and_refuses_to_overwrite(
    tmp_path: Path, run_cli: RunCli
) -> None:
    write_tiny_task(tmp_path)
    task = load_tiny_task(tmp_path)
    run = build_finished_run(tmp_path / "run", task, CASES["fixed-turns"](task), hashed())
    first = run_cli("export", str(run), "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    artifact = run / "export" / "prompt.json"
    assert (
        read_artifact(artifact).candidate.demo_strategy == "fixed" and "promptopt verify" in first.stderr
    )  # the next steps
    before = artifact.read_bytes()
    again = run_cli("export", str(run), "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr
    assert artifact.read_bytes() == before
    forced = run_cli("export", str(run), "--force", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr


def test_cli_export_errors_say_what_and_how_to_fix(tmp_path: Path, run_cli: RunCli) -> None:
    data = str(tmp_path / "data")
    missing = run_cli("export", str(tmp_path / "no_run"), "--data-dir", data, cwd=tmp_path)
    assert (
        missing.returncode == 8 and "does not exist" in missing.stderr and "promptopt runs" in missing.stderr
    )
    write_tiny_task(tmp_path)
    task = load_tiny_task(tmp_path)
    unfinished = build_finished_run(tmp_path / "unfinished", task, CASES["fixed-turns"](task), hashed())
    (unfinished / "summary.json").unlink()
    proc = run_cli("export", str(unfinished), "--data-dir", data, cwd=tmp_path)
    assert proc.returncode == 2 and "unfinished" in proc.stderr and "promptopt resume" in proc.stderr
    old = build_finished_run(tmp_path / "old", task, CASES["fixed-turns"](task), hashed())
    info = json.loads((old / "run.json").read_text())
    (old / "run.json").write_text(json.dumps({**info, "format_version": 0}))
    proc = run_cli("export", str(old), "--data-dir", data, cwd=tmp_path)
    assert proc.returncode == 8 and "format version 0" in proc.stderr
    proc = run_cli("export", str(old), "--format", "yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "yaml" in proc.stderr
    assert not (unfinished / "export").exists() and not (old / "export").exists()
