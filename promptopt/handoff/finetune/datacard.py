"""The data card and the cleaning of the train split, from the task data alone.

Texts are compared after normalisation: lower-cased, with runs of whitespace folded to one
space. A *duplicate* is a further copy of a text with the same label; a *conflict* is a text
that carries two or more labels; *overlap* is a train text that also appears in test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from promptopt.task.spec import Example


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class Spread:
    """Mean, median and 95th percentile of a length (NaN for no values)."""

    mean: float
    p50: float
    p95: float

    @staticmethod
    def of(values: Sequence[int]) -> Spread:
        if not values:
            nan = float("nan")
            return Spread(nan, nan, nan)
        p50, p95 = np.percentile(values, [50, 95])
        return Spread(float(np.mean(values)), float(p50), float(p95))


@dataclass(frozen=True)
class Lengths:
    chars: Spread
    words: Spread

    @staticmethod
    def of(examples: Sequence[Example]) -> Lengths:
        return Lengths(
            chars=Spread.of([len(e.text) for e in examples]),
            words=Spread.of([len(e.text.split()) for e in examples]),
        )


@dataclass(frozen=True)
class Cleaning:
    """The train split after cleaning: ``usable`` keeps the first copy of every text that has
    one label and does not appear in test. Counts are of train examples."""

    total: int
    duplicates: int
    conflicting_texts: int
    conflicting_examples: int
    test_overlap_examples: int
    usable: tuple[Example, ...]


def clean(train: Sequence[Example], test_texts: Iterable[str]) -> Cleaning:
    """Drop conflicting texts (every copy), texts seen in test, and repeated copies."""
    in_test = {normalize(t) for t in test_texts}
    groups: dict[str, list[Example]] = {}
    for example in train:
        groups.setdefault(normalize(example.text), []).append(example)
    conflicting = {k: g for k, g in groups.items() if len({e.label for e in g}) > 1}
    usable = tuple(g[0] for k, g in groups.items() if k not in conflicting and k not in in_test)
    return Cleaning(
        total=len(train),
        duplicates=sum(len(g) - 1 for k, g in groups.items() if k not in conflicting),
        conflicting_texts=len(conflicting),
        conflicting_examples=sum(len(g) for g in conflicting.values()),
        test_overlap_examples=sum(len(g) for k, g in groups.items() if k in in_test),
        usable=usable,  # groups keep the order of first appearance: file order
    )


@dataclass(frozen=True)
class ClassRow:
    label: str
    train: int
    usable: int
    test: int


@dataclass(frozen=True)
class AgreedError:
    example_id: str
    text: str
    gold: str
    predicted: str


@dataclass(frozen=True)
class AgreedErrors:
    """Test examples that every judge (the best prompt and each trained model) answered with
    the same wrong label: suspected label noise or ambiguous classes, since models that learn
    in different ways agree against the label. ``n_judged``: examples every judge answered."""

    judges: tuple[str, ...]
    n_judged: int
    examples: tuple[AgreedError, ...]

    def pairs(self) -> list[tuple[str, str, int]]:
        """(gold, the label every judge gave, count), most frequent first."""
        counts = Counter((e.gold, e.predicted) for e in self.examples)
        return [(gold, predicted, n) for (gold, predicted), n in counts.most_common()]

    def to_json(self) -> dict[str, Any]:
        return {
            "judges": list(self.judges),
            "n_judged": self.n_judged,
            "n_agreed_errors": len(self.examples),
            "pairs": [{"gold": g, "predicted": p, "count": n} for g, p, n in self.pairs()],
            "examples": [asdict(e) for e in self.examples],
        }


def agreed_errors(
    test: Sequence[Example], judges: Sequence[tuple[str, Mapping[str, str | None]]]
) -> AgreedErrors:
    """The examples of ``test`` every judge answered (None: no answer) with one same wrong label."""
    names = tuple(name for name, _ in judges)
    judged, agreed = 0, []
    for e in test:
        answers = [answers.get(e.id) for _, answers in judges]
        if not answers or any(a is None for a in answers):
            continue
        judged += 1
        if len(set(answers)) == 1 and answers[0] != e.label:
            agreed.append(AgreedError(e.id, e.text, e.label, str(answers[0])))
    return AgreedErrors(names, judged, tuple(agreed))


@dataclass(frozen=True)
class DataCard:
    """Class balance, text lengths and train/test overlap of a task, as a run used it.

    ``test`` is the run's test slice (the gate); ``overlap_full_test`` counts train examples
    whose text is anywhere in the test split, ``overlap_gate`` those in the run's slice."""

    task: str
    labels: tuple[str, ...]
    classes: tuple[ClassRow, ...]
    lengths_train: Lengths
    lengths_test: Lengths
    cleaning: Cleaning
    overlap_full_test: int
    overlap_gate: int
    test_n: int
    test_split_n: int
    agreed: AgreedErrors | None = None  # set once the trained models have answered the gate

    def under(self, threshold: int) -> tuple[ClassRow, ...]:
        """Classes with fewer than ``threshold`` usable train examples."""
        return tuple(c for c in self.classes if c.usable < threshold)

    def imbalance(self) -> float:
        """Largest over smallest usable class count (inf when a class has none)."""
        counts = [c.usable for c in self.classes]
        return float("inf") if min(counts) == 0 else max(counts) / min(counts)

    def to_json(self) -> dict[str, Any]:
        cleaning = {k: v for k, v in asdict(self.cleaning).items() if k != "usable"}
        return {
            "task": self.task,
            "labels": list(self.labels),
            "n_labels": len(self.labels),
            "classes": [asdict(c) for c in self.classes],
            "imbalance_max_over_min": _finite(self.imbalance()),
            "lengths": {"train": asdict(self.lengths_train), "test": asdict(self.lengths_test)},
            "train_cleaning": {**cleaning, "usable": len(self.cleaning.usable)},
            "overlap": {
                "train_examples_in_test_split": self.overlap_full_test,
                "train_examples_in_gate_test": self.overlap_gate,
                "normalisation": "lower-case, whitespace folded",
            },
            "test_n": self.test_n,
            "test_split_n": self.test_split_n,
            "suspected_label_noise": None if self.agreed is None else self.agreed.to_json(),
        }


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


def data_card(
    task_name: str,
    labels: Sequence[str],
    train: Sequence[Example],
    test_split: Sequence[Example],
    gate: Sequence[Example],
) -> DataCard:
    """Describe ``train`` against the whole test split and the run's test slice ``gate``."""
    cleaning = clean(train, (e.text for e in test_split))
    gate_texts = {normalize(e.text) for e in gate}
    counts, usable, tests = (Counter(e.label for e in xs) for xs in (train, cleaning.usable, gate))
    return DataCard(
        task=task_name,
        labels=tuple(labels),
        classes=tuple(ClassRow(label, counts[label], usable[label], tests[label]) for label in labels),
        lengths_train=Lengths.of(train),
        lengths_test=Lengths.of(gate),
        cleaning=cleaning,
        overlap_full_test=cleaning.test_overlap_examples,
        overlap_gate=sum(normalize(e.text) in gate_texts for e in train),
        test_n=len(gate),
        test_split_n=len(test_split),
    )
