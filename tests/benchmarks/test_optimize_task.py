"""The issue-13 benchmark's arithmetic and its fairness: the examples shared by the best prompt,
the plain retrieval baseline and the probe are exactly the best prompt's test rows; the verdicts
(met only when the 95% interval clears the margin, not resolved when only the point estimate
does, missed otherwise); which targets each task gets. No model runs (test doubles only)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import optimize_task
import pytest
from anchors.common import Answer, Result, scored

from promptopt.evaluate.evaluator import EvalSettings, Evaluator
from promptopt.llm.ledger import Ledger
from promptopt.llm.metered import MeteredCompleter
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.render import seed_instruction
from promptopt.run.store import RunStore
from promptopt.search.space import SearchSpace
from promptopt.testing import MODEL, FakeCompleter, build_finished_run, demo_source, tiny_task, topic_answers

N = 300


def row(candidate: str, split: str, example: str, *, status: str = "ok", tokens: int = 100) -> dict[str, Any]:
    return {
        "candidate_id": candidate,
        "split": split,
        "example_id": example,
        "status": status,
        "prompt_tokens": tokens,
    }


def result(right: Sequence[bool], *, tokens: float | None = 500.0, name: str = "x") -> Result:
    """Answers on examples t0, t1, ...: right where ``right`` says so, a wrong label elsewhere."""
    answers = [Answer(f"t{i}", "a", "a" if ok else "b", "ok") for i, ok in enumerate(right)]
    return scored(name, answers, seed=0, final_prompt_tokens_per_call=tokens)


def right_first(n_right: int, n: int = N) -> list[bool]:
    return [i < n_right for i in range(n)]


# -- the same examples -------------------------------------------------------------------------


def test_the_shared_examples_are_the_best_prompts_test_rows_in_test_slice_order() -> None:
    rows = [
        row("best", "test", "t3"),
        row("best", "test", "t1"),
        row("best", "dev", "t2"),  # a dev row is not a test example
        row("other", "test", "t2"),  # another candidate's test row is not the best's
        row("best", "test", "t1"),  # a repeated row counts once
    ]
    assert optimize_task.same_examples(rows, "best", ["t0", "t1", "t2", "t3"]) == ["t1", "t3"]


def test_a_tight_budget_that_scored_a_prefix_shares_only_that_prefix() -> None:
    test_ids = [f"t{i}" for i in range(10)]
    rows = [row("best", "test", i) for i in test_ids[:4]] + [row("zero", "test", i) for i in test_ids]
    assert optimize_task.same_examples(rows, "best", test_ids) == test_ids[:4]


def test_a_test_row_outside_the_runs_test_slice_is_refused() -> None:
    with pytest.raises(ValueError, match="not in the run's test slice"):
        optimize_task.same_examples([row("best", "test", "elsewhere")], "best", ["t0"])


def test_candidate_rows_keep_the_first_test_row_of_each_wanted_example() -> None:
    rows = [
        row("c", "test", "t0", tokens=1),
        row("c", "test", "t0", tokens=2),
        row("c", "dev", "t1"),
        row("c", "test", "t2"),
        row("d", "test", "t1"),
    ]
    found = optimize_task.candidate_rows(rows, "c", ["t0", "t1"])
    assert list(found) == ["t0"] and found["t0"]["prompt_tokens"] == 1


def test_prompt_tokens_per_call_leave_out_failed_calls() -> None:
    rows = [
        row("c", "test", "t0", tokens=100),
        row("c", "test", "t1", tokens=300),
        row("c", "test", "t2", status="error", tokens=0),
    ]
    assert optimize_task.tokens_per_call(rows) == 200
    assert optimize_task.tokens_per_call([]) is None


# -- verdicts ----------------------------------------------------------------------------------


def test_retrieval_target_met_not_resolved_and_missed() -> None:
    retrieval = result(right_first(240), tokens=700)

    def verdict(best_right: int, tokens: float = 500) -> str:
        return optimize_task.retrieval_target(
            result(right_first(best_right), tokens=tokens), retrieval, seed=0
        ).verdict

    assert verdict(270) == "met"  # +10 points, the paired interval's low end well above +3
    assert verdict(252) == "not resolved"  # +4 points: the estimate clears 3, its interval does not
    assert verdict(246) == "missed"  # +2 points
    assert verdict(240) == "missed"  # level
    assert verdict(270, tokens=701) == "missed"  # better, but more prompt tokens per call
    assert verdict(270, tokens=700) == "met"  # as many prompt tokens is no more


def test_retrieval_target_says_the_figures() -> None:
    target = optimize_task.retrieval_target(
        result(right_first(270), tokens=900), result(right_first(240), tokens=700), seed=0
    )
    assert "+10.0 points" in target.detail and "900 against 700" in target.detail
    assert "more than retrieval" in target.detail


def test_thresholds_use_the_low_end_of_the_best_prompts_interval() -> None:
    def verdict(right: int) -> str:
        return optimize_task.threshold_target("banking77", result(right_first(right)), 0.90).verdict

    assert verdict(285) == "met"  # 95.0%, interval about [92.5, 97.3]
    assert verdict(273) == "not resolved"  # 91.0%, interval about [87.7, 94.3]
    assert verdict(255) == "missed"  # 85.0%


def test_probe_target_is_within_five_points_on_the_paired_interval() -> None:
    probe = result(right_first(240))

    def verdict(best_right: int) -> str:
        return optimize_task.probe_target(
            "it_service_tickets", result(right_first(best_right)), probe, seed=0
        ).verdict

    assert verdict(234) == "met"  # -2 points, the interval's low end above -5
    assert verdict(228) == "not resolved"  # -4 points
    assert verdict(210) == "missed"  # -10 points
    assert verdict(255) == "met"  # better than the probe


def test_each_task_gets_the_retrieval_target_and_its_own() -> None:
    best, other = result(right_first(280)), result(right_first(240))

    def claims(task: str) -> list[str]:
        return [t.claim for t in optimize_task.targets(task, best, other, other, seed=0)]

    retrieval = "best prompt >= plain retrieval + 3 points, at no more prompt tokens per call"
    assert claims("banking77") == [retrieval, "banking77: best prompt >= 90%"]
    assert claims("cfpb_complaints") == [retrieval, "cfpb_complaints: best prompt >= 75%"]
    assert claims("it_service_tickets") == [
        retrieval,
        "it_service_tickets: best prompt within 5 points of the probe",
    ]
    assert claims("my_new_task") == [retrieval]


def test_conditions_ask_the_default_model_a_token_budget_and_enough_examples() -> None:
    from promptopt import compose
    from promptopt.llm.budget import Budget

    settings = compose.OptimizeSettings(
        task="x", model=optimize_task.DEFAULT_MODEL, budget=Budget(tokens=1000)
    )
    assert [t.verdict for t in optimize_task.conditions("banking77", settings, 300)] == ["met"] * 3
    assert optimize_task.conditions("banking77", settings, 299)[2].verdict == "missed"
    assert optimize_task.conditions("cfpb_complaints", settings, 150)[2].verdict == "met"
    timed = compose.OptimizeSettings(task="x", model="other/m", budget=Budget(seconds=60))
    assert [t.verdict for t in optimize_task.conditions("banking77", timed, 300)[:2]] == ["missed", "missed"]


# -- settings like the CLI's -------------------------------------------------------------------


def test_settings_fit_the_space_to_the_task_and_a_budget_is_required() -> None:
    args = optimize_task._parser().parse_args(
        ["--task", "fake", "--budget-tokens", "5000", "--retrievers", "word"]
    )
    task = tiny_task()
    long_train = tuple(replace(e, text=e.text * 40) for e in task.split("train"))
    settings = optimize_task.settings_of(args, replace(task, splits={**task.splits, "train": long_train}))
    assert settings.space.k_choices == (4, 10, 16)
    assert settings.space.retrievers == ("word",)
    assert settings.space.input_cuts == ("all", "head-128", "ends-256")  # fit_space: long inputs
    assert settings.space.picks == ("nearest",)  # one demo per label is not offered (measured)
    assert settings.budget.tokens == 5000 and settings.test_limit == 300
    assert settings.space != SearchSpace(k_choices=(4, 10, 16), retrievers=("word",))
    with pytest.raises(SystemExit, match="give a budget"):
        optimize_task.settings_of(optimize_task._parser().parse_args(["--task", "fake"]), tiny_task())


# -- a finished run: all three on the same examples ------------------------------------------


def _finished(tmp_path: Path, best: Candidate) -> optimize_task.Run:
    task = tiny_task()
    path = build_finished_run(
        tmp_path / "run", task, best, FakeCompleter(topic_answers()), dev_limit=12, test_limit=12
    )
    store = RunStore.open(path)
    info = store.read_json("run.json")
    settings = optimize_task.compose.OptimizeSettings.from_json(info["settings"])
    return optimize_task.Run(store, task, settings, store.read_json("summary.json"), 0.0)


def _evaluator(completer: FakeCompleter) -> tuple[Evaluator, Ledger]:
    task, ledger = tiny_task(), Ledger()
    evaluator = Evaluator(
        completer=MeteredCompleter(completer, ledger),
        labels=task.labels,
        demo_source=demo_source(task),
        settings=EvalSettings(model=MODEL),
    )
    return evaluator, ledger


def _drop_test_rows(run: optimize_task.Run, candidate_id: str, keep: int) -> list[str]:
    """Keep only the first ``keep`` test rows of ``candidate_id`` (what a tight budget leaves)."""
    path = run.store.path / "evaluations.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    mine = [r["example_id"] for r in rows if r["candidate_id"] == candidate_id and r["split"] == "test"]
    kept = [
        r
        for r in rows
        if not (r["candidate_id"] == candidate_id and r["split"] == "test" and r["example_id"] in mine[keep:])
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return mine[:keep]


def test_retrieval_and_probe_are_scored_on_exactly_the_best_prompts_test_examples(tmp_path: Path) -> None:
    task = tiny_task()
    best = Candidate(instruction=seed_instruction(task), demo_strategy="retrieved", k=4)
    run = _finished(tmp_path, best)
    scored_ids = _drop_test_rows(run, best.id, 7)
    completer = FakeCompleter(topic_answers())
    out = optimize_task.analyse(run, _evaluator(completer))
    assert out["same_examples"]["n"] == 7
    for name in ("best prompt", "plain retrieval", "probe"):
        assert sorted(a["id"] for a in out["contenders"][name]["answers"]) == sorted(scored_ids)
    assert completer.calls == 7  # the retrieval baseline, on those 7 only
    assert out["best_minus_retrieval"] is not None and out["best_minus_probe"] is not None
    assert [t["name"] for t in out["targets"]] == ["retrieval"]
    assert out["conditions"][2]["verdict"] == "missed"  # 7 examples, not 300


def test_a_best_prompt_that_is_the_retrieval_baseline_reuses_its_records(tmp_path: Path) -> None:
    task = tiny_task()
    run = _finished(tmp_path, optimize_task.retrieval_candidate(task))
    completer = FakeCompleter(topic_answers())
    out = optimize_task.analyse(run, _evaluator(completer))
    assert completer.calls == 0
    assert out["contenders"]["plain retrieval"]["settings"]["reused_from_run"] == 12
    assert out["best_minus_retrieval"][0] == 0.0
    assert out["targets"][0]["verdict"] == "missed"
