"""A task file drafted from one labelled data file (``promptopt init``).

:func:`inspect_source` reads the file once and guesses the input and label columns;
:func:`draft_task` checks the choice (columns exist, two classes or more, every class big enough
for the split), surveys the data and renders the task file's TOML. Nothing here writes: the
CLI writes the text it gets, after checking that it loads.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptopt.errors import DataError, UsageError
from promptopt.task.load import read_table
from promptopt.task.spec import SPLITS, SplitSpec, TaskSpec, layout_fields, parse_task_mapping
from promptopt.task.split import SplitPlan, plan_split
from promptopt.task.survey import Survey, survey

_LABEL_NAMES = ("label", "labels", "category", "class", "queue", "intent", "target", "topic", "tag")
_TEXT_NAMES = (
    "text",
    "subject",
    "title",
    "body",
    "message",
    "description",
    "content",
    "question",
    "complaint",
)


@dataclass(frozen=True)
class Source:
    """One data file: its rows, its columns in file order, and the guessed fields."""

    path: Path
    fmt: str | None
    rows: tuple[Mapping[str, Any], ...]
    columns: tuple[str, ...]
    guessed_inputs: tuple[str, ...]
    guessed_label: str


@dataclass(frozen=True)
class Draft:
    """A checked task: its TOML text, the split it makes and the data survey."""

    name: str
    toml: str
    spec: TaskSpec
    plan: SplitPlan
    survey: Survey


def inspect_source(path: Path, fmt: str | None = None) -> Source:
    """Read ``path`` (CSV, JSONL/JSON or Parquet) and guess its input and label columns."""
    if not path.is_file():
        raise DataError(f"data file not found: {path}", hint="check the path (or give a hub dataset name)")
    rows = read_table(path, fmt)
    if not rows:
        raise DataError(f"{path} is empty: no data rows", hint="export the data again with a header and rows")
    columns = tuple(rows[0])
    label = _guess_label(rows, columns)
    return Source(path, fmt, tuple(rows), columns, _guess_inputs(rows, columns, label), label)


def source_of(path: Path, rows: Sequence[Mapping[str, Any]]) -> Source:
    """A source from rows already in memory (a hub download), to be kept at ``path``."""
    if not rows:
        raise DataError(f"the dataset for {path} has no rows", hint="check the dataset name")
    columns = tuple(rows[0])
    label = _guess_label(rows, columns)
    return Source(path, None, tuple(rows), columns, _guess_inputs(rows, columns, label), label)


def _guess_label(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    for name in _LABEL_NAMES:
        for column in columns:
            if column.lower() == name:
                return column
    distinct = {c: len({str(r.get(c)) for r in rows}) for c in columns}
    usable = [c for c in columns if 2 <= distinct[c] <= max(2, len(rows) // 2)]
    return min(usable, key=lambda c: distinct[c]) if usable else columns[-1]


def _guess_inputs(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], label: str) -> tuple[str, ...]:
    named = [c for name in _TEXT_NAMES for c in columns if c.lower() == name and c != label]
    if named:
        return tuple(dict.fromkeys(named))
    others = [c for c in columns if c != label]
    if not others:
        return (columns[0],)
    return (max(others, key=lambda c: sum(len(str(r.get(c) or "")) for r in rows)),)


def task_name(path: Path) -> str:
    """A task name from a file name: letters, digits, ``-`` and ``_``."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem).strip("-")
    return name or "task"


def draft_task(
    source: Source,
    *,
    name: str,
    inputs: Sequence[str],
    label: str,
    layout: str | None,
    split: SplitSpec,
    source_ref: str,
) -> Draft:
    """Check the fields against ``source`` and render the task file; ``source_ref`` is the path
    written into it (relative to the data directory, or absolute)."""
    _check_columns(source, [*inputs, label])
    labels = [_label(row, label, i, source.path) for i, row in enumerate(source.rows)]
    if len(set(labels)) < 2:
        raise DataError(
            f"the label column {label!r} of {source.path} has one class only ({labels[0]!r})",
            hint="pick the column that holds the classes with --label; a classifier needs 2 or more",
        )
    toml = _toml(name, inputs, label, layout, split, source_ref, source.fmt)
    spec = parse_task_mapping(tomllib.loads(toml))
    plan = plan_split(labels, split, where=str(source.path))
    texts = [spec.input_text(row) for row in source.rows]
    return Draft(name, toml, spec, plan, survey(texts, labels))


def _check_columns(source: Source, wanted: Sequence[str]) -> None:
    for column in wanted:
        if column not in source.columns:
            raise UsageError(
                f"{source.path} has no column {column!r} (columns: {', '.join(source.columns)})",
                hint="pass --input and --label with columns of the file",
            )


def _label(row: Mapping[str, Any], column: str, index: int, path: Path) -> str:
    value = row.get(column)
    if value is None or not str(value).strip():
        raise DataError(
            f"row {index} of {path} has an empty label ({column!r})",
            hint="give every row a label, or drop the unlabelled rows",
        )
    return str(value).strip()


def _toml(
    name: str,
    inputs: Sequence[str],
    label: str,
    layout: str | None,
    split: SplitSpec,
    ref: str,
    fmt: str | None,
) -> str:
    quoted = json.dumps(list(inputs)) if len(inputs) > 1 else json.dumps(inputs[0])
    lines = [
        f"name = {json.dumps(name)}",
        f"description = {json.dumps(f'{name}: written by promptopt init from {Path(ref).name}')}",
        'metric = "accuracy"            # or "macro_f1" for unbalanced classes',
        "",
        "[fields]",
        f"input = {quoted}",
        f"label = {json.dumps(label)}",
    ]
    if layout is not None:
        layout_fields(layout)  # a broken template fails here, with its own message
        lines.append(f"layout = {json.dumps(layout)}")
    lines += ["", "[data]", 'dir = ""', f"source = {json.dumps(ref)}"]
    if fmt is not None:
        lines.append(f"format = {json.dumps(fmt)}")
    lines.append(f"split = {{ dev = {split.dev}, test = {split.test}, seed = {split.seed} }}")
    return "\n".join(lines) + "\n"


def written_splits_toml(draft: Draft, folder_ref: str) -> str:
    """The task file once the splits are written as ``<folder_ref>/{train,dev,test}.jsonl``."""
    head = draft.toml[: draft.toml.index("[data]")]
    files = [f"{s} = {json.dumps(s + '.jsonl')}" for s in SPLITS]
    return head + "\n".join(["[data]", f"dir = {json.dumps(folder_ref)}", *files]) + "\n"


def split_rows(draft: Draft, source: Source, split: str) -> list[dict[str, Any]]:
    """The rows of one split, with the input and label columns only, in file order."""
    keep = [*draft.spec.input_fields, draft.spec.label_field]
    return [{k: source.rows[i].get(k) for k in keep} for i in draft.plan.indices(split)]
