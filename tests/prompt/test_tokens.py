"""The prompt-token estimate: fitted rates recover the rates that made the counts (the check
against the embedded model is tests/evaluate/test_estimate.py)."""

from __future__ import annotations

import pytest

from promptopt.prompt.tokens import PromptSize, TokenRate


def test_fitted_rates_recover_the_rates_that_made_the_counts() -> None:
    truth = TokenRate(data=0.15, other=0.3)
    sizes = [
        PromptSize(d, o, m) for d, o, m in [(400, 900, 2), (3000, 950, 2), (1200, 2000, 6), (50, 800, 2)]
    ]
    fitted = TokenRate().fit([(s, round(truth.tokens(s))) for s in sizes])
    assert fitted.data == pytest.approx(0.15, abs=0.005) and fitted.other == pytest.approx(0.3, abs=0.005)
    assert fitted.fitted_on == 4


def test_prompts_in_one_proportion_give_one_common_rate_and_no_samples_keep_the_prior() -> None:
    sizes = [PromptSize(100 * i, 200 * i, 2) for i in (1, 2, 3)]
    fitted = TokenRate().fit([(s, round(0.2 * 300 * i + 13)) for i, s in zip((1, 2, 3), sizes, strict=True)])
    assert fitted.data == fitted.other == pytest.approx(0.2, abs=0.01)
    assert TokenRate().fit([]) == TokenRate()
