"""The cost ledger, request keys, the disk cache, the metering tap, and the evaluator, with fake
completers (no model, no network)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptopt.errors import ProviderError, StoreError
from promptopt.evaluate.evaluator import EvalResult, EvalSettings, Evaluator, ExampleRecord
from promptopt.llm.cache import CachingCompleter, DiskCache
from promptopt.llm.ledger import Ledger, LedgerRecord, Totals, total
from promptopt.llm.metered import MeteredCompleter
from promptopt.llm.types import CallError, CompletionRequest, CompletionResponse, request_key
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.task.spec import Example

Reply = str | CallError


class FakeCompleter:
    """Answers from ``replies`` (keyed on the last message) or echoes a fixed text; counts calls."""

    def __init__(self, *, text: str = "billing", replies: dict[str, Reply] | None = None,
                 fingerprint: str = "fp-1", usd: float | None = 0.002,
                 delay: Callable[[str], float] | None = None) -> None:
        self.text = text
        self.replies = replies or {}
        self._fingerprint = fingerprint
        self.usd = usd
        self.delay = delay
        self.calls = 0
        self.requests: list[CompletionRequest] = []
        self._lock = threading.Lock()

    def fingerprint(self, model: str) -> str:
        return self._fingerprint

    def complete(self, request: CompletionRequest) -> CompletionResponse:
        with self._lock:
            self.calls += 1
            self.requests.append(request)
        last = request.messages[-1][1]
        if self.delay is not None:
            time.sleep(self.delay(last))
        reply = self.replies.get(last, self.text)
        if isinstance(reply, CallError):
            raise reply
        return CompletionResponse(text=reply, prompt_tokens=10 + len(last), completion_tokens=2,
                                  usd=self.usd, latency_s=0.25)


def _request(**changes: object) -> CompletionRequest:
    base = CompletionRequest(model="openai/gpt-4o-mini",
                             messages=(("system", "Labels: a, b"), ("user", "hello")),
                             temperature=0.0, max_tokens=16, stop=("\n",), seed=0, role="task")
    return replace(base, **changes)  # type: ignore[arg-type]


def _record(**changes: object) -> LedgerRecord:
    base = LedgerRecord(role="task", model="m", prompt_tokens=5, completion_tokens=1, usd=0.001,
                        cached=False, latency_s=0.1)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[DiskCache]:
    disk = DiskCache(tmp_path / "cache" / "completions.sqlite")
    yield disk
    disk.close()


# --------------------------------------------------------------------------- ledger

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


# --------------------------------------------------------------------------- request_key


@pytest.mark.parametrize(
    "changes",
    [
        {"model": "openai/gpt-4o"},
        {"temperature": 0.7},
        {"max_tokens": 17},
        {"stop": ()},
        {"stop": ("\n", "###")},
        {"seed": 1},
        {"seed": None},
        {"messages": (("system", "Labels: a, b"), ("user", "hello!"))},
        {"messages": (("system", "Labels: a, b, c"), ("user", "hello"))},
        {"messages": (("user", "Labels: a, b"), ("user", "hello"))},
        {"messages": (("user", "hello"), ("system", "Labels: a, b"))},
        {"messages": (("system", "Labels: a, b"), ("user", "hello"), ("assistant", "a"))},
        {"messages": (("user", "hello"),)},
    ],
)
def test_request_key_changes_with_anything_the_model_sees(changes: dict[str, object]) -> None:
    assert request_key(_request(**changes)) != request_key(_request())
    assert request_key(_request(**changes), "fp") != request_key(_request(), "fp")


def test_request_key_changes_with_the_fingerprint() -> None:
    assert request_key(_request(), "sha-a") != request_key(_request(), "sha-b")
    assert request_key(_request(), "sha-a") != request_key(_request())


def test_request_key_is_equal_for_equal_requests_and_ignores_role() -> None:
    a = _request()
    b = CompletionRequest.of("openai/gpt-4o-mini",
                             [{"role": "system", "content": "Labels: a, b"}, {"role": "user", "content": "hello"}],
                             temperature=0.0, max_tokens=16, stop=("\n",), seed=0)
    assert a == b
    assert request_key(a) == request_key(b)
    assert request_key(a, "fp") == request_key(b, "fp")
    assert request_key(_request(role="proposer")) == request_key(a)
    assert len(request_key(a)) == 64


def test_request_key_handles_non_ascii() -> None:
    assert request_key(_request(messages=(("user", "héllo ✓"),))) != request_key(
        _request(messages=(("user", "hello ✓"),)))


def test_request_key_is_equal_for_int_and_float_temperature() -> None:
    a, b = _request(temperature=0), _request(temperature=0.0)
    assert a == b
    assert request_key(a) == request_key(b)


# --------------------------------------------------------------------------- disk cache


def test_second_identical_request_is_a_free_cache_hit(cache: DiskCache) -> None:
    fake = FakeCompleter()
    completer = CachingCompleter(fake, cache)
    first = completer.complete(_request())
    second = completer.complete(_request())
    assert fake.calls == 1
    assert first.cached is False and first.usd == 0.002
    assert second.cached is True and second.usd == 0.0
    assert second.text == first.text
    assert (second.prompt_tokens, second.completion_tokens) == (first.prompt_tokens, first.completion_tokens)
    assert first.live_latency_s is None and second.live_latency_s == first.latency_s == 0.25
    assert second.latency_s < 0.25  # the lookup, not the original call
    assert completer.complete(_request(role="proposer")).cached is True  # role is not in the key
    assert fake.calls == 1


@pytest.mark.parametrize(
    "changes",
    [{"temperature": 0.5}, {"model": "other"}, {"max_tokens": 3}, {"seed": 7},
     {"messages": (("user", "bye"),)}],
)
def test_a_different_request_misses(cache: DiskCache, changes: dict[str, object]) -> None:
    fake = FakeCompleter()
    completer = CachingCompleter(fake, cache)
    completer.complete(_request())
    response = completer.complete(_request(**changes))
    assert response.cached is False and fake.calls == 2


def test_a_different_fingerprint_misses(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    first, second = FakeCompleter(fingerprint="gguf-a"), FakeCompleter(fingerprint="gguf-b")
    disk_a, disk_b = DiskCache(path), DiskCache(path)
    try:
        CachingCompleter(first, disk_a).complete(_request())
        assert CachingCompleter(second, disk_b).complete(_request()).cached is False
        assert (first.calls, second.calls) == (1, 1)
    finally:
        disk_a.close()
        disk_b.close()


def test_cache_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "c.sqlite"
    first_fake = FakeCompleter(text="refund")
    first_disk = DiskCache(path)
    original = CachingCompleter(first_fake, first_disk).complete(_request())
    first_disk.close()
    assert path.is_file()

    second_fake = FakeCompleter(text="something else")
    second_disk = DiskCache(path)
    try:
        hit = CachingCompleter(second_fake, second_disk).complete(_request())
    finally:
        second_disk.close()
    assert second_fake.calls == 0
    assert hit.cached is True and hit.text == "refund" and hit.usd == 0.0
    assert hit.prompt_tokens == original.prompt_tokens


def test_failed_calls_are_not_cached(cache: DiskCache) -> None:
    fake = FakeCompleter(replies={"hello": CallError("boom", kind="request")})
    completer = CachingCompleter(fake, cache)
    for _ in range(2):
        with pytest.raises(CallError):
            completer.complete(_request())
    assert fake.calls == 2


def test_cache_under_a_regular_file_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("I am a file")
    disk = DiskCache(blocker / "c.sqlite")  # constructors do no I/O
    try:
        with pytest.raises(StoreError, match="cannot open the completion cache"):
            disk.get("k")
        with pytest.raises(StoreError):
            CachingCompleter(FakeCompleter(), disk).complete(_request())
    finally:
        disk.close()


# --------------------------------------------------------------------------- metered


def test_metered_records_every_call_including_cache_hits(cache: DiskCache) -> None:
    ledger = Ledger()
    fake = FakeCompleter(usd=0.01)
    completer = MeteredCompleter(CachingCompleter(fake, cache), ledger)
    first = completer.complete(_request())
    completer.complete(_request(role="proposer"))
    miss, hit = ledger.records
    assert fake.calls == 1
    assert (miss.cached, miss.usd, miss.status, miss.role) == (False, 0.01, "ok", "task")
    assert (hit.cached, hit.usd, hit.status, hit.role) == (True, 0.0, "ok", "proposer")
    assert hit.prompt_tokens == miss.prompt_tokens == first.prompt_tokens
    t = ledger.totals
    assert (t.calls, t.cached_calls, t.errors) == (2, 1, 0)
    assert t.usd == pytest.approx(0.01)


def test_metered_records_failures_and_reraises() -> None:
    ledger = Ledger()
    error = CallError("bad request", kind="request", attempts=3)
    completer = MeteredCompleter(FakeCompleter(replies={"hello": error}), ledger)
    with pytest.raises(CallError) as info:
        completer.complete(_request(model="x/y"))
    assert info.value is error
    (record,) = ledger.records
    assert (record.status, record.model, record.attempts, record.cached) == ("error", "x/y", 3, False)
    assert ledger.totals.errors == 1


def test_metered_passes_the_fingerprint_through() -> None:
    assert MeteredCompleter(FakeCompleter(fingerprint="abc"), Ledger()).fingerprint("m") == "abc"


def test_a_paid_call_is_metered_even_when_the_cache_write_fails(cache: DiskCache) -> None:
    cache._db().execute("PRAGMA query_only = ON")  # the file becomes read-only for this connection
    ledger = Ledger()
    fake = FakeCompleter(usd=0.01)
    completer = MeteredCompleter(CachingCompleter(fake, cache), ledger)
    response = completer.complete(_request())  # the answer is kept: a cache is an optimisation
    assert fake.calls == 1 and response.usd == pytest.approx(0.01) and not response.cached
    assert ledger.totals.calls == 1 and ledger.totals.usd == pytest.approx(0.01)
    completer.complete(_request(temperature=0.5))  # later writes are skipped, calls still work
    assert fake.calls == 2 and ledger.totals.calls == 2


# --------------------------------------------------------------------------- evaluator

LABELS: tuple[str, ...] = ("billing", "card_lost", "refund")
TRAIN: tuple[Example, ...] = tuple(
    Example(f"train-{i}", f"train text {i} about {LABELS[i % 3]}", LABELS[i % 3]) for i in range(9))


def _examples(n: int) -> tuple[Example, ...]:
    return tuple(Example(f"dev-{i}", f"input number {i}", LABELS[i % 3]) for i in range(n))


def _evaluator(completer: FakeCompleter, **settings_changes: object) -> Evaluator:
    eval_settings = replace(EvalSettings(model="fake/model"), **settings_changes)  # type: ignore[arg-type]
    return Evaluator(completer=completer, labels=LABELS, demo_source=DemoSource(TRAIN),
                     settings=eval_settings)


def _fixed_candidate() -> Candidate:
    return Candidate(instruction="Classify.", demo_strategy="fixed", demo_ids=("train-0", "train-4"))


def test_statuses_are_counted_apart_and_errors_are_not_scored() -> None:
    examples = _examples(4)  # gold: billing, card_lost, refund, billing
    fake = FakeCompleter(replies={
        "input number 0": "Billing.",            # ok, correct
        "input number 1": "refund",              # ok, wrong
        "input number 2": "no idea",             # invalid
        "input number 3": CallError("timeout", kind="request"),  # error
    })
    seen: list[ExampleRecord] = []
    result = _evaluator(fake).evaluate(_fixed_candidate(), examples, on_record=seen.append)
    assert [r.status for r in result.records] == ["ok", "ok", "invalid", "error"]
    assert [r.prediction for r in result.records] == ["billing", "refund", None, None]
    assert [r.correct for r in result.records] == [True, False, False, False]
    assert (result.invalid, result.errors) == (1, 1)
    assert result.scores.n == 3
    assert result.scores.accuracy == pytest.approx(1 / 3)
    assert result.scores.per_class_recall == {"billing": 1.0, "card_lost": 0.0, "refund": 0.0}
    error = result.records[3]
    assert error.error == "timeout" and error.raw == "" and error.example_id == "dev-3"
    assert result.records[2].raw == "no idea"
    assert seen == list(result.records)
    assert result.candidate_id == _fixed_candidate().id


def test_requests_carry_the_settings_and_the_rendered_prompt() -> None:
    fake = FakeCompleter()
    _evaluator(fake, temperature=0.3, seed=5).evaluate(_fixed_candidate(), _examples(1))
    (request,) = fake.requests
    assert (request.model, request.temperature, request.seed, request.role) == ("fake/model", 0.3, 5, "task")
    assert request.stop == ("\n",) and request.max_tokens > 0
    roles = [role for role, _ in request.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert request.messages[-1] == ("user", "input number 0")


def _failing(indices: set[int]) -> FakeCompleter:
    return FakeCompleter(replies={f"input number {i}": CallError(f"down {i}", kind="request")
                                  for i in indices})


@pytest.mark.parametrize("concurrency", [1, 4])
def test_consecutive_errors_raise_provider_error(concurrency: int) -> None:
    fake = _failing({2, 3, 4})
    evaluator = _evaluator(fake, max_consecutive_errors=3, concurrency=concurrency)
    with pytest.raises(ProviderError, match="3 calls in a row") as info:
        evaluator.evaluate(_fixed_candidate(), _examples(10))
    assert "down 4" in str(info.value)


def test_errors_that_are_not_consecutive_do_not_raise() -> None:
    fake = _failing({0, 1, 3, 4, 6, 7})
    result = _evaluator(fake, max_consecutive_errors=3).evaluate(_fixed_candidate(), _examples(9))
    assert result.errors == 6 and result.scores.n == 3


def test_all_calls_failing_below_the_limit_scores_nothing() -> None:
    result = _evaluator(_failing({0, 1}), max_consecutive_errors=3).evaluate(_fixed_candidate(), _examples(2))
    assert result.errors == 2 and result.scores.n == 0 and math.isnan(result.scores.accuracy)


def _scrambled_delay(text: str) -> float:
    """Later inputs finish first, so completion order differs from input order."""
    return 0.002 * ((97 - int(text.rsplit(" ", 1)[-1])) % 7)


def _scripted(n: int) -> dict[str, Reply]:
    replies: dict[str, Reply] = {}
    for i in range(n):
        kinds: list[Reply] = [LABELS[i % 3], LABELS[(i + 1) % 3], "gibberish",
                              CallError(f"fail {i}", kind="request")]
        replies[f"input number {i}"] = kinds[(i * 7) % 4]
    return replies


def _comparable(result: EvalResult) -> tuple[object, ...]:
    return (result.candidate_id, result.records, result.scores)


@pytest.mark.parametrize("concurrency", [2, 8])
def test_concurrency_gives_the_same_records_in_the_same_order(concurrency: int) -> None:
    n = 40
    examples = _examples(n)
    serial = _evaluator(FakeCompleter(replies=_scripted(n))).evaluate(_fixed_candidate(), examples)
    seen: list[ExampleRecord] = []
    parallel = _evaluator(FakeCompleter(replies=_scripted(n), delay=_scrambled_delay),
                          concurrency=concurrency).evaluate(_fixed_candidate(), examples, on_record=seen.append)
    assert [r.example_id for r in parallel.records] == [e.id for e in examples]
    assert _comparable(parallel) == _comparable(serial)
    assert seen == list(serial.records)
    assert {r.status for r in serial.records} == {"ok", "invalid", "error"}


def test_concurrency_with_retrieved_demos_matches_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    original = TfidfVectorizer.fit_transform

    def slow_fit(self: TfidfVectorizer, *args: object, **kwargs: object) -> object:
        time.sleep(0.05)  # widen the window an index build takes, as on a large train split
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TfidfVectorizer, "fit_transform", slow_fit)
    candidate = Candidate(instruction="Classify.", demo_strategy="retrieved", k=2)
    examples = _examples(16)
    serial = _evaluator(FakeCompleter()).evaluate(candidate, examples)
    parallel = _evaluator(FakeCompleter(), concurrency=8).evaluate(candidate, examples)
    assert _comparable(parallel) == _comparable(serial)
