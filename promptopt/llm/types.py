"""Values and protocols that cross the one door to models. No third-party imports here."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Protocol

from promptopt.errors import PromptoptError


@dataclass(frozen=True)
class CompletionRequest:
    """One chat completion. ``role`` labels the call in the ledger (``task``, ``proposer``,
    ``preflight``) and is not part of what the model sees."""

    model: str
    messages: tuple[tuple[str, str], ...]
    temperature: float = 0.0
    max_tokens: int = 32
    stop: tuple[str, ...] = ()
    seed: int | None = 0
    role: str = "task"

    @staticmethod
    def of(model: str, messages: list[dict[str, str]], **params: object) -> CompletionRequest:
        pairs = tuple((m["role"], m["content"]) for m in messages)
        return CompletionRequest(model=model, messages=pairs, **params)  # type: ignore[arg-type]

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]

    def canonical(self) -> dict[str, object]:
        """Everything that determines the answer: model, parameters and messages."""
        return {
            "model": self.model,
            "messages": [list(m) for m in self.messages],
            "temperature": float(self.temperature),
            "max_tokens": int(self.max_tokens),
            "stop": list(self.stop),
            "seed": self.seed,
        }


def request_key(request: CompletionRequest, model_fingerprint: str = "") -> str:
    """sha256 of the canonical request plus the model's fingerprint (for local files, the
    GGUF hash), so a changed model, parameter or message never hits a stale entry."""
    payload = dict(request.canonical(), fingerprint=model_fingerprint)
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CompletionResponse:
    """A model's answer. ``usd`` is None when the model is not priced (never guessed as 0);
    ``latency_s`` is wall seconds for this call (for a cache hit: the lookup);
    ``live_latency_s``, for a cache hit, is what the original call took (what the answer
    would cost again without the cache)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    usd: float | None
    latency_s: float
    cached: bool = False
    attempts: int = 1
    live_latency_s: float | None = None


_OVERFLOW = (
    # llama.cpp (in process or its server): "Requested tokens (9559) exceed context window of 8192"
    (re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)"), (1, 2)),
    # OpenAI and compatible servers: "maximum context length is 8192 tokens. However, your
    # messages resulted in 9559 tokens" (llama-cpp-python's: "However, you requested 934 tokens")
    (
        re.compile(r"maximum context length is (\d+) tokens.*?(?:resulted in|requested) (\d+) tokens", re.S),
        (2, 1),
    ),
)


def context_overflow(message: str) -> tuple[int, int] | None:
    """(tokens requested, context window) from a provider's "prompt too long" message, or None
    when the message does not say (or is no such message)."""
    for pattern, (requested, window) in _OVERFLOW:
        found = pattern.search(message)
        if found:
            return int(found.group(requested)), int(found.group(window))
    return None


class CallError(PromptoptError):
    """One call failed after its retries; the caller records it as data (``status=error``)."""

    exit_code = 7

    def __init__(
        self,
        what: str,
        *,
        kind: str,
        attempts: int = 1,
        hint: str | None = None,
        retry_after: float | None = None,
        overflow: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(what, hint=hint)
        self.kind = kind  # "transient" (retried), "context" (the prompt is too long), "request"
        self.attempts = attempts
        self.retry_after = retry_after  # seconds the server asked to wait before a retry
        # kind "context": (tokens requested, the model's context window) when the error says so
        self.overflow = overflow


class Completer(Protocol):
    """The one door to a model: every call of every role goes through a ``complete``."""

    def complete(self, request: CompletionRequest) -> CompletionResponse: ...

    def fingerprint(self, model: str) -> str:
        """What identifies the model's weights beyond its name ('' when the name suffices)."""
        ...
