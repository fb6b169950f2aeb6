"""The typed records a run writes, written as JSON and read back: every event kind, the run
summary, plateau evidence, search-space points and evaluation rows. (Real run folders written
by an earlier promptopt are read back in test_reference_runs.py.)"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import replace
from typing import Any

import pytest

from promptopt.cli.tables import _proposer_row
from promptopt.errors import StoreError
from promptopt.evaluate.evaluator import ExampleRecord
from promptopt.evaluate.plateau import CandidateEffect, PlateauEvidence, empty_evidence
from promptopt.prompt.candidate import Candidate
from promptopt.run.events import (
    KINDS,
    BudgetTight,
    Duplicate,
    EvalStart,
    Evaluated,
    Event,
    ExampleScored,
    Incumbent,
    OverCap,
    Plateau,
    Rung,
    Segment,
    Slot,
    SlotFailed,
    Stop,
    TestScored,
    Trial,
    TrialFailed,
    event_from_json,
)
from promptopt.run.summary import LATER_KEYS, ParetoPoint, RunSummary
from promptopt.search.space import Point


def through_text(data: Any) -> Any:
    """``data`` as it comes back from a file: strict JSON text, parsed."""
    return json.loads(json.dumps(data, allow_nan=False))


EVIDENCE = PlateauEvidence(
    plateau=True,
    reason="no candidate in the last 30% of spend beat the incumbent",
    window_start=1400.0,
    window_end=2000.0,
    n_in_window=6,
    incumbent_id="1a2b3c4d5e6f",
    incumbent_accuracy=0.6,
    effects=(
        CandidateEffect("0f9e8d7c6b5a", 40, -0.05, 0.9),
        CandidateEffect("abcdefabcdef", 38, 0.025, 0.31),
    ),
    min_p_value=0.31,
    mde=0.08,
    projected_gain=0.01,
    ceiling=0.62,
    ceiling_low=0.55,
    ceiling_high=0.7,
)

POINT = {
    "instruction": 1,
    "labels": "names",
    "demos": "retrieved",
    "format": "label",
    "k": 4,
    "retriever": "char",
    "layout": "compact",
}

EVENTS: list[Event] = [
    Segment(elapsed_s=12.5, trials=3),
    Trial(number=4, point=POINT),
    Trial(number=5, point=POINT, origin={"operator": "change_k", "parents": ["0123456789ab"]}),
    TrialFailed(number=5, why="instruction slot 2 could not be written"),
    Duplicate(number=6, candidate="1a2b3c4d5e6f"),
    Slot(slot=1, text="Decide which topic the note is about.", operator="reflective", parent="1a2b3c4d5e6f"),
    Slot(slot=2, text="Classify the note.", operator="fallback", parent=None),
    SlotFailed(slot=3, operator="grounded"),
    EvalStart(eval="e3", candidate="1a2b3c4d5e6f", trial=4, operator="tpe"),
    EvalStart(eval="e4", candidate="0f9e8d7c6b5a", trial=None, operator="change_k", first_rung=12),
    Evaluated(
        eval="e3",
        candidate="1a2b3c4d5e6f",
        trial=4,
        operator="tpe",
        accuracy=0.625,
        n=40,
        raced_out=False,
        why=None,
        spend_tokens=52_000,
        calls=180,
        usd=0.0125,
        elapsed_s=61.5,
    ),
    Evaluated(
        eval="e4",
        candidate="0f9e8d7c6b5a",
        trial=None,
        operator="change_k",
        accuracy=0.3,
        n=10,
        raced_out=True,
        why="worse",
        spend_tokens=55_000,
        calls=190,
        usd=None,
        elapsed_s=66.0,
    ),
    Incumbent(candidate="1a2b3c4d5e6f", accuracy=0.625, n=40),
    Rung(candidate="0f9e8d7c6b5a", n=10, effect=-0.3, p_worse=0.0078125, stopped=True),
    BudgetTight(
        candidate="0f9e8d7c6b5a",
        reserve={"calls": 48.0, "tokens": 9000.0, "usd": 0.0, "seconds": 60.0},
        seconds_left=42.5,
        test_n=24,
        text="scoring the baseline and 0f9e8d7c6b5a on 24 test examples ...",
    ),
    BudgetTight(
        candidate="0f9e8d7c6b5a",
        reserve={"calls": 48.0, "tokens": 9000.0, "usd": 0.0, "seconds": 0.0},
        seconds_left=None,
        test_n=24,
        text="... more than the budget has left",
    ),
    Plateau(EVIDENCE),
    Stop(reason="plateau", elapsed_s=90.0),
    TestScored(best="1a2b3c4d5e6f", incomplete=None),
    TestScored(best="1a2b3c4d5e6f", incomplete="budget-calls", best_n=24, baseline_n=7),
    OverCap(candidate="1a2b3c4d5e6f", trial=3, estimate=812.5, cap=600),
    ExampleScored(candidate="1a2b3c4d5e6f", split="dev", correct=True, status="ok"),
]


# -- events -------------------------------------------------------------------------------------


def test_every_event_kind_has_a_sample() -> None:
    assert {e.kind for e in EVENTS} == set(KINDS)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind)
def test_every_event_reads_back_equal_from_its_json(event: Event) -> None:
    data = event.to_json()
    assert next(iter(data)) == "event" and data["event"] == event.kind
    fields = (
        list(event.evidence.to_json())
        if isinstance(event, Plateau)
        else [f.name for f in dataclasses.fields(event)]
    )
    if isinstance(event, TestScored) and event.best_n is None:
        fields = fields[:-2]  # an older run's event: written back without the counts
    if isinstance(event, Trial) and event.origin is None:
        fields = fields[:-1]  # a sampler's trial (and an older run's): written back without origin
    if isinstance(event, EvalStart) and event.first_rung is None:
        fields = fields[:-1]  # an older run's event: written back without its first rung
    assert list(data) == [
        "event",
        *fields,
    ]  # then the fields, in declaration order (stored flat for a plateau)
    assert event_from_json(data) == event
    assert event_from_json(through_text(data)) == event


def test_a_plateau_event_without_numbers_writes_nulls_and_reads_back_nan() -> None:
    event = Plateau(empty_evidence("no observations yet"))
    data = through_text(event.to_json())
    assert data["mde"] is None and data["incumbent_id"] is None and data["effects"] == []
    back = event_from_json(data)
    assert isinstance(back, Plateau) and not back.evidence.plateau and math.isnan(back.evidence.mde)
    assert back.to_json() == data


def test_an_unknown_event_or_a_missing_field_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unknown event kind 'nap'"):
        event_from_json({"event": "nap", "seconds": 3})
    data = Stop(reason="plateau", elapsed_s=1.0).to_json()
    del data["elapsed_s"]
    with pytest.raises(StoreError, match="lacks a field"):
        event_from_json(data)


# -- plateau evidence ---------------------------------------------------------------------------


def test_plateau_evidence_reads_back_equal() -> None:
    assert PlateauEvidence.from_json(EVIDENCE.to_json()) == EVIDENCE
    assert PlateauEvidence.from_json(through_text(EVIDENCE.to_json())) == EVIDENCE


def test_evidence_numbers_that_cannot_be_computed_are_null_in_json_and_nan_when_read() -> None:
    empty = empty_evidence("only 3 observations")
    data = through_text(empty.to_json())
    back = PlateauEvidence.from_json(data)
    assert back.reason == "only 3 observations" and not back.plateau and back.effects == ()
    assert all(
        math.isnan(getattr(back, name)) for name in ("window_start", "mde", "ceiling", "projected_gain")
    )
    assert back.to_json() == data
    no_projection = replace(EVIDENCE, projected_gain=math.inf)  # too few points to project: +inf
    assert no_projection.to_json()["projected_gain"] is None
    assert math.isnan(PlateauEvidence.from_json(no_projection.to_json()).projected_gain)


# -- the run summary ----------------------------------------------------------------------------

BEST = Candidate(
    instruction="Decide which topic the note is about.",
    demo_strategy="retrieved",
    k=4,
    retriever="char",
    demo_layout="compact",
    parents=("0f9e8d7c6b5a",),
    operator="change_k",
)
SUMMARY = RunSummary(
    best_candidate_id=BEST.id,
    baseline_candidate_id="0f9e8d7c6b5a",
    baseline_test_accuracy=0.375,
    baseline_test_ci=(0.2, 0.55),
    baseline_test_macro_f1=0.31,
    best_test_accuracy=0.625,
    best_test_ci=(0.45, 0.8),
    best_test_macro_f1=0.6,
    test_n=24,
    test_incomplete=None,
    best_dev_accuracy=0.65,
    best_dev_n=40,
    baseline_dev_accuracy=0.4,
    dev_n=40,
    calls=612,
    cached_calls=12,
    errors=1,
    prompt_tokens=80_000,
    completion_tokens=1224,
    usd=None,
    unpriced_calls=612,
    seconds=95.5,
    stop_reason="plateau",
    plateau=EVIDENCE,
    trials=14,
    evaluations=16,
    calls_by_role={"task": 600, "proposer": 12},
    best_prompt_tokens_per_call=140.5,
    pareto=(ParetoPoint("0f9e8d7c6b5a", 0.4, 90.0), ParetoPoint(BEST.id, 0.65, 140.5)),
    best_candidate=BEST,
    best_test_n=24,
    baseline_test_n=24,
    best_seed_id="0f9e8d7c6b5a",
    best_seed_dev_accuracy=0.55,
    max_prompt_tokens=600,
    proposed_instruction_lift=-0.025,
    proposed_scored=3,
    proposed_survived=1,
)


def test_the_summary_reads_back_equal_with_its_keys_in_order() -> None:
    data = SUMMARY.to_json()
    assert list(data) == [f.name for f in dataclasses.fields(RunSummary)]
    assert SUMMARY.lift_from_seeds == pytest.approx(0.15) and SUMMARY.lift_from_search == pytest.approx(0.10)
    assert data["best_test_ci"] == [0.45, 0.8] and data["plateau"] == EVIDENCE.to_json()
    assert data["best_candidate"] == BEST.to_json() and data["pareto"][1] == {
        "candidate": BEST.id,
        "dev_accuracy": 0.65,
        "prompt_tokens_per_call": 140.5,
    }
    assert RunSummary.from_json(data) == SUMMARY
    back = RunSummary.from_json(through_text(data))
    assert back == SUMMARY and back.best_test_ci == (0.45, 0.8) and back.plateau_reached
    assert back.best_candidate.parents == BEST.parents and back.best_candidate.operator == BEST.operator


def test_a_summary_without_test_scores_or_plateau_evidence_reads_back_equal() -> None:
    stopped = replace(
        SUMMARY,
        best_test_accuracy=None,
        best_test_ci=None,
        best_test_macro_f1=None,
        test_incomplete="budget-calls",
        plateau=None,
        stop_reason="budget-calls",
        pareto=(),
    )
    back = RunSummary.from_json(through_text(stopped.to_json()))
    assert back == stopped and back.best_test_ci is None and not back.plateau_reached


def test_a_summary_lacking_keys_is_a_store_error_naming_them() -> None:
    data = SUMMARY.to_json()
    del data["pareto"], data["calls_by_role"]
    with pytest.raises(StoreError, match="lacks calls_by_role, pareto"):
        RunSummary.from_json(data)


# -- search-space points ------------------------------------------------------------------------

POINTS = [
    Point(instruction=0, labels="names", demos="none", format="label"),
    Point(
        instruction=2,
        labels="described",
        demos="stratified",
        format="code",
        k=8,
        demo_set=1,
        fixed_layout="compact",
    ),
    Point(
        instruction=1,
        labels="names",
        demos="retrieved",
        format="label",
        k=4,
        retriever="char",
        layout="labels",
    ),
]


@pytest.mark.parametrize("point", POINTS, ids=lambda p: p.demos)
def test_a_point_reads_back_equal_from_its_params(point: Point) -> None:
    params = point.params()
    assert list(params) == [f.name for f in dataclasses.fields(Point) if getattr(point, f.name) is not None]
    assert None not in params.values()
    assert Point.from_params(params) == point
    assert Point.from_params(through_text(params)) == point


def test_the_params_of_a_stored_trial_make_its_point() -> None:
    assert Point.from_params(POINT).params() == POINT


def test_unknown_or_missing_components_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown search-space components \\['temperature'\\]"):
        Point.from_params({**POINTS[0].params(), "temperature": 0.7})
    incomplete = {k: v for k, v in POINTS[0].params().items() if k != "format"}
    with pytest.raises(ValueError, match="incomplete"):
        Point.from_params(incomplete)


# -- evaluation rows ----------------------------------------------------------------------------

RECORD = ExampleRecord(
    example_id="dev-3",
    gold="alpha",
    prediction="beta",
    raw="beta",
    correct=False,
    status="ok",
    prompt_tokens=120,
    completion_tokens=2,
    latency_s=0.01,
    usd=None,
    cached=True,
    error=None,
    wall_s=0.25,
    live_latency_s=0.35,
    data_chars=300,
    other_chars=120,
    messages=2,
)


def test_an_evaluation_row_reads_back_without_its_candidate_and_split() -> None:
    row = {"candidate_id": "1a2b3c4d5e6f", "split": "dev", **RECORD.to_json()}
    assert list(RECORD.to_json()) == [f.name for f in dataclasses.fields(ExampleRecord)]
    back = ExampleRecord.from_json(through_text(row))
    assert back == RECORD
    assert (back.wall_s, back.live_latency_s) == (0.25, 0.35)  # measurements: not part of ==, so checked here
    assert back.to_json() == RECORD.to_json()


def test_a_summary_of_an_older_run_reads_back_without_the_later_keys_and_writes_back_the_same() -> None:
    data = {k: v for k, v in SUMMARY.to_json().items() if k not in LATER_KEYS}
    back = RunSummary.from_json(data)
    assert back.best_test_n is None and back.lift_from_seeds is None
    assert back.to_json() == data


def test_rows_of_older_runs_without_a_prompt_size_write_back_the_same() -> None:
    row = RECORD.to_json()
    for key in ("data_chars", "other_chars", "messages"):
        del row[key]
    back = ExampleRecord.from_json(row)
    assert back.size is None and back.to_json() == row
    assert RECORD.size is not None and RECORD.size.data_chars == 300


def test_rows_of_older_runs_take_the_defaults_for_wall_time_and_live_latency() -> None:
    row = {"candidate_id": "1a2b3c4d5e6f", "split": "test", **RECORD.to_json()}
    del row["wall_s"], row["live_latency_s"]
    back = ExampleRecord.from_json(row)
    assert back == RECORD and back.wall_s == 0.0 and back.live_latency_s is None


def test_the_proposers_worth_is_shown_and_a_proposer_that_never_helped_is_named() -> None:
    assert _proposer_row(dataclasses.replace(SUMMARY, proposed_scored=0, proposed_survived=0)) is None
    helped = _proposer_row(dataclasses.replace(SUMMARY, proposed_instruction_lift=0.05))
    assert helped == (
        "proposed instructions",
        "3 scored, 1 survived racing; best vs seed instruction +5.0 dev points",
    )
    none_survived = _proposer_row(
        dataclasses.replace(SUMMARY, proposed_survived=0, proposed_instruction_lift=None)
    )
    assert none_survived is not None and "0 survived racing" in none_survived[1]
    assert "try a stronger --proposer-model" in none_survived[1]
    worse = _proposer_row(SUMMARY)  # lift -2.5 points
    assert worse is not None and "-2.5 dev points" in worse[1] and "--proposer-model" in worse[1]
