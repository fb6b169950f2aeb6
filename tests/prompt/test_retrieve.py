"""Demos chosen per input: the TF-IDF retrievers (word and character n-grams) and the
embedding retriever, deterministic, with the pool embedded once; a retriever the run lacks is
a clear error. The real MiniLM model is tested in tests/llm/test_embed.py."""

from __future__ import annotations

from typing import Any

import pytest

from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.prompt.retrieve import EmbeddingRetriever
from promptopt.task.spec import Example
from promptopt.testing import HashEmbedder
from tests.prompt.samples import INSTRUCTION, POOL


def test_the_pool_is_embedded_once_and_results_are_deterministic() -> None:
    embedder = HashEmbedder()
    retriever = EmbeddingRetriever(POOL, embedder)
    first = [e.id for e in retriever.nearest("my card did not arrive", 2)]
    assert first == [e.id for e in retriever.nearest("my card did not arrive", 2)]
    assert embedder.pool_calls == 1


def test_a_missing_retriever_is_a_clear_error() -> None:
    from promptopt.errors import TaskError

    source = DemoSource(POOL)
    candidate = Candidate(instruction="x", demo_strategy="retrieved", k=1, retriever="minilm")
    with pytest.raises(TaskError, match="minilm"):
        source.demos(candidate, "hello")


def _candidate(**changes: Any) -> Candidate:
    return Candidate(instruction=INSTRUCTION, **changes)


def test_char_and_word_retrievers_are_both_available_and_deterministic() -> None:
    train = (
        Example("train-0", "my card was stolen", "card_lost"),
        Example("train-1", "refund please", "refund_request"),
        Example("train-2", "cardd stolen yesterday", "card_lost"),
    )
    source = DemoSource(train)
    for kind in ("word", "char"):
        c = _candidate(demo_strategy="retrieved", k=1, retriever=kind)
        assert source.demos(c, "stolen card") == source.demos(c, "stolen card")
    char = _candidate(demo_strategy="retrieved", k=1, retriever="char")
    assert source.demos(char, "cardd stolen")[0].id == "train-2"
