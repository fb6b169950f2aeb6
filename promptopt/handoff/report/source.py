"""Reading a finished run for the report: the fine-tuning spec's reader (the same checks and
errors: a missing folder, an unfinished run, no test score) plus the run's whole history."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptopt.handoff.finetune.rundata import RunData, read_run
from promptopt.prompt.candidate import Candidate
from promptopt.run.history import History, Row
from promptopt.run.store import RunStore


@dataclass(frozen=True)
class ReportRun:
    """A finished run: what :func:`read_run` checks and returns, and the history (every
    candidate, per-example record and event)."""

    data: RunData
    history: History

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.data.summary)

    @property
    def best(self) -> Candidate:
        return self.data.best

    @property
    def dev_ids(self) -> tuple[str, ...]:
        return tuple(str(i) for i in self.data.info.get("dev_ids", ()))

    @property
    def test_ids(self) -> tuple[str, ...]:
        return self.data.test_ids

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.data.info.get("settings", {}))

    def evaluated(self) -> list[Row]:
        return self.history.of_kind("evaluated")


def open_run(path: Path) -> ReportRun:
    """Raises StoreError (missing folder, not a run) or UsageError (unfinished, no test score)."""
    data = read_run(path)
    return ReportRun(data=data, history=History.load(RunStore.open(path)))
