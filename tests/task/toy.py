"""The toy task's files for the loader tests: rows written as JSON lines, CSV or parquet, a
labels file, and task files (TOML) with any [data], [fields] or top-level keys. Each test
writes what it needs in its ``tmp_path``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from promptopt.task.load import load_task_data
from promptopt.task.spec import Task, parse_task_file

Row = dict[str, Any]


TRAIN: list[Row] = [
    {"text": "I lost my card", "label": "lost_card"},
    {"text": "where is my refund", "label": "refund"},
    {"text": "my card was stolen yesterday", "label": "lost_card"},
    {"text": "refund has not arrived", "label": "refund"},
    {"text": "what is the exchange rate", "label": "exchange_rate"},
]


DEV: list[Row] = [
    {"text": "card missing", "label": "lost_card"},
    {"text": "how much is a euro", "label": "exchange_rate"},
]


TEST: list[Row] = [
    {"text": "refund please", "label": "refund"},
    {"text": "lost my wallet and card", "label": "lost_card"},
    {"text": "rate for dollars", "label": "exchange_rate"},
]


LABELS = ["refund", "lost_card", "exchange_rate"]  # deliberately not sorted


def write_jsonl(path: Path, rows: list[Row]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[Row]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_parquet(path: Path, rows: list[Row]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {key: [r[key] for r in rows] for key in rows[0]}
    pq.write_table(pa.table(columns), path)
    return path


def write_labels(path: Path, labels: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{label}\n" for label in labels), encoding="utf-8")
    return path


def toml_value(value: object) -> str:
    # json string escaping is valid TOML basic-string escaping for these plain values
    return json.dumps(value)


def write_task(
    path: Path,
    *,
    name: str = "toy",
    data: dict[str, str] | None = None,
    fields: dict[str, str] | None = None,
    top: dict[str, str] | None = None,
) -> Path:
    """A task TOML file; ``data`` defaults to jsonl files under ``dir = "toy"`` with labels.txt."""
    if data is None:
        data = {
            "dir": "toy",
            "train": "train.jsonl",
            "dev": "dev.jsonl",
            "test": "test.jsonl",
            "labels": "labels.txt",
        }
    lines = [f"name = {toml_value(name)}", 'metric = "accuracy"']
    lines += [f"{k} = {toml_value(v)}" for k, v in (top or {}).items()]
    lines.append("[fields]")
    lines += [f"{k} = {toml_value(v)}" for k, v in (fields or {"input": "text", "label": "label"}).items()]
    lines.append("[data]")
    lines += [f"{k} = {toml_value(v)}" for k, v in data.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_jsonl_data(
    folder: Path,
    *,
    train: list[Row] | None = None,
    dev: list[Row] | None = None,
    test: list[Row] | None = None,
    labels: list[str] | None = None,
) -> None:
    write_jsonl(folder / "train.jsonl", TRAIN if train is None else train)
    write_jsonl(folder / "dev.jsonl", DEV if dev is None else dev)
    write_jsonl(folder / "test.jsonl", TEST if test is None else test)
    write_labels(folder / "labels.txt", LABELS if labels is None else labels)


def toy_setup(tmp_path: Path, **data_kwargs: Any) -> tuple[Path, Path]:
    """A task file in ``tmp_path/tasks`` and its jsonl data in ``tmp_path/data/toy``."""
    data_dir = tmp_path / "data"
    make_jsonl_data(data_dir / "toy", **data_kwargs)
    task_file = write_task(tmp_path / "tasks" / "toy.toml")
    return task_file, data_dir


def load_file(task_file: Path, data_dir: Path) -> Task:
    return load_task_data(parse_task_file(task_file), data_dir=data_dir)
