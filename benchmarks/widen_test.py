"""Score a finished run's best prompt and baseline on more test examples, in a copy of the run
(issue 14's calibration table needs every shared task on >= 300 test examples; a run may have
scored its winner on fewer).

The copy (``--out``) gets the run's files unchanged, then the answers of the best prompt and of
the zero-shot baseline on the test examples the run did not score, made now with the run's
model, seed and temperature through the same evaluator as ``promptopt eval`` (every call live,
no completion cache). Its run.json
lists the widened test ids (the run's own first, in run order) and records where the new rows
came from (``widened_test``); its summary's test figures are recomputed by the summary's own
rule over all the rows. Nothing in the original run folder is written.

The rows are appended as they are scored, ten at a time, so an interrupted widening continues
where it stopped when the same command is run again::

    python benchmarks/widen_test.py benchmarks/reference-runs/20261205-081152-cfpb_complaints-0b5e35e7 \\
        --data-dir ../shared/data --out /tmp/cfpb-300

then ``promptopt finetune-spec /tmp/cfpb-300 --data-dir ../shared/data --small-model`` compares
the prompt, the probe and the small fine-tune on all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from anchors.common import bench_paths

from promptopt import compose
from promptopt.errors import PromptoptError
from promptopt.prompt.candidate import Candidate
from promptopt.run.history import History
from promptopt.run.reader import FinishedRun, load_run_task, open_finished
from promptopt.search.finish import test_scores
from promptopt.settings import Paths
from promptopt.task.spec import Example, Task, sample

CHUNK = 10


def main() -> None:
    args = _parser().parse_args()
    paths = bench_paths(args.data_dir)
    try:
        widen(args.run, args.out, args.test_limit, paths)
    except PromptoptError as exc:
        raise SystemExit(f"error: {exc}") from exc


def widen(source: Path, out: Path, limit: int | None, paths: Paths) -> None:
    task = load_run_task(open_finished(source), paths)  # the run and its data, before any copy
    if limit is not None and limit > len(task.split("test")):
        raise SystemExit(
            f"error: --test-limit {limit} is more than the {len(task.split('test'))} examples of the "
            f"test split of {task.name!r}; pass at most that, or leave it out for the whole split"
        )
    copy = _open_copy(source, out)
    added = extra_examples(task, copy.info.test_ids, limit, seed=copy.info.seed)
    by_id = {e.id: e for e in task.split("test")}
    wanted = [*(by_id[i] for i in copy.info.test_ids), *added]
    history = History.load(copy.store)
    for role, candidate in (("best prompt", copy.best), ("baseline", copy.baseline)):
        if candidate is None:
            continue
        done = {r.example_id for r in history.rows(candidate.id, "test")}
        todo = [e for e in wanted if e.id not in done]
        print(
            f"{copy.path}: {role} {candidate.id}: {len(wanted)} test examples wanted, "
            f"{len(wanted) - len(todo)} already scored, {len(todo)} to score now",
            flush=True,
        )
        _score(copy, task, candidate, todo, paths)
    _rewrite(copy, source, added)


def extra_examples(task: Task, have: Sequence[str], limit: int | None, *, seed: int) -> list[Example]:
    """The test examples to add: the split's others in the run's own sampling order
    (stratified, seeded), up to ``limit`` test examples in all (None: the whole split)."""
    everything = sample(task.split("test"), None, seed=seed, stratified=True)
    others = [e for e in everything if e.id not in set(have)]
    room = len(others) if limit is None else max(0, limit - len(have))
    return others[:room]


def _open_copy(source: Path, out: Path) -> FinishedRun:
    """The copy to widen: made now from ``source``, or continued if it is one of ``source``."""
    if out.exists():
        info = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {}
        if info.get("widened_test", {}).get("from_run") != str(source):
            raise SystemExit(
                f"error: {out} exists and is not a widening of {source}; pass a new --out folder"
            )
        print(f"continuing the widening in {out}", flush=True)
    else:
        shutil.copytree(source, out)
        _mark(out, source, added=[], finished=False)
    return open_finished(out)


def _score(
    copy: FinishedRun, task: Task, candidate: Candidate, todo: Sequence[Example], paths: Paths
) -> None:
    if not todo:
        return
    run = compose.open_eval(
        task,
        paths,
        model=copy.info.model,
        seed=copy.info.seed,
        temperature=copy.info.temperature,
        concurrency=1,
        env=os.environ,
        api_base=copy.info.api_base,
        timeout_s=copy.info.timeout_s,
    )
    history = History.load(copy.store)
    started = time.perf_counter()
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start : start + CHUNK]
        for record in run.evaluator.evaluate(candidate, chunk).records:
            history.add_record(candidate.id, "test", record)
        done = start + len(chunk)
        per = (time.perf_counter() - started) / done
        print(
            f"  {done}/{len(todo)} scored, {run.ledger.totals.prompt_tokens:,} prompt tokens, "
            f"~{per * (len(todo) - done) / 60:.0f} min left",
            flush=True,
        )


def _rewrite(copy: FinishedRun, source: Path, added: Sequence[Example]) -> None:
    """run.json lists the widened ids; the summary's test figures (best and baseline) cover them."""
    ids = [*copy.info.test_ids, *(e.id for e in added if e.id not in set(copy.info.test_ids))]
    info = copy.store.read_json("run.json")
    original = info.get("widened_test", {}).get("original_test_ids") or info["test_ids"]
    info["test_ids"] = ids
    compose.write_json(copy.path / "run.json", info)
    _mark(copy.path, source, added=[i for i in ids if i not in set(original)], finished=True)
    history = History.load(copy.store)
    summary = copy.store.read_json("summary.json")
    before = json.loads((source / "summary.json").read_text())
    summary["test_n"] = len(ids)
    for key, candidate in (("best", copy.best), ("baseline", copy.baseline)):
        if candidate is None:
            continue
        scores = test_scores(history, candidate, seed=copy.info.seed)
        summary |= {
            f"{key}_test_accuracy": scores.accuracy,
            f"{key}_test_ci": list(scores.ci) if scores.ci else None,
            f"{key}_test_macro_f1": scores.macro_f1,
            f"{key}_test_n": scores.n,
        }
        print(f"{key} on {scores.n} test examples: {_pct(scores.accuracy)} {_interval(scores.ci)}")
    compose.write_json(copy.path / "summary.json", summary)
    print(
        f"(the run's own best prompt: {_pct(before.get('best_test_accuracy'))} on {before.get('best_test_n')})"
    )


def _interval(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"[{_pct(ci[0])}, {_pct(ci[1])}]"


def _mark(out: Path, source: Path, *, added: Sequence[str], finished: bool) -> None:
    path = out / "run.json"
    info: dict[str, Any] = json.loads(path.read_text())
    mark = info.get("widened_test") or {
        "from_run": str(source),
        "original_test_ids": list(info["test_ids"]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "how": "benchmarks/widen_test.py: the best prompt scored after the run on the test examples "
        "it had not scored, same model, seed, temperature and evaluator; calls live",
    }
    mark |= {"added_test_ids": list(added), "finished": finished}
    info["widened_test"] = mark
    info["run_id"] = out.name  # the copy is a run of its own name (the source is in the mark)
    compose.write_json(path, info)


def _pct(x: float | None) -> str:
    return "?" if x is None else f"{100 * x:.1f}%"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="a finished run folder (read only)")
    parser.add_argument("--out", type=Path, required=True, help="the widened copy (made, or continued)")
    parser.add_argument(
        "--test-limit", type=int, default=None, help="test examples in all (default: the whole split)"
    )
    parser.add_argument("--data-dir", type=Path, default=None)
    return parser


if __name__ == "__main__":
    sys.exit(main())
