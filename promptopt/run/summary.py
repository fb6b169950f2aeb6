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


LATER_KEYS = frozenset(
    (
        "best_test_n",
        "baseline_test_n",
        "best_seed_id",
        "best_seed_dev_accuracy",
        "max_prompt_tokens",
        "proposed_instruction_lift",
        "proposed_scored",
        "proposed_survived",
    )
)


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
    # added with issue 13 (older summaries lack them and read back with these defaults):
    # how many test examples each was scored on (None: all of test_n, or none for the baseline
    # when the budget gave its test score up), the best seed (the prompts a user would write)
    # with its dev accuracy, and --max-prompt-tokens
    best_test_n: int | None = None
    baseline_test_n: int | None = None
    best_seed_id: str | None = None
    best_seed_dev_accuracy: float | None = None
    max_prompt_tokens: int | None = None
    # the proposer's worth: the best dev accuracy of a prompt with a proposed instruction minus
    # the best with the seed instruction (None: no proposed instruction reached the whole dev
    # slice); negative or zero says the proposer model's instructions did not help
    proposed_instruction_lift: float | None = None
    # how many prompts with a proposed instruction were scored, and how many of them survived
    # racing (were scored on the whole dev slice): zero survivors also says the proposer's
    # instructions did not help
    proposed_scored: int | None = None
    proposed_survived: int | None = None

    @property
    def lift_from_seeds(self) -> float | None:
        """Dev points the best seed gained over zero-shot (both on the whole dev slice)."""
        if self.best_seed_dev_accuracy is None or self.baseline_dev_accuracy is None:
            return None
        return self.best_seed_dev_accuracy - self.baseline_dev_accuracy

    @property
    def lift_from_search(self) -> float | None:
        """Dev points the search's own moves gained over the best seed."""
        if self.best_seed_dev_accuracy is None or self.best_dev_accuracy is None:
            return None
        return self.best_dev_accuracy - self.best_seed_dev_accuracy

    @property
    def plateau_reached(self) -> bool:
        """The search stopped improving by what its dev slice can detect."""
        return self.plateau is not None and self.plateau.plateau

    @property
    def ceiling_reached(self) -> bool:
        """A plateau on a dev slice that resolves the run's ceiling resolution."""
        return self.plateau is not None and self.plateau.ceiling_reached

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key in ("baseline_test_ci", "best_test_ci"):
            data[key] = None if data[key] is None else list(data[key])
        data["plateau"] = None if self.plateau is None else self.plateau.to_json()
        data["calls_by_role"] = dict(self.calls_by_role)
        data["pareto"] = [p.to_json() for p in self.pareto]
        data["best_candidate"] = self.best_candidate.to_json()
        # keys added later are left out while unset, so an older summary writes back as it was
        return {k: v for k, v in data.items() if not (k in LATER_KEYS and v is None)}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> RunSummary:
        """Raises StoreError when a key is missing (a summary of another promptopt version)."""
        missing = [
            f.name
            for f in dataclasses.fields(RunSummary)
            if f.name not in data and f.default is dataclasses.MISSING
        ]
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
        return RunSummary(
            **{f.name: fields[f.name] for f in dataclasses.fields(RunSummary) if f.name in fields}
        )
