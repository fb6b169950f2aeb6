"""export -> load -> verify on run folders built in tmp_path: every demo strategy and layout
round-trips one for one (fixed and retrieved winners, MiniLM with stored embeddings), the
messages template reproduces the renderer, the DSPy program loads and runs in dspy, and bad
input fails clearly without overwriting anything."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from exportfakes import (
    MODEL,
    HashEmbedder,
    ScriptedModel,
    demo_source,
    export_run,
    load_fake,
    make_run,
    write_task,
)

from promptopt.compose import (
    OptimizeSettings,
    assemble_optimize,
    new_run_info,
    optimize_slices,
    restored_ledger,
)
from promptopt.errors import StoreError, UsageError
from promptopt.handoff.export import source, verify
from promptopt.handoff.export.template import fill
from promptopt.llm.metered import MeteredCompleter
from promptopt.production.artifact import ArtifactError, content_hash, read_artifact
from promptopt.production.runtime import Runtime, load
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import stratified_demo_ids
from promptopt.prompt.describe import keyword_descriptions
from promptopt.prompt.render import answer_for, render
from promptopt.run.store import RunStore
from promptopt.search.space import SearchSpace
from promptopt.task.spec import Task

REPO = Path(__file__).resolve().parents[1]
INSTRUCTION = "Classify the note by its topic. Reply with the label only, written exactly as listed."


def _ids(task: Task, n: int) -> tuple[str, ...]:
    return tuple(e.id for e in task.split("train")[:n])


CASES: dict[str, Callable[[Task], Candidate]] = {
    "zero-shot-code": lambda t: Candidate(INSTRUCTION, output_format="code"),
    "fixed-turns": lambda t: Candidate(INSTRUCTION, demo_strategy="fixed", demo_ids=_ids(t, 4)),
    "stratified-compact-described-code": lambda t: Candidate(
        INSTRUCTION, label_style="described", label_descriptions=keyword_descriptions(t.split("train"), t.labels),
        demo_strategy="stratified", demo_ids=stratified_demo_ids(t.split("train"), 6, random.Random(3)),
        demo_layout="compact", output_format="code"),
    "retrieved-word-turns": lambda t: Candidate(INSTRUCTION, demo_strategy="retrieved", k=3),
    "retrieved-char-labels-code": lambda t: Candidate(INSTRUCTION, demo_strategy="retrieved", k=4, retriever="char",
                                                      demo_layout="labels", output_format="code"),
    "retrieved-minilm-compact-code": lambda t: Candidate(INSTRUCTION, demo_strategy="retrieved", k=2,
                                                         retriever="minilm", demo_layout="compact",
                                                         output_format="code"),
}


def _embedder(candidate: Candidate) -> HashEmbedder | None:
    return HashEmbedder() if candidate.retriever == "minilm" else None


def exported(root: Path, case: str, *, fmt: str = "json") -> tuple[Task, Path, list[Path]]:
    """A task on disk, a finished run whose winner is CASES[case], and its export."""
    write_task(root)
    task = load_fake(root)
    candidate = CASES[case](task)
    run = make_run(root / "run", task, candidate, ScriptedModel(), embedder=_embedder(candidate))
    return task, run, export_run(run, task, fmt=fmt)


def runtime_for(path: Path, model: ScriptedModel) -> Runtime:
    candidate = read_artifact(path).candidate
    return load(path, completer=model, embedder=_embedder(candidate))


def rescore(rt: Runtime, task: Task, *, limit: int | None = None) -> verify.VerifyReport:
    plan = verify.plan(rt.artifact, task, split="test", limit=limit)
    return verify.compare(plan, rt.evaluate(plan.examples), rt.artifact)


@pytest.mark.parametrize("case", list(CASES))
def test_export_then_verify_reproduces_every_recorded_prediction(tmp_path: Path, case: str) -> None:
    task, run, written = exported(tmp_path, case)
    info = json.loads((run / "run.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    model = ScriptedModel()
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
    rt = runtime_for(written[0], ScriptedModel())
    template = rt.artifact.data["template"]
    for example in task.split("test")[:6]:
        demos = rt.demos(example.text)
        neighbours = [(d.text, answer_for(rt.candidate, rt.labels, d.label)) for d in reversed(demos)]
        assert fill(template, example.text, neighbours) == render(rt.candidate, rt.labels, demos, example.text)


SPACES = {
    "stratified": SearchSpace(demo_strategies=("none", "stratified"), k_choices=(6,), retrievers=("word",),
                              layouts=("turns",), instruction_slots=2),
    "retrieved": SearchSpace(demo_strategies=("none", "retrieved"), k_choices=(2, 3), retrievers=("minilm", "char"),
                             layouts=("compact", "turns"), output_formats=("label", "code"), instruction_slots=2),
}


@pytest.mark.parametrize("strategy", list(SPACES))
def test_a_run_of_the_real_optimizer_round_trips(tmp_path: Path, strategy: str) -> None:
    write_task(tmp_path)
    task = load_fake(tmp_path)
    settings = OptimizeSettings(task="fake", model=MODEL, dev_limit=18, first_rung=6, concurrency=1, max_trials=6,
                                space=SPACES[strategy])
    dev, test = optimize_slices(task, settings)
    store = RunStore.create(tmp_path / "run", {"run_id": "run", **new_run_info(task, settings, dev, test)})
    ledger = restored_ledger(store)
    run = assemble_optimize(task, settings, store, metered=MeteredCompleter(ScriptedModel(), ledger), ledger=ledger,
                            demos=demo_source(task, HashEmbedder()))
    summary = run.optimizer.run()
    assert summary["best_candidate"]["components"]["demo_strategy"] == strategy
    written = export_run(tmp_path / "run", task)
    model = ScriptedModel()
    report = rescore(runtime_for(written[0], model), task)
    assert report.mismatches == () and report.compared == len(test) == model.calls
    assert report.accuracy == pytest.approx(summary["best_test_accuracy"])


def test_a_different_model_is_reported_example_by_example(tmp_path: Path) -> None:
    task, run, written = exported(tmp_path, "retrieved-word-turns")
    recorded = {r["example_id"]: r["prediction"] for r in map(json.loads, (run / "evaluations.jsonl").read_text().splitlines())
                if r["split"] == "test" and r["candidate_id"] == read_artifact(written[0]).candidate.id}
    report = rescore(runtime_for(written[0], ScriptedModel(salt="another model")), task)
    assert report.mismatches, "a model that answers differently went unnoticed"
    for m in report.mismatches:
        assert m.recorded == recorded[m.example_id] and m.now != m.recorded
    assert report.compared == len(recorded) and not report.ok


def test_limit_rescores_a_seeded_subset_of_the_run_test_ids(tmp_path: Path) -> None:
    task, run, written = exported(tmp_path, "fixed-turns")
    test_ids = json.loads((run / "run.json").read_text())["test_ids"]
    first = rescore(runtime_for(written[0], ScriptedModel()), task, limit=7)
    again = verify.plan(read_artifact(written[0]), task, split="test", limit=7)
    assert first.n == 7 and first.mismatches == ()
    assert {e.id for e in again.examples} <= set(test_ids)
    assert [e.id for e in again.examples] == [e.id for e in verify.plan(read_artifact(written[0]), task, split="test",
                                                                        limit=7).examples]


def test_the_artifact_holds_what_production_needs(tmp_path: Path) -> None:
    task, run, written = exported(tmp_path, "retrieved-minilm-compact-code")
    info = json.loads((run / "run.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    data = json.loads(written[0].read_text())
    assert written[0] == run / "export" / "prompt.json"
    assert data["content_hash"] == content_hash(data)
    assert data["model"] == {"name": MODEL, "temperature": 0.0, "max_tokens": data["model"]["max_tokens"],
                             "seed": 0, "stop": ["\n"]}
    assert data["labels"] == list(task.labels)
    assert data["output"]["codes"] == {f"L{i + 1}": label for i, label in enumerate(task.labels)}
    demos = data["demos"]
    assert (demos["strategy"], demos["retriever"], demos["k"], demos["layout"]) == ("retrieved", "minilm", 2, "compact")
    assert [row["id"] for row in demos["pool"]] == [e.id for e in task.split("train")]
    assert (run / "export" / demos["embeddings"]["file"]).is_file()
    assert demos["embeddings"]["shape"] == [len(task.split("train")), 32]
    assert data["expected"]["accuracy"] == summary["best_test_accuracy"]
    assert [data["expected"]["ci_low"], data["expected"]["ci_high"]] == summary["best_test_ci"]
    assert data["expected"]["n"] == len(info["test_ids"])
    assert data["evaluation"]["splits"]["test"]["ids"] == info["test_ids"]
    assert data["versions"]["litellm"] == info["versions"]["litellm"]
    assert data["template"]["messages"][-1]["content"].endswith("{{input}}")


def test_stored_embeddings_make_the_pool_need_no_recomputation(tmp_path: Path) -> None:
    _, _, written = exported(tmp_path, "retrieved-minilm-compact-code")
    embedder = HashEmbedder()
    rt = load(written[0], completer=ScriptedModel(), embedder=embedder)
    rt.demos("note 1 about beta river stone")
    assert embedder.embedded == 1  # the query only; the pool came from the .npy file


def test_an_edited_embeddings_file_is_refused(tmp_path: Path) -> None:
    _, _, written = exported(tmp_path, "retrieved-minilm-compact-code")
    sidecar = written[1]
    blob = bytearray(sidecar.read_bytes())
    blob[-1] ^= 0xFF
    sidecar.write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="embeddings file"):
        load(written[0], completer=ScriptedModel(), embedder=HashEmbedder())


def test_an_edited_artifact_fails_its_hash_with_both_hashes_and_the_fix(tmp_path: Path) -> None:
    _, _, written = exported(tmp_path, "fixed-turns")
    data = json.loads(written[0].read_text())
    recorded = data["content_hash"]
    data["candidate"]["components"]["instruction"] += " Be brief."
    written[0].write_text(json.dumps(data))
    with pytest.raises(ArtifactError) as caught:
        load(written[0], completer=ScriptedModel())
    message = str(caught.value)
    assert recorded in message and content_hash(data) in message and "promptopt export" in message


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
        source.open_run(tmp_path / "nowhere")
    task_root = tmp_path / "t"
    _, run, _ = exported(task_root, "fixed-turns")
    (run / "summary.json").unlink()
    with pytest.raises(UsageError, match="unfinished") as caught:
        source.open_run(run)
    assert "promptopt resume" in str(caught.value)


# -- DSPy -----------------------------------------------------------------------------------------


def _import(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"exported_{abs(hash(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("case", ["stratified-compact-described-code", "retrieved-word-turns"])
def test_the_dspy_export_loads_in_dspy_and_runs_with_the_same_instruction_and_demos(tmp_path: Path, case: str) -> None:
    dspy = pytest.importorskip("dspy")
    from dspy.utils.dummies import DummyLM

    task, run, written = exported(tmp_path, case, fmt="dspy")
    assert written[0] == run / "export" / "dspy_program.py" and written[1] == run / "export" / "dspy_program.json"
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
    rt = runtime_for(written[1], ScriptedModel())
    demos = rt.demos(text)
    assert demos and all(d.text in joined for d in demos)
    assert sum(m["role"] == "assistant" for m in messages) == len(demos)
    assert text in messages[-1]["content"]


# -- the command line -----------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    proc = subprocess.run([sys.executable, "-m", "promptopt.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    proc.stderr = " ".join(proc.stderr.split())  # rich wraps long messages at the terminal width
    return proc


def test_cli_export_writes_the_default_artifact_and_refuses_to_overwrite(tmp_path: Path) -> None:
    write_task(tmp_path)
    task = load_fake(tmp_path)
    run = make_run(tmp_path / "run", task, CASES["fixed-turns"](task), ScriptedModel())
    first = _cli("export", str(run), "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    artifact = run / "export" / "prompt.json"
    assert read_artifact(artifact).candidate.demo_strategy == "fixed" and "promptopt verify" in first.stdout
    before = artifact.read_bytes()
    again = _cli("export", str(run), "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr
    assert artifact.read_bytes() == before
    forced = _cli("export", str(run), "--force", "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr


def test_cli_export_errors_say_what_and_how_to_fix(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    missing = _cli("export", str(tmp_path / "no_run"), "--data-dir", data, cwd=tmp_path)
    assert missing.returncode == 8 and "does not exist" in missing.stderr and "promptopt runs" in missing.stderr
    write_task(tmp_path)
    task = load_fake(tmp_path)
    unfinished = make_run(tmp_path / "unfinished", task, CASES["fixed-turns"](task), ScriptedModel())
    (unfinished / "summary.json").unlink()
    proc = _cli("export", str(unfinished), "--data-dir", data, cwd=tmp_path)
    assert proc.returncode == 2 and "unfinished" in proc.stderr and "promptopt resume" in proc.stderr
    old = make_run(tmp_path / "old", task, CASES["fixed-turns"](task), ScriptedModel())
    info = json.loads((old / "run.json").read_text())
    (old / "run.json").write_text(json.dumps({**info, "format_version": 0}))
    proc = _cli("export", str(old), "--data-dir", data, cwd=tmp_path)
    assert proc.returncode == 8 and "format version 0" in proc.stderr
    proc = _cli("export", str(old), "--format", "yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "yaml" in proc.stderr
    assert not (unfinished / "export").exists() and not (old / "export").exists()


def test_cli_verify_and_predict_refuse_an_edited_artifact_before_any_call(tmp_path: Path) -> None:
    _, _, written = exported(tmp_path, "fixed-turns")
    data = json.loads(written[0].read_text())
    data["labels"] = list(reversed(data["labels"]))
    written[0].write_text(json.dumps(data))
    proc = _cli("verify", str(written[0]), str(tmp_path / "tasks" / "fake.toml"), "--data-dir",
                str(tmp_path / "data"), cwd=tmp_path)
    assert proc.returncode == 8 and "content hash" in proc.stderr and data["content_hash"] in proc.stderr
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"text": "note 1 about beta"}\n')
    proc = _cli("predict", str(written[0]), "--input", str(inputs), cwd=tmp_path)
    assert proc.returncode == 8 and "re-export" in proc.stderr


@pytest.fixture
def fake_door(monkeypatch: pytest.MonkeyPatch) -> Callable[[ScriptedModel], None]:
    """Route the CLI's model calls to a fake (the runtime builds its door in model_door)."""
    def use(model: ScriptedModel) -> None:
        monkeypatch.setattr("promptopt.production.runtime.model_door", lambda *a, **k: (None, model))
    return use


def _invoke(*args: str) -> Any:
    from typer.testing import CliRunner

    from promptopt.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_verify_reports_the_score_next_to_the_recorded_one(tmp_path: Path, fake_door: Any) -> None:
    _, run, written = exported(tmp_path, "retrieved-char-labels-code")
    fake_door(ScriptedModel())
    report_file = tmp_path / "report.json"
    result = _invoke("verify", str(written[0]), str(tmp_path / "tasks" / "fake.toml"), "--data-dir",
                     str(tmp_path / "data"), "--json", str(report_file))
    assert result.exit_code == 0, result.output
    report = json.loads(report_file.read_text())
    summary = json.loads((run / "summary.json").read_text())
    assert report["ok"] and report["compared"] == summary["test_n"]
    assert report["accuracy"] == pytest.approx(summary["best_test_accuracy"])
    assert "all 30 predictions match" in result.output
    assert "/test: 30/30  acc" in result.output  # not a terminal: a progress line per 10%

    fake_door(ScriptedModel(salt="drift"))
    drifted = _invoke("verify", str(written[0]), str(tmp_path / "tasks" / "fake.toml"), "--data-dir",
                      str(tmp_path / "data"), "--limit", "10")
    assert drifted.exit_code == 1
    assert "predictions that differ" in drifted.output and "differ from the ones the run recorded" in drifted.output


def test_cli_predict_reads_jsonl_and_csv_and_writes_jsonl(tmp_path: Path, fake_door: Any) -> None:
    _, _, written = exported(tmp_path, "stratified-compact-described-code")
    fake_door(ScriptedModel())
    texts = ["note 7 about gamma river sand", "note 8 about zeta 00123"]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps({"id": f"q{i}", "body": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "out.jsonl"
    result = _invoke("predict", str(written[0]), "--input", str(jsonl), "--text-field", "body", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = [runtime_for(written[0], ScriptedModel()).classify(t) for t in texts]
    assert [(r["row"], r["id"]) for r in rows] == [(0, "q0"), (1, "q1")]
    assert [r["prediction"] for r in rows] == [p.label for p in expected]
    assert all(r["prediction"] in load_fake(tmp_path).labels or r["status"] == "invalid" for r in rows)

    csv_file = tmp_path / "in.csv"
    csv_file.write_text("text,other\n" + "\n".join(f'"{t}",x' for t in texts) + "\n")
    result = _invoke("predict", str(written[0]), "--input", str(csv_file))
    assert result.exit_code == 0, result.output
    printed = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["prediction"] for r in printed] == [p.label for p in expected] and "id" not in printed[0]

    again = _invoke("predict", str(written[0]), "--input", str(jsonl), "--out", str(out))
    assert again.exit_code == 2 and "--force" in again.output
    missing = _invoke("predict", str(written[0]), "--input", str(jsonl))
    assert missing.exit_code == 4 and "'text'" in missing.output and "body" in missing.output


# -- the real embedded model (marked `model`; part of `make test` and CI) -----------------------


@pytest.mark.model
def test_verify_round_trip_on_the_embedded_model(data_dir: Path, tmp_path: Path) -> None:
    """A five-example run on banking77 with the local model, exported and verified through the
    command line: the reproducible engine gives the same answers one for one."""
    from promptopt.llm.gateway import LiteLLMGateway
    from promptopt.task.load import load_task

    task = load_task("banking77", search_dirs=(REPO / "tasks",), data_dir=data_dir)
    candidate = Candidate(INSTRUCTION, demo_strategy="stratified",
                          demo_ids=stratified_demo_ids(task.split("train"), 4, random.Random(0)), demo_layout="compact")
    run = make_run(tmp_path / "run", task, candidate, LiteLLMGateway(), model_name="local/qwen2.5-0.5b-instruct",
                   dev_limit=2, test_limit=5)
    exported_proc = _cli("export", str(run), "--data-dir", str(data_dir.resolve()), cwd=tmp_path)
    assert exported_proc.returncode == 0, exported_proc.stderr
    proc = _cli("verify", str(run / "export" / "prompt.json"), "banking77", "--data-dir", str(data_dir.resolve()),
                cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all 5 predictions match" in proc.stdout
    dspy = pytest.importorskip("dspy")
    dspy_proc = _cli("export", str(run), "--format", "dspy", "--data-dir", str(data_dir.resolve()), cwd=tmp_path)
    assert dspy_proc.returncode == 0, dspy_proc.stderr
    module = _import(run / "export" / "dspy_program.py")
    program = module.build_program()
    assert len(program.predict.demos) == 4
    with dspy.context(lm=module.make_lm()):  # the real model, through DSPy's own adapter
        prediction = program(text=task.split("test")[0].text)
    assert prediction.label in task.labels
