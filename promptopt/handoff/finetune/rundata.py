"""Reading a finished run folder for the fine-tuning spec: settings, summary, the best and
baseline prompts, their per-example test records, and call latencies from the ledger."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptopt.errors import DataError, StoreError, UsageError
from promptopt.prompt.candidate import Candidate
from promptopt.run.history import History, Row
from promptopt.run.store import RunStore
from promptopt.settings import Paths
from promptopt.task.load import check_same_data, load_task
from promptopt.task.spec import Example, Task


@dataclass(frozen=True)
class Latency:
    """Seconds per model call: mean and 95th percentile over ``calls`` live (not cached,
    successful) calls. Both are NaN when there is no such call."""

    calls: int
    mean_s: float
    p95_s: float


@dataclass(frozen=True)
class RunData:
    """What the spec needs from a finished run. ``test_ids`` are the run's test examples, in
    the order of run.json; ``*_test_rows`` are the stored evaluation rows on them."""

    path: Path
    info: Mapping[str, Any]
    summary: Mapping[str, Any]
    best: Candidate
    baseline: Candidate | None
    test_ids: tuple[str, ...]
    best_test_rows: tuple[Row, ...]
    baseline_test_rows: tuple[Row, ...]
    task_latency: Latency

    @property
    def run_id(self) -> str:
        return str(self.info.get("run_id") or self.path.name)

    @property
    def model(self) -> str:
        return str(self.info["settings"]["model"])

    @property
    def seed(self) -> int:
        return int(self.info["settings"].get("seed", 0))

    @property
    def task_name(self) -> str:
        return str(self.info["task"])


def read_run(path: Path) -> RunData:
    """Read a finished run. Raises StoreError for a missing or unreadable folder and
    UsageError for a run that is unfinished or has no test score for its best prompt."""
    if not path.exists():
        raise StoreError(f"run folder {path} does not exist",
                         hint="pass a run folder (list them with: promptopt runs)")
    store = RunStore.open(path)
    if not store.has("summary.json"):
        raise UsageError(f"run {path} is unfinished: it has no summary.json yet",
                         hint=f"finish it first with: promptopt resume {path}")
    summary = store.read_json("summary.json")
    _require_test_score(path, summary)
    return _run_data(path, store, summary)


def _require_test_score(path: Path, summary: Mapping[str, Any]) -> None:
    if summary.get("best_test_accuracy") is None:
        raise UsageError(f"run {path} has no test score for its best prompt "
                         f"(test scoring incomplete: {summary.get('test_incomplete')!r})",
                         hint="start a new run with a budget that leaves room for the final test scoring")


def _run_data(path: Path, store: RunStore, summary: Mapping[str, Any]) -> RunData:
    info = store.read_json("run.json")
    history = History.load(store)
    best = _candidate(history, summary, "best_candidate_id")
    if best is None:
        raise StoreError(f"run {path}: best candidate {summary.get('best_candidate_id')!r} is not in candidates.jsonl",
                         hint="the run folder is incomplete; restore it from a copy")
    baseline = _candidate(history, summary, "baseline_candidate_id")
    test_ids = tuple(str(i) for i in info.get("test_ids", ()))
    return RunData(path=path, info=info, summary=summary, best=best, baseline=baseline, test_ids=test_ids,
                   best_test_rows=tuple(history.rows(best.id, "test", test_ids)),
                   baseline_test_rows=tuple(history.rows(baseline.id, "test", test_ids)) if baseline else (),
                   task_latency=ledger_latency(store.read("ledger")))


def _candidate(history: History, summary: Mapping[str, Any], key: str) -> Candidate | None:
    return history.candidates.get(str(summary.get(key)))


def ledger_latency(rows: Any) -> Latency:
    """Latency of the task model's live calls (proposer calls and cache hits left out)."""
    import numpy as np

    values = [float(r["latency_s"]) for r in rows
              if r.get("role") == "task" and not r.get("cached") and r.get("status", "ok") == "ok"]
    if not values:
        return Latency(calls=0, mean_s=float("nan"), p95_s=float("nan"))
    return Latency(calls=len(values), mean_s=float(np.mean(values)), p95_s=float(np.percentile(values, 95)))


def load_run_task(run: RunData, paths: Paths) -> Task:
    """The run's task, from its task file when that still exists (else by name), checked
    against the data hashes the run recorded and against its test ids."""
    source = run.info.get("task_file")
    name = source if source and Path(source).is_file() else run.task_name
    task = load_task(name, search_dirs=paths.task_dirs, data_dir=paths.data_dir)
    check_same_data(task, run.info)
    run_test_examples(run, task)
    return task


def run_test_examples(run: RunData, task: Task) -> tuple[Example, ...]:
    """The run's test examples, in run order. Raises DataError when an id is missing."""
    if not run.test_ids:
        raise StoreError(f"run {run.run_id}: run.json lists no test ids", hint="the run folder is incomplete")
    by_id = {e.id: e for e in task.split("test")}
    missing = [i for i in run.test_ids if i not in by_id]
    if missing:
        raise DataError(f"run {run.run_id}: {len(missing)} of {len(run.test_ids)} test ids are not in the "
                        f"test split of task {task.name!r} (first: {missing[:3]})",
                        hint="use the data the run was made on (see data_hashes in run.json)")
    return tuple(by_id[i] for i in run.test_ids)
