"""The MiniLM embedder: the real model from its PyPI package (offline), finding a paraphrase
that shares no word with the query, and the pool embeddings kept on disk and reused (a
corrupt cache file is recomputed); a large pool is embedded in steps whose progress the
command line shows."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from promptopt.cli.app import app
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


@pytest.mark.model
def test_a_large_pool_is_embedded_in_steps_that_log_progress_and_time_left(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    texts = [f"{e.text} (copy {i})" for i in range(3) for e in POOL]
    embedder = embed.MiniLMEmbedder(tmp_path)
    whole = embedder.encode(texts)
    with caplog.at_level(logging.INFO, logger=embed.__name__):
        stepped = embedder._encode_in_steps(texts, step=len(POOL))
    assert np.allclose(stepped, whole, atol=1e-5)
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("embedded ")]
    n = len(POOL)
    assert [m.split(", about ")[0] for m in progress] == [
        f"embedded {n} of {3 * n} texts",
        f"embedded {2 * n} of {3 * n} texts",
    ]  # one line per step but the last
    assert all(m.endswith(" s left") for m in progress)


def test_the_command_line_shows_the_pool_progress_without_verbose() -> None:
    logger = logging.getLogger(embed.__name__)
    before = logger.level
    try:
        logger.setLevel(logging.NOTSET)
        result = CliRunner().invoke(app, ["tasks"])
        assert result.exit_code == 0, result.output
        assert logger.getEffectiveLevel() == logging.INFO  # passes the CLI's WARNING-level handler
    finally:
        logger.setLevel(before)
