"""Local moves are spent where the lift has been: the operators whose moves gained in this run
are tried first on the next parent, those whose moves lost last."""

from __future__ import annotations

from pathlib import Path

from promptopt.prompt.candidate import Candidate
from promptopt.run.history import History
from promptopt.search.loop import Optimizer
from promptopt.search.neighbours import operator_gains
from promptopt.testing import FAKE_SETTINGS as SETTINGS
from promptopt.testing import (
    FakeCompleter,
    add_scored,
    fake_optimizer,
    new_run_store,
    tiny_task,
    topic_answers,
)


def scored(history: History, candidate: Candidate, right: int, n: int = 8) -> None:
    """``candidate`` scored on the first ``n`` dev examples, right on the first ``right``."""
    add_scored(history, candidate, [i < right for i in range(n)])


def optimizer(tmp_path: Path) -> Optimizer:
    task = tiny_task()
    store = new_run_store(tmp_path / "run", task, SETTINGS)
    return fake_optimizer(store, task, SETTINGS, FakeCompleter(topic_answers())).optimizer


PARENT = Candidate(
    instruction="Classify the note.", demo_strategy="retrieved", k=4, retriever="word", operator="seed"
)


def test_each_operator_is_credited_with_its_childrens_gain_over_their_parents(tmp_path: Path) -> None:
    history = optimizer(tmp_path).history
    scored(history, PARENT, right=4)
    scored(history, PARENT.derive(operator="change_k", k=2), right=8)
    scored(history, PARENT.derive(operator="switch_demo_strategy", retriever="char"), right=2)
    scored(history, PARENT.derive(operator="change_k", k=6), right=4)
    assert operator_gains(history) == {"change_k": 0.25, "switch_demo_strategy": -0.25}


def first_move_operator(tmp_path: Path, winner_op: str, loser_op: str) -> str:
    opt = optimizer(tmp_path)
    history = opt.history
    scored(history, PARENT, right=6)
    scored(history, PARENT.derive(operator=winner_op, instruction="Classify the note, please."), right=8)
    scored(history, PARENT.derive(operator=loser_op, instruction="Label it."), right=1)
    move = opt._moves.next_move()
    assert move is not None and move.parent.instruction == "Classify the note, please."
    return move.child.operator


def test_the_next_move_uses_the_operator_that_gained_and_not_the_one_that_lost(tmp_path: Path) -> None:
    assert first_move_operator(tmp_path / "a", "change_k", "switch_demo_strategy") == "change_k"
    assert first_move_operator(tmp_path / "b", "switch_demo_strategy", "change_k") == "switch_demo_strategy"
