"""The cost ledger: totals are the sum of the records, an unpriced call makes the dollar total
unknown, and recording is thread-safe."""

from __future__ import annotations

import math
import threading
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptopt.llm.ledger import Ledger, LedgerRecord, Totals, total


def _record(**changes: object) -> LedgerRecord:
    base = LedgerRecord(
        role="task", model="m", prompt_tokens=5, completion_tokens=1, usd=0.001, cached=False, latency_s=0.1
    )
    return replace(base, **changes)  # type: ignore[arg-type]


_RECORDS = st.builds(
    LedgerRecord,
    role=st.sampled_from(["task", "proposer", "preflight"]),
    model=st.sampled_from(["m1", "m2"]),
    prompt_tokens=st.integers(0, 100_000),
    completion_tokens=st.integers(0, 1_000),
    usd=st.none() | st.floats(0.0, 5.0, allow_nan=False, allow_infinity=False),
    cached=st.booleans(),
    latency_s=st.floats(0.0, 60.0, allow_nan=False, allow_infinity=False),
    status=st.sampled_from(["ok", "error"]),
    attempts=st.integers(0, 5),
)


@settings(max_examples=200, derandomize=True, database=None, deadline=None)
@given(records=st.lists(_RECORDS, max_size=20))
def test_ledger_totals_are_the_sum_of_records(records: list[LedgerRecord]) -> None:
    sunk: list[LedgerRecord] = []
    ledger = Ledger(sink=sunk.append)
    for record in records:
        ledger.record(record)
    t = ledger.totals
    assert ledger.records == tuple(records) and sunk == records
    assert t == total(records)
    assert t.calls == len(records)
    assert t.cached_calls == sum(r.cached for r in records)
    assert t.errors == sum(r.status != "ok" for r in records)
    assert t.prompt_tokens == sum(r.prompt_tokens for r in records)
    assert t.completion_tokens == sum(r.completion_tokens for r in records)
    assert t.unpriced_calls == sum(r.usd is None for r in records)
    assert t.seconds == pytest.approx(math.fsum(r.latency_s for r in records), rel=1e-9, abs=1e-12)
    prices = [r.usd for r in records]
    if any(p is None for p in prices):
        assert t.usd is None
    else:
        assert t.usd == pytest.approx(math.fsum(p for p in prices if p is not None), rel=1e-9, abs=1e-12)


def test_usd_total_is_none_as_soon_as_one_call_is_unpriced() -> None:
    ledger = Ledger()
    ledger.record(_record(usd=0.5))
    assert ledger.totals.usd == pytest.approx(0.5)
    ledger.record(_record(usd=None))
    assert ledger.totals.usd is None and ledger.totals.unpriced_calls == 1
    ledger.record(_record(usd=0.25))
    assert ledger.totals.usd is None


def test_empty_ledger() -> None:
    assert Ledger().totals == Totals() == total([])
    assert Totals().usd == 0.0


def test_ledger_is_thread_safe() -> None:
    ledger = Ledger()
    threads, per_thread = 8, 200
    barrier = threading.Barrier(threads)

    def work(i: int) -> None:
        barrier.wait()
        for j in range(per_thread):
            ledger.record(_record(prompt_tokens=i + 1, cached=j % 2 == 0, usd=0.5))

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    t = ledger.totals
    assert t.calls == len(ledger.records) == threads * per_thread
    assert t.cached_calls == threads * per_thread // 2
    assert t.prompt_tokens == per_thread * sum(range(1, threads + 1))
    assert t.usd == 0.5 * threads * per_thread  # exact: multiples of 0.5
    assert t == total(ledger.records)


def test_record_to_json() -> None:
    data = _record(usd=None, status="error", attempts=3).to_json()
    assert data["usd"] is None and data["status"] == "error" and data["attempts"] == 3
