"""What ``promptopt eval`` reports: one prompt scored on a split of a task, with its intervals
and what the calls spent. A frozen record; :meth:`EvalSummary.to_json` is the ``--json`` file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptopt.evaluate.evaluator import EvalResult
from promptopt.evaluate.scoring import Scores
from promptopt.llm.ledger import Totals
from promptopt.prompt.candidate import Candidate
from promptopt.task.spec import Task


@dataclass(frozen=True)
class EvalSummary:
    """``scores`` leave failed calls out (``n``); ``examples`` counts every example sent."""

    task: str
    split: str
    model: str
    metric: str
    candidate: Candidate
    scores: Scores
    examples: int
    invalid: int
    errors: int
    spend: Totals
    seconds: float
    warnings: tuple[str, ...]
    data_hashes: Mapping[str, str]

    @staticmethod
    def of(
        task: Task, split: str, model: str, candidate: Candidate, result: EvalResult, spend: Totals
    ) -> EvalSummary:
        return EvalSummary(
            task=task.name,
            split=split,
            model=model,
            metric=task.spec.metric,
            candidate=candidate,
            scores=result.scores,
            examples=len(result.records),
            invalid=result.invalid,
            errors=result.errors,
            spend=spend,
            seconds=result.seconds,
            warnings=tuple(task.warnings),
            data_hashes=dict(task.data_hashes),
        )

    @property
    def prompt_tokens_per_call(self) -> float:
        return self.spend.prompt_tokens / max(self.spend.calls, 1)

    @property
    def seconds_per_example(self) -> float:
        return self.seconds / max(self.examples, 1)

    def to_json(self) -> dict[str, Any]:
        s, t = self.scores, self.spend
        return {
            "task": self.task,
            "split": self.split,
            "model": self.model,
            "candidate_id": self.candidate.id,
            "demos": self.candidate.n_demos,
            "demo_strategy": self.candidate.demo_strategy,
            "metric": self.metric,
            "accuracy": s.accuracy,
            "macro_f1": s.macro_f1,
            "ci_low": s.ci_low,
            "ci_high": s.ci_high,
            "macro_f1_ci_low": s.f1_ci_low,
            "macro_f1_ci_high": s.f1_ci_high,
            "n": s.n,
            "examples": self.examples,
            "invalid": self.invalid,
            "errors": self.errors,
            "calls": t.calls,
            "cached_calls": t.cached_calls,
            "prompt_tokens": t.prompt_tokens,
            "completion_tokens": t.completion_tokens,
            "prompt_tokens_per_call": self.prompt_tokens_per_call,
            "usd": t.usd,
            "unpriced_calls": t.unpriced_calls,
            "seconds": self.seconds,
            "seconds_per_example": self.seconds_per_example,
            "per_class_recall": s.per_class_recall,
            "confusions": [list(c) for c in s.confusions],
            "warnings": list(self.warnings),
            "candidate": self.candidate.to_json(),
            "data_hashes": dict(self.data_hashes),
        }
