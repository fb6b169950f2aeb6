"""The evaluator with a fake completer: statuses (ok, invalid, error) counted apart and errors
never scored, the request it sends, a run of failures raised as a provider error, and the same
records in the same order under concurrency."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

import pytest

from promptopt.errors import ProviderError
from promptopt.evaluate.evaluator import EvalResult, EvalSettings, Evaluator, ExampleRecord
from promptopt.llm.types import CallError, CompletionRequest
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.task.spec import Example
from promptopt.testing import FakeCompleter, Reply, replies


def _completer(
    by_input: Mapping[str, Reply] | None = None, *, delay: Callable[[str], float] | None = None
) -> FakeCompleter:
    """Answers "billing", or what ``by_input`` scripts for an input (a CallError fails the
    call); ``delay(input)`` seconds of real sleep first."""
    return FakeCompleter(
        replies(by_input, default="billing", delay=delay), usd_per_call=0.002, seconds_per_call=0.25
    )


LABELS: tuple[str, ...] = ("billing", "card_lost", "refund")


TRAIN: tuple[Example, ...] = tuple(
    Example(f"train-{i}", f"train text {i} about {LABELS[i % 3]}", LABELS[i % 3]) for i in range(9)
)


def _examples(n: int) -> tuple[Example, ...]:
    return tuple(Example(f"dev-{i}", f"input number {i}", LABELS[i % 3]) for i in range(n))


def _evaluator(completer: FakeCompleter, **settings_changes: object) -> Evaluator:
    eval_settings = replace(EvalSettings(model="fake/model"), **settings_changes)  # type: ignore[arg-type]
    return Evaluator(
        completer=completer, labels=LABELS, demo_source=DemoSource(TRAIN), settings=eval_settings
    )


def _fixed_candidate() -> Candidate:
    return Candidate(instruction="Classify.", demo_strategy="fixed", demo_ids=("train-0", "train-4"))


def test_statuses_are_counted_apart_and_errors_are_not_scored() -> None:
    examples = _examples(4)  # gold: billing, card_lost, refund, billing
    fake = _completer(
        {
            "input number 0": "Billing.",  # ok, correct
            "input number 1": "refund",  # ok, wrong
            "input number 2": "no idea",  # invalid
            "input number 3": CallError("timeout", kind="request"),  # error
        }
    )
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
    fake = _completer()
    _evaluator(fake, temperature=0.3, seed=5).evaluate(_fixed_candidate(), _examples(1))
    (request,) = fake.seen
    assert (request.model, request.temperature, request.seed, request.role) == ("fake/model", 0.3, 5, "task")
    assert request.stop == ("\n",) and request.max_tokens > 0
    roles = [role for role, _ in request.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert request.messages[-1] == ("user", "input number 0")


def _failing(indices: set[int]) -> FakeCompleter:
    return _completer({f"input number {i}": CallError(f"down {i}", kind="request") for i in indices})


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
        kinds: list[Reply] = [
            LABELS[i % 3],
            LABELS[(i + 1) % 3],
            "gibberish",
            CallError(f"fail {i}", kind="request"),
        ]
        replies[f"input number {i}"] = kinds[(i * 7) % 4]
    return replies


def _comparable(result: EvalResult) -> tuple[object, ...]:
    return (result.candidate_id, result.records, result.scores)


@pytest.mark.parametrize("concurrency", [2, 8])
def test_concurrency_gives_the_same_records_in_the_same_order(concurrency: int) -> None:
    n = 40
    examples = _examples(n)
    serial = _evaluator(_completer(_scripted(n))).evaluate(_fixed_candidate(), examples)
    seen: list[ExampleRecord] = []
    parallel = _evaluator(_completer(_scripted(n), delay=_scrambled_delay), concurrency=concurrency).evaluate(
        _fixed_candidate(), examples, on_record=seen.append
    )
    assert [r.example_id for r in parallel.records] == [e.id for e in examples]
    assert _comparable(parallel) == _comparable(serial)
    # handed on as the calls finish (so each is stored right after its ledger row), all of them
    position = {e.id: i for i, e in enumerate(examples)}
    assert sorted(seen, key=lambda r: position[r.example_id]) == list(serial.records)
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
    serial = _evaluator(_completer()).evaluate(candidate, examples)
    parallel = _evaluator(_completer(), concurrency=8).evaluate(candidate, examples)
    assert _comparable(parallel) == _comparable(serial)


# -- a prompt longer than the model's context window ----------------------------------------

WINDOW_CHARS = 1000  # the fake model's context window, in characters (4 per token)


def _windowed(request: CompletionRequest) -> str:
    """Answers "billing" when the prompt fits the window, else fails as llama.cpp does."""
    chars = sum(len(content) for _, content in request.messages)
    if chars > WINDOW_CHARS:
        tokens = chars // 4
        raise CallError(
            f"Requested tokens ({tokens}) exceed context window of {WINDOW_CHARS // 4}",
            kind="context",
            overflow=(tokens, WINDOW_CHARS // 4),
        )
    return "billing"


def test_a_prompt_over_the_context_window_is_cut_to_fit_and_one_that_fits_is_not() -> None:
    fake = FakeCompleter(_windowed)
    long_train = tuple(replace(e, text=f"{e.text} " + "detail " * 12) for e in TRAIN)
    evaluator = replace(_evaluator(fake), demo_source=DemoSource(long_train))
    candidate = Candidate(instruction="Classify.", demo_strategy="retrieved", k=6, retriever="word")
    short, long = Example("s", "a short one", "billing"), Example("l", "billing " * 60, "billing")
    records = evaluator.evaluate(candidate, [short, long]).records
    assert [r.status for r in records] == ["ok", "ok"]
    sent = [sum(len(c) for _, c in r.messages) for r in fake.seen]
    assert sent[-1] <= WINDOW_CHARS and max(sent) > WINDOW_CHARS  # the long one: refused, then fitted
    assert 2 < fake.calls <= 2 + 3  # at most FIT_TRIES calls again, each in the count
    assert records[1].data_chars < len(long.text) + sum(len(e.text) for e in long_train[:6])
    tries_for_short = [r for r in fake.seen if r.messages[-1][1] == "a short one"]
    assert len(tries_for_short) == 1 and len(tries_for_short[0].messages) == 1 + 2 * 6 + 1  # all 6 demos


def test_a_prompt_that_cannot_fit_is_an_error_record_after_its_tries() -> None:
    from promptopt.evaluate.evaluator import FIT_TRIES

    fake = FakeCompleter(_windowed)
    huge_instruction = Candidate(instruction="Classify. " * 110)  # the part that is never cut
    records = _evaluator(fake).evaluate(huge_instruction, [Example("l", "billing " * 80, "billing")]).records
    assert records[0].status == "error" and "exceed context window" in (records[0].error or "")
    assert fake.calls == 1 + FIT_TRIES
