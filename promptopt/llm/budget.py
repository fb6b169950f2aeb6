"""Budgets over every model call: calls, tokens, dollars and wall time.

A budget is checked before each call against the ledger's totals of live (non-cached) calls,
so a cache hit never spends it. With ``concurrency`` calls in flight, at most that many calls
already started can complete after the limit is reached; no new call starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptopt.errors import PromptoptError, UsageError
from promptopt.llm.ledger import Totals


@dataclass(frozen=True)
class Reserve:
    """Spend set aside for later work (the final test scoring): the search may not use it.
    Estimates, so fractional tokens and seconds are fine."""

    calls: int = 0
    tokens: float = 0.0
    usd: float = 0.0
    seconds: float = 0.0

    def to_json(self) -> dict[str, float]:
        return {"calls": self.calls, "tokens": self.tokens, "usd": self.usd, "seconds": self.seconds}


@dataclass(frozen=True)
class Budget:
    """Limits; None means unlimited. ``seconds`` is wall time since the run started."""

    calls: int | None = None
    tokens: int | None = None
    usd: float | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        for name in ("calls", "tokens", "usd", "seconds"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise UsageError(
                    f"budget {name} must be positive (seen: {value})",
                    hint=f"drop the {name} budget or give a positive number",
                )

    @property
    def unlimited(self) -> bool:
        return all(getattr(self, n) is None for n in ("calls", "tokens", "usd", "seconds"))

    def exceeded(self, totals: Totals, elapsed_s: float, reserve: Reserve | None = None) -> str | None:
        """The name of the first limit reached (``budget-calls``, ...), or None. Spend set
        aside in ``reserve`` counts as already spent."""
        r = reserve or Reserve()
        live_calls = totals.calls - totals.cached_calls
        if self.calls is not None and live_calls + r.calls >= self.calls:
            return "budget-calls"
        if self.tokens is not None and totals.live_tokens + r.tokens >= self.tokens:
            return "budget-tokens"
        if self.usd is not None and totals.usd is not None and totals.usd + r.usd >= self.usd:
            return "budget-usd"
        if self.seconds is not None and elapsed_s + r.seconds >= self.seconds:
            return "time-limit"
        return None

    def to_json(self) -> dict[str, float | int | None]:
        return {"calls": self.calls, "tokens": self.tokens, "usd": self.usd, "seconds": self.seconds}


class BudgetExhausted(PromptoptError):
    """Raised before a call that the budget does not allow. The optimizer catches it and ends
    the run cleanly; it is not a failure."""

    exit_code = 0

    def __init__(self, reason: str, totals: Totals) -> None:
        super().__init__(f"{reason} reached after {totals.calls} calls")
        self.reason = reason
        self.totals = totals
