"""What examples cost, measured from their evaluation rows: tokens, dollars and the seconds
they take (or would take without the completion cache). The budget reserve, the Pareto front
and the report read costs through here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from promptopt.evaluate.evaluator import ExampleRecord


@dataclass(frozen=True)
class Cost:
    """Means per example. ``tokens``: prompt + completion; ``usd``: NaN when a call was
    unpriced; ``seconds``: the whole example as it would run live; ``live``: how many rows
    could be timed so (see :func:`live_wall`)."""

    tokens: float = 0.0
    prompt_tokens: float = 0.0
    seconds: float = 0.0
    usd: float = 0.0
    live: int = 0


def _wall(row: ExampleRecord) -> float:
    """The example's wall time (older rows without ``wall_s``: the call's latency)."""
    return float(row.wall_s or row.latency_s)


def live_wall(row: ExampleRecord) -> float | None:
    """What an example took, or would take without the completion cache: a live row's wall
    time; a cached row's wall time with the lookup replaced by its original call's latency.
    None for a failed call and for cached rows of older runs (no original latency kept)."""
    if row.status == "error":
        return None
    wall = _wall(row)
    if not row.cached:
        return wall
    original = row.live_latency_s
    return None if original is None else max(0.0, wall - float(row.latency_s)) + float(original)


def _trimmed_mean(walls: list[float]) -> float:
    """The mean without the slowest example once there are 10 (it also loaded the model or
    evaluated the shared prefix, which a long scoring pays once)."""
    kept = sorted(walls)[:-1] if len(walls) >= 10 else walls
    return sum(kept) / len(kept)


def mean_cost(rows: Iterable[ExampleRecord]) -> Cost:
    """Mean prompt+completion tokens, wall seconds and dollars per example over evaluation
    rows (failed calls excluded; dollars NaN when any call was unpriced). Seconds are the
    whole example (retrieval and rendering included) as it would run without the completion
    cache (see :func:`live_wall`); with no row that can be timed so, the rows' own wall times."""
    ok = [r for r in rows if r.status != "error"]
    if not ok:
        return Cost()
    usd_values = [r.usd for r in ok]
    usd = float("nan") if any(u is None for u in usd_values) else sum(u or 0.0 for u in usd_values) / len(ok)
    timed = [w for w in map(live_wall, ok) if w is not None]
    walls = timed or [_wall(r) for r in ok]
    return Cost(
        tokens=sum(r.prompt_tokens + r.completion_tokens for r in ok) / len(ok),
        prompt_tokens=sum(r.prompt_tokens for r in ok) / len(ok),
        seconds=_trimmed_mean(walls),
        usd=usd,
        live=len(timed),
    )


def live_seconds_per_example(
    buckets: Mapping[tuple[str, str], Mapping[str, ExampleRecord]], split: str
) -> float | None:
    """Mean seconds per example of ``split`` over all candidates (``buckets``: a history's
    records), as :func:`live_wall` times them, leaving out each candidate's slowest example
    (model load, shared prefix). None when no example of the run can be timed."""
    walls: list[float] = []
    slowest: list[float] = []
    for (_, row_split), bucket in buckets.items():
        if row_split != split:
            continue
        timed = sorted(w for w in map(live_wall, bucket.values()) if w is not None)
        slowest += timed[-1:]
        walls += timed[:-1]
    kept = walls or slowest
    return sum(kept) / len(kept) if kept else None
