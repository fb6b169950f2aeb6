"""Faults on the wire, against a real server: a proxy between promptopt and the embedded model's
OpenAI-compatible server answers some requests with 429 (with and without Retry-After),
500/502/503, a response held past the timeout, a dropped connection or a truncated body. At
concurrency 8 every example is still answered once, as without faults, each fault costs
exactly one retry, Retry-After sets the wait, and nothing is counted twice. A server that
keeps failing stops the work with ProviderError (exit 7)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from promptopt.errors import ProviderError
from promptopt.evaluate.evaluator import EvalResult, EvalSettings, Evaluator
from promptopt.llm.gateway import LiteLLMGateway, RetryPolicy
from promptopt.llm.ledger import Ledger
from promptopt.llm.metered import MeteredCompleter
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.testing import load_tiny_task, write_tiny_task
from tests.servers import FAULTS, FaultProxy, ModelServer, always, cycle

pytestmark = pytest.mark.model

MODEL = "openai/served"
TIMEOUT_S = 20.0


def _score(
    base_url: str, tmp_path: Path, sleeps: list[float], attempts: int = 6
) -> tuple[EvalResult, Ledger]:
    write_tiny_task(tmp_path, n_dev=24)  # the same files each time
    task = load_tiny_task(tmp_path)

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    gateway = LiteLLMGateway(
        api_bases={MODEL: base_url},
        retry=RetryPolicy(attempts=attempts, base_s=0.05, max_s=0.2),
        timeout_s=TIMEOUT_S,
        sleep=sleep,
        rng=random.Random(0),
    )
    gateway.check(MODEL, env={})
    ledger = Ledger()
    evaluator = Evaluator(
        completer=MeteredCompleter(gateway, ledger),
        labels=task.labels,
        demo_source=DemoSource(task.split("train")),
        settings=EvalSettings(model=MODEL, concurrency=8),
    )
    result = evaluator.evaluate(Candidate(instruction="Classify the note."), task.split("dev"))
    return result, ledger


def test_every_fault_is_retried_and_nothing_is_lost_or_counted_twice(
    tmp_path: Path, model_server: ModelServer
) -> None:
    clean, clean_ledger = _score(model_server.base_url, tmp_path, [])
    # each fault once among 24 requests, never two in a row, so 6 attempts always get through
    plan = [x for fault in FAULTS for x in (fault, "ok", "ok")]
    sleeps: list[float] = []
    with FaultProxy(model_server.port, cycle(plan), hold_s=TIMEOUT_S + 2) as proxy:
        faulty, ledger = _score(proxy.base_url, tmp_path, sleeps)
    assert all(proxy.served[f] >= 1 for f in FAULTS), proxy.served
    assert [r.status for r in faulty.records].count("error") == 0
    assert [(r.example_id, r.raw) for r in faulty.records] == [(r.example_id, r.raw) for r in clean.records]
    records = ledger.records
    assert len(records) == len(faulty.records) == 24  # one ledger line per example, however many tries
    faults = sum(proxy.served[f] for f in FAULTS)
    assert sum(r.attempts - 1 for r in records) == faults == len(sleeps)  # each fault: one retry
    assert ledger.totals.prompt_tokens == clean_ledger.totals.prompt_tokens  # a retry is not billed twice
    assert 1.0 in sleeps  # the 429 with Retry-After: 1 waited what the server asked
    assert proxy.forwarded == 24 + proxy.served["truncate"]  # the truncated answers were computed, then lost


def test_a_server_that_keeps_failing_stops_the_work(tmp_path: Path, model_server: ModelServer) -> None:
    with FaultProxy(model_server.port, always("503")) as proxy, pytest.raises(ProviderError) as info:
        _score(proxy.base_url, tmp_path, [], attempts=3)
    assert "8 calls in a row failed" in str(info.value) and "ServiceUnavailableError" in str(info.value)
    assert proxy.forwarded == 0
