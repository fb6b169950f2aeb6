"""Which of the shrink components earn their place on a task: each one applied alone to a base
retrieval prompt, all scored on the same examples, compared with the base example by example.

    .venv/bin/python benchmarks/components.py --task banking77 --data-dir ../shared/data \
        --split dev --limit 200 --json benchmarks/results/components-banking77.json

The base is the cheapest retrieval seed of a run (the seed instruction, k=4 MiniLM neighbours in
the compact layout, the label list in full); ``--k``, ``--retriever`` and ``--layout`` change
it. The variants, one component each: one demo per label among the neighbours
(``demo_pick=per_label``), the label list narrowed to the neighbours' labels
(``label_scope=neighbours``), the input cut to its first 128 tokens or to 256 tokens of head and
end, and each demo cut to 64 or 160 tokens. A variant whose prompts are byte-identical to the
base's on every example (a cut longer than every text) is reported as "no effect" and not
scored.

Every prompt is scored through promptopt's evaluator on the same label-stratified sample of the
split (seed 0), under one counting rule: a failed call or an answer that is not a label counts
as wrong and stays in the denominator. Calls go through the completion cache in
``.promptopt-cache/`` (the embedded engine answers a request the same way in any order), so a
rerun costs nothing. Per variant: accuracy with its 95% bootstrap interval, prompt tokens per
call (measured), and variant minus base with its 95% paired bootstrap interval. The verdict:
**keep** when the interval's low end is above 0, **drop** when its high end is below 0, **keep
as a cost option** when unresolved but at least 10% cheaper with a point estimate no worse than
-1 point, otherwise **not resolved**.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

from anchors.common import Answer, answer, paired_interval, scored, write_result

from promptopt import compose
from promptopt.cli.app import DEFAULT_MODEL
from promptopt.errors import PromptoptError
from promptopt.evaluate.evaluator import Evaluator, ExampleRecord
from promptopt.llm import local
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.render import seed_instruction
from promptopt.settings import Paths, resolve_paths
from promptopt.task.spec import Example, Task, sample

CHEAPER = 0.9  # a variant at most this share of the base's tokens per call is "cheaper"
NO_WORSE = -0.01  # ... and "no measured loss" when its point estimate is at least this

# name -> the changes that make the variant from the base
VARIANTS: dict[str, dict[str, Any]] = {
    "one demo per label": {"demo_pick": "per_label"},
    "labels of the neighbours only": {"label_scope": "neighbours"},
    "input: head 128 tokens": {"input_tokens": 128, "input_cut": "head"},
    "input: head+end 256 tokens": {"input_tokens": 256, "input_cut": "ends"},
    "demos: 64 tokens each": {"demo_tokens": 64},
    "demos: 160 tokens each": {"demo_tokens": 160},
}


@dataclass(frozen=True)
class Scored:
    name: str
    candidate: Candidate
    records: Mapping[str, ExampleRecord]

    def answers(self, examples: Sequence[Example], labels: Sequence[str]) -> list[Answer]:
        """Every example's outcome under the counting rule (no record: a failed call)."""
        out = []
        for e in examples:
            r = self.records.get(e.id)
            if r is None or r.status == "error":
                out.append(answer(e, None, labels, failed=True))
            else:
                out.append(answer(e, r.prediction, labels))
        return out

    def tokens_per_call(self) -> float:
        ok = [r.prompt_tokens for r in self.records.values() if r.status != "error"]
        return sum(ok) / len(ok) if ok else float("nan")


def main() -> None:
    args = _parser().parse_args()
    try:
        result = measure(args)
    except PromptoptError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print_result(result)
    write_result(args.json, result)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--task", required=True, help="a task name in tasks/ or a path to a task file")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--split", default="dev", help="the split to score on (default dev)")
    parser.add_argument("--limit", type=int, default=200, help="examples (label-stratified sample, seed 0)")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--retriever", default="minilm", choices=("word", "char", "minilm"))
    parser.add_argument("--layout", default="compact", choices=("turns", "compact", "labels"))
    parser.add_argument("--json", type=Path, default=None)
    return parser


def _paths(data_dir: Path | None) -> Paths:
    return resolve_paths(
        data_dir=data_dir,
        models_dir=None,
        cache_dir=Path(".promptopt-cache"),
        use_cache=True,
        env=os.environ,
        cwd=Path.cwd(),
        default_models=local.default_models_dir(),
    )


def base_candidate(task: Task, *, k: int, retriever: str, layout: str) -> Candidate:
    return Candidate(
        instruction=seed_instruction(task),
        demo_strategy="retrieved",
        k=k,
        retriever=cast(Any, retriever),
        demo_layout=cast(Any, layout),
    )


def renders_like(evaluator: Evaluator, a: Candidate, b: Candidate, examples: Sequence[Example]) -> bool:
    """Whether ``a`` and ``b`` send exactly the same messages for every example."""
    return all(
        evaluator.sized_request(a, e.text)[0].messages == evaluator.sized_request(b, e.text)[0].messages
        for e in examples
    )


def verdict(diff: tuple[float, float, float] | None, tokens_share: float) -> str:
    if diff is None:
        return "not resolved"
    point, low, high = diff
    if low > 0:
        return "keep"
    if high < 0:
        return "drop"
    if tokens_share <= CHEAPER and point >= NO_WORSE:
        return "keep as a cost option"
    return "not resolved"


def measure(args: argparse.Namespace) -> dict[str, Any]:
    paths = _paths(args.data_dir)
    task = compose.load(args.task, paths)
    examples = list(sample(task.split(args.split), args.limit, seed=0, stratified=True))
    run = compose.open_eval(
        task, paths, model=args.model, seed=0, temperature=0.0, concurrency=1, env=os.environ
    )
    base = base_candidate(task, k=args.k, retriever=args.retriever, layout=args.layout)
    started = time.perf_counter()
    base_scored = _score(run.evaluator, "base", base, examples)
    rows: list[dict[str, Any]] = [_row(base_scored, examples, task.labels, None, None)]
    for name, changes in VARIANTS.items():
        variant = replace(base, **changes)
        if renders_like(run.evaluator, base, variant, examples):
            rows.append({"name": name, "changes": changes, "verdict": "no effect (renders as the base)"})
            continue
        done = _score(run.evaluator, name, variant, examples)
        share = done.tokens_per_call() / base_scored.tokens_per_call()
        diff = paired_interval(
            [asdict(a) for a in done.answers(examples, task.labels)],
            [asdict(a) for a in base_scored.answers(examples, task.labels)],
            seed=0,
        )
        rows.append(
            {
                **_row(done, examples, task.labels, diff, changes),
                "tokens_share": share,
                "verdict": verdict(diff, share),
            }
        )
    t = run.ledger.totals
    return {
        "task": task.name,
        "model": args.model,
        "split": args.split,
        "n": len(examples),
        "base": base.to_json(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "same_examples": "every prompt is scored on the same label-stratified sample of the split (seed 0)",
        "counting_rule": "a failed call or an answer that is not a label counts as wrong and stays in the denominator",
        "calls": t.calls,
        "cached_calls": t.cached_calls,
        "seconds": time.perf_counter() - started,
        "rows": rows,
    }


def _score(evaluator: Evaluator, name: str, candidate: Candidate, examples: Sequence[Example]) -> Scored:
    print(f"scoring {name} ({candidate.id}) on {len(examples)} examples...", flush=True)
    result = evaluator.evaluate(candidate, examples)
    return Scored(name, candidate, {r.example_id: r for r in result.records})


def _row(
    s: Scored,
    examples: Sequence[Example],
    labels: Sequence[str],
    diff: tuple[float, float, float] | None,
    changes: Mapping[str, Any] | None,
) -> dict[str, Any]:
    answers = s.answers(examples, labels)
    result = scored(s.name, answers, seed=0)
    return {
        "name": s.name,
        "candidate_id": s.candidate.id,
        "changes": dict(changes or {}),
        "accuracy": result.accuracy,
        "ci": list(result.ci or ()),
        "unparseable": result.unparseable,
        "failed": result.failed,
        "prompt_tokens_per_call": s.tokens_per_call(),
        "minus_base": None if diff is None else list(diff),
    }


def print_result(r: Mapping[str, Any]) -> None:
    print(f"\n{r['task']} / {r['model']} / {r['split']} / {r['n']} examples / {r['machine']} / {r['date']}")
    print(f"{r['same_examples']}; counting rule: {r['counting_rule']}")
    for row in r["rows"]:
        if "accuracy" not in row:
            print(f"  {row['name']:<32} {row['verdict']}")
            continue
        acc = f"{row['accuracy']:.1%} [{row['ci'][0]:.1%}, {row['ci'][1]:.1%}]"
        tokens = f"{row['prompt_tokens_per_call']:,.0f} tok/call"
        diff = row["minus_base"]
        versus = "" if diff is None else f"  vs base {diff[0]:+.1%} [{diff[1]:+.1%}, {diff[2]:+.1%}]"
        share = f" ({row['tokens_share']:.0%} of base)" if "tokens_share" in row else ""
        tail = f"  -> {row['verdict'].upper()}" if "verdict" in row else ""
        print(f"  {row['name']:<32} {acc}  {tokens}{share}{versus}{tail}")
    print(f"calls {r['calls']} ({r['cached_calls']} from the cache), {r['seconds']:.0f} s")


if __name__ == "__main__":
    main()
