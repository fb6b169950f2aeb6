"""``promptopt init``: a task file from one data file, with the fields chosen by flags (or by
questions in a terminal), the split, the data survey and the next commands; and for each kind of
bad input a clear error, a non-zero exit and nothing written."""

from __future__ import annotations

import csv
import json
import os
import pty
import select
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from promptopt.cli.init import InitArgs, _init
from promptopt.task.load import load_task_data
from promptopt.task.spec import parse_task_file
from tests.conftest import Invoke

QUEUES = ["network", "hardware", "access"]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """init writes its run file in the current folder: keep it in the test's folder."""
    monkeypatch.chdir(tmp_path)


def _csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _tickets(n: int = 30) -> list[dict[str, str]]:
    return [
        {"id": str(i), "subject": f"ticket {i}", "body": f"details of ticket {i}", "queue": QUEUES[i % 3]}
        for i in range(n)
    ]


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_init_writes_a_task_that_loads(tmp_path: Path, invoke: Invoke) -> None:
    source = _csv(tmp_path / "tickets.csv", _tickets())
    out = tmp_path / "tasks" / "tickets.toml"
    result = invoke(
        "init", str(source), "--input", "subject", "--input", "body", "--label", "queue",
        "--layout", r"Subject: {subject}\n\n{body}", "--out", str(out), "--data-dir", str(tmp_path / "d"),
    )  # fmt: skip
    assert result.exit_code == 0, result.flat
    task = load_task_data(parse_task_file(out), data_dir=tmp_path / "d")
    assert task.labels == ("access", "hardware", "network")
    assert {s: len(task.split(s)) for s in ("train", "dev", "test")} == {"train": 18, "dev": 6, "test": 6}
    assert (
        task.split("dev")[0].text.startswith("Subject: ticket ")
        and "\n\ndetails of ticket" in task.split("dev")[0].text
    )
    for shown in ("30 examples, 3 classes", "train 18 / dev 6 / test 6", "fine-tuning wants 500+", "next:"):
        assert shown in result.flat, shown
    assert "promptopt optimize --config tickets.run.toml" in result.flat
    run_file = tomllib.loads((tmp_path / "tickets.run.toml").read_text())
    assert run_file == {
        "task": str(out),
        "model": "local/qwen2.5-0.5b-instruct",
        "time-limit": 600,
        "dev-limit": 6,
    }


def test_init_guesses_the_usual_column_names(tmp_path: Path, invoke: Invoke) -> None:
    rows = [{"text": r["body"], "label": r["queue"]} for r in _tickets()]
    source = tmp_path / "all.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "t.toml"
    result = invoke("init", str(source), "--out", str(out))
    assert result.exit_code == 0, result.flat
    spec = parse_task_file(out)
    assert (spec.input_fields, spec.label_field, spec.layout) == (("text",), "label", None)
    assert "guessed" in result.flat


def test_in_a_terminal_init_asks_for_what_flags_do_not_give(tmp_path: Path) -> None:
    source = _csv(tmp_path / "tickets.csv", _tickets())
    asked: list[str] = []
    answers = {"input column(s), comma-separated": "subject, body", "label column": "queue"}

    def ask(question: str, default: str) -> str:
        asked.append(question)
        return answers.get(question, default)

    out = tmp_path / "t.toml"
    _init(_args(str(source), out), ask)
    spec = parse_task_file(out)
    assert spec.input_fields == ("subject", "body") and spec.label_field == "queue"
    assert spec.layout == "Subject: {subject}\n\nBody: {body}"  # the default offered for two fields
    assert asked == ["input column(s), comma-separated", "label column", "layout (\\n for a new line)"]


def _args(source: str, out: Path, **changes: object) -> InitArgs:
    base = dict(
        source=source, inputs=(), label=None, layout=None, name=None, dev="0.2", test="0.2", seed=0,
        out_file=out, write_splits=None, fmt=None, force=False, data_dir=None,
    )  # fmt: skip
    return InitArgs(**{**base, **changes})  # type: ignore[arg-type]


def test_write_splits_writes_three_files_the_task_points_at(tmp_path: Path, invoke: Invoke) -> None:
    source = _csv(tmp_path / "tickets.csv", _tickets())
    out, folder = tmp_path / "t.toml", tmp_path / "data" / "tickets"
    result = invoke(
        "init", str(source), "--input", "body", "--label", "queue", "--out", str(out),
        "--write-splits", str(folder), "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    assert result.exit_code == 0, result.flat
    assert _files(folder) == {"train.jsonl", "dev.jsonl", "test.jsonl"}
    first = json.loads((folder / "dev.jsonl").read_text().splitlines()[0])
    assert set(first) == {"body", "queue"}
    spec = parse_task_file(out)
    assert (spec.data.dir, spec.data.train, spec.data.source) == ("tickets", "train.jsonl", None)
    task = load_task_data(spec, data_dir=tmp_path / "data")
    assert len(task.split("test")) == 6


@pytest.mark.parametrize(
    ("content", "flags", "message"),
    [
        (None, ["--input", "summary", "--label", "queue"], "has no column 'summary'"),
        ("one_class", ["--input", "body", "--label", "queue"], "has one class only ('network')"),
        ("empty", [], "is empty: no data rows"),
        ("json", [], "named .csv but holds JSON"),
        ("rare", ["--input", "body", "--label", "queue"], "fewer than 3 examples"),
        ("header", [], "is empty: no data rows"),
    ],
)
def test_bad_input_is_named_and_writes_nothing(
    tmp_path: Path, invoke: Invoke, content: str | None, flags: list[str], message: str
) -> None:
    source = tmp_path / "in" / "tickets.csv"
    source.parent.mkdir()
    rows = _tickets()
    if content == "one_class":
        rows = [{**r, "queue": "network"} for r in rows]
    if content == "rare":
        rows = [*rows, {**rows[0], "queue": "printing"}, {**rows[1], "queue": "printing"}]
    if content == "empty":
        source.write_text("")
    elif content == "header":
        source.write_text("subject,body,queue\n")
    elif content == "json":
        source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        _csv(source, rows)
    before = _files(tmp_path)
    result = invoke("init", str(source), *flags, "--out", str(tmp_path / "tasks" / "t.toml"), "--write-splits",
                    str(tmp_path / "splits"))  # fmt: skip
    assert result.exit_code != 0
    assert message in result.flat
    assert "fix:" in result.flat
    assert _files(tmp_path) == before  # nothing written, not even a folder's file


def test_an_existing_task_file_needs_force(tmp_path: Path, invoke: Invoke) -> None:
    source = _csv(tmp_path / "tickets.csv", _tickets())
    out = tmp_path / "t.toml"
    out.write_text("# mine\n")
    result = invoke("init", str(source), "--input", "body", "--label", "queue", "--out", str(out))
    assert result.exit_code == 2 and "already exists" in result.flat
    assert out.read_text() == "# mine\n"
    forced = invoke("init", str(source), "--input", "body", "--label", "queue", "--out", str(out), "--force")
    assert forced.exit_code == 0 and 'label = "queue"' in out.read_text()


def test_a_hub_name_offline_says_how_to_use_a_local_file(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = invoke(
        "init", "PolyAI/banking77", "--out", str(tmp_path / "t.toml"), "--data-dir", str(tmp_path)
    )
    assert result.exit_code == 4
    assert (
        "cannot fetch 'PolyAI/banking77' from the Hugging Face hub: offline (HF_HUB_OFFLINE is set)"
        in result.flat
    )
    assert "promptopt init path/to/file.csv" in result.flat
    assert _files(tmp_path) == set()


def test_bad_split_sizes_are_usage_errors(tmp_path: Path, invoke: Invoke) -> None:
    source = _csv(tmp_path / "tickets.csv", _tickets())
    result = invoke("init", str(source), "--dev", "0.7", "--test", "0.5", "--out", str(tmp_path / "t.toml"))
    assert result.exit_code == 2 and "leaving no train" in result.flat
    result = invoke("init", str(source), "--dev", "half", "--out", str(tmp_path / "t.toml"))
    assert result.exit_code == 2 and "--dev must be a fraction or a count (seen: 'half')" in result.flat


def test_an_existing_run_file_is_kept(tmp_path: Path, invoke: Invoke) -> None:
    source = _csv(tmp_path / "tickets.csv", _tickets())
    (tmp_path / "tickets.run.toml").write_text("# mine\n")
    result = invoke(
        "init", str(source), "--input", "body", "--label", "queue", "--out", str(tmp_path / "t.toml")
    )
    assert result.exit_code == 0, result.flat
    assert "kept the existing run file tickets.run.toml" in result.flat
    assert (tmp_path / "tickets.run.toml").read_text() == "# mine\n"


def test_in_a_real_terminal_init_asks_and_takes_the_answers_typed(tmp_path: Path) -> None:
    """The questions through a pseudo-terminal, as a person at a shell sees them: the process
    sees a TTY on stdin and stdout, prints each question with its default, and reads the line
    typed (an empty line takes the default)."""
    source = _csv(tmp_path / "tickets.csv", [{"title": r["subject"], **r} for r in _tickets()])
    out = tmp_path / "t.toml"
    typed = {"input column(s)": "title, body", "label column": "", "layout": r"T: {title}\n{body}"}
    screen = _in_terminal(
        [sys.executable, "-m", "promptopt.cli", "init", str(source), "--out", str(out)], typed, cwd=tmp_path
    )
    for question in typed:
        assert question in screen, screen
    assert "[queue]" in screen, screen  # the guessed label offered as the default
    spec = parse_task_file(out)
    assert spec.input_fields == ("title", "body") and spec.label_field == "queue"
    assert spec.layout == "T: {title}\n{body}"


def _in_terminal(argv: list[str], typed: dict[str, str], *, cwd: Path, timeout_s: float = 120) -> str:
    """Run ``argv`` on a pseudo-terminal; when a question of ``typed`` shows, type its answer.
    Returns everything the terminal showed; fails when the process does not end in time or
    ends with a non-zero code."""
    main, child = pty.openpty()
    proc = subprocess.Popen(argv, stdin=child, stdout=child, stderr=child, cwd=cwd, close_fds=True)
    os.close(child)
    screen, pending, deadline = "", dict(typed), time.monotonic() + timeout_s
    answered_at = 0  # a question counts only when it shows after the last answer typed
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            chunk = _read(main) if ready else b""
            screen += chunk.decode("utf-8", "replace")
            asked = next((q for q in pending if q in screen[answered_at:]), None)
            if asked is not None:
                os.write(main, (pending.pop(asked) + "\n").encode())
                answered_at = len(screen)
            if not chunk and proc.poll() is not None:
                break
        else:
            pytest.fail(f"no end within {timeout_s} s; the terminal showed:\n{screen}")
    finally:
        proc.kill() if proc.poll() is None else None
        os.close(main)
    assert proc.wait() == 0, screen
    return screen


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # the other side closed: the process ended
        return b""
