"""Mutation operators: each proposes a new candidate from a parent, deterministically for a
given ``rng``; they are registered by name in :data:`REGISTRY`.

- :mod:`.base`: the ``Mutator`` protocol, the context operators read, the registry;
- :mod:`.structural`: operators on the decomposition (k, retriever, layout, demos, labels, format, crossover);
- :mod:`.propose`: the LLM proposers that write instructions (reflective, grounded).
"""

from promptopt.search.mutate import propose as _propose  # noqa: F401  (registers the LLM proposers)
from promptopt.search.mutate import structural as _structural  # noqa: F401  (registers the operators)
from promptopt.search.mutate.base import REGISTRY, Failure, MutationContext, Mutator, Writer, register
from promptopt.search.mutate.propose import LLM_OPERATORS, CompleterWriter

__all__ = [
    "LLM_OPERATORS",
    "REGISTRY",
    "CompleterWriter",
    "Failure",
    "MutationContext",
    "Mutator",
    "Writer",
    "register",
]
