"""Racing: score a candidate on growing slices of the dev set and stop it as soon as it is
confidently worse than the incumbent on the same examples (a paired, one-sided exact McNemar
test). Only candidates that survive every rung see the whole dev set."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from promptopt.evaluate.paired import discordance, mcnemar_greater
from promptopt.task.spec import Example


def race_order(dev: Sequence[Example], seed: int) -> tuple[Example, ...]:
    """A fixed shuffled order of the dev set; rungs are its prefixes, so they nest."""
    order = list(dev)
    random.Random(seed).shuffle(order)
    return tuple(order)


def rungs(n_dev: int, *, first: int = 20, factor: float = 2.0) -> tuple[int, ...]:
    """Slice sizes ``first, first*factor, ...``, always ending with ``n_dev``."""
    if n_dev < 1 or first < 1 or factor <= 1.0:
        raise ValueError(f"need n_dev >= 1, first >= 1, factor > 1 (seen {n_dev}, {first}, {factor})")
    sizes: list[int] = []
    size = float(first)
    while size < n_dev:
        sizes.append(int(size))
        size *= factor
    return (*sizes, n_dev)


@dataclass(frozen=True)
class RaceVerdict:
    """``p_worse``: one-sided p-value that the candidate is worse than the incumbent."""

    stop: bool
    n_paired: int
    effect: float
    p_worse: float


def judge(
    candidate: Mapping[str, bool], incumbent: Mapping[str, bool], *, alpha: float, looks: int = 1
) -> RaceVerdict:
    """Stop when the candidate is worse at level ``alpha / looks`` (Bonferroni over the rungs,
    since the same candidate is tested once per rung)."""
    d = discordance(candidate, incumbent)
    p_worse = mcnemar_greater(d.c, d.b)
    return RaceVerdict(stop=p_worse < alpha / max(looks, 1), n_paired=d.n, effect=d.effect, p_worse=p_worse)
