"""The ledger's tap on the door: every call that passes (hit, miss or failure) is recorded."""

from __future__ import annotations

from dataclasses import dataclass

from promptopt.llm.ledger import Ledger, LedgerRecord
from promptopt.llm.types import CallError, Completer, CompletionRequest, CompletionResponse


@dataclass
class MeteredCompleter:
    inner: Completer
    ledger: Ledger

    def fingerprint(self, model: str) -> str:
        return self.inner.fingerprint(model)

    def complete(self, request: CompletionRequest) -> CompletionResponse:
        try:
            response = self.inner.complete(request)
        except Exception as exc:  # every failure is recorded, then passed on unchanged
            attempts = exc.attempts if isinstance(exc, CallError) else 1
            self.ledger.record(
                LedgerRecord(
                    role=request.role,
                    model=request.model,
                    prompt_tokens=0,
                    completion_tokens=0,
                    usd=0.0,
                    cached=False,
                    latency_s=0.0,
                    status="error",
                    attempts=attempts,
                )
            )
            raise
        self.ledger.record(
            LedgerRecord(
                role=request.role,
                model=request.model,
                prompt_tokens=response.prompt_tokens,
                completion_tokens=response.completion_tokens,
                usd=response.usd,
                cached=response.cached,
                latency_s=response.latency_s,
                attempts=response.attempts,
            )
        )
        return response
