"""Round-trip verification: rescore a task's examples through an exported artifact and compare
with what the run recorded, example by example.

By default the examples are exactly the run's test ids (stored in the artifact), so the score is
comparable with the recorded one; with a deterministic model every prediction must match.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptopt.errors import DataError, PromptoptError
from promptopt.evaluate.evaluator import EvalResult
from promptopt.evaluate.scoring import Outcome, accuracy
from promptopt.production.artifact import Artifact
from promptopt.task.spec import Example, Task, sample


class VerificationFailed(PromptoptError):
    """Predictions through the artifact differ from the ones the run recorded."""

    exit_code = 1


@dataclass(frozen=True)
class VerifyPlan:
    """The examples to rescore, and the run's records for them (``id -> row``; empty for a
    split the run did not score)."""

    split: str
    examples: tuple[Example, ...]
    recorded: Mapping[str, Mapping[str, Any]]
    from_run: bool


def plan(artifact: Artifact, task: Task, *, split: str, limit: int | None) -> VerifyPlan:
    """The run's ids for ``split`` when the artifact records them (else the whole split), then
    a seeded sample of ``limit`` of them (the run's seed)."""
    _check_task(artifact, task, split)
    evaluation = artifact.data.get("evaluation") or {}
    stored = (evaluation.get("splits") or {}).get(split) or {}
    examples = task.split(split)
    ids = [str(i) for i in stored.get("ids", [])]
    if ids:
        by_id = {e.id: e for e in examples}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise DataError(
                f"{len(missing)} example id(s) of the run are not in the {split} split of task "
                f"{task.name!r} (first: {missing[0]})",
                hint="pass --data-dir with the data the run used",
            )
        examples = tuple(by_id[i] for i in ids)
    chosen = sample(examples, limit, seed=int(evaluation.get("seed", 0)))
    recorded = {str(r["id"]): r for r in stored.get("records", [])}
    return VerifyPlan(split=split, examples=chosen, recorded=recorded, from_run=bool(ids))


def _check_task(artifact: Artifact, task: Task, split: str) -> None:
    if set(task.labels) != set(artifact.labels):
        raise DataError(
            f"task {task.name!r} has other labels than the artifact ({len(task.labels)} against "
            f"{len(artifact.labels)})",
            hint="verify against the task the run optimized",
        )
    recorded = (artifact.data.get("task") or {}).get("data_hashes", {}).get(split)
    found = task.data_hashes.get(split)
    if recorded and found and recorded != found:
        raise DataError(
            f"the {split} data of task {task.name!r} differs from the run's "
            f"(sha256 {found[:12]}…, the run used {recorded[:12]}…)",
            hint="pass --data-dir with the data the run was scored on",
        )


@dataclass(frozen=True)
class Mismatch:
    example_id: str
    recorded: str | None
    now: str | None
    recorded_status: str
    now_status: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.example_id,
            "recorded": self.recorded,
            "now": self.now,
            "recorded_status": self.recorded_status,
            "now_status": self.now_status,
        }


@dataclass(frozen=True)
class VerifyReport:
    """``accuracy`` (with its interval) is the score now on all ``n`` examples;
    ``compared`` counts the examples that had a recorded prediction, ``compared_accuracy`` and
    ``recorded_accuracy`` are the scores now and as recorded on exactly those (fewer than
    ``n`` when the run's budget scored its winner on part of the test slice); ``expected`` is
    what the artifact promises."""

    split: str
    n: int
    accuracy: float
    ci_low: float
    ci_high: float
    invalid: int
    errors: int
    recorded_accuracy: float | None
    compared: int
    compared_accuracy: float | None
    mismatches: tuple[Mismatch, ...]
    expected: Mapping[str, Any]
    from_run: bool

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_json(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "n": self.n,
            "accuracy": self.accuracy,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "invalid": self.invalid,
            "errors": self.errors,
            "recorded_accuracy": self.recorded_accuracy,
            "compared": self.compared,
            "compared_accuracy": self.compared_accuracy,
            "mismatches": [m.to_json() for m in self.mismatches],
            "expected": dict(self.expected),
            "ids_from_run": self.from_run,
            "ok": self.ok,
        }


def compare(verify_plan: VerifyPlan, result: EvalResult, artifact: Artifact) -> VerifyReport:
    """The report: scores now and as recorded, and every example whose prediction or status
    differs from the run's record."""
    gold = {e.id: e.label for e in verify_plan.examples}
    mismatches: list[Mismatch] = []
    recorded_outcomes: list[Outcome] = []
    now_outcomes: list[Outcome] = []
    for record in result.records:
        row = verify_plan.recorded.get(record.example_id)
        if row is None:
            continue
        if row.get("status") != "error":
            recorded_outcomes.append(Outcome(gold[record.example_id], row.get("prediction")))
        if record.status != "error":
            now_outcomes.append(Outcome(gold[record.example_id], record.prediction))
        if (row.get("prediction"), row.get("status")) != (record.prediction, record.status):
            mismatches.append(
                Mismatch(
                    record.example_id,
                    row.get("prediction"),
                    record.prediction,
                    str(row.get("status")),
                    record.status,
                )
            )
    s = result.scores
    return VerifyReport(
        split=verify_plan.split,
        n=s.n,
        accuracy=s.accuracy,
        ci_low=s.ci_low,
        ci_high=s.ci_high,
        invalid=result.invalid,
        errors=result.errors,
        recorded_accuracy=accuracy(recorded_outcomes) if recorded_outcomes else None,
        compared=sum(r.example_id in verify_plan.recorded for r in result.records),
        compared_accuracy=accuracy(now_outcomes) if now_outcomes else None,
        mismatches=tuple(mismatches),
        expected=artifact.data.get("expected") or {},
        from_run=verify_plan.from_run,
    )
