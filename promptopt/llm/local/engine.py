"""The in-process engine: llama.cpp runs the local models. It keeps one ``Llama`` per file and
serialises calls to it, so the KV cache of the shared prompt prefix is reused from one call to
the next (see :mod:`promptopt.llm.local.aligned`)."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptopt.errors import ModelError
from promptopt.llm.local.aligned import PREFIX_SLOTS, PrefixSnapshots, aligned_llama_class

log = logging.getLogger(__name__)

N_CTX = 8192


@dataclass(frozen=True)
class EngineResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    reused_tokens: int = 0  # prompt tokens whose KV state was reused (live cache or snapshot)


class LlamaEngine:
    """llama.cpp in-process. One ``Llama`` per file, one call at a time per file (a ``Llama``
    is not thread-safe, and serial calls keep the shared-prefix KV cache warm)."""

    def __init__(
        self, *, n_ctx: int = N_CTX, n_threads: int | None = None, prefix_slots: int = PREFIX_SLOTS
    ) -> None:
        self._n_ctx = n_ctx
        self._n_threads = n_threads or os.cpu_count() or 1
        self._prefix_slots = prefix_slots
        self._models: dict[Path, Any] = {}
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def _model(self, path: Path) -> tuple[Any, threading.Lock]:
        with self._guard:
            if path not in self._models:
                self._models[path] = _load_llama(path, self._n_ctx, self._n_threads, self._prefix_slots)
                self._locks[path] = threading.Lock()
            return self._models[path], self._locks[path]

    def close(self) -> None:
        """Free the models now (llama-cpp-python's own finaliser fails at interpreter exit)."""
        with self._guard:
            for llama in self._models.values():
                llama.close()
            self._models.clear()
            self._locks.clear()

    def chat(
        self,
        path: Path,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        stop: list[str],
        seed: int | None,
    ) -> EngineResult:
        llama, lock = self._model(path)
        with lock:
            start = time.perf_counter()
            tokens, boundary, stops = llama.encode_chat(messages)
            plain = llama.is_plain
            if plain:  # a base model often starts with a newline: never stop on the first one
                stop = [s for s in stop if s.strip()]
            out = llama.complete_tokens(
                tokens,
                boundary,
                max_tokens=max_tokens,
                temperature=temperature,
                stop=[*stops, *stop],
                seed=seed,
            )
            seconds = time.perf_counter() - start
            reused = int(llama.last_reused)
        usage = out["usage"]
        text = out["choices"][0]["text"] or ""
        if plain:
            text = next((line.strip() for line in text.splitlines() if line.strip()), "")
        return EngineResult(
            text=text,
            prompt_tokens=int(usage["prompt_tokens"]),
            completion_tokens=int(usage["completion_tokens"]),
            seconds=seconds,
            reused_tokens=reused,
        )


def _load_llama(path: Path, n_ctx: int, n_threads: int, prefix_slots: int) -> Any:
    try:
        llama_class = aligned_llama_class()
    except ImportError as exc:
        raise ModelError(
            "llama-cpp-python is not installed, so local/ models cannot run",
            hint="run: make setup (it builds llama-cpp-python with flags that work on this CPU)",
        ) from exc
    log.info("loading %s (n_ctx=%d, n_threads=%d)", path, n_ctx, n_threads)
    try:
        llama = llama_class(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            n_batch=512,
            verbose=False,
            seed=0,
        )
    except (ValueError, RuntimeError) as exc:
        raise ModelError(
            f"llama.cpp could not load {path}: {exc}", hint="check that the file is a GGUF model"
        ) from exc
    llama.prefix_snapshots = PrefixSnapshots(prefix_slots)
    return llama
