"""The MiniLM embedder: the real model from its PyPI package (offline), finding a paraphrase
that shares no word with the query, and the pool embeddings kept on disk and reused (a
corrupt cache file is recomputed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from promptopt.llm import embed
from promptopt.prompt.retrieve import EmbeddingRetriever
from tests.prompt.samples import POOL


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
