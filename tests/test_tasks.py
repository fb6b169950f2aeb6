"""Task files (parsing) and task data (loading and validation).

Every data file is built in ``tmp_path``; only ``test_real_banking77_loads`` reads the shared
dataset, and it is skipped when that folder is absent.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from promptopt.errors import DataError, TaskError
from promptopt.settings import DATA_DIR_ENV, DEFAULT_DATA_DIR, PROJECT_TASKS_DIR, resolve_data_dir
from promptopt.task.load import find_task_file, load_task, load_task_data
from promptopt.task.spec import Example, Task, parse_task_file, parse_task_mapping, sample

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


# --------------------------------------------------------------------------- helpers


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


# --------------------------------------------------------------------------- a valid task


def test_valid_jsonl_task_loads(tmp_path: Path) -> None:
    _, data_dir = toy_setup(tmp_path)
    task = load_task("toy", search_dirs=[tmp_path / "tasks"], data_dir=data_dir)

    assert task.name == "toy"
    assert task.spec.metric == "accuracy"
    assert task.labels == tuple(LABELS)  # file order, not sorted
    assert {k: len(v) for k, v in task.splits.items()} == {"train": 5, "dev": 2, "test": 3}
    assert [e.id for e in task.split("train")] == [f"train-{i}" for i in range(5)]
    assert [e.id for e in task.split("test")] == ["test-0", "test-1", "test-2"]
    assert task.split("train")[0] == Example(id="train-0", text="I lost my card", label="lost_card")
    assert task.warnings == ()
    assert set(task.data_hashes) == {"train", "dev", "test"}
    for split in ("train", "dev", "test"):
        expected = hashlib.sha256((data_dir / "toy" / f"{split}.jsonl").read_bytes()).hexdigest()
        assert task.data_hashes[split] == expected


def test_unknown_split_name_is_task_error(tmp_path: Path) -> None:
    task = load_file(*toy_setup(tmp_path))
    with pytest.raises(TaskError) as info:
        task.split("validation")
    assert "'validation'" in str(info.value)
    assert "train, dev, test" in str(info.value)


def test_labels_derived_from_train_sorted_when_absent(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    make_jsonl_data(data_dir / "toy")
    task_file = write_task(
        tmp_path / "t.toml",
        data={"dir": "toy", "train": "train.jsonl", "dev": "dev.jsonl", "test": "test.jsonl"},
    )
    task = load_file(task_file, data_dir)
    assert task.labels == ("exchange_rate", "lost_card", "refund")


def test_csv_files_load(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "toy"
    rows = [*TRAIN, {"text": 'comma, and "quotes"', "label": "refund"}]
    write_csv(folder / "train.csv", rows)
    write_csv(folder / "dev.csv", DEV)
    write_csv(folder / "test.csv", TEST)
    task_file = write_task(
        tmp_path / "t.toml", data={"dir": "toy", "train": "train.csv", "dev": "dev.csv", "test": "test.csv"}
    )
    task = load_file(task_file, tmp_path / "data")
    assert len(task.split("train")) == 6
    assert task.split("train")[5].text == 'comma, and "quotes"'
    assert task.split("dev")[1] == Example(id="dev-1", text="how much is a euro", label="exchange_rate")
    assert set(task.data_hashes) == {"train", "dev", "test"}


def test_csv_cells_are_kept_verbatim(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "toy"
    rows = [{"text": "00123", "label": "01"}, {"text": "NA", "label": "02"}, {"text": "hi", "label": "01"}]
    for split in ("train", "dev", "test"):
        write_csv(folder / f"{split}.csv", rows)
    write_labels(folder / "labels.txt", ["01", "02"])
    task_file = write_task(
        tmp_path / "t.toml",
        data={
            "dir": "toy",
            "train": "train.csv",
            "dev": "dev.csv",
            "test": "test.csv",
            "labels": "labels.txt",
        },
    )
    task = load_file(task_file, tmp_path / "data")
    assert [(e.text, e.label) for e in task.split("train")] == [(r["text"], r["label"]) for r in rows]


def test_parquet_files_load(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "toy"
    write_parquet(folder / "train.parquet", TRAIN)
    write_parquet(folder / "dev.parquet", DEV)
    write_parquet(folder / "test.parquet", TEST)
    write_labels(folder / "labels.txt", LABELS)
    task_file = write_task(
        tmp_path / "t.toml",
        data={
            "dir": "toy",
            "train": "train.parquet",
            "dev": "dev.parquet",
            "test": "test.parquet",
            "labels": "labels.txt",
        },
    )
    task = load_file(task_file, tmp_path / "data")
    assert [e.text for e in task.split("train")] == [r["text"] for r in TRAIN]
    assert [e.label for e in task.split("test")] == [r["label"] for r in TEST]
    assert task.labels == tuple(LABELS)


def test_explicit_format_overrides_extension(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "toy"
    write_jsonl(folder / "train.txt", TRAIN)
    write_jsonl(folder / "dev.txt", DEV)
    write_jsonl(folder / "test.txt", TEST)
    task_file = write_task(
        tmp_path / "t.toml",
        data={"dir": "toy", "train": "train.txt", "dev": "dev.txt", "test": "test.txt", "format": "json"},
    )
    assert len(load_file(task_file, tmp_path / "data").split("train")) == 5


def test_unknown_extension_without_format_is_data_error(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "toy"
    make_jsonl_data(folder)
    write_jsonl(folder / "train.txt", TRAIN)
    task_file = write_task(
        tmp_path / "t.toml",
        data={"dir": "toy", "train": "train.txt", "dev": "dev.jsonl", "test": "test.jsonl"},
    )
    with pytest.raises(DataError) as info:
        load_file(task_file, tmp_path / "data")
    assert "train.txt" in str(info.value)
    assert "format" in str(info.value)


def test_custom_field_names(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "toy"
    for split, rows in (("train", TRAIN), ("dev", DEV), ("test", TEST)):
        write_jsonl(folder / f"{split}.jsonl", [{"query": r["text"], "intent": r["label"]} for r in rows])
    task_file = write_task(
        tmp_path / "t.toml",
        fields={"input": "query", "label": "intent"},
        data={"dir": "toy", "train": "train.jsonl", "dev": "dev.jsonl", "test": "test.jsonl"},
    )
    task = load_file(task_file, tmp_path / "data")
    assert task.split("train")[0].text == "I lost my card"
    assert task.spec.input_field == "query"
    assert task.spec.label_field == "intent"


# --------------------------------------------------------------------------- paths


def test_absolute_paths_in_data_table(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    make_jsonl_data(elsewhere)
    data = {
        "dir": "does-not-exist",
        **{s: str(elsewhere / f"{s}.jsonl") for s in ("train", "dev", "test")},
        "labels": str(elsewhere / "labels.txt"),
    }
    task_file = write_task(tmp_path / "t.toml", data=data)
    task = load_file(task_file, tmp_path / "unused-data-dir")
    assert task.labels == tuple(LABELS)
    assert len(task.split("test")) == 3


def test_absolute_dir_in_data_table(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    make_jsonl_data(elsewhere)
    task_file = write_task(
        tmp_path / "t.toml",
        data={"dir": str(elsewhere), "train": "train.jsonl", "dev": "dev.jsonl", "test": "test.jsonl"},
    )
    assert len(load_file(task_file, tmp_path / "unused").split("train")) == 5


def test_dir_resolves_against_given_data_dir(tmp_path: Path) -> None:
    task_file = write_task(tmp_path / "t.toml")
    make_jsonl_data(tmp_path / "one" / "toy", train=TRAIN[:4])
    make_jsonl_data(tmp_path / "two" / "toy")
    assert len(load_file(task_file, tmp_path / "one").split("train")) == 4
    assert len(load_file(task_file, tmp_path / "two").split("train")) == 5


# --------------------------------------------------------------------------- find_task_file


def test_find_task_file_by_name(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_task(second / "toy.toml")
    write_task(second / "other.toml")
    first.mkdir()
    assert find_task_file("toy", [first, second]) == second / "toy.toml"


def test_find_task_file_first_search_dir_wins(tmp_path: Path) -> None:
    a = write_task(tmp_path / "a" / "toy.toml")
    write_task(tmp_path / "b" / "toy.toml")
    assert find_task_file("toy", [tmp_path / "a", tmp_path / "b"]) == a


def test_find_task_file_by_path(tmp_path: Path) -> None:
    path = write_task(tmp_path / "somewhere" / "my-task.toml")
    assert find_task_file(str(path), []) == path


def test_find_task_file_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(TaskError) as info:
        find_task_file(str(missing), [tmp_path])
    assert str(missing) in str(info.value)


def test_find_task_file_unknown_name_lists_known(tmp_path: Path) -> None:
    write_task(tmp_path / "tasks" / "alpha.toml")
    write_task(tmp_path / "tasks" / "beta.toml")
    with pytest.raises(TaskError) as info:
        find_task_file("gamma", [tmp_path / "tasks", tmp_path / "missing-dir"])
    message = str(info.value)
    assert "'gamma'" in message
    assert "alpha, beta" in message


def test_project_task_files_parse() -> None:
    names = {p.stem for p in PROJECT_TASKS_DIR.glob("*.toml")}
    assert "banking77" in names
    for path in PROJECT_TASKS_DIR.glob("*.toml"):
        spec = parse_task_file(path)
        assert spec.name == path.stem
        assert spec.data.labels == "labels.txt"


# --------------------------------------------------------------------------- missing files


def test_missing_data_file_is_data_error_with_hint(tmp_path: Path) -> None:
    task_file = write_task(tmp_path / "t.toml")
    with pytest.raises(DataError) as info:
        load_file(task_file, tmp_path / "data")
    message = str(info.value)
    assert str(tmp_path / "data" / "toy" / "train.jsonl") in message
    assert "--data-dir" in message
    assert "PROMPTOPT_DATA_DIR" in message
    assert info.value.hint is not None and "hub" not in info.value.hint


def test_missing_data_file_mentions_hub(tmp_path: Path) -> None:
    make_jsonl_data(tmp_path / "data" / "toy")
    (tmp_path / "data" / "toy" / "dev.jsonl").unlink()
    data = {
        "dir": "toy",
        "train": "train.jsonl",
        "dev": "dev.jsonl",
        "test": "test.jsonl",
        "hub": "PolyAI/banking77",
    }
    task_file = write_task(tmp_path / "t.toml", data=data)
    with pytest.raises(DataError) as info:
        load_file(task_file, tmp_path / "data")
    message = str(info.value)
    assert str(tmp_path / "data" / "toy" / "dev.jsonl") in message
    assert "PolyAI/banking77" in message
    assert "--data-dir" in message


def test_missing_labels_file_is_data_error(tmp_path: Path) -> None:
    task_file, data_dir = toy_setup(tmp_path)
    (data_dir / "toy" / "labels.txt").unlink()
    with pytest.raises(DataError) as info:
        load_file(task_file, data_dir)
    assert str(data_dir / "toy" / "labels.txt") in str(info.value)
    assert "PROMPTOPT_DATA_DIR" in str(info.value)


# --------------------------------------------------------------------------- bad data


def test_unknown_input_field_names_field_and_columns(tmp_path: Path) -> None:
    task_file, data_dir = toy_setup(tmp_path)
    task_file = write_task(task_file, fields={"input": "utterance", "label": "label"})
    with pytest.raises(DataError) as info:
        load_file(task_file, data_dir)
    message = str(info.value)
    assert "'utterance'" in message
    assert "columns: label, text" in message


def test_unknown_label_field_names_field(tmp_path: Path) -> None:
    task_file, data_dir = toy_setup(tmp_path)
    task_file = write_task(task_file, fields={"input": "text", "label": "intent"})
    with pytest.raises(DataError) as info:
        load_file(task_file, data_dir)
    assert "'intent'" in str(info.value)
    assert "label, text" in str(info.value)


def test_zero_byte_split_is_empty_error(tmp_path: Path) -> None:
    task_file, data_dir = toy_setup(tmp_path)
    (data_dir / "toy" / "dev.jsonl").write_bytes(b"")
    with pytest.raises(DataError) as info:
        load_file(task_file, data_dir)
    assert "empty" in str(info.value)
    assert "dev" in str(info.value)


def _write_rowless(path: Path, kind: str) -> None:
    if kind == "blank-jsonl":
        path.write_text("\n\n", encoding="utf-8")
    elif kind == "header-csv":
        path.write_text("text,label\n", encoding="utf-8")
    else:
        table = pa.table({"text": pa.array([], pa.string()), "label": pa.array([], pa.string())})
        pq.write_table(table, path)


ROWLESS = [("blank-jsonl", "dev.jsonl"), ("header-csv", "dev.csv"), ("zero-row-parquet", "dev.parquet")]


def _rowless_setup(tmp_path: Path, kind: str, filename: str) -> tuple[Path, Path]:
    data_dir = tmp_path / "data"
    make_jsonl_data(data_dir / "toy")
    _write_rowless(data_dir / "toy" / filename, kind)
    task_file = write_task(
        tmp_path / "t.toml",
        data={"dir": "toy", "train": "train.jsonl", "dev": filename, "test": "test.jsonl"},
    )
    return task_file, data_dir


@pytest.mark.parametrize(("kind", "filename"), ROWLESS)
def test_split_without_rows_is_data_error(tmp_path: Path, kind: str, filename: str) -> None:
    task_file, data_dir = _rowless_setup(tmp_path, kind, filename)
    with pytest.raises(DataError) as info:
        load_file(task_file, data_dir)
    assert filename in str(info.value)


@pytest.mark.parametrize(("kind", "filename"), ROWLESS)
def test_split_without_rows_message_says_empty(tmp_path: Path, kind: str, filename: str) -> None:
    task_file, data_dir = _rowless_setup(tmp_path, kind, filename)
    with pytest.raises(DataError, match="empty"):
        load_file(task_file, data_dir)


def test_gold_label_outside_label_set(tmp_path: Path) -> None:
    bad_test = [*TEST, {"text": "cancel my account", "label": "close_account"}]
    task_file, data_dir = toy_setup(tmp_path, test=bad_test)
    with pytest.raises(DataError) as info:
        load_file(task_file, data_dir)
    message = str(info.value)
    assert "test-3" in message
    assert "'close_account'" in message


def test_dev_label_unseen_in_train_when_labels_derived(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    make_jsonl_data(data_dir / "toy", dev=[*DEV, {"text": "bye", "label": "goodbye"}])
    task_file = write_task(
        tmp_path / "t.toml",
        data={"dir": "toy", "train": "train.jsonl", "dev": "dev.jsonl", "test": "test.jsonl"},
    )
    with pytest.raises(DataError) as info:
        load_file(task_file, data_dir)
    assert "dev-2" in str(info.value)
    assert "'goodbye'" in str(info.value)


def test_duplicate_labels_in_labels_file(tmp_path: Path) -> None:
    task_file, data_dir = toy_setup(tmp_path, labels=["refund", "lost_card", "refund ", "exchange_rate"])
    with pytest.raises(TaskError) as info:
        load_file(task_file, data_dir)
    assert "duplicate" in str(info.value)
    assert "refund" in str(info.value)
    assert "lost_card" not in info.value.what


@pytest.mark.parametrize("labels", [["refund"], []])
def test_labels_file_with_fewer_than_two_labels(tmp_path: Path, labels: list[str]) -> None:
    rows = [{"text": "a refund", "label": "refund"}]
    task_file, data_dir = toy_setup(tmp_path, train=rows, dev=rows, test=rows, labels=labels)
    with pytest.raises(TaskError) as info:
        load_file(task_file, data_dir)
    assert f"{len(labels)} label(s)" in str(info.value)
    assert "2+" in str(info.value)


def test_train_test_overlap_is_a_warning(tmp_path: Path) -> None:
    overlapping = [*TEST, {"text": "  i LOST my   Card ", "label": "lost_card"}]
    task_file, data_dir = toy_setup(tmp_path, test=overlapping)
    task = load_file(task_file, data_dir)
    assert len(task.split("test")) == 4
    assert len(task.warnings) == 1
    assert "1 text(s) appear in both train and test" in task.warnings[0]


@pytest.mark.parametrize("column", ["text", "label"])
@pytest.mark.parametrize("value", ["", "   ", None])
def test_empty_text_or_label_names_row(tmp_path: Path, column: str, value: str | None) -> None:
    rows = [dict(r) for r in TRAIN]
    rows[2][column] = value
    task_file, data_dir = toy_setup(tmp_path, train=rows)
    with pytest.raises(DataError) as info:
        load_file(task_file, data_dir)
    message = str(info.value)
    assert "row 2" in message
    assert f"empty {column!r}" in message
    assert "train.jsonl" in message


def test_malformed_jsonl_line_is_data_error(tmp_path: Path) -> None:
    task_file, data_dir = toy_setup(tmp_path)
    train = data_dir / "toy" / "train.jsonl"
    train.write_text(train.read_text(encoding="utf-8") + '{"text": "oops", "label": \n', encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_file(task_file, data_dir)
    assert str(train) in str(info.value)
    assert info.value.hint is not None and "JSON" in info.value.hint


def test_non_utf8_task_file_is_task_error(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(TaskError, match="UTF-8"):
        parse_task_file(path)


# --------------------------------------------------------------------------- task-file schema


def test_malformed_toml_is_task_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "toy\n[data\n', encoding="utf-8")
    with pytest.raises(TaskError) as info:
        parse_task_file(path)
    assert str(path) in str(info.value)
    assert "not valid TOML" in str(info.value)


def test_missing_task_file_is_task_error(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="not found"):
        parse_task_file(tmp_path / "absent.toml")


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    path = write_task(tmp_path / "t.toml", top={"metirc": "accuracy"})
    with pytest.raises(TaskError) as info:
        parse_task_file(path)
    assert "'metirc'" in str(info.value)
    assert "metric" in (info.value.hint or "")


def test_unknown_data_key_is_named(tmp_path: Path) -> None:
    data = {"dir": "toy", "train": "a.jsonl", "dev": "b.jsonl", "test": "c.jsonl", "lables": "l.txt"}
    with pytest.raises(TaskError, match="'lables'"):
        parse_task_file(write_task(tmp_path / "t.toml", data=data))


def test_unknown_fields_key_is_named(tmp_path: Path) -> None:
    path = write_task(tmp_path / "t.toml", fields={"input": "text", "target": "label"})
    with pytest.raises(TaskError, match="'target'"):
        parse_task_file(path)


def test_bad_metric_is_task_error(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    text = write_task(path).read_text(encoding="utf-8").replace('"accuracy"', '"f1_micro"')
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TaskError) as info:
        parse_task_file(path)
    assert "'f1_micro'" in str(info.value)
    assert "accuracy, macro_f1" in str(info.value)


def test_bad_format_is_task_error(tmp_path: Path) -> None:
    data = {"train": "a", "dev": "b", "test": "c", "format": "xlsx"}
    with pytest.raises(TaskError) as info:
        parse_task_file(write_task(tmp_path / "t.toml", data=data))
    assert "'xlsx'" in str(info.value)


def test_missing_data_table_is_task_error(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('name = "toy"\n[fields]\ninput = "text"\n', encoding="utf-8")
    with pytest.raises(TaskError) as info:
        parse_task_file(path)
    assert "[data]" in str(info.value)


def test_missing_train_key_is_task_error(tmp_path: Path) -> None:
    path = write_task(tmp_path / "t.toml", data={"dir": "toy", "dev": "d.jsonl", "test": "t.jsonl"})
    with pytest.raises(TaskError) as info:
        parse_task_file(path)
    assert "'train'" in str(info.value)
    assert 'train = "..."' in str(info.value)


def test_missing_name_is_task_error() -> None:
    raw = {"fields": {}, "data": {"train": "a", "dev": "b", "test": "c"}}
    with pytest.raises(TaskError, match="'name'"):
        parse_task_mapping(raw)


def test_empty_instruction_is_task_error() -> None:
    raw = {"name": "x", "instruction": "  ", "fields": {}, "data": {"train": "a", "dev": "b", "test": "c"}}
    with pytest.raises(TaskError, match="instruction"):
        parse_task_mapping(raw)


def test_defaults_of_a_minimal_mapping() -> None:
    spec = parse_task_mapping({"name": "x", "fields": {}, "data": {"train": "a", "dev": "b", "test": "c"}})
    assert spec.metric == "accuracy"
    assert (spec.input_field, spec.label_field) == ("text", "label")
    assert spec.data.dir == ""
    assert spec.data.labels is None and spec.data.hub is None and spec.data.format is None
    assert spec.instruction is None


def test_error_exit_codes_differ() -> None:
    assert TaskError("x").exit_code != DataError("x").exit_code
    assert str(TaskError("what", hint="how")) == "what\n  fix: how"


# --------------------------------------------------------------------------- sample


def make_examples(labels: list[str]) -> tuple[Example, ...]:
    return tuple(Example(id=f"train-{i}", text=f"text {i}", label=lab) for i, lab in enumerate(labels))


def test_sample_is_deterministic_distinct_and_in_file_order() -> None:
    examples = make_examples(["a", "b", "c", "d"] * 10)
    first = sample(examples, 7, seed=13)
    assert first == sample(examples, 7, seed=13)
    assert len(first) == 7
    assert len({e.id for e in first}) == 7
    positions = [examples.index(e) for e in first]
    assert positions == sorted(positions)
    others = {sample(examples, 7, seed=s) for s in range(10)}
    assert len(others) > 1  # the seed matters


@pytest.mark.parametrize("n", [None, 12, 13, 100])
def test_sample_all_when_n_is_none_or_too_large(n: int | None) -> None:
    examples = make_examples(["a", "b", "c"] * 4)
    assert sample(examples, n, seed=0) == examples
    assert sample(examples, n, seed=0, stratified=True) == examples


def test_sample_stratified_balances_labels() -> None:
    # sorted by label, as data files often are: a plain head slice would be all "x"
    examples = make_examples(["x"] * 10 + ["y"] * 10 + ["z"] * 10)
    for seed in range(5):
        chosen = sample(examples, 6, seed=seed, stratified=True)
        assert len(chosen) == 6
        assert Counter(e.label for e in chosen) == {"x": 2, "y": 2, "z": 2}
        positions = [examples.index(e) for e in chosen]
        assert positions == sorted(positions)
        assert chosen == sample(examples, 6, seed=seed, stratified=True)


def test_sample_stratified_with_a_small_class() -> None:
    examples = make_examples(["x"] * 10 + ["y"] + ["z"] * 10)
    chosen = sample(examples, 7, seed=3, stratified=True)
    assert Counter(e.label for e in chosen) == {"x": 3, "y": 1, "z": 3}


# --------------------------------------------------------------------------- config


def test_resolve_data_dir_precedence(tmp_path: Path) -> None:
    env = {DATA_DIR_ENV: str(tmp_path / "from-env")}
    assert resolve_data_dir(tmp_path / "flag", env) == tmp_path / "flag"
    assert resolve_data_dir(None, env) == tmp_path / "from-env"
    assert resolve_data_dir(None, {}) == DEFAULT_DATA_DIR == Path("data")
    assert resolve_data_dir(None, {DATA_DIR_ENV: ""}) == Path("data")


# --------------------------------------------------------------------------- the real task


def test_real_banking77_loads() -> None:
    data_dir = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (data_dir / "banking77").is_dir():
        pytest.skip(f"shared data not found at {data_dir}")
    task = load_task("banking77", search_dirs=[PROJECT_TASKS_DIR], data_dir=data_dir)
    assert len(task.labels) == 77
    assert len(set(task.labels)) == 77
    assert all(len(task.split(s)) > 0 for s in ("train", "dev", "test"))
    assert set(task.data_hashes) == {"train", "dev", "test"}
    assert task.split("train")[0].id == "train-0"


def test_a_folder_named_like_the_task_does_not_hide_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    (tasks_dir / "toy.toml").write_text('name = "toy"\n')
    (tmp_path / "toy").mkdir()  # e.g. the data folder of the same name, in the working directory
    monkeypatch.chdir(tmp_path)
    assert find_task_file("toy", [tasks_dir]) == tasks_dir / "toy.toml"


def test_byte_order_marks_are_tolerated(tmp_path: Path) -> None:
    from promptopt.task.spec import parse_task_file

    path = tmp_path / "bom.toml"
    path.write_text('\ufeffname = "bom"\n[fields]\n[data]\ntrain = "a"\ndev = "b"\ntest = "c"\n', encoding="utf-8")
    assert parse_task_file(path).name == "bom"
