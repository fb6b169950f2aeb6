"""Request keys, the disk cache of completions, and the metering tap over it, with a fake
completer (no model, no network)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from promptopt.errors import StoreError
from promptopt.llm.cache import CachingCompleter, DiskCache
from promptopt.llm.ledger import Ledger
from promptopt.llm.metered import MeteredCompleter
from promptopt.llm.types import CallError, CompletionRequest, request_key
from promptopt.testing import FakeCompleter, Reply, replies


def _completer(
    *,
    text: str = "billing",
    by_input: Mapping[str, Reply] | None = None,
    fingerprint: str = "fp-1",
    usd: float | None = 0.002,
) -> FakeCompleter:
    """Answers ``text``, or what ``by_input`` scripts for an input (keyed on the last message; a
    CallError fails the call); each call costs ``usd`` and takes 0.25 s."""
    return FakeCompleter(
        replies(by_input, default=text),
        usd_per_call=usd,
        seconds_per_call=0.25,
        model_fingerprint=fingerprint,
    )


def _request(**changes: object) -> CompletionRequest:
    base = CompletionRequest(
        model="openai/gpt-4o-mini",
        messages=(("system", "Labels: a, b"), ("user", "hello")),
        temperature=0.0,
        max_tokens=16,
        stop=("\n",),
        seed=0,
        role="task",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[DiskCache]:
    disk = DiskCache(tmp_path / "cache" / "completions.sqlite")
    yield disk
    disk.close()


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
    b = CompletionRequest.of(
        "openai/gpt-4o-mini",
        [{"role": "system", "content": "Labels: a, b"}, {"role": "user", "content": "hello"}],
        temperature=0.0,
        max_tokens=16,
        stop=("\n",),
        seed=0,
    )
    assert a == b
    assert request_key(a) == request_key(b)
    assert request_key(a, "fp") == request_key(b, "fp")
    assert request_key(_request(role="proposer")) == request_key(a)
    assert len(request_key(a)) == 64


def test_request_key_handles_non_ascii() -> None:
    assert request_key(_request(messages=(("user", "héllo ✓"),))) != request_key(
        _request(messages=(("user", "hello ✓"),))
    )


def test_request_key_is_equal_for_int_and_float_temperature() -> None:
    a, b = _request(temperature=0), _request(temperature=0.0)
    assert a == b
    assert request_key(a) == request_key(b)


# --------------------------------------------------------------------------- disk cache


def test_second_identical_request_is_a_free_cache_hit(cache: DiskCache) -> None:
    fake = _completer()
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
    [
        {"temperature": 0.5},
        {"model": "other"},
        {"max_tokens": 3},
        {"seed": 7},
        {"messages": (("user", "bye"),)},
    ],
)
def test_a_different_request_misses(cache: DiskCache, changes: dict[str, object]) -> None:
    fake = _completer()
    completer = CachingCompleter(fake, cache)
    completer.complete(_request())
    response = completer.complete(_request(**changes))
    assert response.cached is False and fake.calls == 2


def test_a_different_fingerprint_misses(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    first, second = _completer(fingerprint="gguf-a"), _completer(fingerprint="gguf-b")
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
    first_fake = _completer(text="refund")
    first_disk = DiskCache(path)
    original = CachingCompleter(first_fake, first_disk).complete(_request())
    first_disk.close()
    assert path.is_file()

    second_fake = _completer(text="something else")
    second_disk = DiskCache(path)
    try:
        hit = CachingCompleter(second_fake, second_disk).complete(_request())
    finally:
        second_disk.close()
    assert second_fake.calls == 0
    assert hit.cached is True and hit.text == "refund" and hit.usd == 0.0
    assert hit.prompt_tokens == original.prompt_tokens


def test_failed_calls_are_not_cached(cache: DiskCache) -> None:
    fake = _completer(by_input={"hello": CallError("boom", kind="request")})
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
            CachingCompleter(_completer(), disk).complete(_request())
    finally:
        disk.close()


# --------------------------------------------------------------------------- metered


def test_metered_records_every_call_including_cache_hits(cache: DiskCache) -> None:
    ledger = Ledger()
    fake = _completer(usd=0.01)
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
    completer = MeteredCompleter(_completer(by_input={"hello": error}), ledger)
    with pytest.raises(CallError) as info:
        completer.complete(_request(model="x/y"))
    assert info.value is error
    (record,) = ledger.records
    assert (record.status, record.model, record.attempts, record.cached) == ("error", "x/y", 3, False)
    assert ledger.totals.errors == 1


def test_metered_passes_the_fingerprint_through() -> None:
    assert MeteredCompleter(_completer(fingerprint="abc"), Ledger()).fingerprint("m") == "abc"


def test_a_paid_call_is_metered_even_when_the_cache_write_fails(cache: DiskCache) -> None:
    cache._db().execute("PRAGMA query_only = ON")  # the file becomes read-only for this connection
    ledger = Ledger()
    fake = _completer(usd=0.01)
    completer = MeteredCompleter(CachingCompleter(fake, cache), ledger)
    response = completer.complete(_request())  # the answer is kept: a cache is an optimisation
    assert fake.calls == 1 and response.usd == pytest.approx(0.01) and not response.cached
    assert ledger.totals.calls == 1 and ledger.totals.usd == pytest.approx(0.01)
    completer.complete(_request(temperature=0.5))  # later writes are skipped, calls still work
    assert fake.calls == 2 and ledger.totals.calls == 2
