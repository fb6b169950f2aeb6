"""Before a run: can its dev slice and its budget reach a ceiling verdict?

Two questions, answered from what is known before the first call:

- resolution: the plateau test's smallest detectable gain on a dev slice of this size, at the
  discordance the reference runs showed (:data:`promptopt.evaluate.plateau.TYPICAL_DISCORDANCE`),
  against the gain a ceiling may hide (``--ceiling-points``);
- budget: the plateau test needs ``min_observations`` scored candidates, each scored on between
  the first rung and the whole dev slice, at the seeds' median estimated prompt tokens, plus
  the final test scoring; compared with the token or call budget when there is one.

A time limit cannot be priced before the first call (the pace of a model is not known then):
:func:`time_outlook` prices it once the seeds are scored, at the pace they ran.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from promptopt.evaluate.plateau import PlateauConfig, dev_to_resolve, expected_mde
from promptopt.llm.budget import Budget


@dataclass(frozen=True)
class Need:
    """What a plateau verdict costs in one unit: at least ``low`` (every candidate stopped at
    the first rung), at most ``high`` (every candidate scored on the whole dev slice)."""

    unit: str
    low: float
    high: float

    def against(self, limit: float, option: str) -> str:
        span = f"{self.low:,.0f} to {self.high:,.0f} {self.unit}"
        if limit < self.low:
            return (
                f"a plateau verdict needs {span}; {option} {limit:,.0f} cannot reach it "
                f"(raise it to at least {self.high:,.0f})"
            )
        if limit < self.high:
            return f"a plateau verdict needs {span}; {option} {limit:,.0f} may reach it"
        return f"a plateau verdict needs {span}; {option} {limit:,.0f} can reach it"


def resolution_outlook(n_dev: int, dev_available: int, config: PlateauConfig) -> str:
    """What the dev slice will likely resolve, and the dev size a ceiling needs."""
    mde, asked = expected_mde(n_dev, config), config.resolution
    head = (
        f"at {n_dev} dev examples the plateau test will likely resolve gains of about {mde * 100:.0f} points"
    )
    if mde <= asked:
        return f"{head}, within the {asked * 100:g} a ceiling needs"
    needed = dev_to_resolve(config)
    where = (
        f"--dev-limit {needed}"
        if needed <= dev_available
        else f"more dev examples: the task's dev split has {dev_available}"
    )
    return (
        f"{head} (a ceiling needs {asked * 100:g}): a plateau here will read 'ceiling not resolved'; "
        f"about {needed:,} dev examples would resolve {asked * 100:g} points ({where}), or --ceiling-points "
        f"{mde * 100:.0f} accepts a coarser ceiling"
    )


def plateau_needs(
    *, n_dev: int, first_rung: int, n_test: int, seed_tokens: Sequence[float], config: PlateauConfig
) -> tuple[Need, Need]:
    """Tokens and calls a plateau verdict needs (search and final test scoring)."""
    per_call = statistics.median(seed_tokens) if seed_tokens else 0.0
    top = max(seed_tokens, default=0.0)
    rung, n = min(first_rung, n_dev), config.min_observations
    test_calls = 2 * n_test
    calls = Need("calls", n * rung + test_calls, n * n_dev + test_calls)
    tokens = Need(
        "prompt tokens",
        n * rung * per_call + test_calls * per_call,
        n * n_dev * per_call + test_calls * top,
    )
    return tokens, calls


def ceiling_outlook(
    *,
    n_dev: int,
    dev_available: int,
    first_rung: int,
    n_test: int,
    seed_tokens: Sequence[float],
    budget: Budget,
    config: PlateauConfig,
) -> str:
    """One line before a run: the resolution, and whether the budget can reach a plateau."""
    tokens, calls = plateau_needs(
        n_dev=n_dev, first_rung=first_rung, n_test=n_test, seed_tokens=seed_tokens, config=config
    )
    parts = [resolution_outlook(n_dev, dev_available, config)]
    if budget.tokens is not None:
        parts.append(tokens.against(budget.tokens, "--budget-tokens"))
    if budget.calls is not None:
        parts.append(calls.against(budget.calls, "--budget-calls"))
    if budget.tokens is None and budget.calls is None:
        timed = "; --time-limit is priced once the seeds show the model's pace" if budget.seconds else ""
        parts.append(
            f"a plateau verdict needs about {tokens.low:,.0f} to {tokens.high:,.0f} prompt tokens "
            f"(no token or call budget given to compare with{timed})"
        )
    return "ceiling outlook: " + "; ".join(parts) + "."


def time_outlook(tokens: Need, *, tokens_per_s: float, limit_s: float) -> str:
    """Whether ``--time-limit`` can reach a plateau verdict, at the pace measured so far
    (prompt tokens per second of wall time, calls and all)."""
    seconds = Need("s", tokens.low / tokens_per_s, tokens.high / tokens_per_s)
    return (
        f"time outlook: at the pace so far ({tokens_per_s:,.0f} prompt tokens/s), "
        + seconds.against(limit_s, "--time-limit")
        + "."
    )
