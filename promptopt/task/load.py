"""The one place that reads task data, through Hugging Face ``datasets``.

Files may be JSONL/JSON, CSV or Parquet. Loading validates everything a run relies on, so a bad
task fails before any model call: missing files, unknown fields, empty splits, labels outside
the label set, duplicate labels. A train/test text overlap is a warning, not an error.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from promptopt.digest import file_sha256
from promptopt.errors import DataError, TaskError
from promptopt.task.spec import SPLITS, Example, Task, TaskSpec, parse_task_file
from promptopt.task.split import plan_split

log = logging.getLogger(__name__)

_FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def find_task_file(name_or_path: str, search_dirs: Sequence[Path]) -> Path:
    """A task file path: the argument itself if it is a file, else ``<dir>/<name>.toml``."""
    as_path = Path(name_or_path)
    looks_like_path = as_path.suffix == ".toml" or len(as_path.parts) > 1
    if as_path.is_file() or looks_like_path:
        if not as_path.is_file():
            raise TaskError(f"task file not found: {as_path}", hint="check the path")
        return as_path
    for folder in search_dirs:
        candidate = folder / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for d in search_dirs if d.is_dir() for p in d.glob("*.toml")})
    raise TaskError(
        f"unknown task {name_or_path!r} (looked in {', '.join(map(str, search_dirs))})",
        hint=f"use a task file path or one of: {', '.join(known) or '(none found)'}",
    )


def list_task_files(search_dirs: Sequence[Path]) -> list[Path]:
    """Every ``*.toml`` in the search folders; the first folder wins on a name clash."""
    seen: dict[str, Path] = {}
    for folder in search_dirs:
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
            seen.setdefault(path.stem, path)
    return [seen[k] for k in sorted(seen)]


def load_task(name_or_path: str, *, search_dirs: Sequence[Path], data_dir: Path) -> Task:
    """Find, parse, read and validate a task."""
    spec = parse_task_file(find_task_file(name_or_path, search_dirs))
    return load_task_data(spec, data_dir=data_dir)


def load_task_data(spec: TaskSpec, *, data_dir: Path) -> Task:
    """Read a parsed task's splits and labels and check them against each other."""
    if spec.data.source is not None:
        paths, splits, hashes = _split_source(spec, data_dir)
    else:
        paths = {split: data_path(spec, spec.data.file_of(split), data_dir) for split in SPLITS}
        splits = {split: _read_split(spec, split, path) for split, path in paths.items()}
        hashes = {split: file_sha256(path) for split, path in paths.items()}
    labels = _labels(spec, splits["train"], data_dir)
    for split, examples in splits.items():
        _check_gold_labels(spec, split, paths[split], examples, labels)
    warnings = tuple(_overlap_warnings(splits))
    for warning in warnings:
        log.warning("%s: %s", spec.name, warning)
    return Task(spec=spec, labels=labels, splits=splits, warnings=warnings, data_hashes=hashes)


def _split_source(
    spec: TaskSpec, data_dir: Path
) -> tuple[dict[str, Path], dict[str, tuple[Example, ...]], dict[str, str]]:
    """The three splits of a task that names one ``source`` file and its ``split``."""
    assert spec.data.split is not None
    path = data_path(spec, spec.data.file_of("train"), data_dir)
    rows = read_labelled_rows(spec, path)
    labels = [str(row[spec.label_field]).strip() for row in rows]
    plan = plan_split(labels, spec.data.split, where=f"task {spec.name!r} ({path})")
    digest = file_sha256(path)
    splits, hashes = {}, {}
    for split in SPLITS:
        chosen = plan.indices(split)
        splits[split] = tuple(
            _example(spec, split, j, rows[i], path, row_number=i) for j, i in enumerate(chosen)
        )
        hashes[split] = hashlib.sha256(f"{digest}|{spec.data.split.describe()}|{split}".encode()).hexdigest()
    return {split: path for split in SPLITS}, splits, hashes


def read_labelled_rows(spec: TaskSpec, path: Path) -> list[dict[str, Any]]:
    """The rows of one data file, checked to have the task's input and label columns."""
    if not path.is_file():
        raise _missing_file(spec, "source" if spec.data.source else "data", path)
    rows = _read_rows(spec, path)
    if not rows:
        raise DataError(f"task {spec.name!r}: {path} has no rows", hint="give it rows")
    _check_columns(spec, path, set(rows[0]))
    return rows


def data_path(spec: TaskSpec, name: str, data_dir: Path) -> Path:
    """Resolve a ``[data]`` path: absolute as is; otherwise under ``data_dir / dir``."""
    path = Path(name).expanduser()
    if path.is_absolute():
        return path
    base = Path(spec.data.dir).expanduser()
    return (base if base.is_absolute() else data_dir / base) / path


def _missing_file(spec: TaskSpec, what: str, path: Path) -> DataError:
    hint = "set --data-dir or PROMPTOPT_DATA_DIR to the folder that holds the task's data"
    if spec.data.hub:
        hint += f"; the data is public at the hub as {spec.data.hub!r} (convert it to text/label files)"
    return DataError(f"task {spec.name!r}: {what} file not found: {path}", hint=hint)


def _read_split(spec: TaskSpec, split: str, path: Path) -> tuple[Example, ...]:
    if not path.is_file():
        raise _missing_file(spec, f"{split} split", path)
    rows = _read_rows(spec, path)
    if not rows:
        raise DataError(f"task {spec.name!r}: the {split} split is empty ({path})", hint="give it rows")
    _check_columns(spec, path, set(rows[0]))
    return tuple(_example(spec, split, i, row, path) for i, row in enumerate(rows))


def _check_columns(spec: TaskSpec, path: Path, columns: set[str]) -> None:
    roles = [("input", f) for f in spec.input_fields] + [("label", spec.label_field)]
    for role, field in roles:
        if field not in columns:
            raise DataError(
                f"task {spec.name!r}: {role} field {field!r} is not a column of {path}"
                f" (columns: {', '.join(sorted(columns))})",
                hint=f"set [fields] {role} to one of the columns",
            )


def _example(
    spec: TaskSpec, split: str, index: int, row: dict[str, Any], path: Path, *, row_number: int | None = None
) -> Example:
    """Example ``<split>-<index>``; ``row_number`` is its row in ``path`` (default: ``index``)."""
    label, where = row[spec.label_field], row_number if row_number is not None else index
    if all(row.get(f) is None or not str(row[f]).strip() for f in spec.input_fields):
        raise DataError(
            f"task {spec.name!r}: row {where} of {path} has an empty {' and '.join(map(repr, spec.input_fields))}",
            hint="remove the row or fill the field",
        )
    if label is None or not str(label).strip():
        raise DataError(
            f"task {spec.name!r}: row {where} of {path} has an empty {spec.label_field!r}",
            hint="remove the row or give it a label",
        )
    return Example(id=f"{split}-{index}", text=spec.input_text(row), label=str(label).strip())


def _read_rows(spec: TaskSpec, path: Path) -> list[dict[str, Any]]:
    try:
        return read_table(path, spec.data.format)
    except DataError as exc:
        raise DataError(f"task {spec.name!r}: {exc.what}", hint=exc.hint) from exc


def read_table(path: Path, fmt: str | None = None) -> list[dict[str, Any]]:
    """The rows of a JSONL/JSON, CSV or Parquet file (``fmt``: json, csv or parquet; None = from
    the extension); an empty file gives no rows."""
    builder = fmt or _FORMATS.get(path.suffix.lower())
    if builder is None:
        raise DataError(
            f"cannot tell the format of {path} (extension {path.suffix or 'none'!r})",
            hint='name it .jsonl/.json/.csv/.parquet or set [data] format = "json"|"csv"|"parquet"',
        )
    if not _has_rows(builder, path):
        return []
    if builder == "csv":
        _refuse_json_as_csv(path)
    return _load_with_datasets(builder, path)


def _refuse_json_as_csv(path: Path) -> None:
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        first = next((line.strip() for line in handle if line.strip()), "")
    if first.startswith(("{", "[")):
        raise DataError(
            f"{path} is named .csv but holds JSON (its first line starts with {first[:1]!r})",
            hint="rename it .jsonl (one object per line) or export it as CSV with a header row",
        )


_VALID_FORM = {
    "json": "one JSON object per line (JSONL) or a JSON list of objects",
    "csv": "comma-separated with a header row",
    "parquet": "a Parquet table",
}


# CSV cells are kept verbatim: no number guessing ("00123" stays "00123") and no NA guessing
# ("NA" and "null" are text, not missing values).
def _csv_options(datasets: Any, path: Path) -> dict[str, Any]:
    import csv

    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), [])
    features = datasets.Features({name: datasets.Value("string") for name in header})
    return {"features": features, "keep_default_na": False, "na_filter": False}


def _has_rows(builder: str, path: Path) -> bool:
    """Whether the file holds at least one data row (datasets fails obscurely on none)."""
    if path.stat().st_size == 0:
        return False
    if builder == "parquet":
        import pyarrow.parquet as pq

        try:
            return bool(pq.read_metadata(path).num_rows > 0)
        except Exception as exc:  # not a parquet file at all
            raise _unreadable(builder, path, exc) from exc
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        lines = (line for line in handle if line.strip())
        needed = 2 if builder == "csv" else 1  # a CSV header alone has no rows
        return sum(1 for _, _ in zip(range(needed), lines, strict=False)) >= needed


def _unreadable(builder: str, path: Path, exc: Exception) -> DataError:
    return DataError(
        f"could not read {path} as {builder}: {type(exc).__name__}: {exc}",
        hint=f"check that the file is valid: {_VALID_FORM[builder]}",
    )


def _load_with_datasets(builder: str, path: Path) -> list[dict[str, Any]]:
    import datasets  # heavy import, deferred to first use

    datasets.disable_progress_bars()
    try:
        options = _csv_options(datasets, path) if builder == "csv" else {}
        with tempfile.TemporaryDirectory(prefix="promptopt-ds-") as cache:
            table = datasets.load_dataset(
                builder,
                data_files=str(path),
                split="train",
                cache_dir=cache,
                keep_in_memory=True,
                **options,
            )
            return list(table.to_list())
    except Exception as exc:  # datasets raises many types; all mean "unreadable file"
        raise _unreadable(builder, path, exc) from exc


def _labels(spec: TaskSpec, train: tuple[Example, ...], data_dir: Path) -> tuple[str, ...]:
    if spec.data.labels is None:
        return tuple(sorted({e.label for e in train}))
    path = data_path(spec, spec.data.labels, data_dir)
    if not path.is_file():
        raise _missing_file(spec, "labels", path)
    text = path.read_text(encoding="utf-8-sig")  # tolerate a byte-order mark
    names = [line.strip() for line in text.splitlines() if line.strip()]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TaskError(
            f"task {spec.name!r}: duplicate label(s) in {path}: {', '.join(duplicates)}",
            hint="list each label once",
        )
    if len(names) < 2:
        raise TaskError(
            f"task {spec.name!r}: {path} lists {len(names)} label(s); a classification needs 2+",
            hint="list one label per line",
        )
    return tuple(names)


def _check_gold_labels(
    spec: TaskSpec, split: str, path: Path, examples: Iterable[Example], labels: tuple[str, ...]
) -> None:
    allowed = set(labels)
    bad = [(e.id, e.label) for e in examples if e.label not in allowed]
    if bad:
        shown = "; ".join(f"{eid}: {label!r}" for eid, label in bad[:5])
        raise DataError(
            f"task {spec.name!r}: {len(bad)} {split} example(s) in {path} have a gold label"
            f" outside the label set ({shown})",
            hint="fix the labels in the data or add them to the labels file",
        )


def _overlap_warnings(splits: dict[str, tuple[Example, ...]]) -> Iterable[str]:
    texts = {name: {_norm(e.text) for e in examples} for name, examples in splits.items()}
    for first, second in (("train", "test"), ("dev", "test"), ("train", "dev")):
        shared = len(texts[first] & texts[second])
        if shared:
            yield (
                f"{shared} text(s) appear in both {first} and {second};"
                " scores on those may be optimistic when demos come from train"
            )


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


def fetch_hub(name: str, *, env: Mapping[str, str]) -> list[dict[str, Any]]:
    """The rows of the hub dataset ``name`` (every split, class ids as their names). Offline, or
    when the hub cannot be reached, a DataError that says how to use a local file instead."""
    how = (
        f"download {name!r} where you are online (e.g. datasets.load_dataset({name!r}).to_json(...)"
        " or the hub's file browser), then run: promptopt init path/to/file.csv"
    )
    offline = [v for v in _OFFLINE_VARS if env.get(v, "").strip().lower() in ("1", "true", "yes", "on")]
    if offline:
        raise DataError(
            f"cannot fetch {name!r} from the Hugging Face hub: offline ({offline[0]} is set)", hint=how
        )
    import datasets

    datasets.disable_progress_bars()
    try:
        loaded = datasets.load_dataset(name)
    except Exception as exc:  # no network, unknown name, gated data: all mean "not here"
        raise DataError(
            f"cannot fetch {name!r} from the Hugging Face hub: {type(exc).__name__}: {str(exc)[:200]}",
            hint=how,
        ) from exc
    return [_named(row, split.features) for split in loaded.values() for row in split]


def _named(row: Mapping[str, Any], features: Any) -> dict[str, Any]:
    """``row`` with class ids written as their names (hub datasets store labels as ints)."""
    out = dict(row)
    for key, feature in features.items():
        names = getattr(feature, "names", None)
        if names and isinstance(out.get(key), int):
            out[key] = names[out[key]]
    return out
