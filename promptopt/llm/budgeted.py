"""The budget's gate on the door: no call starts once a limit is reached."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from promptopt.llm.budget import Budget, BudgetExhausted, Reserve
from promptopt.llm.ledger import Ledger
from promptopt.llm.types import Completer, CompletionRequest, CompletionResponse


@dataclass
class BudgetedCompleter:
    """Checks ``budget`` against ``ledger`` (which must record every call of ``inner``) before
    each call. ``clock`` is injected so time limits can be tested without waiting. ``reserve``
    is spend the current phase may not touch (the optimizer sets it during the search and
    clears it for the final test scoring)."""

    inner: Completer
    ledger: Ledger
    budget: Budget
    clock: Callable[[], float] = time.monotonic
    started: float | None = None  # None: the clock starts now
    reserve: Reserve = field(default_factory=Reserve)
    _started_calls: int = 0
    _recorded_before: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.started is None:
            self.started = self.clock()
        self._recorded_before = self.ledger.totals.calls

    def _in_flight(self) -> int:
        """Calls this gate let through that the ledger has not recorded yet."""
        return self._started_calls - (self.ledger.totals.calls - self._recorded_before)

    def fingerprint(self, model: str) -> str:
        return self.inner.fingerprint(model)

    def remaining_reason(self) -> str | None:
        """Why no new call may start now, or None. Calls already in flight count as made, so
        a call budget holds exactly under concurrency."""
        reserve = replace(self.reserve, calls=self.reserve.calls + self._in_flight())
        return self.budget.exceeded(self.ledger.totals, self.elapsed(), reserve)

    def elapsed(self) -> float:
        """Seconds since ``started`` (which a resumed run sets back by its earlier segments)."""
        assert self.started is not None
        return self.clock() - self.started

    def complete(self, request: CompletionRequest) -> CompletionResponse:
        with self._lock:
            reason = self.remaining_reason()
            if reason is not None:
                raise BudgetExhausted(reason, self.ledger.totals)
            self._started_calls += 1
        return self.inner.complete(request)
