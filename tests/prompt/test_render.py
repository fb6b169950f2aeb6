"""Rendering a candidate as messages: the system message, demos as turns or in a compact
block, codes, label descriptions, and a prefix shared by every input."""

from __future__ import annotations

import re
from typing import Any

import pytest

from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.prompt.render import Message, codes_for, render
from promptopt.task.spec import Example
from tests.prompt.samples import DESCRIPTIONS, INSTRUCTION, LABELS, TRAIN


def _candidate(**changes: Any) -> Candidate:
    return Candidate(instruction=INSTRUCTION, **changes)


def _fixed(output_format: str = "label", label_style: str = "names") -> Candidate:
    return _candidate(
        demo_strategy="fixed",
        demo_ids=("train-1", "train-0", "train-2"),
        output_format=output_format,
        label_style=label_style,
        label_descriptions=DESCRIPTIONS if label_style == "described" else (),
    )


def _render(candidate: Candidate, text: str) -> list[Message]:
    demos = DemoSource(TRAIN).demos(candidate, text)
    return render(candidate, LABELS, demos, text)


def _contents(messages: list[Message]) -> list[str]:
    return [m["content"] for m in messages]


# --------------------------------------------------------------------------- render


def test_render_starts_with_a_system_message_listing_instruction_and_each_label_once() -> None:
    messages = _render(_fixed(), "my card is gone")
    system = messages[0]
    assert system["role"] == "system"
    assert INSTRUCTION in system["content"]
    for label in LABELS:
        assert len(re.findall(rf"\b{re.escape(label)}\b", system["content"])) == 1, label
    assert [m["role"] for m in messages].count("system") == 1


def test_render_shows_demos_as_alternating_turns_and_the_input_last() -> None:
    candidate = _fixed()
    messages = _render(candidate, "my card is gone")
    by_id = {e.id: e for e in TRAIN}
    demos = [by_id[i] for i in candidate.demo_ids]
    assert len(messages) == 1 + 2 * len(demos) + 1
    for i, demo in enumerate(demos):
        user, assistant = messages[1 + 2 * i], messages[2 + 2 * i]
        assert user == {"role": "user", "content": demo.text}
        assert assistant == {"role": "assistant", "content": demo.label}
    assert messages[-1] == {"role": "user", "content": "my card is gone"}


def test_render_without_demos_is_system_then_input() -> None:
    messages = render(_candidate(), LABELS, [], "hello")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[-1]["content"] == "hello"


def test_labels_are_not_repeated_outside_the_system_message() -> None:
    messages = _render(_fixed(), "a question")
    user_text = " ".join(m["content"] for m in messages[1:] if m["role"] == "user")
    for label in LABELS:
        assert label not in user_text


def test_code_format_lists_codes_and_demo_answers_are_codes() -> None:
    candidate = _fixed(output_format="code")
    messages = _render(candidate, "my card is gone")
    system = messages[0]["content"]
    for code, label in zip(codes_for(LABELS), LABELS, strict=True):
        assert f"{code}: {label}" in system.splitlines()
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    by_id = {e.id: e for e in TRAIN}
    expected = [f"L{LABELS.index(by_id[i].label) + 1}" for i in candidate.demo_ids]
    assert answers == expected == ["L2", "L1", "L3"]


def test_codes_are_numbered_from_one_in_label_order() -> None:
    assert codes_for(LABELS) == ("L1", "L2", "L3")
    assert codes_for(()) == ()


def test_described_style_shows_descriptions() -> None:
    system = _render(_fixed(label_style="described"), "x")[0]["content"]
    for label, description in DESCRIPTIONS:
        assert description in system
        assert f"{label} ({description})" in system


def test_names_style_hides_descriptions() -> None:
    candidate = _candidate(label_descriptions=DESCRIPTIONS)  # style "names"
    system = render(candidate, LABELS, [], "x")[0]["content"]
    for _, description in DESCRIPTIONS:
        assert description not in system


@pytest.mark.parametrize("output_format", ["label", "code"])
@pytest.mark.parametrize("label_style", ["names", "described"])
def test_render_is_cache_friendly(output_format: str, label_style: str) -> None:
    candidate = _fixed(output_format=output_format, label_style=label_style)
    first = _render(candidate, "first input")
    second = _render(candidate, "a completely different second input")
    assert first[:-1] == second[:-1]
    assert first[-1] != second[-1]
    assert "first input" not in "".join(_contents(first[:-1]))


# --------------------------------------------------------------------------- demo layouts

_DEMOS = (
    Example("train-0", "I lost my card", "card_lost"),
    Example("train-1", "refund me", "refund_request"),
)


def test_compact_fixed_demos_live_in_the_shared_system_message() -> None:
    c = _candidate(demo_strategy="fixed", demo_ids=("train-0", "train-1"), demo_layout="compact")
    messages = render(c, LABELS, _DEMOS, "where is my money")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "Input: I lost my card\nLabel: card_lost" in messages[0]["content"]
    assert messages[1]["content"] == "where is my money"


def test_compact_retrieved_demos_come_after_the_shared_prefix() -> None:
    c = _candidate(demo_strategy="retrieved", k=2, demo_layout="compact", retriever="char")
    messages = render(c, LABELS, _DEMOS, "where is my money")
    assert messages[0]["content"] == render(_candidate(), LABELS, [], "x")[0]["content"]
    assert messages[-1]["content"].startswith("Similar examples:\nInput: I lost my card")
    assert messages[-1]["content"].endswith("Input: where is my money")


def test_labels_layout_shows_neighbour_labels_most_similar_first_and_no_texts() -> None:
    c = _candidate(demo_strategy="retrieved", k=2, demo_layout="labels")
    content = render(c, LABELS, _DEMOS, "where is my money")[-1]["content"]
    assert "refund_request, card_lost" in content  # demos arrive most similar last
    assert "I lost my card" not in content
