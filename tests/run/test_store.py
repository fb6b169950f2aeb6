"""The run folder: append-only, survives a kill mid-write and a full disk, refuses what it
cannot read."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from promptopt.errors import StoreError
from promptopt.run import store as store_module
from promptopt.run.store import FORMAT_VERSION, RunStore, new_run_dir


def _store(tmp_path: Path) -> RunStore:
    return RunStore.create(tmp_path / "run", {"task": "toy", "seed": 0})


def test_create_writes_run_json_with_the_format_version(tmp_path: Path) -> None:
    s = _store(tmp_path)
    info = json.loads((s.path / "run.json").read_text())
    assert info == {"format_version": FORMAT_VERSION, "task": "toy", "seed": 0}
    assert RunStore.open(s.path).read_json("run.json")["task"] == "toy"


def test_appends_are_read_back_in_order(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.append("events", {"i": 0})
    s.append_many("events", [{"i": 1}, {"i": 2}])
    assert [r["i"] for r in s.read("events")] == [0, 1, 2]
    assert list(s.read("ledger")) == []


def test_a_torn_last_line_is_skipped_and_the_next_append_starts_clean(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.append("evaluations", {"i": 0})
    with (s.path / "evaluations.jsonl").open("a") as handle:
        handle.write('{"i": 1, "trunc')  # a kill in the middle of a write
    assert [r["i"] for r in s.read("evaluations")] == [0]
    s.append("evaluations", {"i": 2})
    assert [r["i"] for r in s.read("evaluations")] == [0, 2]


def test_a_corrupt_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    s = _store(tmp_path)
    (s.path / "events.jsonl").write_text('{"i": 0}\nnot json\n{"i": 2}\n')
    with pytest.raises(StoreError, match="line 2"):
        list(s.read("events"))


def test_refuses_a_non_empty_folder_and_a_non_run_folder(tmp_path: Path) -> None:
    s = _store(tmp_path)
    with pytest.raises(StoreError, match="resume"):
        RunStore.create(s.path, {})
    with pytest.raises(StoreError, match="not a run folder"):
        RunStore.open(tmp_path)


def test_refuses_another_format_version(tmp_path: Path) -> None:
    s = _store(tmp_path)
    (s.path / "run.json").write_text(json.dumps({"format_version": 0}))
    with pytest.raises(StoreError, match="format version 0"):
        RunStore.open(s.path)


def test_a_full_disk_keeps_the_previous_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _store(tmp_path)
    s.write_json("summary.json", {"best": 1})

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.os, "replace", no_space)
    with pytest.raises(StoreError, match="No space left"):
        s.write_json("summary.json", {"best": 2})
    assert s.read_json("summary.json") == {"best": 1}
    assert [p.name for p in s.path.iterdir() if p.name.startswith(".summary")] == []


def test_a_full_disk_on_append_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = _store(tmp_path)
    s.append("events", {"i": 0})
    original_open = Path.open

    def failing_open(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == "events.jsonl" and args and args[0] == "a":
            raise OSError(errno.ENOSPC, "No space left on device")
        return original_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", failing_open)
    with pytest.raises(StoreError) as info:
        s.append("events", {"i": 1})
    assert "resume" in str(info.value)
    monkeypatch.undo()
    assert [r["i"] for r in s.read("events")] == [0]


def test_run_dir_names_carry_time_task_and_a_random_id(tmp_path: Path) -> None:
    a, b = new_run_dir(tmp_path, "banking77", clock=0), new_run_dir(tmp_path, "banking77", clock=0)
    assert a.name.endswith(a.name[-8:]) and "-banking77-" in a.name and a != b


def test_written_files_get_the_usual_permissions_not_a_temporary_files(tmp_path: Path) -> None:
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    target = tmp_path / "artifact.json"
    store_module.atomic_write(target, "{}\n")
    store_module.atomic_write_bytes(tmp_path / "pool.npy", b"\x00\x01")
    for path in (target, tmp_path / "pool.npy"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path
    assert target.read_text() == "{}\n" and (tmp_path / "pool.npy").read_bytes() == b"\x00\x01"
