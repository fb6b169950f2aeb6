"""Before a run: the ceiling outlook says what the dev slice will resolve and whether the budget
can reach a plateau verdict."""

from __future__ import annotations

import pytest

from promptopt.evaluate.plateau import PlateauConfig, dev_to_resolve
from promptopt.llm.budget import Budget
from promptopt.search.outlook import Need, ceiling_outlook, plateau_needs, resolution_outlook, time_outlook

CONFIG = PlateauConfig()


def outlook(budget: Budget, *, n_dev: int = 100, dev_available: int = 3000) -> str:
    return ceiling_outlook(
        n_dev=n_dev,
        dev_available=dev_available,
        first_rung=20,
        n_test=300,
        seed_tokens=[400.0, 1000.0, 2000.0],
        budget=budget,
        config=CONFIG,
    )


def test_the_needs_span_every_candidate_stopped_early_to_every_candidate_scored_on_all_dev() -> None:
    tokens, calls = plateau_needs(
        n_dev=100, first_rung=20, n_test=300, seed_tokens=[400.0, 1000.0, 2000.0], config=CONFIG
    )
    n = CONFIG.min_observations
    assert calls.low == n * 20 + 600 and calls.high == n * 100 + 600
    # median seed cost for the search; the test scoring priced at the costliest seed at most
    assert tokens.low == n * 20 * 1000 + 600 * 1000
    assert tokens.high == n * 100 * 1000 + 600 * 2000


@pytest.mark.parametrize(
    ("limit", "word"), [(99.0, "cannot reach it"), (100.0, "may reach it"), (200.0, "can reach it")]
)
def test_a_budget_is_read_against_both_ends(limit: float, word: str) -> None:
    assert word in Need("calls", 100.0, 200.0).against(limit, "--budget-calls")


def test_a_token_budget_too_small_is_named_with_the_figure_to_raise_it_to() -> None:
    text = outlook(Budget(tokens=50_000))
    assert "--budget-tokens 50,000 cannot reach it (raise it to at least 2,000,000)" in text


def test_a_call_budget_is_compared_in_calls() -> None:
    assert "--budget-calls 5,000 can reach it" in outlook(Budget(calls=5000))


def test_without_a_token_or_call_budget_the_need_is_stated_alone() -> None:
    text = outlook(Budget(seconds=600))
    assert "no token or call budget given" in text and "760,000 to 2,000,000 prompt tokens" in text


def test_a_small_dev_slice_is_told_the_dev_size_a_ceiling_needs() -> None:
    needed = dev_to_resolve(CONFIG)
    text = resolution_outlook(100, 3000, CONFIG)
    assert "will read 'ceiling not resolved'" in text and f"--dev-limit {needed}" in text
    short = resolution_outlook(70, 70, CONFIG)
    assert "the task's dev split has 70" in short


def test_a_large_dev_slice_resolves_the_threshold() -> None:
    text = resolution_outlook(dev_to_resolve(CONFIG), 3000, CONFIG)
    assert "within the 5 a ceiling needs" in text and "not resolved" not in text


@pytest.mark.parametrize(
    ("limit_s", "word"), [(499.0, "cannot reach it"), (500.0, "may reach it"), (1_000.0, "can reach it")]
)
def test_a_time_limit_is_priced_at_the_pace_measured(limit_s: float, word: str) -> None:
    """1,000 to 2,000 tokens at 2 tokens/s: 500 to 1,000 s, against the limit."""
    text = time_outlook(Need("prompt tokens", 1_000.0, 2_000.0), tokens_per_s=2.0, limit_s=limit_s)
    assert "(2 prompt tokens/s)" in text and "needs 500 to 1,000 s" in text
    assert f"--time-limit {limit_s:,.0f} {word}" in text


def test_with_a_time_limit_alone_the_outlook_says_when_it_will_be_priced() -> None:
    assert "--time-limit is priced once the seeds show the model's pace" in outlook(Budget(seconds=600))
    assert "priced once" not in outlook(Budget())
