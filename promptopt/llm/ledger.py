"""The cost ledger: one record per model call, and totals that are exactly their sum."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class LedgerRecord:
    """One call. ``usd`` is None for an unpriced model and 0.0 for a cached or local call."""

    role: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    usd: float | None
    cached: bool
    latency_s: float
    status: str = "ok"  # "ok" or "error"
    attempts: int = 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Totals:
    calls: int = 0
    cached_calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usd: float | None = 0.0
    unpriced_calls: int = 0
    seconds: float = 0.0
    live_tokens: int = 0  # prompt + completion tokens of calls that reached a model (not cached)

    def add(self, r: LedgerRecord) -> Totals:
        usd = None if (self.usd is None or r.usd is None) else self.usd + r.usd
        live = 0 if r.cached else r.prompt_tokens + r.completion_tokens
        return Totals(
            calls=self.calls + 1,
            cached_calls=self.cached_calls + int(r.cached),
            errors=self.errors + int(r.status != "ok"),
            prompt_tokens=self.prompt_tokens + r.prompt_tokens,
            completion_tokens=self.completion_tokens + r.completion_tokens,
            usd=usd,
            unpriced_calls=self.unpriced_calls + int(r.usd is None),
            seconds=self.seconds + r.latency_s,
            live_tokens=self.live_tokens + live,
        )


def total(records: Iterable[LedgerRecord]) -> Totals:
    """Totals over records. ``usd`` is None as soon as one call is unpriced: a sum that
    silently treats an unknown price as 0 would understate the spend."""
    result = Totals()
    for record in records:
        result = result.add(record)
    return result


@dataclass
class Ledger:
    """Thread-safe, append-only list of records, with an optional sink (e.g. a JSONL file)."""

    sink: Callable[[LedgerRecord], None] | None = None
    _records: list[LedgerRecord] = field(default_factory=list)
    _totals: Totals = field(default_factory=Totals)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, record: LedgerRecord) -> None:
        with self._lock:
            self._records.append(record)
            self._totals = self._totals.add(record)
            if self.sink is not None:
                self.sink(record)

    @property
    def records(self) -> tuple[LedgerRecord, ...]:
        with self._lock:
            return tuple(self._records)

    @property
    def totals(self) -> Totals:
        with self._lock:
            return self._totals
