"""Rendering a candidate as chat messages.

Rendering is lean and cache-friendly: everything shared across inputs (instruction, label list,
fixed demos) comes first and the input comes last, so an engine that reuses its KV cache for a
common prefix only pays for the input's tokens. Labels are listed once, in the system message,
never repeated per demo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from promptopt.prompt.candidate import Candidate
from promptopt.prompt.shrink import cut, neighbour_labels
from promptopt.prompt.tokens import PromptSize
from promptopt.task.spec import Example, Task

Message = dict[str, str]


def default_instruction(description: str) -> str:
    """The zero-shot instruction used when a task gives none."""
    subject = description.strip().rstrip(".") or "the input"
    return (
        f"Task: {subject}. Classify the input into exactly one of the labels below. "
        "Reply with the label only, written exactly as listed."
    )


def seed_instruction(task: Task) -> str:
    """The instruction a search starts from: the task file's, else :func:`default_instruction`."""
    return task.spec.instruction or default_instruction(task.spec.description)


def codes_for(labels: Sequence[str]) -> tuple[str, ...]:
    """Short output codes for the ``code`` output format: L1, L2, ... in label order."""
    return tuple(f"L{i + 1}" for i in range(len(labels)))


def system_message(candidate: Candidate, labels: Sequence[str]) -> str:
    """The shared prefix: instruction, then the label list (with codes or descriptions). With
    ``label_scope="neighbours"`` the list goes with each input instead (see :func:`render`)."""
    if candidate.label_scope == "neighbours":
        return candidate.instruction
    descriptions = dict(candidate.label_descriptions)
    names = _label_lines(candidate, labels, descriptions)
    reply = "Reply with the code only." if candidate.output_format == "code" else ""
    tail = f"\n{reply}" if reply else ""
    return f"{candidate.instruction}\n\nLabels:\n{names}{tail}"


def _label_lines(candidate: Candidate, labels: Sequence[str], descriptions: dict[str, str]) -> str:
    coded = candidate.output_format == "code"
    return "\n".join(
        f"{code}: {label_line(candidate, label, descriptions)}"
        if coded
        else label_line(candidate, label, descriptions)
        for code, label in zip(codes_for(labels), labels, strict=True)
    )


def answer_for(candidate: Candidate, labels: Sequence[str], label: str) -> str:
    """What a perfect model answers for ``label`` under this candidate's output format."""
    if candidate.output_format == "code":
        return codes_for(labels)[labels.index(label)]
    return label


def render(candidate: Candidate, labels: Sequence[str], demos: Sequence[Example], text: str) -> list[Message]:
    """Chat messages, shared part first and the input last (see :func:`render_sized`)."""
    return render_sized(candidate, labels, demos, text)[0]


def render_sized(
    candidate: Candidate, labels: Sequence[str], demos: Sequence[Example], text: str
) -> tuple[list[Message], PromptSize]:
    """The messages and their size (data: the input's and demos' characters as shown).

    The input and each demo's text are cut first when the candidate says so
    (``input_tokens``, ``demo_tokens``). With ``label_scope="neighbours"`` the labels of the
    retrieved demos, in label order, are listed before the input, with a way out for an input
    whose label is not among them.
    """
    text = cut(text, candidate.input_tokens, candidate.input_cut)
    if candidate.demo_tokens:
        demos = [replace(d, text=cut(d.text, candidate.demo_tokens)) for d in demos]
    shown = candidate.demo_layout != "labels" or candidate.demo_strategy != "retrieved"
    data = len(text) + (sum(len(d.text) for d in demos) if shown else 0)
    if candidate.label_scope == "neighbours":
        text = f"{_scope_lines(candidate, labels, demos)}\n\nInput: {text}"
    messages = _messages(candidate, labels, demos, text)
    return messages, PromptSize.of(messages, data)


SCOPE_HEAD = "Likely labels:\n"
SCOPE_TAIL = "\nIf none of these fits, reply with the label that does."


def _scope_lines(candidate: Candidate, labels: Sequence[str], demos: Sequence[Example]) -> str:
    descriptions = dict(candidate.label_descriptions)
    lines = (label_line(candidate, label, descriptions) for label in neighbour_labels(labels, demos))
    return SCOPE_HEAD + "\n".join(lines) + SCOPE_TAIL


def label_line(candidate: Candidate, label: str, descriptions: Mapping[str, str]) -> str:
    """How a label is listed: its name, with its description when the candidate shows them."""
    description = descriptions.get(label)
    return f"{label} ({description})" if candidate.label_style == "described" and description else label


def _messages(
    candidate: Candidate, labels: Sequence[str], demos: Sequence[Example], text: str
) -> list[Message]:
    """Chat messages, shared part first and the input last.

    ``turns``: demos as user/assistant turns. ``compact``: demos as one ``Input:/Label:``
    block, in the system message for fixed sets (shared by every input) or, for retrieved
    demos, in the last message before the input (so the shared prefix ends exactly where the
    per-input part begins). ``labels``: only the retrieved neighbours' labels, most similar
    first, before the input.
    """
    system = system_message(candidate, labels)
    if not demos or candidate.demo_layout == "turns":
        return _turns(candidate, labels, system, demos, text)
    if candidate.demo_strategy != "retrieved":
        block = _example_block(candidate, labels, demos)
        return [
            {"role": "system", "content": f"{system}\n\nExamples:\n{block}"},
            {"role": "user", "content": text},
        ]
    scoped = candidate.label_scope == "neighbours"  # the input already follows the label list
    return [
        {"role": "system", "content": system},
        {
            "role": "user",
            "content": f"{_evidence(candidate, labels, demos)}\n\n{'' if scoped else 'Input: '}{text}",
        },
    ]


def _turns(
    candidate: Candidate, labels: Sequence[str], system: str, demos: Sequence[Example], text: str
) -> list[Message]:
    messages: list[Message] = [{"role": "system", "content": system}]
    for demo in demos:
        messages.append({"role": "user", "content": demo.text})
        messages.append({"role": "assistant", "content": answer_for(candidate, labels, demo.label)})
    messages.append({"role": "user", "content": text})
    return messages


def _example_block(candidate: Candidate, labels: Sequence[str], demos: Sequence[Example]) -> str:
    return "\n\n".join(f"Input: {d.text}\nLabel: {answer_for(candidate, labels, d.label)}" for d in demos)


def _evidence(candidate: Candidate, labels: Sequence[str], demos: Sequence[Example]) -> str:
    if candidate.demo_layout == "labels":
        nearest_first = [answer_for(candidate, labels, d.label) for d in reversed(demos)]
        return "Labels of the most similar known inputs, most similar first: " + ", ".join(nearest_first)
    return "Similar examples:\n" + _example_block(candidate, labels, demos)
