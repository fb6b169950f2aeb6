"""The kept prompt-prefix states of the local engine, without a model: which snapshot a new
prompt reuses, how much of it, and which one is dropped when the slots are full."""

from __future__ import annotations

from promptopt.llm.local.aligned import ALIGN, PrefixSnapshot, PrefixSnapshots, schedule


def snapshot(tokens: list[int], boundary: int) -> PrefixSnapshot:
    starts = schedule(boundary + 1, boundary, ALIGN)
    return PrefixSnapshot(tuple(tokens[:boundary]), tuple(s for s in starts if s <= boundary), b"state")


def test_the_snapshot_of_the_same_prefix_is_reused_up_to_the_input() -> None:
    a, b = list(range(300)), [7, *range(1, 300)]
    kept = PrefixSnapshots(2)
    kept.add(snapshot(a, 200))
    kept.add(snapshot(b, 150))
    prompt = [*a[:200], 9, 9, 9]
    found = kept.best(prompt, schedule(len(prompt), 200, ALIGN), beat=0)
    assert found is not None and found[0].tokens == tuple(a[:200]) and found[1] == 200


def test_a_snapshot_is_not_used_unless_it_beats_the_live_cache() -> None:
    a = list(range(300))
    kept = PrefixSnapshots(2)
    kept.add(snapshot(a, 200))
    prompt = [*a[:200], 1]
    assert kept.best(prompt, schedule(len(prompt), 200, ALIGN), beat=200) is None


def test_a_prefix_chunked_differently_is_reused_only_below_the_first_difference() -> None:
    a = list(range(300))
    kept = PrefixSnapshots(2)
    kept.add(snapshot(a, 200))
    prompt = a[:280]  # same tokens, but its input starts at 100: chunks differ after 64
    found = kept.best(prompt, schedule(len(prompt), 100, ALIGN), beat=0)
    assert found is not None and found[1] == 64


def test_the_least_recently_used_prefix_is_dropped_when_the_slots_are_full() -> None:
    kept = PrefixSnapshots(2)
    first, second, third = ([i, *range(1, 200)] for i in (100, 200, 300))
    kept.add(snapshot(first, 150))
    kept.add(snapshot(second, 150))
    assert kept.touch(first[:150])  # first is now the most recent
    kept.add(snapshot(third, 150))
    assert len(kept) == 2
    assert kept.touch(first[:150]) and kept.touch(third[:150]) and not kept.touch(second[:150])


def test_only_a_prefix_evaluated_a_second_time_is_worth_keeping() -> None:
    kept = PrefixSnapshots(2)
    assert not kept.evaluated_before([1, 2, 3])
    assert not kept.evaluated_before([1, 2, 4])
    assert kept.evaluated_before([1, 2, 3])
