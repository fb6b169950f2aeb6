"""Task data: loading and validation of every split (JSON lines, CSV, parquet), finding task
files, paths, and the errors for missing or bad data.

Every data file is built in ``tmp_path``; only ``test_real_banking77_loads`` reads the shared
dataset, and it is skipped when that folder is absent.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from promptopt.errors import DataError, TaskError
from promptopt.settings import PROJECT_TASKS_DIR
from promptopt.task.load import find_task_file, load_task
from promptopt.task.spec import Example
from tests.task.toy import (
    DEV,
    LABELS,
    TEST,
    TRAIN,
    load_file,
    make_jsonl_data,
    toy_setup,
    write_csv,
    write_jsonl,
    write_labels,
    write_parquet,
    write_task,
)


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
    assert task.spec.input_fields == ("query",)
    assert task.spec.label_field == "intent"


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


def test_real_banking77_loads(data_dir: Path) -> None:
    task = load_task("banking77", search_dirs=[PROJECT_TASKS_DIR], data_dir=data_dir)
    assert len(task.labels) == 77
    assert len(set(task.labels)) == 77
    assert all(len(task.split(s)) > 0 for s in ("train", "dev", "test"))
    assert set(task.data_hashes) == {"train", "dev", "test"}
    assert task.split("train")[0].id == "train-0"


def test_a_folder_named_like_the_task_does_not_hide_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    (tasks_dir / "toy.toml").write_text('name = "toy"\n')
    (tmp_path / "toy").mkdir()  # e.g. the data folder of the same name, in the working directory
    monkeypatch.chdir(tmp_path)
    assert find_task_file("toy", [tasks_dir]) == tasks_dir / "toy.toml"
