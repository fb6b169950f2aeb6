"""The budget's gate on the door: no call starts once a limit is reached."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from promptopt.budget import Budget, BudgetExhausted
from promptopt.cost import Ledger
from promptopt.llm.types import Completer, CompletionRequest, CompletionResponse


@dataclass
class BudgetedCompleter:
    """Checks ``budget`` against ``ledger`` (which must record every call of ``inner``) before
    each call. ``clock`` is injected so time limits can be tested without waiting."""

    inner: Completer
    ledger: Ledger
    budget: Budget
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=float("nan"))

    def __post_init__(self) -> None:
        if self.started != self.started:  # NaN: start the clock now
            self.started = self.clock()

    def fingerprint(self, model: str) -> str:
        return self.inner.fingerprint(model)

    def remaining_reason(self) -> str | None:
        return self.budget.exceeded(self.ledger.totals, self.clock() - self.started)

    def complete(self, request: CompletionRequest) -> CompletionResponse:
        reason = self.remaining_reason()
        if reason is not None:
            raise BudgetExhausted(reason, self.ledger.totals)
        return self.inner.complete(request)
