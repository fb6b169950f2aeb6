"""Input and output files of ``promptopt predict``: JSONL (or a JSON list) or CSV in, JSONL out.

CSV cells are read verbatim (``00123`` stays ``00123``), with the standard library: inputs for
prediction carry no labels, so nothing here needs the task loader.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptopt.errors import DataError, UsageError
from promptopt.task.spec import lay_out

SUFFIXES = (".jsonl", ".json", ".csv")


@dataclass(frozen=True)
class InputRow:
    """One input: its 0-based row number in the file, its id (when the file has the id
    field) and its text."""

    row: int
    id: str | None
    text: str


def read_inputs(
    path: Path,
    *,
    text_field: str = "text",
    id_field: str = "id",
    fields: Sequence[str] = (),
    layout: str | None = None,
) -> list[InputRow]:
    """The rows of ``path``; every row must have ``text_field``, or, when ``fields`` are given
    (a task with several input columns), those fields, written into one text by ``layout``."""
    if not path.is_file():
        raise DataError(f"input file {path} does not exist", hint="pass a JSONL or CSV file with --input")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(
            f"input file {path} has the extension {suffix!r}", hint="use a .jsonl, .json or .csv file"
        )
    rows = _csv_rows(path) if suffix == ".csv" else _json_rows(path)
    if not rows:
        raise DataError(
            f"input file {path} has no rows", hint="add one input per line (JSONL) or per row (CSV)"
        )
    if fields:
        return [_laid_out(path, i, row, fields, layout, id_field) for i, row in enumerate(rows)]
    return [_input(path, i, row, text_field, id_field) for i, row in enumerate(rows)]


def _laid_out(
    path: Path, index: int, row: dict[str, Any], fields: Sequence[str], layout: str | None, id_field: str
) -> InputRow:
    missing = [f for f in fields if f not in row]
    if missing:
        raise DataError(
            f"{path}: row {index} has no field {missing[0]!r}; the prompt's task reads"
            f" {', '.join(map(repr, fields))} (fields seen: {', '.join(map(str, row)) or 'none'})",
            hint="give every row the task's input fields, or pass --text-field with one column of ready text",
        )
    ident = row.get(id_field)
    return InputRow(row=index, id=None if ident is None else str(ident), text=lay_out(fields, layout, row))


def _input(path: Path, index: int, row: dict[str, Any], text_field: str, id_field: str) -> InputRow:
    if text_field not in row or row[text_field] is None:
        raise DataError(
            f"{path}: row {index} has no field {text_field!r} (fields: {', '.join(map(str, row)) or 'none'})",
            hint="pass --text-field with the name of the text column",
        )
    ident = row.get(id_field)
    return InputRow(row=index, id=None if ident is None else str(ident), text=str(row[text_field]))


def _json_rows(path: Path) -> list[dict[str, Any]]:
    text = _read(path)
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        data = _parse(path, text, 1)
        items = data if isinstance(data, list) else []
    else:
        items = [_parse(path, line, n) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise DataError(
                f"{path}: item {n} is not a JSON object (seen: {str(item)[:60]!r})",
                hint='write one object per line, e.g. {"text": "..."}',
            )
    return items


def _parse(path: Path, text: str, line: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} line {line} is not valid JSON: {exc}", hint="fix that line") from exc


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read input file {path}: {exc}", hint="pass a UTF-8 text file") from exc


def output_rows(inputs: Sequence[InputRow], predictions: Sequence[Any]) -> list[dict[str, Any]]:
    """One JSON object per input: row, id (if any), prediction, status (and error if any).
    ``predictions`` are :class:`promptopt.production.runtime.Prediction` values, in input order."""
    rows = []
    for item, outcome in zip(inputs, predictions, strict=True):
        row: dict[str, Any] = {"row": item.row}
        if item.id is not None:
            row["id"] = item.id
        row.update(prediction=outcome.label, status=outcome.status)
        if outcome.error:
            row["error"] = outcome.error
        rows.append(row)
    return rows


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    from promptopt.run.store import atomic_write

    atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
