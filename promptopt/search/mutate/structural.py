"""Operators that need no model: demos (resample, re-stratify, count, order, strategy), label
presentation, output format, and crossover of two parents' components."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import random_demo_ids, stratified_demo_ids
from promptopt.search.mutate.base import MutationContext, register
from promptopt.task.spec import Example


def _picker(strategy: str) -> Callable[[Sequence[Example], int, random.Random], tuple[str, ...]]:
    """How demo ids are drawn for a fixed (random) or stratified set."""
    return stratified_demo_ids if strategy == "stratified" else random_demo_ids


@register("resample_demos")
def resample_demos(parent: Candidate, ctx: MutationContext, *, rng: random.Random) -> Candidate | None:
    """A fresh draw of the same number of fixed (random) or stratified demos."""
    if parent.demo_strategy not in ("fixed", "stratified"):
        return None
    return parent.derive(
        operator="resample_demos",
        demo_ids=_picker(parent.demo_strategy)(ctx.train, len(parent.demo_ids), rng),
    )


@register("restratify")
def restratify(parent: Candidate, ctx: MutationContext, *, rng: random.Random) -> Candidate | None:
    """Fixed demos become a label-stratified set of the same size."""
    if parent.demo_strategy != "fixed":
        return None
    ids = stratified_demo_ids(ctx.train, len(parent.demo_ids), rng)
    return parent.derive(operator="restratify", demo_strategy="stratified", demo_ids=ids)


@register("change_k")
def change_k(parent: Candidate, ctx: MutationContext, *, rng: random.Random) -> Candidate | None:
    """Another demo count from ``ctx.k_choices`` (retrieved: k; fixed/stratified: a new set)."""
    current = parent.n_demos
    choices = [k for k in ctx.k_choices if k != current]
    if parent.demo_strategy == "none" or not choices:
        return None
    k = rng.choice(choices)
    if parent.demo_strategy == "retrieved":
        return parent.derive(operator="change_k", k=k)
    return parent.derive(operator="change_k", demo_ids=_picker(parent.demo_strategy)(ctx.train, k, rng))


@register("reorder_demos")
def reorder_demos(parent: Candidate, ctx: MutationContext, *, rng: random.Random) -> Candidate | None:
    if len(parent.demo_ids) < 2:
        return None
    order = list(parent.demo_ids)
    while tuple(order) == parent.demo_ids:
        rng.shuffle(order)
    return parent.derive(operator="reorder_demos", demo_ids=tuple(order))


@register("switch_demo_strategy")
def switch_demo_strategy(parent: Candidate, ctx: MutationContext, *, rng: random.Random) -> Candidate | None:
    """Move between none, stratified and retrieved demos (the RAG stage), keeping the count; only
    to the strategies ``ctx`` allows."""
    targets = [
        s
        for s in ("none", "stratified", "retrieved")
        if s != parent.demo_strategy and s in ctx.demo_strategies
    ]
    if not targets:
        return None
    k = parent.n_demos or rng.choice(ctx.k_choices)
    target = rng.choice(targets)
    if target == "none":
        return parent.without_demos(operator="switch_demo_strategy")
    if target == "retrieved":
        return parent.derive(operator="switch_demo_strategy", demo_strategy="retrieved", demo_ids=(), k=k)
    layout = "turns" if parent.demo_layout == "labels" else parent.demo_layout
    return parent.derive(
        operator="switch_demo_strategy",
        demo_strategy="stratified",
        k=0,
        demo_ids=stratified_demo_ids(ctx.train, k, rng),
        retriever="word",
        demo_layout=layout,
        demo_pick="nearest",
        label_scope="all",
    )


@register("switch_retriever")
def switch_retriever(parent: Candidate, ctx: MutationContext, *, rng: random.Random) -> Candidate | None:
    """Retrieved demos found by another index (word or character TF-IDF, or embeddings)."""
    choices = [r for r in ctx.retrievers if r != parent.retriever]
    if parent.demo_strategy != "retrieved" or not choices:
        return None
    return parent.derive(operator="switch_retriever", retriever=rng.choice(choices))


@register("change_layout")
def change_layout(parent: Candidate, ctx: MutationContext, *, rng: random.Random) -> Candidate | None:
    """Show the demos another way: chat turns, a compact block, or (retrieved) labels only."""
    if parent.demo_strategy == "none":
        return None
    layouts = ("turns", "compact", "labels") if parent.demo_strategy == "retrieved" else ("turns", "compact")
    return parent.derive(
        operator="change_layout", demo_layout=rng.choice([x for x in layouts if x != parent.demo_layout])
    )


@register("toggle_descriptions")
def toggle_descriptions(parent: Candidate, ctx: MutationContext, *, rng: random.Random) -> Candidate | None:
    if parent.label_style == "described":
        return parent.derive(operator="toggle_descriptions", label_style="names", label_descriptions=())
    if not ctx.descriptions:
        return None
    return parent.derive(
        operator="toggle_descriptions", label_style="described", label_descriptions=ctx.descriptions
    )


@register("change_output_format")
def change_output_format(parent: Candidate, ctx: MutationContext, *, rng: random.Random) -> Candidate | None:
    target = "code" if parent.output_format == "label" else "label"
    if target == "code" and parent.label_scope != "all":
        return None  # a narrowed label list is written as labels
    return parent.derive(operator="change_output_format", output_format=target)


_GROUPS: tuple[tuple[str, ...], ...] = (
    ("instruction",),
    ("label_style", "label_descriptions"),
    ("demo_strategy", "demo_ids", "k", "retriever", "demo_layout", "demo_tokens", "demo_pick", "label_scope"),
    ("input_tokens", "input_cut"),
    ("output_format",),
)


@register("crossover")
def crossover(parent: Candidate, ctx: MutationContext, *, rng: random.Random) -> Candidate | None:
    """Each component group (instruction; label presentation; demos; output format) comes from
    one parent or the other, uniformly. Groups keep dependent fields together."""
    other = ctx.other
    if other is None or other.id == parent.id:
        return None
    fields: dict[str, object] = {}
    for group in _GROUPS:
        source = other if rng.random() < 0.5 else parent
        fields.update({name: getattr(source, name) for name in group})
    try:
        child = Candidate(parents=(parent.id, other.id), operator="crossover", **fields)  # type: ignore[arg-type]
    except ValueError:  # e.g. a narrowed label list with coded answers
        return None
    return None if child.id in (parent.id, other.id) else child
