"""promptopt's contenders: the zero-shot and plain retrieval baselines (no search), ``optimize``
with its defaults on the shared dev slice, and the trained probe. The completion cache is off:
every call is real. Every one of them reads the bench's task, whose train split is the shared
train pool."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from anchors.common import Answer, Bench, Result, Usage, answer, scored, trained_on
from promptopt import compose
from promptopt.evaluate.evaluator import EvalSettings, Evaluator
from promptopt.handoff.finetune.probe import METHOD as PROBE_METHOD
from promptopt.llm.budget import Budget
from promptopt.llm.ledger import Ledger
from promptopt.llm.metered import MeteredCompleter
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.prompt.render import seed_instruction
from promptopt.prompt.retrieve import EmbeddingRetriever
from promptopt.run.events import Evaluated, Event, Stop
from promptopt.run.store import RunStore
from promptopt.search.space import SearchSpace
from promptopt.task.spec import Example


def answers_of(
    examples: Sequence[Example], rows: Mapping[str, Mapping[str, Any]], labels: Sequence[str]
) -> list[Answer]:
    """promptopt's records under the counting rule: ``error`` (the call failed) is failed,
    ``invalid`` (no label parsed) unparseable; an example with no record at all is failed."""
    out = []
    for example in examples:
        row = rows.get(example.id)
        if row is None or row["status"] == "error":
            out.append(answer(example, None, labels, failed=True))
        else:
            out.append(answer(example, row["prediction"], labels))
    return out


def _demo_source(bench: Bench) -> DemoSource:
    """The demos promptopt draws from: the pool, with MiniLM when installed (or the bench's
    embedder, a test double)."""
    if bench.embedder is None:
        return compose.demo_source(bench.task, bench.paths)
    return DemoSource(bench.train, retrievers={"minilm": EmbeddingRetriever(bench.train, bench.embedder)})


def _evaluator(bench: Bench) -> tuple[Evaluator, Ledger]:
    """An evaluator for the bench's model (checked first), or over the bench's fake completer."""
    if bench.completer is None:
        run = compose.open_eval(
            bench.task,
            bench.paths,
            model=bench.model,
            seed=bench.seed,
            temperature=0.0,
            concurrency=1,
            env=os.environ,
        )
        return run.evaluator, run.ledger
    ledger = Ledger()
    settings = EvalSettings(model=bench.model, temperature=0.0, concurrency=1, seed=bench.seed)
    evaluator = Evaluator(
        completer=MeteredCompleter(bench.completer, ledger),
        labels=bench.task.labels,
        demo_source=_demo_source(bench),
        settings=settings,
    )
    return evaluator, ledger


def _unoptimized(bench: Bench, name: str, candidate: Candidate) -> Result:
    evaluator, ledger = _evaluator(bench)
    started = time.perf_counter()
    result = evaluator.evaluate(candidate, list(bench.test))
    seconds = time.perf_counter() - started
    t = ledger.totals
    rows = {r.example_id: {"status": r.status, "prediction": r.prediction} for r in result.records}
    pool = evaluator.demo_source.train if candidate.demo_strategy != "none" else ()
    return scored(
        name,
        answers_of(bench.test, rows, bench.task.labels),
        seed=bench.seed,
        test=Usage(t.calls, t.prompt_tokens, t.completion_tokens, seconds, t.usd),
        final_prompt_tokens_per_call=t.prompt_tokens / max(t.calls, 1),
        settings={"candidate": candidate.components(), "candidate_id": candidate.id},
        **trained_on(pool),
    )


def zero_shot(bench: Bench) -> Result:
    """promptopt's renderer, the task's default instruction, the label names, no demos."""
    return _unoptimized(bench, "zero-shot", Candidate(instruction=seed_instruction(bench.task)))


def retrieval_baseline(bench: Bench) -> Result:
    """10 demos retrieved per input by word TF-IDF from the pool, as chat turns, the default
    instruction."""
    candidate = Candidate(instruction=seed_instruction(bench.task), demo_strategy="retrieved", k=10)
    return _unoptimized(bench, "retrieval-10", candidate)


def probe_predictions(train: Sequence[Example], test: Sequence[Example]) -> list[str]:
    """The predictions of promptopt's fine-tune probe (``promptopt.handoff.finetune.probe``),
    which reports only scores: the same pipeline, fitted on ``train``, one label per test
    input (a test checks that the two agree)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    )
    model = make_pipeline(features, LogisticRegression(C=10.0, max_iter=2000))
    model.fit([e.text for e in train], [e.label for e in train])
    return [str(p) for p in model.predict([e.text for e in test])]


def probe(bench: Bench) -> Result:
    """TF-IDF + logistic regression trained on the pool (no model calls)."""
    if len({e.label for e in bench.train}) < 2:
        return Result(contender="probe", status="failed", reason="fewer than two labels in the train pool")
    started = time.perf_counter()
    predicted = probe_predictions(bench.train, bench.test)
    seconds = time.perf_counter() - started
    return scored(
        "probe",
        [answer(e, p, bench.task.labels) for e, p in zip(bench.test, predicted, strict=True)],
        seed=bench.seed,
        optimization=Usage(seconds=seconds),
        stopped_by_itself=True,
        stop_reason="trained",
        settings={"method": PROBE_METHOD, "n_train": len(bench.train)},
        **trained_on(bench.train),
    )


def optimize(bench: Bench, *, time_limit: float | None) -> Result:
    """``promptopt optimize`` with its default search space and stoppers on the shared dev
    slice (``time_limit`` is its only budget) and the bench's task, whose train split is the
    pool; it scores its best prompt on the shared test slice itself."""
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
    store = _open_store(path, bench, settings, dev, test)
    started = time.perf_counter()
    run = _optimize_run(bench, settings, store)
    summary = run.optimizer.run().to_json()
    result = _optimize_result(bench, store, summary, time.perf_counter() - started, time_limit)
    return _with_pool(result, run.optimizer.evaluator.demo_source.train, run.optimizer.data.train)


def _optimize_run(bench: Bench, settings: compose.OptimizeSettings, store: RunStore) -> compose.OptimizeRun:
    if bench.completer is None:
        return compose.open_optimize(
            bench.task, settings, bench.paths, store, env=os.environ, observers=[_progress]
        )
    ledger = compose.restored_ledger(store)
    return compose.assemble_optimize(
        bench.task,
        settings,
        store,
        metered=MeteredCompleter(bench.completer, ledger),
        ledger=ledger,
        observers=[_progress],
        demos=_demo_source(bench),
    )


def _with_pool(result: Result, demos: Sequence[Example], search: Sequence[Example]) -> Result:
    """The pool the run drew from, checked: its demos and its search's train data are one."""
    if [e.id for e in demos] != [e.id for e in search]:
        raise RuntimeError("promptopt's demo pool and its search's train data differ")
    return replace(result, **trained_on(demos))


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
    path: Path, bench: Bench, settings: Any, dev: Sequence[Example], test: Sequence[Example]
) -> RunStore:
    """A new run folder, or the unfinished one an interrupted benchmark left (it resumes).
    run.json also records the benchmark's train pool (promptopt's settings have no such field)."""
    if (path / "run.json").is_file():
        return RunStore.open(path)
    info = compose.new_run_info(bench.task, settings, tuple(dev), tuple(test))
    return RunStore.create(path, {"run_id": path.name, **info, "benchmark_train_pool": bench.pool()})


def _optimize_result(
    bench: Bench, store: RunStore, summary: dict[str, Any], seconds: float, time_limit: float | None
) -> Result:
    """The run's figures, its test accuracy recounted from its own test records under the
    counting rule (promptopt's summary leaves failed calls out of the score)."""
    best = summary["best_candidate_id"]
    rows = [r for r in store.read("evaluations") if r["split"] == "test"]
    best_rows = {r["example_id"]: r for r in rows if r["candidate_id"] == best}
    test_prompt = sum(r["prompt_tokens"] for r in rows)
    test_completion = sum(r["completion_tokens"] for r in rows)
    test_seconds = sum(r.get("wall_s", 0.0) for r in rows)
    return scored(
        "promptopt",
        answers_of(bench.test, best_rows, bench.task.labels),
        seed=bench.seed,
        optimization=Usage(
            summary["calls"] - len(rows),
            summary["prompt_tokens"] - test_prompt,
            summary["completion_tokens"] - test_completion,
            seconds - test_seconds,
            summary.get("usd"),
        ),
        test=Usage(len(rows), test_prompt, test_completion, test_seconds, None),
        final_prompt_tokens_per_call=sum(r["prompt_tokens"] for r in best_rows.values())
        / max(len(best_rows), 1),
        stopped_by_itself=summary["stop_reason"] in ("plateau", "search-exhausted"),
        stop_reason=summary["stop_reason"],
        settings={
            "time_limit_s": time_limit,
            "run_folder": str(store.path),
            "best_candidate": summary["best_candidate"],
            "trials": summary["trials"],
            "evaluations": summary["evaluations"],
            "reported_test_accuracy": summary["best_test_accuracy"],
            "note": "test usage counts the run's own test scoring of the zero-shot and best prompts; "
            "the accuracy is recounted from its test records (failed calls count as wrong)",
        },
    )
