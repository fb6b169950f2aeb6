"""Short label descriptions generated once from training examples, without model calls: each
label's most distinctive words (TF-IDF weight in the label's examples against the others)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from promptopt.task.spec import Example


def keyword_descriptions(
    train: Sequence[Example], labels: Sequence[str], *, words: int = 4, max_df: float = 0.5
) -> tuple[tuple[str, str], ...]:
    """``(label, "kw1, kw2, ...")`` for every label with training examples, in label order.

    A word's score for a label is its mean TF-IDF in that label's examples minus its mean over
    all other examples, so words common to every label (``my``, ``card`` in a card-heavy task)
    do not describe any of them. Words that are part of the label name are skipped: they add
    no information the name does not already give.
    """
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    by_label: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(train):
        by_label[example.label].append(i)
    vectorizer = TfidfVectorizer(stop_words="english", max_df=max_df, min_df=2, sublinear_tf=True)
    matrix = vectorizer.fit_transform([e.text for e in train])
    vocab = np.asarray(vectorizer.get_feature_names_out())
    overall = np.asarray(matrix.mean(axis=0)).ravel()
    n = matrix.shape[0]
    result = []
    for label in labels:
        rows = by_label.get(label)
        if not rows:
            continue
        inside = np.asarray(matrix[rows].mean(axis=0)).ravel()
        outside = (overall * n - inside * len(rows)) / max(n - len(rows), 1)
        name_parts = set(label.lower().replace("-", "_").replace(" ", "_").split("_"))
        ranked = [
            vocab[i] for i in np.argsort(-(inside - outside), kind="stable") if vocab[i] not in name_parts
        ]
        result.append((label, ", ".join(ranked[:words])))
    return tuple(result)
