"""Cost as part of the search: the seeds (the prompts a user would write, cheapest first), the
shrink components offered from the data and sampled, --max-prompt-tokens (no winner above it,
nothing estimated above it scored), and the attribution of the lift to seeds and search."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from promptopt.compose import OptimizeRun, OptimizeSettings
from promptopt.llm.budget import Budget
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.render import render, seed_instruction
from promptopt.run.events import Evaluated, Event, OverCap, Rung, Trial
from promptopt.run.history import History
from promptopt.run.store import RunStore
from promptopt.search.seeds import seed_points
from promptopt.search.space import Point, SearchSpace, fitted
from promptopt.search.tpe import TPESearch
from promptopt.task.spec import Example
from promptopt.testing import FAKE_SETTINGS as SETTINGS
from promptopt.testing import (
    FakeCompleter,
    add_scored,
    fake_optimizer,
    new_run_store,
    tiny_task,
    topic_answers,
)


def test_the_seeds_include_the_plain_retrieval_prompt_a_user_would_write() -> None:
    points = seed_points(SearchSpace(retrievers=("minilm", "char", "word")))
    plain = Point(
        instruction=0,
        labels="names",
        demos="retrieved",
        format="label",
        k=10,
        retriever="word",
        layout="turns",
    )
    assert points[0].demos == "none" and plain in points
    assert points[-1] == replace(plain, k=4, retriever="minilm", layout="compact")


def test_seeds_carry_the_sampled_shrink_components_at_their_defaults() -> None:
    space = SearchSpace(
        input_cuts=("all", "head-128"), picks=("nearest", "per_label"), scopes=("all", "neighbours")
    )
    points = seed_points(space)
    assert all(space.contains(p) for p in points) and len(points) == 3
    assert all(p.cut == "all" for p in points)
    assert [p.pick for p in points if p.demos == "retrieved"] == ["nearest", "nearest"]


def long_train(n_labels: int, chars: int) -> list[Example]:
    return [Example(f"train-{i}", "x" * chars, f"l{i % n_labels}") for i in range(100)]


def test_the_space_offers_cuts_for_long_inputs_and_a_narrowed_list_with_retrieval() -> None:
    short_few = fitted(SearchSpace(), long_train(5, 40))
    assert short_few.input_cuts == ("all",) and short_few.demo_cuts == (0,)
    assert short_few.scopes == ("all", "neighbours")  # +16 dev points on cfpb_complaints (5 labels)
    assert short_few.picks == ("nearest",)  # one demo per label lost 11-22 dev points: not offered
    long_many = fitted(SearchSpace(), long_train(40, 2000))
    assert long_many.input_cuts == ("all", "head-128", "ends-256") and long_many.demo_cuts == (0, 64, 160)
    assert long_many.scopes == ("all", "neighbours")
    no_demos = fitted(SearchSpace(demo_strategies=("none",)), long_train(40, 2000))
    assert no_demos.picks == ("nearest",) and no_demos.demo_cuts == (0,) and no_demos.scopes == ("all",)


def test_the_sampler_samples_the_shrink_components_the_space_offers(tmp_path: Path) -> None:
    # one demo per label is not offered by fitted, but a space that lists it searches it
    space = fitted(SearchSpace(picks=("nearest", "per_label")), long_train(40, 2000))
    search = TPESearch(space, tmp_path / "s.sqlite3", seed=0)
    seen: dict[str, set[object]] = {"cut": set(), "demo_cut": set(), "pick": set(), "scope": set()}
    for _ in range(40):
        proposal = search.ask()
        assert space.contains(proposal.point)
        for name in seen:
            if getattr(proposal.point, name) is not None:
                seen[name].add(getattr(proposal.point, name))
        search.tell(proposal.number, 0.5)
    assert seen["cut"] == set(space.input_cuts) and seen["scope"] == set(space.scopes)
    assert seen["demo_cut"] == set(space.demo_cuts) and seen["pick"] == set(space.picks)


def test_a_space_read_from_an_older_run_samples_nothing_new() -> None:
    data = SearchSpace().to_json()
    for key in ("input_cuts", "demo_cuts", "picks", "scopes"):
        del data[key]
    old = SearchSpace.from_json(data)
    assert not any(old.samples(n) for n in ("cut", "demo_cut", "pick", "scope"))


def run_with(tmp_path: Path, settings: OptimizeSettings, events: list[Event]) -> OptimizeRun:
    task = tiny_task()
    store = new_run_store(tmp_path / "run", task, settings)
    run = fake_optimizer(store, task, settings, FakeCompleter(topic_answers()), observers=[events.append])
    return run


@pytest.mark.parametrize("cap", [120, 200])
def test_no_winner_costs_more_than_max_prompt_tokens_and_nothing_estimated_above_it_is_scored(
    tmp_path: Path, cap: int
) -> None:
    events: list[Event] = []
    settings = replace(SETTINGS, max_trials=14, max_prompt_tokens=cap)
    run = run_with(tmp_path, settings, events)
    summary = run.optimizer.run()
    history = run.optimizer.history
    best_dev = history.prompt_tokens(summary.best_candidate_id, "dev")
    best_test = history.prompt_tokens(summary.best_candidate_id, "test")
    assert best_dev is not None and best_dev <= cap and best_test is not None and best_test <= cap * 1.1
    over = [e for e in events if isinstance(e, OverCap)]
    assert over and all(e.estimate > cap for e in over)
    scored = {e.candidate for e in events if isinstance(e, Evaluated)}
    assert not scored & {e.candidate for e in over}
    assert summary.max_prompt_tokens == cap
    # the plain retrieval seed (10 demos) is above both caps: queued, estimated, never scored
    assert any(isinstance(e, Trial) and e.point.get("k") == 10 for e in events)


def test_a_costlier_prompt_gets_a_smaller_first_rung_and_never_below_ten(tmp_path: Path) -> None:
    events: list[Event] = []
    run = run_with(tmp_path, replace(SETTINGS, first_rung=20, max_trials=10), events)
    run.optimizer.run()
    history = run.optimizer.history
    zero_shot = history.prompt_tokens(run.optimizer.baseline().id)
    assert zero_shot is not None
    first: dict[str, int] = {}
    for event in events:
        if isinstance(event, Rung):
            first.setdefault(event.candidate, event.n)
    costly = {c: n for c, n in first.items() if (history.prompt_tokens(c) or 0) > 2.5 * zero_shot}
    cheap = {c: n for c, n in first.items() if (history.prompt_tokens(c) or 0) <= 1.05 * zero_shot}
    assert costly and all(10 <= n < 20 for n in costly.values())
    assert all(n == 20 for n in cheap.values())


def test_the_summary_says_how_much_of_the_lift_came_from_seeds_and_from_search(tmp_path: Path) -> None:
    events: list[Event] = []
    run = run_with(tmp_path, replace(SETTINGS, max_trials=12), events)
    summary = run.optimizer.run()
    seeds = [e for e in events if isinstance(e, Evaluated) and e.operator == "seed" and not e.raced_out]
    first = [e for e in events if isinstance(e, Evaluated)][:3]
    assert [e.operator for e in first] == ["seed"] * 3  # every seed before any move
    assert summary.best_seed_dev_accuracy == max(e.accuracy for e in seeds)
    assert summary.lift_from_seeds is not None and summary.lift_from_search is not None
    assert summary.best_dev_accuracy == pytest.approx(
        summary.baseline_dev_accuracy + summary.lift_from_seeds + summary.lift_from_search
    )
    assert summary.lift_from_search >= 0
    # the fake proposer's instructions: their worth against the seed instruction is measured
    history = run.optimizer.history
    full = history.full_evaluations()
    seed_text = history.candidates[summary.baseline_candidate_id].instruction
    proposed = [e.accuracy for e in full if history.candidates[e.candidate].instruction != seed_text]
    seeded = [e.accuracy for e in full if history.candidates[e.candidate].instruction == seed_text]
    if proposed:
        assert summary.proposed_instruction_lift == pytest.approx(max(proposed) - max(seeded))
    else:
        assert summary.proposed_instruction_lift is None
    scored = [e for e in history.of(Evaluated) if history.candidates[e.candidate].instruction != seed_text]
    assert summary.proposed_scored == len(scored) and summary.proposed_survived == len(proposed)


def _scored(history: History, candidate: Candidate, tokens: int, accuracy: float, n: int = 4) -> None:
    add_scored(history, candidate, [i < accuracy * n for i in range(n)], tokens=tokens)


def test_a_tie_on_dev_goes_to_the_cheaper_prompt_and_the_cap_rules_out_the_costlier(tmp_path: Path) -> None:
    history = History(RunStore.create(tmp_path / "run", {"run_id": "x"}))
    costly, cheap, better = (Candidate(instruction=f"prompt {i}") for i in range(3))
    _scored(history, costly, tokens=900, accuracy=0.75)
    _scored(history, cheap, tokens=400, accuracy=0.75)
    assert history.incumbent() == cheap  # equal accuracy: fewer prompt tokens per call wins
    _scored(history, better, tokens=1200, accuracy=1.0)
    assert history.incumbent() == better
    history.max_prompt_tokens = 1000
    assert history.incumbent() == cheap and not history.within_cap(better.id)


def test_a_cap_that_only_the_zero_shot_prompt_fits_ends_the_search_and_returns_it(tmp_path: Path) -> None:
    events: list[Event] = []
    task = tiny_task()
    zero_shot = Candidate(instruction=seed_instruction(task))
    dev = task.split("dev")[:5]
    chars = [sum(len(m["content"]) for m in render(zero_shot, task.labels, [], e.text)) for e in dev]
    cap = max(c // 4 for c in chars) + 2  # the fake model counts a quarter of the characters
    settings = replace(SETTINGS, max_prompt_tokens=cap, budget=Budget(calls=2000))
    run = run_with(tmp_path, settings, events)
    summary = run.optimizer.run()
    over = [e for e in events if isinstance(e, OverCap)]
    assert len(over) >= 2  # the retrieval seeds, at least
    evaluated = [e for e in events if isinstance(e, Evaluated)]
    assert evaluated[0].candidate == zero_shot.id  # the baseline is always scored on dev
    assert summary.stop_reason == "search-exhausted"  # 25 prompts in a row over the cap
    assert summary.best_dev_accuracy is not None and summary.baseline_dev_accuracy is not None
    assert summary.best_dev_accuracy >= summary.baseline_dev_accuracy
    history = run.optimizer.history
    assert all(history.within_cap(e.candidate) for e in evaluated if e.candidate != zero_shot.id)
    assert summary.best_prompt_tokens_per_call <= cap
