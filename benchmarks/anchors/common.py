"""What every contender reports, and the slices they all share."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from promptopt.evaluate.scoring import Outcome, score
from promptopt.llm import local
from promptopt.settings import Paths, resolve_paths


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
    (``reason`` says why) or ``not-run``."""

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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ci"] = list(self.ci) if self.ci else None
        return data

    @staticmethod
    def from_json(data: dict[str, Any]) -> Result:
        fields = dict(data)
        fields["ci"] = tuple(data["ci"]) if data.get("ci") else None
        fields["optimization"] = Usage(**data["optimization"])
        fields["test"] = Usage(**data["test"])
        return Result(**fields)


def scored(
    contender: str, gold: Sequence[str], predicted: Sequence[str], *, seed: int, **fields: Any
) -> Result:
    """A ``Result`` with accuracy and its 95% bootstrap interval (the scorer promptopt uses)."""
    s = score([Outcome(g, p) for g, p in zip(gold, predicted, strict=True)], seed=seed)
    return Result(
        contender=contender,
        status="ok",
        accuracy=s.accuracy,
        ci=(s.ci_low, s.ci_high),
        n_test=len(gold),
        **fields,
    )
