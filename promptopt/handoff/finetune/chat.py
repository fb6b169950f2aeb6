"""Training files in chat format, built from the winning decomposition without its demos.

The system prompt is exactly what ``promptopt eval TASK --instruction <best> --demos 0``
renders (the best instruction and the label names, answers as label names), so the eval gate
scores a fine-tuned model under the prompt it was trained on. Demos, retrieval, label
descriptions and short output codes are left out: the weights learn what they taught.

- OpenAI chat fine-tuning format, one object per line:
  ``{"messages": [{"role": "system", ...}, {"role": "user", ...}, {"role": "assistant", "content": LABEL}]}``.
  Hugging Face ``datasets.load_dataset("json", ...)`` reads the same files as a ``messages``
  column (TRL's conversational language-modeling type).
- Hugging Face prompt-completion format (``hf_*.jsonl``), TRL's conversational
  prompt-completion type: ``{"prompt": [system, user], "completion": [assistant]}``, with
  which TRL's SFTTrainer computes the loss on the label only.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from promptopt.prompt.candidate import Candidate
from promptopt.prompt.render import system_message
from promptopt.task.spec import Example

Row = dict[str, Any]


def training_system_prompt(instruction: str, labels: Sequence[str]) -> str:
    """The short system prompt: the instruction and the label list, no demos."""
    return system_message(Candidate(instruction=instruction), labels)


def _messages(system: str, example: Example) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": example.text},
        {"role": "assistant", "content": example.label},
    ]


def openai_row(system: str, example: Example) -> Row:
    return {"messages": _messages(system, example)}


def hf_row(system: str, example: Example) -> Row:
    messages = _messages(system, example)
    return {"prompt": messages[:2], "completion": messages[2:]}


def stratified_holdout(
    examples: Sequence[Example], fraction: float, *, seed: int
) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    """Split into ``(train, val)``: ``floor(fraction * n)`` seeded picks from each label's
    ``n`` examples go to val (a label with fewer than ``1 / fraction`` examples keeps them
    all in train). Both parts keep the input order."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1) (seen: {fraction})")
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        by_label.setdefault(example.label, []).append(i)
    val: set[int] = set()  # label order sorted, so the draw does not depend on the file order of labels
    for label in sorted(by_label):
        indices = by_label[label]
        val.update(rng.sample(indices, int(fraction * len(indices))))
    return (
        tuple(e for i, e in enumerate(examples) if i not in val),
        tuple(e for i, e in enumerate(examples) if i in val),
    )
