"""The one reader of a finished run folder: run.json, summary.json, the history and the ledger,
checked once and returned as typed values. ``show``, ``runs``, export, the report and the
fine-tuning spec all read runs through here; none of them calls a model to do so."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptopt.errors import DataError, StoreError, UsageError
from promptopt.evaluate.evaluator import ExampleRecord
from promptopt.prompt.candidate import Candidate
from promptopt.run.history import History
from promptopt.run.store import RunStore
from promptopt.run.summary import RunSummary
from promptopt.settings import Paths
from promptopt.task.load import load_task
from promptopt.task.spec import Example, Task


@dataclass(frozen=True)
class RunInfo:
    """``run.json``: what the run was asked to do. ``settings`` is the optimize settings as
    stored (the composition root rebuilds them for ``resume``); the properties read the ones a
    reader needs."""

    run_id: str
    run_kind: str | None
    task: str
    task_file: str | None
    settings: Mapping[str, Any]
    versions: Mapping[str, str | None]
    data_hashes: Mapping[str, str]
    dev_ids: tuple[str, ...]
    test_ids: tuple[str, ...]
    format_version: int | None = None

    def ids(self, split: str) -> tuple[str, ...]:
        """The run's example ids of ``split`` (dev or test), in run order."""
        return {"dev": self.dev_ids, "test": self.test_ids}.get(split, ())

    @staticmethod
    def from_json(data: Mapping[str, Any], path: Path) -> RunInfo:
        return RunInfo(
            run_id=str(data.get("run_id") or path.name),
            run_kind=data.get("run_kind"),
            task=str(data.get("task", "?")),
            task_file=data.get("task_file"),
            settings=dict(data.get("settings") or {}),
            versions=dict(data.get("versions") or {}),
            data_hashes=dict(data.get("data_hashes") or {}),
            dev_ids=tuple(str(i) for i in data.get("dev_ids", ())),
            test_ids=tuple(str(i) for i in data.get("test_ids", ())),
            format_version=data.get("format_version"),
        )

    @property
    def model(self) -> str:
        return str(self.settings.get("model", "?"))

    @property
    def api_base(self) -> str | None:
        """The server of a self-hosted task model (``--api-base``), if the run named one."""
        value = self.settings.get("api_base")
        return None if value is None else str(value)

    @property
    def timeout_s(self) -> float | None:
        """Seconds one call attempt could take (``--timeout``), if the run set it."""
        value = self.settings.get("timeout_s")
        return None if value is None else float(value)

    @property
    def seed(self) -> int:
        return int(self.settings.get("seed", 0))

    @property
    def temperature(self) -> float:
        return float(self.settings.get("temperature", 0.0))

    @property
    def concurrency(self) -> int | None:
        value = self.settings.get("concurrency")
        return None if value is None else int(value)

    def task_ref(self) -> str:
        """The task file the run recorded when it still exists, else the task's name (a run
        folder copied to another machine finds its task by name)."""
        if self.task_file and Path(self.task_file).is_file():
            return self.task_file
        return self.task


@dataclass(frozen=True)
class Latency:
    """Seconds per model call: mean and 95th percentile over ``calls`` live (not cached,
    successful) calls. Both are NaN when there is no such call."""

    calls: int
    mean_s: float
    p95_s: float


@dataclass(frozen=True)
class FinishedRun:
    """A run folder with a summary: its settings, summary, history, winner and baseline."""

    path: Path
    store: RunStore
    info: RunInfo
    summary: RunSummary
    history: History
    best: Candidate
    baseline: Candidate | None

    @property
    def run_id(self) -> str:
        return self.info.run_id

    def test_rows(self, candidate: Candidate | None) -> tuple[ExampleRecord, ...]:
        """``candidate``'s evaluation rows on the run's test examples, in run order."""
        if candidate is None:
            return ()
        return tuple(self.history.rows(candidate.id, "test", self.info.test_ids))

    @property
    def best_test_rows(self) -> tuple[ExampleRecord, ...]:
        return self.test_rows(self.best)

    @property
    def scored_test_ids(self) -> tuple[str, ...]:
        """The run's test ids its best prompt was scored on, in run order: all of them, unless
        the budget ran short in the final scoring (then what the winner's test score is on,
        the examples every hand-off compares on)."""
        scored = {r.example_id for r in self.best_test_rows}
        return tuple(i for i in self.info.test_ids if i in scored) or self.info.test_ids

    @property
    def baseline_test_rows(self) -> tuple[ExampleRecord, ...]:
        return self.test_rows(self.baseline)

    def require_test_score(self) -> None:
        """Raises UsageError when the best prompt has no test score (the budget ran out)."""
        if self.summary.best_test_accuracy is None:
            raise UsageError(
                f"run {self.path} has no test score for its best prompt "
                f"(test scoring incomplete: {self.summary.test_incomplete!r})",
                hint="start a new run with a budget that leaves room for the final test scoring",
            )

    def task_latency(self) -> Latency:
        """Latency of the task model's live calls (proposer calls and cache hits left out)."""
        return ledger_latency(self.store.read("ledger"))


def open_store(path: Path) -> RunStore:
    """A run folder's store; StoreError when the folder does not exist or is not a run."""
    if not path.exists():
        raise StoreError(
            f"run folder {path} does not exist",
            hint="pass a folder under runs/ (list them with: promptopt runs)",
        )
    return RunStore.open(path)


def read_info(store: RunStore) -> RunInfo:
    return RunInfo.from_json(store.read_json("run.json"), store.path)


def read_summary(store: RunStore) -> RunSummary | None:
    """The summary, or None while the run is unfinished."""
    return RunSummary.from_json(store.read_json("summary.json")) if store.has("summary.json") else None


def open_finished(path: Path) -> FinishedRun:
    """Read a finished optimization run. Errors: no such folder or no run.json, a format
    version this promptopt does not read (StoreError); a folder of another kind (StoreError);
    an unfinished run, without summary.json (UsageError); a winner in neither
    candidates.jsonl nor the summary (StoreError)."""
    store = open_store(path)
    info = read_info(store)
    if info.run_kind != "optimize" or not info.settings:
        raise StoreError(
            f"run {path.name} is of kind {info.run_kind!r}; only optimization runs can be read",
            hint="pass a folder written by: promptopt optimize",
        )
    summary = read_summary(store)
    if summary is None:
        raise UsageError(
            f"run {path} is unfinished: it has no summary.json yet",
            hint=f"finish it first with: promptopt resume {path}",
        )
    history = History.load(store)
    return FinishedRun(
        path=path,
        store=store,
        info=info,
        summary=summary,
        history=history,
        best=_winner(history, summary, path),
        baseline=history.candidates.get(summary.baseline_candidate_id),
    )


def _winner(history: History, summary: RunSummary, path: Path) -> Candidate:
    best = summary.best_candidate_id
    if best in history.candidates:
        return history.candidates[best]
    if summary.best_candidate.id == best:
        return summary.best_candidate
    raise StoreError(
        f"run {path.name}: the best candidate {best} is in neither candidates.jsonl nor summary.json",
        hint="the run folder is incomplete; restore it from a copy",
    )


def ledger_latency(rows: Iterable[Mapping[str, Any]]) -> Latency:
    import numpy as np

    values = [
        float(r["latency_s"])
        for r in rows
        if r.get("role") == "task" and not r.get("cached") and r.get("status", "ok") == "ok"
    ]
    if not values:
        return Latency(calls=0, mean_s=float("nan"), p95_s=float("nan"))
    return Latency(calls=len(values), mean_s=float(np.mean(values)), p95_s=float(np.percentile(values, 95)))


def check_same_data(task: Task, recorded: Mapping[str, str], *, run_name: str) -> None:
    """The task's data files must be the ones the run was scored on (the hashes it recorded).
    Raises DataError naming each changed split."""
    if dict(task.data_hashes) == dict(recorded):
        return
    splits = sorted(set(recorded) | set(task.data_hashes))
    seen = ", ".join(
        f"{s}: run {str(recorded.get(s))[:12]}…, now {str(task.data_hashes.get(s))[:12]}…"
        for s in splits
        if recorded.get(s) != task.data_hashes.get(s)
    )
    raise DataError(
        f"the data files of task {task.name!r} changed since this run started ({run_name}: {seen})",
        hint="pass --data-dir with the data the run was scored on (data_hashes in run.json), "
        "or start a new run",
    )


def load_run_task(run: FinishedRun, paths: Paths) -> Task:
    """The run's task, from its task file when that still exists (else by name), checked
    against the data hashes the run recorded and against its test ids."""
    task = load_task(run.info.task_ref(), search_dirs=paths.task_dirs, data_dir=paths.data_dir)
    check_same_data(task, run.info.data_hashes, run_name=run.run_id)
    run_test_examples(run, task)
    return task


def run_test_examples(run: FinishedRun, task: Task) -> tuple[Example, ...]:
    """The test examples the run's best prompt was scored on (see
    :attr:`FinishedRun.scored_test_ids`), in run order. Raises DataError when an id is missing."""
    return _examples(run, task, "test", run.scored_test_ids)


def run_dev_examples(run: FinishedRun, task: Task) -> tuple[Example, ...]:
    return _examples(run, task, "dev", run.info.dev_ids)


def _examples(run: FinishedRun, task: Task, split: str, ids: tuple[str, ...]) -> tuple[Example, ...]:
    if not ids:
        raise StoreError(
            f"run {run.run_id}: run.json lists no {split} ids", hint="the run folder is incomplete"
        )
    by_id = {e.id: e for e in task.split(split)}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise DataError(
            f"run {run.run_id}: {len(missing)} of {len(ids)} {split} ids are not in the "
            f"{split} split of task {task.name!r} (first: {missing[:3]})",
            hint="use the data the run was made on (see data_hashes in run.json)",
        )
    return tuple(by_id[i] for i in ids)
