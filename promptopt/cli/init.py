"""``init``: a task file from one labelled data file (CSV, JSONL, Parquet) or a hub dataset.

Everything is checked before anything is written (the columns, the classes, the split, and the
written task file loading as a task); on any error nothing is left behind.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from promptopt.cli.app import DataDirOpt, app, cli_paths, err, out, run_guarded
from promptopt.cli.next_steps import data_dir_flag, print_next
from promptopt.errors import TaskError, UsageError

_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_DATA_SUFFIXES = (".csv", ".jsonl", ".json", ".parquet")

Ask = Callable[[str, str], str]  # (question, default) -> answer


@dataclass(frozen=True)
class InitArgs:
    source: str
    inputs: tuple[str, ...]
    label: str | None
    layout: str | None
    name: str | None
    dev: str
    test: str
    seed: int
    out_file: Path | None
    write_splits: Path | None
    fmt: str | None
    force: bool
    data_dir: Path | None
    run_file: Path | None = None


@app.command("init")
def init_cmd(
    source: Annotated[
        str,
        typer.Argument(help="A labelled data file (.csv, .jsonl, .json, .parquet) or a hub dataset name."),
    ],
    inputs: Annotated[
        list[str] | None,
        typer.Option("--input", help="Input column; repeat for several (e.g. --input subject --input body)."),
    ] = None,
    label: Annotated[str | None, typer.Option(help="The column that holds the class.")] = None,
    layout: Annotated[
        str | None,
        typer.Option(help=r"How several input columns make one text, e.g. 'Subject: {subject}\n\n{body}'."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Task name (default: from the file name).")] = None,
    dev: Annotated[
        str, typer.Option(help="Dev split: a fraction (0.2) or a count of examples (200).")
    ] = "0.2",
    test: Annotated[
        str, typer.Option(help="Test split: a fraction (0.2) or a count of examples (200).")
    ] = "0.2",
    seed: Annotated[int, typer.Option(help="Seed of the stratified split.")] = 0,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Where to write the task file (default: tasks/<name>.toml).")
    ] = None,
    write_splits: Annotated[
        Path | None,
        typer.Option(
            help="Write train/dev/test JSONL files into this folder (default: keep one file and a split spec)."
        ),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="json, csv or parquet when the extension does not say.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing task file and run file.")
    ] = False,
    data_dir: DataDirOpt = None,
    run_file: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the starter run file for optimize --config (default: <name>.run.toml)."
        ),
    ] = None,
) -> None:
    """Write a task file from one labelled data file: pick the fields, split it, survey the data."""
    args = InitArgs(
        source, tuple(inputs or ()), label, layout, name, dev, test, seed, out_file, write_splits, fmt, force,
        data_dir, run_file,
    )  # fmt: skip
    ask: Ask | None = _ask if sys.stdin.isatty() and sys.stdout.isatty() else None
    run_guarded(lambda: _init(args, ask))


def _ask(question: str, default: str) -> str:
    return str(typer.prompt(question, default=default))


def _init(args: InitArgs, ask: Ask | None) -> None:
    from promptopt.task import draft as drafting

    paths = cli_paths(args.data_dir)
    split = _split_spec(args)
    path, hub_rows = _locate(args.source, paths.data_dir)
    source = (
        drafting.inspect_source(path, args.fmt) if hub_rows is None else drafting.source_of(path, hub_rows)
    )
    _print_columns(source)
    inputs, label, layout = _choose(source, args, ask)
    name = args.name or drafting.task_name(path)
    target = args.out_file or Path("tasks") / f"{name}.toml"
    if target.exists() and not args.force:
        raise UsageError(
            f"{target} already exists", hint="pass --force to overwrite it, or --out another file"
        )
    ref = _reference(path, paths.data_dir)
    draft = drafting.draft_task(
        source, name=name, inputs=inputs, label=label, layout=layout, split=split, source_ref=ref
    )
    written = _write_all(draft, source, target, hub_rows, args.write_splits, paths.data_dir)
    run_file = _write_run_file(args, name, str(target), len(draft.plan.dev))
    _print_survey(draft, [*written, *([run_file] if run_file else [])])
    steps = {"task": str(target), "run_file": str(args.run_file or Path(f"{name}.run.toml"))}
    print_next("init", data_dir=data_dir_flag(paths.data_dir), **steps)


def _write_run_file(args: InitArgs, name: str, task: str, dev_size: int) -> Path | None:
    """A starter run file for ``optimize --config``; an existing one is kept (unless --force)."""
    from promptopt.cli.app import DEFAULT_MODEL
    from promptopt.cli.run_file import starter_run_file
    from promptopt.run.store import atomic_write

    path = args.run_file or Path(f"{name}.run.toml")
    if path.exists() and not args.force:
        err.print(f"kept the existing run file {path} (--force writes a new one)", highlight=False)
        return None
    atomic_write(path, starter_run_file(task, model=DEFAULT_MODEL, dev_size=dev_size))
    return path


def _split_spec(args: InitArgs) -> Any:
    from promptopt.task.spec import parse_task_mapping

    sizes = {k: _number(v, f"--{k}") for k, v in (("dev", args.dev), ("test", args.test))}
    mapping = {"name": "x", "fields": {}, "data": {"source": "x", "split": {**sizes, "seed": args.seed}}}
    try:
        split = parse_task_mapping(mapping).data.split
    except TaskError as exc:  # about the split: name the flags instead of the file keys
        raise UsageError(f"--dev/--test: {exc.what}", hint="e.g. --dev 0.2 --test 0.2") from exc
    assert split is not None
    return split


def _number(text: str, flag: str) -> float | int:
    try:
        return int(text) if re.fullmatch(r"\d+", text.strip()) else float(text)
    except ValueError as exc:
        raise UsageError(
            f"{flag} must be a fraction or a count (seen: {text!r})", hint=f"e.g. {flag} 0.2"
        ) from exc


def _locate(source: str, data_dir: Path) -> tuple[Path, list[dict[str, Any]] | None]:
    """The data file, or for a hub name the rows fetched and the file they will be kept in."""
    path = Path(source).expanduser()
    if path.exists() or path.suffix.lower() in _DATA_SUFFIXES or not _HUB_NAME.match(source):
        return path, None
    from promptopt.task.load import fetch_hub

    with err.status(f"fetching {source} from the Hugging Face hub…"):
        rows = fetch_hub(source, env=os.environ)
    return data_dir / source.replace("/", "__") / "all.jsonl", rows


def _choose(source: Any, args: InitArgs, ask: Ask | None) -> tuple[tuple[str, ...], str, str | None]:
    inputs, label = args.inputs or source.guessed_inputs, args.label or source.guessed_label
    if ask is not None and not args.inputs:
        inputs = tuple(
            c.strip()
            for c in ask("input column(s), comma-separated", ",".join(inputs)).split(",")
            if c.strip()
        )
    if ask is not None and not args.label:
        label = ask("label column", label)
    layout = None if args.layout is None else args.layout.replace("\\n", "\n")
    if ask is not None and layout is None and len(inputs) > 1:
        default = "\n\n".join(f"{f.capitalize()}: {{{f}}}" for f in inputs)
        layout = ask("layout (\\n for a new line)", default.replace("\n", "\\n")).replace("\\n", "\n")
    err.print(f"input: {', '.join(inputs)}; label: {label}" + ("" if args.inputs and args.label else
              "  (guessed where not given; choose with --input/--label)"), highlight=False)  # fmt: skip
    return tuple(inputs), label, layout


def _reference(path: Path, data_dir: Path) -> str:
    """``path`` as the task file names it: relative to the data directory when under it."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(data_dir.resolve()))
    except ValueError:
        return str(resolved)


def _write_all(
    draft: Any,
    source: Any,
    target: Path,
    hub_rows: Sequence[Any] | None,
    splits_dir: Path | None,
    data_dir: Path,
) -> list[Path]:
    """Write the data files and the task file; on any error remove what this call wrote."""
    from promptopt.compose import write_jsonl

    written: list[Path] = []
    try:
        if hub_rows is not None:
            _new_file(source.path, written, lambda p: write_jsonl(p, hub_rows))
        toml = draft.toml
        if splits_dir is not None:
            toml = _write_splits(draft, source, splits_dir, data_dir, written)
        _new_file(target, written, lambda p: _checked_task(p, toml, data_dir), overwrite=True)
    except BaseException:
        for path in reversed(written):
            path.unlink(missing_ok=True)
        raise
    return written


def _write_splits(draft: Any, source: Any, folder: Path, data_dir: Path, written: list[Path]) -> str:
    from promptopt.task.draft import split_rows, written_splits_toml
    from promptopt.task.spec import SPLITS

    for split in SPLITS:
        rows: list[dict[str, Any]] = split_rows(draft, source, split)
        _new_file(folder / f"{split}.jsonl", written, partial(_write_rows, rows=rows))
    return str(written_splits_toml(draft, _reference(folder, data_dir)))


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    from promptopt.compose import write_jsonl

    write_jsonl(path, rows)


def _new_file(
    path: Path, written: list[Path], write: Callable[[Path], None], *, overwrite: bool = False
) -> None:
    if path.exists() and not overwrite:
        raise UsageError(f"{path} already exists", hint="move it away or choose another folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path)
    written.append(path)


def _checked_task(target: Path, toml: str, data_dir: Path) -> None:
    """Write the task file only once it loads as a task (parsed, read, split, checked)."""
    from promptopt.task.load import load_task_data
    from promptopt.task.spec import parse_task_file

    with tempfile.TemporaryDirectory(prefix="promptopt-init-") as tmp:
        trial = Path(tmp) / target.name
        trial.write_text(toml, encoding="utf-8")
        load_task_data(parse_task_file(trial), data_dir=data_dir)
        shutil.copyfile(trial, target.with_suffix(".toml.tmp"))
    target.with_suffix(".toml.tmp").replace(target)


def _print_columns(source: Any) -> None:
    table = Table(title=f"{source.path.name}: {len(source.rows)} rows")
    for column in ("column", "distinct", "example"):
        table.add_column(column)
    for column in source.columns:
        values = [str(r.get(column)) for r in source.rows]
        table.add_row(column, str(len(set(values))), values[0][:60].replace("\n", " "))
    out.print(table)


def _print_survey(draft: Any, written: list[Path]) -> None:
    s = draft.survey
    plan = draft.plan
    out.print(
        f"{s.rows} examples, {len(s.classes)} classes; split train {len(plan.train)} / dev {len(plan.dev)}"
        f" / test {len(plan.test)} (stratified, {draft.spec.data.split.describe() if draft.spec.data.split else ''})",
        highlight=False,
    )
    out.print(
        f"text length in characters: median {s.length_chars[0]}, 90th percentile {s.length_chars[1]},"
        f" longest {s.length_chars[2]}; {s.duplicates} repeated texts, {s.conflicts} texts with conflicting labels",
        highlight=False,
    )
    sizes = ", ".join(f"{label} {n}" for label, n in s.classes[:12])
    more = f", … ({len(s.classes) - 12} more)" if len(s.classes) > 12 else ""
    out.print(f"classes: {sizes}{more}", highlight=False)
    for warning in s.warnings:
        out.print(f"[yellow]warning:[/] {warning}", highlight=False)
    for path in written:
        out.print(f"wrote {path}", highlight=False)
