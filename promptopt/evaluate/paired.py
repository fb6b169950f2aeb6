"""Paired comparison of two prompts (or models) on the same examples: exact McNemar, and the
accuracy difference with a paired bootstrap interval."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import special


@dataclass(frozen=True)
class Discordance:
    """On the ``n`` shared examples: ``b`` = only A right, ``c`` = only B right."""

    n: int
    b: int
    c: int

    @property
    def effect(self) -> float:
        """Accuracy of A minus accuracy of B on the shared examples (NaN when none)."""
        return (self.b - self.c) / self.n if self.n else float("nan")


def discordance(a: Mapping[str, bool], b: Mapping[str, bool]) -> Discordance:
    shared = a.keys() & b.keys()
    only_a = sum(1 for k in shared if a[k] and not b[k])
    only_b = sum(1 for k in shared if b[k] and not a[k])
    return Discordance(n=len(shared), b=only_a, c=only_b)


def mcnemar_greater(b: int, c: int) -> float:
    """One-sided exact McNemar p-value for "A better than B": P(Binomial(b + c, 1/2) >= b);
    1 when there is no discordance."""
    if b + c == 0 or b == 0:
        return 1.0
    return float(special.bdtrc(b - 1, b + c, 0.5))


@dataclass(frozen=True)
class Difference:
    """Accuracy of A minus accuracy of B on the ``n`` shared examples, with its 95% paired
    bootstrap interval (examples resampled together); NaN when nothing is shared."""

    n: int
    a_accuracy: float
    b_accuracy: float
    diff: float
    low: float
    high: float


def difference(
    a: Mapping[str, bool], b: Mapping[str, bool], *, seed: int, resamples: int = 2000
) -> Difference:
    """A minus B on the examples both hold (sorted ids, so the draw is reproducible)."""
    shared = sorted(a.keys() & b.keys())
    if not shared:
        nan = float("nan")
        return Difference(0, nan, nan, nan, nan, nan)
    diffs = np.array([int(a[k]) - int(b[k]) for k in shared], dtype=float)
    draws = np.random.default_rng(seed).integers(0, len(shared), size=(resamples, len(shared)))
    low, high = np.percentile(diffs[draws].mean(axis=1), [2.5, 97.5])
    return Difference(
        n=len(shared),
        a_accuracy=sum(a[k] for k in shared) / len(shared),
        b_accuracy=sum(b[k] for k in shared) / len(shared),
        diff=float(diffs.mean()),
        low=float(low),
        high=float(high),
    )
