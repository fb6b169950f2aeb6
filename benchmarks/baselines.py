"""Unoptimized baselines: zero-shot and K-demo dev scores for each task and local model.

For every (task, model, setting) it runs promptopt's evaluator on the same seeded dev sample
and prints accuracy, macro-F1, invalid answers, prompt tokens per call and seconds per example.
Settings: zero-shot; K label-stratified fixed demos; K retrieved demos (TF-IDF nearest train
examples per input). Cache off, so every figure is a real call.

    python benchmarks/baselines.py [--n 60] [--k 10] [--tasks a,b] [--models local/x,local/y] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path

from anchors.common import bench_paths

from promptopt import compose

SETTINGS = (("zero-shot", 0, "none"), ("stratified", None, "stratified"), ("retrieved", None, "retrieved"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--tasks", default="banking77,cfpb_complaints,it_service_tickets")
    parser.add_argument("--models", default="local/qwen2.5-0.5b-instruct,local/gemma-3-270m")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    paths = bench_paths(args.data_dir)
    rows = []
    print("| task | model | setting | accuracy [95% CI] | macro-F1 | invalid | prompt tok/call | s/example |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for task_name in args.tasks.split(","):
        task = compose.load(task_name, paths)
        examples = compose.slice_of(task, "dev", args.n, seed=0)
        for model in args.models.split(","):
            for label, k, strategy in SETTINGS:
                row = _run(task, examples, model, label, args.k if k is None else k, strategy, paths)
                rows.append(row)
                print(
                    f"| {task_name} | {model} | {label} | {row['accuracy']:.1%} [{row['ci_low']:.1%}, {row['ci_high']:.1%}]"
                    f" | {row['macro_f1']:.3f} | {row['invalid']} | {row['prompt_tokens_per_call']:.0f}"
                    f" | {row['seconds_per_example']:.2f} |",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


def _run(task, examples, model, label, k, strategy, paths) -> dict:  # type: ignore[no-untyped-def]
    candidate = compose.baseline_candidate(
        task, k=k, strategy=strategy, instruction=None, rng=random.Random(0)
    )
    run = compose.open_eval(task, paths, model=model, seed=0, temperature=0.0, concurrency=1, env=os.environ)
    result = run.evaluator.evaluate(candidate, examples)
    summary = compose.eval_summary(task, "dev", model, candidate, result, run.ledger)
    keep = (
        "task",
        "model",
        "accuracy",
        "ci_low",
        "ci_high",
        "macro_f1",
        "n",
        "invalid",
        "errors",
        "prompt_tokens_per_call",
        "seconds_per_example",
        "demos",
    )
    return {"setting": label, **{key: summary[key] for key in keep}}


if __name__ == "__main__":
    main()
