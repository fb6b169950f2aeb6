"""A fair benchmark: one train pool for every contender, one counting rule for failed calls
and answers that are not labels, and no target called met that its 95% interval cannot
resolve. Every model is a test double (see conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import vs_anchors
from anchors import dspy_side, promptopt_side, table
from anchors.common import FAILED, OK, UNPARSEABLE, Answer, Bench, answer, ids_sha256, paired_interval, scored

from promptopt.handoff.finetune.probe import run_probe
from promptopt.llm.types import CallError, CompletionRequest
from promptopt.testing import LABELS, FakeCompleter, tiny_task

TRAIN_LIMIT = 30  # the tiny bench's pool (conftest.py)
TinyBench = Callable[..., Bench]

# -- the counting rule --------------------------------------------------------------------------


def test_the_rule_a_failed_call_or_an_answer_that_is_not_a_label_is_wrong() -> None:
    example = tiny_task().split("test")[0]
    gold = example.label
    assert answer(example, gold, LABELS) == Answer(example.id, gold, gold, OK)
    assert answer(example, gold, LABELS).correct
    for said in (None, "", "no idea", gold.upper(), f" {gold}"):
        assert answer(example, said, LABELS).status == UNPARSEABLE
    assert answer(example, gold, LABELS, failed=True).status == FAILED
    assert not answer(example, gold, LABELS, failed=True).correct


def test_unparseable_and_failed_answers_stay_in_the_denominator_and_are_counted() -> None:
    result = scored(
        "x",
        [
            Answer("t0", "alpha", "alpha", OK),
            Answer("t1", "beta", None, UNPARSEABLE),
            Answer("t2", "beta", None, FAILED),
            Answer("t3", "beta", "alpha", OK),
        ],
        seed=0,
    )
    assert (result.accuracy, result.n_test, result.failed, result.unparseable) == (0.25, 4, 1, 1)


def test_promptopt_and_dspy_count_the_same_outcomes_alike() -> None:
    import dspy
    from dspy.utils.exceptions import AdapterParseError

    examples = tiny_task().split("test")[:5]
    gold = [e.label for e in examples]
    wrong = "beta" if gold[1] != "beta" else "gamma"
    # promptopt's records: right, wrong, invalid (no label parsed), error (the call failed), none
    rows: dict[str, dict[str, Any]] = {
        examples[0].id: {"status": "ok", "prediction": gold[0]},
        examples[1].id: {"status": "ok", "prediction": wrong},
        examples[2].id: {"status": "invalid", "prediction": None},
        examples[3].id: {"status": "error", "prediction": None},
    }
    ours = promptopt_side.answers_of(examples[:4], rows, LABELS)
    # the same outcomes from DSPy: its adapters raise when they find no label, and a call fails
    outcomes: list[Any] = [
        gold[0],
        wrong,
        AdapterParseError("ChatAdapter", dspy_side.signature(tiny_task()), "no idea"),
        RuntimeError("connection refused"),
    ]

    def program(text: str) -> Any:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return dspy.Prediction(label=outcome)

    guarded = dspy_side.Guarded(program)
    predictions = [guarded(text=e.text) for e in examples[:4]]
    assert dspy_side.answers_of(examples[:4], predictions, LABELS) == ours
    assert [a.status for a in ours] == [OK, OK, UNPARSEABLE, FAILED]
    # an example promptopt has no record of is a failed call; DSPy's answer in another case is no label
    assert promptopt_side.answers_of(examples[4:], {}, LABELS)[0].status == FAILED
    shouted = dspy.Prediction(label=gold[4].upper())
    assert dspy_side.answers_of(examples[4:], [shouted], LABELS)[0].status == UNPARSEABLE


def test_a_promptopt_contender_reports_its_failed_calls_and_non_labels(tiny_bench: TinyBench) -> None:
    def handler(request: CompletionRequest) -> str:
        number = int(re.findall(r"note (\d+) about", request.messages[-1][1])[-1])
        if number % 4 == 0:
            raise CallError("connection refused", kind="request")
        if number % 4 == 1:
            return "I cannot tell"
        return str(re.findall(r"about (\w+)", request.messages[-1][1])[-1])

    bench = tiny_bench(completer=FakeCompleter(handler))
    result = promptopt_side.zero_shot(bench)
    kinds = [int(re.findall(r"note (\d+)", e.text)[0]) % 4 for e in bench.test]
    assert result.n_test == len(bench.test) == 12
    assert result.failed == kinds.count(0) and result.unparseable == kinds.count(1)
    assert result.failed and result.unparseable
    assert result.accuracy == pytest.approx((kinds.count(2) + kinds.count(3)) / 12)


def test_a_dspy_contender_reports_answers_its_adapters_cannot_parse(
    tiny_bench: TinyBench, dummy_lm: Callable[[list[dict[str, Any]]], Any]
) -> None:
    # every other answer is no label: ChatAdapter fails, its JSON fallback gets the next (a label
    # in chat format, which JSON cannot parse either), so half the inputs end unparseable
    bench = tiny_bench(dspy_lm=dummy_lm([{"label": "alpha"}, {"label": "no idea"}]))
    result = dspy_side.predict(bench)
    assert result.n_test == 12 and result.failed == 0
    assert result.unparseable is not None and 0 < result.unparseable < 12
    assert result.accuracy is not None and result.accuracy <= (12 - result.unparseable) / 12


# -- "not resolved" --------------------------------------------------------------------------------


def test_an_accuracy_claim_is_met_only_when_its_interval_resolves_it() -> None:
    assert table.accuracy_verdict(0.10, (0.04, 0.16), 0.03) == "met"
    assert table.accuracy_verdict(0.05, (-0.02, 0.12), 0.03) == "not resolved"
    assert table.accuracy_verdict(0.05, None, 0.03) == "not resolved"  # no interval to read
    assert table.accuracy_verdict(0.02, (-0.05, 0.09), 0.03) == "missed"
    assert table.accuracy_verdict(0.975 - 0.375, (0.6, 0.8), 0.60) == "met"  # rounding
    assert table.accuracy_verdict(-0.02, (-0.06, 0.02), -0.03) == "not resolved"  # within 3 of the probe


def test_the_paired_interval_is_over_the_same_examples() -> None:
    def rows(right: list[bool]) -> list[dict[str, Any]]:
        return [
            {"id": f"t{i}", "gold": "a", "predicted": "a" if r else "b", "status": OK}
            for i, r in enumerate(right)
        ]

    same = rows([True, False] * 50)
    difference, low, high = paired_interval(same, same, seed=0) or (9, 9, 9)
    assert difference == low == high == 0.0  # identical answers: no spread at all
    better = rows([True] * 100)
    difference, low, high = paired_interval(better, same, seed=0) or (9, 9, 9)
    assert difference == 0.5 and 0.38 < low < 0.5 < high < 0.62
    assert paired_interval(better, same[:99], seed=0) is None  # not the same examples
    assert paired_interval([], [], seed=0) is None


def test_the_outputs_say_not_resolved_where_the_interval_cannot_resolve_a_target() -> None:
    def result(name: str, right: int, n: int) -> dict[str, Any]:
        found = [Answer(f"t{i}", "a", "a" if i < right else "b", OK) for i in range(n)]
        return scored(name, found, seed=0).to_json()

    meta = {
        "task": "t",
        "model": "m",
        "date": "d",
        "machine": "c",
        "dev_n": 20,
        "test_n": 100,
        "seed": 0,
        "command": "c",
        "train_pool": {"n": 5, "split_n": 5, "ids_sha256": "p", "drawn": "the whole train split"},
    }
    rows = [result("promptopt", 80, 100), result("retrieval-10", 76, 100), result("probe", 79, 100)]
    text = table.markdown(rows, meta)
    assert "target at least 3 points above the plain retrieval baseline: not resolved" in text
    assert "target within 3 points of the trained probe (or above it): met" in text
    clear = [result("promptopt", 95, 100), result("retrieval-10", 60, 100)]
    assert "plain retrieval baseline: met" in table.markdown(clear, meta)


# -- one train pool --------------------------------------------------------------------------------


def shown_texts(bench: Bench, seen: list[str]) -> tuple[set[str], set[str]]:
    """The train texts that appear in what a model was sent: from the pool, and from outside it."""
    pool = {e.text for e in bench.train}
    others = {e.text for e in tiny_task().split("train")} - pool
    sent = "\n".join(seen)
    return {t for t in pool if t in sent}, {t for t in others if t in sent}


def test_the_bench_cuts_one_pool_and_names_it_everywhere(tiny_bench: TinyBench) -> None:
    bench = tiny_bench()
    assert len(bench.train) == TRAIN_LIMIT and bench.train_split_n == 120
    assert bench.task.split("train") == bench.train
    assert ids_sha256(bench.train)[:8] in bench.work.name
    whole = tiny_bench()
    assert whole.train == bench.train  # the same draw every time
    everything = tiny_bench(train_limit=None)
    assert len(everything.train) == 120 and "whole train split" in everything.pool()["drawn"]

    args = vs_anchors._parser().parse_args(["--train-limit", str(TRAIN_LIMIT)])
    meta = vs_anchors._meta(args, bench)
    assert meta["train_pool"]["ids_sha256"] == ids_sha256(bench.train) and meta["train_pool"]["n"] == 30
    assert "label-stratified sample of 30 of the 120" in meta["train_pool"]["drawn"]
    assert set(meta["train_pool_by_contender"]) == set(vs_anchors.CONTENDERS)
    assert meta["train_pool_by_contender"]["zero-shot"].startswith("none")
    assert meta["train_pool_by_contender"]["dspy-knn"].startswith("the shared pool")
    header = "\n".join(vs_anchors.header(bench, meta))
    assert "train pool: a label-stratified sample of 30" in header and "counting rule:" in header
    assert "fewer than 100" in header
    defaults = vs_anchors._parser().parse_args([])
    assert defaults.train_limit is None and defaults.test_limit == 100


def test_every_contender_draws_from_the_same_pool(
    tiny_bench: TinyBench, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = tiny_bench()
    pool_id = ids_sha256(bench.train)
    results = {
        "zero-shot": promptopt_side.zero_shot(bench),
        "retrieval-10": promptopt_side.retrieval_baseline(bench),
        "probe": promptopt_side.probe(bench),
        "dspy-predict": dspy_side.predict(bench),
        "dspy-knn": dspy_side.knn(bench, k=10),
    }
    # the demos retrieval-10 showed all come from the pool
    assert isinstance(bench.completer, FakeCompleter)
    inside, outside = shown_texts(bench, [m for r in bench.completer.seen for _, m in r.messages])
    assert inside and not outside
    # and so do the neighbours KNNFewShot showed (through the bench's embedder)
    inside, outside = shown_texts(bench, [str(h["messages"]) for h in bench.dspy_lm.history])
    assert inside and not outside

    received: dict[str, set[tuple[str, str]]] = {}

    class Recorder:
        """Stands in for a DSPy optimizer: keeps the trainset it is given."""

        name = ""

        def __init__(self, **kwargs: Any) -> None:
            pass

        def compile(self, student: Any, *, trainset: list[Any], valset: list[Any]) -> Any:
            received[self.name] = {(x.text, x.label) for x in trainset}
            return student

    import dspy

    for attribute, name in (
        ("BootstrapFewShotWithRandomSearch", "dspy-bootstrap-rs"),
        ("MIPROv2", "dspy-miprov2-light"),
        ("GEPA", "dspy-gepa"),
    ):
        monkeypatch.setattr(dspy, attribute, type(attribute, (Recorder,), {"name": name}))
    results["dspy-bootstrap-rs"] = dspy_side.bootstrap_random_search(bench, candidates=2)
    results["dspy-miprov2-light"] = dspy_side.mipro_light(bench)
    results["dspy-gepa"] = dspy_side.gepa(bench, metric_calls=10, reflection_max_tokens=16)
    pool = {(e.text, e.label) for e in bench.train}
    assert received == {name: pool for name in ("dspy-bootstrap-rs", "dspy-miprov2-light", "dspy-gepa")}

    results["promptopt"] = promptopt_side.optimize(bench, time_limit=60.0)
    assert set(results) == set(vs_anchors.CONTENDERS)
    for name, result in results.items():
        assert result.status == "ok", (name, result.reason)
        if name in vs_anchors.NO_TRAIN:
            assert result.train_n == 0, name
        else:
            assert (result.train_n, result.train_ids_sha256) == (TRAIN_LIMIT, pool_id), name
    rows = [r.to_json() for r in results.values()]
    meta = {**vs_anchors._meta(vs_anchors._parser().parse_args([]), bench), "command": "c"}
    assert "WARNING" not in table.markdown(rows, meta)
    rows[2]["train_ids_sha256"] = "another"
    assert "WARNING: probe used another train pool" in table.markdown(rows, meta)


def test_the_probe_predicts_what_promptopts_probe_scores() -> None:
    task = tiny_task()
    train, test = task.split("train")[:40], task.split("test")
    predicted = promptopt_side.probe_predictions(train, test)
    reference = run_probe(train, test, seed=0)
    assert reference is not None
    assert (
        sum(p == e.label for p, e in zip(predicted, test, strict=True)) / len(test)
        == reference.scores.accuracy
    )
