"""What one search is given: its settings (:class:`OptimizeConfig`) and the task's slices
(:class:`TaskData`), both frozen values built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field

from promptopt.evaluate.plateau import PlateauConfig
from promptopt.prompt.candidate import Candidate
from promptopt.search.space import SearchSpace
from promptopt.task.spec import Example


@dataclass(frozen=True)
class OptimizeConfig:
    """Loop settings. ``first_rung``: dev examples a new candidate is scored on before the
    first racing test; ``race_alpha``: family-wise level of the racing stop (Bonferroni over
    the rungs); ``max_trials``: optuna trials (None: until another stopper fires);
    ``local_every``: one step in this many is a local move (a structural operator applied to
    the incumbent) instead of a sampler proposal; 0 turns local moves off.
    ``max_prompt_tokens``: no candidate costing more prompt tokens per call can win (and none
    estimated to is scored); ``test_share``: the most of each budget held back for the final
    test scoring while the search runs (what it cannot pay for is scored on fewer test
    examples, the baseline's test score given up first)."""

    seed: int = 0
    max_trials: int | None = None
    first_rung: int = 20
    race_alpha: float = 0.05
    plateau: PlateauConfig = field(default_factory=PlateauConfig)
    max_failed_proposals: int = 5
    space: SearchSpace = field(default_factory=SearchSpace)
    local_every: int = 2
    max_prompt_tokens: int | None = None
    test_share: float = 0.5


@dataclass(frozen=True)
class TaskData:
    """The slices the loop works on. ``dev`` is in racing order (rungs are its prefixes)."""

    description: str
    labels: tuple[str, ...]
    train: tuple[Example, ...]
    dev: tuple[Example, ...]
    test: tuple[Example, ...]
    seed_instruction: str
    descriptions: tuple[tuple[str, str], ...] = ()

    def baseline(self) -> Candidate:
        """The zero-shot prompt: the seed instruction, label names, no demos."""
        return Candidate(instruction=self.seed_instruction)
