"""The stoppers that are not budgets: a search with nothing new left ends by itself."""

from __future__ import annotations

from promptopt.search.stoppers import Exhausted, StopState


def test_the_exhausted_stopper_fires_after_its_limit() -> None:
    assert (
        Exhausted(limit=3)(StopState(trials=9, observations=(), budget_reason=None, duplicates_in_a_row=2))
        is None
    )
    assert (
        Exhausted(limit=3)(StopState(trials=9, observations=(), budget_reason=None, duplicates_in_a_row=3))
        == "search-exhausted"
    )
