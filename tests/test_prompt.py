"""Rendering a candidate as messages, parsing answers back into labels, and candidate identity."""

from __future__ import annotations

import json
import re
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.prompt.parse import LabelParser, normalize
from promptopt.prompt.render import Message, codes_for, render
from promptopt.task.spec import Example

LABELS: tuple[str, ...] = ("card_lost", "billing", "refund_request")
DESCRIPTIONS: tuple[tuple[str, str], ...] = (
    ("card_lost", "the customer misplaced a card"),
    ("billing", "questions about charges"),
    ("refund_request", "wants money back"),
)
TRAIN: tuple[Example, ...] = (
    Example("train-0", "I lost my card yesterday", "card_lost"),
    Example("train-1", "Why was I charged twice?", "billing"),
    Example("train-2", "Please give me my money back", "refund_request"),
    Example("train-3", "Where is my card?", "card_lost"),
)
INSTRUCTION = "Classify the customer message."

PROPERTY_SETTINGS = settings(max_examples=200, derandomize=True, database=None, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


def _candidate(**changes: Any) -> Candidate:
    return Candidate(instruction=INSTRUCTION, **changes)


def _fixed(output_format: str = "label", label_style: str = "names") -> Candidate:
    return _candidate(demo_strategy="fixed", demo_ids=("train-1", "train-0", "train-2"),
                      output_format=output_format, label_style=label_style,
                      label_descriptions=DESCRIPTIONS if label_style == "described" else ())


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


# --------------------------------------------------------------------------- LabelParser

PARSER = LabelParser(LABELS)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("billing", "billing"),
        ("BILLING", "billing"),
        ("Billing", "billing"),
        ("  billing  \n", "billing"),
        ("\tbilling", "billing"),
        ('"billing"', "billing"),
        ("'billing'", "billing"),
        ("`billing`", "billing"),
        ("billing.", "billing"),
        ('"Billing".', "billing"),
        ("Label: billing", "billing"),
        ("label:billing", "billing"),
        ("The answer is: billing", "billing"),
        ("The answer is billing", "billing"),
        ("Answer: card_lost", "card_lost"),
        ("card lost", "card_lost"),
        ("card-lost", "card_lost"),
        ("Card Lost", "card_lost"),
        ("refund-request", "refund_request"),
        ("refund request.", "refund_request"),
        ("billing\nrefund_request", "billing"),
        ("billing\nThis is because the customer was charged.", "billing"),
    ],
)
def test_parser_accepts_tolerated_variations(completion: str, expected: str) -> None:
    assert PARSER.parse(completion) == expected


@pytest.mark.parametrize(
    "completion",
    [
        "",
        "   ",
        "\n\n",
        "banana",
        "bill",
        "billings",
        "card",
        "card_lost_forever",
        "I think it is billing",
        "billing or refund_request",
        "This is about billing.",
        "unknown\nbilling",
    ],
)
def test_parser_rejects_non_labels(completion: str) -> None:
    assert PARSER.parse(completion) is None


def test_code_format_maps_codes_to_labels() -> None:
    parser = LabelParser(LABELS, "code")
    assert parser.parse("L3") == "refund_request"
    assert parser.parse("l1") == "card_lost"
    assert parser.parse(" 'L2'. ") == "billing"
    assert parser.parse("L4") is None
    assert parser.parse("L") is None
    assert parser.parse("billing") is None  # in code format the name is not the answer


def test_code_format_distinguishes_l1_from_l10() -> None:
    labels = tuple(f"label{i}" for i in range(12))
    parser = LabelParser(labels, "code")
    assert parser.parse("L1") == "label0"
    assert parser.parse("L10") == "label9"
    assert parser.parse("L12") == "label11"


def test_prefix_words_are_only_stripped_as_whole_words() -> None:
    parser = LabelParser(("s", "ification", "billing"))
    assert parser.parse("Labels") is None
    assert parser.parse("Classification") is None


# --------------------------------------------------------------------------- properties

_WORD = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=6)
_IDENTIFIER = st.lists(_WORD, min_size=1, max_size=3).map("_".join)
_LABEL_SETS = st.lists(_IDENTIFIER, min_size=1, max_size=8, unique_by=normalize)
_QUOTES = st.sampled_from(["", '"', "'", "`"])
_OUTER_SPACE = st.sampled_from(["", " ", "  ", "\t", "\n", " \n\t "])
_INNER_SPACE = st.sampled_from(["", " ", "\t"])
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
# What the parser documents as an accepted prefix, as whole words.
_SPEC_PREFIX = re.compile(
    r"^\W*(?:the\s+)?(?:label|answer|intent|category|class|output|topic|product)\b", re.I)


@st.composite
def _decorated(draw: st.DrawFn, target: str) -> str:
    cased = "".join(c.upper() if draw(st.booleans()) else c for c in target)
    quote = draw(_QUOTES)
    period = draw(st.sampled_from(["", "."]))
    inner = draw(_INNER_SPACE)
    return (draw(_OUTER_SPACE) + quote + inner + cased + draw(_INNER_SPACE) + quote + period
            + inner + draw(_OUTER_SPACE))


@PROPERTY_SETTINGS
@given(labels=_LABEL_SETS, data=st.data())
def test_parse_of_a_decorated_label_is_the_label(labels: list[str], data: st.DataObject) -> None:
    label = data.draw(st.sampled_from(labels))
    completion = data.draw(_decorated(label))
    assert LabelParser(tuple(labels)).parse(completion) == label


@PROPERTY_SETTINGS
@given(labels=_LABEL_SETS, data=st.data())
def test_parse_of_a_decorated_code_is_its_label(labels: list[str], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(labels) - 1))
    completion = data.draw(_decorated(f"L{index + 1}"))
    assert LabelParser(tuple(labels), "code").parse(completion) == labels[index]


def _near_misses(labels: list[str]) -> st.SearchStrategy[str]:
    label = st.sampled_from(labels)
    extra = st.text(alphabet=string.ascii_letters + " _-.'", min_size=1, max_size=8)
    return st.one_of(
        st.builds(lambda a, b: a + b, label, extra),
        st.builds(lambda a, b: a + b, extra, label),
        st.builds(lambda a, b: f"{a} {b}", label, label),
    )


_ANY_LINE = st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters=_LINE_BREAKS),
                    max_size=30)


@PROPERTY_SETTINGS
@given(labels=_LABEL_SETS, data=st.data())
def test_parse_of_text_that_is_no_label_is_none(labels: list[str], data: st.DataObject) -> None:
    text = data.draw(st.one_of(_ANY_LINE, _near_misses(labels)))
    assume(normalize(text) not in {normalize(label) for label in labels})
    assume(not _SPEC_PREFIX.match(text))  # "Label: x" is an accepted spelling of x
    assert LabelParser(tuple(labels)).parse(text) is None


# --------------------------------------------------------------------------- Candidate


def _rich() -> Candidate:
    return Candidate(instruction="Do it.", label_style="described", label_descriptions=DESCRIPTIONS,
                     demo_strategy="fixed", demo_ids=("train-0", "train-2"), output_format="code",
                     parents=("abc",), operator="mutate")


def test_id_is_stable_and_independent_of_lineage() -> None:
    a = _rich()
    b = Candidate(instruction="Do it.", label_style="described", label_descriptions=DESCRIPTIONS,
                  demo_strategy="fixed", demo_ids=("train-0", "train-2"), output_format="code")
    assert a.id == b.id == _rich().id
    assert a == b
    assert re.fullmatch(r"[0-9a-f]{12}", a.id)
    derived = a.derive(operator="noop")
    assert derived.id == a.id and derived.parents == (a.id,) and derived.operator == "noop"


@pytest.mark.parametrize(
    "changes",
    [
        {"instruction": "Do it!"},
        {"label_style": "names"},
        {"label_descriptions": DESCRIPTIONS[:2]},
        {"label_descriptions": (("card_lost", "lost card"), *DESCRIPTIONS[1:])},
        {"demo_strategy": "stratified"},
        {"demo_ids": ("train-2", "train-0")},
        {"demo_ids": ("train-0",)},
        {"demo_strategy": "retrieved", "demo_ids": (), "k": 2},
        {"output_format": "label"},
    ],
)
def test_id_changes_when_a_component_changes(changes: dict[str, Any]) -> None:
    base = _rich()
    changed = base.derive(operator="edit", **changes)
    assert changed.id != base.id
    assert changed.parents == (base.id,)


def test_retrieved_k_is_part_of_the_id() -> None:
    assert (_candidate(demo_strategy="retrieved", k=3).id
            != _candidate(demo_strategy="retrieved", k=4).id)


@pytest.mark.parametrize("candidate", [_rich(), _candidate(), _candidate(demo_strategy="retrieved", k=5)])
def test_json_round_trip(candidate: Candidate) -> None:
    data = json.loads(json.dumps(candidate.to_json()))
    back = Candidate.from_json(data)
    assert back == candidate
    assert back.id == candidate.id == data["id"]
    assert back.parents == candidate.parents and back.operator == candidate.operator
    assert back.to_json() == candidate.to_json()


def test_from_json_of_the_python_value_round_trips_too() -> None:
    candidate = _rich()
    assert Candidate.from_json(candidate.to_json()) == candidate


@pytest.mark.parametrize(
    "kwargs",
    [
        {"demo_strategy": "random"},
        {"demo_strategy": "none", "demo_ids": ("train-0",)},
        {"demo_strategy": "none", "k": 2},
        {"demo_strategy": "retrieved", "k": -1},
    ],
)
def test_invalid_combinations_raise(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Candidate(instruction="x", **kwargs)


def test_n_demos() -> None:
    assert _candidate().n_demos == 0
    assert _candidate(demo_strategy="retrieved", k=4).n_demos == 4
    assert _rich().n_demos == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"demo_strategy": "retrieved", "k": 0},
        {"demo_strategy": "retrieved", "k": 2, "demo_ids": ("train-0",)},
        {"demo_strategy": "fixed", "demo_ids": ("train-0",), "k": 2},
        {"demo_strategy": "stratified"},
        {"output_format": "json"},
        {"label_style": "verbose"},
    ],
)
def test_contradictory_components_are_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Candidate(instruction="x", **fields)


# --------------------------------------------------------------------------- demo layouts

_DEMOS = (Example("train-0", "I lost my card", "card_lost"), Example("train-1", "refund me", "refund_request"))


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


@pytest.mark.parametrize("changes", [
    {"retriever": "char"},  # only for retrieved demos
    {"demo_layout": "compact"},  # no demos, no layout
    {"demo_strategy": "fixed", "demo_ids": ("train-0",), "demo_layout": "labels"},
    {"demo_strategy": "retrieved", "k": 2, "retriever": "bm25"},
    {"demo_strategy": "retrieved", "k": 2, "demo_layout": "table"},
])
def test_impossible_retrieval_components_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _candidate(**changes)


def test_char_and_word_retrievers_are_both_available_and_deterministic() -> None:
    train = (Example("train-0", "my card was stolen", "card_lost"), Example("train-1", "refund please", "refund_request"),
             Example("train-2", "cardd stolen yesterday", "card_lost"))
    source = DemoSource(train)
    for kind in ("word", "char"):
        c = _candidate(demo_strategy="retrieved", k=1, retriever=kind)
        assert source.demos(c, "stolen card") == source.demos(c, "stolen card")
    char = _candidate(demo_strategy="retrieved", k=1, retriever="char")
    assert source.demos(char, "cardd stolen")[0].id == "train-2"
