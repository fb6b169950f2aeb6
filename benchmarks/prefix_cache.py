"""Kept prompt-prefix states in the local engine, measured on DSPy's real call pattern.

DSPy's default adapter (ChatAdapter) sends one prompt; when the small model's answer does not
parse, DSPy retries with its JSON adapter, whose system prompt differs. The calls alternate
between two long prefixes, and an engine that keeps only the live KV cache evaluates each
prefix again on every call.

This script runs ``dspy.Predict`` (default adapter, caches off) on N banking77 test examples
through the embedded model to record the exact messages DSPy sends, then replays that call
sequence on two fresh engines in the same run, alternately, for ``--rounds`` rounds: one
keeping no prefix states (``prefix_slots=0``: the engine before kept prefixes existed) and one
with the default slots. It prints seconds per call for each, their ratio, the prompt tokens
taken from a cache, and whether every answer is identical (it must be: reuse never changes an
answer).

    python benchmarks/prefix_cache.py [--n 4] [--rounds 2] [--data-dir ../shared/data] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from anchors.common import bench_paths
from anchors.dspy_side import configure, signature

from promptopt import compose
from promptopt.llm import local
from promptopt.llm.gateway import UNSET_MAX_TOKENS
from promptopt.llm.local import aligned

Call = tuple[list[dict[str, str]], int]  # messages, max_tokens


def record_dspy_calls(task: Any, model: str, n: int, seed: int) -> list[Call]:
    """The calls ``dspy.Predict`` makes for ``n`` test examples, in order."""
    import dspy

    lm = configure(model)
    program = dspy.Predict(signature(task))
    with dspy.context(lm=lm):
        for example in compose.slice_of(task, "test", n, seed=seed, stratified=True):
            try:
                program(text=example.text)
            except Exception as exc:  # an unparsed answer still made its calls
                print(f"  (DSPy could not parse an answer: {type(exc).__name__})", file=sys.stderr)
    return [
        (list(entry["messages"]), int(entry["kwargs"].get("max_tokens") or UNSET_MAX_TOKENS))
        for entry in lm.history
    ]


def replay(engine: local.LlamaEngine, path: Path, calls: list[Call]) -> dict[str, Any]:
    """Answer every call in order; seconds per call, tokens reused, and the answers."""
    texts, reused, prompt = [], 0, 0
    started = time.perf_counter()
    for messages, max_tokens in calls:
        result = engine.chat(path, messages, temperature=0.0, max_tokens=max_tokens, stop=[], seed=0)
        texts.append(result.text)
        reused += result.reused_tokens
        prompt += result.prompt_tokens
    seconds = time.perf_counter() - started
    return {
        "seconds_per_call": seconds / len(calls),
        "reused_share": reused / max(prompt, 1),
        "prompt_tokens_per_call": prompt / len(calls),
        "texts": texts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", default="banking77")
    parser.add_argument("--model", default=local.DEFAULT_LOCAL_MODEL)
    parser.add_argument("--n", type=int, default=4, help="test examples DSPy answers (default 4)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not args.model.startswith(local.PREFIX) or args.model.endswith(".gguf"):
        parser.error("--model must be a packaged local/ model")
    paths = bench_paths(args.data_dir)
    task = compose.load(args.task, paths)
    print(f"recording DSPy's calls on {args.n} {args.task} test examples…", file=sys.stderr)
    calls = record_dspy_calls(task, args.model, args.n, args.seed)
    path = local.prepare(local.PACKAGED[args.model[len(local.PREFIX) :]], local.default_models_dir())
    engines = {
        "live cache only (slots 0)": local.LlamaEngine(prefix_slots=0),
        f"kept prefixes (slots {aligned.PREFIX_SLOTS})": local.LlamaEngine(),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in engines}
    try:
        for engine in engines.values():  # load each model once, outside the timing
            engine.chat(
                path, [{"role": "user", "content": "hi"}], temperature=0.0, max_tokens=1, stop=[], seed=0
            )
        for round_ in range(args.rounds):
            for name, engine in engines.items():
                runs[name].append(replay(engine, path, calls))
                print(
                    f"round {round_ + 1}: {name}: {runs[name][-1]['seconds_per_call']:.2f} s/call",
                    file=sys.stderr,
                )
    finally:
        for engine in engines.values():
            engine.close()
    report(args, calls, runs)


def report(args: argparse.Namespace, calls: list[Call], runs: dict[str, list[dict[str, Any]]]) -> None:
    (base_name, base), (kept_name, kept) = runs.items()
    base_s = statistics.median(r["seconds_per_call"] for r in base)
    kept_s = statistics.median(r["seconds_per_call"] for r in kept)
    identical = all(r["texts"] == base[0]["texts"] for r in [*base, *kept])
    summary = {
        "task": args.task,
        "model": args.model,
        "examples": args.n,
        "calls": len(calls),
        "rounds": args.rounds,
        "prompt_tokens_per_call": round(base[0]["prompt_tokens_per_call"]),
        "seconds_per_call": {base_name: round(base_s, 3), kept_name: round(kept_s, 3)},
        "speedup": round(base_s / kept_s, 2),
        "reused_share": {
            base_name: round(base[0]["reused_share"], 3),
            kept_name: round(kept[0]["reused_share"], 3),
        },
        "identical_answers": identical,
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
