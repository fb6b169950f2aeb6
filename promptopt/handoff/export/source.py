"""A finished run, read from its folder for export: settings, summary, the winning candidate
and its per-example records. Nothing here calls a model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptopt.errors import DataError, StoreError, UsageError
from promptopt.prompt.candidate import Candidate
from promptopt.run.history import History
from promptopt.run.store import RunStore
from promptopt.task.spec import Task

SUMMARY_KEYS = ("best_candidate_id", "best_test_accuracy", "best_test_ci", "test_n")
RECORDED_SPLITS = ("dev", "test")

Row = dict[str, Any]


@dataclass(frozen=True)
class RunSource:
    """``records[split][example_id]``: the winner's stored evaluation rows."""

    path: Path
    info: Mapping[str, Any]
    summary: Mapping[str, Any]
    candidate: Candidate
    records: Mapping[str, Mapping[str, Row]]

    @property
    def settings(self) -> Mapping[str, Any]:
        settings: Mapping[str, Any] = self.info["settings"]
        return settings

    def task_ref(self) -> str:
        """The task file the run recorded when it still exists, else the task's name (a run
        folder copied to another machine finds its task by name)."""
        task_file = self.info.get("task_file")
        if task_file and Path(task_file).is_file():
            return str(task_file)
        return str(self.info["task"])


def open_run(path: Path) -> RunSource:
    """Read a finished run. Errors: no such folder or no run.json, a format version this
    promptopt does not read, a run that is not an optimization run, an unfinished run (no
    summary.json), a summary without a winner."""
    if not path.exists():
        raise StoreError(f"run folder {path} does not exist",
                         hint="pass a folder under runs/ (list them with: promptopt runs)")
    store = RunStore.open(path)
    info = store.read_json("run.json")
    if info.get("run_kind") != "optimize" or "settings" not in info:
        raise StoreError(f"run {path.name} is of kind {info.get('run_kind')!r}; only optimization runs can be exported",
                         hint="export a folder written by: promptopt optimize")
    if not store.has("summary.json"):
        raise UsageError(f"run {path.name} is unfinished: it has no summary.json yet",
                         hint=f"finish it with: promptopt resume {path}  (then export again)")
    summary = store.read_json("summary.json")
    missing = [key for key in SUMMARY_KEYS if key not in summary]
    if missing:
        raise StoreError(f"summary.json of run {path.name} lacks {', '.join(missing)}",
                         hint="the run was written by another promptopt version; re-run it with this one")
    history = History.load(store)
    candidate = _winner(history, summary, path)
    records = {split: dict(history.records.get((candidate.id, split), {})) for split in RECORDED_SPLITS}
    return RunSource(path=path, info=info, summary=summary, candidate=candidate, records=records)


def _winner(history: History, summary: Mapping[str, Any], path: Path) -> Candidate:
    best = str(summary["best_candidate_id"])
    if best in history.candidates:
        return history.candidates[best]
    stored = summary.get("best_candidate")
    if stored and Candidate.from_json(stored).id == best:
        return Candidate.from_json(stored)
    raise StoreError(f"run {path.name}: the best candidate {best} is in neither candidates.jsonl nor summary.json",
                     hint="the run folder is incomplete; restore it from a copy")


def check_same_data(task: Task, source: RunSource) -> None:
    """The task's data files must be the ones the run was scored on (their hashes)."""
    recorded: Mapping[str, str] = source.info.get("data_hashes") or {}
    changed = [split for split, digest in recorded.items() if task.data_hashes.get(split) != digest]
    if changed:
        seen = ", ".join(f"{s}: run {str(recorded[s])[:12]}…, now {str(task.data_hashes.get(s))[:12]}…" for s in changed)
        raise DataError(f"the data of task {task.name!r} differs from the data run {source.path.name} used ({seen})",
                        hint="pass --data-dir with the data the run was scored on (data_hashes in run.json)")
