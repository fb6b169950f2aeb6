"""Labels, descriptions and train examples the prompt tests share."""

from __future__ import annotations

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

# a retrieval pool: paraphrases of these share no word with them
POOL = (
    Example("train-0", "My card has not arrived yet", "card_arrival"),
    Example("train-1", "I want my money back for this purchase", "refund"),
    Example("train-2", "How do I change my PIN?", "change_pin"),
    Example("train-3", "The exchange rate you used was wrong", "exchange_rate"),
)
