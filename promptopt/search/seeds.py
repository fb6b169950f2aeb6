"""The first trials of every run: the prompts a user would write without promptopt, so the
search can only end below them by dev noise.

1. zero-shot: the seed instruction and the label names;
2. the plain retrieval prompt: 10 retrieved demos (word TF-IDF, as chat turns), the seed
   instruction: what a user writes in five minutes, and the baseline the benchmarks compare to;
3. the cheapest retrieval prompt: the smallest k with the space's first retriever and layout
   (by default MiniLM and the compact layout, the strongest measured per token).

They are scored cheapest first: ordered by their estimated prompt tokens per call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from promptopt.prompt.candidate import Candidate
from promptopt.search.space import Point, SearchSpace, with_shrink

PLAIN_K = 10
PLAIN_RETRIEVER = "word"
PLAIN_LAYOUT = "turns"


def seed_points(space: SearchSpace) -> list[Point]:
    """Zero-shot, plain retrieval and the cheapest retrieval prompt, those the space holds,
    without repeats, in that order (see :func:`cheapest_first`)."""
    zero_shot = Point(
        instruction=0, labels=space.label_styles[0], demos="none", format=space.output_formats[0]
    )
    points = [zero_shot]
    if "retrieved" in space.demo_strategies:
        points.append(_plain_retrieval(zero_shot, space))
        points.append(
            replace(
                zero_shot,
                demos="retrieved",
                k=min(space.k_choices),
                retriever=space.retrievers[0],
                layout=space.layouts[0],
            )
        )
    shrunk = [_unshrunk(p, space) for p in points]
    return [p for p in dict.fromkeys(shrunk) if space.contains(p)]


def _plain_retrieval(zero_shot: Point, space: SearchSpace) -> Point:
    """10 demos (or the space's nearest k), word TF-IDF and chat turns where the space has them."""
    k = min(space.k_choices, key=lambda c: (abs(c - PLAIN_K), c))
    retriever = PLAIN_RETRIEVER if PLAIN_RETRIEVER in space.retrievers else space.retrievers[0]
    layout = PLAIN_LAYOUT if PLAIN_LAYOUT in space.layouts else space.layouts[0]
    return replace(zero_shot, demos="retrieved", k=k, retriever=retriever, layout=layout)


def _unshrunk(point: Point, space: SearchSpace) -> Point:
    """The point with every shrink component the space samples at its default (nothing cut):
    those of a candidate that leaves them all at their defaults."""
    return with_shrink(point, Candidate(instruction=""), space)


def cheapest_first(points: Sequence[Point], tokens: Callable[[Point], float]) -> list[Point]:
    """``points`` by estimated prompt tokens per call (stable: ties keep their order)."""
    return sorted(points, key=tokens)
