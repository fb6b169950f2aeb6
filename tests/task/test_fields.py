"""Tasks that read several input columns through a layout, and tasks that name one source file
that promptopt splits: what the model sees, and the errors for a bad layout or data spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptopt.errors import DataError, TaskError
from promptopt.task.load import read_table
from promptopt.task.spec import parse_task_mapping
from tests.task.toy import load_file, write_csv, write_jsonl, write_task

ROWS = [
    {"subject": f"subject {i}", "body": f"body of ticket {i}", "queue": q}
    for i, q in enumerate(["net", "hw", "access"] * 10)
]


def _mapping(fields: dict[str, object], data: dict[str, object] | None = None) -> dict[str, object]:
    return {"name": "t", "fields": fields, "data": data or {"source": "all.csv"}}


def test_a_layout_writes_the_fields_into_one_text(tmp_path: Path) -> None:
    write_csv(tmp_path / "data" / "all.csv", ROWS)
    layout = "Subject: {subject}\n\n{body}"
    task_file = write_task(
        tmp_path / "t.toml",
        fields={"input": ["subject", "body"], "label": "queue", "layout": layout},
        data={"dir": "", "source": "all.csv"},
    )
    task = load_file(task_file, tmp_path / "data")
    texts = {e.text for s in ("train", "dev", "test") for e in task.split(s)}
    assert texts == {f"Subject: subject {i}\n\nbody of ticket {i}" for i in range(30)}


def test_without_a_layout_each_field_is_a_line() -> None:
    spec = parse_task_mapping(_mapping({"input": ["subject", "body"]}))
    assert spec.input_text({"subject": "VPN", "body": None}) == "subject: VPN\nbody: "


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("{subject} {sender}", "'sender', which is not an input field"),
        ("{subject}", "never shows the input field(s) 'body'"),
        ("{subject} {body", "not a valid template"),
    ],
)
def test_a_bad_layout_is_named(layout: str, message: str) -> None:
    with pytest.raises(TaskError) as info:
        parse_task_mapping(_mapping({"input": ["subject", "body"], "layout": layout}))
    assert message in info.value.what


def test_a_missing_input_column_lists_the_columns(tmp_path: Path) -> None:
    write_csv(tmp_path / "data" / "all.csv", ROWS)
    task_file = write_task(
        tmp_path / "t.toml",
        fields={"input": ["subject", "sender"], "label": "queue"},
        data={"source": "all.csv"},
    )
    with pytest.raises(DataError) as info:
        load_file(task_file, tmp_path / "data")
    assert "'sender' is not a column" in info.value.what and "body, queue, subject" in info.value.what


def _split_task(path: Path, split: str) -> Path:
    path.write_text(
        'name = "t"\n[fields]\ninput = ["subject", "body"]\nlabel = "queue"\n'
        f'[data]\nsource = "all.jsonl"\nsplit = {split}\n'
    )
    return path


def test_a_split_source_gives_three_disjoint_stratified_splits(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "data" / "all.jsonl", ROWS)
    task = load_file(
        _split_task(tmp_path / "t.toml", "{ dev = 0.2, test = 0.2, seed = 1 }"), tmp_path / "data"
    )
    sizes = {s: len(task.split(s)) for s in ("train", "dev", "test")}
    assert sizes == {"train": 18, "dev": 6, "test": 6}
    assert {e.label for e in task.split("dev")} == {"net", "hw", "access"}
    assert task.split("dev")[0].id == "dev-0"
    every = [e.text for s in ("train", "dev", "test") for e in task.split(s)]
    assert len(set(every)) == len(ROWS)
    reseeded = load_file(_split_task(tmp_path / "u.toml", "{ seed = 2 }"), tmp_path / "data")
    assert reseeded.data_hashes["dev"] != task.data_hashes["dev"]  # a run can tell the splits apart


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"source": "a.csv", "train": "t.csv"}, "either source"),
        ({"source": "a.csv", "split": {"dev": 0.6, "test": 0.5}}, "leaving no train"),
        ({"source": "a.csv", "split": {"dev": -1}}, "fraction between 0 and 1 or a count"),
        ({"source": "a.csv", "split": {"valid": 0.1}}, "unknown key(s) 'valid'"),
        ({"train": "t", "dev": "d", "test": "x", "split": {"dev": 0.1}}, "split needs a source"),
    ],
)
def test_a_bad_data_spec_is_named(data: dict[str, object], message: str) -> None:
    with pytest.raises(TaskError) as info:
        parse_task_mapping(_mapping({"input": "text"}, data))
    assert message in info.value.what


def test_json_in_a_file_named_csv_is_named(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "tickets.csv", ROWS)
    with pytest.raises(DataError) as info:
        read_table(path)
    assert "named .csv but holds JSON" in info.value.what
