"""Content hashes of files (stdlib only)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path, *, block: int = 1 << 22) -> str:
    """Hex sha256 of a file's bytes, read in blocks (never the whole file in memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()
