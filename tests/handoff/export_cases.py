"""The winners the export tests export, one per demo strategy and layout, and the export
as a library call: a task on disk, a finished run whose winner is the case, its artifact."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from promptopt.handoff.export import build, verify
from promptopt.production.artifact import read_artifact
from promptopt.production.runtime import Runtime, load
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import stratified_demo_ids
from promptopt.prompt.describe import keyword_descriptions
from promptopt.run.reader import check_same_data, open_finished
from promptopt.task.spec import Task
from promptopt.testing import (
    FakeCompleter,
    HashEmbedder,
    build_finished_run,
    hashed_answers,
    load_tiny_task,
    write_tiny_task,
)

INSTRUCTION = "Classify the note by its topic. Reply with the label only, written exactly as listed."


def _ids(task: Task, n: int) -> tuple[str, ...]:
    return tuple(e.id for e in task.split("train")[:n])


CASES: dict[str, Callable[[Task], Candidate]] = {
    "zero-shot-code": lambda t: Candidate(INSTRUCTION, output_format="code"),
    "fixed-turns": lambda t: Candidate(INSTRUCTION, demo_strategy="fixed", demo_ids=_ids(t, 4)),
    "stratified-compact-described-code": lambda t: Candidate(
        INSTRUCTION,
        label_style="described",
        label_descriptions=keyword_descriptions(t.split("train"), t.labels),
        demo_strategy="stratified",
        demo_ids=stratified_demo_ids(t.split("train"), 6, random.Random(3)),
        demo_layout="compact",
        output_format="code",
    ),
    "retrieved-word-turns": lambda t: Candidate(INSTRUCTION, demo_strategy="retrieved", k=3),
    "retrieved-char-labels-code": lambda t: Candidate(
        INSTRUCTION,
        demo_strategy="retrieved",
        k=4,
        retriever="char",
        demo_layout="labels",
        output_format="code",
    ),
    "retrieved-cut-per-label-narrowed": lambda t: Candidate(
        INSTRUCTION,
        label_style="described",
        label_descriptions=keyword_descriptions(t.split("train"), t.labels),
        demo_strategy="retrieved",
        k=3,
        demo_layout="compact",
        input_tokens=4,
        input_cut="ends",
        demo_tokens=3,
        demo_pick="per_label",
        label_scope="neighbours",
    ),
    "fixed-turns-cut": lambda t: Candidate(
        INSTRUCTION, demo_strategy="fixed", demo_ids=_ids(t, 4), input_tokens=3, demo_tokens=2
    ),
    "retrieved-minilm-compact-code": lambda t: Candidate(
        INSTRUCTION,
        demo_strategy="retrieved",
        k=2,
        retriever="minilm",
        demo_layout="compact",
        output_format="code",
    ),
}


def hashed(salt: str = "") -> FakeCompleter:
    """The model whose answer depends on the whole request (``salt``: another model)."""
    return FakeCompleter(hashed_answers(salt=salt), completion_tokens=1)


def embedder_for(candidate: Candidate) -> HashEmbedder | None:
    return HashEmbedder() if candidate.retriever == "minilm" else None


def export_run(
    run: Path,
    task: Task,
    *,
    fmt: str = "json",
    out: Path | None = None,
    force: bool = False,
    embedder: HashEmbedder | None = None,
) -> list[Path]:
    """``promptopt export`` as a library call: the written files, the artifact first (the
    program first for ``dspy``)."""
    found = open_finished(run)
    check_same_data(task, found.info.data_hashes, run_name=found.run_id)
    needs = build.needs_embeddings(found.best)
    built = build.build(
        found, task, embedder=embedder or (HashEmbedder() if needs else None), embed_pool=fmt != "messages"
    )
    return build.write(built, build.ExportPlan.of(run, fmt, out), force=force)


def exported(root: Path, case: str, *, fmt: str = "json") -> tuple[Task, Path, list[Path]]:
    """A task on disk, a finished run whose winner is CASES[case], and its export."""
    write_tiny_task(root)
    task = load_tiny_task(root)
    candidate = CASES[case](task)
    run = build_finished_run(root / "run", task, candidate, hashed(), embedder=embedder_for(candidate))
    return task, run, export_run(run, task, fmt=fmt)


def runtime_for(path: Path, model: FakeCompleter) -> Runtime:
    candidate = read_artifact(path).candidate
    return load(path, completer=model, embedder=embedder_for(candidate))


def rescore(rt: Runtime, task: Task, *, limit: int | None = None) -> verify.VerifyReport:
    plan = verify.plan(rt.artifact, task, split="test", limit=limit)
    return verify.compare(plan, rt.evaluate(plan.examples), rt.artifact)
