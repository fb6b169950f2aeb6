"""Packaged local models: assembled from chunk packages, verified by sha256 before use, and
re-verified when the file changes on disk. Uses a tiny fake package, not the real weights."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from promptopt.errors import ModelError
from promptopt.llm import local

CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


@pytest.fixture
def fake_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> local.PackagedModel:
    site = tmp_path / "site"
    for i, blob in enumerate(CHUNKS):
        package = site / f"fake_model_part{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{i}.bin").write_bytes(blob)
    monkeypatch.syspath_prepend(str(site))
    whole = b"".join(CHUNKS)
    return local.PackagedModel(
        name="fake",
        filename="fake.gguf",
        sha256=hashlib.sha256(whole).hexdigest(),
        size=len(whole),
        chunks=tuple((f"fake_model_part{i}", f"data/part{i}.bin") for i in range(len(CHUNKS))),
        packages=("fake-model==1.0",),
    )


def test_assembles_in_order_and_verifies(fake_spec: local.PackagedModel, tmp_path: Path) -> None:
    path = local.prepare(fake_spec, tmp_path / "models")
    assert path.read_bytes() == b"".join(CHUNKS)
    assert local.is_verified(fake_spec, tmp_path / "models")


def test_a_wrong_hash_is_refused_and_leaves_no_file(fake_spec: local.PackagedModel, tmp_path: Path) -> None:
    bad = local.PackagedModel(**{**fake_spec.__dict__, "sha256": "0" * 64})
    with pytest.raises(ModelError) as info:
        local.prepare(bad, tmp_path / "models")
    assert "0" * 64 in str(info.value) and fake_spec.sha256 in str(info.value)
    assert "--force-reinstall" in str(info.value)
    assert not (tmp_path / "models" / "fake.gguf").exists()


def test_a_tampered_file_is_detected_and_rebuilt(fake_spec: local.PackagedModel, tmp_path: Path) -> None:
    path = local.prepare(fake_spec, tmp_path / "models")
    path.write_bytes(b"evil" + path.read_bytes()[4:])  # same size, new content and mtime
    os.utime(path, ns=(1, 1))
    assert not local.is_verified(fake_spec, tmp_path / "models")
    assert local.prepare(fake_spec, tmp_path / "models").read_bytes() == b"".join(CHUNKS)


def test_a_missing_chunk_package_names_the_install_command(
    fake_spec: local.PackagedModel, tmp_path: Path
) -> None:
    missing = local.PackagedModel(
        **{**fake_spec.__dict__, "chunks": (*fake_spec.chunks, ("no_such_chunk_pkg", "data/x.bin"))}
    )
    with pytest.raises(ModelError, match=r"pip install fake-model==1\.0"):
        local.prepare(missing, tmp_path / "models")


def test_the_real_packages_are_declared_with_their_published_hashes() -> None:
    assert local.PACKAGED["qwen2.5-0.5b-instruct"].sha256.startswith("1d961463")
    assert local.PACKAGED["qwen2.5-0.5b-instruct"].sha256.endswith("ff32")
    assert local.PACKAGED["qwen2.5-0.5b-instruct"].size == 491_400_064
    assert local.PACKAGED["gemma-3-270m"].sha256.startswith("a5fd3b62")
    assert "fake_model_part0" not in sys.modules
