"""What a run's history says an example costs: answers from the completion cache take no model
time and must not make the final test scoring look cheap."""

from __future__ import annotations

from pathlib import Path

from promptopt.evaluate.evaluator import ExampleRecord
from promptopt.run.costs import live_seconds_per_example, mean_cost
from promptopt.run.history import History
from promptopt.run.store import RunStore


def row(
    candidate: str,
    example: str,
    wall: float,
    *,
    cached: bool = False,
    status: str = "ok",
    original: float | None = None,
) -> tuple[str, ExampleRecord]:
    record = ExampleRecord(
        example_id=example,
        gold="a",
        prediction="a",
        raw="a",
        correct=True,
        status=status,
        prompt_tokens=100,
        completion_tokens=2,
        latency_s=wall * 0.9,
        usd=0.0,
        cached=cached,
        wall_s=wall,
        live_latency_s=original,
    )
    return candidate, record


def records(rows: list[tuple[str, ExampleRecord]]) -> list[ExampleRecord]:
    return [r for _, r in rows]


def history_of(tmp_path: Path, rows: list[tuple[str, ExampleRecord]]) -> History:
    history = History(RunStore(tmp_path))
    for candidate, r in rows:
        history.records[(candidate, "dev")][r.example_id] = r
    return history


def test_seconds_per_example_are_what_the_answers_cost_without_the_cache() -> None:
    old_hits = [row("a", f"e{i}", 0.001, cached=True) for i in range(8)]  # no original latency kept
    cost = mean_cost(records([*old_hits, row("a", "x", 2.0), row("a", "y", 4.0)]))
    assert cost.live == 2 and cost.seconds == 3.0
    assert mean_cost(records([row("a", "e", 0.001, cached=True)])).seconds == 0.001  # nothing timed: all rows
    hits = [row("a", "h", 0.01, cached=True, original=5.0)]  # lookup 0.009 s of 0.01: 5.001 s live
    assert mean_cost(records([*hits, row("a", "x", 3.0)])).seconds == (5.001 + 3.0) / 2


def test_the_runs_live_example_leaves_out_each_candidates_slowest_and_untimed_hits(tmp_path: Path) -> None:
    history = history_of(
        tmp_path,
        [
            row("a", "1", 2.0),
            row("a", "2", 35.0),
            row("a", "3", 4.0),  # the slowest one loaded the model
            row("b", "1", 13.0),
            row("b", "2", 3.0),
            row("b", "3", 0.001, cached=True),
            row("c", "1", 9.0, status="error"),
        ],
    )
    assert live_seconds_per_example(history.records, "dev") == 3.0
    assert live_seconds_per_example(history.records, "test") is None
    one_each = history_of(tmp_path, [row("a", "1", 6.0), row("b", "1", 8.0)])
    assert live_seconds_per_example(one_each.records, "dev") == 7.0
