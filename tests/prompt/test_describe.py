from __future__ import annotations

from promptopt.prompt.describe import keyword_descriptions
from promptopt.task.spec import Example

TRAIN = [
    Example(f"train-{i}", text, label)
    for i, (text, label) in enumerate(
        [
            ("my card has not arrived yet in the post", "card_arrival"),
            ("when will the card arrive by post", "card_arrival"),
            ("still waiting for delivery of my card", "card_arrival"),
            ("the exchange rate you applied is wrong", "exchange_rate"),
            ("what rate do you use for euro conversion", "exchange_rate"),
            ("euro conversion rate looks wrong to me", "exchange_rate"),
            ("I want to close my account and leave", "terminate_account"),
            ("please delete my account permanently", "terminate_account"),
            ("how do I close the account", "terminate_account"),
        ]
    )
]


def test_keywords_are_distinctive_and_skip_the_label_name() -> None:
    labels = ("card_arrival", "exchange_rate", "terminate_account")
    desc = dict(keyword_descriptions(TRAIN, labels, words=3))
    assert set(desc) == set(labels)
    assert "post" in desc["card_arrival"] and "conversion" in desc["exchange_rate"]
    assert "close" in desc["terminate_account"]
    assert "rate" not in desc["exchange_rate"] and "account" not in desc["terminate_account"]


def test_deterministic_and_in_label_order() -> None:
    labels = ("terminate_account", "card_arrival", "exchange_rate")
    a, b = keyword_descriptions(TRAIN, labels), keyword_descriptions(TRAIN, labels)
    assert a == b and [label for label, _ in a] == list(labels)
