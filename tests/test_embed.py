"""The MiniLM retriever: the real model from its PyPI package (offline), the pool embeddings
kept on disk and reused, and an embedding retriever that is deterministic and finds
paraphrases that share no word with the query."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from promptopt.llm import embed
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.prompt.retrieve import EmbeddingRetriever
from promptopt.task.spec import Example

POOL = (
    Example("train-0", "My card has not arrived yet", "card_arrival"),
    Example("train-1", "I want my money back for this purchase", "refund"),
    Example("train-2", "How do I change my PIN?", "change_pin"),
    Example("train-3", "The exchange rate you used was wrong", "exchange_rate"),
)


class CountingEmbedder:
    """Bag-of-letters vectors; counts how often the pool is embedded."""

    def __init__(self) -> None:
        self.pool_calls = 0

    def encode(self, texts: Any) -> Any:
        vectors = np.array([[t.lower().count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts], dtype=float)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def encode_pool(self, texts: Any) -> Any:
        self.pool_calls += 1
        return self.encode(texts)


def test_the_pool_is_embedded_once_and_results_are_deterministic() -> None:
    embedder = CountingEmbedder()
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


@pytest.mark.model
def test_minilm_runs_offline_finds_a_paraphrase_and_caches_the_pool(tmp_path: Path) -> None:
    assert embed.available(), "the embed extra is part of the setup (make setup installs it)"
    embedder = embed.MiniLMEmbedder(tmp_path)
    retriever = EmbeddingRetriever(POOL, embedder)
    nearest = retriever.nearest("Give me a refund, please", 1)[0]
    assert nearest.label == "refund"  # no word in common with "I want my money back..."
    cached = list(tmp_path.glob("*.npy"))
    assert len(cached) == 1
    vectors = np.load(cached[0])
    assert vectors.shape == (len(POOL), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    again = embed.MiniLMEmbedder(tmp_path).encode_pool([e.text for e in POOL])
    assert np.array_equal(again, vectors)  # read from the cache file


@pytest.mark.model
def test_a_corrupt_embedding_cache_is_recomputed(tmp_path: Path) -> None:
    embedder = embed.MiniLMEmbedder(tmp_path)
    texts = [e.text for e in POOL]
    first = embedder.encode_pool(texts)
    (path,) = tmp_path.glob("*.npy")
    path.write_bytes(b"not a numpy file")
    assert np.allclose(embed.MiniLMEmbedder(tmp_path).encode_pool(texts), first, atol=1e-5)
