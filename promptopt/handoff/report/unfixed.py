"""Errors that prompting did not fix: examples that every strong candidate got wrong.

The rule: a candidate is *strong* when it was scored on the whole dev slice and its dev
accuracy is within ``max(MDE, 5 points)`` of the best full-dev accuracy, MDE being the paired
minimum detectable effect of the run's last plateau evidence (a difference the dev slice
could not tell from noise, and at least 5 points when the MDE is smaller or unknown). On dev
every strong candidate has a record for every example; on test only the candidates the run
scored there (usually the winner alone) are asked. An example counts when each of those
candidates answered it (failed calls are not answers) and each answer was wrong.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from promptopt.handoff.report.candidates import CandidatePoint
from promptopt.run.history import History

MIN_TOLERANCE = 0.05


@dataclass(frozen=True)
class StrongSet:
    """The strong candidates (best first) and the rule's numbers."""

    candidate_ids: tuple[str, ...]
    best_accuracy: float
    tolerance: float
    mde: float | None


def strong_candidates(points: Sequence[CandidatePoint], *, mde: float | None) -> StrongSet:
    full = sorted((p for p in points if p.full), key=lambda p: -p.accuracy)
    finite_mde = mde if mde is not None and math.isfinite(mde) else None
    tolerance = max(MIN_TOLERANCE, finite_mde or 0.0)
    if not full:
        return StrongSet((), float("nan"), tolerance, finite_mde)
    best = full[0].accuracy
    ids = tuple(p.candidate_id for p in full if p.accuracy >= best - tolerance - 1e-12)
    return StrongSet(ids, best, tolerance, finite_mde)


@dataclass(frozen=True)
class UnfixedExample:
    example_id: str
    gold: str
    predictions: tuple[str | None, ...]  # one per candidate, in the order of ``Unfixed.candidate_ids``


@dataclass(frozen=True)
class Unfixed:
    """On ``split``: ``n_answered`` examples were answered by every candidate in
    ``candidate_ids``; ``examples`` are those they all got wrong."""

    split: str
    candidate_ids: tuple[str, ...]
    n_answered: int
    examples: tuple[UnfixedExample, ...]

    def by_class(self) -> list[tuple[str, int]]:
        """Counts by gold class, most first (ties by name)."""
        counts = Counter(e.gold for e in self.examples)
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))

    def same_answer_pairs(self) -> list[tuple[str, str, int]]:
        """(gold, answer, count) over the examples every candidate answered with one same
        label: the candidates agree against the gold label (suspected label noise or classes
        the labels do not separate). Most first, ties by names."""
        counts = Counter(
            (e.gold, e.predictions[0])
            for e in self.examples
            if e.predictions and e.predictions[0] is not None and len(set(e.predictions)) == 1
        )
        return sorted(((g, str(p), n) for (g, p), n in counts.items()), key=lambda t: (-t[2], t[0], t[1]))


def unfixed_errors(
    history: History, split: str, candidate_ids: Sequence[str], example_ids: Sequence[str]
) -> Unfixed:
    """The examples of ``example_ids`` that every candidate answered and got wrong."""
    ids = tuple(candidate_ids)
    buckets = [history.records.get((cid, split), {}) for cid in ids]
    answered = 0
    found: list[UnfixedExample] = []
    for example_id in example_ids if ids else ():
        rows = [
            row for bucket in buckets if (row := bucket.get(example_id)) is not None and row.status != "error"
        ]
        if len(rows) < len(buckets):
            continue
        answered += 1
        if not any(r.correct for r in rows):
            found.append(UnfixedExample(example_id, rows[0].gold, tuple(r.prediction for r in rows)))
    return Unfixed(split, ids, answered, tuple(found))


def scored_on_test(history: History, strong: Sequence[str], test_ids: Sequence[str]) -> tuple[str, ...]:
    """The strong candidates the run scored on every one of its test examples."""
    wanted = set(test_ids)
    return tuple(cid for cid in strong if wanted and wanted <= set(history.records.get((cid, "test"), {})))
