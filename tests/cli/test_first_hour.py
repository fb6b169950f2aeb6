"""A new user's first hour, on the embedded model (small slices): one CSV export of tickets with
subject, body and queue columns (made here from the shared it_service_tickets data: the subject
is a ticket's first words, the body the rest) goes through ``init``, ``eval``, ``optimize
--config``, ``show --config``, ``report``, ``export`` and ``predict``, with no file written by
hand but the CSV and the inputs to classify: ``init`` writes the task file and the run file."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import REPO, RunCli

pytestmark = pytest.mark.model


def _tickets_csv(data_dir: Path, path: Path, n: int = 160) -> list[dict[str, str]]:
    """The README's way to a CSV export: ``scripts/tickets_csv.py``."""
    source = data_dir / "it_service_tickets" / "train.jsonl"
    subprocess.run([sys.executable, str(REPO / "scripts" / "tickets_csv.py"), str(source), str(path), "--rows", str(n)],
                   check=True, capture_output=True)  # fmt: skip
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_from_one_csv_to_a_shipped_prompt(data_dir: Path, tmp_path: Path, run_cli: RunCli) -> None:
    rows = _tickets_csv(data_dir, tmp_path / "tickets.csv")
    init = run_cli(
        "init", "tickets.csv", "--input", "subject", "--input", "body", "--label", "queue",
        "--layout", r"Subject: {subject}\n\n{body}", cwd=tmp_path,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    task = "tasks/tickets.toml"
    assert (tmp_path / task).is_file() and "promptopt eval tasks/tickets.toml --limit 50" in init.stderr
    assert f"{len(rows)} examples, {len(Counter(r['queue'] for r in rows))} classes" in " ".join(
        init.stdout.split()
    )

    scored = run_cli("eval", task, "--limit", "4", "--no-cache", cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr
    assert "promptopt optimize tasks/tickets.toml" in scored.stderr

    assert "promptopt optimize --config tickets.run.toml" in init.stderr  # init wrote the run file
    optimized = run_cli(
        "optimize", "--config", "tickets.run.toml", "--dev-limit", "8", "--test-limit", "6", "--max-trials", "2",
        "--retrievers", "word", "--k-choices", "2", "--demos", "none,retrieved", "--run-dir", "run", cwd=tmp_path,
    )  # fmt: skip
    assert optimized.returncode == 0, optimized.stderr
    settings = json.loads((tmp_path / "run" / "run.json").read_text())["settings"]
    assert (settings["task"], settings["budget"]["seconds"]) == (task, 600)  # from the run file
    assert (settings["max_trials"], settings["dev_limit"], settings["test_limit"]) == (2, 8, 6)  # flags win
    assert settings["space"]["retrievers"] == ["word"]
    assert "promptopt report run" in optimized.stderr and "promptopt show run --config" in optimized.stderr
    assert "time outlook: at the pace so far" in optimized.stderr  # the run file's time limit, priced
    assert "--time-limit 600 " in optimized.stderr.split("time outlook:")[1].splitlines()[0]

    shown = run_cli("show", "run", "--config", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    again = tomllib.loads(shown.stdout)
    assert (again["task"], again["max-trials"], again["dev-limit"], again["k-choices"]) == (task, 2, 8, [2])

    report = run_cli("report", "run", "--no-ablations", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "run" / "report" / "report.html").is_file()

    exported = run_cli("export", "run", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    artifact = json.loads((tmp_path / "run" / "export" / "prompt.json").read_text())
    assert artifact["task"]["input_fields"] == ["subject", "body"]
    assert artifact["task"]["layout"] == "Subject: {subject}\n\n{body}"
    assert "promptopt verify run/export/prompt.json tasks/tickets.toml" in exported.stderr
    plain = run_cli("export", "run", "--format", "plain", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    request = json.loads((tmp_path / "run" / "export" / "plain" / "request.json").read_text())
    assert "{input}" in json.dumps(request["messages"]) and request["temperature"] == 0.0
    assert "Subject: {subject}" in (tmp_path / "run" / "export" / "plain" / "README.md").read_text()

    inputs = tmp_path / "new.jsonl"
    inputs.write_text(
        "".join(json.dumps({"subject": r["subject"], "body": r["body"]}) + "\n" for r in rows[:3])
    )
    predicted = run_cli("predict", "run/export/prompt.json", "--input", "new.jsonl", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    answers = [json.loads(line) for line in predicted.stdout.splitlines()]
    labels = set(artifact["labels"])
    assert len(answers) == 3 and all(a["prediction"] in labels for a in answers if a["status"] == "ok")
    assert "0 failed calls" in predicted.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "no subject here"}) + "\n")
    refused = run_cli("predict", "run/export/prompt.json", "--input", "bad.jsonl", cwd=tmp_path)
    assert refused.returncode == 4 and "has no field 'subject'" in refused.stderr
