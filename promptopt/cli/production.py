"""``predict`` and ``verify``: an exported artifact in use."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from promptopt.cli.app import (
    CacheOnlyOpt,
    ConcurrencyOpt,
    DataDirOpt,
    ModelsDirOpt,
    RouterOpt,
    TimeoutOpt,
    app,
    cli_paths,
    err,
    out,
    run_guarded,
)
from promptopt.cli.next_steps import print_next
from promptopt.cli.progress import run_with_progress
from promptopt.cli.tables import print_verify
from promptopt.errors import UsageError

ArtifactApiBaseOpt = Annotated[
    str | None,
    typer.Option(
        "--api-base",
        help="The model's server, overriding the one the artifact records (a self-hosted model that moved).",
    ),
]


@dataclass(frozen=True)
class PredictArgs:
    artifact: Path
    input_file: Path
    out_file: Path | None
    text_field: str | None
    id_field: str
    force: bool
    models_dir: Path | None
    cache_dir: Path | None
    concurrency: int | None
    api_base: str | None = None
    router: Path | None = None
    timeout: float | None = None


@app.command("predict")
def predict_cmd(
    artifact: Annotated[Path, typer.Argument(help="An artifact written by promptopt export (prompt.json).")],
    input_file: Annotated[Path, typer.Option("--input", "-i", help="Inputs: JSONL (or a JSON list) or CSV.")],
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Write the JSONL predictions here (default: standard output)."),
    ] = None,
    text_field: Annotated[
        str | None,
        typer.Option(
            help="Field (CSV column) that holds the text (default: text, or the task's input fields"
            " written by its layout when the task reads several)."
        ),
    ] = None,
    id_field: Annotated[
        str, typer.Option(help="Field copied to the output as the input's id, when present.")
    ] = "id",
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    models_dir: ModelsDirOpt = None,
    cache_dir: CacheOnlyOpt = None,
    concurrency: ConcurrencyOpt = None,
    api_base: ArtifactApiBaseOpt = None,
    router: RouterOpt = None,
    timeout: TimeoutOpt = None,
) -> None:
    """Classify a file of inputs with an exported artifact (JSONL out: row, id, prediction, status)."""
    args = PredictArgs(
        artifact,
        input_file,
        out_file,
        text_field,
        id_field,
        force,
        models_dir,
        cache_dir,
        concurrency,
        api_base,
        router,
        timeout,
    )
    run_guarded(lambda: _predict(args))


def _load_runtime(
    artifact: Path,
    models_dir: Path | None,
    cache_dir: Path | None,
    concurrency: int | None,
    api_base: str | None = None,
    router: Path | None = None,
    timeout: float | None = None,
) -> Any:
    from promptopt.production import runtime

    if concurrency is not None and concurrency < 1:
        raise UsageError(
            f"--concurrency must be at least 1 (seen: {concurrency})", hint="use 1 for serial calls"
        )
    paths = cli_paths(None, models_dir, cache_dir, use_cache=cache_dir is not None)
    loaded = runtime.load(
        artifact,
        models_dir=paths.models_dir,
        cache_file=paths.cache_file,
        concurrency=concurrency,
        api_base=api_base,
        router=router,
        timeout_s=timeout,
    )
    with err.status(f"checking model {loaded.model}…"):
        loaded.check(os.environ)
    return loaded


def _runtime_for(args: PredictArgs | VerifyArgs) -> Any:
    """The runtime of a predict or verify command, checked (see :func:`_load_runtime`)."""
    return _load_runtime(
        args.artifact,
        args.models_dir,
        args.cache_dir,
        args.concurrency,
        args.api_base,
        args.router,
        args.timeout,
    )


def _read_inputs(args: PredictArgs) -> Any:
    """The inputs, read before any model is loaded: a bad input file fails at once."""
    from promptopt.production import predict_io
    from promptopt.production.artifact import read_artifact

    if args.text_field is not None:
        return predict_io.read_inputs(args.input_file, text_field=args.text_field, id_field=args.id_field)
    artifact = read_artifact(args.artifact)
    several = len(artifact.input_fields) > 1 or artifact.layout is not None
    return predict_io.read_inputs(
        args.input_file,
        id_field=args.id_field,
        fields=artifact.input_fields if several else (),
        layout=artifact.layout,
    )


def _predict(args: PredictArgs) -> None:
    from promptopt.production import predict_io

    if args.out_file is not None and args.out_file.exists() and not args.force:
        raise UsageError(
            f"{args.out_file} already exists", hint="pass --force to overwrite it, or another --out"
        )
    inputs = _read_inputs(args)
    loaded = _runtime_for(args)
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
    err.print(
        f"{len(rows)} inputs: {counts['ok']} labelled, {counts['invalid']} invalid answers, {counts['error']} "
        f"failed calls; {t.calls} calls, {t.prompt_tokens + t.completion_tokens} tokens",
        highlight=False,
    )


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
    api_base: str | None = None
    router: Path | None = None
    timeout: float | None = None


@app.command("verify")
def verify_cmd(
    artifact: Annotated[Path, typer.Argument(help="An artifact written by promptopt export (prompt.json).")],
    task: Annotated[
        str, typer.Argument(help="The task the run optimized (name in tasks/ or path to a task file).")
    ],
    split: Annotated[
        str, typer.Option(help="Split to rescore; test and dev use exactly the run's example ids.")
    ] = "test",
    limit: Annotated[int | None, typer.Option(help="Rescore a seeded sample of N of those examples.")] = None,
    data_dir: DataDirOpt = None,
    models_dir: ModelsDirOpt = None,
    cache_dir: CacheOnlyOpt = None,
    concurrency: ConcurrencyOpt = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON here.")] = None,
    api_base: ArtifactApiBaseOpt = None,
    router: RouterOpt = None,
    timeout: TimeoutOpt = None,
) -> None:
    """Rescore through an artifact and compare with the run, example by example (exit 1 on any mismatch)."""
    args = VerifyArgs(
        artifact,
        task,
        split,
        limit,
        data_dir,
        models_dir,
        cache_dir,
        concurrency,
        json_out,
        api_base,
        router,
        timeout,
    )
    run_guarded(lambda: _verify(args))


def _verify(args: VerifyArgs) -> None:

    from promptopt.handoff.export import verify
    from promptopt.run.store import atomic_write
    from promptopt.task.load import load_task

    if args.limit is not None and args.limit < 1:
        raise UsageError(
            f"--limit must be at least 1 (seen: {args.limit})", hint="drop --limit to rescore every example"
        )
    paths = cli_paths(args.data_dir, args.models_dir)
    loaded = _runtime_for(args)
    with err.status("loading the task…"):
        task = load_task(args.task, search_dirs=paths.task_dirs, data_dir=paths.data_dir)
    plan = verify.plan(loaded.artifact, task, split=args.split, limit=args.limit)
    result = run_with_progress(loaded, loaded.candidate, plan.examples, task.name, args.split)
    report = verify.compare(plan, result, loaded.artifact)
    print_verify(report)
    if args.json_out:
        atomic_write(args.json_out, json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
        out.print(f"wrote {args.json_out}", highlight=False)
    if not report.ok:
        raise verify.VerificationFailed(
            f"{len(report.mismatches)} of {report.compared} predictions differ from the ones the run recorded",
            hint="the model is not deterministic here, or it, its parameters or the prompt changed since the run",
        )
    print_next("verify", artifact=str(args.artifact))
