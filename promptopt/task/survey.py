"""A labelled data set at a glance, before any model call: the classes and their sizes, text
lengths, duplicated texts, texts given conflicting labels, and classes too small for a
train/dev/test split, each with a warning that says what to do. Returned as data; the CLI
prints it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from promptopt.task.split import MIN_PER_CLASS


@dataclass(frozen=True)
class Survey:
    rows: int
    classes: tuple[tuple[str, int], ...]  # (label, examples), largest first
    length_chars: tuple[int, int, int]  # median, 90th percentile, max
    duplicates: int  # rows whose (normalised) text an earlier row already had
    conflicts: int  # distinct texts that carry more than one label
    small: tuple[str, ...]  # classes with fewer than MIN_PER_CLASS examples
    warnings: tuple[str, ...]


def survey(texts: Sequence[str], labels: Sequence[str]) -> Survey:
    """The summary of rows ``(texts[i], labels[i])``."""
    sizes = Counter(labels)
    classes = tuple(sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])))
    by_text: dict[str, set[str]] = {}
    for text, label in zip(texts, labels, strict=True):
        by_text.setdefault(" ".join(text.lower().split()), set()).add(label)
    duplicates = len(texts) - len(by_text)
    conflicts = sum(1 for seen in by_text.values() if len(seen) > 1)
    small = tuple(label for label, n in classes if n < MIN_PER_CLASS)
    lengths = sorted(len(t) for t in texts)
    spread = (_quantile(lengths, 0.5), _quantile(lengths, 0.9), lengths[-1] if lengths else 0)
    found = Survey(len(texts), classes, spread, duplicates, conflicts, small, ())
    return Survey(**{**found.__dict__, "warnings": tuple(_warnings(found))})


def _quantile(values: Sequence[int], q: float) -> int:
    if not values:
        return 0
    return values[min(len(values) - 1, int(q * len(values)))]


def _warnings(s: Survey) -> list[str]:
    found: list[str] = []
    if len(s.classes) < 2:
        found.append("only one class: a classifier needs at least two labels; check the label column")
    if s.small:
        found.append(
            f"{len(s.small)} class(es) have fewer than {MIN_PER_CLASS} examples ({', '.join(s.small[:5])}):"
            " too few to split; add examples, merge them, or drop their rows"
        )
    if s.duplicates:
        found.append(
            f"{s.duplicates} row(s) repeat an earlier text: a copy can land in train and test and"
            " flatter the scores; drop the repeats"
        )
    if s.conflicts:
        found.append(
            f"{s.conflicts} text(s) carry more than one label: no prompt can get both right;"
            " fix the labels or keep one row"
        )
    if s.rows < 500:
        found.append(f"{s.rows} labelled rows: enough to optimize a prompt, but fine-tuning wants 500+")
    if s.classes and s.classes[0][1] > 10 * s.classes[-1][1]:
        found.append(
            f"classes are unbalanced ({s.classes[0][0]!r}: {s.classes[0][1]}, {s.classes[-1][0]!r}:"
            f' {s.classes[-1][1]}): consider --metric macro_f1 (metric = "macro_f1" in the task file)'
        )
    return found
