"""promptopt's contenders: the zero-shot and plain retrieval baselines (no search), ``optimize``
with its defaults on the shared dev slice, and the trained probe. The completion cache is off:
every call is real."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anchors.common import Result, Usage, scored
from promptopt import compose
from promptopt.handoff.finetune.probe import run_probe
from promptopt.llm.budget import Budget
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.render import seed_instruction
from promptopt.run.events import Evaluated, Event, Stop
from promptopt.run.store import RunStore
from promptopt.search.space import SearchSpace
from promptopt.settings import Paths
from promptopt.task.spec import Example, Task


@dataclass(frozen=True)
class Bench:
    """What every contender shares: the task, the model, the slices and where to keep runs."""

    task: Task
    paths: Paths
    model: str
    seed: int
    dev: tuple[Example, ...]
    test: tuple[Example, ...]
    train: tuple[Example, ...]  # the sample DSPy's optimizers draw demos from
    work: Path
    dev_limit: int
    test_limit: int


def _unoptimized(bench: Bench, name: str, candidate: Candidate) -> Result:
    run = compose.open_eval(
        bench.task,
        bench.paths,
        model=bench.model,
        seed=bench.seed,
        temperature=0.0,
        concurrency=1,
        env=os.environ,
    )
    started = time.perf_counter()
    result = run.evaluator.evaluate(candidate, list(bench.test))
    seconds = time.perf_counter() - started
    t = run.ledger.totals
    records = result.records
    return scored(
        name,
        [r.gold for r in records],
        [r.prediction or "" for r in records],
        seed=bench.seed,
        test=Usage(t.calls, t.prompt_tokens, t.completion_tokens, seconds, t.usd),
        final_prompt_tokens_per_call=t.prompt_tokens / max(t.calls, 1),
        settings={"candidate": candidate.components(), "candidate_id": candidate.id},
    )


def zero_shot(bench: Bench) -> Result:
    """promptopt's renderer, the task's default instruction, the label names, no demos."""
    return _unoptimized(bench, "zero-shot", Candidate(instruction=seed_instruction(bench.task)))


def retrieval_baseline(bench: Bench) -> Result:
    """10 demos retrieved per input by word TF-IDF, as chat turns, the default instruction."""
    candidate = Candidate(instruction=seed_instruction(bench.task), demo_strategy="retrieved", k=10)
    return _unoptimized(bench, "retrieval-10", candidate)


def probe(bench: Bench) -> Result:
    """TF-IDF + logistic regression trained on the whole train split (no model calls)."""
    result = run_probe(bench.task.split("train"), list(bench.test), seed=bench.seed)
    if result is None:
        return Result(contender="probe", status="failed", reason="fewer than two labels in train")
    s = result.scores
    return Result(
        contender="probe",
        status="ok",
        accuracy=s.accuracy,
        ci=(s.ci_low, s.ci_high),
        n_test=s.n,
        optimization=Usage(seconds=result.seconds),
        stopped_by_itself=True,
        stop_reason="trained",
        settings={"method": result.method, "n_train": result.n_train},
    )


def optimize(bench: Bench, *, time_limit: float | None) -> Result:
    """``promptopt optimize`` with its default search space and stoppers on the shared dev
    slice (``time_limit`` is its only budget); it scores its best prompt on the shared test
    slice itself."""
    settings = compose.OptimizeSettings(
        task=bench.task.name,
        model=bench.model,
        seed=bench.seed,
        dev_limit=bench.dev_limit,
        test_limit=bench.test_limit,
        budget=Budget(seconds=time_limit),
        space=compose.available_retrievers(SearchSpace()),
    )
    dev, test = compose.optimize_slices(bench.task, settings)
    if [e.id for e in test] != [e.id for e in bench.test] or {e.id for e in dev} != {e.id for e in bench.dev}:
        raise RuntimeError("promptopt's slices differ from the benchmark's: the comparison would be unfair")
    path = bench.work / "promptopt-run"
    store = _open_store(path, bench.task, settings, dev, test)
    started = time.perf_counter()
    run = compose.open_optimize(
        bench.task, settings, bench.paths, store, env=os.environ, observers=[_progress]
    )
    summary = run.optimizer.run().to_json()
    return _optimize_result(store, summary, time.perf_counter() - started, time_limit)


def _progress(event: Event) -> None:
    if isinstance(event, Evaluated):
        print(
            f"  promptopt [{event.elapsed_s:5.0f} s] {event.candidate} {event.operator}: dev "
            f"{event.accuracy:.1%} on {event.n}",
            flush=True,
        )
    elif isinstance(event, Stop):
        print(f"  promptopt stopped: {event.reason}; scoring on test…", flush=True)


def _open_store(
    path: Path, task: Task, settings: Any, dev: Sequence[Example], test: Sequence[Example]
) -> RunStore:
    """A new run folder, or the unfinished one an interrupted benchmark left (it resumes)."""
    if (path / "run.json").is_file():
        return RunStore.open(path)
    return RunStore.create(
        path, {"run_id": path.name, **compose.new_run_info(task, settings, tuple(dev), tuple(test))}
    )


def _optimize_result(
    store: RunStore, summary: dict[str, Any], seconds: float, time_limit: float | None
) -> Result:
    best = summary["best_candidate_id"]
    rows = [r for r in store.read("evaluations") if r["split"] == "test"]
    best_rows = [r for r in rows if r["candidate_id"] == best]
    test_prompt = sum(r["prompt_tokens"] for r in rows)
    test_completion = sum(r["completion_tokens"] for r in rows)
    test_seconds = sum(r.get("wall_s", 0.0) for r in rows)
    usd = summary.get("usd")
    accuracy, ci = summary["best_test_accuracy"], summary["best_test_ci"]
    return Result(
        contender="promptopt",
        status="ok",
        accuracy=accuracy,
        ci=tuple(ci) if ci else None,
        n_test=len(best_rows),
        optimization=Usage(
            summary["calls"] - len(rows),
            summary["prompt_tokens"] - test_prompt,
            summary["completion_tokens"] - test_completion,
            seconds - test_seconds,
            usd,
        ),
        test=Usage(len(rows), test_prompt, test_completion, test_seconds, None),
        final_prompt_tokens_per_call=sum(r["prompt_tokens"] for r in best_rows) / max(len(best_rows), 1),
        stopped_by_itself=summary["stop_reason"] in ("plateau", "search-exhausted"),
        stop_reason=summary["stop_reason"],
        settings={
            "time_limit_s": time_limit,
            "run_folder": str(store.path),
            "best_candidate": summary["best_candidate"],
            "trials": summary["trials"],
            "evaluations": summary["evaluations"],
            "note": "test usage counts the run's own test scoring of the zero-shot and best prompts",
        },
    )
