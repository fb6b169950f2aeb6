"""Stop conditions of the search, composable: each looks at the loop's state and names the
reason to stop, or returns None. The first one that fires ends the search."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from promptopt.evaluate.plateau import Observation, PlateauConfig, PlateauEvidence, assess


@dataclass(frozen=True)
class StopState:
    """What stoppers may read: trials asked so far, finished dev evaluations (for the plateau),
    the gate's verdict on the budget (with the final reserve set aside), how many proposals
    in a row could not be made, and how many proposals in a row were prompts already scored."""

    trials: int
    observations: tuple[Observation, ...]
    budget_reason: str | None
    failed_in_a_row: int = 0
    duplicates_in_a_row: int = 0


class Stopper(Protocol):
    def __call__(self, state: StopState) -> str | None: ...


@dataclass
class MaxTrials:
    limit: int

    def __call__(self, state: StopState) -> str | None:
        return "max-trials" if state.trials >= self.limit else None


def budget_stopper(state: StopState) -> str | None:
    """A budget limit (calls, tokens, dollars, time) is reached once the final test scoring's
    share is set aside."""
    return state.budget_reason


@dataclass
class FailedProposals:
    """Stops when ``limit`` proposals in a row could not be turned into a candidate (for
    example, the proposer model keeps answering with nothing usable)."""

    limit: int = 5

    def __call__(self, state: StopState) -> str | None:
        return "proposals-failing" if state.failed_in_a_row >= self.limit else None


@dataclass
class Exhausted:
    """Stops when the sampler keeps proposing prompts already scored and no local move is
    left: the search space has nothing new to offer."""

    limit: int = 25

    def __call__(self, state: StopState) -> str | None:
        return "search-exhausted" if state.duplicates_in_a_row >= self.limit else None


@dataclass
class PlateauStopper:
    """Stops when :func:`promptopt.evaluate.plateau.assess` declares the ceiling. Keeps the last
    evidence (``last``) for the summary; ``on_evidence`` sees each new assessment."""

    config: PlateauConfig = field(default_factory=PlateauConfig)
    on_evidence: Callable[[PlateauEvidence], None] | None = None
    last: PlateauEvidence | None = None
    _seen: int = -1

    def __call__(self, state: StopState) -> str | None:
        if len(state.observations) != self._seen:
            self._seen = len(state.observations)
            self.last = assess(state.observations, self.config)
            if self.on_evidence is not None:
                self.on_evidence(self.last)
        return "plateau" if self.last is not None and self.last.plateau else None


def first_reason(stoppers: list[Stopper], state: StopState) -> str | None:
    for stopper in stoppers:
        reason = stopper(state)
        if reason is not None:
            return reason
    return None
