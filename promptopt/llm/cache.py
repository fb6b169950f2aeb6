"""A disk cache of completions keyed on the full request (model, parameters, messages) plus the
model's fingerprint. It lives where the user says (``--cache-dir``), never in a hidden home
folder, and a hit is always marked ``cached`` so it is never mistaken for a paid call."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from promptopt.errors import StoreError
from promptopt.llm.types import Completer, CompletionRequest, CompletionResponse, request_key

log = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, model TEXT, response TEXT, created REAL)"
)


class DiskCache:
    """A sqlite file of ``key -> response``. Opened on first use (constructors do no I/O)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(
                    f"cannot open the completion cache {self.path}: {exc}",
                    hint="pass --cache-dir to a writable folder, or --no-cache",
                ) from exc
        return self._conn

    def get(self, key: str) -> CompletionResponse | None:
        with self._lock:
            row = self._db().execute("SELECT response FROM completions WHERE key = ?", (key,)).fetchone()
        return None if row is None else CompletionResponse(**json.loads(row[0]))

    def put(self, key: str, model: str, response: CompletionResponse) -> None:
        blob = json.dumps(response.__dict__)
        try:
            with self._lock, self._db() as db:
                db.execute(
                    "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?)", (key, model, blob, time.time())
                )
        except sqlite3.Error as exc:  # full disk, read-only file: the call itself succeeded
            raise StoreError(
                f"cannot write to the completion cache {self.path}: {exc}",
                hint="free disk space, pass --cache-dir elsewhere, or --no-cache",
            ) from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


@dataclass
class CachingCompleter:
    """Serves repeated requests from the cache. A hit costs 0 dollars and reports the tokens
    the original call used (so token counts stay comparable) and its latency as
    ``live_latency_s``, with ``cached=True``."""

    inner: Completer
    cache: DiskCache
    _fingerprints: dict[str, str] = field(default_factory=dict)
    _writable: bool = True

    def fingerprint(self, model: str) -> str:
        if model not in self._fingerprints:
            self._fingerprints[model] = self.inner.fingerprint(model)
        return self._fingerprints[model]

    def complete(self, request: CompletionRequest) -> CompletionResponse:
        start = time.perf_counter()
        key = request_key(request, self.fingerprint(request.model))
        hit = self.cache.get(key)
        if hit is not None:
            return replace(
                hit,
                cached=True,
                usd=0.0,
                latency_s=time.perf_counter() - start,
                attempts=0,
                live_latency_s=hit.live_latency_s or hit.latency_s,
            )
        response = self.inner.complete(request)
        self._store(key, request.model, response)
        return response

    def _store(self, key: str, model: str, response: CompletionResponse) -> None:
        """A failed cache write (full disk, read-only file) must not lose a paid answer: warn
        once and go on without writing."""
        if not self._writable:
            return
        try:
            self.cache.put(key, model, response)
        except StoreError as exc:
            self._writable = False
            log.warning("%s; continuing without caching new answers", exc.what)
