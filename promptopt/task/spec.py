"""Classification tasks: the task-file schema and the loaded, validated task.

A task file is TOML. Only the standard library is used here; reading the data files is the job
of :mod:`promptopt.task.load`, the one place that touches ``datasets``.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptopt.errors import TaskError

METRICS = ("accuracy", "macro_f1")
SPLITS = ("train", "dev", "test")
_TOP_KEYS = {"name", "description", "metric", "fields", "data", "instruction"}
_FIELD_KEYS = {"input", "label", "layout"}
_DATA_KEYS = {"dir", "train", "dev", "test", "labels", "hub", "format", "source", "split"}
_SPLIT_KEYS = {"dev", "test", "seed"}
DEFAULT_SPLIT = (0.2, 0.2)  # dev and test fractions of a source file split by promptopt


@dataclass(frozen=True)
class SplitSpec:
    """How one labelled ``source`` file is split into train/dev/test: stratified by label,
    seeded. ``dev`` and ``test`` are fractions (0 < f < 1) or example counts (integers)."""

    dev: float | int = DEFAULT_SPLIT[0]
    test: float | int = DEFAULT_SPLIT[1]
    seed: int = 0

    def describe(self) -> str:
        return f"dev={self.dev}, test={self.test}, seed={self.seed}"


@dataclass(frozen=True)
class DataSpec:
    """Where a task's files are: three split files (``train``, ``dev``, ``test``), or one
    labelled ``source`` file and the ``split`` that divides it. Relative paths resolve against
    ``dir``, which resolves against the data directory; absolute paths are used as they are."""

    dir: str
    train: str | None = None
    dev: str | None = None
    test: str | None = None
    labels: str | None = None
    hub: str | None = None
    format: str | None = None  # "json", "csv" or "parquet"; None = from the file extension
    source: str | None = None
    split: SplitSpec | None = None

    def file_of(self, split: str) -> str:
        """The file a split is read from (the source file when the task splits one)."""
        name = self.source if self.source is not None else getattr(self, split)
        assert name is not None  # parse_task_mapping checks one of the two shapes is complete
        return str(name)


@dataclass(frozen=True)
class TaskSpec:
    """A parsed task file, before any data is read."""

    name: str
    description: str
    metric: str
    input_fields: tuple[str, ...]
    label_field: str
    data: DataSpec
    instruction: str | None = None
    source: Path | None = None
    layout: str | None = None  # how several input fields make one text; see input_text

    def input_text(self, row: Mapping[str, Any]) -> str:
        """The text the model sees for ``row`` (see :func:`lay_out`)."""
        return lay_out(self.input_fields, self.layout, row)


def lay_out(fields: Sequence[str], layout: str | None, row: Mapping[str, Any]) -> str:
    """One text from a row's input ``fields``: the one field, or the fields written into the
    layout (default: one ``field: value`` line per field). A missing or null field is empty."""
    values = {f: "" if row.get(f) is None else str(row[f]) for f in fields}
    if layout is not None:
        return layout.format_map(values)
    if len(fields) == 1:
        return values[fields[0]]
    return "\n".join(f"{f}: {values[f]}" for f in fields)


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
    inputs = _input_fields(fields.get("input", "text"), f"{where} [fields]")
    return TaskSpec(
        name=name,
        description=str(raw.get("description", "")),
        metric=metric,
        input_fields=inputs,
        label_field=str(fields.get("label", "label")),
        data=_data_spec(data, where),
        instruction=instruction,
        source=source,
        layout=_layout(fields.get("layout"), inputs, f"{where} [fields]"),
    )


def _input_fields(value: Any, where: str) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    ok = isinstance(names, list) and names and all(isinstance(n, str) and n.strip() for n in names)
    if not ok:
        raise TaskError(
            f"{where}: input must be a column name or a list of column names (seen: {value!r})",
            hint='e.g. input = "text" or input = ["subject", "body"]',
        )
    if len(set(names)) != len(names):
        raise TaskError(
            f"{where}: input names a column twice (seen: {value!r})", hint="list each column once"
        )
    return tuple(names)


def layout_fields(layout: str) -> list[str]:
    """The ``{placeholders}`` of a layout, in order (``{{`` and ``}}`` are literal braces)."""
    try:
        parsed = list(string.Formatter().parse(layout))
    except ValueError as exc:
        raise TaskError(
            f"layout {layout!r} is not a valid template: {exc}",
            hint="write fields as {name}; a literal brace as {{ or }}",
        ) from exc
    return [name for _, name, _, _ in parsed if name is not None]


def _layout(value: Any, inputs: tuple[str, ...], where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TaskError(
            f"{where}: layout must be a non-empty string (seen: {value!r})", hint="remove it or fill it"
        )
    used = layout_fields(value)
    unknown = [n for n in used if n not in inputs]
    if unknown:
        raise TaskError(
            f"{where}: layout uses {', '.join(map(repr, unknown))}, which is not an input field"
            f" (input fields: {', '.join(inputs)})",
            hint="add the column to input, or write {name} with one of the input fields",
        )
    unused = [n for n in inputs if n not in used]
    if unused:
        raise TaskError(
            f"{where}: layout never shows the input field(s) {', '.join(map(repr, unused))}",
            hint="write each input field into the layout as {name}, or drop it from input",
        )
    return value


def _data_spec(data: Mapping[str, Any], where: str) -> DataSpec:
    fmt = data.get("format")
    if fmt is not None and fmt not in ("json", "csv", "parquet"):
        raise TaskError(f"{where} [data]: format {fmt!r} is not supported", hint="use json, csv or parquet")
    here = f"{where} [data]"
    common: dict[str, Any] = dict(
        dir=str(data.get("dir", "")),
        labels=_optional_str(data, "labels", here),
        hub=_optional_str(data, "hub", here),
        format=fmt,
    )
    if "source" not in data:
        if "split" in data:
            raise TaskError(f"{here}: split needs a source file", hint='add source = "all.csv" or drop split')
        train, dev, test = (_required_str(data, s, here) for s in SPLITS)
        return DataSpec(**common, train=train, dev=dev, test=test)
    given = [s for s in SPLITS if s in data]
    if given:
        raise TaskError(
            f"{here}: give either source (one file promptopt splits) or train/dev/test, not both"
            f" (seen: source and {', '.join(given)})",
            hint="drop source, or drop the split files",
        )
    return DataSpec(
        **common, source=_required_str(data, "source", here), split=_split_spec(data.get("split"), here)
    )


def _split_spec(value: Any, where: str) -> SplitSpec:
    if value is None:
        return SplitSpec()
    if not isinstance(value, dict):
        raise TaskError(
            f"{where}: split must be a table (seen: {value!r})",
            hint="e.g. split = { dev = 0.2, test = 0.2, seed = 0 }",
        )
    _reject_unknown(value, _SPLIT_KEYS, f"{where} split")
    seed = value.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TaskError(f"{where} split: seed must be an integer (seen: {seed!r})", hint="e.g. seed = 0")
    sizes = [
        _split_size(value.get(k, d), k, where) for k, d in zip(("dev", "test"), DEFAULT_SPLIT, strict=True)
    ]
    fractions = sum(s for s in sizes if isinstance(s, float))
    if fractions >= 1:
        raise TaskError(
            f"{where} split: dev and test take {fractions:.0%} of the data, leaving no train",
            hint="use fractions that sum to less than 1, e.g. dev = 0.2, test = 0.2",
        )
    return SplitSpec(dev=sizes[0], test=sizes[1], seed=seed)


def _split_size(value: Any, key: str, where: str) -> float | int:
    is_count = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    is_fraction = isinstance(value, float) and 0 < value < 1
    if not (is_count or is_fraction):
        raise TaskError(
            f"{where} split: {key} must be a fraction between 0 and 1 or a count of examples (seen: {value!r})",
            hint=f"e.g. {key} = 0.2 or {key} = 200",
        )
    return int(value) if is_count else float(value)


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
