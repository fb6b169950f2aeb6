"""The budget's gate on the door: no call starts once a limit is reached."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

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
    started: float | None = None  # None: the clock starts now

    def __post_init__(self) -> None:
        if self.started is None:
            self.started = self.clock()

    def fingerprint(self, model: str) -> str:
        return self.inner.fingerprint(model)

    def remaining_reason(self) -> str | None:
        assert self.started is not None
        return self.budget.exceeded(self.ledger.totals, self.clock() - self.started)

    def complete(self, request: CompletionRequest) -> CompletionResponse:
        reason = self.remaining_reason()
        if reason is not None:
            raise BudgetExhausted(reason, self.ledger.totals)
        return self.inner.complete(request)
