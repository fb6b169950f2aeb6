"""Plateau detection: has the prompt search reached its ceiling, with statistical evidence?

A plateau is declared when, over the recent window of spend, no candidate beat the incumbent
by more than the noise of the dev set (an exact one-sided McNemar test, paired on example ids),
no candidate scored on fewer examples looked better by at least the detectable effect (too
few examples to tell is not evidence of a ceiling), and the curve of best accuracy against spend projects less gain over the next stretch of
spend than the smallest effect the dev set could detect. It is never a patience counter.

Conventions: observations arrive in the order they happened, with non-decreasing cumulative
spend. A *full* observation is one evaluated on the largest number of examples seen in the
sequence; only full observations can become the incumbent (the best by accuracy, ties to the
earlier one). Observations on fewer examples (pruned by racing) still count as candidates in
the window. Quantities that cannot be computed are NaN; a projection without enough points is
+inf (no evidence that the curve has flattened).

Power before verdict: a plateau says no candidate beat the incumbent by more than the dev set
can detect. That is a ceiling only when what the dev set can detect (the paired MDE) is small
enough to matter: ``PlateauConfig.resolution`` (default 5 points). Otherwise the evidence says
the ceiling is not resolved at this dev size, and how many dev examples would resolve it: the
MDE shrinks as 1/sqrt(n), so n * (mde / resolution)**2 examples (same discordance) would.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from promptopt.evaluate.paired import discordance, mcnemar_greater

NAN = float("nan")
INF = float("inf")
_MIN_PROJECTION_POINTS = 3
_CEILING_LEVEL = 0.95
DEFAULT_RESOLUTION = 0.05  # the largest undetectable gain a declared ceiling may hide
# Share of dev examples on which a window candidate and its incumbent disagree, for estimates
# before a run: 0.31 (banking77) and 0.29 (it_service_tickets) in the reference runs' evidence.
TYPICAL_DISCORDANCE = 0.3


@dataclass(frozen=True)
class Observation:
    """One finished evaluation: cumulative ``spend`` when it finished (any monotone unit) and
    per-example correctness, which may cover only part of the dev set."""

    spend: float
    candidate_id: str
    correct: Mapping[str, bool]


@dataclass(frozen=True)
class PlateauConfig:
    """Thresholds for :func:`assess`. Invalid values raise ValueError."""

    alpha: float = 0.05
    power: float = 0.8
    window_fraction: float = 0.3
    min_window_candidates: int = 5
    min_observations: int = 8
    horizon_fraction: float = 0.5
    bootstrap: int = 1000
    seed: int = 0
    resolution: float = DEFAULT_RESOLUTION

    def __post_init__(self) -> None:
        if not 0.0 < self.resolution < 1.0:
            raise ValueError(f"resolution must be in (0, 1) (seen: {self.resolution})")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1) (seen: {self.alpha})")
        if not 0.0 < self.power < 1.0:
            raise ValueError(f"power must be in (0, 1) (seen: {self.power})")
        if not 0.0 < self.window_fraction <= 1.0:
            raise ValueError(f"window_fraction must be in (0, 1] (seen: {self.window_fraction})")
        if not self.horizon_fraction > 0.0:
            raise ValueError(f"horizon_fraction must be positive (seen: {self.horizon_fraction})")
        if self.min_window_candidates < 1 or self.min_observations < 1:
            raise ValueError("min_window_candidates and min_observations must be at least 1")
        if self.bootstrap < 1:
            raise ValueError(f"bootstrap must be at least 1 (seen: {self.bootstrap})")


@dataclass(frozen=True)
class CandidateEffect:
    """A window candidate against the incumbent that held when it was evaluated.

    ``effect`` is candidate minus incumbent accuracy on the ``n_paired`` shared examples (NaN
    when none are shared); ``p_value`` is the one-sided exact McNemar test, H1 candidate better.
    """

    candidate_id: str
    n_paired: int
    effect: float
    p_value: float


@dataclass(frozen=True)
class PlateauEvidence:
    """The verdict and every number behind it. Accuracies and effects are fractions."""

    plateau: bool
    reason: str
    window_start: float
    window_end: float
    n_in_window: int
    incumbent_id: str | None
    incumbent_accuracy: float
    effects: tuple[CandidateEffect, ...]
    min_p_value: float
    mde: float
    projected_gain: float
    ceiling: float
    ceiling_low: float
    ceiling_high: float
    # Examples of a full observation (what the MDE is computed on) and the gain a ceiling may
    # leave undetected. None in evidence written before they were recorded: then read as the
    # most examples a window comparison shared, and the default resolution.
    n_dev_seen: int | None = None
    resolution_asked: float | None = None

    @property
    def n_dev(self) -> int:
        if self.n_dev_seen is not None:
            return self.n_dev_seen
        return max((e.n_paired for e in self.effects), default=0)

    @property
    def resolution(self) -> float:
        return DEFAULT_RESOLUTION if self.resolution_asked is None else self.resolution_asked

    @property
    def resolved(self) -> bool:
        """The dev set can detect a gain of ``resolution``: a plateau here is a ceiling."""
        return math.isfinite(self.mde) and self.mde <= self.resolution

    @property
    def ceiling_reached(self) -> bool:
        """A plateau on a dev set that resolves ``resolution``: the prompt ceiling."""
        return self.plateau and self.resolved

    @property
    def state(self) -> str:
        """In a few words: ceiling reached, stalled on a dev set too small to call it a
        ceiling, or not reached."""
        if self.ceiling_reached:
            return "ceiling reached"
        return "stalled, ceiling not resolved" if self.plateau else "not reached"

    def text(self) -> str:
        """The state, the plateau test's reason and, once there is an MDE, the resolution."""
        head = f"{self.state}: {self.reason}"
        return head if not math.isfinite(self.mde) else f"{head}; {self.resolution_text()}"

    def dev_needed(self) -> int | None:
        """Dev examples that would resolve ``resolution`` at the discordance seen (None when
        the MDE is unknown)."""
        if not math.isfinite(self.mde) or self.n_dev <= 0:
            return None
        return max(self.n_dev, math.ceil(self.n_dev * (self.mde / self.resolution) ** 2))

    def resolution_text(self) -> str:
        """One sentence: what the dev set resolves against what a ceiling needs."""
        asked = _pt(self.resolution)
        if not math.isfinite(self.mde):
            return f"resolution unknown (no paired comparison yet; a ceiling needs {asked})"
        seen = f"{self.n_dev} dev examples resolve gains of {_pt(self.mde)}"
        if self.resolved:
            return f"{seen}, within the {asked} a ceiling needs"
        needed = self.dev_needed()
        more = "more dev examples" if needed is None else f"about {needed:,} dev examples"
        return f"ceiling not resolved at this dev size: {seen} (> {asked}); {more} would resolve {asked}"

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict; non-finite floats (NaN, and +inf for a missing projection) become None."""
        return {
            "plateau": self.plateau,
            "reason": self.reason,
            "window_start": _finite_or_none(self.window_start),
            "window_end": _finite_or_none(self.window_end),
            "n_in_window": self.n_in_window,
            "incumbent_id": self.incumbent_id,
            "incumbent_accuracy": _finite_or_none(self.incumbent_accuracy),
            "effects": [
                {
                    "candidate_id": e.candidate_id,
                    "n_paired": e.n_paired,
                    "effect": _finite_or_none(e.effect),
                    "p_value": _finite_or_none(e.p_value),
                }
                for e in self.effects
            ],
            "min_p_value": _finite_or_none(self.min_p_value),
            "mde": _finite_or_none(self.mde),
            "projected_gain": _finite_or_none(self.projected_gain),
            "ceiling": _finite_or_none(self.ceiling),
            "ceiling_low": _finite_or_none(self.ceiling_low),
            "ceiling_high": _finite_or_none(self.ceiling_high),
            **({} if self.n_dev_seen is None else {"n_dev": self.n_dev_seen}),
            **({} if self.resolution_asked is None else {"resolution": self.resolution_asked}),
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> PlateauEvidence:
        """The evidence :meth:`to_json` wrote (a missing number reads back as NaN)."""
        return PlateauEvidence(
            plateau=bool(data["plateau"]),
            reason=str(data["reason"]),
            window_start=_number(data["window_start"]),
            window_end=_number(data["window_end"]),
            n_in_window=int(data["n_in_window"]),
            incumbent_id=data["incumbent_id"],
            incumbent_accuracy=_number(data["incumbent_accuracy"]),
            effects=tuple(
                CandidateEffect(
                    str(e["candidate_id"]), int(e["n_paired"]), _number(e["effect"]), _number(e["p_value"])
                )
                for e in data["effects"]
            ),
            min_p_value=_number(data["min_p_value"]),
            mde=_number(data["mde"]),
            projected_gain=_number(data["projected_gain"]),
            ceiling=_number(data["ceiling"]),
            ceiling_low=_number(data["ceiling_low"]),
            ceiling_high=_number(data["ceiling_high"]),
            n_dev_seen=None if data.get("n_dev") is None else int(data["n_dev"]),
            resolution_asked=None if data.get("resolution") is None else float(data["resolution"]),
        )


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _number(value: float | None) -> float:
    return NAN if value is None else float(value)


@dataclass(frozen=True)
class _Comparison:
    effect: CandidateEffect
    discordance: float  # (b + c) / n_paired; NaN when nothing is shared


def assess(observations: Sequence[Observation], config: PlateauConfig = PlateauConfig()) -> PlateauEvidence:
    """Decide whether the search has plateaued, from the observations so far.

    Pure and deterministic for a given ``config.seed``. Raises ValueError when spend decreases
    or is not a finite non-negative number.
    """
    _check_spend(observations)
    window_end = observations[-1].spend if observations else NAN
    window_start = window_end * (1.0 - config.window_fraction) if observations else NAN
    full_size = max((len(o.correct) for o in observations), default=0)
    if full_size == 0:
        why = "no observations yet" if not observations else "no observation covers any dev example"
        return empty_evidence(why, window_start, window_end, resolution=config.resolution)

    incumbents = _incumbents_before(observations, full_size)
    comparisons = [
        _compare(obs, observations[inc])
        for obs, inc in zip(observations, incumbents[:-1], strict=True)
        if obs.spend > window_start and inc is not None
    ]
    effects = tuple(c.effect for c in comparisons)
    incumbent = observations[_require(incumbents[-1])]
    inc_accuracy = _accuracy(incumbent.correct)
    min_p = min((e.p_value for e in effects), default=NAN)
    mde = _mde(comparisons, full_size, config)
    gain = _projected_gain(observations, incumbents, config.horizon_fraction, config.alpha)
    ceiling, low, high = _ceiling(incumbent.correct, gain, config)
    beaten = [e for e in effects if e.p_value < config.alpha]

    plateau, reason = _verdict(len(observations), effects, beaten, min_p, mde, gain, config)
    return PlateauEvidence(
        plateau=plateau,
        reason=reason,
        window_start=window_start,
        window_end=window_end,
        n_in_window=len(effects),
        incumbent_id=incumbent.candidate_id,
        incumbent_accuracy=inc_accuracy,
        effects=effects,
        min_p_value=min_p,
        mde=mde,
        projected_gain=gain,
        ceiling=ceiling,
        ceiling_low=low,
        ceiling_high=high,
        n_dev_seen=full_size,
        resolution_asked=config.resolution,
    )


def _check_spend(observations: Sequence[Observation]) -> None:
    previous = 0.0
    for i, obs in enumerate(observations):
        if not (math.isfinite(obs.spend) and obs.spend >= 0.0):
            raise ValueError(
                f"observation {i} ({obs.candidate_id}): spend must be finite and >= 0 (seen: {obs.spend})"
            )
        if obs.spend < previous:
            raise ValueError(
                f"observation {i} ({obs.candidate_id}): spend decreased from {previous} to {obs.spend}"
            )
        previous = obs.spend


def _require(index: int | None) -> int:
    if index is None:  # unreachable when some observation has full_size > 0 examples
        raise AssertionError("no incumbent although a full observation exists")
    return index


def _accuracy(correct: Mapping[str, bool]) -> float:
    return sum(bool(v) for v in correct.values()) / len(correct) if correct else NAN


def _incumbents_before(observations: Sequence[Observation], full_size: int) -> list[int | None]:
    """Index of the incumbent among ``observations[:i]`` for i = 0 .. len (the last entry is the
    final incumbent). Only full observations qualify; a tie keeps the earlier one."""
    result: list[int | None] = [None]
    best: int | None = None
    best_acc = -INF
    for i, obs in enumerate(observations):
        if len(obs.correct) == full_size:
            acc = _accuracy(obs.correct)
            if acc > best_acc:
                best, best_acc = i, acc
        result.append(best)
    return result


def _compare(candidate: Observation, incumbent: Observation) -> _Comparison:
    d = discordance(candidate.correct, incumbent.correct)
    rate = (d.b + d.c) / d.n if d.n else NAN
    effect = CandidateEffect(candidate.candidate_id, d.n, d.effect, mcnemar_greater(d.b, d.c))
    return _Comparison(effect, rate)


def _mde(comparisons: Sequence[_Comparison], n: int, config: PlateauConfig) -> float:
    """Paired minimum detectable effect (z_{1-alpha} + z_power) * sqrt(d / n), with d the mean
    discordance rate of the window's comparisons floored at 1/n; NaN without a comparison."""
    rates = [c.discordance for c in comparisons if not math.isnan(c.discordance)]
    if not rates:
        return NAN
    return _z(config) * math.sqrt(max(sum(rates) / len(rates), 1.0 / n) / n)


def _z(config: PlateauConfig) -> float:
    return NormalDist().inv_cdf(1.0 - config.alpha) + NormalDist().inv_cdf(config.power)


def expected_mde(
    n: int, config: PlateauConfig = PlateauConfig(), discordance: float = TYPICAL_DISCORDANCE
) -> float:
    """Before a run: the paired MDE a dev slice of ``n`` examples will likely give (at the
    typical discordance of the reference runs); NaN for an empty slice."""
    return _z(config) * math.sqrt(discordance / n) if n > 0 else NAN


def dev_to_resolve(config: PlateauConfig = PlateauConfig(), discordance: float = TYPICAL_DISCORDANCE) -> int:
    """Before a run: the dev examples whose expected MDE is ``config.resolution``."""
    return math.ceil(discordance * (_z(config) / config.resolution) ** 2)


def _projected_gain(
    observations: Sequence[Observation],
    incumbents: Sequence[int | None],
    horizon_fraction: float,
    alpha: float,
) -> float:
    """Least-squares slope of best-so-far accuracy against spend over the points in the last
    half of spend, raised to its upper confidence bound, times ``horizon_fraction`` of the spend
    so far. Linear in spend, not in log spend: a log projection shrinks the horizon of a slow,
    steady rise and declared it a plateau early (benchmarks/plateau.py measured 20 of 50 such
    curves stopped, 18 points lost on average; none with the linear projection). +inf when
    fewer than 3 points (or no spread in spend) leave the slope undetermined."""
    total = observations[-1].spend
    xs: list[float] = []
    ys: list[float] = []
    for i, obs in enumerate(observations):
        inc = incumbents[i + 1]
        if inc is not None and obs.spend > total / 2.0:
            xs.append(obs.spend)
            ys.append(_accuracy(observations[inc].correct))
    if len(xs) < _MIN_PROJECTION_POINTS:
        return INF
    x = np.asarray(xs)
    y = np.asarray(ys)
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if sxx <= 0.0:
        return INF
    slope = float(dx @ (y - y.mean())) / sxx
    return max(0.0, slope + _slope_margin(dx, y - y.mean(), slope, sxx, alpha)) * total * horizon_fraction


def _slope_margin(dx: np.ndarray, dy: np.ndarray, slope: float, sxx: float, alpha: float) -> float:
    """One-sided upper confidence margin of the least-squares slope (z * standard error), so a
    noisy, still-rising curve is projected optimistically rather than read as flat. A truly
    flat best-so-far curve has no residuals and no margin."""
    if len(dx) <= 2:
        return 0.0
    residuals = dy - slope * dx
    se = math.sqrt(float(residuals @ residuals) / (len(dx) - 2) / sxx)
    return NormalDist().inv_cdf(1.0 - alpha) * se


def _ceiling(correct: Mapping[str, bool], gain: float, config: PlateauConfig) -> tuple[float, float, float]:
    """Incumbent accuracy plus the projected gain, capped at 1, with a percentile bootstrap over
    the incumbent's examples. Resampling n booleans with replacement gives a Binomial(n, acc)
    count, which is drawn directly. NaN when the gain is not finite."""
    if not math.isfinite(gain):
        return NAN, NAN, NAN
    n = len(correct)
    acc = _accuracy(correct)
    rng = np.random.default_rng(config.seed)
    accs = rng.binomial(n, acc, size=config.bootstrap) / n
    tail = (1.0 - _CEILING_LEVEL) / 2.0 * 100.0
    low, high = np.percentile(accs, [tail, 100.0 - tail])
    shift = max(gain, 0.0)
    return min(1.0, acc + shift), min(1.0, float(low) + shift), min(1.0, float(high) + shift)


def _pt(fraction: float) -> str:
    return f"{fraction * 100:.1f} pt"


def _verdict(
    n_obs: int,
    effects: Sequence[CandidateEffect],
    beaten: Sequence[CandidateEffect],
    min_p: float,
    mde: float,
    gain: float,
    config: PlateauConfig,
) -> tuple[bool, str]:
    """The first condition that fails, or the plateau, as one plain sentence with its numbers."""
    window = f"the last {config.window_fraction * 100:.0f}% of spend"
    if n_obs < config.min_observations:
        return False, f"only {n_obs} observations so far (< {config.min_observations} needed)"
    if len(effects) < config.min_window_candidates:
        return False, (
            f"only {len(effects)} candidates compared with an incumbent in {window} "
            f"(< {config.min_window_candidates} needed)"
        )
    if beaten:
        best = min(beaten, key=lambda e: e.p_value)
        return False, (
            f"candidate {best.candidate_id} beat the incumbent in {window} by "
            f"{_pt(best.effect)} (p={best.p_value:.3g} < {config.alpha:g})"
        )
    if math.isnan(mde):
        return False, f"no candidate in {window} shares an example with its incumbent"
    unsettled = [e for e in effects if not math.isnan(e.effect) and e.effect >= mde]
    if unsettled:
        best = max(unsettled, key=lambda e: e.effect)
        return False, (
            f"candidate {best.candidate_id} looked {_pt(best.effect)} better than the incumbent "
            f"on only {best.n_paired} examples (p={best.p_value:.2g}): not evidence either way"
        )
    if math.isinf(gain):
        return False, (
            f"no candidate in {window} beat the incumbent (min p={min_p:.2g}) but the "
            f"last half of spend has too few points (or distinct spends) to project the curve"
        )
    if not gain < mde:
        return False, (
            f"no candidate in {window} beat the incumbent (min p={min_p:.2g}) but the "
            f"projected gain {_pt(gain)} >= detectable {_pt(mde)}"
        )
    return True, (
        f"no candidate in {window} beat the incumbent (min p={min_p:.2g}) and the "
        f"projected gain {_pt(gain)} < detectable {_pt(mde)}"
    )


def empty_evidence(
    reason: str, window_start: float = NAN, window_end: float = NAN, *, resolution: float = DEFAULT_RESOLUTION
) -> PlateauEvidence:
    """Evidence with nothing computed (every number NaN): no plateau, for ``reason``."""
    return PlateauEvidence(
        plateau=False,
        reason=reason,
        window_start=window_start,
        window_end=window_end,
        n_in_window=0,
        incumbent_id=None,
        incumbent_accuracy=NAN,
        effects=(),
        min_p_value=NAN,
        mde=NAN,
        projected_gain=NAN,
        ceiling=NAN,
        ceiling_low=NAN,
        ceiling_high=NAN,
        resolution_asked=resolution,
    )
