"""Composition helpers for the entry layer: build the concrete objects a command needs (task,
completer stack, evaluator) from resolved settings, and shape results for output. Only the CLI
and scripts (benchmarks) call this; library layers never do."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptopt.candidate import Candidate
from promptopt.config import Paths
from promptopt.cost import Ledger
from promptopt.demos import DemoSource, random_demo_ids, stratified_demo_ids
from promptopt.evaluate import EvalResult, EvalSettings, Evaluator
from promptopt.llm import local
from promptopt.llm.cache import CachingCompleter, DiskCache
from promptopt.llm.gateway import LiteLLMGateway
from promptopt.llm.metered import MeteredCompleter
from promptopt.llm.types import Completer
from promptopt.prompt import default_instruction
from promptopt.store import atomic_write
from promptopt.task import Example, Task, sample
from promptopt.task_io import load_task


def load(name_or_path: str, paths: Paths) -> Task:
    return load_task(name_or_path, search_dirs=paths.task_dirs, data_dir=paths.data_dir)


def slice_of(task: Task, split: str, limit: int | None, *, seed: int,
             stratified: bool = False) -> tuple[Example, ...]:
    return sample(task.split(split), limit, seed=seed, stratified=stratified)


def baseline_candidate(task: Task, *, k: int, strategy: str, instruction: str | None,
                       rng: random.Random) -> Candidate:
    """The unoptimized prompt: the task's (or a generic) instruction, label names, and ``k``
    demos chosen by ``strategy``."""
    text = instruction or task.spec.instruction or default_instruction(task.spec.description)
    train = task.split("train")
    if k == 0:
        return Candidate(instruction=text)
    if strategy == "retrieved":
        return Candidate(instruction=text, demo_strategy="retrieved", k=k)
    pick = stratified_demo_ids if strategy == "stratified" else random_demo_ids
    return Candidate(instruction=text, demo_strategy="fixed" if strategy == "random" else "stratified",
                     demo_ids=pick(train, k, rng))


@dataclass
class EvalRun:
    evaluator: Evaluator
    ledger: Ledger
    completer: Completer


def build_completer(paths: Paths, ledger: Ledger) -> tuple[LiteLLMGateway, Completer]:
    """gateway -> cache (optional) -> ledger: every call is metered, hits included."""
    gateway = LiteLLMGateway(models_dir=paths.models_dir)
    inner: Completer = gateway
    if paths.cache_file is not None:
        inner = CachingCompleter(gateway, DiskCache(paths.cache_file))
    return gateway, MeteredCompleter(inner, ledger)


def open_eval(task: Task, paths: Paths, *, model: str, seed: int, temperature: float,
              concurrency: int | None, env: Mapping[str, str]) -> EvalRun:
    """Check the model (before any work) and build an evaluator for it."""
    ledger = Ledger()
    gateway, completer = build_completer(paths, ledger)
    gateway.check(model, env)
    workers = concurrency or (1 if local.is_local(model) else 8)
    settings = EvalSettings(model=model, temperature=temperature, concurrency=workers, seed=seed)
    evaluator = Evaluator(completer=completer, labels=task.labels,
                          demo_source=DemoSource(task.split("train")), settings=settings)
    return EvalRun(evaluator=evaluator, ledger=ledger, completer=completer)


def eval_summary(task: Task, split: str, model: str, candidate: Candidate, result: EvalResult,
                 ledger: Ledger) -> dict[str, Any]:
    s, t = result.scores, ledger.totals
    calls = max(t.calls, 1)
    n_examples = max(len(result.records), 1)
    return {
        "task": task.name, "split": split, "model": model, "candidate_id": candidate.id,
        "demos": candidate.n_demos, "demo_strategy": candidate.demo_strategy,
        "metric": task.spec.metric, "accuracy": s.accuracy, "macro_f1": s.macro_f1,
        "ci_low": s.ci_low, "ci_high": s.ci_high,
        "macro_f1_ci_low": s.f1_ci_low, "macro_f1_ci_high": s.f1_ci_high,
        "n": s.n, "examples": len(result.records), "invalid": result.invalid, "errors": result.errors,
        "calls": t.calls, "cached_calls": t.cached_calls,
        "prompt_tokens": t.prompt_tokens, "completion_tokens": t.completion_tokens,
        "prompt_tokens_per_call": t.prompt_tokens / calls, "usd": t.usd,
        "unpriced_calls": t.unpriced_calls, "seconds": result.seconds,
        "seconds_per_example": result.seconds / n_examples,
        "per_class_recall": s.per_class_recall,
        "confusions": [list(c) for c in s.confusions],
        "warnings": list(task.warnings), "candidate": candidate.to_json(),
        "data_hashes": dict(task.data_hashes),
    }


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
