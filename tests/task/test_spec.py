"""Task files (parsing and the schema's errors) and sampling a split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from promptopt.errors import TaskError
from promptopt.settings import PROJECT_TASKS_DIR
from promptopt.task.spec import Example, parse_task_file, parse_task_mapping, sample
from tests.task.toy import write_task

# --------------------------------------------------------------------------- task-file schema


def test_project_task_files_parse() -> None:
    names = {p.stem for p in PROJECT_TASKS_DIR.glob("*.toml")}
    assert "banking77" in names
    for path in PROJECT_TASKS_DIR.glob("*.toml"):
        spec = parse_task_file(path)
        assert spec.name == path.stem
        assert spec.data.labels == "labels.txt"


def test_non_utf8_task_file_is_task_error(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(TaskError, match="UTF-8"):
        parse_task_file(path)


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
    assert (spec.input_fields, spec.label_field) == (("text",), "label")
    assert spec.data.dir == ""
    assert spec.data.labels is None and spec.data.hub is None and spec.data.format is None
    assert spec.instruction is None


def test_byte_order_marks_are_tolerated(tmp_path: Path) -> None:
    from promptopt.task.spec import parse_task_file

    path = tmp_path / "bom.toml"
    path.write_text(
        '\ufeffname = "bom"\n[fields]\n[data]\ntrain = "a"\ndev = "b"\ntest = "c"\n', encoding="utf-8"
    )
    assert parse_task_file(path).name == "bom"


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
