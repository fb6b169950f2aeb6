"""Putting the plateau report together from a finished run, and writing its folder.

Everything is computed (and the plots drawn) before anything is written, and a folder that
already holds a report is refused without ``force``, so a failure never leaves a half-written
report over a previous one. ``ablations.jsonl`` (the ablation records) is not part of that
check: it is appended to, so an interrupted report resumes its ablations.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptopt.errors import StoreError, UsageError
from promptopt.evaluate.evaluator import ExampleRecord
from promptopt.evaluate.plateau import PlateauEvidence, empty_evidence
from promptopt.evaluate.scoring import Outcome, confusion_pairs, per_class_recall
from promptopt.handoff.format import clean_json
from promptopt.handoff.report import plots, sections
from promptopt.handoff.report.ablation import Attribution
from promptopt.handoff.report.candidates import CandidatePoint, candidate_points, pareto_front
from promptopt.handoff.report.doc import Block, Heading, Para, to_html, to_markdown
from promptopt.handoff.report.trajectory import Trajectory, trajectory
from promptopt.handoff.report.unfixed import (
    StrongSet,
    Unfixed,
    scored_on_test,
    strong_candidates,
    unfixed_errors,
)
from promptopt.run.events import Evaluated
from promptopt.run.reader import FinishedRun
from promptopt.task.spec import Task

OUT_SUBDIR = "report"
ABLATION_LOG = "ablations.jsonl"
TOP_CONFUSIONS = 15
IMAGES = ("progress_calls.png", "progress_spend.png", "candidates.png", "per_class.png", "confusions.png")
TEXT_FILES = ("report.md", "report.html", "report.json")


@dataclass(frozen=True)
class Report:
    title: str
    blocks: tuple[Block, ...]
    images: Mapping[str, bytes]
    data: Mapping[str, Any]

    def files(self) -> dict[str, bytes]:
        """Every file of the report folder, by name."""
        return {
            "report.md": to_markdown(self.blocks).encode("utf-8"),
            "report.html": to_html(self.blocks, self.images, title=self.title).encode("utf-8"),
            "report.json": (json.dumps(clean_json(self.data), indent=2, ensure_ascii=False) + "\n").encode(
                "utf-8"
            ),
            **self.images,
        }


@dataclass(frozen=True)
class Analysis:
    """The numbers behind the report, computed from the run folder alone."""

    traj: Trajectory
    points: tuple[CandidatePoint, ...]
    front: tuple[CandidatePoint, ...]
    strong: StrongSet
    unfixed_dev: Unfixed
    unfixed_test: Unfixed
    recall: dict[str, float]
    counts: dict[str, int]
    baseline_recall: dict[str, float]
    confusions: tuple[tuple[str, str, int], ...]


def analyse(run: FinishedRun) -> Analysis:
    history, s = run.history, run.summary
    points = tuple(candidate_points(history.of(Evaluated), history))
    strong = strong_candidates(points, mde=None if s.plateau is None else s.plateau.mde)
    on_test = scored_on_test(history, strong.candidate_ids, run.scored_test_ids) or (run.best.id,)
    best = _outcomes(run.best_test_rows)
    return Analysis(
        traj=trajectory(history.events),
        points=points,
        front=tuple(pareto_front(points)),
        strong=strong,
        unfixed_dev=unfixed_errors(history, "dev", strong.candidate_ids, run.info.dev_ids),
        unfixed_test=unfixed_errors(history, "test", on_test, run.scored_test_ids),
        recall=per_class_recall(best),
        counts=dict(Counter(o.gold for o in best)),
        baseline_recall=per_class_recall(_outcomes(run.baseline_test_rows)),
        confusions=tuple(confusion_pairs(best, top=TOP_CONFUSIONS)),
    )


def example_texts(task: Task) -> dict[str, str]:
    """Texts of the task's dev and test examples, by id (the error lists quote them)."""
    return {e.id: e.text for e in task.split("test")} | {e.id: e.text for e in task.split("dev")}


def _outcomes(rows: Sequence[ExampleRecord]) -> list[Outcome]:
    return [Outcome(r.gold, r.prediction) for r in rows if r.status != "error"]


def draw(run: FinishedRun, a: Analysis) -> dict[str, bytes]:
    """Every PNG of the report, by file name."""
    plateau = run.summary.plateau or empty_evidence("no evidence recorded")
    note = ("Plateau declared: " if plateau.plateau else "No plateau declared: ") + (
        plateau.reason or "no evidence recorded"
    )
    overall = float(run.summary.best_test_accuracy or 0.0)
    return {
        "progress_calls.png": plots.progress_png(a.traj, "calls", plateau_note=note),
        "progress_spend.png": plots.progress_png(
            a.traj, a.traj.spend_axis(), plateau_note=note, window=_window(plateau)
        ),
        "candidates.png": plots.candidates_png(a.points, a.front, run.best.id),
        "per_class.png": plots.per_class_png(a.recall, a.counts, overall, a.baseline_recall or None),
        "confusions.png": plots.confusions_png(a.confusions),
    }


def _window(plateau: PlateauEvidence) -> tuple[float, float] | None:
    start, end = plateau.window_start, plateau.window_end
    return (start, end) if math.isfinite(start) and math.isfinite(end) else None


def build_report(
    run: FinishedRun,
    attribution: Attribution | None,
    *,
    ablation_note: str = "",
    texts: Mapping[str, str] | None = None,
) -> Report:
    """The whole report of ``run``; ``attribution`` is None when the ablations were skipped
    (``ablation_note`` says why); ``texts`` (example id -> text) adds texts to the error lists."""
    a = analyse(run)
    s, task = run.summary, run.info.task
    title = f"Plateau report: {task}, run {run.run_id}"
    blocks: list[Block] = [
        Heading(1, title),
        Para(
            f"Model `{run.info.model}`; best prompt `{run.best.id}` ({sections.describe(run.best)}), found by "
            f"`{run.best.operator}`. Made with `promptopt report` from the run folder alone"
            + ("" if attribution is None else " plus the ablations' model calls")
            + "."
        ),
        *sections.verdict(s, run.info.model, attribution),
        *sections.progress(a.traj, s, "progress_spend.png"),
        *sections.candidates(a.points, a.front, run.best.id, a.strong, run.history.candidates),
        *sections.attribution(attribution, ablation_note, len(run.scored_test_ids)),
        *sections.per_class(a.recall, len(run.best_test_rows)),
        *sections.confusions(a.confusions),
        *sections.unfixed(a.strong, a.unfixed_dev, a.unfixed_test, texts),
        Heading(2, "Files"),
        Para(
            "`report.md` (this text), `report.html` (the same, with the plots embedded: it needs no other file), "
            "`report.json` (every number), the PNG plots"
            + ("" if attribution is None else f", and `{ABLATION_LOG}` (every ablation answer)")
            + "."
        ),
    ]
    return Report(
        title=title, blocks=tuple(blocks), images=draw(run, a), data=report_data(run, a, attribution)
    )


def report_data(run: FinishedRun, a: Analysis, attribution: Attribution | None) -> dict[str, Any]:
    s, summary = run.summary, run.summary.to_json()  # the JSON file copies summary.json's values
    return {
        "format": "promptopt-report",
        "version": 1,
        "run_id": run.run_id,
        "task": run.info.task,
        "model": run.info.model,
        "best_candidate_id": run.best.id,
        "ceiling_found": s.ceiling_reached,
        "search_stalled": s.plateau_reached,
        "stop_reason": s.stop_reason,
        "plateau": summary["plateau"],
        "cost": {
            k: summary[k]
            for k in (
                "calls",
                "calls_by_role",
                "prompt_tokens",
                "completion_tokens",
                "usd",
                "unpriced_calls",
                "seconds",
            )
        },
        "test": {
            k: summary[k]
            for k in (
                "best_test_accuracy",
                "best_test_ci",
                "baseline_test_accuracy",
                "baseline_test_ci",
                "test_n",
            )
        },
        "trajectory": [vars(step) for step in a.traj.steps],
        "plateau_step": a.traj.plateau_index,
        "candidates": [vars(p) for p in a.points],
        "pareto": [p.candidate_id for p in a.front],
        "strong": {
            "candidate_ids": list(a.strong.candidate_ids),
            "tolerance": a.strong.tolerance,
            "best_dev_accuracy": a.strong.best_accuracy,
            "mde": a.strong.mde,
        },
        "unfixed": {
            u.split: {
                "candidate_ids": list(u.candidate_ids),
                "answered": u.n_answered,
                "by_class": dict(u.by_class()),
                "same_wrong_label": [
                    {"gold": g, "answer": ans, "count": n} for g, ans, n in u.same_answer_pairs()
                ],
                "examples": [
                    {"example_id": e.example_id, "gold": e.gold, "predictions": list(e.predictions)}
                    for e in u.examples
                ],
            }
            for u in (a.unfixed_dev, a.unfixed_test)
        },
        "per_class_recall": a.recall,
        "per_class_n": a.counts,
        "baseline_per_class_recall": a.baseline_recall,
        "confusions": [list(c) for c in a.confusions],
        "ablations": None if attribution is None else _attribution_json(attribution),
    }


def _attribution_json(result: Attribution) -> dict[str, Any]:
    return {
        "setting": vars(result.setting),
        "example_ids": list(result.example_ids),
        "results": [
            {
                "name": r.ablation.name,
                "title": r.ablation.title,
                "group": r.ablation.group,
                "candidate": r.ablation.candidate.to_json(),
                "invalid": r.invalid,
                "errors": r.errors,
                **vars(r.paired),
                "verdict": r.paired.verdict,
            }
            for r in result.results
        ],
    }


# -- the folder -------------------------------------------------------------------------------


def check_out_dir(out: Path, *, force: bool) -> None:
    """Refuse a file as ``out``, and a folder that already holds report files, unless ``force``."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder", hint="choose a folder for the report")
    present = [name for name in (*TEXT_FILES, *IMAGES) if (out / name).exists()]
    if present and not force:
        raise UsageError(
            f"report folder {out} already holds a report ({', '.join(present[:3])}"
            f"{', …' if len(present) > 3 else ''}); nothing was written",
            hint="pass --force to overwrite it (logged ablation answers are reused), or choose another --out",
        )


def write_report(report: Report, out: Path, *, force: bool) -> list[Path]:
    """Write every file of ``report`` under ``out`` (each atomically); returns their paths."""
    check_out_dir(out, force=force)
    written = []
    for name, content in report.files().items():
        write_bytes(out / name, content)
        written.append(out / name)
    return written


def write_bytes(path: Path, content: bytes) -> None:
    """Write beside the target and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(content)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {path}: {exc}", hint="check free space and permissions") from exc
