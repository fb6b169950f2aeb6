"""``optimize``, ``resume``, ``runs`` and ``show``: optimization runs and their folders."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

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
from promptopt.cli.handoffs import auto_finetune_spec
from promptopt.cli.next_steps import data_dir_flag, print_next
from promptopt.cli.progress import CtrlC, OptimizeDisplay
from promptopt.cli.run_file import load_run_file, run_file_text
from promptopt.cli.tables import pct, print_run_summary
from promptopt.errors import PromptoptError, UsageError

# -- optimize / resume / runs / show ------------------------------------------------------------

RunsDirOpt = Annotated[Path, typer.Option("--runs-dir", help="Folder that holds run folders.")]
BudgetCallsOpt = Annotated[
    int | None,
    typer.Option("--budget-calls", help="Stop after N model calls (task and proposer; cache hits are free)."),
]
BudgetTokensOpt = Annotated[
    int | None, typer.Option("--budget-tokens", help="Stop after N prompt+completion tokens of live calls.")
]
BudgetUsdOpt = Annotated[
    float | None, typer.Option("--budget-usd", help="Stop after spending X dollars (LiteLLM prices).")
]
TimeLimitOpt = Annotated[
    float | None,
    typer.Option("--time-limit", help="Stop after S wall seconds (the final test scoring included)."),
]


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
    max_prompt_tokens: int | None = None
    ceiling_points: float = 5.0
    api_base: str | None = None
    router: Path | None = None
    timeout: float | None = None


@app.command("optimize")
def optimize_cmd(
    task: Annotated[
        str | None,
        typer.Argument(
            help="A task name in tasks/ or a path to a task file (or task = ... in the run file)."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A TOML run file whose keys are these options (time-limit = 600, dev-limit = 40, ...);"
            " options on the command line override it. `promptopt show RUN --config` writes one.",
            is_eager=True,
            callback=load_run_file,
        ),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="Task model: any LiteLLM model string, or local/<name>.")
    ] = DEFAULT_MODEL,
    proposer_model: Annotated[
        str | None,
        typer.Option("--proposer-model", help="Model that writes instructions (default: the task model)."),
    ] = None,
    budget_calls: BudgetCallsOpt = None,
    budget_tokens: BudgetTokensOpt = None,
    budget_usd: BudgetUsdOpt = None,
    time_limit: TimeLimitOpt = None,
    seed: Annotated[
        int, typer.Option(help="Seed for slices, sampler, demos and proposals (0 is a seed).")
    ] = 0,
    dev_limit: Annotated[
        int | None, typer.Option(help="Dev examples to search on (stratified sample; 0 = all).")
    ] = 200,
    test_limit: Annotated[
        int | None, typer.Option(help="Test examples for the final scoring (stratified; default all).")
    ] = None,
    max_trials: Annotated[int | None, typer.Option(help="Stop after N sampler trials.")] = None,
    max_prompt_tokens: Annotated[
        int | None,
        typer.Option(
            help="The most prompt tokens per call (mean over dev) the winner may cost: the production price per call. Candidates estimated above it are not scored."
        ),
    ] = None,
    ceiling_points: Annotated[
        float,
        typer.Option(
            help="The largest gain (accuracy points) a declared prompt ceiling may leave undetected: a plateau on a dev slice that cannot resolve it reads 'ceiling not resolved'."
        ),
    ] = 5.0,
    k_choices: Annotated[
        str, typer.Option(help="Demo counts the search may use, comma-separated.")
    ] = "4,10,16",
    retrievers: Annotated[
        str,
        typer.Option(
            help="Retrievers the search may use, the first one for the retrieval seed: minilm, char, word (comma-separated; minilm needs the embed extra)."
        ),
    ] = "minilm,char,word",
    demos: Annotated[
        str,
        typer.Option(
            help="Demo strategies the search may use: none, stratified (one fixed set for every input), retrieved (neighbours per input; the exported prompt then ships the train pool). For example --demos none,stratified."
        ),
    ] = "none,stratified,retrieved",
    data_dir: DataDirOpt = None,
    models_dir: ModelsDirOpt = None,
    cache_dir: CacheDirOpt = None,
    no_cache: NoCacheOpt = False,
    run_dir: Annotated[
        Path | None, typer.Option(help="Run folder (default: runs/<time>-<task>-<id>).")
    ] = None,
    runs_dir: RunsDirOpt = Path("runs"),
    api_base: ApiBaseOpt = None,
    router: RouterOpt = None,
    timeout: TimeoutOpt = None,
) -> None:
    """Search prompt decompositions on dev, stop at a budget or the plateau, score on test."""
    if task is None:
        run_guarded(_no_task)
        return
    budget = {"calls": budget_calls, "tokens": budget_tokens, "usd": budget_usd, "seconds": time_limit}
    args = OptimizeArgs(
        task,
        model,
        proposer_model,
        budget,
        seed,
        dev_limit or None,
        test_limit,
        max_trials,
        k_choices,
        retrievers,
        demos,
        data_dir,
        models_dir,
        cache_dir,
        not no_cache,
        run_dir,
        runs_dir,
        max_prompt_tokens,
        ceiling_points,
        api_base,
        router,
        timeout,
    )
    run_guarded(lambda: _optimize(args))


def _no_task() -> None:
    raise UsageError(
        "optimize needs a task (seen: none)",
        hint='give it as the first argument (a name in tasks/ or a task file), or task = "..." in the --config file',
    )


def _parse_k_choices(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise UsageError(
            f"--k-choices must be positive integers separated by commas (seen: {text!r})",
            hint="for example --k-choices 4,8,12",
        )
    return values


def _parse_choices(text: str, option: str, allowed: tuple[str, ...], example: str) -> tuple[str, ...]:
    """A comma-separated subset of ``allowed``, in the order given, without repeats."""
    values = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not values or any(v not in allowed for v in values):
        raise UsageError(
            f"{option} takes {', '.join(allowed[:-1])} and {allowed[-1]}, comma-separated (seen: {text!r})",
            hint=f"for example {option} {example}",
        )
    return values


def _parse_retrievers(text: str) -> tuple[str, ...]:
    return _parse_choices(text, "--retrievers", ("word", "char", "minilm"), "word,char")


def _parse_demos(text: str) -> tuple[str, ...]:
    return _parse_choices(
        text,
        "--demos",
        ("none", "stratified", "retrieved"),
        "none,stratified (a prompt without a retrieval index)",
    )


def _check_limits(args: OptimizeArgs) -> None:
    for name, value in (
        ("--test-limit", args.test_limit),
        ("--max-trials", args.max_trials),
        ("--max-prompt-tokens", args.max_prompt_tokens),
    ):
        if value is not None and value < 1:
            raise UsageError(
                f"{name} must be at least 1 (seen: {value})", hint=f"drop {name} to use the default"
            )
    if not 0 < args.ceiling_points < 100:
        raise UsageError(
            f"--ceiling-points must be between 0 and 100 accuracy points (seen: {args.ceiling_points:g})",
            hint="for example --ceiling-points 5 (the default)",
        )
    if args.dev_limit is not None and args.dev_limit < 2:
        raise UsageError(
            f"--dev-limit must be at least 2 (seen: {args.dev_limit})", hint="use 0 for the whole dev split"
        )


def _optimize(args: OptimizeArgs) -> None:
    from promptopt import compose
    from promptopt.llm.budget import Budget
    from promptopt.run.store import RunStore, new_run_dir
    from promptopt.search.space import SearchSpace

    _check_limits(args)
    settings = compose.OptimizeSettings(
        task=args.task,
        model=args.model,
        proposer_model=args.proposer_model,
        seed=args.seed,
        budget=Budget(**args.budget),
        dev_limit=args.dev_limit,
        test_limit=args.test_limit,
        max_trials=args.max_trials,
        max_prompt_tokens=args.max_prompt_tokens,
        ceiling_resolution=args.ceiling_points / 100,
        api_base=args.api_base,
        router=str(args.router.resolve()) if args.router else None,
        timeout_s=args.timeout,
        space=compose.available_retrievers(
            SearchSpace(
                k_choices=_parse_k_choices(args.k_choices),
                retrievers=_parse_retrievers(args.retrievers),
                demo_strategies=_parse_demos(args.demos),
            )
        ),
    )
    paths = cli_paths(args.data_dir, args.models_dir, args.cache_dir, args.use_cache)
    with err.status("loading the task…"):
        task = compose.load(args.task, paths)
    settings = replace(settings, space=compose.fit_space(settings.space, task))
    compose.check_prompt_cap(task, settings)
    with err.status(f"checking model {settings.model}…"):
        gateway = compose.make_gateway(paths, settings.api_bases(), settings.router, settings.timeout_s)
        compose.check_models(settings, gateway, os.environ)
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
    cache_dir: CacheDirOpt = None,
    no_cache: NoCacheOpt = False,
    api_base: Annotated[
        str | None,
        typer.Option(
            "--api-base", help="The model's server, when it moved (default: the run's own --api-base)."
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Seconds one model call may take (default: the run's own --timeout)."),
    ] = None,
) -> None:
    """Continue a run where it stopped: after an interruption, or after a budget stop with a
    larger budget (the summary is written again at the new end)."""
    budget = {"calls": budget_calls, "tokens": budget_tokens, "usd": budget_usd, "seconds": time_limit}
    moved = {"api_base": api_base, "timeout_s": timeout}
    run_guarded(lambda: _resume(run, budget, data_dir, models_dir, cache_dir, not no_cache, moved))


def _resume(
    run: Path,
    budget: dict[str, Any],
    data_dir: Path | None,
    models_dir: Path | None,
    cache_dir: Path | None,
    use_cache: bool,
    moved: dict[str, Any] | None = None,
) -> None:
    from promptopt import compose
    from promptopt.llm.budget import Budget
    from promptopt.llm.gateway import check_timeout
    from promptopt.run.reader import check_same_data, open_store

    store = open_store(run)
    info = store.read_json("run.json")
    stored = settings = compose.OptimizeSettings.from_json(info["settings"])
    raised = {k: v for k, v in budget.items() if v is not None}
    if raised:
        settings = replace(settings, budget=Budget(**{**settings.budget.to_json(), **raised}))
    changed = {k: v for k, v in (moved or {}).items() if v is not None}  # where and how to call
    check_timeout(changed.get("timeout_s"))  # before run.json is written
    if changed:
        settings = replace(settings, **changed)
    compose.check_resumable(store, stored.budget, settings.budget)
    if raised or changed:
        store.write_json("run.json", {**info, "settings": settings.to_json()})
    paths = cli_paths(data_dir, models_dir, cache_dir, use_cache)
    with err.status("loading the task…"):
        task = compose.load(info.get("task_file") or info["task"], paths)
    check_same_data(task, info.get("data_hashes") or {}, run_name=run.name)
    _run_optimizer(task, settings, paths, store)


def _run_optimizer(task: Any, settings: Any, paths: Any, store: Any) -> None:
    from promptopt import compose

    display = OptimizeDisplay(err, settings.budget)
    ctrl_c = CtrlC()
    with err.status(f"checking model {settings.model}…"):
        run = compose.open_optimize(task, settings, paths, store, env=os.environ, observers=[display, ctrl_c])
    if run.estimate.warning:
        err.print(f"[yellow]warning:[/] {run.estimate.warning}", highlight=False)
    if run.seed_text:
        err.print(run.seed_text, highlight=False)
    display.pace = run.pace
    out.print(f"run folder: {store.path}")
    if store.has("summary.json"):  # a budget stop, resumed with more: the new end writes another
        kept = store.set_aside("summary.json")
        err.print(f"continuing after the budget stop; the earlier summary is kept as {kept.name}")
    try:
        with ctrl_c, display:
            summary = run.optimizer.run()
    except KeyboardInterrupt:
        err.print(
            f"[yellow]interrupted[/]: everything done so far is in {store.path}; "
            f"continue with: promptopt resume {store.path}"
        )
        raise typer.Exit(130) from None
    print_run_summary(summary, store.path)
    if summary.plateau_reached:
        auto_finetune_spec(task, store.path, paths)
    print_next("optimize", run=str(store.path), task=settings.task, data_dir=data_dir_flag(paths.data_dir))


@app.command("runs")
def runs_cmd(
    runs_dir: Annotated[Path, typer.Argument(help="Folder that holds run folders.")] = Path("runs"),
) -> None:
    """List runs: task, model, state, best test accuracy, stop reason."""
    run_guarded(lambda: _runs(runs_dir))


def _runs(runs_dir: Path) -> None:
    from promptopt.run.reader import open_store, read_info, read_summary

    table = Table(title=f"runs in {runs_dir}")
    for column in ("run", "task", "model", "state", "best test", "baseline test", "stop"):
        table.add_column(column)
    folders = sorted(p for p in runs_dir.iterdir() if (p / "run.json").is_file()) if runs_dir.is_dir() else []
    for folder in folders:
        try:
            store = open_store(folder)
            info, summary = read_info(store), read_summary(store)
        except PromptoptError as exc:
            table.add_row(folder.name, "", "", f"[red]{exc.what}[/]", "", "", "")
            continue
        state = "finished" if summary else "unfinished (promptopt resume)"
        table.add_row(
            folder.name,
            info.task,
            info.model,
            state,
            pct(summary.best_test_accuracy) if summary else "",
            pct(summary.baseline_test_accuracy) if summary else "",
            summary.stop_reason if summary else "",
        )
    out.print(table)
    if not folders:
        out.print(f"no runs in {runs_dir} (start one with: promptopt optimize TASK)")


@app.command("show")
def show_cmd(
    run: Annotated[Path, typer.Argument(help="A run folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json as is.")] = False,
    as_config: Annotated[
        bool, typer.Option("--config", help="Print the run file that reproduces the run (optimize --config).")
    ] = False,
) -> None:
    """Summarize one run: result, best prompt, spend, plateau evidence."""
    run_guarded(lambda: _show(run, as_json, as_config))


def _show(run: Path, as_json: bool, as_config: bool = False) -> None:
    from promptopt.run.events import Evaluated
    from promptopt.run.history import History
    from promptopt.run.reader import open_store, read_summary

    store = open_store(run)
    if as_config:
        typer.echo(run_file_text(store.read_json("run.json")["settings"], run=run), nl=False)
        return
    if not store.has("summary.json"):
        done = History.load(store).of(Evaluated)
        best = max(done, key=lambda e: e.accuracy if not e.raced_out else -1, default=None)
        out.print(
            f"run {run.name} is unfinished: {len(done)} candidates evaluated"
            + (f", best dev {best.accuracy:.1%} ({best.candidate})" if best else "")
            + f". Continue with: promptopt resume {run}"
        )
        return
    if as_json:
        out.print_json(json.dumps(store.read_json("summary.json")))
        return
    summary = read_summary(store)
    assert summary is not None
    print_run_summary(summary, run)
    comp = summary.best_candidate.components()
    out.print(
        "[bold]best prompt[/]: "
        + ", ".join(
            f"{k}={v}" for k, v in comp.items() if k not in ("instruction", "label_descriptions", "demo_ids")
        )
    )
    out.print(f"[bold]instruction[/]: {comp['instruction']}", highlight=False)
