"""Mutation operators: each proposes new candidates from a parent, deterministically for a
given ``rng``. Operators are registered by name in :data:`REGISTRY`."""

from promptopt.mutate import structural as _structural  # noqa: F401  (registers the operators)
from promptopt.mutate.base import REGISTRY, MutationContext, Mutator, register

__all__ = ["REGISTRY", "MutationContext", "Mutator", "register"]
