"""Paired comparison of two prompts on the same examples (exact McNemar)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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
