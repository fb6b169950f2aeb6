"""The mutator protocol, the context operators read, and the name registry."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from promptopt.prompt.candidate import Candidate
from promptopt.task.spec import Example


@dataclass(frozen=True)
class Failure:
    """A dev example the parent got wrong: the input, the gold label, and what it answered
    (None when the answer was not a label)."""

    text: str
    gold: str
    predicted: str | None


class Writer(Protocol):
    """Writes free text for the LLM proposers (an instruction); None when the model gave
    nothing usable. Implementations go through the one door to models (role ``proposer``)."""

    def write(self, messages: list[dict[str, str]], *, seed: int) -> str | None: ...


@dataclass(frozen=True)
class MutationContext:
    """What operators may draw on: the train pool (for demos), the labels, label descriptions
    generated once from train, the choices of demo counts, retrievers and demo strategies, an
    optional second parent (for crossover), and for the LLM proposers a writer, the task
    description and the parent's failures on dev (for reflection)."""

    train: tuple[Example, ...]
    labels: tuple[str, ...]
    descriptions: tuple[tuple[str, str], ...] = ()
    k_choices: tuple[int, ...] = (2, 4, 6, 8, 10, 16)
    retrievers: tuple[str, ...] = ("word", "char")
    demo_strategies: tuple[str, ...] = ("none", "stratified", "retrieved")
    other: Candidate | None = None
    writer: Writer | None = None
    task_description: str = ""
    failures: tuple[Failure, ...] = ()


class Mutator(Protocol):
    def __call__(self, parent: Candidate, ctx: MutationContext, *, rng: random.Random) -> Candidate | None:
        """A new candidate (lineage: ``parent``), or None when the operator does not apply."""
        ...


REGISTRY: dict[str, Mutator] = {}


def register(name: str) -> Callable[[Mutator], Mutator]:
    def add(fn: Mutator) -> Mutator:
        if name in REGISTRY:
            raise ValueError(f"mutator {name!r} is registered twice")
        REGISTRY[name] = fn
        return fn

    return add
