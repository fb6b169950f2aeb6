"""One optimization run on the embedded model, against the plain retrieval baseline and the
trained probe on the same test examples (issue 13).

It runs ``promptopt optimize`` (the same code path as the CLI: the search space fitted to the
task's data, the same seeds, budgets and final test scoring) with a stated budget, then scores,
in the same process, on exactly the test examples the best prompt was scored on (its test rows
in the run's ``evaluations.jsonl``; a tight budget scores it on fewer than ``--test-limit``):

- the plain retrieval baseline: 10 demos retrieved per input by word TF-IDF, as chat turns, the
  seed instruction, no search (the run's own records are reused where it scored this prompt on
  test; its other answers are kept in the completion cache, so a rerun reuses them);
- the trained probe: TF-IDF (words and characters) + logistic regression on the whole train
  split, promptopt's fine-tune probe (``promptopt.handoff.finetune.probe``), one prediction per
  example (``anchors.promptopt_side.probe_predictions``), no model call.

The run's own calls are live (the completion cache is off). The task is a name in ``tasks/`` or
a path to any task file, so a new dataset is one command away. A token budget is the one to
state (``--budget-tokens``; ``--time-limit`` and ``--budget-calls`` may be added)::

    python benchmarks/optimize_task.py --task it_service_tickets --data-dir ../shared/data \\
        --budget-tokens 3000000 --dev-limit 100 --test-limit 300 \\
        --json benchmarks/results/optimize-it_service_tickets.json

With ``--from-run RUN`` it reads a finished run instead (its settings, summary and recorded
wall time) and scores only the retrieval baseline and the probe on that run's examples.

The counting rule, the same for all three: accuracy over every shared example; a failed call
(status ``error``) or an answer that is not one of the task's labels (status ``invalid``)
counts as wrong, never dropped from the denominator. (The run's summary leaves failed calls
out of its own test score, so the two differ only when a call failed.)

Targets (issue 13), each with its 95% interval; a target is met only when the low end of the
interval clears it, "not resolved" when only the point estimate does, missed otherwise:

- every task: best prompt >= plain retrieval + 3 points (paired bootstrap interval of the
  difference), at no more prompt tokens per call (both measured on the same examples);
- banking77: best prompt >= 90% (bootstrap interval of its accuracy);
- it_service_tickets: best prompt within 5 points of the probe (paired interval of best - probe
  >= -5 points);
- cfpb_complaints: best prompt >= 75%.

Conditions of the measurement, checked and printed: the embedded default model, a budget in
tokens, at least 300 shared test examples (cfpb_complaints: 150).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from anchors.common import (
    Result,
    Usage,
    answer,
    bench_paths,
    ids_sha256,
    paired_interval,
    scored,
    write_result,
)
from anchors.promptopt_side import answers_of, probe_predictions
from anchors.table import Target, accuracy_verdict

from promptopt import compose
from promptopt.cli.app import DEFAULT_MODEL
from promptopt.errors import PromptoptError
from promptopt.evaluate.evaluator import Evaluator
from promptopt.handoff.finetune.probe import METHOD as PROBE_METHOD
from promptopt.llm.budget import Budget
from promptopt.llm.gateway import LiteLLMGateway
from promptopt.llm.ledger import Ledger
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.render import seed_instruction
from promptopt.run.events import Evaluated, Event
from promptopt.run.reader import check_same_data
from promptopt.run.store import RunStore, new_run_dir
from promptopt.run.summary import RunSummary
from promptopt.search.space import SearchSpace
from promptopt.settings import Paths
from promptopt.task.spec import Example, Task

Row = Mapping[str, Any]

RETRIEVAL_K = 10
RETRIEVAL_MARGIN = 0.03  # best >= retrieval + 3 points
PROBE_MARGIN = -0.05  # it_service_tickets: best >= probe - 5 points
THRESHOLDS = {"banking77": 0.90, "cfpb_complaints": 0.75}
PROBE_TARGET_TASKS = frozenset({"it_service_tickets"})
MIN_TEST_N = 300
MIN_TEST_N_BY_TASK = {"cfpb_complaints": 150}
COUNTING_RULE = (
    "the best prompt, the plain retrieval baseline and the probe are scored on the same test "
    "examples (the best prompt's test rows in the run's evaluations.jsonl); for all three a failed "
    "call or an answer that is not one of the task's labels counts as wrong and stays in the "
    "denominator"
)


# -- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A finished optimization run: its folder, task, settings, summary and wall time."""

    store: RunStore
    task: Task
    settings: compose.OptimizeSettings
    summary: dict[str, Any]
    seconds: float


def main() -> None:
    args = _parser().parse_args()
    paths = _paths(args)
    try:
        run = _finished_run(args.from_run, paths) if args.from_run else _optimize(args, paths)
        result = analyse(run, _retrieval_evaluator(run, paths))
    except PromptoptError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print_result(result)
    write_result(args.json, result)


def _paths(args: argparse.Namespace) -> Paths:
    """The data and models; no completion cache for the run (every call of it is live)."""
    return bench_paths(args.data_dir)


def budget_of(args: argparse.Namespace) -> Budget:
    """The run's budget; at least one limit is required (a token budget is the one to state)."""
    budget = Budget(tokens=args.budget_tokens, seconds=args.time_limit, calls=args.budget_calls)
    if budget.unlimited:
        raise SystemExit("give a budget: --budget-tokens N (and optionally --time-limit S, --budget-calls N)")
    return budget


def parse_ints(text: str, option: str) -> tuple[int, ...]:
    """Comma-separated positive integers (``--k-choices``)."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise SystemExit(f"{option} takes positive integers separated by commas (seen: {text!r})")
    return values


def parse_retrievers(text: str) -> tuple[str, ...]:
    """Comma-separated retrievers among word, char and minilm, in the order given."""
    values = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not values or any(v not in ("word", "char", "minilm") for v in values):
        raise SystemExit(f"--retrievers takes word, char and minilm, comma-separated (seen: {text!r})")
    return values


def settings_of(args: argparse.Namespace, task: Task) -> compose.OptimizeSettings:
    """The settings ``promptopt optimize`` builds from the same options: the space with the
    retrievers that run here, then fitted to the task's data."""
    space = compose.available_retrievers(
        SearchSpace(
            k_choices=parse_ints(args.k_choices, "--k-choices"),
            retrievers=parse_retrievers(args.retrievers),
        )
    )
    settings = compose.OptimizeSettings(
        task=args.task,
        model=args.model,
        seed=args.seed,
        dev_limit=args.dev_limit or None,
        test_limit=args.test_limit or None,
        budget=budget_of(args),
        max_prompt_tokens=args.max_prompt_tokens,
        space=space,
    )
    return replace(settings, space=compose.fit_space(settings.space, task))


def _optimize(args: argparse.Namespace, paths: Paths) -> Run:
    task = compose.load(args.task, paths)
    settings = settings_of(args, task)
    compose.check_prompt_cap(task, settings)
    compose.check_models(settings, LiteLLMGateway(models_dir=paths.models_dir), os.environ)
    dev, test = compose.optimize_slices(task, settings)
    path = new_run_dir(args.runs_dir, task.name)
    store = RunStore.create(path, {"run_id": path.name, **compose.new_run_info(task, settings, dev, test)})
    print(f"run folder: {path}  (dev {len(dev)}, test {len(test)}, budget {_budget_text(settings.budget)})")
    started = time.perf_counter()
    run = compose.open_optimize(task, settings, paths, store, env=os.environ, observers=[_progress])
    if run.estimate.warning:
        print(f"warning: {run.estimate.warning}")
    if run.seed_text:
        print(run.seed_text, flush=True)
    summary = run.optimizer.run().to_json()
    return Run(store, task, settings, summary, time.perf_counter() - started)


def _finished_run(path: Path, paths: Paths) -> Run:
    """A run made earlier by this script (or ``promptopt optimize``): its settings, summary and
    wall time as recorded; only the baselines are scored now."""
    store = RunStore.open(path)
    if not store.has("summary.json"):
        raise SystemExit(f"{path} has no summary.json: finish it first with `promptopt resume {path}`")
    info = store.read_json("run.json")
    settings = compose.OptimizeSettings.from_json(info["settings"])
    task = compose.load(info.get("task_file") or info["task"], paths)
    check_same_data(task, info.get("data_hashes") or {}, run_name=path.name)
    summary = store.read_json("summary.json")
    print(f"run folder: {path} (finished; scoring the retrieval baseline and the probe only)", flush=True)
    return Run(store, task, settings, summary, float(summary["seconds"]))


def _retrieval_evaluator(run: Run, paths: Paths) -> tuple[Evaluator, Ledger]:
    """The evaluator for the retrieval baseline: the run's model, through the completion
    cache (the engine answers a request the same way in any order and process, tested), so a
    rerun of the benchmark reuses the baseline's answers."""
    cached = replace(paths, cache_file=Path(".promptopt-cache") / "completions.sqlite")
    eval_run = compose.open_eval(
        run.task,
        cached,
        model=run.settings.model,
        seed=run.settings.seed,
        temperature=run.settings.temperature,
        concurrency=1,
        env=os.environ,
    )
    return eval_run.evaluator, eval_run.ledger


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="banking77", help="a task name in tasks/ or a path to a task file")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument(
        "--budget-tokens", type=int, default=None, help="the run's budget in tokens (state it)"
    )
    parser.add_argument(
        "--time-limit", type=float, default=None, help="wall seconds (final scoring included)"
    )
    parser.add_argument("--budget-calls", type=int, default=None)
    parser.add_argument("--max-prompt-tokens", type=int, default=None, help="the winner's price per call")
    parser.add_argument("--dev-limit", type=int, default=100, help="dev examples to search on (0: all)")
    parser.add_argument(
        "--test-limit", type=int, default=300, help="test examples for the final scoring (0: all)"
    )
    parser.add_argument("--k-choices", default="4,10,16")
    parser.add_argument("--retrievers", default="minilm,char,word", help="the first one seeds the search")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--from-run",
        type=Path,
        default=None,
        help="a finished run folder: skip the optimization, score only the retrieval baseline and the probe",
    )
    return parser


def _progress(event: Event) -> None:
    if isinstance(event, Evaluated):
        raced = " (raced out)" if event.raced_out else ""
        print(
            f"[{event.elapsed_s:6.0f}s] {event.candidate} {event.operator:<22} dev {event.accuracy:.1%}"
            f" on {event.n}{raced}; calls {event.calls}",
            flush=True,
        )
    elif event.kind in ("stop", "incumbent", "slot", "test_scored", "budget_tight", "over_cap"):
        print(f"         {json.dumps(event.to_json())[:200]}", flush=True)


# -- the same examples -------------------------------------------------------------------------


def same_examples(rows: Iterable[Row], candidate_id: str, test_ids: Sequence[str]) -> list[str]:
    """The test examples ``candidate_id`` was scored on (its ``test`` rows), in the order of the
    run's test slice (``test_ids``). Raises if it has a test row outside that slice."""
    scored_ids = {r["example_id"] for r in rows if r["candidate_id"] == candidate_id and r["split"] == "test"}
    stray = scored_ids - set(test_ids)
    if stray:
        raise ValueError(f"{len(stray)} test rows of {candidate_id} are not in the run's test slice")
    return [i for i in test_ids if i in scored_ids]


def candidate_rows(rows: Iterable[Row], candidate_id: str, ids: Iterable[str]) -> dict[str, Row]:
    """The first ``test`` row of ``candidate_id`` for each of ``ids`` that has one."""
    wanted, found = set(ids), dict[str, Row]()
    for r in rows:
        if r["candidate_id"] == candidate_id and r["split"] == "test" and r["example_id"] in wanted:
            found.setdefault(r["example_id"], r)
    return found


def tokens_per_call(rows: Iterable[Row]) -> float | None:
    """Mean prompt tokens of the calls that were answered (a failed call counted none)."""
    counts = [int(r["prompt_tokens"]) for r in rows if r["status"] != "error"]
    return sum(counts) / len(counts) if counts else None


# -- the three contenders ----------------------------------------------------------------------


def retrieval_candidate(task: Task) -> Candidate:
    """The plain retrieval prompt: 10 word-TF-IDF neighbours as chat turns, the seed instruction
    (the run's plain retrieval seed when its k choices hold 10)."""
    return Candidate(instruction=seed_instruction(task), demo_strategy="retrieved", k=RETRIEVAL_K)


def best_result(
    examples: Sequence[Example], rows: Mapping[str, Row], labels: Sequence[str], *, seed: int
) -> Result:
    """The best prompt's answers, from the run's records."""
    return scored(
        "best prompt",
        answers_of(examples, rows, labels),
        seed=seed,
        final_prompt_tokens_per_call=tokens_per_call(rows.values()),
    )


def retrieval_result(
    evaluator: Evaluator,
    ledger: Ledger,
    task: Task,
    examples: Sequence[Example],
    done: Mapping[str, Row],
    *,
    seed: int,
) -> Result:
    """The plain retrieval prompt on ``examples``: the run's records where it has them
    (``done``), the others scored now."""
    candidate = retrieval_candidate(task)
    started = time.perf_counter()
    missing = [e for e in examples if e.id not in done]
    new = {r.example_id: r.to_json() for r in evaluator.evaluate(candidate, missing).records}
    rows = {**done, **new}
    t = ledger.totals
    return scored(
        "plain retrieval",
        answers_of(examples, rows, task.labels),
        seed=seed,
        test=Usage(t.calls, t.prompt_tokens, t.completion_tokens, time.perf_counter() - started, t.usd),
        final_prompt_tokens_per_call=tokens_per_call(rows.values()),
        settings={"candidate_id": candidate.id, "reused_from_run": len(done), "cached_calls": t.cached_calls},
    )


def probe_result(
    train: Sequence[Example], examples: Sequence[Example], labels: Sequence[str], *, seed: int
) -> Result:
    """The fine-tune probe trained on ``train``, one prediction per example (no model call)."""
    started = time.perf_counter()
    predicted = probe_predictions(train, examples)
    seconds = time.perf_counter() - started
    return scored(
        "probe",
        [answer(e, p, labels) for e, p in zip(examples, predicted, strict=True)],
        seed=seed,
        optimization=Usage(seconds=seconds),
        settings={"method": PROBE_METHOD, "n_train": len(train)},
    )


# -- targets -----------------------------------------------------------------------------------


def paired(a: Result, b: Result, *, seed: int) -> tuple[float, float, float] | None:
    """A - B on the same examples with its 95% paired bootstrap interval (fractions)."""
    return paired_interval([asdict(x) for x in a.answers], [asdict(x) for x in b.answers], seed=seed)


def retrieval_target(best: Result, retrieval: Result, *, seed: int) -> Target:
    """Best >= retrieval + 3 points (paired interval), at no more prompt tokens per call."""
    diff = paired(best, retrieval, seed=seed)
    accuracy = "missed" if diff is None else accuracy_verdict(diff[0], (diff[1], diff[2]), RETRIEVAL_MARGIN)
    mine, theirs = best.final_prompt_tokens_per_call, retrieval.final_prompt_tokens_per_call
    cheaper = mine is not None and theirs is not None and mine <= theirs
    return Target(
        name="retrieval",
        claim="best prompt >= plain retrieval + 3 points, at no more prompt tokens per call",
        verdict=accuracy if cheaper else "missed",
        detail=f"{_points(diff)}; prompt tokens/call {_num(mine)} against {_num(theirs)}"
        + ("" if cheaper else " (more than retrieval's)"),
    )


def threshold_target(task_name: str, best: Result, threshold: float) -> Target:
    """Best >= ``threshold`` on the low end of its 95% bootstrap interval."""
    assert best.accuracy is not None and best.ci is not None
    return Target(
        name="threshold",
        claim=f"{task_name}: best prompt >= {threshold:.0%}",
        verdict=accuracy_verdict(best.accuracy, best.ci, threshold),
        detail=f"{_pct(best.accuracy)} [95% CI {_pct(best.ci[0])}, {_pct(best.ci[1])}] on {best.n_test}",
    )


def probe_target(task_name: str, best: Result, probe: Result, *, seed: int) -> Target:
    """Best - probe >= -5 points on the low end of the paired interval."""
    diff = paired(best, probe, seed=seed)
    return Target(
        name="probe",
        claim=f"{task_name}: best prompt within 5 points of the probe",
        verdict="missed" if diff is None else accuracy_verdict(diff[0], (diff[1], diff[2]), PROBE_MARGIN),
        detail=f"best - probe {_points(diff)}",
    )


def targets(task_name: str, best: Result, retrieval: Result, probe: Result, *, seed: int) -> list[Target]:
    """The retrieval target, and the task's own (banking77, it_service_tickets, cfpb_complaints)."""
    found = [retrieval_target(best, retrieval, seed=seed)]
    if task_name in THRESHOLDS:
        found.append(threshold_target(task_name, best, THRESHOLDS[task_name]))
    if task_name in PROBE_TARGET_TASKS:
        found.append(probe_target(task_name, best, probe, seed=seed))
    return found


def conditions(task_name: str, settings: compose.OptimizeSettings, n: int) -> list[Target]:
    """What issue 13 asks of the measurement itself: met or missed, no interval."""
    least = MIN_TEST_N_BY_TASK.get(task_name, MIN_TEST_N)
    checks = [
        ("the embedded default model", settings.model == DEFAULT_MODEL, settings.model),
        ("a budget in tokens", settings.budget.tokens is not None, _budget_text(settings.budget)),
        (f"at least {least} shared test examples", n >= least, f"{n}"),
    ]
    return [Target("condition", claim, "met" if ok else "missed", detail) for claim, ok, detail in checks]


# -- the analysis ------------------------------------------------------------------------------


def analyse(run: Run, retrieval_eval: tuple[Evaluator, Ledger]) -> dict[str, Any]:
    """Score the retrieval baseline and the probe on the best prompt's test examples, compare,
    and judge the targets."""
    info = run.store.read_json("run.json")
    rows = list(run.store.read("evaluations"))
    best_id, seed = run.summary["best_candidate_id"], run.settings.seed
    ids = same_examples(rows, best_id, info["test_ids"])
    if not ids:
        raise SystemExit(f"the best prompt {best_id} has no test rows: the run's test scoring did not happen")
    examples = _examples(run.task, ids)
    best = best_result(examples, candidate_rows(rows, best_id, ids), run.task.labels, seed=seed)
    done = candidate_rows(rows, retrieval_candidate(run.task).id, ids)
    retrieval = retrieval_result(*retrieval_eval, run.task, examples, done, seed=seed)
    probe = probe_result(run.task.split("train"), examples, run.task.labels, seed=seed)
    return _result(run, ids, best, retrieval, probe)


def _examples(task: Task, ids: Sequence[str]) -> list[Example]:
    by_id = {e.id: e for e in task.split("test")}
    return [by_id[i] for i in ids]


def _result(run: Run, ids: Sequence[str], best: Result, retrieval: Result, probe: Result) -> dict[str, Any]:
    seed, name = run.settings.seed, run.task.name
    found = targets(name, best, retrieval, probe, seed=seed)
    return {
        "task": name,
        "model": run.settings.model,
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, no accelerator",
        "command": "python benchmarks/optimize_task.py " + " ".join(sys.argv[1:]),
        "optimize_settings": run.settings.to_json(),
        "run_folder": str(run.store.path),
        "run_wall_seconds": run.seconds,
        "summary": _summary_figures(run.summary),
        "attribution": attribution(RunSummary.from_json(run.summary)),
        "same_examples": {"n": len(ids), "ids_sha256": ids_sha256(_examples(run.task, ids))},
        "counting_rule": COUNTING_RULE,
        "contenders": {r.contender: r.to_json() for r in (best, retrieval, probe)},
        "best_minus_retrieval": paired(best, retrieval, seed=seed),
        "best_minus_probe": paired(best, probe, seed=seed),
        "targets": [{"name": t.name, **t.to_json()} for t in found],
        "conditions": [t.to_json() for t in conditions(name, run.settings, len(ids))],
    }


SUMMARY_KEYS = (
    "best_candidate_id",
    "baseline_test_accuracy",
    "baseline_test_ci",
    "baseline_test_n",
    "best_test_accuracy",
    "best_test_ci",
    "best_test_n",
    "best_dev_accuracy",
    "baseline_dev_accuracy",
    "dev_n",
    "test_n",
    "test_incomplete",
    "calls",
    "prompt_tokens",
    "completion_tokens",
    "seconds",
    "stop_reason",
    "trials",
    "evaluations",
    "best_prompt_tokens_per_call",
    "max_prompt_tokens",
    "best_candidate",
)


def _summary_figures(summary: Mapping[str, Any]) -> dict[str, Any]:
    return {k: summary.get(k) for k in SUMMARY_KEYS} | {"plateau": summary.get("plateau")}


def attribution(summary: RunSummary) -> dict[str, Any]:
    """Where the dev lift came from: the seeds (best seed - zero-shot), the search's own moves
    (best - best seed), and the proposer's instructions (best proposed - best seed instruction)."""
    return {
        "best_seed_id": summary.best_seed_id,
        "best_seed_dev_accuracy": summary.best_seed_dev_accuracy,
        "lift_from_seeds": summary.lift_from_seeds,
        "lift_from_search": summary.lift_from_search,
        "proposed_instruction_lift": summary.proposed_instruction_lift,
    }


# -- printing ----------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


def _signed(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}"


def _lift(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f} points"


def _points(diff: Sequence[float] | None) -> str:
    if diff is None:
        return "n/a (no paired answers)"
    return f"{_signed(diff[0])} points [95% paired CI {_signed(diff[1])}, {_signed(diff[2])}]"


def _budget_text(budget: Budget) -> str:
    parts = [f"{name} {value:,}" for name, value in budget.to_json().items() if value is not None]
    return ", ".join(parts) or "none"


def _contender_line(r: Mapping[str, Any]) -> str:
    ci = r["ci"] or [None, None]
    return (
        f"  {r['contender']:<16} {_pct(r['accuracy']):>6} [{_pct(ci[0])}, {_pct(ci[1])}]"
        f"  n={r['n_test']}  failed {r['failed']}  not a label {r['unparseable']}"
        f"  prompt tokens/call {_num(r['final_prompt_tokens_per_call'])}"
    )


def _scored_n(summary: Mapping[str, Any], which: str) -> str:
    """How many test examples the run scored ``which`` (best or baseline) on."""
    if summary[f"{which}_test_accuracy"] is None:
        return "not scored"
    n = summary.get(f"{which}_test_n")
    return f"n={summary['test_n'] if n is None else n}"


def _print_run(r: Mapping[str, Any]) -> None:
    s, settings = r["summary"], r["optimize_settings"]
    cap = settings["max_prompt_tokens"]
    print(f"\n{r['task']} / {r['model']} / {r['machine']} / {r['date']}")
    print(f"budget: {_budget_text(Budget(**settings['budget']))}; max prompt tokens/call: {cap or 'no cap'}")
    print(
        f"run: {r['run_wall_seconds']:.0f} s wall, {s['calls']} calls, {s['prompt_tokens']:,} prompt tokens, "
        f"stop: {s['stop_reason']}, trials {s['trials']}, evaluations {s['evaluations']}; {r['run_folder']}"
    )
    print(
        f"run summary: zero-shot test {_pct(s['baseline_test_accuracy'])} ({_scored_n(s, 'baseline')}), "
        f"best test {_pct(s['best_test_accuracy'])} ({_scored_n(s, 'best')}), "
        f"best dev {_pct(s['best_dev_accuracy'])} on {s['dev_n']}"
    )


def _print_comparison(r: Mapping[str, Any]) -> None:
    same, a = r["same_examples"], r["attribution"]
    print(f"\nall three scored on the same {same['n']} test examples (ids sha256 {same['ids_sha256']});")
    print(f"counting rule: {r['counting_rule']}")
    for name in ("best prompt", "plain retrieval", "probe"):
        print(_contender_line(r["contenders"][name]))
    print(f"  best - retrieval: {_points(r['best_minus_retrieval'])}")
    print(f"  best - probe:     {_points(r['best_minus_probe'])}")
    print(
        f"\nattribution (dev): best seed {a['best_seed_id']} at {_pct(a['best_seed_dev_accuracy'])}; "
        f"lift from seeds (best seed - zero-shot) {_lift(a['lift_from_seeds'])}, "
        f"from search moves (best - best seed) {_lift(a['lift_from_search'])}, "
        f"proposed-instruction lift {_lift(a['proposed_instruction_lift'])}"
    )


def _print_verdicts(r: Mapping[str, Any]) -> None:
    print("\ntargets:")
    for t in r["targets"]:
        print(f"  - {t['claim']}: {t['verdict'].upper()} ({t['detail']})")
    print("conditions of the measurement:")
    for t in r["conditions"]:
        print(f"  - {t['claim']}: {t['verdict']} ({t['detail']})")


def print_result(r: Mapping[str, Any]) -> None:
    """The figures, the comparisons on the shared examples, and the verdicts."""
    _print_run(r)
    _print_comparison(r)
    _print_verdicts(r)


if __name__ == "__main__":
    main()
