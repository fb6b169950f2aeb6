"""LLM proposers: rewrite the instruction from the parent's failures on dev (``reflective``),
or write one from a summary of the task, its labels and a few train examples (``grounded``).

Why not a DSPy signature: DSPy's default adapter wraps every call in ~1,000 tokens of field
markup, and a 0.5B model answered it with format retries (1.9 calls per example measured in
the field notes). A short plain prompt through promptopt's own completer keeps the proposer
cheap, inside the budget and the ledger (role ``proposer``), and works with any chat model.

Each proposer is deterministic for its ``rng``: the examples shown and the sampling seed are
drawn from it, and the engine answers the same request the same way.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass

from promptopt.llm.types import CallError, Completer, CompletionRequest
from promptopt.prompt.candidate import Candidate
from promptopt.search.mutate.base import MutationContext, register

LLM_OPERATORS = ("grounded", "reflective")
REPLY_RULE = "Reply with the label only, written exactly as listed."
_MAX_CHARS = 400
_MIN_WORDS = 6
_LEAD = re.compile(r"^(?:\**\s*(?:[a-z]+\s+)?instructions?\s*\**\s*[:\-]\s*)", re.I)
PROPOSER_SYSTEM = (
    "You write clear, specific instructions for a text classifier. Reply with the instruction only."
)


@dataclass
class CompleterWriter:
    """A :class:`~promptopt.search.mutate.base.Writer` over a completer (so budgets, cache and ledger
    apply). A failed call is not an error of the run: the proposal is simply not made."""

    completer: Completer
    model: str
    temperature: float = 0.7
    max_tokens: int = 160

    def write(self, messages: list[dict[str, str]], *, seed: int) -> str | None:
        request = CompletionRequest.of(
            self.model,
            messages,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            seed=seed,
            role="proposer",
        )
        try:
            return self.completer.complete(request).text
        except CallError:
            return None


def clean_instruction(text: str | None) -> str | None:
    """The instruction in a proposer's reply: first paragraph, without a leading
    ``Instruction:`` or quotes, at most 400 characters (a longer system prompt costs every
    call, and small proposers ramble), ending with the reply rule. None when fewer than 6 words
    remain."""
    if not text:
        return None
    paragraph = next((p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()), "")
    line = " ".join(paragraph.split())
    line = _LEAD.sub("", line).strip().strip("\"'`").strip()
    if len(line) > _MAX_CHARS:
        line = line[:_MAX_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + "."
    if len(line.split()) < _MIN_WORDS:
        return None
    if "label only" not in line.lower():
        line = f"{line.rstrip()} {REPLY_RULE}"
    return line


def _label_summary(labels: tuple[str, ...], limit: int = 40) -> str:
    shown = ", ".join(labels[:limit])
    return shown + (f", ... ({len(labels)} labels in all)" if len(labels) > limit else "")


def _examples_by_label(ctx: MutationContext, rng: random.Random, n: int) -> list[tuple[str, str]]:
    by_label: dict[str, list[str]] = defaultdict(list)
    for example in ctx.train:
        by_label[example.label].append(example.text)
    labels = sorted(by_label)
    chosen = rng.sample(labels, min(n, len(labels)))
    return [(rng.choice(by_label[label])[:300], label) for label in chosen]


@register("grounded")
def grounded(parent: Candidate, ctx: MutationContext, *, rng: random.Random) -> Candidate | None:
    """An instruction written from the task description, the labels and train examples."""
    if ctx.writer is None:
        return None
    shots = "\n".join(f'- "{text}" -> {label}' for text, label in _examples_by_label(ctx, rng, 6))
    prompt = (
        f"Task: {ctx.task_description or 'text classification'}\n"
        f"Labels: {_label_summary(ctx.labels)}\nExamples:\n{shots}\n\n"
        "Write an instruction of 2 to 4 sentences that tells a classifier how to pick the "
        "right label for such texts: what to look at and how to tell similar labels apart."
    )
    return _child(parent, ctx, rng, "grounded", prompt)


@register("reflective")
def reflective(parent: Candidate, ctx: MutationContext, *, rng: random.Random) -> Candidate | None:
    """The parent's instruction rewritten to avoid a sample of its failures on dev."""
    if ctx.writer is None or not ctx.failures:
        return None
    sample = rng.sample(list(ctx.failures), min(6, len(ctx.failures)))
    mistakes = "\n".join(
        f'- "{f.text[:300]}": answered {f.predicted or "(not a label)"}, correct: {f.gold}' for f in sample
    )
    prompt = (
        f"Current instruction:\n{parent.instruction}\n\nThe classifier made these mistakes:\n"
        f"{mistakes}\n\nWrite an improved instruction of 2 to 4 sentences that would avoid "
        "such mistakes, naming what distinguishes the confused labels."
    )
    return _child(parent, ctx, rng, "reflective", prompt)


def _child(
    parent: Candidate, ctx: MutationContext, rng: random.Random, operator: str, prompt: str
) -> Candidate | None:
    assert ctx.writer is not None
    messages = [{"role": "system", "content": PROPOSER_SYSTEM}, {"role": "user", "content": prompt}]
    text = clean_instruction(ctx.writer.write(messages, seed=rng.randrange(2**31)))
    if text is None or text == parent.instruction:
        return None
    return parent.derive(operator=operator, instruction=text)
