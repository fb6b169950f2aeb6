"""The reserve for the final test scoring: what scoring the baseline and the best candidate on
test is expected to cost, set aside from every budget while the search runs, so a run that
stops on a budget still ends with test scores; and the warnings that go with it."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from promptopt.llm.budget import Budget, Reserve
from promptopt.prompt.candidate import Candidate
from promptopt.run.costs import Cost, live_seconds_per_example, mean_cost
from promptopt.run.history import History
from promptopt.search.config import TaskData

# a candidate with fewer dev answers whose live cost is known is timed by the run's mean example
MIN_LIVE_ROWS = 5
TOKEN_MARGIN = 1.1  # tokens and dollars: +10%
SECONDS_MARGIN = 1.25  # seconds also move with the machine's load and the test texts


@dataclass(frozen=True)
class TestReserve:
    """Prices the final test scoring from the run's dev measurements."""

    __test__ = False  # not a pytest test class
    data: TaskData
    history: History

    def capped(self, best: Candidate | None, budget: Budget, share: float) -> Reserve:
        """:meth:`for_best`, but never more than ``share`` of each budget: the search keeps
        the rest, and the final scoring covers fewer test examples if it must."""
        full = self.for_best(best)
        return Reserve(
            calls=full.calls if budget.calls is None else min(full.calls, int(share * budget.calls)),
            tokens=full.tokens if budget.tokens is None else min(full.tokens, share * budget.tokens),
            usd=full.usd if budget.usd is None else min(full.usd, share * budget.usd),
            seconds=full.seconds if budget.seconds is None else min(full.seconds, share * budget.seconds),
        )

    def for_best(self, best: Candidate | None) -> Reserve:
        """Cost of scoring the baseline and ``best`` on the test examples they lack, from their
        mean cost per dev example, plus a margin: 10% for tokens and dollars, 25% for seconds
        (measured on banking77: test took 18% longer per example than the dev estimate). Calls
        are exact. Seconds are what the examples take live (a cached answer counts its original
        call's latency: the test answers may well be live); a candidate with fewer than
        MIN_LIVE_ROWS dev answers timed so (cached by an older version, which kept no latency)
        is priced at the run's mean example."""
        todo = [
            (c, len(self.data.test) - len(self.history.rows(c.id, "test")))
            for c in dict.fromkeys([self.data.baseline(), *([best] if best else [])])
        ]
        costs = [(self.dev_cost(c), n) for c, n in todo]
        usd = sum(c.usd * n for c, n in costs)
        return Reserve(
            calls=sum(n for _, n in todo),
            tokens=TOKEN_MARGIN * sum(c.tokens * n for c, n in costs),
            usd=0.0 if math.isnan(usd) else TOKEN_MARGIN * usd,
            seconds=SECONDS_MARGIN * sum(c.seconds * n for c, n in costs),
        )

    def dev_cost(self, candidate: Candidate) -> Cost:
        cost = mean_cost(self.history.rows(candidate.id, "dev"))
        if cost.live >= MIN_LIVE_ROWS:
            return cost
        pooled = live_seconds_per_example(self.history.records, "dev")
        return cost if pooled is None else replace(cost, seconds=max(pooled, cost.seconds))


def tight_budget_text(candidate_id: str, n_test: int, reserve: Reserve, seconds_left: float | None) -> str:
    """The once-per-run warning: the winner may be scored on fewer test examples."""
    return (
        f"scoring the baseline and {candidate_id} on {n_test} test examples "
        f"would need about {reserve.seconds:.0f} s, {reserve.calls} calls and "
        f"{reserve.tokens:.0f} tokens, more than the budget has left"
        + (f" ({seconds_left:.0f} s)" if seconds_left is not None else "")
        + ": if it wins, the final scoring gives up the baseline's test score first, then "
        "test examples (a wider interval); raise --time-limit or the --budget-* limit for all of them"
    )


@dataclass(frozen=True)
class BudgetEstimate:
    """Before the run: calls kept for the final test scoring (2 per test example), calls left
    for the search, and how many candidates those allow (``trials_min`` if each is scored on
    the whole dev slice, ``trials_max`` if each stops at the first rung); None without a call
    budget. ``warning``: too few for the sampler to learn anything."""

    reserve_calls: int
    search_calls: int | None = None
    trials_min: int | None = None
    trials_max: int | None = None
    warning: str | None = None


def budget_estimate(budget: Budget, *, n_dev: int, n_test: int, first_rung: int) -> BudgetEstimate:
    """Warns when the call budget allows fewer than 8 candidates (the baselines plus a handful
    of proposals) even if every one is stopped at the first rung."""
    reserve = 2 * n_test
    if budget.calls is None:
        return BudgetEstimate(reserve_calls=reserve)
    search_calls = budget.calls - reserve
    rung = min(first_rung, n_dev)
    trials_min = max(0, search_calls) // max(n_dev, 1)
    trials_max = max(0, search_calls) // max(rung, 1)
    warning = None
    if trials_max < 8:
        warning = (
            f"--budget-calls {budget.calls} leaves {search_calls} calls for the search after "
            f"{reserve} for the final test scoring: at most {trials_max} candidates even if every "
            f"one is stopped after {rung} dev examples. Raise the budget or lower --dev-limit/--test-limit."
        )
    return BudgetEstimate(
        reserve_calls=reserve,
        search_calls=search_calls,
        trials_min=trials_min,
        trials_max=trials_max,
        warning=warning,
    )
