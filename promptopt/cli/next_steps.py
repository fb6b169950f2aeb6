"""What to run next: every command that finishes prints the commands that naturally follow it,
with the paths of what it just made filled in (on standard error, so piped output stays clean)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from promptopt.cli.app import err
from promptopt.settings import resolve_data_dir

_FOLLOW: dict[str, tuple[tuple[str, str], ...]] = {
    "init": (
        ("score the zero-shot prompt on 50 dev examples", "promptopt eval {task} --limit 50{dd}"),
        (
            "optimize with the run file (10 minutes on the embedded model)",
            "promptopt optimize --config {run_file}{dd}",
        ),
    ),
    "eval": (("optimize the prompt", "promptopt optimize {task} --time-limit 600{dd}"),),
    "optimize": (
        ("the plateau report", "promptopt report {run}{dd}"),
        ("ship the best prompt", "promptopt export {run}{dd}"),
        ("check the exported prompt", "promptopt verify {run}/export/prompt.json {task}{dd}"),
        ("the fine-tuning spec and verdict", "promptopt finetune-spec {run}{dd}"),
        ("the run file that reproduces this run", "promptopt show {run} --config"),
    ),
    "report": (
        ("open the report", "{open} {out}/report.html"),
        ("ship the best prompt", "promptopt export {run}{dd}"),
        ("the fine-tuning spec and verdict", "promptopt finetune-spec {run}{dd}"),
    ),
    "export": (
        ("check it on the test split", "promptopt verify {artifact} {task}{dd}"),
        (
            "classify a file of inputs",
            "promptopt predict {artifact} --input inputs.jsonl --out predictions.jsonl",
        ),
    ),
    "finetune-spec": (
        ("read the proposal and its verdict", "less {out}/proposal.md"),
        ("the plateau report", "promptopt report {run}{dd}"),
    ),
    "verify": (
        (
            "classify a file of inputs",
            "promptopt predict {artifact} --input inputs.jsonl --out predictions.jsonl",
        ),
    ),
}


def next_commands(command: str, *, data_dir: str | None = None, **paths: str) -> list[tuple[str, str]]:
    """``(why, command line)`` pairs that follow ``command``; paths are shell-quoted."""
    values = {k: shlex.quote(v) for k, v in paths.items()}
    values["dd"] = f" --data-dir {shlex.quote(data_dir)}" if data_dir else ""
    values.setdefault("open", "xdg-open")
    steps = []
    for why, line in _FOLLOW.get(command, ()):
        try:
            steps.append((why, line.format(**values)))
        except KeyError:  # a step that needs a path this command did not make
            continue
    return steps


def print_next(command: str, *, data_dir: str | None = None, **paths: str) -> None:
    steps = next_commands(command, data_dir=data_dir, **paths)
    if not steps:
        return
    err.print("[bold]next:[/]", highlight=False)
    width = max(len(why) for why, _ in steps)
    for why, line in steps:
        err.print(f"  {why:<{width}}  [cyan]{line}[/]", highlight=False, soft_wrap=True)


def data_dir_flag(data_dir: Path) -> str | None:
    """The ``--data-dir`` the next commands need: none when they would find it by themselves."""
    return None if resolve_data_dir(None, os.environ) == data_dir else str(data_dir)
