"""The tiny runtime behind ``promptopt.load(path).predict(text)``: labels back from codes,
invalid answers and failed calls as data, a provider outage as an error, every integrity check
on load, and no optimizer code on its import path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import promptopt
from promptopt.errors import ProviderError, StoreError
from promptopt.llm.types import CallError
from promptopt.production.artifact import ArtifactError, sealed
from promptopt.production.runtime import PredictionError, load
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.render import render
from promptopt.testing import (
    FakeCompleter,
    HashEmbedder,
    build_finished_run,
    in_turn,
    load_tiny_task,
    write_tiny_task,
)
from tests.handoff.export_cases import embedder_for, export_run, hashed

REPO = Path(__file__).resolve().parents[2]
INSTRUCTION = "Classify the note by its topic. Reply with the code only."


def artifact(root: Path, candidate: Candidate) -> Path:
    write_tiny_task(root)
    task = load_tiny_task(root)
    embedder = embedder_for(candidate)
    run = build_finished_run(root / "run", task, candidate, hashed(), embedder=embedder)
    return export_run(run, task, embedder=embedder)[0]


RETRIEVED_CODE = Candidate(
    INSTRUCTION, demo_strategy="retrieved", k=3, retriever="char", demo_layout="compact", output_format="code"
)


def replies(*answers: str | None) -> FakeCompleter:
    """A completer that answers from a list (cycling), or fails the call (a rate limit) for None."""
    return FakeCompleter(
        in_turn(
            [CallError("RateLimitError: slow down", kind="transient") if a is None else a for a in answers]
        )
    )


def test_promptopt_load_predicts_labels_from_codes(tmp_path: Path) -> None:
    path = artifact(tmp_path, RETRIEVED_CODE)
    rt = promptopt.load(path, completer=replies("L2", "Label: l5.", "L9"))
    assert rt.predict("note 1 about beta river") == "beta"
    assert rt.predict("note 2 about epsilon sand") == "epsilon"
    with pytest.raises(PredictionError, match="'L9' names no label"):
        rt.predict("note 3 about zeta")
    assert rt.ledger.totals.calls == 3


def test_the_runtime_sends_what_the_evaluator_sent(tmp_path: Path) -> None:
    path = artifact(tmp_path, RETRIEVED_CODE)
    model = hashed()
    rt = load(path, completer=model)
    text = "note 41 about gamma glass wood"
    rt.predict_many([text])
    sent = model.seen[-1]
    assert sent.message_dicts() == render(rt.candidate, rt.labels, rt.demos(text), text)
    data = json.loads(path.read_text())["model"]
    assert (sent.model, sent.temperature, sent.max_tokens, list(sent.stop), sent.seed) == (
        data["name"],
        data["temperature"],
        data["max_tokens"],
        data["stop"],
        data["seed"],
    )


def test_predict_many_keeps_order_and_failures_as_data(tmp_path: Path) -> None:
    path = artifact(tmp_path, Candidate(INSTRUCTION, output_format="code"))
    rt = load(path, completer=replies("L1", "no idea", None, "L6"), concurrency=1)
    outcomes = rt.predict_many([f"note {i}" for i in range(4)])
    assert [(p.label, p.status) for p in outcomes] == [
        ("alpha", "ok"),
        (None, "invalid"),
        (None, "error"),
        ("zeta", "ok"),
    ]
    assert outcomes[2].error is not None and "RateLimitError" in outcomes[2].error


def test_a_provider_that_keeps_failing_stops_predict_many(tmp_path: Path) -> None:
    path = artifact(tmp_path, Candidate(INSTRUCTION))
    failing = replies(None)
    with pytest.raises(ProviderError, match="in a row failed"):
        load(path, completer=failing).predict_many([f"note {i}" for i in range(50)])
    assert failing.calls < 50


def test_predict_many_with_concurrency_matches_serial(tmp_path: Path) -> None:
    path = artifact(tmp_path, RETRIEVED_CODE)
    texts = [e.text for e in load_tiny_task(tmp_path).split("dev")]
    serial = load(path, completer=hashed(), concurrency=1).predict_many(texts)
    parallel = load(path, completer=hashed(), concurrency=4).predict_many(texts)
    assert [p.label for p in parallel] == [p.label for p in serial]


def test_loading_calls_no_model_and_embeds_nothing(tmp_path: Path) -> None:
    candidate = Candidate(
        INSTRUCTION, demo_strategy="retrieved", k=2, retriever="minilm", demo_layout="compact"
    )
    path = artifact(tmp_path, candidate)
    model, embedder = hashed(), HashEmbedder()
    load(path, completer=model, embedder=embedder)
    assert model.calls == 0 and embedder.embedded == 0


def _rewrite(path: Path, **changes: object) -> None:
    """Change fields and re-seal, so only the changed value is wrong."""
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(sealed(data)))


def test_an_unknown_artifact_version_is_refused_with_the_version_seen(tmp_path: Path) -> None:
    path = artifact(tmp_path, Candidate(INSTRUCTION))
    _rewrite(path, format_version=99)
    with pytest.raises(ArtifactError, match="format version 99") as caught:
        load(path, completer=hashed())
    assert "promptopt export" in str(caught.value)


def test_a_file_that_is_not_an_artifact_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "summary.json"
    other.write_text(json.dumps({"best_candidate_id": "abc"}))
    with pytest.raises(ArtifactError, match="not a promptopt prompt artifact"):
        load(other)
    with pytest.raises(StoreError, match="does not exist"):
        load(tmp_path / "missing.json")


def test_parameters_this_promptopt_would_not_send_are_refused(tmp_path: Path) -> None:
    path = artifact(tmp_path, Candidate(INSTRUCTION))
    model = json.loads(path.read_text())["model"]
    _rewrite(path, model={**model, "stop": ["\n\n"]})
    with pytest.raises(ArtifactError, match="would send"):
        load(path, completer=hashed())


def test_importing_promptopt_does_not_import_the_runtime() -> None:
    script = "import sys, promptopt; print('promptopt.production.runtime' in sys.modules, callable(promptopt.load))"
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True"]


def test_the_runtime_path_loads_no_optimizer_code(tmp_path: Path) -> None:
    path = artifact(tmp_path, RETRIEVED_CODE)
    script = (
        "import sys, promptopt\n"
        "from promptopt.llm.types import CompletionResponse\n"
        "class Fake:\n"
        "    def fingerprint(self, model): return ''\n"
        "    def complete(self, request): return CompletionResponse('L3', 1, 1, 0.0, 0.0)\n"
        f"rt = promptopt.load({str(path)!r}, completer=Fake())\n"
        "print(rt.predict('note 5 about gamma river'))\n"
        "bad = ('promptopt.search.loop', 'promptopt.search', 'promptopt.search.mutate', 'promptopt.compose', 'optuna', 'dspy')\n"
        "print([m for m in bad if m in sys.modules])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["gamma", "[]"]
