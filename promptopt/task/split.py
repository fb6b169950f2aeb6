"""Splitting one labelled file into train, dev and test: stratified by label and seeded, so the
same file and the same :class:`~promptopt.task.spec.SplitSpec` always give the same three
splits, on any machine.

Each class gives its share to dev and test (at least one example each), the rest to train; a
class too small for that is an error that names it, before anything is written or called.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from promptopt.errors import DataError
from promptopt.task.spec import SplitSpec

MIN_PER_CLASS = 3  # one each for train, dev and test


@dataclass(frozen=True)
class SplitPlan:
    """Row indices (into the source file, ascending) of each split."""

    train: tuple[int, ...]
    dev: tuple[int, ...]
    test: tuple[int, ...]

    def indices(self, split: str) -> tuple[int, ...]:
        return {"train": self.train, "dev": self.dev, "test": self.test}[split]


def small_classes(labels: Sequence[str]) -> dict[str, int]:
    """The classes with fewer than :data:`MIN_PER_CLASS` examples, and their sizes."""
    sizes = _sizes(labels)
    return {label: n for label, n in sorted(sizes.items()) if n < MIN_PER_CLASS}


def plan_split(labels: Sequence[str], spec: SplitSpec, *, where: str) -> SplitPlan:
    """Split the rows whose gold labels are ``labels`` (one per row, in file order)."""
    too_small = small_classes(labels)
    if too_small:
        shown = ", ".join(f"{label!r} ({n})" for label, n in list(too_small.items())[:8])
        raise DataError(
            f"{where}: {len(too_small)} class(es) have fewer than {MIN_PER_CLASS} examples,"
            f" too few for a train/dev/test split: {shown}",
            hint="add examples to these classes, merge them into another, or drop their rows",
        )
    dev_n, test_n = _target(spec.dev, len(labels)), _target(spec.test, len(labels))
    if dev_n + test_n >= len(labels):
        raise DataError(
            f"{where}: dev ({dev_n}) and test ({test_n}) would take all {len(labels)} examples",
            hint="ask for smaller dev and test sizes",
        )
    rng = random.Random(spec.seed)
    chosen: dict[str, list[int]] = {"dev": [], "test": [], "train": []}
    for rows in _pools(labels).values():
        rng.shuffle(rows)
        dev_k = min(_share(len(rows), dev_n, len(labels)), len(rows) - 2)
        test_k = min(_share(len(rows), test_n, len(labels)), len(rows) - dev_k - 1)
        chosen["test"] += rows[:test_k]
        chosen["dev"] += rows[test_k : test_k + dev_k]
        chosen["train"] += rows[test_k + dev_k :]
    return SplitPlan(**{name: tuple(sorted(rows)) for name, rows in chosen.items()})


def _target(size: float | int, total: int) -> int:
    return size if isinstance(size, int) else round(size * total)


def _share(class_size: int, split_n: int, total: int) -> int:
    """A class's part of a split of ``split_n`` rows out of ``total``: proportional, at least 1."""
    return max(1, round(class_size * split_n / total))


def _sizes(labels: Sequence[str]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for label in labels:
        sizes[label] = sizes.get(label, 0) + 1
    return sizes


def _pools(labels: Sequence[str]) -> dict[str, list[int]]:
    pools: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        pools.setdefault(label, []).append(i)
    return {label: pools[label] for label in sorted(pools)}
