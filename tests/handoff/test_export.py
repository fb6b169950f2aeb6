"""export -> load -> verify on run folders built in tmp_path: every demo strategy and layout
round-trips one for one (fixed and retrieved winners, MiniLM with stored embeddings), the
messages template reproduces the renderer, the DSPy program loads and runs in dspy, and bad
input fails clearly without overwriting anything. The artifact's integrity checks on load are
in tests/production/test_artifact.py, the export command in tests/cli/test_handoffs.py."""

from __future__ import annotations

import importlib.util
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from promptopt.compose import OptimizeSettings, optimize_slices
from promptopt.errors import StoreError, UsageError
from promptopt.handoff.export import verify
from promptopt.handoff.export.template import fill
from promptopt.production.artifact import content_hash, read_artifact
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import stratified_demo_ids
from promptopt.prompt.render import answer_for, render
from promptopt.run.reader import open_finished
from promptopt.search.space import SearchSpace
from promptopt.testing import (
    MODEL,
    HashEmbedder,
    build_finished_run,
    demo_source,
    fake_optimizer,
    load_tiny_task,
    new_run_store,
    write_tiny_task,
)
from tests.conftest import REPO, RunCli
from tests.handoff.export_cases import CASES, INSTRUCTION, export_run, exported, hashed, rescore, runtime_for


@pytest.mark.parametrize("case", list(CASES))
def test_export_then_verify_reproduces_every_recorded_prediction(tmp_path: Path, case: str) -> None:
    task, run, written = exported(tmp_path, case)
    info = json.loads((run / "run.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    model = hashed()
    report = rescore(runtime_for(written[0], model), task)
    assert model.calls == len(info["test_ids"])  # every test example went through the model again
    assert report.from_run and report.compared == len(info["test_ids"])
    assert report.mismatches == ()
    assert report.accuracy == pytest.approx(summary["best_test_accuracy"])
    assert report.recorded_accuracy == pytest.approx(summary["best_test_accuracy"])
    assert 0 < report.accuracy < 1  # mixed answers, so a drift would show


@pytest.mark.parametrize("case", list(CASES))
def test_the_messages_template_filled_gives_exactly_the_rendered_prompt(tmp_path: Path, case: str) -> None:
    task, _, written = exported(tmp_path, case)
    rt = runtime_for(written[0], hashed())
    template = rt.artifact.data["template"]
    for example in task.split("test")[:6]:
        demos = rt.demos(example.text)
        neighbours = [(d.text, answer_for(rt.candidate, rt.labels, d.label)) for d in reversed(demos)]
        assert fill(template, example.text, neighbours) == render(
            rt.candidate, rt.labels, demos, example.text
        )


SPACES = {
    "stratified": SearchSpace(
        demo_strategies=("none", "stratified"),
        k_choices=(6,),
        retrievers=("word",),
        layouts=("turns",),
        instruction_slots=2,
    ),
    "retrieved": SearchSpace(
        demo_strategies=("none", "retrieved"),
        k_choices=(2, 3),
        retrievers=("minilm", "char"),
        layouts=("compact", "turns"),
        output_formats=("label", "code"),
        instruction_slots=2,
    ),
}


@pytest.mark.parametrize("strategy", list(SPACES))
def test_a_run_of_the_real_optimizer_round_trips(tmp_path: Path, strategy: str) -> None:
    write_tiny_task(tmp_path)
    task = load_tiny_task(tmp_path)
    settings = OptimizeSettings(
        task="fake",
        model=MODEL,
        dev_limit=18,
        first_rung=6,
        concurrency=1,
        max_trials=6,
        space=SPACES[strategy],
    )
    store = new_run_store(tmp_path / "run", task, settings)
    run = fake_optimizer(
        store, task, settings, hashed(), demos=demo_source(task, HashEmbedder()), clock=time.monotonic
    )
    summary = run.optimizer.run()
    assert summary.best_candidate.demo_strategy == strategy
    _, test = optimize_slices(task, settings)
    written = export_run(tmp_path / "run", task)
    model = hashed()
    report = rescore(runtime_for(written[0], model), task)
    assert report.mismatches == () and report.compared == len(test) == model.calls
    assert report.accuracy == pytest.approx(summary.best_test_accuracy)


def test_a_different_model_is_reported_example_by_example(tmp_path: Path) -> None:
    task, run, written = exported(tmp_path, "retrieved-word-turns")
    recorded = {
        r["example_id"]: r["prediction"]
        for r in map(json.loads, (run / "evaluations.jsonl").read_text().splitlines())
        if r["split"] == "test" and r["candidate_id"] == read_artifact(written[0]).candidate.id
    }
    report = rescore(runtime_for(written[0], hashed(salt="another model")), task)
    assert report.mismatches, "a model that answers differently went unnoticed"
    for m in report.mismatches:
        assert m.recorded == recorded[m.example_id] and m.now != m.recorded
    assert report.compared == len(recorded) and not report.ok


def test_limit_rescores_a_seeded_subset_of_the_run_test_ids(tmp_path: Path) -> None:
    task, run, written = exported(tmp_path, "fixed-turns")
    test_ids = json.loads((run / "run.json").read_text())["test_ids"]
    first = rescore(runtime_for(written[0], hashed()), task, limit=7)
    again = verify.plan(read_artifact(written[0]), task, split="test", limit=7)
    assert first.n == 7 and first.mismatches == ()
    assert {e.id for e in again.examples} <= set(test_ids)
    assert [e.id for e in again.examples] == [
        e.id for e in verify.plan(read_artifact(written[0]), task, split="test", limit=7).examples
    ]


def test_the_artifact_holds_what_production_needs(tmp_path: Path) -> None:
    task, run, written = exported(tmp_path, "retrieved-minilm-compact-code")
    info = json.loads((run / "run.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    data = json.loads(written[0].read_text())
    assert written[0] == run / "export" / "prompt.json"
    assert data["content_hash"] == content_hash(data)
    assert data["model"] == {
        "name": MODEL,
        "temperature": 0.0,
        "max_tokens": data["model"]["max_tokens"],
        "seed": 0,
        "stop": ["\n"],
    }
    assert data["labels"] == list(task.labels)
    assert data["output"]["codes"] == {f"L{i + 1}": label for i, label in enumerate(task.labels)}
    demos = data["demos"]
    assert (demos["strategy"], demos["retriever"], demos["k"], demos["layout"]) == (
        "retrieved",
        "minilm",
        2,
        "compact",
    )
    assert [row["id"] for row in demos["pool"]] == [e.id for e in task.split("train")]
    assert (run / "export" / demos["embeddings"]["file"]).is_file()
    assert demos["embeddings"]["shape"] == [len(task.split("train")), 32]
    assert data["expected"]["accuracy"] == summary["best_test_accuracy"]
    assert [data["expected"]["ci_low"], data["expected"]["ci_high"]] == summary["best_test_ci"]
    assert data["expected"]["n"] == len(info["test_ids"])
    assert data["evaluation"]["splits"]["test"]["ids"] == info["test_ids"]
    assert data["versions"]["litellm"] == info["versions"]["litellm"]
    assert data["template"]["messages"][-1]["content"].endswith("{{input}}")


def test_export_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    task, run, written = exported(tmp_path, "fixed-turns")
    written[0].write_text("kept")
    with pytest.raises(UsageError, match="--force"):
        export_run(run, task)
    assert written[0].read_text() == "kept"
    export_run(run, task, force=True)
    assert read_artifact(written[0]).candidate.demo_strategy == "fixed"


def test_messages_format_writes_only_the_template(tmp_path: Path) -> None:
    _, run, written = exported(tmp_path, "retrieved-minilm-compact-code", fmt="messages")
    assert written == [run / "export" / "messages.json"]
    data = json.loads(written[0].read_text())
    assert data["demos"]["layout"] == "block" and data["demos"]["order"] == "most_similar_last"
    assert "{{demos}}" in data["messages"][-1]["content"] and "{{input}}" in data["messages"][-1]["content"]
    assert not (run / "export" / "prompt.json").exists()
    assert not list((run / "export").glob("*.npy"))


def test_unfinished_and_unknown_runs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_finished(tmp_path / "nowhere")
    task_root = tmp_path / "t"
    _, run, _ = exported(task_root, "fixed-turns")
    (run / "summary.json").unlink()
    with pytest.raises(UsageError, match="unfinished") as caught:
        open_finished(run)
    assert "promptopt resume" in str(caught.value)


# -- DSPy -----------------------------------------------------------------------------------------


def _import(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"exported_{abs(hash(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("case", ["stratified-compact-described-code", "retrieved-word-turns"])
def test_the_dspy_export_loads_in_dspy_and_runs_with_the_same_instruction_and_demos(
    tmp_path: Path, case: str
) -> None:
    dspy = pytest.importorskip("dspy")
    from dspy.utils.dummies import DummyLM

    task, run, written = exported(tmp_path, case, fmt="dspy")
    assert (
        written[0] == run / "export" / "dspy_program.py"
        and written[1] == run / "export" / "dspy_program.json"
    )
    module = _import(written[0])
    program = module.build_program()
    text = task.split("test")[0].text
    lm = DummyLM([{"label": "beta"}])
    with dspy.context(lm=lm):
        prediction = program(text=text)
    assert prediction.label == "beta"
    assert dspy.settings.lm is None  # nothing configured globally
    messages = lm.history[-1]["messages"]
    joined = "\n".join(m["content"] for m in messages)
    assert INSTRUCTION in messages[0]["content"]
    rt = runtime_for(written[1], hashed())
    demos = rt.demos(text)
    assert demos and all(d.text in joined for d in demos)
    assert sum(m["role"] == "assistant" for m in messages) == len(demos)
    assert text in messages[-1]["content"]


# -- the real embedded model (marked `model`; part of `make test` and CI) -----------------------


@pytest.mark.model
def test_verify_round_trip_on_the_embedded_model(data_dir: Path, tmp_path: Path, run_cli: RunCli) -> None:
    """A five-example run on banking77 with the local model, exported and verified through the
    command line: the reproducible engine gives the same answers one for one."""
    from promptopt.llm.gateway import LiteLLMGateway
    from promptopt.task.load import load_task

    task = load_task("banking77", search_dirs=(REPO / "tasks",), data_dir=data_dir)
    candidate = Candidate(
        INSTRUCTION,
        demo_strategy="stratified",
        demo_ids=stratified_demo_ids(task.split("train"), 4, random.Random(0)),
        demo_layout="compact",
    )
    run = build_finished_run(
        tmp_path / "run",
        task,
        candidate,
        LiteLLMGateway(),
        model_name="local/qwen2.5-0.5b-instruct",
        dev_limit=2,
        test_limit=5,
    )
    exported_proc = run_cli("export", str(run), "--data-dir", str(data_dir.resolve()), cwd=tmp_path)
    assert exported_proc.returncode == 0, exported_proc.stderr
    proc = run_cli(
        "verify",
        str(run / "export" / "prompt.json"),
        "banking77",
        "--data-dir",
        str(data_dir.resolve()),
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all 5 predictions match" in proc.stdout
    dspy = pytest.importorskip("dspy")
    dspy_proc = run_cli(
        "export", str(run), "--format", "dspy", "--data-dir", str(data_dir.resolve()), cwd=tmp_path
    )
    assert dspy_proc.returncode == 0, dspy_proc.stderr
    module = _import(run / "export" / "dspy_program.py")
    program = module.build_program()
    assert len(program.predict.demos) == 4
    with dspy.context(lm=module.make_lm()):  # the real model, through DSPy's own adapter
        prediction = program(text=task.split("test")[0].text)
    assert prediction.label in task.labels
