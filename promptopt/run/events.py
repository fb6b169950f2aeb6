"""What the search loop did, as typed, frozen events: one class per kind, shared by the run
store (``events.jsonl``), resume, the live display, the report and the tests.

Each event writes itself as one JSON object whose first key is ``"event"`` (the kind) followed
by its fields in declaration order (:meth:`to_json`), and :func:`event_from_json` reads any of
them back. Only :class:`ExampleScored` is never stored: it tells observers that one more example
was scored, which the evaluation rows already record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from promptopt.errors import StoreError
from promptopt.evaluate.plateau import PlateauEvidence


@dataclass(frozen=True)
class _Event:
    kind: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}

    @classmethod
    def from_fields(cls, data: Mapping[str, Any]) -> Any:
        """Fields added later have defaults: an older event without them takes those."""
        return cls(
            **{
                f.name: data[f.name]
                for f in dataclasses.fields(cls)
                if f.name in data or f.default is dataclasses.MISSING
            }
        )


@dataclass(frozen=True)
class Segment(_Event):
    """A process started (or resumed) the run: wall seconds used so far, trials so far."""

    kind: ClassVar[str] = "segment"
    elapsed_s: float
    trials: int


@dataclass(frozen=True)
class Trial(_Event):
    """A trial of the sampler (or an enqueued point) is about to be evaluated. ``point`` is
    the search-space point as primitive values (see :class:`promptopt.search.space.Point`)."""

    kind: ClassVar[str] = "trial"
    number: int
    point: dict[str, Any]
    # a local move's lineage (``operator``, ``parents``), so a run killed before its candidate
    # was written resumes that trial as the same move; absent for sampler trials and seeds
    origin: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        if self.origin is None:
            data.pop("origin")  # older runs' trial events write back as they were
        return data


@dataclass(frozen=True)
class TrialFailed(_Event):
    kind: ClassVar[str] = "trial_failed"
    number: int
    why: str


@dataclass(frozen=True)
class Duplicate(_Event):
    """A trial asked for a prompt already scored; it was told that score again."""

    kind: ClassVar[str] = "duplicate"
    number: int
    candidate: str


@dataclass(frozen=True)
class Slot(_Event):
    """An instruction slot was filled: by an LLM proposer (``reflective``, ``grounded``), or
    with the seed instruction after two failed attempts (``fallback``)."""

    kind: ClassVar[str] = "slot"
    slot: int
    text: str
    operator: str
    parent: str | None


@dataclass(frozen=True)
class SlotFailed(_Event):
    kind: ClassVar[str] = "slot_failed"
    slot: int
    operator: str


@dataclass(frozen=True)
class EvalStart(_Event):
    """An evaluation (``eval``: ``e0``, ``e1``, ...) of a candidate started; without its
    :class:`Evaluated`, a resumed run finishes it with the same ``first_rung`` (dev examples
    before the first race test, fixed when it started: the records a killed process left would
    otherwise change the measured price it is derived from, and with it the race)."""

    kind: ClassVar[str] = "eval_start"
    eval: str
    candidate: str
    trial: int | None
    operator: str
    first_rung: int | None = None  # None in runs written before it was recorded

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        if self.first_rung is None:
            data.pop("first_rung")  # older runs' events write back as they were
        return data


@dataclass(frozen=True)
class Evaluated(_Event):
    """An evaluation ended: dev ``accuracy`` on ``n`` examples; ``raced_out`` when it stopped
    before the whole dev slice (``why``: ``worse`` or ``unaffordable``); the run's spend so far
    (live tokens, calls, dollars or None when unpriced, wall seconds)."""

    kind: ClassVar[str] = "evaluated"
    eval: str
    candidate: str
    trial: int | None
    operator: str
    accuracy: float
    n: int
    raced_out: bool
    why: str | None
    spend_tokens: int
    calls: int
    usd: float | None
    elapsed_s: float


@dataclass(frozen=True)
class Incumbent(_Event):
    """A new best candidate (scored on the whole dev slice)."""

    kind: ClassVar[str] = "incumbent"
    candidate: str
    accuracy: float
    n: int


@dataclass(frozen=True)
class Rung(_Event):
    """A racing test after ``n`` dev examples: ``effect`` is candidate minus incumbent on them,
    ``p_worse`` the one-sided McNemar p-value that the candidate is worse."""

    kind: ClassVar[str] = "rung"
    candidate: str
    n: int
    effect: float
    p_worse: float
    stopped: bool


@dataclass(frozen=True)
class BudgetTight(_Event):
    """Once per run: scoring a candidate like this one on test would not fit the budget left."""

    kind: ClassVar[str] = "budget_tight"
    candidate: str
    reserve: dict[str, float]
    seconds_left: float | None
    test_n: int
    text: str


@dataclass(frozen=True)
class Plateau(_Event):
    """The plateau test's verdict after an evaluation (stored flat: its fields follow ``event``)."""

    kind: ClassVar[str] = "plateau"
    evidence: PlateauEvidence

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, **self.evidence.to_json()}

    @classmethod
    def from_fields(cls, data: Mapping[str, Any]) -> Plateau:
        return cls(PlateauEvidence.from_json(data))


@dataclass(frozen=True)
class Stop(_Event):
    kind: ClassVar[str] = "stop"
    reason: str
    elapsed_s: float


@dataclass(frozen=True)
class TestScored(_Event):
    """The final scoring on test ended; ``incomplete`` names the budget that cut it short."""

    __test__ = False  # not a pytest test class
    kind: ClassVar[str] = "test_scored"
    best: str
    incomplete: str | None
    best_n: int | None = None  # test examples the best was scored on (None: older runs)
    baseline_n: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Older runs' events (without the counts) write back as they were."""
        data = super().to_json()
        return {k: v for k, v in data.items() if not (k in ("best_n", "baseline_n") and v is None)}


@dataclass(frozen=True)
class OverCap(_Event):
    """A candidate left unscored: its estimated prompt tokens per call (from its rendering on
    the first dev examples, at the rate measured so far) exceed --max-prompt-tokens."""

    kind: ClassVar[str] = "over_cap"
    candidate: str
    trial: int | None
    estimate: float
    cap: int


@dataclass(frozen=True)
class ExampleScored(_Event):
    """One example was scored (observers only; the evaluation row is what is stored)."""

    kind: ClassVar[str] = "example"
    candidate: str
    split: str
    correct: bool
    status: str


Event = (
    Segment
    | Trial
    | TrialFailed
    | Duplicate
    | Slot
    | SlotFailed
    | EvalStart
    | Evaluated
    | Incumbent
    | Rung
    | BudgetTight
    | Plateau
    | Stop
    | TestScored
    | OverCap
    | ExampleScored
)

KINDS: dict[str, type[_Event]] = {
    cls.kind: cls
    for cls in (
        Segment,
        Trial,
        TrialFailed,
        Duplicate,
        Slot,
        SlotFailed,
        EvalStart,
        Evaluated,
        Incumbent,
        Rung,
        BudgetTight,
        Plateau,
        Stop,
        TestScored,
        OverCap,
        ExampleScored,
    )
}


def event_from_json(data: Mapping[str, Any]) -> Event:
    """The event a JSON object holds. Raises StoreError for an unknown kind or missing field."""
    kind = data.get("event")
    cls = KINDS.get(str(kind))
    if cls is None:
        raise StoreError(
            f"unknown event kind {kind!r} in events.jsonl (known: {', '.join(KINDS)})",
            hint="the run was written by another promptopt version; use that version",
        )
    try:
        event: Event = cls.from_fields(data)
    except (KeyError, TypeError) as exc:
        raise StoreError(
            f"event {kind!r} lacks a field ({exc}): {dict(data)}",
            hint="the run folder was edited or written by another promptopt version",
        ) from exc
    return event
