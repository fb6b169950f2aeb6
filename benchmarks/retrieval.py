"""Retrieval settings side by side: retriever (word / char TF-IDF, MiniLM embeddings), number
of demos and layout (chat turns, compact block, neighbour labels), each scored on the same
label-stratified dev sample with the default instruction. Cache off: every call is real.

    python benchmarks/retrieval.py --task banking77 --n 40 word:10:turns minilm:4:compact ...

Each setting is RETRIEVER:K:LAYOUT. Prints one JSON line per setting: accuracy, invalid
answers, seconds per example and prompt tokens per call.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from anchors.common import bench_paths

from promptopt import compose
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.render import seed_instruction


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("settings", nargs="+", help="RETRIEVER:K:LAYOUT, e.g. minilm:4:compact")
    parser.add_argument("--task", default="banking77")
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--model", default="local/qwen2.5-0.5b-instruct")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    paths = bench_paths(args.data_dir)
    task = compose.load(args.task, paths)
    dev = compose.slice_of(task, "dev", args.n, seed=0, stratified=True)
    run = compose.open_eval(
        task, paths, model=args.model, seed=0, temperature=0.0, concurrency=1, env=os.environ
    )
    for setting in args.settings:
        retriever, k, layout = setting.split(":")
        candidate = Candidate(
            instruction=seed_instruction(task),
            demo_strategy="retrieved",
            k=int(k),
            retriever=retriever,
            demo_layout=layout,
        )  # type: ignore[arg-type]
        before = run.ledger.totals.prompt_tokens
        start = time.perf_counter()
        result = run.evaluator.evaluate(candidate, dev)
        seconds = time.perf_counter() - start
        print(
            json.dumps(
                {
                    "task": args.task,
                    "setting": setting,
                    "n": len(dev),
                    "accuracy": round(result.scores.accuracy, 3),
                    "invalid": result.invalid,
                    "s_per_example": round(seconds / len(dev), 2),
                    "prompt_tokens_per_call": round((run.ledger.totals.prompt_tokens - before) / len(dev)),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
