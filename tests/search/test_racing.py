from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptopt.search.racing import judge, race_order, rungs
from promptopt.task.spec import Example


def test_rungs_grow_geometrically_and_end_at_the_dev_size() -> None:
    assert rungs(200) == (20, 40, 80, 160, 200)
    assert rungs(20) == (20,)
    assert rungs(7) == (7,)
    with pytest.raises(ValueError):
        rungs(100, factor=1.0)


@settings(max_examples=100, derandomize=True, database=None)
@given(n=st.integers(1, 5000), first=st.integers(1, 100))
def test_rungs_are_increasing_and_bounded(n: int, first: int) -> None:
    sizes = rungs(n, first=first)
    assert list(sizes) == sorted(set(sizes)) and sizes[-1] == n and sizes[0] >= 1


def test_race_order_is_a_seeded_permutation() -> None:
    dev = tuple(Example(f"dev-{i}", str(i), "a") for i in range(50))
    assert race_order(dev, 1) == race_order(dev, 1) != race_order(dev, 2)
    assert sorted(race_order(dev, 1), key=lambda e: int(e.id[4:])) == list(dev)


def _results(bits: str) -> dict[str, bool]:
    return {f"e{i}": b == "1" for i, b in enumerate(bits)}


def test_a_clearly_worse_candidate_is_stopped_and_a_close_one_is_not() -> None:
    incumbent = _results("1" * 20)
    assert judge(_results("0" * 8 + "1" * 12), incumbent, alpha=0.05).stop  # 8 losses, 0 wins
    assert not judge(_results("0" * 2 + "1" * 18), incumbent, alpha=0.05).stop  # 2 losses: noise


def test_more_looks_make_stopping_stricter() -> None:
    incumbent = _results("1" * 20)
    candidate = _results("0" * 5 + "1" * 15)  # p_worse = 1/32
    assert judge(candidate, incumbent, alpha=0.05, looks=1).stop
    assert not judge(candidate, incumbent, alpha=0.05, looks=4).stop


def test_a_better_candidate_is_never_stopped() -> None:
    verdict = judge(_results("1" * 20), _results("0" * 10 + "1" * 10), alpha=0.05)
    assert not verdict.stop and verdict.effect == 0.5 and verdict.p_worse == 1.0
