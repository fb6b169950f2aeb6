"""promptopt against the tools users would pick instead, in one run: same model, same dev slice
for optimization, same test slice for the final score.

    python benchmarks/vs_anchors.py --task banking77 --data-dir ../shared/data

Contenders, cheapest first: zero-shot and the plain retrieval baseline (promptopt's renderer, no
search), the trained probe (TF-IDF + logistic regression), ``promptopt optimize`` with its
defaults, DSPy ``Predict`` unoptimized, ``BootstrapFewShotWithRandomSearch``, ``GEPA`` (the
task model reflects on itself) and ``MIPROv2`` with ``auto="light"``. Every cache is off.

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
from anchors.common import Result, bench_paths
from anchors.promptopt_side import Bench

from promptopt import compose
from promptopt.task.spec import sample

CONTENDERS = (
    "zero-shot",
    "retrieval-10",
    "probe",
    "promptopt",
    "dspy-predict",
    "dspy-bootstrap-rs",
    "dspy-gepa",
    "dspy-miprov2-light",
)


def runners(args: argparse.Namespace) -> dict[str, Callable[[Bench], Result]]:
    return {
        "zero-shot": promptopt_side.zero_shot,
        "retrieval-10": promptopt_side.retrieval_baseline,
        "probe": promptopt_side.probe,
        "promptopt": lambda b: promptopt_side.optimize(b, time_limit=args.promptopt_time_limit),
        "dspy-predict": dspy_side.predict,
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
    print(
        f"{bench.task.name} / {args.model}: dev {len(bench.dev)}, test {len(bench.test)}, DSPy train "
        f"{len(bench.train)}; work folder {bench.work}",
        flush=True,
    )
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
    task = compose.load(args.task, paths)
    settings = compose.OptimizeSettings(
        task=task.name, model=args.model, seed=args.seed, dev_limit=args.dev_limit, test_limit=args.test_limit
    )
    dev, test = compose.optimize_slices(task, settings)
    train = sample(task.split("train"), args.train_limit, seed=args.seed, stratified=True)
    key = f"{task.name}-{_slug(args.model)}-dev{len(dev)}-test{len(test)}-train{len(train)}-seed{args.seed}"
    work = args.work_dir / key
    work.mkdir(parents=True, exist_ok=True)
    return Bench(
        task=task,
        paths=paths,
        model=args.model,
        seed=args.seed,
        dev=dev,
        test=test,
        train=tuple(train),
        work=work,
        dev_limit=args.dev_limit,
        test_limit=args.test_limit,
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
        "seed": args.seed,
        "dev_ids_sha256": ids_hash(bench.dev),
        "test_ids_sha256": ids_hash(bench.test),
        "settings": {
            "promptopt_time_limit_s": args.promptopt_time_limit,
            "bootstrap_candidates": args.bootstrap_candidates,
            "gepa_metric_calls": args.gepa_metric_calls,
            "gepa_reflection_max_tokens": args.gepa_reflection_max_tokens,
        },
        "versions": versions,
    }


def _write(out: Path, meta: dict[str, Any], results: list[Result]) -> None:
    rows = [r.to_json() for r in results]
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {**meta, "results": rows, "targets": table.targets(rows)}
    out.write_text(json.dumps(payload, indent=2) + "\n")
    out.with_suffix(".md").write_text(table.markdown(rows, meta))
    table.plot(rows, meta, out.with_suffix(".png"))


def _print(r: Result) -> None:
    if r.status != "ok":
        print(f"{r.contender}: {r.status}: {r.reason}", flush=True)
        return
    assert r.accuracy is not None and r.ci is not None
    print(
        f"{r.contender}: test {r.accuracy:.1%} [{r.ci[0]:.1%}, {r.ci[1]:.1%}] on {r.n_test}; calls "
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
        "--test-limit", type=int, default=40, help="test examples every contender is scored on"
    )
    parser.add_argument(
        "--train-limit",
        type=int,
        default=200,
        help="train examples DSPy's optimizers draw demos from (promptopt and the probe use all)",
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
