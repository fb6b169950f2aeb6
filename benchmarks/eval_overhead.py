"""Evaluator overhead against raw llama.cpp, on the same prompts and model, in one run.

Renders N banking77 dev prompts once, then times (a) raw ``Llama.create_chat_completion`` calls
and (b) promptopt's evaluator (render -> LiteLLM custom provider -> llama.cpp with aligned,
reproducible prefix reuse -> parse -> score, cache off), alternating the two for ``--rounds`` rounds. Each side has its own ``Llama`` with the
same context and threads, warmed up first, and sees the prompts in the same order. The raw side
uses llama-cpp-python's default batching and prefix reuse; the evaluator's engine re-evaluates up
to 63 extra tokens per call (its chunks start at multiples of 64) to make answers independent of
earlier calls, and that cost is part of the measured overhead. Prints seconds per example for
each, their ratio, and how many completions agree (stock prefix reuse is not bit-reproducible,
so a few may differ).

    python benchmarks/eval_overhead.py [--n 40] [--demos 10] [--rounds 2] [--model local/qwen2.5-0.5b-instruct]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, cast

from anchors.common import bench_paths

from promptopt import compose
from promptopt.llm import local


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="banking77")
    parser.add_argument("--model", default="local/qwen2.5-0.5b-instruct")
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--demos", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    paths = bench_paths(args.data_dir)
    task = compose.load(args.task, paths)
    examples = compose.slice_of(task, "dev", args.n, seed=0)
    candidate = compose.baseline_candidate(
        task, k=args.demos, strategy="stratified", instruction=None, rng=random.Random(0)
    )
    run = compose.open_eval(
        task, paths, model=args.model, seed=0, temperature=0.0, concurrency=1, env=os.environ
    )
    requests = [run.evaluator.request(candidate, e.text) for e in examples]
    path = local.resolve(args.model, paths.models_dir).path
    from llama_cpp import Llama  # stock engine, default batching: what a user would call

    threads = os.cpu_count() or 1
    raw_llm = Llama(
        model_path=str(path),
        n_ctx=local.N_CTX,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
        seed=0,
    )

    def raw_pass() -> tuple[float, list[str]]:
        texts, start = [], time.perf_counter()
        for request in requests:
            out = raw_llm.create_chat_completion(
                messages=cast(Any, request.message_dicts()),
                temperature=0.0,
                max_tokens=request.max_tokens,
                stop=list(request.stop),
                seed=request.seed,
                top_k=1,
                stream=False,
            )
            texts.append(cast(dict[str, Any], out)["choices"][0]["message"]["content"] or "")
        return time.perf_counter() - start, texts

    def evaluator_pass() -> tuple[float, list[str]]:
        start = time.perf_counter()
        result = run.evaluator.evaluate(candidate, examples)
        return time.perf_counter() - start, [r.raw for r in result.records]

    raw_pass(), evaluator_pass()  # warm-up: load weights, fill the shared-prefix KV cache
    raw_times, eval_times = [], []
    for _ in range(args.rounds):
        t, raw_texts = raw_pass()
        raw_times.append(t)
        t, eval_texts = evaluator_pass()
        eval_times.append(t)
    raw_s = statistics.median(raw_times) / len(examples)
    eval_s = statistics.median(eval_times) / len(examples)
    same = sum(a == b for a, b in zip(raw_texts, eval_texts, strict=False))
    tokens = run.ledger.totals.prompt_tokens / max(run.ledger.totals.calls, 1)
    result = {
        "task": args.task,
        "model": args.model,
        "n": len(examples),
        "demos": args.demos,
        "rounds": args.rounds,
        "prompt_tokens_per_call": round(tokens, 1),
        "raw_s_per_example": round(raw_s, 4),
        "evaluator_s_per_example": round(eval_s, 4),
        "ratio": round(eval_s / raw_s, 4),
        "overhead_pct": round((eval_s / raw_s - 1) * 100, 2),
        "identical_completions": f"{same}/{len(examples)}",
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if same < 0.9 * len(examples):
        sys.exit("over 10% of completions differ between raw llama.cpp and the evaluator: not like for like")


if __name__ == "__main__":
    main()
