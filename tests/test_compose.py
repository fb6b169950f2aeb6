"""The composition root's checks before any work."""

from __future__ import annotations

from dataclasses import replace

import pytest

from promptopt.compose import check_models
from promptopt.errors import UsageError
from promptopt.llm.budget import Budget
from promptopt.testing import FAKE_SETTINGS

SETTINGS = FAKE_SETTINGS


def test_a_dollar_budget_is_refused_for_a_model_without_a_price() -> None:
    class Unpriced:
        def check(self, model: str, env: object) -> None:
            return None

        def price(self, model: str, prompt: int, completion: int) -> float | None:
            return None

    with pytest.raises(UsageError, match="budget-usd"):
        check_models(replace(SETTINGS, budget=Budget(usd=1.0)), Unpriced(), {})  # type: ignore[arg-type]
    check_models(replace(SETTINGS, budget=Budget(calls=10)), Unpriced(), {})  # type: ignore[arg-type]
