"""promptopt against the tools users would pick instead, in one run: same model, same dev slice
for optimization, same test slice for the final score.

    python benchmarks/vs_anchors.py --task banking77 --data-dir ../shared/data

Contenders, cheapest first: zero-shot and the plain retrieval baseline (promptopt's renderer, no
search), the trained probe (TF-IDF + logistic regression), ``promptopt optimize`` with its
defaults, DSPy ``Predict`` unoptimized, ``KNNFewShot`` (the 10 nearest train examples by
promptopt's MiniLM embedder), ``BootstrapFewShotWithRandomSearch``, ``GEPA`` (the task model
reflects on itself) and ``MIPROv2`` with ``auto="light"``. Every cache is off.

Fair to every contender: one train pool for all (``--train-limit``, default the whole train
split), the same dev and test slices, and one counting rule (an answer that is not a label, or
a failed call, is wrong for everyone; each row reports how many there were). A target on
accuracy is met only when the low end of its paired 95% interval meets it; when only the point
estimate does, it is "not resolved".

Each contender's result is kept under ``--work-dir`` as soon as it finishes, so an interrupted
benchmark resumes where it stopped (``--redo NAME`` runs one again); promptopt's own run folder
resumes too. ``--contenders A,B`` runs a subset (the slow DSPy optimizers one at a time); the
kept results of the others still join the table. After every contender the JSON, the markdown
table and the plot are rewritten: ``benchmarks/results/<task>-<model>-<date>.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from anchors import dspy_side, promptopt_side, table
from anchors.common import COUNTING_RULE, Bench, Result, bench_paths, ids_sha256, pooled

from promptopt import compose
from promptopt.settings import Paths
from promptopt.task.spec import Task

CONTENDERS = (
    "zero-shot",
    "retrieval-10",
    "probe",
    "promptopt",
    "dspy-predict",
    "dspy-knn",
    "dspy-bootstrap-rs",
    "dspy-gepa",
    "dspy-miprov2-light",
)
# the contenders that show or learn from no train example
NO_TRAIN = ("zero-shot", "dspy-predict")
KNN_K = 10  # as the plain retrieval baseline
MIN_TEST = 100  # below this, 95% intervals are wider than about +-10 points


def runners(args: argparse.Namespace) -> dict[str, Callable[[Bench], Result]]:
    return {
        "zero-shot": promptopt_side.zero_shot,
        "retrieval-10": promptopt_side.retrieval_baseline,
        "probe": promptopt_side.probe,
        "promptopt": lambda b: promptopt_side.optimize(b, time_limit=args.promptopt_time_limit),
        "dspy-predict": dspy_side.predict,
        "dspy-knn": lambda b: dspy_side.knn(b, k=KNN_K),
        "dspy-bootstrap-rs": lambda b: dspy_side.bootstrap_random_search(
            b, candidates=args.bootstrap_candidates
        ),
        "dspy-gepa": lambda b: dspy_side.gepa(
            b, metric_calls=args.gepa_metric_calls, reflection_max_tokens=args.gepa_reflection_max_tokens
        ),
        "dspy-miprov2-light": dspy_side.mipro_light,
    }


def main() -> None:
    args = _parser().parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    chosen, redo = _names(args.contenders), _names(args.redo)
    bench = _bench(args)
    meta = _meta(args, bench)
    out = (
        args.out or Path("benchmarks/results") / f"{bench.task.name}-{_slug(args.model)}-{meta['date']}.json"
    )
    for line in header(bench, meta):
        print(line, flush=True)
    run = runners(args)
    names = in_table(chosen, bench.work)
    # kept results first, so that the table written after each new run already holds every row
    results = {n: r for n in names if (r := kept(n, bench.work, redo=n in chosen and n in redo)) is not None}
    for name in names:
        if name not in results:
            results[name] = _run(name, run[name], bench)
        _print(results[name])
        _write(out, meta, [results[n] for n in CONTENDERS if n in results])
    print(table.markdown([r.to_json() for r in results.values()], meta))
    print(f"wrote {out}, {out.with_suffix('.md')}, {out.with_suffix('.png')}")


def header(bench: Bench, meta: dict[str, Any]) -> list[str]:
    """What the run compares on: the slices, the train pool of each contender, the rule."""
    lines = [
        f"{bench.task.name} / {meta['model']}: dev {len(bench.dev)}, test {len(bench.test)}; work folder "
        f"{bench.work}",
        f"train pool: {meta['train_pool']['drawn']}, ids sha256 {meta['train_pool']['ids_sha256']}",
    ]
    lines += [f"  {name}: {pool}" for name, pool in meta["train_pool_by_contender"].items()]
    lines.append(f"counting rule: {COUNTING_RULE}")
    if len(bench.test) < MIN_TEST:
        lines.append(
            f"note: {len(bench.test)} test examples (fewer than {MIN_TEST}): most accuracy targets "
            'will be "not resolved"'
        )
    return lines


def pools_by_contender(bench: Bench) -> dict[str, str]:
    """The train pool each contender draws from, as the outputs state it."""
    shared = f"the shared pool: {bench.pool()['drawn']}"
    return {name: "none (no demos, no training)" if name in NO_TRAIN else shared for name in CONTENDERS}


def in_table(chosen: set[str], work: Path) -> list[str]:
    """The contenders of the table, in order: the chosen ones (run unless kept) and any other
    whose result is kept in ``work``."""
    return [name for name in CONTENDERS if name in chosen or _kept_file(work, name).is_file()]


def _kept_file(work: Path, name: str) -> Path:
    return work / f"{name}.json"


def kept(name: str, work: Path, *, redo: bool) -> Result | None:
    """The result a previous run kept for ``name`` in ``work``, unless it is to be redone."""
    part = _kept_file(work, name)
    if not part.is_file() or redo:
        return None
    print(f"{name}: reusing {part}", flush=True)
    return Result.from_json(json.loads(part.read_text()))


def _run(name: str, runner: Callable[[Bench], Result], bench: Bench) -> Result:
    part = _kept_file(bench.work, name)
    print(f"{name}: running… ({time.strftime('%H:%M:%S')})", flush=True)
    try:
        result = runner(bench)
    except KeyboardInterrupt:
        print(f"{name}: interrupted; rerun the same command to resume", file=sys.stderr)
        raise
    except Exception as exc:  # a contender that fails is recorded as failed, with why
        logging.getLogger(__name__).exception("%s failed", name)
        result = Result(contender=name, status="failed", reason=f"{type(exc).__name__}: {exc}"[:500])
    part.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def _bench(args: argparse.Namespace) -> Bench:
    paths = bench_paths(args.data_dir)
    return make_bench(
        compose.load(args.task, paths),
        paths,
        model=args.model,
        seed=args.seed,
        dev_limit=args.dev_limit,
        test_limit=args.test_limit,
        train_limit=args.train_limit,
        work_dir=args.work_dir,
    )


def make_bench(
    full: Task,
    paths: Paths,
    *,
    model: str,
    seed: int,
    dev_limit: int | None,
    test_limit: int | None,
    train_limit: int | None,
    work_dir: Path,
) -> Bench:
    """The bench every contender runs on: promptopt's dev and test slices, and ``full`` with
    its train split cut to the pool (all of it when ``train_limit`` is None)."""
    task = pooled(full, train_limit, seed=seed)
    settings = compose.OptimizeSettings(
        task=task.name, model=model, seed=seed, dev_limit=dev_limit, test_limit=test_limit
    )
    dev, test = compose.optimize_slices(task, settings)
    train = task.split("train")
    # the pool's fingerprint in the name: results kept for another pool are never reused
    key = (
        f"{task.name}-{_slug(model)}-dev{len(dev)}-test{len(test)}-train{len(train)}-"
        f"{ids_sha256(train)[:8]}-seed{seed}"
    )
    work = work_dir / key
    work.mkdir(parents=True, exist_ok=True)
    return Bench(
        task=task,
        paths=paths,
        model=model,
        seed=seed,
        dev=dev,
        test=test,
        work=work,
        dev_limit=dev_limit,
        test_limit=test_limit,
        train_limit=train_limit,
        train_split_n=len(full.split("train")),
    )


def _meta(args: argparse.Namespace, bench: Bench) -> dict[str, Any]:
    def ids_hash(items: Any) -> str:
        return hashlib.sha256("\n".join(e.id for e in items).encode()).hexdigest()[:16]

    versions: dict[str, str | None] = {}
    for package in ("promptopt", "dspy", "litellm", "optuna", "llama_cpp_python"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "task": bench.task.name,
        "model": args.model,
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, no GPU",
        "command": "python benchmarks/vs_anchors.py " + " ".join(sys.argv[1:]),
        "dev_n": len(bench.dev),
        "test_n": len(bench.test),
        "train_n": len(bench.train),
        "train_pool": bench.pool(),
        "train_pool_by_contender": pools_by_contender(bench),
        "counting_rule": COUNTING_RULE,
        "seed": args.seed,
        "dev_ids_sha256": ids_hash(bench.dev),
        "test_ids_sha256": ids_hash(bench.test),
        "settings": {
            "promptopt_time_limit_s": args.promptopt_time_limit,
            "bootstrap_candidates": args.bootstrap_candidates,
            "gepa_metric_calls": args.gepa_metric_calls,
            "gepa_reflection_max_tokens": args.gepa_reflection_max_tokens,
            "knn_k": KNN_K,
            "train_limit": args.train_limit,
        },
        "versions": versions,
    }


def _write(out: Path, meta: dict[str, Any], results: list[Result]) -> None:
    rows = [r.to_json() for r in results]
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {**meta, "results": rows, "targets": table.targets(rows, seed=int(meta["seed"]))}
    out.write_text(json.dumps(payload, indent=2) + "\n")
    out.with_suffix(".md").write_text(table.markdown(rows, meta))
    table.plot(rows, meta, out.with_suffix(".png"))


def _print(r: Result) -> None:
    if r.status != "ok":
        print(f"{r.contender}: {r.status}: {r.reason}", flush=True)
        return
    assert r.accuracy is not None and r.ci is not None
    pool = "none" if not r.train_n else f"{r.train_n:,} ({r.train_ids_sha256})"
    print(
        f"{r.contender}: test {r.accuracy:.1%} [{r.ci[0]:.1%}, {r.ci[1]:.1%}] on {r.n_test} "
        f"({r.failed} failed, {r.unparseable} unparseable, counted wrong); train pool {pool}; calls "
        f"{r.optimization.calls} + {r.test.calls} (test); {r.optimization.seconds + r.test.seconds:.0f} s; "
        f"{r.final_prompt_tokens_per_call or 0:.0f} prompt tokens/call",
        flush=True,
    )


def _names(text: str) -> set[str]:
    names = {part.strip() for part in text.split(",") if part.strip()}
    unknown = names - set(CONTENDERS)
    if unknown:
        raise SystemExit(f"unknown contender(s) {sorted(unknown)}; choose from {', '.join(CONTENDERS)}")
    return names


def _slug(model: str) -> str:
    return model.rsplit("/", 1)[-1].replace(":", "-")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="banking77", help="a task name in tasks/ or a task file")
    parser.add_argument(
        "--model", default="local/qwen2.5-0.5b-instruct", help="any LiteLLM model, or local/<name>"
    )
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--dev-limit", type=int, default=20, help="dev examples every optimizer searches on")
    parser.add_argument(
        "--test-limit",
        type=int,
        default=MIN_TEST,
        help="test examples every contender is scored on (a label-stratified sample)",
    )
    parser.add_argument(
        "--train-limit",
        type=int,
        default=None,
        help="the train pool every contender draws demos or training data from: a label-stratified "
        "sample of this many (default: the whole train split)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help="comma-separated subset to run (the others' kept results still join the table)",
    )
    parser.add_argument("--redo", default="", help="contenders to run again even if a result is kept")
    parser.add_argument(
        "--promptopt-time-limit",
        type=float,
        default=900.0,
        help="promptopt optimize's time limit in seconds (its only budget; it may stop earlier)",
    )
    parser.add_argument(
        "--bootstrap-candidates",
        type=int,
        default=2,
        help="num_candidate_programs of BootstrapFewShotWithRandomSearch",
    )
    parser.add_argument("--gepa-metric-calls", type=int, default=100, help="GEPA's max_metric_calls")
    parser.add_argument("--gepa-reflection-max-tokens", type=int, default=1024)
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path("benchmarks/results/work"),
        help="where finished contenders are kept for resuming (not committed)",
    )
    parser.add_argument("--out", type=Path, default=None, help="results JSON (the .md and .png go beside it)")
    return parser


if __name__ == "__main__":
    main()
