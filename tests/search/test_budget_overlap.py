"""Budgets proven against the ledger, with calls that really overlap: a whole optimization run
at concurrency 8 over a completer that holds each call open. Whatever the limits (drawn by
hypothesis), after the run:

- live calls never exceed --budget-calls (exact: calls in flight count as made);
- tokens and dollars exceed their budget by less than the calls in flight can spend
  (at most ``concurrency`` calls, each at most the largest call seen);
- the time limit is met within one call.

The stop reason alone proves none of this; each check reads the ledger the run wrote.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from promptopt.llm.budget import Budget
from promptopt.testing import (
    FAKE_SETTINGS,
    FakeCompleter,
    fake_optimizer,
    new_run_store,
    tiny_task,
    topic_answers,
)

CONCURRENCY = 8
HOLD_S = 0.004
RUN = replace(FAKE_SETTINGS, concurrency=CONCURRENCY)
PROPERTY = settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _run(
    path: Path, budget: Budget, fake: FakeCompleter, *, real_clock: bool = False
) -> list[dict[str, object]]:
    task = tiny_task()
    store = new_run_store(path, task, replace(RUN, budget=budget))
    clock = time.monotonic if real_clock else None
    fake_optimizer(store, task, replace(RUN, budget=budget), fake, clock=clock).optimizer.run()
    assert fake.max_in_flight > 1, "the calls never overlapped: the test proves nothing"
    return [json.loads(line) for line in (path / "ledger.jsonl").read_text().splitlines()]


def _live(ledger: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in ledger if not r["cached"]]


@PROPERTY
@given(limit=st.integers(min_value=30, max_value=400))
def test_calls_never_exceed_the_call_budget(tmp_path_factory: pytest.TempPathFactory, limit: int) -> None:
    path = tmp_path_factory.mktemp("run")
    fake = FakeCompleter(topic_answers(), hold_s=HOLD_S)
    ledger = _run(path, Budget(calls=limit), fake)
    assert len(_live(ledger)) <= limit
    assert fake.calls == len(ledger)  # every call the model saw is in the ledger, once


@PROPERTY
@given(limit=st.integers(min_value=3_000, max_value=40_000))
def test_tokens_exceed_their_budget_by_less_than_the_calls_in_flight(
    tmp_path_factory: pytest.TempPathFactory, limit: int
) -> None:
    path = tmp_path_factory.mktemp("run")
    ledger = _live(_run(path, Budget(tokens=limit), FakeCompleter(topic_answers(), hold_s=HOLD_S)))
    sizes = [int(r["prompt_tokens"]) + int(r["completion_tokens"]) for r in ledger]
    assert sum(sizes) < limit + CONCURRENCY * max(sizes)


@PROPERTY
@given(limit=st.floats(min_value=0.05, max_value=1.0), price=st.sampled_from([0.001, 0.003]))
def test_dollars_exceed_their_budget_by_less_than_the_calls_in_flight(
    tmp_path_factory: pytest.TempPathFactory, limit: float, price: float
) -> None:
    path = tmp_path_factory.mktemp("run")
    fake = FakeCompleter(topic_answers(), usd_per_call=price, hold_s=HOLD_S)
    ledger = _live(_run(path, Budget(usd=limit), fake))
    assert sum(float(r["usd"]) for r in ledger) < limit + CONCURRENCY * price


def test_the_time_limit_is_met_within_one_call(tmp_path: Path) -> None:
    hold, limit = 0.05, 1.5
    fake = FakeCompleter(topic_answers(), hold_s=hold)
    start = time.monotonic()
    _run(tmp_path / "run", Budget(seconds=limit), fake, real_clock=True)
    took = time.monotonic() - start
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["stop_reason"] == "time-limit"
    # no call starts past the limit, so the last one ends within one call of it (plus the
    # scheduling of this shared machine and the summary's writing)
    assert took <= limit + hold + 0.5, took
