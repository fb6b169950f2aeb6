"""The run summary (``summary.json``): written last and atomically, so its presence marks a
finished run. One frozen value, read by ``show``, ``runs``, the report, export and the
fine-tuning spec; :meth:`RunSummary.to_json` writes the keys in the order below."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptopt.errors import StoreError
from promptopt.evaluate.plateau import PlateauEvidence
from promptopt.prompt.candidate import Candidate

Interval = tuple[float, float]


@dataclass(frozen=True)
class ParetoPoint:
    """A candidate scored on the whole dev slice that no other beats on both dev accuracy and
    prompt tokens per call."""

    candidate: str
    dev_accuracy: float
    prompt_tokens_per_call: float

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RunSummary:
    """Test scores are None when the test scoring did not finish (``test_incomplete`` names
    the budget that stopped it); ``*_ci`` are 95% bootstrap intervals; ``usd`` is None when a
    call was unpriced; ``seconds`` is the run's wall time (all segments); ``plateau`` is the
    last plateau evidence; ``best_prompt_tokens_per_call`` is measured on test."""

    best_candidate_id: str
    baseline_candidate_id: str
    baseline_test_accuracy: float | None
    baseline_test_ci: Interval | None
    baseline_test_macro_f1: float | None
    best_test_accuracy: float | None
    best_test_ci: Interval | None
    best_test_macro_f1: float | None
    test_n: int
    test_incomplete: str | None
    best_dev_accuracy: float | None
    best_dev_n: int | None
    baseline_dev_accuracy: float | None
    dev_n: int
    calls: int
    cached_calls: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    usd: float | None
    unpriced_calls: int
    seconds: float
    stop_reason: str
    plateau: PlateauEvidence | None
    trials: int
    evaluations: int
    calls_by_role: dict[str, int]
    best_prompt_tokens_per_call: float
    pareto: tuple[ParetoPoint, ...]
    best_candidate: Candidate

    @property
    def plateau_reached(self) -> bool:
        return self.plateau is not None and self.plateau.plateau

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key in ("baseline_test_ci", "best_test_ci"):
            data[key] = None if data[key] is None else list(data[key])
        data["plateau"] = None if self.plateau is None else self.plateau.to_json()
        data["calls_by_role"] = dict(self.calls_by_role)
        data["pareto"] = [p.to_json() for p in self.pareto]
        data["best_candidate"] = self.best_candidate.to_json()
        return data

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> RunSummary:
        """Raises StoreError when a key is missing (a summary of another promptopt version)."""
        missing = [f.name for f in dataclasses.fields(RunSummary) if f.name not in data]
        if missing:
            raise StoreError(
                f"summary.json lacks {', '.join(missing)}",
                hint="the run was written by another promptopt version; use that version",
            )
        fields = dict(data)
        for key in ("baseline_test_ci", "best_test_ci"):
            fields[key] = None if data[key] is None else (float(data[key][0]), float(data[key][1]))
        fields["plateau"] = None if data["plateau"] is None else PlateauEvidence.from_json(data["plateau"])
        fields["pareto"] = tuple(
            ParetoPoint(str(p["candidate"]), float(p["dev_accuracy"]), float(p["prompt_tokens_per_call"]))
            for p in data["pareto"]
        )
        fields["best_candidate"] = Candidate.from_json(data["best_candidate"])
        return RunSummary(**{f.name: fields[f.name] for f in dataclasses.fields(RunSummary)})
