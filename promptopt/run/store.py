"""The run folder: everything a run does, on disk, so report, export, resume and verify read
files and never live objects.

    runs/<YYYYmmdd-HHMMSS>-<task>-<id8>/
      run.json            resolved config, seed, versions, data hashes, format version
      candidates.jsonl    one candidate per line (id, parents, operator, components)
      evaluations.jsonl   one example outcome per line (candidate id, split, example id, ...)
      ledger.jsonl        every model call (role, model, tokens, usd|null, cached, latency)
      events.jsonl        what the loop did, in order
      study.sqlite3       the optuna study (resume)
      summary.json        written last, atomically

JSONL files are append-only. A process killed mid-write can leave a torn last line; readers
skip it (it is the only line that can be incomplete) and the next append cuts it off first.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptopt.errors import StoreError

_UMASK = os.umask(0)  # read once, at import (single-threaded), and put back at once
os.umask(_UMASK)

FORMAT_VERSION = 1
FILES = ("candidates", "evaluations", "ledger", "events")


def new_run_dir(root: Path, task_name: str, *, clock: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(clock if clock is not None else time.time()))
    return root / f"{stamp}-{task_name}-{secrets.token_hex(4)}"


@dataclass
class RunStore:
    """Append-only files of one run. Thread-safe appends."""

    path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def create(path: Path, run_info: dict[str, Any]) -> RunStore:
        if path.exists() and any(path.iterdir()):
            raise StoreError(
                f"run folder {path} already exists and is not empty",
                hint="use `promptopt resume` to continue it, or choose another --run-dir",
            )
        store = RunStore(path)
        store.write_json("run.json", {"format_version": FORMAT_VERSION, **run_info})
        return store

    @staticmethod
    def open(path: Path) -> RunStore:
        info_path = path / "run.json"
        if not info_path.is_file():
            raise StoreError(
                f"{path} is not a run folder (no run.json)",
                hint="pass a folder under runs/ (see `promptopt runs`)",
            )
        store = RunStore(path)
        version = store.read_json("run.json").get("format_version")
        if version != FORMAT_VERSION:
            raise StoreError(
                f"run {path.name} has format version {version!r}; this promptopt reads {FORMAT_VERSION}",
                hint="use the promptopt version that wrote it (see run.json 'versions')",
            )
        return store

    def append(self, name: str, row: dict[str, Any]) -> None:
        self.append_many(name, [row])

    def append_many(self, name: str, rows: list[dict[str, Any]]) -> None:
        """Append lines and flush them to the OS (a killed process loses at most a torn line)."""
        if name not in FILES:
            raise ValueError(f"unknown run file {name!r}")
        text = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows)
        target = self.path / f"{name}.jsonl"
        try:
            with self._lock:
                _drop_torn_tail(target)
                with target.open("a", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
        except OSError as exc:
            raise StoreError(
                f"cannot append to {target}: {exc}",
                hint="free disk space; what is already on disk stays readable, and "
                "`promptopt resume` continues from it",
            ) from exc

    def read(self, name: str) -> Iterator[dict[str, Any]]:
        """Rows of a JSONL file; a torn (unparsable) last line is skipped, any other bad line
        is an error."""
        target = self.path / f"{name}.jsonl"
        if not target.is_file():
            return
        lines = target.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                if number == len(lines):
                    return  # torn by an interrupted write
                raise StoreError(
                    f"{target} line {number} is not valid JSON: {exc}",
                    hint="the run folder was edited or corrupted; restore it from a copy",
                ) from exc

    def write_json(self, name: str, data: Any) -> None:
        atomic_write(self.path / name, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def read_json(self, name: str) -> dict[str, Any]:
        try:
            data = json.loads((self.path / name).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"cannot read {self.path / name}: {exc}", hint="check the run folder") from exc
        if not isinstance(data, dict):
            raise StoreError(f"{self.path / name} does not hold a JSON object", hint="check the run folder")
        return data

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def set_aside(self, name: str) -> Path:
        """Rename ``name`` to ``<stem>.previous<suffix>`` (replacing an older one); returns the
        new path. A resumed run's old summary goes there until the new end writes another."""
        source = self.path / name
        target = source.with_name(f"{source.stem}.previous{source.suffix}")
        source.replace(target)
        return target


def _drop_torn_tail(path: Path) -> None:
    """Cut a partial last line (left by a killed writer) so the file stays valid JSONL."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return
        handle.seek(0)
        handle.truncate(handle.read().rfind(b"\n") + 1)


def atomic_write(path: Path, text: str) -> None:
    """Write beside the target and rename, so a reader never sees half a file and a failed
    write (full disk) leaves the previous file intact."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, blob: bytes) -> None:
    """``atomic_write`` for bytes. The file gets the usual permissions (0666 less the umask),
    not the owner-only ones of a temporary file."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fchmod(handle.fileno(), 0o666 & ~_UMASK)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise StoreError(f"cannot write {path}: {exc}", hint="check free space and permissions") from exc
