"""Attribution of the winning decomposition: the best prompt with one component taken back,
scored on the same examples, and compared with the best example by example.

Each ablation changes exactly one component group (see :data:`GROUPS`) and is built only when
it differs from the best:

- *instruction*: the seed instruction (the zero-shot baseline's) instead of the best's;
- *demos*: no demos at all;
- *retrieval*: the same number of demos, but a fixed label-stratified set (seeded), shown in
  the same layout (the neighbours-labels-only layout has no fixed form: the compact block);
- *label descriptions*: label names only;
- *output format*: labels instead of short codes (the optimizer can switch this too).

The examples are a label-stratified sample of the run's test examples; the best prompt's
answers on them are the run's own records (no new call). Each ablation is scored through the
evaluator it is given (the one door to models), and every record is appended to a JSONL log
as it arrives, so a rerun with the same model settings makes no call for what is logged.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from promptopt.errors import StoreError
from promptopt.evaluate.evaluator import EvalResult, ExampleRecord
from promptopt.evaluate.paired import difference, discordance, mcnemar_greater
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import stratified_demo_ids
from promptopt.prompt.render import seed_instruction
from promptopt.run.reader import FinishedRun, run_test_examples
from promptopt.task.spec import Example, Task, sample

log = logging.getLogger(__name__)

GROUPS: dict[str, tuple[str, ...]] = {
    "instruction": ("instruction",),
    "labels": ("label_style", "label_descriptions"),
    "demos": ("demo_strategy", "demo_ids", "k", "retriever", "demo_layout"),
    "output": ("output_format",),
}


@dataclass(frozen=True)
class Ablation:
    """``name`` is the part taken back; ``group`` the component group it changes."""

    name: str
    title: str
    group: str
    candidate: Candidate


def plan(
    best: Candidate, *, seed_instruction: str, train: Sequence[Example], seed: int
) -> tuple[Ablation, ...]:
    """The ablations of ``best`` that differ from it, in a fixed order."""
    found: list[Ablation] = []
    if best.instruction != seed_instruction:
        found.append(
            Ablation(
                "instruction",
                "without its instruction changes (the seed instruction)",
                "instruction",
                best.derive(operator="ablate_instruction", instruction=seed_instruction),
            )
        )
    if best.demo_strategy != "none":
        found.append(
            Ablation(
                "demos",
                "without demos",
                "demos",
                best.without_demos(operator="ablate_demos"),
            )
        )
    if best.demo_strategy == "retrieved":
        found.append(
            Ablation(
                "retrieval",
                f"without retrieval (the same {best.k} demos for every input, label-stratified)",
                "demos",
                _fixed_demos(best, train, seed),
            )
        )
    found.extend(_shrink_ablations(best))
    if best.label_style == "described":
        found.append(
            Ablation(
                "label descriptions",
                "without label descriptions (names only)",
                "labels",
                best.derive(operator="ablate_descriptions", label_style="names", label_descriptions=()),
            )
        )
    if best.output_format == "code":
        found.append(
            Ablation(
                "output format",
                "answers as labels instead of codes",
                "output",
                best.derive(operator="ablate_output_format", output_format="label"),
            )
        )
    return tuple(found)


def _shrink_ablations(best: Candidate) -> list[Ablation]:
    """The input cut, the demo cut, one demo per label and the narrowed label list, each undone."""
    found = []
    if best.input_tokens:
        whole = best.derive(operator="ablate_input_cut", input_tokens=0, input_cut="head")
        found.append(Ablation("input cut", "with the whole input", "input", whole))
    if best.demo_tokens:
        whole = best.derive(operator="ablate_demo_cut", demo_tokens=0)
        found.append(Ablation("demo cut", "with whole demo texts", "demos", whole))
    if best.demo_pick != "nearest":
        nearest = best.derive(operator="ablate_demo_pick", demo_pick="nearest")
        found.append(Ablation("one demo per label", "with the k nearest demos", "demos", nearest))
    if best.label_scope != "all":
        every = best.derive(operator="ablate_label_scope", label_scope="all")
        found.append(Ablation("narrowed label list", "with every label listed", "labels", every))
    return found


def _fixed_demos(best: Candidate, train: Sequence[Example], seed: int) -> Candidate:
    layout = "compact" if best.demo_layout == "labels" else best.demo_layout
    return best.derive(
        operator="ablate_retrieval",
        demo_strategy="stratified",
        k=0,
        retriever="word",
        demo_ids=stratified_demo_ids(train, best.k, random.Random(seed)),
        demo_layout=layout,
        demo_pick="nearest",
        label_scope="all",
    )


def changed_fields(a: Candidate, b: Candidate) -> set[str]:
    ca, cb = a.all_components(), b.all_components()
    return {key for key in ca if ca[key] != cb[key]}


def examples_for(test: Sequence[Example], limit: int | None, *, seed: int) -> tuple[Example, ...]:
    """A label-stratified, seeded sample of the run's test examples (all of them when
    ``limit`` is None or not smaller)."""
    return sample(tuple(test), limit, seed=seed, stratified=True)


# -- scoring, with a resumable log ----------------------------------------------------------


class Scorer(Protocol):
    """What the ablations need from an :class:`~promptopt.evaluate.evaluator.Evaluator`."""

    def evaluate(
        self,
        candidate: Candidate,
        examples: Sequence[Example],
        *,
        on_record: Callable[[ExampleRecord], None] | None = None,
    ) -> EvalResult: ...


@dataclass(frozen=True)
class Setting:
    """What must match for a logged record to be reused: the model and its parameters."""

    model: str
    temperature: float
    seed: int

    def key(self) -> str:
        return f"{self.model}|temperature={self.temperature:g}|seed={self.seed}"


# answered records by candidate id, then example id
Records = dict[str, dict[str, ExampleRecord]]


@dataclass(frozen=True)
class RecordLog:
    """``ablations.jsonl``: one line per scored example (``ablation``, ``candidate_id``,
    ``setting`` and the evaluator's record). A torn last line (a killed process) is skipped."""

    path: Path

    def read(self, setting: Setting) -> Records:
        """Answered records (failed calls are retried) by candidate id, then example id."""
        found: Records = {}
        for row in self._rows():
            if row.get("setting") == setting.key() and row.get("status") != "error":
                record = ExampleRecord.from_json(row)
                found.setdefault(str(row["candidate_id"]), {}).setdefault(record.example_id, record)
        return found

    def _rows(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        rows = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                log.warning("%s: line %d is not JSON (a torn write?); skipped", self.path, number)
        return rows

    def append(self, row: Mapping[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
                handle.flush()
        except OSError as exc:
            raise StoreError(
                f"cannot append to {self.path}: {exc}", hint="check the folder's permissions and free space"
            ) from exc


def score_ablations(
    ablations: Sequence[Ablation],
    examples: Sequence[Example],
    scorer: Scorer,
    log_file: RecordLog,
    setting: Setting,
    *,
    on_record: Callable[[ExampleRecord], None] | None = None,
) -> Records:
    """Records of every ablation on ``examples`` by candidate id, then example id: the logged
    ones, and the missing ones scored now (each appended to the log as it arrives)."""
    done = log_file.read(setting)
    for ablation in ablations:
        have = done.setdefault(ablation.candidate.id, {})
        missing = [e for e in examples if e.id not in have]
        if not missing:
            continue

        def keep(
            record: ExampleRecord,
            name: str = ablation.name,
            bucket: dict[str, ExampleRecord] = have,
            cid: str = ablation.candidate.id,
        ) -> None:
            log_file.append(
                {"ablation": name, "candidate_id": cid, "setting": setting.key(), **record.to_json()}
            )
            if record.status != "error":
                bucket[record.example_id] = record
            if on_record is not None:
                on_record(record)

        scorer.evaluate(ablation.candidate, missing, on_record=keep)
    return done


# -- paired comparison ------------------------------------------------------------------------


@dataclass(frozen=True)
class Paired:
    """The best against an ablation on the ``n`` examples both answered. ``lift`` is best
    minus ablated accuracy, with a 95% paired bootstrap interval; ``p_value`` is the two-sided
    exact McNemar test; ``b``/``c``: examples only the best / only the ablation got right."""

    n: int
    best_accuracy: float
    ablated_accuracy: float
    lift: float
    ci_low: float
    ci_high: float
    p_value: float
    b: int
    c: int

    @property
    def verdict(self) -> str:
        if self.n == 0:
            return "not scored"
        if self.ci_low > 0:
            return "carries lift"
        if self.ci_high < 0:
            return "hurts"
        return "not shown"


def paired(
    best: Mapping[str, bool], ablated: Mapping[str, bool], *, seed: int, resamples: int = 2000
) -> Paired:
    d = discordance(best, ablated)
    nan = float("nan")
    if d.n == 0:
        return Paired(0, nan, nan, nan, nan, nan, nan, 0, 0)
    diff = difference(best, ablated, seed=seed, resamples=resamples)
    p = min(1.0, 2.0 * min(mcnemar_greater(d.b, d.c), mcnemar_greater(d.c, d.b)))
    return Paired(
        n=diff.n,
        best_accuracy=diff.a_accuracy,
        ablated_accuracy=diff.b_accuracy,
        lift=diff.diff,
        ci_low=diff.low,
        ci_high=diff.high,
        p_value=p,
        b=d.b,
        c=d.c,
    )


@dataclass(frozen=True)
class AblationResult:
    ablation: Ablation
    paired: Paired
    invalid: int
    errors: int


@dataclass(frozen=True)
class Attribution:
    """Every ablation against the best on the same ``example_ids`` (a stratified subset of
    the run's test examples)."""

    example_ids: tuple[str, ...]
    setting: Setting
    results: tuple[AblationResult, ...]


def attribute(
    ablations: Sequence[Ablation],
    records: Mapping[str, Mapping[str, ExampleRecord]],
    best_correct: Mapping[str, bool],
    example_ids: Sequence[str],
    setting: Setting,
) -> Attribution:
    """Compare each ablation's answered records on ``example_ids`` with the best's."""
    wanted = set(example_ids)
    results = []
    for ablation in ablations:
        rows = [r for i, r in records.get(ablation.candidate.id, {}).items() if i in wanted]
        correct = {r.example_id: r.correct for r in rows if r.status != "error"}
        results.append(
            AblationResult(
                ablation,
                paired({k: v for k, v in best_correct.items() if k in wanted}, correct, seed=setting.seed),
                invalid=sum(r.status == "invalid" for r in rows),
                errors=len(wanted) - len(correct),
            )
        )
    return Attribution(tuple(example_ids), setting, tuple(results))


# -- the report's ablations of a finished run ------------------------------------------------


@dataclass(frozen=True)
class AblationJob:
    """What the report's ablations score: the ablations of the run's best prompt (``plan``;
    empty when it has no part beyond the zero-shot seed), a label-stratified sample of the
    run's test examples, and the run's model setting."""

    plan: tuple[Ablation, ...]
    examples: tuple[Example, ...]
    setting: Setting


def job_for(run: FinishedRun, task: Task, *, limit: int) -> AblationJob:
    seed = run.info.seed
    seed_text = run.baseline.instruction if run.baseline else seed_instruction(task)
    return AblationJob(
        plan=plan(run.best, seed_instruction=seed_text, train=task.split("train"), seed=seed),
        examples=examples_for(run_test_examples(run, task), limit, seed=seed),
        setting=Setting(run.info.model, run.info.temperature, seed),
    )


def run_job(
    job: AblationJob,
    run: FinishedRun,
    scorer: Scorer | None,
    log_file: RecordLog,
    *,
    on_record: Callable[[ExampleRecord], None] | None = None,
) -> Attribution:
    """Score the job's ablations through ``scorer`` (logged answers are reused; ``scorer``
    may be None only when the plan is empty) and compare each with the best prompt's
    recorded answers on the same examples."""
    records: Records = {}
    if job.plan:
        if scorer is None:
            raise ValueError("ablations to score need a scorer")
        records = score_ablations(job.plan, job.examples, scorer, log_file, job.setting, on_record=on_record)
    ids = [e.id for e in job.examples]
    return attribute(job.plan, records, run.history.correct(run.best.id, "test", ids), ids, job.setting)
