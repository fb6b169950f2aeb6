"""The search's progress, rebuilt from the run's events: after each evaluation, the best dev
accuracy so far (the incumbent: the best candidate scored on the whole dev slice, ties to the
earlier one, as the optimizer picks it) with its 95% Wilson interval, against cumulative calls,
tokens and dollars."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from promptopt.run.events import Evaluated, Event, Plateau

NAN = float("nan")
Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (NaN, NaN) when ``n`` is 0."""
    if n <= 0:
        return NAN, NAN
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Step:
    """One finished evaluation and the incumbent right after it. ``tokens`` are the live
    prompt+completion tokens spent so far (the plateau test's spend unit); ``usd`` is None when
    a call was unpriced. ``best_*`` are NaN (and ``best_id`` None) before any candidate was
    scored on the whole dev slice."""

    candidate_id: str
    operator: str
    accuracy: float
    n: int
    raced_out: bool
    calls: int
    tokens: float
    usd: float | None
    elapsed_s: float
    best_id: str | None
    best_accuracy: float
    best_n: int
    band_low: float
    band_high: float


@dataclass(frozen=True)
class Trajectory:
    """``plateau_index`` is the step after which the plateau was first declared (None if never)."""

    steps: tuple[Step, ...]
    plateau_index: int | None

    @property
    def priced(self) -> bool:
        """Whether dollars are a meaningful axis: every step priced and something was spent."""
        return (
            bool(self.steps)
            and all(s.usd is not None for s in self.steps)
            and (self.steps[-1].usd or 0.0) > 0.0
        )

    def spend_axis(self) -> str:
        return "usd" if self.priced else "tokens"


def trajectory(events: Iterable[Event]) -> Trajectory:
    steps: list[Step] = []
    plateau_index: int | None = None
    best: Evaluated | None = None
    for event in events:
        if isinstance(event, Evaluated):
            if not event.raced_out and (best is None or event.accuracy > best.accuracy):
                best = event
            steps.append(_step(event, best))
        elif isinstance(event, Plateau) and event.evidence.plateau and plateau_index is None and steps:
            plateau_index = len(steps) - 1
    return Trajectory(tuple(steps), plateau_index)


def _step(event: Evaluated, best: Evaluated | None) -> Step:
    if best is None:
        best_id, acc, n, low, high = None, NAN, 0, NAN, NAN
    else:
        best_id, acc, n = best.candidate, float(best.accuracy), best.n
        low, high = wilson(round(acc * n), n)
    return Step(
        candidate_id=event.candidate,
        operator=event.operator,
        accuracy=float(event.accuracy),
        n=event.n,
        raced_out=event.raced_out,
        calls=event.calls,
        tokens=float(event.spend_tokens),
        usd=None if event.usd is None else float(event.usd),
        elapsed_s=float(event.elapsed_s),
        best_id=best_id,
        best_accuracy=acc,
        best_n=n,
        band_low=low,
        band_high=high,
    )
