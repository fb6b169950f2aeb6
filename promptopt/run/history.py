"""What a run has done so far, rebuilt from its folder: candidates, per-example evaluation
rows and events, as typed values. The optimizer appends through it (so memory and disk never
disagree), and resume, ``show`` and the hand-offs read it. Nothing here calls a model."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from promptopt.evaluate.evaluator import ExampleRecord
from promptopt.prompt.candidate import Candidate
from promptopt.run.events import EvalStart, Evaluated, Event, Slot, event_from_json
from promptopt.run.store import RunStore

E = TypeVar("E", bound=Event)


@dataclass
class History:
    """In-memory mirror of a run folder. ``records[(candidate_id, split)][example_id]`` is the
    stored evaluation row; the first row wins if an example was ever written twice."""

    store: RunStore
    candidates: dict[str, Candidate] = field(default_factory=dict)
    records: dict[tuple[str, str], dict[str, ExampleRecord]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    events: list[Event] = field(default_factory=list)
    # --max-prompt-tokens: a candidate whose dev calls cost more per call cannot be the incumbent
    max_prompt_tokens: int | None = None

    @staticmethod
    def load(store: RunStore, *, max_prompt_tokens: int | None = None, retry_failed: bool = False) -> History:
        """The history on disk. ``retry_failed`` (a resumed run): calls that failed before
        are left out, so they are made again; the answer a retry gets replaces the failure."""
        history = History(store, max_prompt_tokens=max_prompt_tokens)
        for row in store.read("candidates"):
            candidate = Candidate.from_json(row)
            history.candidates.setdefault(candidate.id, candidate)
        for row in store.read("evaluations"):
            bucket = history.records[(row["candidate_id"], row["split"])]
            record = ExampleRecord.from_json(row)
            known = bucket.get(record.example_id)
            if known is None or (known.status == "error" and record.status != "error"):
                bucket[record.example_id] = record
        if retry_failed:
            for bucket in history.records.values():
                for example_id in [i for i, r in bucket.items() if r.status == "error"]:
                    del bucket[example_id]
        history.events.extend(event_from_json(row) for row in store.read("events"))
        return history

    # -- appending (memory and disk together) -----------------------------------------

    def add_candidate(self, candidate: Candidate) -> None:
        if candidate.id not in self.candidates:
            self.candidates[candidate.id] = candidate
            self.store.append("candidates", candidate.to_json())

    def add_record(self, candidate_id: str, split: str, record: ExampleRecord) -> None:
        bucket = self.records[(candidate_id, split)]
        if record.example_id not in bucket:
            bucket[record.example_id] = record
            self.store.append(
                "evaluations", {"candidate_id": candidate_id, "split": split, **record.to_json()}
            )

    def add_event(self, event: Event) -> None:
        self.events.append(event)
        self.store.append("events", event.to_json())

    # -- reading ----------------------------------------------------------------------

    def rows(
        self, candidate_id: str, split: str, example_ids: Iterable[str] | None = None
    ) -> list[ExampleRecord]:
        bucket = self.records.get((candidate_id, split), {})
        if example_ids is None:
            return list(bucket.values())
        return [bucket[i] for i in example_ids if i in bucket]

    def correct(
        self, candidate_id: str, split: str, example_ids: Iterable[str] | None = None
    ) -> dict[str, bool]:
        """Per-example correctness, excluding failed calls (never scored as wrong)."""
        return {
            r.example_id: r.correct
            for r in self.rows(candidate_id, split, example_ids)
            if r.status != "error"
        }

    def of(self, kind: type[E]) -> list[E]:
        """The events of one kind, in order."""
        return [e for e in self.events if isinstance(e, kind)]

    def instruction_slots(self) -> dict[int, str]:
        return {e.slot: e.text for e in self.of(Slot)}

    def unfinished_evaluations(self) -> list[EvalStart]:
        """``eval_start`` events with no matching ``evaluated`` event, oldest first."""
        done = {e.eval for e in self.of(Evaluated)}
        return [e for e in self.of(EvalStart) if e.eval not in done]

    def evaluation_of(self, candidate_id: str) -> Evaluated | None:
        """The first finished evaluation of a candidate."""
        return next((e for e in self.of(Evaluated) if e.candidate == candidate_id), None)

    def full_evaluations(self) -> list[Evaluated]:
        """Evaluations that reached the whole dev slice (not stopped by racing)."""
        return [e for e in self.of(Evaluated) if not e.raced_out]

    def prompt_tokens(self, candidate_id: str, split: str = "dev") -> float | None:
        """Measured prompt tokens per call of a candidate (failed calls left out), or None."""
        rows = [r for r in self.rows(candidate_id, split) if r.status != "error"]
        return sum(r.prompt_tokens for r in rows) / len(rows) if rows else None

    def within_cap(self, candidate_id: str) -> bool:
        """Whether the candidate's measured dev prompt tokens per call fit --max-prompt-tokens."""
        if self.max_prompt_tokens is None:
            return True
        tokens = self.prompt_tokens(candidate_id)
        return tokens is not None and tokens <= self.max_prompt_tokens

    def incumbent(self) -> Candidate | None:
        """The best candidate scored on the whole dev slice, among those within
        --max-prompt-tokens; ties go to the one with fewer prompt tokens per call (the
        cheaper prompt in production), then to the earlier one."""
        best: Evaluated | None = None
        for event in self.full_evaluations():
            if not self.within_cap(event.candidate):
                continue
            if (
                best is None
                or event.accuracy > best.accuracy
                or (event.accuracy == best.accuracy and self._cheaper(event.candidate, best.candidate))
            ):
                best = event
        return None if best is None else self.candidates[best.candidate]

    def _cheaper(self, a: str, b: str) -> bool:
        """Whether candidate ``a`` measured fewer dev prompt tokens per call than ``b``."""
        ta, tb = self.prompt_tokens(a), self.prompt_tokens(b)
        return ta is not None and tb is not None and ta < tb
