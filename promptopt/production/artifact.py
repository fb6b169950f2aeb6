"""The production prompt artifact: its file format, its content hash, and reading it back with
every check a loader needs (format, version, hash, embeddings sidecar).

An artifact is one JSON object (``format = "promptopt-prompt"``). Its ``content_hash`` is the
sha256 of the canonical JSON of every other field, so any edit after export is detected. A
MiniLM retrieval pool keeps its sentence embeddings in a sidecar ``.npy`` file whose sha256 is a
field of the artifact, so the hash covers it too. Standard library only (numpy, for the
sidecar, is imported on use).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptopt.errors import StoreError
from promptopt.prompt.candidate import Candidate
from promptopt.task.spec import Example

FORMAT = "promptopt-prompt"
FORMAT_VERSION = 1
HASH_FIELD = "content_hash"


class ArtifactError(StoreError):
    """An artifact that cannot be trusted or read: wrong format or version, edited content
    (hash mismatch), a missing or altered embeddings file."""


def canonical(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as it reads back from JSON (tuples become lists), so hashing before writing
    and after reading gives the same digest."""
    result: dict[str, Any] = json.loads(json.dumps(data, ensure_ascii=False))
    return result


def content_hash(data: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON (sorted keys, no spaces) of every field of
    ``data`` except :data:`HASH_FIELD`."""
    body = {k: v for k, v in data.items() if k != HASH_FIELD}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()


def sealed(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with its content hash filled in."""
    body = canonical({k: v for k, v in data.items() if k != HASH_FIELD})
    return {**body, HASH_FIELD: content_hash(body)}


def bytes_sha256(blob: bytes) -> str:
    return "sha256:" + hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class Artifact:
    """A verified artifact read from ``path`` (the sidecar files resolve against its folder)."""

    path: Path
    data: Mapping[str, Any]

    @property
    def candidate(self) -> Candidate:
        return Candidate.from_json(self.data["candidate"])

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.data["labels"])

    @property
    def input_fields(self) -> tuple[str, ...]:
        """The task's input columns (artifacts before multi-field input name one)."""
        task = self.data.get("task") or {}
        fields = task.get("input_fields") or [task.get("input_field") or "text"]
        return tuple(str(f) for f in fields)

    @property
    def layout(self) -> str | None:
        """How the input columns make one text (None: the one column, or ``field: value`` lines)."""
        layout = (self.data.get("task") or {}).get("layout")
        return None if layout is None else str(layout)

    @property
    def model(self) -> Mapping[str, Any]:
        """``name``, ``temperature``, ``max_tokens``, ``seed``, ``stop``."""
        model: Mapping[str, Any] = self.data["model"]
        return model

    @property
    def demos(self) -> Mapping[str, Any]:
        demos: Mapping[str, Any] = self.data["demos"]
        return demos

    def pool(self) -> tuple[Example, ...]:
        """The examples demos come from: the fixed demos, or the whole retrieval pool."""
        rows = self.demos.get("pool") or self.demos.get("examples") or []
        return tuple(Example(str(r["id"]), str(r["text"]), str(r["label"])) for r in rows)

    def embeddings(self) -> Any:
        """The pool's sentence embeddings (float32 rows, one per pool example), read from the
        sidecar file and checked against the sha256 the artifact records."""
        import numpy as np

        spec = self.demos.get("embeddings")
        if not spec:
            raise ArtifactError(
                f"artifact {self.path} stores no embeddings for its retrieval pool",
                hint="re-export the run with: promptopt export RUN --force",
            )
        blob = self._sidecar(str(spec["file"]))
        found = bytes_sha256(blob)
        if found != spec["sha256"]:
            raise ArtifactError(
                f"embeddings file {self.path.parent / spec['file']} has hash {found}, "
                f"but the artifact records {spec['sha256']}",
                hint="restore the file exported with the artifact, or re-export with --force",
            )
        vectors = np.load(io.BytesIO(blob), allow_pickle=False)
        if vectors.shape[0] != len(self.pool()):
            raise ArtifactError(
                f"embeddings file has {vectors.shape[0]} rows for a pool of {len(self.pool())}",
                hint="re-export the run with: promptopt export RUN --force",
            )
        return vectors

    def _sidecar(self, name: str) -> bytes:
        path = self.path.parent / name
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ArtifactError(
                f"the embeddings file of artifact {self.path} cannot be read: {path} ({exc})",
                hint="keep the .embeddings.npy file next to the artifact, "
                "or re-export with: promptopt export RUN --force",
            ) from exc


def read_artifact(path: Path) -> Artifact:
    """Read and verify an artifact: a known format and version, and a content hash that
    matches its content. Raises :class:`ArtifactError` (or :class:`StoreError` when the
    file cannot be read)."""
    data = _read_json(path)
    if data.get("format") != FORMAT:
        raise ArtifactError(
            f"{path} is not a promptopt prompt artifact (format: {data.get('format')!r})",
            hint="pass the prompt.json written by: promptopt export RUN",
        )
    if data.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"artifact {path} has format version {data.get('format_version')!r}; this promptopt reads {FORMAT_VERSION}",
            hint="re-export the run with this promptopt (promptopt export RUN --force), or use the version "
            "that wrote it (see 'versions' in the artifact)",
        )
    expected, found = data.get(HASH_FIELD), content_hash(data)
    if expected != found:
        raise ArtifactError(
            f"artifact {path} does not match its content hash: it records {expected}, its content hashes to {found}",
            hint="the file was edited or corrupted after export; restore it or re-export with: "
            "promptopt export RUN --force",
        )
    return Artifact(path=path, data=data)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise StoreError(f"artifact {path} does not exist", hint="export one with: promptopt export RUN")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(
            f"artifact {path} is not readable JSON: {exc}",
            hint="restore the file or re-export with: promptopt export RUN --force",
        ) from exc
    if not isinstance(data, dict):
        raise ArtifactError(
            f"artifact {path} does not hold a JSON object", hint="pass the file promptopt export wrote"
        )
    return data
