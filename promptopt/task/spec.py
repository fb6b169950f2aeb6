"""Classification tasks: the task-file schema and the loaded, validated task.

A task file is TOML. Only the standard library is used here; reading the data files is the job
of :mod:`promptopt.task.load`, the one place that touches ``datasets``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptopt.errors import TaskError

METRICS = ("accuracy", "macro_f1")
SPLITS = ("train", "dev", "test")
_TOP_KEYS = {"name", "description", "metric", "fields", "data", "instruction"}
_FIELD_KEYS = {"input", "label"}
_DATA_KEYS = {"dir", "train", "dev", "test", "labels", "hub", "format"}


@dataclass(frozen=True)
class DataSpec:
    """Where a task's files are. Relative paths resolve against ``dir``, which resolves against
    the data directory; absolute paths are used as they are."""

    dir: str
    train: str
    dev: str
    test: str
    labels: str | None = None
    hub: str | None = None
    format: str | None = None  # "json", "csv" or "parquet"; None = from the file extension


@dataclass(frozen=True)
class TaskSpec:
    """A parsed task file, before any data is read."""

    name: str
    description: str
    metric: str
    input_field: str
    label_field: str
    data: DataSpec
    instruction: str | None = None
    source: Path | None = None


@dataclass(frozen=True)
class Example:
    """One labelled input. ``id`` is stable: ``<split>-<row index>``."""

    id: str
    text: str
    label: str


@dataclass(frozen=True)
class Task:
    """A task with its data loaded and validated. ``labels`` is ordered and unique."""

    spec: TaskSpec
    labels: tuple[str, ...]
    splits: Mapping[str, tuple[Example, ...]]
    warnings: tuple[str, ...] = ()
    data_hashes: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def split(self, name: str) -> tuple[Example, ...]:
        if name not in self.splits:
            raise TaskError(
                f"task {self.name!r} has no split {name!r}",
                hint=f"use one of: {', '.join(self.splits)}",
            )
        return self.splits[name]


def parse_task_file(path: Path) -> TaskSpec:
    """Read and validate a task file's structure (not its data)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as exc:
        raise TaskError(f"task file not found: {path}", hint="check the path") from exc
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(
            f"task file {path} is not valid TOML: {exc}",
            hint="fix the syntax at the line and column given",
        ) from exc
    except UnicodeDecodeError as exc:
        raise TaskError(f"task file {path} is not UTF-8 text", hint="save it as UTF-8") from exc
    return parse_task_mapping(raw, source=path)


def parse_task_mapping(raw: Mapping[str, Any], *, source: Path | None = None) -> TaskSpec:
    """Validate the keys and values of a task mapping and build a :class:`TaskSpec`."""
    where = str(source) if source else "task"
    _reject_unknown(raw, _TOP_KEYS, where)
    name = _required_str(raw, "name", where)
    metric = raw.get("metric", "accuracy")
    if metric not in METRICS:
        raise TaskError(
            f"{where}: metric {metric!r} is not supported",
            hint=f"use one of: {', '.join(METRICS)}",
        )
    fields = _table(raw, "fields", where)
    _reject_unknown(fields, _FIELD_KEYS, f"{where} [fields]")
    data = _table(raw, "data", where)
    _reject_unknown(data, _DATA_KEYS, f"{where} [data]")
    instruction = raw.get("instruction")
    if instruction is not None and (not isinstance(instruction, str) or not instruction.strip()):
        raise TaskError(f"{where}: instruction must be a non-empty string", hint="remove it or fill it")
    return TaskSpec(
        name=name,
        description=str(raw.get("description", "")),
        metric=metric,
        input_field=str(fields.get("input", "text")),
        label_field=str(fields.get("label", "label")),
        data=_data_spec(data, where),
        instruction=instruction,
        source=source,
    )


def _data_spec(data: Mapping[str, Any], where: str) -> DataSpec:
    fmt = data.get("format")
    if fmt is not None and fmt not in ("json", "csv", "parquet"):
        raise TaskError(f"{where} [data]: format {fmt!r} is not supported", hint="use json, csv or parquet")
    return DataSpec(
        dir=str(data.get("dir", "")),
        train=_required_str(data, "train", f"{where} [data]"),
        dev=_required_str(data, "dev", f"{where} [data]"),
        test=_required_str(data, "test", f"{where} [data]"),
        labels=_optional_str(data, "labels", f"{where} [data]"),
        hub=_optional_str(data, "hub", f"{where} [data]"),
        format=fmt,
    )


def _reject_unknown(table: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise TaskError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}",
            hint=f"known keys here: {', '.join(sorted(known))}",
        )


def _table(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise TaskError(
            f"{where}: missing table [{key}] (seen: {value!r})",
            hint=f"add a [{key}] section; see tasks/banking77.toml",
        )
    return value


def _required_str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TaskError(
            f"{where}: key {key!r} must be a non-empty string (seen: {value!r})",
            hint=f'add {key} = "..."',
        )
    return value


def _optional_str(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    if key not in raw:
        return None
    return _required_str(raw, key, where)


def sample(
    examples: tuple[Example, ...], n: int | None, *, seed: int, stratified: bool = False
) -> tuple[Example, ...]:
    """A deterministic slice of ``n`` examples (all when ``n`` is None or too large).

    Data files are often sorted by label, so the slice is a seeded random draw, never the first
    ``n`` rows; ``stratified`` draws round-robin over labels (equal counts where possible).
    The returned order is the file order, so slices of one seed nest as ``n`` grows only for
    the plain draw.
    """
    import random

    if n is None or n >= len(examples):
        return examples
    rng = random.Random(seed)
    if not stratified:
        chosen = set(rng.sample(range(len(examples)), n))
    else:
        chosen = _stratified_indices(examples, n, rng)
    return tuple(e for i, e in enumerate(examples) if i in chosen)


def _stratified_indices(examples: tuple[Example, ...], n: int, rng: Any) -> set[int]:
    pools: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        pools.setdefault(example.label, []).append(i)
    for items in pools.values():
        rng.shuffle(items)
    order = sorted(pools)
    chosen: set[int] = set()
    while len(chosen) < n:
        for label in order:
            if pools[label] and len(chosen) < n:
                chosen.add(pools[label].pop())
    return chosen
