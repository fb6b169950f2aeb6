"""Plateau detection: synthetic trajectories (rising, flat, a late step) checked at every prefix,
and unit checks of the McNemar test, the incumbent rule, the MDE and the JSON form."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from promptopt.evaluate.plateau import (
    CandidateEffect,
    Observation,
    PlateauConfig,
    PlateauEvidence,
    assess,
    dev_to_resolve,
    expected_mde,
)

PROPERTY = settings(max_examples=50, deadline=None, derandomize=True, database=None)
CONFIG = PlateauConfig(bootstrap=200)
STEP = 100.0
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def trajectory(
    accuracies: Sequence[float], *, n: int = 200, seed: int = 0, flip: float = 0.02, spend_step: float = STEP
) -> list[Observation]:
    """Paired synthetic candidates: example i has a difficulty u_i (a shuffled even grid, so a
    latent accuracy p is exactly p on this dev set); candidate t is right on i iff u_i < p_t, each
    answer then flipped independently with probability ``flip``. Spend grows by ``spend_step``."""
    rng = np.random.default_rng(seed)
    difficulty = rng.permutation((np.arange(n) + 0.5) / n)
    ids = [f"ex{i}" for i in range(n)]
    observations = []
    for t, p in enumerate(accuracies):
        correct = (difficulty < p) ^ (rng.random(n) < flip)
        observations.append(
            Observation((t + 1) * spend_step, f"c{t}", dict(zip(ids, correct.tolist(), strict=True)))
        )
    return observations


def hand_observation(spend: float, cid: str, bits: str, *, prefix: str = "ex") -> Observation:
    """An observation from a string of 0/1, example ids ``ex0``, ``ex1``, ..."""
    return Observation(spend, cid, {f"{prefix}{i}": b == "1" for i, b in enumerate(bits)})


def no_nan(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(no_nan(v) for v in value.values())
    if isinstance(value, list):
        return all(no_nan(v) for v in value)
    return True


def effect_of(evidence: PlateauEvidence, cid: str) -> CandidateEffect:
    (effect,) = [e for e in evidence.effects if e.candidate_id == cid]
    return effect


# --- trajectories ----------------------------------------------------------------------------


@PROPERTY
@given(
    seed=seeds,
    start=st.floats(0.05, 0.2),
    rate=st.floats(0.02, 0.03),
    flip=st.floats(0.005, 0.02),
    length=st.integers(20, 60),
)
def test_a_rising_curve_is_never_a_plateau_at_any_prefix(
    seed: int, start: float, rate: float, flip: float, length: int
) -> None:
    # stay below 93% so the curve is still rising at its end, not saturated at 100%
    length = min(length, int((0.93 - start) / rate) + 1)
    observations = trajectory([start + rate * t for t in range(length)], seed=seed, flip=flip)
    for k in range(1, length + 1):
        evidence = assess(observations[:k], CONFIG)
        assert not evidence.plateau, (k, evidence.reason)


@PROPERTY
@given(seed=seeds, level=st.floats(0.4, 0.8), flip=st.floats(0.01, 0.1))
def test_a_flat_noisy_curve_is_declared_a_plateau_within_40_observations(
    seed: int, level: float, flip: float
) -> None:
    observations = trajectory([level] * 40, seed=seed, flip=flip)
    first = next((k for k in range(1, 41) if assess(observations[:k], CONFIG).plateau), None)
    assert first is not None
    evidence = assess(observations[:first], CONFIG)
    assert evidence.n_in_window >= CONFIG.min_window_candidates
    assert evidence.min_p_value >= CONFIG.alpha
    assert 0.0 <= evidence.projected_gain < evidence.mde
    assert evidence.ceiling_low <= evidence.ceiling <= evidence.ceiling_high <= 1.0
    observed_level = level * (1 - flip) + (1 - level) * flip
    assert abs(evidence.ceiling - observed_level) < 0.1
    assert "beat the incumbent" in evidence.reason and "pt" in evidence.reason


@PROPERTY
@given(seed=seeds, level=st.floats(0.4, 0.75), flip=st.floats(0.005, 0.02))
def test_a_step_after_a_long_flat_stretch_is_not_missed(seed: int, level: float, flip: float) -> None:
    flat, after = 40, 20
    observations = trajectory([level] * flat + [level + 0.12] * (after + 1), seed=seed, flip=flip)
    step = observations[flat]
    for k in range(flat + 1, len(observations) + 1):
        evidence = assess(observations[:k], CONFIG)
        if step.spend <= evidence.window_start:
            continue  # the step has left the window: a later plateau at the new level is fine
        assert not evidence.plateau, (k, evidence.reason)
        effect = effect_of(evidence, step.candidate_id)
        assert effect.p_value < CONFIG.alpha
        assert effect.effect > 0
    # the window of 30% keeps the step for a while after it
    assert not assess(observations[: flat + 15], CONFIG).plateau


# --- McNemar ---------------------------------------------------------------------------------


def paired_pair(b: int, c: int, both: int = 3, neither: int = 2) -> list[Observation]:
    """An incumbent and a later candidate with exactly b and c discordant examples."""
    incumbent = "0" * b + "1" * c + "1" * both + "0" * neither
    candidate = "1" * b + "0" * c + "1" * both + "0" * neither
    return [hand_observation(100, "inc", incumbent), hand_observation(200, "cand", candidate)]


@pytest.mark.parametrize(
    ("b", "c"), [(0, 0), (1, 0), (0, 1), (5, 0), (0, 5), (5, 2), (2, 5), (6, 6), (9, 1), (12, 3)]
)
def test_mcnemar_p_value_matches_scipy_binomtest(b: int, c: int) -> None:
    evidence = assess(paired_pair(b, c), CONFIG)
    effect = effect_of(evidence, "cand")
    n = b + c + 5
    assert effect.n_paired == n
    assert effect.effect == pytest.approx((b - c) / n)
    expected = 1.0 if b + c == 0 else binomtest(b, b + c, 0.5, alternative="greater").pvalue
    assert effect.p_value == pytest.approx(expected, rel=1e-9, abs=1e-15)


@PROPERTY
@given(b=st.integers(0, 80), c=st.integers(0, 80))
def test_mcnemar_p_value_matches_binomtest_on_random_counts(b: int, c: int) -> None:
    effect = effect_of(assess(paired_pair(b, c, both=0, neither=1), CONFIG), "cand")
    expected = 1.0 if b + c == 0 else binomtest(b, b + c, 0.5, alternative="greater").pvalue
    assert effect.p_value == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_only_discordant_pairs_matter_and_the_test_is_one_sided() -> None:
    worse = effect_of(assess(paired_pair(0, 10), CONFIG), "cand")
    assert worse.p_value == 1.0 and worse.effect < 0
    better = effect_of(assess(paired_pair(10, 0, both=50, neither=50), CONFIG), "cand")
    assert better.p_value == pytest.approx(0.5**10)


# --- incumbent, window, partial observations -------------------------------------------------


def test_partial_observations_count_in_the_window_but_never_become_incumbent() -> None:
    full = "1" * 12 + "0" * 8  # 60% on 20 examples
    observations = [hand_observation(100.0 * (i + 1), f"full{i}", full) for i in range(4)]
    # pruned early: perfect on the 5 examples the incumbent got wrong, so it looks better
    partial = Observation(500.0, "pruned", {f"ex{i}": True for i in range(12, 17)})
    observations.append(partial)
    evidence = assess(observations, CONFIG)
    assert evidence.incumbent_id == "full0"  # ties keep the earlier one; the partial never wins
    assert evidence.incumbent_accuracy == pytest.approx(0.6)
    pruned = effect_of(evidence, "pruned")
    assert pruned.n_paired == 5
    assert pruned.effect == pytest.approx(1.0)
    assert pruned.p_value == pytest.approx(0.5**5)
    assert evidence.n_in_window == 2  # spend > 350: full3 and the pruned one


def test_each_candidate_is_compared_with_the_incumbent_before_it() -> None:
    observations = [
        hand_observation(100, "a", "1100000000"),
        hand_observation(200, "b", "1111110000"),  # beats a, becomes incumbent
        hand_observation(300, "c", "1111111100"),  # compared with b, not with a
    ]
    evidence = assess(observations, PlateauConfig(window_fraction=1.0, bootstrap=50))
    assert evidence.incumbent_id == "c"
    assert [e.candidate_id for e in evidence.effects] == ["b", "c"]  # the first has no incumbent
    assert effect_of(evidence, "b").effect == pytest.approx(0.4)
    assert effect_of(evidence, "c").effect == pytest.approx(0.2)


def test_a_significant_change_of_incumbent_in_the_window_is_a_beat() -> None:
    observations = trajectory([0.6] * 30 + [0.8], seed=3, flip=0.01)
    jump = observations[-1]
    evidence = assess(observations, CONFIG)
    assert evidence.incumbent_id == jump.candidate_id
    assert not evidence.plateau
    assert "beat the incumbent" in evidence.reason and jump.candidate_id in evidence.reason


def test_window_bounds_follow_the_spend() -> None:
    evidence = assess(trajectory([0.6] * 20, seed=1), CONFIG)
    assert evidence.window_end == 2000.0
    assert evidence.window_start == pytest.approx(1400.0)
    assert evidence.n_in_window == 6  # spend 1500 .. 2000


# --- guards and edge cases --------------------------------------------------------------------


def test_decreasing_spend_is_rejected() -> None:
    observations = [hand_observation(200, "a", "10"), hand_observation(100, "b", "11")]
    with pytest.raises(ValueError, match="spend decreased"):
        assess(observations, CONFIG)


@pytest.mark.parametrize("spend", [-1.0, float("nan"), float("inf")])
def test_invalid_spend_is_rejected(spend: float) -> None:
    with pytest.raises(ValueError, match="spend"):
        assess([hand_observation(spend, "a", "10")], CONFIG)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": 0.0},
        {"power": 1.0},
        {"window_fraction": 0.0},
        {"horizon_fraction": 0.0},
        {"bootstrap": 0},
        {"min_observations": 0},
    ],
)
def test_invalid_config_is_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PlateauConfig(**kwargs)


def test_equal_spend_is_allowed() -> None:
    observations = [hand_observation(100, "a", "10"), hand_observation(100, "b", "11")]
    assert not assess(observations, CONFIG).plateau


def test_empty_input_is_not_a_plateau() -> None:
    evidence = assess([], CONFIG)
    assert not evidence.plateau
    assert evidence.incumbent_id is None
    assert math.isnan(evidence.incumbent_accuracy) and math.isnan(evidence.mde)
    assert evidence.reason == "no observations yet"


def test_observations_without_examples_are_not_a_plateau() -> None:
    evidence = assess([Observation(1.0, "a", {}), Observation(2.0, "b", {})], CONFIG)
    assert not evidence.plateau and evidence.incumbent_id is None
    assert "no observation covers" in evidence.reason


def test_too_few_observations_is_never_a_plateau() -> None:
    observations = trajectory([0.6] * 7, seed=0)
    evidence = assess(observations, PlateauConfig(min_window_candidates=1, bootstrap=50))
    assert not evidence.plateau
    assert "only 7 observations" in evidence.reason


def test_too_few_candidates_in_the_window_is_never_a_plateau() -> None:
    observations = trajectory([0.6] * 12, seed=0)
    evidence = assess(observations, CONFIG)
    assert evidence.n_in_window == 4  # spend > 840: 900 .. 1200
    assert not evidence.plateau and "only 4 candidates" in evidence.reason


def test_without_points_to_project_the_gain_is_infinite_and_the_ceiling_unknown() -> None:
    # everything spent at once: no spread in spend over the last half
    observations = [hand_observation(100, f"c{i}", "1100") for i in range(10)]
    evidence = assess(observations, CONFIG)
    assert math.isinf(evidence.projected_gain) and not evidence.plateau
    assert math.isnan(evidence.ceiling)
    assert "project" in evidence.reason


# --- mde, determinism, JSON --------------------------------------------------------------------


def test_mde_shrinks_as_the_dev_set_grows() -> None:
    mdes = [assess(trajectory([0.6] * 20, n=n, seed=5, flip=0.05), CONFIG).mde for n in (100, 400, 1600)]
    assert all(m > 0 for m in mdes)
    assert mdes[0] > mdes[1] > mdes[2]
    # sqrt(d / n): four times the examples, about half the MDE
    assert mdes[1] / mdes[0] == pytest.approx(0.5, rel=0.25)


def test_mde_is_positive_without_any_discordance() -> None:
    observations = [hand_observation(100.0 * (i + 1), f"c{i}", "1" * 30 + "0" * 10) for i in range(10)]
    evidence = assess(observations, CONFIG)
    z = 1.6448536269514722 + 0.8416212335729143
    assert evidence.mde == pytest.approx(z * math.sqrt((1 / 40) / 40))


def test_assess_is_deterministic_for_a_seed() -> None:
    observations = trajectory([0.6] * 30, seed=11, flip=0.05)
    first = assess(observations, PlateauConfig(seed=7))
    second = assess(observations, PlateauConfig(seed=7))
    assert first.to_json() == second.to_json()
    other = assess(observations, PlateauConfig(seed=8))
    assert other.plateau == first.plateau and other.ceiling == first.ceiling


@pytest.mark.parametrize(
    "observations",
    [
        [],
        [hand_observation(100, "a", "1100")],
        trajectory([0.6] * 30, seed=2),
        trajectory([0.3 + 0.02 * t for t in range(30)], seed=2),
        [hand_observation(100, f"c{i}", "1100") for i in range(10)],
    ],
)
def test_to_json_is_strict_json_without_nan(observations: list[Observation]) -> None:
    payload = assess(observations, CONFIG).to_json()
    text = json.dumps(payload, allow_nan=False)
    assert json.loads(text) == payload
    assert no_nan(payload)
    assert isinstance(payload["effects"], list)


def test_a_slow_rise_above_the_noise_is_never_mistaken_for_a_plateau() -> None:
    """1 point per candidate on 200 examples with 2% answer noise: no seed sees a plateau. The
    projection is linear in spend and uses the slope's upper confidence bound; against log
    spend, 9/100 seeds did (and 20/50 of benchmarks/plateau.py's steady rise)."""
    seeds = range(30)
    false = sum(
        any(assess(obs[:m]).plateau for m in range(1, len(obs) + 1))
        for obs in (trajectory([0.4 + 0.01 * i for i in range(40)], seed=s, flip=0.02) for s in seeds)
    )
    assert false == 0, f"{false}/30 seeds declared a plateau on a rising curve"


def test_a_candidate_that_looked_much_better_on_few_examples_blocks_the_plateau() -> None:
    observations = trajectory([0.6] * 40, seed=3, flip=0.02)
    first = next(k for k in range(1, 41) if assess(observations[:k], CONFIG).plateau)
    flat = observations[:first]
    incumbent = assess(flat, CONFIG).incumbent_id
    inc = next(o for o in flat if o.candidate_id == incumbent)
    wrong = [k for k, v in inc.correct.items() if not v][:4]
    right = [k for k, v in inc.correct.items() if v][:6]
    few = {k: True for k in wrong + right}  # +40 pt on 10 examples: p = 0.5**4, not significant
    evidence = assess([*flat, Observation(flat[-1].spend + STEP, "partial", few)], CONFIG)
    assert not evidence.plateau
    assert "looked" in evidence.reason and "partial" in evidence.reason


# --- power before verdict: is the plateau a ceiling at this dev size? ---------------------------


def flat_plateau(n: int, resolution: float = 0.05) -> PlateauEvidence:
    """The first plateau of a flat noisy curve on ``n`` dev examples."""
    observations = trajectory([0.6] * 40, n=n, seed=3, flip=0.05)
    config = PlateauConfig(bootstrap=200, resolution=resolution)
    for k in range(1, len(observations) + 1):
        evidence = assess(observations[:k], config)
        if evidence.plateau:
            return evidence
    raise AssertionError("the flat curve never plateaued")


def test_a_plateau_on_a_small_dev_set_is_not_a_ceiling_and_says_what_would_resolve_it() -> None:
    evidence = flat_plateau(100)
    assert evidence.plateau and evidence.n_dev == 100
    assert evidence.mde > 0.05 and not evidence.resolved and not evidence.ceiling_reached
    assert evidence.state == "stalled, ceiling not resolved"
    needed = evidence.dev_needed()
    assert needed is not None and needed > 100
    # the MDE shrinks as 1/sqrt(n): at the dev size named, the same discordance resolves 5 points
    assert evidence.mde * math.sqrt(100 / needed) <= 0.05 < evidence.mde * math.sqrt(100 / (needed - 1))
    text = evidence.text()
    assert "ceiling not resolved at this dev size" in text and f"{needed:,} dev examples" in text


def test_a_plateau_is_a_ceiling_when_the_dev_set_resolves_the_threshold() -> None:
    coarse = flat_plateau(100, resolution=0.3)
    assert coarse.ceiling_reached and coarse.state == "ceiling reached"
    assert "within the 30.0 pt a ceiling needs" in coarse.text()
    large = flat_plateau(1600)
    assert large.mde <= 0.05 and large.ceiling_reached


def test_no_plateau_is_never_a_ceiling_however_fine_the_resolution() -> None:
    evidence = assess(trajectory([0.3 + 0.02 * t for t in range(30)], n=1600, seed=2), CONFIG)
    assert not evidence.plateau and not evidence.ceiling_reached and evidence.state == "not reached"


def test_resolution_survives_json_and_old_evidence_reads_with_the_default() -> None:
    evidence = flat_plateau(100, resolution=0.08)
    back = PlateauEvidence.from_json(json.loads(json.dumps(evidence.to_json())))
    assert back == evidence
    old = {k: v for k, v in evidence.to_json().items() if k not in ("n_dev", "resolution")}
    read = PlateauEvidence.from_json(old)
    assert read.resolution == 0.05 and read.n_dev == max(e.n_paired for e in evidence.effects)
    assert read.to_json() == old  # evidence written before these fields writes back unchanged
    bare = PlateauEvidence.from_json({**old, "effects": []})  # nothing to tell the dev size from
    assert bare.n_dev == 0 and bare.dev_needed() is None
    assert "more dev examples would resolve 5.0 pt" in bare.resolution_text()


@pytest.mark.parametrize("resolution", [0.0, 1.0, -0.1])
def test_a_resolution_outside_0_1_is_rejected(resolution: float) -> None:
    with pytest.raises(ValueError, match="resolution must be in"):
        PlateauConfig(resolution=resolution)


def test_the_dev_size_named_before_a_run_resolves_the_threshold_and_one_less_does_not() -> None:
    for resolution in (0.03, 0.05, 0.1):
        config = PlateauConfig(resolution=resolution)
        n = dev_to_resolve(config)
        assert expected_mde(n, config) <= resolution < expected_mde(n - 1, config)
    assert math.isnan(expected_mde(0))
