"""What candidates cost, for the loop: prompt tokens per call (estimated from the rendering
before a candidate is scored, measured after), --max-prompt-tokens, and the share of each budget
held back for the final test scoring, with the rule for dropping a candidate too costly to
score on test (only when a cheaper one is known to be as good)."""

from __future__ import annotations

from dataclasses import dataclass, field

from promptopt.evaluate.evaluator import Evaluator
from promptopt.llm.budget import Reserve
from promptopt.llm.budgeted import BudgetedCompleter
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.tokens import TokenRate
from promptopt.run import events as ev
from promptopt.run.costs import mean_cost
from promptopt.run.history import History
from promptopt.search.config import OptimizeConfig, TaskData
from promptopt.search.reserve import TestReserve, tight_budget_text

ESTIMATE_EXAMPLES = 10  # dev examples a candidate is rendered on to estimate its tokens
MIN_FIRST_RUNG = 10  # the fewest dev examples a candidate is scored on before its first race test


@dataclass
class Pricing:
    data: TaskData
    config: OptimizeConfig
    history: History
    evaluator: Evaluator
    gate: BudgetedCompleter
    _reserve: TestReserve = field(init=False)

    def __post_init__(self) -> None:
        self._reserve = TestReserve(self.data, self.history)

    # -- prompt tokens -------------------------------------------------------------------

    def token_rate(self) -> TokenRate:
        """Tokens per character, fitted on every prompt the run has measured (the prior
        before the first call)."""
        samples = [
            (row.size, row.prompt_tokens)
            for bucket in self.history.records.values()
            for row in bucket.values()
            if row.size is not None and row.status != "error"
        ]
        return TokenRate().fit(samples)

    def estimate_tokens(self, candidate: Candidate) -> float:
        """Estimated prompt tokens per call, rendered on the first dev examples."""
        examples = self.data.dev[: min(ESTIMATE_EXAMPLES, self.config.first_rung)]
        return self.evaluator.estimate_prompt_tokens(candidate, examples, self.token_rate())

    def tokens(self, candidate: Candidate) -> float:
        """Prompt tokens per call: measured on the candidate's dev rows, else estimated."""
        measured = self.history.prompt_tokens(candidate.id)
        return measured if measured is not None else self.estimate_tokens(candidate)

    def first_rung(self, candidate: Candidate, reference: Candidate) -> int:
        """Dev examples ``candidate`` is scored on before its first race test: ``first_rung``
        for a prompt no costlier than ``reference`` (the zero-shot baseline), proportionally
        fewer for a costlier one, never below ``MIN_FIRST_RUNG``. So the first look at every
        candidate costs about the same tokens, and a costly prompt that is clearly worse is
        stopped before it has spent a full first rung."""
        first = min(self.config.first_rung, len(self.data.dev))
        mine, theirs = self.tokens(candidate), self.tokens(reference)
        if candidate.id == reference.id or mine <= theirs or theirs <= 0:
            return first
        return max(min(MIN_FIRST_RUNG, first), round(first * theirs / mine))

    def over_cap(self, candidate: Candidate) -> float | None:
        """The candidate's tokens per call when they exceed --max-prompt-tokens (measured on
        its dev rows if it has any, else estimated), or None when it fits (or no cap)."""
        cap = self.config.max_prompt_tokens
        if cap is None:
            return None
        tokens = self.tokens(candidate)
        return tokens if tokens > cap else None

    # -- the final test scoring ----------------------------------------------------------

    def test_reserve(self, best: Candidate | None) -> Reserve:
        """What scoring the baseline and ``best`` on test costs, at most ``test_share`` of
        each budget."""
        return self._reserve.capped(best, self.gate.budget, self.config.test_share)

    def unaffordable(self, candidate: Candidate) -> bool:
        """Whether scoring the baseline and ``candidate`` on test (at their measured dev cost,
        within the test share) would overrun the budget from here."""
        reserve = self.test_reserve(candidate)
        return self.gate.budget.exceeded(self.gate.ledger.totals, self.gate.elapsed(), reserve) is not None

    def cheaper_as_good(self, candidate: Candidate, ids: list[str]) -> bool:
        """Whether a candidate scored on the whole dev slice, within the cap, costs fewer
        tokens per example and is at least as accurate on ``ids``: only then is a candidate
        too costly to finish dropped (a tight budget never costs the better prompt)."""
        mine = sum(self.history.correct(candidate.id, "dev", ids).values())
        cost = mean_cost(self.history.rows(candidate.id, "dev")).tokens
        for other in self.history.full_evaluations():
            if other.candidate == candidate.id or not self.history.within_cap(other.candidate):
                continue
            theirs = sum(self.history.correct(other.candidate, "dev", ids).values())
            if mean_cost(self.history.rows(other.candidate, "dev")).tokens < cost and theirs >= mine:
                return True
        return False

    def tight_budget(self, candidate: Candidate) -> ev.BudgetTight:
        """The once-per-run warning: the budget cannot pay for scoring a candidate like this
        one (and the baseline) on every test example."""
        reserve = self.test_reserve(candidate)
        seconds = self.gate.budget.seconds
        left = None if seconds is None else seconds - self.gate.elapsed()
        return ev.BudgetTight(
            candidate=candidate.id,
            reserve=reserve.to_json(),
            seconds_left=left,
            test_n=len(self.data.test),
            text=tight_budget_text(candidate.id, len(self.data.test), reserve, left),
        )
