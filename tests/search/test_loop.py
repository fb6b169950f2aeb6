"""The optimizer end to end on a fake completer: the summary, every stop condition firing, the
final test reserve, duplicates, failing proposers, and resume after a kill (no lost or repeated
work, the same result as an uninterrupted run)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from promptopt.compose import OptimizeRun, OptimizeSettings, check_resumable
from promptopt.errors import UsageError
from promptopt.llm.budget import Budget
from promptopt.llm.cache import DiskCache
from promptopt.run.events import BudgetTight, Evaluated, Event, Slot, SlotFailed
from promptopt.run.store import RunStore
from promptopt.search.space import SearchSpace
from promptopt.search.stoppers import StopState
from promptopt.testing import (
    FAKE_SETTINGS,
    FakeCompleter,
    fake_optimizer,
    new_run_store,
    tiny_task,
    topic_answers,
)

REPO = Path(__file__).resolve().parents[2]
SETTINGS = FAKE_SETTINGS
REQUIRED = {
    "best_candidate_id",
    "baseline_test_accuracy",
    "best_test_accuracy",
    "best_dev_accuracy",
    "calls",
    "prompt_tokens",
    "usd",
    "seconds",
    "stop_reason",
    "plateau",
}


def topics(**options: Any) -> FakeCompleter:
    """The topic landscape (``flat``, ``proposer_reply``) on a fake completer (``usd_per_call``,
    ``seconds_per_call``, ``kill_after``)."""
    answers = {k: options.pop(k) for k in ("flat", "proposer_reply") if k in options}
    return FakeCompleter(topic_answers(**answers), **options)


def open_run(
    path: Path,
    settings: OptimizeSettings,
    completer: FakeCompleter,
    *,
    new: bool = True,
    events: list[Event] | None = None,
    cache: DiskCache | None = None,
) -> OptimizeRun:
    task = tiny_task()
    store = new_run_store(path, task, settings) if new else RunStore.open(path)
    observers = [events.append] if events is not None else []
    return fake_optimizer(store, task, settings, completer, observers=observers, cache=cache)


def rows(path: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (path / f"{name}.jsonl").read_text().splitlines() if line.strip()]


def test_a_run_finds_a_better_prompt_and_writes_a_complete_folder(tmp_path: Path) -> None:
    events: list[Event] = []
    run = open_run(tmp_path / "run", replace(SETTINGS, max_trials=8), topics(), events=events)
    summary = run.optimizer.run()
    assert summary.to_json().keys() >= REQUIRED
    assert summary.stop_reason == "max-trials" and summary.trials == 8
    assert summary.best_test_accuracy is not None and summary.baseline_test_accuracy is not None
    assert summary.best_test_accuracy > summary.baseline_test_accuracy
    assert summary.best_dev_accuracy is not None and summary.baseline_dev_accuracy is not None
    assert summary.best_dev_accuracy >= summary.baseline_dev_accuracy
    folder = tmp_path / "run"
    for name in (
        "run.json",
        "summary.json",
        "candidates.jsonl",
        "evaluations.jsonl",
        "ledger.jsonl",
        "events.jsonl",
        "study.sqlite3",
    ):
        assert (folder / name).is_file(), name
    assert json.loads((folder / "summary.json").read_text()) == json.loads(json.dumps(summary.to_json()))
    assert len(rows(folder, "ledger")) == summary.calls
    kinds = Counter(e.kind for e in events)
    assert kinds["evaluated"] >= 2 and kinds["example"] > 0 and kinds["stop"] == 1
    first = [e for e in events if isinstance(e, Evaluated)][:2]
    assert [e.operator for e in first] == ["seed", "seed"]  # zero-shot, then cheapest retrieval


def test_racing_stops_worse_candidates_before_the_whole_dev_slice(tmp_path: Path) -> None:
    run = open_run(tmp_path / "run", replace(SETTINGS, dev_limit=60, max_trials=10), topics())
    run.optimizer.run()
    evaluated = run.optimizer.history.of(Evaluated)
    raced = [e for e in evaluated if e.raced_out]
    assert raced, "no candidate was stopped early"
    assert all(e.n < 60 for e in raced)
    assert all(e.n == 60 for e in evaluated if not e.raced_out)


@pytest.mark.parametrize(
    ("budget", "reason", "fake"),
    [
        (Budget(calls=200), "budget-calls", topics()),
        (Budget(tokens=12_000), "budget-tokens", topics()),
        (Budget(usd=0.5), "budget-usd", topics(usd_per_call=0.002)),
        (Budget(seconds=200.0), "time-limit", topics(seconds_per_call=1.0)),
    ],
)
def test_each_budget_stops_the_search_and_keeps_room_for_the_test_scoring(
    tmp_path: Path, budget: Budget, reason: str, fake: FakeCompleter
) -> None:
    run = open_run(tmp_path / "run", replace(SETTINGS, budget=budget), fake)
    summary = run.optimizer.run()
    assert summary.stop_reason == reason
    # the reserve left room for the winner on every test example; the baseline's test score,
    # given up first, may be on fewer (a candidate that became the winner late costs more)
    assert summary.best_test_n == 24 and summary.best_test_accuracy is not None
    assert summary.baseline_test_accuracy is not None
    assert summary.test_incomplete is None or (summary.baseline_test_n or 0) < 24
    if budget.calls is not None:
        assert summary.calls <= budget.calls
    if budget.usd is not None:
        assert summary.usd is not None and summary.usd <= budget.usd + 0.002


def test_the_call_budget_holds_exactly_with_calls_in_flight(tmp_path: Path) -> None:
    settings = replace(SETTINGS, budget=Budget(calls=200), concurrency=8)
    summary = open_run(tmp_path / "run", settings, topics()).optimizer.run()
    assert summary.calls <= 200 and summary.best_test_n == 24


def test_a_budget_too_small_for_the_final_scoring_still_ends_cleanly(tmp_path: Path) -> None:
    run = open_run(tmp_path / "run", replace(SETTINGS, budget=Budget(calls=10)), topics())
    summary = run.optimizer.run()
    assert summary.stop_reason == "budget-calls" and summary.calls <= 10
    # half the budget was held for the final scoring: the winner is scored on what it paid for
    assert summary.test_incomplete == "budget-calls" and summary.best_test_accuracy is not None
    assert summary.best_test_n is not None and 0 < summary.best_test_n < 24
    assert (tmp_path / "run" / "summary.json").is_file()


def test_a_warm_completion_cache_does_not_shrink_the_reserve_for_the_test_scoring(tmp_path: Path) -> None:
    # a first run answers the dev slice of the first candidates and 4 test examples into the
    # cache; the second run's seeds then cost no time on dev, yet 20 of their test answers are
    # live (1 s each): the reserve must be priced from live calls, not from the instant hits
    cache = DiskCache(tmp_path / "cache.sqlite")
    first = replace(SETTINGS, max_trials=4, test_limit=4)
    open_run(tmp_path / "a", first, topics(seconds_per_call=1.0), cache=cache).optimizer.run()
    completer = topics(seconds_per_call=1.0)
    run = open_run(tmp_path / "b", replace(SETTINGS, budget=Budget(seconds=150.0)), completer, cache=cache)
    summary = run.optimizer.run()
    assert summary.cached_calls > 0
    assert summary.stop_reason == "time-limit"
    assert summary.test_incomplete is None
    assert summary.best_test_accuracy is not None and summary.baseline_test_accuracy is not None
    assert completer.now <= 150.0


def test_a_budget_that_cannot_pay_for_the_whole_test_scoring_keeps_the_best_prompt(tmp_path: Path) -> None:
    # 1 s per call: the seeds take 40 s each on dev; scoring a candidate and the baseline on
    # test needs about 1.25 * 48 s more, which 100 s cannot hold: the run warns once, drops a
    # candidate as too costly only when a cheaper one is as good, and still returns the best
    # candidate found on dev, scored on the test examples the budget paid for
    events: list[Event] = []
    run = open_run(
        tmp_path / "run",
        replace(SETTINGS, budget=Budget(seconds=100.0)),
        topics(seconds_per_call=1.0),
        events=events,
    )
    summary = run.optimizer.run()
    tight = [e for e in events if isinstance(e, BudgetTight)]
    assert len(tight) == 1 and tight[0].reserve["calls"] == 48
    assert "gives up the baseline's test score first" in tight[0].text
    history = run.optimizer.history
    for dropped in (e for e in events if isinstance(e, Evaluated) and e.why == "unaffordable"):
        ids = [x.id for x in run.optimizer.data.dev[: dropped.n]]
        mine = sum(history.correct(dropped.candidate, "dev", ids).values())
        assert any(
            sum(history.correct(o.candidate, "dev", ids).values()) >= mine
            for o in history.full_evaluations()
            if o.candidate != dropped.candidate
        )
    best_on_dev = max(history.full_evaluations(), key=lambda e: e.accuracy)
    assert summary.best_candidate_id == best_on_dev.candidate
    assert summary.stop_reason == "time-limit" and summary.best_test_n is not None and summary.best_test_n > 0


def test_the_plateau_stopper_fires_on_a_flat_landscape_with_its_evidence(tmp_path: Path) -> None:
    run = open_run(tmp_path / "run", replace(SETTINGS, max_trials=60), topics(flat=True))
    summary = run.optimizer.run()
    assert summary.stop_reason == "plateau"
    evidence = summary.plateau
    assert evidence is not None
    assert evidence.plateau is True and evidence.n_in_window >= 5
    assert evidence.mde > 0 and evidence.projected_gain < evidence.mde
    assert evidence.ceiling_low <= evidence.ceiling <= evidence.ceiling_high


def test_failing_proposals_stop_the_run_or_fall_back(tmp_path: Path) -> None:
    run = open_run(tmp_path / "run", replace(SETTINGS, max_trials=12), topics(proposer_reply="ok"))
    summary = run.optimizer.run()
    history = run.optimizer.history
    assert history.of(SlotFailed), "the unusable proposals were not recorded"
    assert all(e.operator == "fallback" for e in history.of(Slot))
    assert summary.stop_reason in ("max-trials", "proposals-failing")


def test_proposer_calls_go_through_the_budgeted_door(tmp_path: Path) -> None:
    completer = topics()
    run = open_run(tmp_path / "run", replace(SETTINGS, max_trials=10), completer)
    summary = run.optimizer.run()
    roles = Counter(r["role"] for r in rows(tmp_path / "run", "ledger"))
    assert roles["proposer"] >= 1 and roles["proposer"] == summary.calls_by_role["proposer"]
    assert sum(roles.values()) == completer.calls


def test_an_interrupted_run_resumes_without_losing_or_repeating_work(tmp_path: Path) -> None:
    settings = replace(SETTINGS, max_trials=8)
    reference = open_run(tmp_path / "ref", settings, topics()).optimizer.run()

    killed = tmp_path / "killed"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.search.killed_run", str(killed), "150"],
        cwd=REPO,
        timeout=120,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -9, proc.stderr  # SIGKILL mid-run
    assert not (killed / "summary.json").exists()
    calls_before = len(rows(killed, "ledger"))
    assert calls_before == 149  # the 150th call was cut short by the kill, so never recorded

    completer = topics()
    resumed = open_run(killed, settings, completer, new=False).optimizer.run()
    keys = Counter((r["candidate_id"], r["split"], r["example_id"]) for r in rows(killed, "evaluations"))
    assert max(keys.values()) == 1, "an example was scored twice"
    assert calls_before + completer.calls == resumed.calls
    for key in (
        "best_candidate_id",
        "best_test_accuracy",
        "baseline_test_accuracy",
        "best_dev_accuracy",
        "trials",
        "evaluations",
        "stop_reason",
    ):
        assert getattr(resumed, key) == getattr(reference, key), key
    assert resumed.calls == reference.calls  # only the call cut short by the kill is made again


def test_a_run_stopped_by_its_budget_continues_with_a_larger_one(tmp_path: Path) -> None:
    path = tmp_path / "run"
    first = open_run(path, replace(SETTINGS, budget=Budget(calls=150)), topics()).optimizer.run()
    assert first.stop_reason == "budget-calls"
    store = RunStore.open(path)
    with pytest.raises(
        UsageError, match=r"\(--budget-calls 150\); resuming with --budget-calls 150 would stop"
    ):
        check_resumable(store, Budget(calls=150), Budget(calls=150))
    with pytest.raises(
        UsageError, match=r"has spent [0-9,]+ tokens; its --budget-tokens \(10\) would stop it"
    ):
        check_resumable(store, Budget(calls=150), Budget(calls=400, tokens=10))
    check_resumable(store, Budget(calls=150), Budget(calls=400))
    second = open_run(path, replace(SETTINGS, budget=Budget(calls=400)), topics(), new=False).optimizer.run()
    assert second.evaluations > first.evaluations and second.calls <= 400
    rewritten = json.loads((path / "summary.json").read_text())
    assert rewritten["calls"] == second.calls == len(rows(path, "ledger"))
    keys = Counter((r["candidate_id"], r["split"], r["example_id"]) for r in rows(path, "evaluations"))
    assert max(keys.values()) == 1, "an example was scored twice"


def test_a_run_that_ended_on_its_own_is_not_resumed(tmp_path: Path) -> None:
    path = tmp_path / "run"
    assert (
        open_run(path, replace(SETTINGS, max_trials=3), topics()).optimizer.run().stop_reason == "max-trials"
    )
    with pytest.raises(UsageError, match="it stopped on 'max-trials', not on a budget"):
        check_resumable(RunStore.open(path), Budget(), Budget(calls=10_000))


def test_local_moves_walk_the_incumbents_neighbourhood_and_inform_the_sampler(tmp_path: Path) -> None:
    run = open_run(tmp_path / "run", replace(SETTINGS, max_trials=12), topics())
    run.optimizer.run()
    evaluated = run.optimizer.history.of(Evaluated)
    local = [e for e in evaluated if e.operator not in ("tpe", "seed")]
    assert local, "no local move was made"
    assert any(e.trial is not None for e in local), "no local move reached the sampler as a trial"
    candidates = run.optimizer.history.candidates
    for event in local:  # each is a one-operator child of an earlier evaluated candidate
        parents = candidates[event.candidate].parents
        assert parents and all(p in candidates for p in parents)


def test_local_moves_stay_inside_the_demo_strategies_the_user_allowed(tmp_path: Path) -> None:
    space = SearchSpace(demo_strategies=("none", "stratified"), retrievers=("word", "char"))
    run = open_run(tmp_path / "run", replace(SETTINGS, space=space, max_trials=14), topics())
    summary = run.optimizer.run()
    history = run.optimizer.history
    strategies = {history.candidates[e.candidate].demo_strategy for e in history.of(Evaluated)}
    assert "retrieved" not in strategies and strategies & {"fixed", "stratified"}
    assert any(e.operator not in ("tpe", "seed") for e in history.of(Evaluated)), "no local move made"
    assert history.candidates[summary.best_candidate_id].demo_strategy != "retrieved"


def test_a_search_space_with_nothing_new_left_stops_by_itself(tmp_path: Path) -> None:
    tiny = SearchSpace(
        instruction_slots=1,
        label_styles=("names",),
        demo_strategies=("none",),
        output_formats=("label",),
        retrievers=("word", "char"),
    )
    run = open_run(tmp_path / "run", replace(SETTINGS, space=tiny), topics())
    summary = run.optimizer.run()
    assert summary.stop_reason in ("search-exhausted", "plateau")
    assert summary.evaluations < 40


def test_a_stopper_of_ones_own_ends_the_search_and_the_run_keeps_its_test_scores(tmp_path: Path) -> None:
    @dataclass
    class AfterEvaluations:
        limit: int

        def __call__(self, state: StopState) -> str | None:
            return "enough" if len(state.observations) >= self.limit else None

    run = open_run(tmp_path / "run", SETTINGS, topics())
    summary = replace(run.optimizer, stoppers=[AfterEvaluations(3)]).run()
    assert summary.stop_reason == "enough" and summary.evaluations == 3
    assert summary.best_test_accuracy is not None and summary.baseline_test_accuracy is not None
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["stop_reason"] == "enough"
