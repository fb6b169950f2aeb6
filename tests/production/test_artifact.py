"""The artifact's integrity on load: stored pool embeddings are used as they are (and an
edited embeddings file is refused), and an edited artifact fails its content hash with both
hashes and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptopt.production.artifact import ArtifactError, content_hash
from promptopt.production.runtime import load
from promptopt.testing import HashEmbedder
from tests.handoff.export_cases import exported, hashed


def test_stored_embeddings_make_the_pool_need_no_recomputation(tmp_path: Path) -> None:
    _, _, written = exported(tmp_path, "retrieved-minilm-compact-code")
    embedder = HashEmbedder()
    rt = load(written[0], completer=hashed(), embedder=embedder)
    rt.demos("note 1 about beta river stone")
    assert embedder.embedded == 1  # the query only; the pool came from the .npy file


def test_an_edited_embeddings_file_is_refused(tmp_path: Path) -> None:
    _, _, written = exported(tmp_path, "retrieved-minilm-compact-code")
    sidecar = written[1]
    blob = bytearray(sidecar.read_bytes())
    blob[-1] ^= 0xFF
    sidecar.write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="embeddings file"):
        load(written[0], completer=hashed(), embedder=HashEmbedder())


def test_an_edited_artifact_fails_its_hash_with_both_hashes_and_the_fix(tmp_path: Path) -> None:
    _, _, written = exported(tmp_path, "fixed-turns")
    data = json.loads(written[0].read_text())
    recorded = data["content_hash"]
    data["candidate"]["components"]["instruction"] += " Be brief."
    written[0].write_text(json.dumps(data))
    with pytest.raises(ArtifactError) as caught:
        load(written[0], completer=hashed())
    message = str(caught.value)
    assert recorded in message and content_hash(data) in message and "promptopt export" in message
