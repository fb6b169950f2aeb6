"""Every evaluated candidate as a point: dev accuracy against prompt tokens per call (what the
prompt costs in production), and the Pareto front of the candidates scored on the whole dev
slice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from promptopt.run.costs import mean_cost
from promptopt.run.events import Evaluated
from promptopt.run.history import History


@dataclass(frozen=True)
class CandidatePoint:
    """``accuracy`` is on the ``n`` dev examples the candidate was scored on; ``full`` is False
    for a candidate stopped early by racing (or as unaffordable), scored on fewer examples."""

    candidate_id: str
    operator: str
    accuracy: float
    n: int
    prompt_tokens: float
    full: bool
    why: str | None = None


def candidate_points(evaluated: Iterable[Evaluated], history: History) -> list[CandidatePoint]:
    """One point per candidate, from its last ``evaluated`` event, in evaluation order."""
    last: dict[str, Evaluated] = {}
    for event in evaluated:
        last.pop(event.candidate, None)
        last[event.candidate] = event
    return [
        CandidatePoint(
            candidate_id=cid,
            operator=e.operator,
            accuracy=float(e.accuracy),
            n=e.n,
            prompt_tokens=mean_cost(history.rows(cid, "dev")).prompt_tokens,
            full=not e.raced_out,
            why=e.why,
        )
        for cid, e in last.items()
    ]


def dominates(a: CandidatePoint, b: CandidatePoint) -> bool:
    """``a`` is at least as accurate and at most as costly as ``b``, and strictly better in one."""
    return (
        a.accuracy >= b.accuracy
        and a.prompt_tokens <= b.prompt_tokens
        and (a.accuracy > b.accuracy or a.prompt_tokens < b.prompt_tokens)
    )


def pareto_front(points: Sequence[CandidatePoint]) -> list[CandidatePoint]:
    """The full-dev points no other full-dev point dominates, by prompt tokens ascending.
    Raced-out points are left out: their accuracy is on fewer examples, not comparable."""
    full = [p for p in points if p.full]
    front = [p for p in full if not any(dominates(q, p) for q in full)]
    return sorted(front, key=lambda p: (p.prompt_tokens, -p.accuracy))
