"""Parsing answers back into labels (or codes): the tolerated spellings, what is refused,
and properties over random label sets."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from promptopt.prompt.parse import LabelParser, normalize
from tests.prompt.samples import LABELS

PROPERTY_SETTINGS = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


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


def test_parser_reads_the_first_non_empty_line() -> None:
    assert LabelParser(("card_arrival", "refund")).parse("\n\n  card_arrival\nbecause...") == "card_arrival"


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
    r"^\W*(?:the\s+)?(?:label|answer|intent|category|class|output|topic|product)\b", re.I
)


@st.composite
def _decorated(draw: st.DrawFn, target: str) -> str:
    cased = "".join(c.upper() if draw(st.booleans()) else c for c in target)
    quote = draw(_QUOTES)
    period = draw(st.sampled_from(["", "."]))
    inner = draw(_INNER_SPACE)
    return (
        draw(_OUTER_SPACE)
        + quote
        + inner
        + cased
        + draw(_INNER_SPACE)
        + quote
        + period
        + inner
        + draw(_OUTER_SPACE)
    )


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


_ANY_LINE = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters=_LINE_BREAKS), max_size=30
)


@PROPERTY_SETTINGS
@given(labels=_LABEL_SETS, data=st.data())
def test_parse_of_text_that_is_no_label_is_none(labels: list[str], data: st.DataObject) -> None:
    text = data.draw(st.one_of(_ANY_LINE, _near_misses(labels)))
    assume(normalize(text) not in {normalize(label) for label in labels})
    assume(not _SPEC_PREFIX.match(text))  # "Label: x" is an accepted spelling of x
    assert LabelParser(tuple(labels)).parse(text) is None
