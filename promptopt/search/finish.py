"""The end of a run: its summary, built from the history, the ledger and the last plateau
evidence (the test scores with their intervals, the spend, the Pareto front)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from promptopt.evaluate.plateau import PlateauEvidence
from promptopt.evaluate.scoring import Outcome, score
from promptopt.llm.ledger import Ledger
from promptopt.prompt.candidate import Candidate
from promptopt.run.costs import mean_cost
from promptopt.run.events import Evaluated
from promptopt.run.history import History
from promptopt.run.summary import Interval, ParetoPoint, RunSummary


@dataclass(frozen=True)
class TestScores:
    """A candidate's scores on the test examples it was scored on (``n``: fewer than the test
    slice when the budget allowed no more; the interval says how much less certain that is);
    all None when it was scored on none."""

    __test__ = False  # not a pytest test class
    accuracy: float | None = None
    ci: Interval | None = None
    macro_f1: float | None = None
    n: int = 0


@dataclass(frozen=True)
class Ending:
    """How the run ended: why the search stopped, the winner, the budget that cut the test
    scoring short (None when it finished), the wall time, and the last plateau evidence."""

    reason: str
    best: Candidate
    baseline: Candidate
    incomplete: str | None
    seconds: float
    trials: int
    plateau: PlateauEvidence | None


def test_scores(history: History, candidate: Candidate, *, seed: int) -> TestScores:
    rows = history.rows(candidate.id, "test")
    scored = [r for r in rows if r.status != "error"]
    if not scored:
        return TestScores()
    s = score([Outcome(r.gold, r.prediction) for r in scored], seed=seed)
    return TestScores(s.accuracy, (s.ci_low, s.ci_high), s.macro_f1, len(rows))


def best_seed(history: History) -> Evaluated | None:
    """The seeds' best full-dev evaluation (the prompts a user would write), within the cap."""
    seeds = [
        e for e in history.full_evaluations() if e.operator == "seed" and history.within_cap(e.candidate)
    ]
    return max(seeds, key=lambda e: e.accuracy, default=None)


def proposed_instruction_lift(history: History, seed_instruction: str) -> float | None:
    """Best full-dev accuracy with a proposed instruction minus the best with the seed one."""
    best: dict[bool, float] = {}
    for e in history.full_evaluations():
        proposed = history.candidates[e.candidate].instruction != seed_instruction
        best[proposed] = max(best.get(proposed, 0.0), e.accuracy)
    if True not in best or False not in best:
        return None
    return best[True] - best[False]


def proposed_counts(history: History, seed_instruction: str) -> tuple[int, int]:
    """Prompts with a proposed instruction that were scored, and how many of them survived
    racing (were scored on the whole dev slice)."""
    events = [
        e for e in history.of(Evaluated) if history.candidates[e.candidate].instruction != seed_instruction
    ]
    return len(events), sum(not e.raced_out for e in events)


def pareto(history: History) -> tuple[ParetoPoint, ...]:
    """Candidates scored on the whole dev slice that no other beats on both accuracy and
    prompt tokens per call (the cost of the prompt in production), cheapest first (ties: the
    more accurate, then by id)."""
    points = {
        (e.candidate, e.accuracy, mean_cost(history.rows(e.candidate, "dev")).prompt_tokens)
        for e in history.full_evaluations()
    }
    front = [
        p
        for p in points
        if not any(q[1] >= p[1] and q[2] <= p[2] and q != p and (q[1] > p[1] or q[2] < p[2]) for q in points)
    ]
    return tuple(ParetoPoint(c, a, t) for c, a, t in sorted(front, key=lambda p: (p[2], -p[1], p[0])))


def summarize(
    history: History, ledger: Ledger, ending: Ending, *, n_dev: int, n_test: int, seed: int
) -> RunSummary:
    totals = ledger.totals
    baseline_scores = test_scores(history, ending.baseline, seed=seed)
    best_scores = test_scores(history, ending.best, seed=seed)
    seed_eval = best_seed(history)
    proposed = proposed_counts(history, ending.baseline.instruction)
    best_dev = history.evaluation_of(ending.best.id)
    baseline_dev = history.evaluation_of(ending.baseline.id)
    return RunSummary(
        best_candidate_id=ending.best.id,
        baseline_candidate_id=ending.baseline.id,
        baseline_test_accuracy=baseline_scores.accuracy,
        baseline_test_ci=baseline_scores.ci,
        baseline_test_macro_f1=baseline_scores.macro_f1,
        best_test_accuracy=best_scores.accuracy,
        best_test_ci=best_scores.ci,
        best_test_macro_f1=best_scores.macro_f1,
        test_n=n_test,
        test_incomplete=ending.incomplete,
        best_dev_accuracy=None if best_dev is None else best_dev.accuracy,
        best_dev_n=None if best_dev is None else best_dev.n,
        baseline_dev_accuracy=None if baseline_dev is None else baseline_dev.accuracy,
        dev_n=n_dev,
        calls=totals.calls,
        cached_calls=totals.cached_calls,
        errors=totals.errors,
        prompt_tokens=totals.prompt_tokens,
        completion_tokens=totals.completion_tokens,
        usd=totals.usd,
        unpriced_calls=totals.unpriced_calls,
        seconds=ending.seconds,
        stop_reason=ending.reason,
        plateau=ending.plateau,
        trials=ending.trials,
        evaluations=len(history.of(Evaluated)),
        calls_by_role=dict(Counter(record.role for record in ledger.records)),
        best_prompt_tokens_per_call=mean_cost(history.rows(ending.best.id, "test")).prompt_tokens,
        pareto=pareto(history),
        best_candidate=ending.best,
        best_test_n=best_scores.n,
        baseline_test_n=baseline_scores.n,
        best_seed_id=None if seed_eval is None else seed_eval.candidate,
        best_seed_dev_accuracy=None if seed_eval is None else seed_eval.accuracy,
        max_prompt_tokens=history.max_prompt_tokens,
        proposed_instruction_lift=proposed_instruction_lift(history, ending.baseline.instruction),
        proposed_scored=proposed[0],
        proposed_survived=proposed[1],
    )
