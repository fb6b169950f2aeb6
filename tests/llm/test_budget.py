"""Every budget fires: calls, tokens, dollars and time, each proven by making it happen."""

from __future__ import annotations

import pytest

from promptopt.errors import UsageError
from promptopt.llm.budget import Budget, BudgetExhausted
from promptopt.llm.budgeted import BudgetedCompleter
from promptopt.llm.cache import CachingCompleter, DiskCache
from promptopt.llm.ledger import Ledger
from promptopt.llm.metered import MeteredCompleter
from promptopt.llm.types import CompletionRequest
from promptopt.testing import FakeCompleter, replies


def _fake(
    *, usd: float | None = 0.01, tokens: tuple[int, int] = (90, 10), seconds_per_call: float = 0.0
) -> FakeCompleter:
    """Answers "a" with ``tokens`` (prompt, completion) at ``usd`` a call; each call advances its
    clock by ``seconds_per_call``."""
    return FakeCompleter(
        replies(default="a"),
        usd_per_call=usd,
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
        seconds_per_call=seconds_per_call,
    )


def _request(i: int = 0) -> CompletionRequest:
    return CompletionRequest(model="openai/gpt-4o-mini", messages=(("user", f"q{i}"),))


def _stack(budget: Budget, fake: FakeCompleter) -> tuple[BudgetedCompleter, Ledger]:
    """The gate over the metered fake, timed by the fake's clock."""
    ledger = Ledger()
    gate = BudgetedCompleter(MeteredCompleter(fake, ledger), ledger, budget, clock=fake.clock)
    return gate, ledger


def _calls_until_exhausted(gate: BudgetedCompleter, limit: int = 1000) -> tuple[int, str]:
    for i in range(limit):
        try:
            gate.complete(_request(i))
        except BudgetExhausted as exc:
            return i, exc.reason
    raise AssertionError("the budget never fired")


def test_call_budget_fires_at_exactly_n_calls() -> None:
    fake = _fake()
    gate, ledger = _stack(Budget(calls=7), fake)
    made, reason = _calls_until_exhausted(gate)
    assert (made, reason, fake.calls, ledger.totals.calls) == (7, "budget-calls", 7, 7)


def test_token_budget_fires_once_tokens_are_spent() -> None:
    fake = _fake(tokens=(90, 10))
    gate, ledger = _stack(Budget(tokens=1000), fake)
    made, reason = _calls_until_exhausted(gate)
    assert reason == "budget-tokens" and made == 10 and ledger.totals.live_tokens == 1000


def test_usd_budget_fires_and_overshoots_by_at_most_one_call() -> None:
    fake = _fake(usd=0.03)
    gate, ledger = _stack(Budget(usd=0.10), fake)
    made, reason = _calls_until_exhausted(gate)
    assert reason == "budget-usd" and made == 4
    assert ledger.totals.usd is not None and 0.10 <= ledger.totals.usd < 0.10 + 0.03


def test_time_limit_fires_on_the_injected_clock() -> None:
    fake = _fake(seconds_per_call=1.0)  # every call advances the fake clock one second
    gate, _ = _stack(Budget(seconds=5), fake)
    made, reason = _calls_until_exhausted(gate)
    assert reason == "time-limit" and 3 <= made <= 5


def test_cache_hits_do_not_spend_the_call_budget(tmp_path: object) -> None:
    from pathlib import Path

    fake = _fake()
    ledger = Ledger()
    cache = DiskCache(Path(str(tmp_path)) / "c.sqlite")
    gate = BudgetedCompleter(MeteredCompleter(CachingCompleter(fake, cache), ledger), ledger, Budget(calls=2))
    for _ in range(5):
        gate.complete(_request(0))  # one live call, four hits
    gate.complete(_request(1))
    with pytest.raises(BudgetExhausted):
        gate.complete(_request(2))
    assert fake.calls == 2 and ledger.totals.calls == 6 and ledger.totals.cached_calls == 4


def test_unpriced_calls_do_not_pretend_to_spend_nothing() -> None:
    gate, ledger = _stack(Budget(calls=3), _fake(usd=None))
    _calls_until_exhausted(gate)
    assert ledger.totals.usd is None  # an unknown price is never summed as 0


@pytest.mark.parametrize("field_name", ["calls", "tokens", "usd", "seconds"])
def test_non_positive_budgets_are_rejected(field_name: str) -> None:
    with pytest.raises(UsageError, match=field_name):
        Budget(**{field_name: 0})


def test_no_budget_means_unlimited() -> None:
    assert Budget().unlimited and not Budget(calls=1).unlimited
