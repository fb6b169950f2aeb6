"""The components that make long inputs and long label lists affordable render what they claim:
cut lengths, one demo per label, the narrowed label list (with the gold label when a neighbour
has it), and candidates of older runs keep their ids."""

from __future__ import annotations

import pytest

from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.prompt.parse import LabelParser
from promptopt.prompt.render import render, render_sized, system_message
from promptopt.prompt.shrink import CHARS_PER_TOKEN, cut, neighbour_labels, one_per_label
from promptopt.task.spec import Example

LONG = " ".join(f"word{i}" for i in range(400))  # 2,689 characters
LABELS = tuple(f"label_{i:02d}" for i in range(30))


def demo(i: int, label: str, text: str = "a short text") -> Example:
    return Example(id=f"train-{i}", text=text, label=label)


@pytest.mark.parametrize("tokens", [16, 64, 200])
@pytest.mark.parametrize("mode", ["head", "ends"])
def test_a_cut_input_is_at_most_its_length_and_keeps_the_right_ends(tokens: int, mode: str) -> None:
    text = cut(LONG, tokens, mode)  # type: ignore[arg-type]
    assert len(text) <= tokens * CHARS_PER_TOKEN
    assert text.startswith("word0 word1")
    assert "[...]" in text
    assert text.endswith("word399") == (mode == "ends")


def test_a_short_input_or_a_zero_length_is_left_whole() -> None:
    assert cut("short text", 16) == "short text"
    assert cut(LONG, 0) == LONG


def test_the_candidate_cuts_the_input_and_each_demo_in_the_rendered_prompt() -> None:
    candidate = Candidate(
        instruction="Classify.",
        demo_strategy="retrieved",
        k=2,
        demo_layout="turns",
        input_tokens=50,
        input_cut="ends",
        demo_tokens=20,
    )
    demos = [demo(1, "label_01", LONG), demo(2, "label_02", LONG)]
    messages, size = render_sized(candidate, LABELS, demos, LONG)
    user = [m["content"] for m in messages if m["role"] == "user"]
    assert [len(u) <= 20 * CHARS_PER_TOKEN for u in user[:2]] == [True, True]
    assert len(user[-1]) <= 50 * CHARS_PER_TOKEN and user[-1].endswith("word399")
    assert size.data_chars == sum(len(u) for u in user)
    assert size.messages == len(messages) == 6


def test_the_narrowed_label_list_holds_the_gold_label_when_a_neighbour_has_it() -> None:
    candidate = Candidate(
        instruction="Classify.",
        demo_strategy="retrieved",
        k=3,
        demo_layout="compact",
        label_scope="neighbours",
    )
    neighbours = [demo(1, "label_07"), demo(2, "label_03"), demo(3, "label_07")]
    messages = render(candidate, LABELS, neighbours, "the input")
    assert "label_29" not in system_message(candidate, LABELS)  # no full list in the shared prefix
    last = messages[-1]["content"]
    listed = last.split("Likely labels:\n")[1].split("\nIf none")[0].splitlines()
    assert listed == ["label_03", "label_07"]  # the gold label_07 is there, in label order
    assert "If none of these fits" in last and last.endswith("Input: the input")
    # a way out: an answer outside the narrowed list is still a label
    assert LabelParser(LABELS, "label").parse("label_29") == "label_29"
    assert neighbour_labels(LABELS, neighbours) == ("label_03", "label_07")


def test_one_demo_per_label_takes_the_nearest_of_each_label() -> None:
    nearest_first = [demo(1, "a"), demo(2, "a"), demo(3, "b"), demo(4, "a"), demo(5, "c")]
    assert [e.id for e in one_per_label(nearest_first, 2)] == ["train-1", "train-3"]
    assert [e.label for e in one_per_label(nearest_first, 9)] == ["a", "b", "c"]


def test_retrieved_demos_picked_per_label_are_distinct_labels_and_nearest_last() -> None:
    train = [
        demo(i, f"label_{i % 3:02d}", f"refund card {i}" if i % 3 else f"refund card card {i}")
        for i in range(30)
    ]
    source = DemoSource(train)
    per_label = Candidate(instruction="x", demo_strategy="retrieved", k=3, demo_pick="per_label")
    nearest = Candidate(instruction="x", demo_strategy="retrieved", k=3)
    picked = source.demos(per_label, "refund card card 3")
    assert len({e.label for e in picked}) == 3
    assert picked[-1] == source.demos(nearest, "refund card card 3")[-1]  # the nearest comes last


def test_candidates_keep_their_ids_while_the_new_components_are_at_their_defaults() -> None:
    plain = Candidate(instruction="Classify.", demo_strategy="retrieved", k=4)
    assert "input_tokens" not in plain.components() and "label_scope" not in plain.components()
    # (tests/run/test_reference_runs.py checks every candidate of the committed runs keeps its id)
    cut_one = Candidate(instruction="Classify.", demo_strategy="retrieved", k=4, input_tokens=128)
    assert cut_one.id != plain.id and cut_one.components()["input_tokens"] == 128
    assert Candidate.from_json(cut_one.to_json()) == cut_one


@pytest.mark.parametrize(
    "changes",
    [
        {"label_scope": "neighbours"},  # no retrieved demos
        {"demo_pick": "per_label"},
        {"demo_tokens": 10},  # no demos to cut
        {"input_cut": "ends"},  # a cut mode without a length
        {"input_tokens": -1},
    ],
)
def test_components_that_cannot_apply_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Candidate(instruction="x", **changes)  # type: ignore[arg-type]


# -- fitting a prompt into the model's context window ----------------------------------------


def test_fit_drops_the_first_shown_demos_first_then_cuts_the_input() -> None:
    from promptopt.prompt.shrink import ELLIPSIS, MIN_INPUT_CHARS, fit

    demos = [demo(i, "a", "x" * 100) for i in range(4)]  # retrieved: most similar last
    text = "word " * 200  # 1,000 characters
    kept, same = fit(demos, text, 150)
    assert [d.id for d in kept] == [d.id for d in demos[2:]] and same == text
    kept, cut_text = fit(demos, text, 400 + 300)
    assert kept == [] and len(cut_text) <= len(text) - 300 and cut_text.endswith(ELLIPSIS.rstrip())
    assert text.startswith(cut_text.removesuffix(ELLIPSIS.rstrip()))
    kept, floor = fit(demos, text, 10_000)  # never under the floor
    assert kept == [] and MIN_INPUT_CHARS <= len(floor) < len(text)
    assert fit(demos, text, 0) == (demos, text)
