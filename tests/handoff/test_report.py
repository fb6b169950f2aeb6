"""The plateau report: its pure parts on hand-made values (Pareto front, Wilson band, incumbent
trajectory, the strong-candidate rule and unfixed errors, ablations that each change one
component, paired intervals), and the whole command on run folders made by the real optimizer
with a fake model: the files, the self-contained HTML, ablations scored through the evaluator
and reused on a rerun, no model call without them, and errors that overwrite nothing."""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import struct
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib
import pytest

from promptopt import compose
from promptopt.compose import OptimizeSettings
from promptopt.evaluate.evaluator import EvalSettings, Evaluator, ExampleRecord
from promptopt.evaluate.plateau import empty_evidence
from promptopt.handoff.report import ablation, build, plots
from promptopt.handoff.report.ablation import GROUPS, changed_fields, paired
from promptopt.handoff.report.candidates import CandidatePoint, pareto_front
from promptopt.handoff.report.trajectory import trajectory, wilson
from promptopt.handoff.report.unfixed import strong_candidates, unfixed_errors
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.run.events import Evaluated, Plateau
from promptopt.run.history import History
from promptopt.run.reader import open_finished
from promptopt.run.store import RunStore
from promptopt.search.space import SearchSpace
from promptopt.settings import Paths
from promptopt.task.spec import Task
from promptopt.testing import LABELS, FakeCompleter, task_rows, tiny_task, topic_answers
from tests.conftest import Invoke
from tests.handoff.worlds import Recipe, World

SETTINGS = OptimizeSettings(
    task="fake",
    model="fake/model",
    dev_limit=36,
    test_limit=24,
    first_rung=12,
    concurrency=1,
    space=SearchSpace(retrievers=("word", "char"), k_choices=(2, 4), output_formats=("label", "code")),
    ceiling_resolution=0.5,  # what 36 dev examples resolve: the flat run's plateau is a ceiling
)
# the task and its runs (the `world` fixture): a plateau run and one of 8 trials
WORLD = Recipe("report", rows=task_rows(tiny_task()), settings=SETTINGS, short_trials=8)
PNGS = build.IMAGES


# -- hand-made values -------------------------------------------------------------------------


def _point(cid: str, acc: float, tokens: float, *, full: bool = True, n: int = 40) -> CandidatePoint:
    return CandidatePoint(cid, "op", acc, n if full else 10, tokens, full)


def test_the_pareto_front_keeps_exactly_the_undominated_whole_dev_candidates() -> None:
    points = [
        _point("cheap", 0.50, 100),
        _point("mid", 0.80, 300),
        _point("dominated", 0.70, 350),
        _point("same-acc-costlier", 0.80, 400),
        _point("best", 0.90, 800),
        _point("tie-a", 0.60, 200),
        _point("tie-b", 0.60, 200),
        _point("raced", 0.99, 50, full=False),
    ]
    front = pareto_front(points)
    assert [p.candidate_id for p in front] == ["cheap", "tie-a", "tie-b", "mid", "best"]
    assert all(p.full for p in front)
    assert pareto_front([_point("raced", 0.9, 10, full=False)]) == []


def test_wilson_intervals_hold_their_known_values() -> None:
    low, high = wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson(57, 60)
    assert low < 57 / 60 < high <= 1.0 and high - low < wilson(19, 20)[1] - wilson(19, 20)[0]
    assert all(math.isnan(v) for v in wilson(0, 0))


def _evaluated(cid: str, acc: float, n: int, calls: int, *, raced: bool = False) -> Evaluated:
    return Evaluated(
        eval=f"e-{cid}",
        candidate=cid,
        trial=None,
        operator="op",
        accuracy=acc,
        n=n,
        raced_out=raced,
        why="worse" if raced else None,
        spend_tokens=calls * 100,
        calls=calls,
        usd=None,
        elapsed_s=float(calls),
    )


def _plateau(reached: bool) -> Plateau:
    return Plateau(replace(empty_evidence("a verdict"), plateau=reached))


def test_the_trajectory_follows_the_incumbent_as_the_optimizer_picks_it() -> None:
    events = [
        _evaluated("a", 0.5, 40, 40),
        _plateau(False),
        _evaluated("raced", 0.9, 10, 50, raced=True),
        _evaluated("b", 0.6, 40, 90),
        _evaluated("tie", 0.6, 40, 130),
        _plateau(True),
        _evaluated("late", 0.55, 40, 170),
        _plateau(True),
    ]
    traj = trajectory(events)
    assert [s.best_id for s in traj.steps] == ["a", "a", "b", "b", "b"]
    assert traj.plateau_index == 3 and not traj.priced and traj.spend_axis() == "tokens"
    for step in traj.steps:
        assert step.band_low <= step.best_accuracy <= step.band_high
    assert trajectory([_evaluated("x", 0.5, 10, 10, raced=True)]).steps[0].best_id is None


def _history(tmp_path: Path, rows: dict[str, list[tuple[str, str, str | None, str]]]) -> History:
    """``rows[candidate] = [(example, gold, prediction, status)]`` on dev."""
    history = History(RunStore(tmp_path))
    for cid, items in rows.items():
        for example, gold, pred, status in items:
            history.records[(cid, "dev")][example] = ExampleRecord(
                example_id=example,
                gold=gold,
                prediction=pred,
                raw=pred or "",
                correct=pred == gold and status == "ok",
                status=status,
                prompt_tokens=0,
                completion_tokens=0,
                latency_s=0.0,
                usd=0.0,
                cached=False,
            )
    return history


def test_strong_candidates_are_full_dev_ones_within_the_larger_of_mde_and_five_points() -> None:
    points = [
        _point("best", 0.90, 500),
        _point("close", 0.86, 400),
        _point("far", 0.80, 300),
        _point("raced", 0.95, 100, full=False),
    ]
    assert strong_candidates(points, mde=None).candidate_ids == ("best", "close")
    assert strong_candidates(points, mde=0.03).tolerance == 0.05
    wide = strong_candidates(points, mde=0.12)
    assert wide.candidate_ids == ("best", "close", "far") and wide.tolerance == 0.12


def test_unfixed_errors_are_the_examples_every_strong_candidate_answered_wrongly(tmp_path: Path) -> None:
    history = _history(
        tmp_path,
        {
            "a": [
                ("e1", "x", "y", "ok"),
                ("e2", "x", "y", "ok"),
                ("e3", "x", None, "error"),
                ("e4", "y", None, "invalid"),
                ("e5", "x", "x", "ok"),
            ],
            "b": [
                ("e1", "x", "z", "ok"),
                ("e2", "x", "x", "ok"),
                ("e3", "x", "y", "ok"),
                ("e4", "y", "x", "ok"),
                ("e5", "x", "y", "ok"),
            ],
        },
    )
    found = unfixed_errors(history, "dev", ["a", "b"], ["e1", "e2", "e3", "e4", "e5", "missing"])
    assert [e.example_id for e in found.examples] == ["e1", "e4"]
    assert found.n_answered == 4  # e3 has a failed call, "missing" no record
    assert found.examples[0].predictions == ("y", "z") and found.examples[1].predictions == (None, "x")
    assert found.by_class() == [("x", 1), ("y", 1)]
    assert unfixed_errors(history, "dev", [], ["e1"]).examples == ()
    # e1: "y" and "z" (no agreement); e4: an invalid answer is not an agreement either
    assert found.same_answer_pairs() == []
    agreed = unfixed_errors(history, "dev", ["a"], ["e1", "e2", "e5"])
    assert agreed.same_answer_pairs() == [("x", "y", 2)]  # e1 and e2: one candidate, one wrong label


def _train() -> tuple[Any, ...]:
    return tiny_task().split("train")


def test_each_ablation_changes_exactly_one_component_of_the_best() -> None:
    best = Candidate(
        instruction="A rewritten instruction.",
        label_style="described",
        label_descriptions=tuple((label, f"about {label}") for label in LABELS),
        demo_strategy="retrieved",
        k=3,
        retriever="char",
        demo_layout="labels",
        output_format="code",
    )
    plan = ablation.plan(best, seed_instruction="The seed instruction.", train=_train(), seed=0)
    assert [a.name for a in plan] == [
        "instruction",
        "demos",
        "retrieval",
        "label descriptions",
        "output format",
    ]
    for item in plan:
        changed = changed_fields(best, item.candidate)
        assert changed and changed <= set(GROUPS[item.group]), (item.name, changed)
        assert item.candidate.id != best.id and item.candidate.parents == (best.id,)
    retrieval = next(a.candidate for a in plan if a.name == "retrieval")
    assert retrieval.demo_strategy == "stratified" and len(retrieval.demo_ids) == best.k
    assert retrieval.demo_layout == "compact" and len({d for d in retrieval.demo_ids}) == best.k
    assert next(a.candidate for a in plan if a.name == "instruction").instruction == "The seed instruction."


def test_only_the_parts_that_differ_from_the_seed_are_ablated() -> None:
    seed = Candidate(instruction="Seed.")
    assert ablation.plan(seed, seed_instruction="Seed.", train=_train(), seed=0) == ()
    fixed = Candidate(
        instruction="Seed.",
        demo_strategy="stratified",
        demo_ids=("train-0", "train-1"),
        demo_layout="compact",
    )
    assert [a.name for a in ablation.plan(fixed, seed_instruction="Seed.", train=_train(), seed=0)] == [
        "demos"
    ]


def test_paired_intervals_and_mcnemar_on_the_same_examples() -> None:
    ids = [f"t{i}" for i in range(40)]
    best = {i: True for i in ids}
    worse = {i: k % 2 == 0 for k, i in enumerate(ids)}
    result = paired(best, worse, seed=0)
    assert result.n == 40 and result.lift == pytest.approx(0.5) and (result.b, result.c) == (20, 0)
    assert (
        0 < result.ci_low < 0.5 < result.ci_high
        and result.p_value < 1e-4
        and result.verdict == "carries lift"
    )
    same = paired(best, dict(best), seed=0)
    assert same.lift == 0 and same.p_value == 1.0 and same.verdict == "not shown"
    flipped = paired(worse, best, seed=0)
    assert flipped.verdict == "hurts" and flipped.ci_high < 0
    partial = paired(best, {i: False for i in ids[:5]}, seed=0)
    assert partial.n == 5 and partial.lift == 1.0
    assert paired(best, {}, seed=0).verdict == "not scored"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plots_use_no_global_state_and_a_77_class_chart_is_tall() -> None:
    before = dict(matplotlib.rcParams)
    recall = {f"class_{i:02d}": (i % 10) / 10 for i in range(77)}
    tall = plots.per_class_png(recall, dict.fromkeys(recall, 10), 0.5, dict.fromkeys(recall, 0.1))
    short = plots.per_class_png(dict(list(recall.items())[:6]), dict.fromkeys(recall, 10), 0.5)
    empty = plots.confusions_png([])
    assert (
        _png_size(tall)[1] > 1500 and _png_size(tall)[1] > 3 * _png_size(short)[1] and _png_size(empty)[0] > 0
    )
    assert dict(matplotlib.rcParams) == before


# -- run folders from the real optimizer ------------------------------------------------------


@pytest.fixture
def fake_evaluator(monkeypatch: pytest.MonkeyPatch, world: World) -> Iterator[FakeCompleter]:
    """Route the report's ablations to a fake model through a real Evaluator."""
    fake = FakeCompleter(topic_answers())

    def open_eval(
        task: Task,
        paths: Paths,
        *,
        model: str,
        seed: int,
        temperature: float,
        concurrency: Any,
        env: Any,
        api_base: str | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        evaluator = Evaluator(
            completer=fake,
            labels=task.labels,
            demo_source=DemoSource(task.split("train")),
            settings=EvalSettings(model=model, temperature=temperature, seed=seed),
        )
        return compose.EvalRun(evaluator=evaluator, ledger=None, completer=fake)  # type: ignore[arg-type]

    monkeypatch.setattr(compose, "open_eval", open_eval)
    yield fake


def _copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to, ignore=shutil.ignore_patterns("report", "finetune"))
    return to


def test_a_plateau_on_a_dev_slice_too_small_reads_ceiling_not_resolved(
    world: World, tmp_path: Path, invoke: Invoke
) -> None:
    run = _copy(world.plateau_run, tmp_path / "fine")
    summary = json.loads((run / "summary.json").read_text())
    summary["plateau"]["resolution"] = 0.01  # a finer ceiling than 36 dev examples can resolve
    (run / "summary.json").write_text(json.dumps(summary))
    result = invoke("report", str(run), "--no-ablations", "--out", str(tmp_path / "r"))
    assert result.exit_code == 0, result.flat
    assert "prompt ceiling: stalled, ceiling not resolved" in result.flat
    verdict = (tmp_path / "r" / "report.md").read_text().split("## Verdict", 1)[1].split("##", 1)[0]
    assert "**Ceiling not resolved.**" in verdict and "dev examples would resolve 1.0 pt" in verdict
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert data["ceiling_found"] is False and data["search_stalled"] is True


def test_a_plateau_run_reports_its_ceiling_with_the_evidence(
    world: World, tmp_path: Path, invoke: Invoke
) -> None:
    out = tmp_path / "r"
    result = invoke("report", str(world.plateau_run), "--no-ablations", "--out", str(out))
    assert result.exit_code == 0, result.flat
    summary = json.loads((world.plateau_run / "summary.json").read_text())
    plateau = summary["plateau"]
    assert summary["stop_reason"] == "plateau" and plateau["plateau"] is True
    text = (out / "report.md").read_text()
    verdict = text.split("## Verdict", 1)[1].split("##", 1)[0]
    assert "**Ceiling found.**" in verdict and plateau["reason"] in verdict
    assert f"{plateau['mde'] * 100:.1f} pt" in verdict and f"{plateau['ceiling']:.1%}" in verdict
    assert f"{summary['calls']:,} calls" in verdict and f"{summary['best_test_accuracy']:.1%}" in verdict
    data = json.loads((out / "report.json").read_text())
    assert data["ceiling_found"] is True and data["plateau_step"] is not None
    assert data["trajectory"][data["plateau_step"]]["best_id"] == plateau["incumbent_id"]


def test_the_report_files_and_a_self_contained_html(world: World, tmp_path: Path, invoke: Invoke) -> None:
    out = tmp_path / "r"
    assert invoke("report", str(world.short_run), "--no-ablations", "--out", str(out)).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted([*build.TEXT_FILES, *PNGS])
    page = (out / "report.html").read_text()
    text = (out / "report.md").read_text()
    for name in PNGS:
        data = (out / name).read_bytes()
        assert _png_size(data)[0] >= 600
        assert f"data:image/png;base64,{base64.b64encode(data).decode()}" in page, name
        assert f"]({name})" in text, name
    assert re.findall(r'src="(?!data:)', page) == [] and "<link" not in page
    assert text.startswith("# Plateau report: fake") and text.index("## Verdict") < text.index("## Progress")
    assert "Skipped (`--no-ablations`)" in text


def test_the_report_agrees_with_the_optimizer_on_pareto_trajectory_and_unfixed_errors(
    world: World, tmp_path: Path, invoke: Invoke
) -> None:
    out = tmp_path / "r"
    assert invoke("report", str(world.short_run), "--no-ablations", "--out", str(out)).exit_code == 0
    data = json.loads((out / "report.json").read_text())
    summary = json.loads((world.short_run / "summary.json").read_text())
    assert set(data["pareto"]) == {p["candidate"] for p in summary["pareto"]}
    last = data["trajectory"][-1]
    assert (
        last["best_id"] == summary["best_candidate_id"]
        and last["best_accuracy"] == summary["best_dev_accuracy"]
    )
    strong = data["strong"]["candidate_ids"]
    assert strong[0] == summary["best_candidate_id"]
    rows = [json.loads(line) for line in (world.short_run / "evaluations.jsonl").read_text().splitlines()]
    dev_ids = json.loads((world.short_run / "run.json").read_text())["dev_ids"]
    wrong_for_all = [
        i
        for i in dev_ids
        if all(
            any(
                r["candidate_id"] == c
                and r["split"] == "dev"
                and r["example_id"] == i
                and not r["correct"]
                and r["status"] != "error"
                for r in rows
            )
            for c in strong
        )
    ]
    assert [e["example_id"] for e in data["unfixed"]["dev"]["examples"]] == wrong_for_all
    assert sum(data["unfixed"]["dev"]["by_class"].values()) == len(wrong_for_all)
    same = [
        e
        for e in data["unfixed"]["dev"]["examples"]
        if len(set(e["predictions"])) == 1 and e["predictions"][0]
    ]
    assert sum(p["count"] for p in data["unfixed"]["dev"]["same_wrong_label"]) == len(same)


def test_ablations_are_scored_through_the_evaluator_and_reused_on_a_rerun(
    world: World, tmp_path: Path, fake_evaluator: FakeCompleter, invoke: Invoke
) -> None:
    run = _copy(world.short_run, tmp_path / "run")
    found = open_finished(run)
    plan = ablation.plan(
        found.best,
        seed_instruction=found.baseline.instruction if found.baseline else "",
        train=world.task.split("train"),
        seed=0,
    )
    assert plan, f"the fixture's winner should have something to ablate: {found.best}"
    first = invoke("report", str(run), "--data-dir", str(world.data_dir), "--limit", "12")
    assert first.exit_code == 0, first.flat
    assert fake_evaluator.calls == 12 * len(plan)
    log = [json.loads(line) for line in (run / "report" / "ablations.jsonl").read_text().splitlines()]
    assert {r["candidate_id"] for r in log} == {a.candidate.id for a in plan} and len(log) == 12 * len(plan)
    text = (run / "report" / "report.md").read_text()
    section = text.split("## Attribution", 1)[1].split("\n## ", 1)[0]
    assert "on the same **12** test examples" in section
    for item in plan:
        assert item.title in section and f"`{item.candidate.id}`" in section
    data = json.loads((run / "report" / "report.json").read_text())["ablations"]
    assert len(data["example_ids"]) == 12 and all(r["n"] == 12 for r in data["results"])
    assert "lift carried by" in first.flat
    assert (
        f"ablations: {12 * len(plan)} of at most {12 * len(plan)} answers" in first.flat
    )  # a log gets progress lines

    again = invoke("report", str(run), "--data-dir", str(world.data_dir), "--limit", "12", "--force")
    assert again.exit_code == 0, again.flat
    assert fake_evaluator.calls == 12 * len(plan)  # every answer came from ablations.jsonl
    assert json.loads((run / "report" / "report.json").read_text())["ablations"] == data


def test_no_ablations_means_no_model_call_and_no_task_data(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, invoke: Invoke
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no model may be opened with --no-ablations")

    monkeypatch.setattr(compose, "open_eval", refuse)
    monkeypatch.setattr(compose, "load", refuse)
    run = _copy(world.short_run, tmp_path / "elsewhere")
    result = invoke("report", str(run), "--no-ablations", "--data-dir", str(tmp_path / "no-data"))
    assert result.exit_code == 0, result.flat
    assert (run / "report" / "report.html").is_file() and not (run / "report" / "ablations.jsonl").exists()


def test_an_existing_report_is_not_overwritten_without_force(
    world: World, tmp_path: Path, invoke: Invoke
) -> None:
    out = tmp_path / "r"
    assert invoke("report", str(world.short_run), "--no-ablations", "--out", str(out)).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "report.md").write_text("edited by hand")
    refused = invoke("report", str(world.short_run), "--no-ablations", "--out", str(out))
    assert refused.exit_code == 2
    assert "already holds a report" in refused.flat and str(out) in refused.flat and "--force" in refused.flat
    assert (out / "report.md").read_text() == "edited by hand"
    forced = invoke("report", str(world.short_run), "--no-ablations", "--out", str(out), "--force")
    assert forced.exit_code == 0 and (out / "report.md").read_bytes() == before["report.md"]
    only_log = tmp_path / "resumable"
    only_log.mkdir()
    (only_log / "ablations.jsonl").write_text("")
    assert invoke("report", str(world.short_run), "--no-ablations", "--out", str(only_log)).exit_code == 0


def test_errors_say_what_was_seen_and_how_to_fix_it(world: World, tmp_path: Path, invoke: Invoke) -> None:
    missing = invoke("report", str(tmp_path / "no_run"), "--no-ablations")
    assert missing.exit_code == 8 and "does not exist" in missing.flat and "promptopt runs" in missing.flat
    unfinished = _copy(world.short_run, tmp_path / "unfinished")
    (unfinished / "summary.json").unlink()
    result = invoke("report", str(unfinished), "--no-ablations")
    assert (
        result.exit_code == 2
        and "unfinished" in result.flat
        and f"promptopt resume {unfinished}" in result.flat
    )
    assert not (unfinished / "report").exists()
    bad = invoke("report", str(world.short_run), "--limit", "0")
    assert bad.exit_code == 2 and "--limit must be at least 1 (seen: 0)" in bad.flat
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert invoke("report", str(world.short_run), "--no-ablations", "--out", str(a_file)).exit_code == 2
    old = _copy(world.short_run, tmp_path / "old")
    info = json.loads((old / "run.json").read_text())
    (old / "run.json").write_text(json.dumps({**info, "format_version": 0}))
    result = invoke("report", str(old), "--no-ablations")
    assert result.exit_code == 8 and "format version 0" in result.flat


def test_ablations_refuse_data_that_changed_since_the_run(
    world: World, tmp_path: Path, fake_evaluator: FakeCompleter, invoke: Invoke
) -> None:
    data = tmp_path / "data"
    shutil.copytree(world.data_dir, data)
    with (data / "fake" / "test.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"text": "note 9999 about beta river", "label": "beta"}) + "\n")
    run = _copy(world.short_run, tmp_path / "run")
    result = invoke("report", str(run), "--data-dir", str(data))
    assert result.exit_code == 4 and "changed since this run started" in result.flat
    assert fake_evaluator.calls == 0 and not (run / "report" / "report.md").exists()
