"""Candidate identity (a hash of its components, not of its lineage), its JSON form, and the
combinations of components it refuses."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from promptopt.prompt.candidate import Candidate
from tests.prompt.samples import DESCRIPTIONS, INSTRUCTION


def _candidate(**changes: Any) -> Candidate:
    return Candidate(instruction=INSTRUCTION, **changes)


def _rich() -> Candidate:
    return Candidate(
        instruction="Do it.",
        label_style="described",
        label_descriptions=DESCRIPTIONS,
        demo_strategy="fixed",
        demo_ids=("train-0", "train-2"),
        output_format="code",
        parents=("abc",),
        operator="mutate",
    )


def test_id_is_stable_and_independent_of_lineage() -> None:
    a = _rich()
    b = Candidate(
        instruction="Do it.",
        label_style="described",
        label_descriptions=DESCRIPTIONS,
        demo_strategy="fixed",
        demo_ids=("train-0", "train-2"),
        output_format="code",
    )
    assert a.id == b.id == _rich().id
    assert a == b
    assert re.fullmatch(r"[0-9a-f]{12}", a.id)
    derived = a.derive(operator="noop")
    assert derived.id == a.id and derived.parents == (a.id,) and derived.operator == "noop"


@pytest.mark.parametrize(
    "changes",
    [
        {"instruction": "Do it!"},
        {"label_style": "names"},
        {"label_descriptions": DESCRIPTIONS[:2]},
        {"label_descriptions": (("card_lost", "lost card"), *DESCRIPTIONS[1:])},
        {"demo_strategy": "stratified"},
        {"demo_ids": ("train-2", "train-0")},
        {"demo_ids": ("train-0",)},
        {"demo_strategy": "retrieved", "demo_ids": (), "k": 2},
        {"output_format": "label"},
    ],
)
def test_id_changes_when_a_component_changes(changes: dict[str, Any]) -> None:
    base = _rich()
    changed = base.derive(operator="edit", **changes)
    assert changed.id != base.id
    assert changed.parents == (base.id,)


def test_retrieved_k_is_part_of_the_id() -> None:
    assert _candidate(demo_strategy="retrieved", k=3).id != _candidate(demo_strategy="retrieved", k=4).id


@pytest.mark.parametrize("candidate", [_rich(), _candidate(), _candidate(demo_strategy="retrieved", k=5)])
def test_json_round_trip(candidate: Candidate) -> None:
    data = json.loads(json.dumps(candidate.to_json()))
    back = Candidate.from_json(data)
    assert back == candidate
    assert back.id == candidate.id == data["id"]
    assert back.parents == candidate.parents and back.operator == candidate.operator
    assert back.to_json() == candidate.to_json()


def test_from_json_of_the_python_value_round_trips_too() -> None:
    candidate = _rich()
    assert Candidate.from_json(candidate.to_json()) == candidate


@pytest.mark.parametrize(
    "kwargs",
    [
        {"demo_strategy": "random"},
        {"demo_strategy": "none", "demo_ids": ("train-0",)},
        {"demo_strategy": "none", "k": 2},
        {"demo_strategy": "retrieved", "k": -1},
    ],
)
def test_invalid_combinations_raise(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Candidate(instruction="x", **kwargs)


def test_n_demos() -> None:
    assert _candidate().n_demos == 0
    assert _candidate(demo_strategy="retrieved", k=4).n_demos == 4
    assert _rich().n_demos == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"demo_strategy": "retrieved", "k": 0},
        {"demo_strategy": "retrieved", "k": 2, "demo_ids": ("train-0",)},
        {"demo_strategy": "fixed", "demo_ids": ("train-0",), "k": 2},
        {"demo_strategy": "stratified"},
        {"output_format": "json"},
        {"label_style": "verbose"},
    ],
)
def test_contradictory_components_are_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Candidate(instruction="x", **fields)


@pytest.mark.parametrize(
    "changes",
    [
        {"retriever": "char"},  # only for retrieved demos
        {"demo_layout": "compact"},  # no demos, no layout
        {"demo_strategy": "fixed", "demo_ids": ("train-0",), "demo_layout": "labels"},
        {"demo_strategy": "retrieved", "k": 2, "retriever": "bm25"},
        {"demo_strategy": "retrieved", "k": 2, "demo_layout": "table"},
    ],
)
def test_impossible_retrieval_components_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _candidate(**changes)
