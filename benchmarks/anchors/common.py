"""What every contender shares and reports: the bench (task, slices and the one train pool), the
counting rule for answers, and the result of one contender."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from promptopt.evaluate.scoring import Outcome, score
from promptopt.llm import local
from promptopt.llm.types import Completer
from promptopt.prompt.retrieve import Embedder
from promptopt.settings import Paths, resolve_paths
from promptopt.task.spec import Example, Task, sample


def write_result(path: Path | None, result: Any) -> None:
    """A benchmark's ``--json`` output: ``result`` as indented JSON at ``path`` (None: none)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


# -- the counting rule -------------------------------------------------------------------------

OK, UNPARSEABLE, FAILED = "ok", "unparseable", "failed"
COUNTING_RULE = (
    "every contender is scored on the whole test slice: an answer that is not exactly one of the "
    "task's labels after the contender's own parsing (promptopt's label parser, DSPy's adapters) is "
    "unparseable, a call that failed or raised is failed, and both count as wrong, never dropped "
    "from the denominator; each row reports both counts"
)


@dataclass(frozen=True)
class Answer:
    """One test example's outcome under the counting rule: ``predicted`` is a label (``status``
    ``ok``) or None (``unparseable``: an answer that is not a label; ``failed``: no answer)."""

    id: str
    gold: str
    predicted: str | None
    status: str

    @property
    def correct(self) -> bool:
        return self.status == OK and self.predicted == self.gold


def answer(example: Example, said: str | None, labels: Sequence[str], *, failed: bool = False) -> Answer:
    """The rule, the same for every contender: a failed call is ``failed``; anything said that
    is not exactly one of ``labels`` (nothing, or another text) is ``unparseable``."""
    if failed:
        return Answer(example.id, example.label, None, FAILED)
    if said is None or said not in labels:
        return Answer(example.id, example.label, None, UNPARSEABLE)
    return Answer(example.id, example.label, said, OK)


# -- the train pool ----------------------------------------------------------------------------


def ids_sha256(examples: Iterable[Example]) -> str:
    """A short fingerprint of a set of examples (their ids, in any order)."""
    return hashlib.sha256("\n".join(sorted(e.id for e in examples)).encode()).hexdigest()[:16]


def pooled(task: Task, limit: int | None, *, seed: int) -> Task:
    """``task`` with its train split cut to the pool every contender draws from: the whole
    split (``limit`` None), else a label-stratified sample of ``limit`` (file order kept).
    promptopt has no train-limit setting, so its contenders get this task, as a user would by
    pointing the task file at a smaller train file; every other contender reads the same split."""
    if limit is None:
        return task
    pool = sample(task.split("train"), limit, seed=seed, stratified=True)
    return replace(task, splits={**task.splits, "train": pool})


@dataclass(frozen=True)
class Bench:
    """What every contender shares: the task (its train split is the pool), the model, the
    slices and where to keep runs. ``completer``, ``embedder`` and ``dspy_lm`` are test doubles
    (a fake completer for promptopt, an embedder instead of MiniLM, an LM for DSPy); None means
    the real ones."""

    task: Task
    paths: Paths
    model: str
    seed: int
    dev: tuple[Example, ...]
    test: tuple[Example, ...]
    work: Path
    dev_limit: int | None
    test_limit: int | None
    train_limit: int | None = None
    train_split_n: int = 0
    completer: Completer | None = None
    embedder: Embedder | None = None
    dspy_lm: Any = None

    @property
    def train(self) -> tuple[Example, ...]:
        """The train pool: the only train examples any contender sees."""
        return self.task.split("train")

    def pool(self) -> dict[str, Any]:
        """The pool as the outputs state it."""
        n = len(self.train)
        drawn = (
            f"the whole train split ({n:,} examples)"
            if self.train_limit is None or n >= self.train_split_n
            else f"a label-stratified sample of {n:,} of the {self.train_split_n:,} train examples "
            f"(seed {self.seed})"
        )
        return {"n": n, "split_n": self.train_split_n, "ids_sha256": ids_sha256(self.train), "drawn": drawn}


def bench_paths(data_dir: Path | None) -> Paths:
    """Where a benchmark reads data and models: ``data_dir`` or the usual default, the
    assembled models, and no completion cache (every call is measured)."""
    return resolve_paths(
        data_dir=data_dir,
        models_dir=None,
        cache_dir=None,
        use_cache=False,
        env=os.environ,
        cwd=Path.cwd(),
        default_models=local.default_models_dir(),
    )


# -- one contender's result --------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """Model use of one phase (optimization, or the final test scoring)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    usd: float | None = 0.0


@dataclass(frozen=True)
class Result:
    """One contender's outcome on the shared test slice. ``status`` is ``ok``, ``failed``
    (``reason`` says why) or ``not-run``. ``failed`` and ``unparseable`` count the test answers
    of each kind (None: a result kept before they were counted); ``answers`` holds every test
    example's outcome (for paired comparisons). ``train_n`` and ``train_ids_sha256``: the train
    pool the contender drew demos or training data from (0: none)."""

    contender: str
    status: str
    reason: str | None = None
    accuracy: float | None = None
    ci: tuple[float, float] | None = None
    n_test: int = 0
    optimization: Usage = field(default_factory=Usage)
    test: Usage = field(default_factory=Usage)
    final_prompt_tokens_per_call: float | None = None
    stopped_by_itself: bool | None = None
    stop_reason: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    failed: int | None = None
    unparseable: int | None = None
    train_n: int | None = None
    train_ids_sha256: str | None = None
    answers: tuple[Answer, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ci"] = list(self.ci) if self.ci else None
        data["answers"] = [asdict(a) for a in self.answers]
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> Result:
        fields = dict(data)
        fields["ci"] = tuple(data["ci"]) if data.get("ci") else None
        fields["optimization"] = Usage(**data["optimization"])
        fields["test"] = Usage(**data["test"])
        fields["answers"] = tuple(Answer(**a) for a in data.get("answers") or ())
        return Result(**fields)


def trained_on(pool: Sequence[Example]) -> dict[str, Any]:
    """The ``Result`` fields naming the train pool a contender used."""
    return {"train_n": len(pool), "train_ids_sha256": ids_sha256(pool) if pool else None}


def scored(contender: str, answers: Sequence[Answer], *, seed: int, **fields: Any) -> Result:
    """A ``Result`` under the counting rule: accuracy over every answer (unparseable and failed
    ones are wrong) with its 95% bootstrap interval (the scorer promptopt uses), and the counts."""
    s = score([Outcome(a.gold, a.predicted) for a in answers], seed=seed)
    return Result(
        contender=contender,
        status="ok",
        accuracy=s.accuracy,
        ci=(s.ci_low, s.ci_high),
        n_test=len(answers),
        failed=sum(a.status == FAILED for a in answers),
        unparseable=sum(a.status == UNPARSEABLE for a in answers),
        answers=tuple(answers),
        **fields,
    )


def paired_interval(
    a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]], *, seed: int, resamples: int = 2000
) -> tuple[float, float, float] | None:
    """Accuracy of A minus accuracy of B on the same test examples, with its 95% paired
    bootstrap interval ``(difference, low, high)``: examples are resampled together, so what
    both got right or wrong does not widen it. None unless both hold answers for the same ids."""
    right_a = {x["id"]: _correct(x) for x in a}
    right_b = {x["id"]: _correct(x) for x in b}
    if not right_a or right_a.keys() != right_b.keys():
        return None
    ids = sorted(right_a)
    diffs = np.array([int(right_a[i]) - int(right_b[i]) for i in ids], dtype=float)
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), size=(resamples, len(diffs)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(diffs.mean()), float(low), float(high)


def _correct(x: Mapping[str, Any]) -> bool:
    return bool(x["status"] == OK and x["predicted"] == x["gold"])
