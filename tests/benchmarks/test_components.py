"""The components benchmark: a variant that cannot change a prompt is found without a call, the
verdicts follow the paired interval, and every prompt is compared on the same examples under
the counting rule (test doubles only; the real run is in benchmarks/README.md)."""

from __future__ import annotations

from dataclasses import replace

import components
import pytest

from promptopt.evaluate.evaluator import EvalSettings, Evaluator, ExampleRecord
from promptopt.testing import MODEL, FakeCompleter, demo_source, tiny_task, topic_answers


def test_verdicts_follow_the_paired_interval_and_the_token_share() -> None:
    assert components.verdict((0.05, 0.01, 0.09), 1.0) == "keep"
    assert components.verdict((-0.05, -0.09, -0.01), 0.3) == "drop"
    assert components.verdict((0.0, -0.04, 0.04), 0.3) == "keep as a cost option"
    assert components.verdict((-0.02, -0.06, 0.02), 0.3) == "not resolved"  # cheaper, but a loss
    assert components.verdict((0.01, -0.03, 0.05), 0.95) == "not resolved"  # not cheaper
    assert components.verdict(None, 0.3) == "not resolved"


def evaluator() -> Evaluator:
    task = tiny_task()
    return Evaluator(
        completer=FakeCompleter(topic_answers()),
        labels=task.labels,
        demo_source=demo_source(task),
        settings=EvalSettings(model=MODEL),
    )


def test_a_cut_longer_than_every_text_renders_as_the_base_and_a_short_one_does_not() -> None:
    task = tiny_task()
    base = components.base_candidate(task, k=3, retriever="word", layout="compact")
    examples = task.split("dev")[:6]
    ev = evaluator()
    assert components.renders_like(ev, base, replace(base, input_tokens=128, input_cut="head"), examples)
    assert not components.renders_like(ev, base, replace(base, input_tokens=2, input_cut="head"), examples)
    assert not components.renders_like(ev, base, replace(base, label_scope="neighbours"), examples)


def test_answers_count_failed_calls_and_non_labels_as_wrong_on_the_same_examples() -> None:
    task = tiny_task()
    examples = task.split("dev")[:3]
    base = components.base_candidate(task, k=3, retriever="word", layout="compact")

    def rec(example: int, prediction: str | None, status: str) -> ExampleRecord:
        e = examples[example]
        return ExampleRecord(
            e.id, e.label, prediction, "raw", prediction == e.label, status, 10, 1, 0.1, None, False
        )

    records = {
        examples[0].id: rec(0, examples[0].label, "ok"),
        examples[1].id: rec(1, None, "invalid"),
    }  # the third example has no record: a failed call
    answers = components.Scored("x", base, records).answers(examples, task.labels)
    assert [a.status for a in answers] == ["ok", "unparseable", "failed"]
    assert [a.correct for a in answers] == [True, False, False]
    assert [a.id for a in answers] == [e.id for e in examples]
    assert components.Scored("x", base, records).tokens_per_call() == pytest.approx(10.0)
