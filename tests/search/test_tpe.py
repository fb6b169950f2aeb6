"""The TPE strategy over the search space: only valid points, the same history gives the same
proposals (resume), seeds are evaluated first, and only primitives reach optuna."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptopt.search.space import Materials, Point, SearchSpace, build
from promptopt.search.tpe import TPESearch
from promptopt.task.spec import Example

LABELS = ("a", "b", "c")
TRAIN = tuple(Example(f"train-{i}", f"text {i}", LABELS[i % 3]) for i in range(30))
MATERIALS = Materials(
    instructions={0: "seed", 1: "other"},
    descriptions=(("a", "x"), ("b", "y"), ("c", "z")),
    train=TRAIN,
    seed=0,
)
SPACE = SearchSpace(instruction_slots=2)


def _points(space: SearchSpace, path: Path, n: int, seed: int = 0) -> list[Point]:
    search = TPESearch(space, path, seed=seed, startup_trials=3)
    points = []
    for i in range(n):
        proposal = search.ask()
        points.append(proposal.point)
        search.tell(proposal.number, float(i % 3) / 3)
    return points


def test_every_sampled_point_is_in_the_space_and_builds_a_valid_candidate(tmp_path: Path) -> None:
    for point in _points(SPACE, tmp_path / "s.sqlite3", 25):
        assert SPACE.contains(point), point
        candidate = build(point, MATERIALS, parent=None)
        assert candidate.demo_strategy == point.demos
        assert candidate.n_demos == (point.k or 0)


def test_same_seed_same_history_same_points(tmp_path: Path) -> None:
    first = _points(SPACE, tmp_path / "a.sqlite3", 12)
    second = _points(SPACE, tmp_path / "b.sqlite3", 12)
    other = _points(SPACE, tmp_path / "c.sqlite3", 12, seed=1)
    assert first == second and first != other


def test_a_reopened_study_continues_like_an_uninterrupted_one(tmp_path: Path) -> None:
    straight = _points(SPACE, tmp_path / "a.sqlite3", 10)
    _points(SPACE, tmp_path / "b.sqlite3", 6)
    search = TPESearch(SPACE, tmp_path / "b.sqlite3", seed=0, startup_trials=3)  # a new process
    rest = []
    for i in range(6, 10):
        proposal = search.ask()
        rest.append(proposal.point)
        search.tell(proposal.number, float(i % 3) / 3)
    assert rest == straight[6:]


def test_enqueued_seeds_come_first_and_unfinished_trials_are_pending(tmp_path: Path) -> None:
    search = TPESearch(SPACE, tmp_path / "s.sqlite3", seed=0)
    seeds = [
        Point(instruction=0, labels="names", demos="none", format="label"),
        Point(
            instruction=0,
            labels="names",
            demos="retrieved",
            k=10,
            retriever="word",
            layout="turns",
            format="label",
        ),
    ]
    search.enqueue(seeds)
    first = search.ask()
    assert first.point == seeds[0]
    assert [p.number for p in TPESearch(SPACE, tmp_path / "s.sqlite3", seed=0).pending()] == [first.number]
    search.tell(first.number, 0.5)
    assert search.ask().point == seeds[1]


def test_a_seed_outside_the_space_is_refused(tmp_path: Path) -> None:
    search = TPESearch(SPACE, tmp_path / "s.sqlite3", seed=0)
    with pytest.raises(ValueError, match="outside the search space"):
        search.enqueue([Point(instruction=5, labels="names", demos="none", format="label")])


def test_a_sampled_trial_killed_while_its_point_was_suggested_is_failed_and_sampled_anew(
    tmp_path: Path,
) -> None:
    """A kill or Ctrl-C inside ``ask`` leaves a running trial with only some components (seen
    in test_ctrl_c_then_resume_finishes_the_run_without_repeating_work): nothing of it was
    evaluated, so a resumed run tells it failed and asks again, and gets a whole point."""
    import optuna

    search = TPESearch(SPACE, tmp_path / "s.sqlite3", seed=0)
    first = search.ask()
    search.tell(first.number, 0.5)
    study = search._open()
    cut = study.ask()
    cut.suggest_categorical("instruction", list(range(SPACE.instruction_slots)))  # then the process died
    resumed = TPESearch(SPACE, tmp_path / "s.sqlite3", seed=0)
    assert resumed.pending() == []
    states = {t.number: t.state for t in resumed._open().get_trials(deepcopy=False)}
    assert states[cut.number] == optuna.trial.TrialState.FAIL
    proposal = resumed.ask()
    assert proposal.number == cut.number + 1 and SPACE.contains(proposal.point)


def test_an_enqueued_seed_killed_while_its_point_was_suggested_is_evaluated_on_resume(tmp_path: Path) -> None:
    seed = Point(
        instruction=0,
        labels="names",
        demos="retrieved",
        k=10,
        retriever="word",
        layout="turns",
        format="label",
    )
    search = TPESearch(SPACE, tmp_path / "s.sqlite3", seed=0)
    search.enqueue([seed])
    study = search._open()
    cut = study.ask()  # takes the queued trial
    cut.suggest_categorical("instruction", list(range(SPACE.instruction_slots)))  # then the process died
    (pending,) = TPESearch(SPACE, tmp_path / "s.sqlite3", seed=0).pending()
    assert (pending.number, pending.point, pending.queued) == (cut.number, seed, True)
