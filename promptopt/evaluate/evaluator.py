"""Scoring one candidate prompt on examples, through a :class:`Completer`.

Each example yields a record (prediction, gold, correct, status, tokens, latency, cost). A call
that fails after its retries is a record with ``status="error"``, excluded from the score; a
run of failures (the provider is down, not one bad input) raises :class:`ProviderError`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from promptopt.errors import ProviderError
from promptopt.evaluate.scoring import Outcome, Scores, score
from promptopt.llm.types import CallError, Completer, CompletionRequest, CompletionResponse
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.prompt.parse import LabelParser
from promptopt.prompt.render import render_sized
from promptopt.prompt.shrink import fit
from promptopt.prompt.tokens import PromptSize, TokenRate
from promptopt.task.spec import Example

log = logging.getLogger(__name__)

FIT_TRIES = 3  # calls again with a shorter prompt after "the prompt exceeds the context window"
FIT_MARGIN = 0.9  # aim a tenth under the window: characters only estimate tokens


@dataclass(frozen=True)
class EvalSettings:
    """How calls are made. ``concurrency`` bounds calls in flight (use 1 for local models: the
    engine is serial anyway, and order keeps its prefix cache warm)."""

    model: str
    temperature: float = 0.0
    max_tokens: int | None = None  # None: enough for the longest label
    concurrency: int = 1
    seed: int = 0
    max_consecutive_errors: int = 8


@dataclass(frozen=True)
class ExampleRecord:
    example_id: str
    gold: str
    prediction: str | None
    raw: str
    correct: bool
    status: str  # "ok" | "invalid" | "error"
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    usd: float | None
    cached: bool
    error: str | None = None
    # the whole example: demos (retrieval), rendering, the call, parsing; a measurement, so two
    # records of the same answer compare equal whatever the machine's speed was
    wall_s: float = field(default=0.0, compare=False)
    # a cached answer: what its original call took (estimates of live cost use it)
    live_latency_s: float | None = field(default=None, compare=False)
    # what the prompt was made of (characters of data and of the rest, messages): with
    # ``prompt_tokens`` this calibrates the token estimate of prompts not scored yet
    data_chars: int = field(default=0, compare=False)
    other_chars: int = field(default=0, compare=False)
    messages: int = field(default=0, compare=False)

    @property
    def size(self) -> PromptSize | None:
        """The prompt's size, None for rows of older runs (not kept then)."""
        if not self.messages:
            return None
        return PromptSize(data_chars=self.data_chars, other_chars=self.other_chars, messages=self.messages)

    def to_json(self) -> dict[str, Any]:
        """The record's fields; rows of older runs (no prompt size) write back as they were."""
        data = asdict(self)
        if not self.messages:
            for key in ("data_chars", "other_chars", "messages"):
                data.pop(key)
        return data

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> ExampleRecord:
        """A record as :meth:`to_json` wrote it; other keys (an evaluation row's candidate id
        and split) are ignored, and rows of older runs without ``wall_s`` or
        ``live_latency_s`` take the defaults."""
        return ExampleRecord(**{f.name: data[f.name] for f in fields(ExampleRecord) if f.name in data})


@dataclass(frozen=True)
class EvalResult:
    candidate_id: str
    records: tuple[ExampleRecord, ...]
    scores: Scores
    seconds: float

    @property
    def invalid(self) -> int:
        return sum(r.status == "invalid" for r in self.records)

    @property
    def errors(self) -> int:
        return sum(r.status == "error" for r in self.records)


def _excess_chars(size: PromptSize, overflow: tuple[int, int] | None, reply_tokens: int) -> int:
    """Characters to take out of a prompt that overflowed: its characters in the share of
    tokens over the window (less the reply's tokens, with :data:`FIT_MARGIN`); half of its
    data when the error did not say by how much."""
    if overflow is None:
        return max(1, size.data_chars // 2)
    requested, window = overflow
    allowed = max(0.0, (window - reply_tokens) * FIT_MARGIN)
    return max(1, math.ceil((size.data_chars + size.other_chars) * (1 - allowed / max(requested, 1))))


def max_tokens_for(labels: Sequence[str]) -> int:
    """A completion budget that fits any label (about 2 characters per token, plus slack)."""
    return min(64, max(len(label) for label in labels) // 2 + 8)


@dataclass
class Evaluator:
    """Renders, calls, parses and scores. Holds no state between :meth:`evaluate` calls."""

    completer: Completer
    labels: tuple[str, ...]
    demo_source: DemoSource
    settings: EvalSettings
    clock: Callable[[], float] = time.perf_counter  # measures each example's wall time

    def request(self, candidate: Candidate, text: str) -> CompletionRequest:
        return self.sized_request(candidate, text)[0]

    def sized_request(self, candidate: Candidate, text: str) -> tuple[CompletionRequest, PromptSize]:
        """The request for one input, and the size of its prompt."""
        return self._build(candidate, self.demo_source.demos(candidate, text), text)

    def call(self, candidate: Candidate, text: str) -> tuple[CompletionResponse | CallError, PromptSize]:
        """One input's call: the answer (or the failed call) and the size of the prompt sent.
        A prompt longer than the model's context window is made shorter and sent again, at
        most :data:`FIT_TRIES` times, each a call in the ledger: demos dropped, least similar
        first, then the input cut (:func:`promptopt.prompt.shrink.fit`), by the share the
        provider's error says is over. Prompts that fit are never changed. Runs and the
        production runtime both call this, so a prompt is cut the same way in both."""
        demos = self.demo_source.demos(candidate, text)
        for tries in range(FIT_TRIES + 1):
            request, size = self._build(candidate, demos, text)
            try:
                return self.completer.complete(request), size
            except CallError as exc:
                if exc.kind != "context" or tries == FIT_TRIES:
                    return exc, size
                drop, overflow = _excess_chars(size, exc.overflow, request.max_tokens), exc.overflow
            shown, length = len(demos), len(text)
            demos, text = fit(demos, text, drop)
            log.info(
                "prompt over the context window (requested, window: %s): demos %d -> %d, input %d -> %d characters",
                overflow or "not said",
                shown,
                len(demos),
                length,
                len(text),
            )
        raise AssertionError("unreachable")  # the last try returns

    def _build(
        self, candidate: Candidate, demos: Sequence[Example], text: str
    ) -> tuple[CompletionRequest, PromptSize]:
        messages, size = render_sized(candidate, self.labels, demos, text)
        s = self.settings
        request = CompletionRequest.of(
            s.model,
            messages,
            temperature=s.temperature,
            seed=s.seed,
            max_tokens=s.max_tokens or max_tokens_for(self.labels),
            stop=("\n",),
            role="task",
        )
        return request, size

    def estimate_prompt_tokens(
        self, candidate: Candidate, examples: Sequence[Example], rate: TokenRate
    ) -> float:
        """Mean prompt tokens per call of ``candidate`` over ``examples``, from its rendering
        (no call is made; retrieved demos are looked up)."""
        if not examples:
            return 0.0
        sizes = [self.sized_request(candidate, e.text)[1] for e in examples]
        return sum(rate.tokens(size) for size in sizes) / len(sizes)

    def evaluate(
        self,
        candidate: Candidate,
        examples: Sequence[Example],
        *,
        on_record: Callable[[ExampleRecord], None] | None = None,
    ) -> EvalResult:
        start = time.perf_counter()
        parser = LabelParser(self.labels, candidate.output_format)
        found: dict[int, ExampleRecord] = {}
        consecutive = unreachable = checked = 0
        for index, (record, kind) in self._records(candidate, examples, parser):
            found[index] = record
            unreachable += kind == "transient"
            if on_record is not None:
                on_record(record)
            while checked in found:  # failures in a row, counted in the examples' order
                last = found[checked]
                consecutive = consecutive + 1 if last.status == "error" else 0
                checked += 1
                if consecutive >= self.settings.max_consecutive_errors:
                    raise ProviderError(
                        f"{consecutive} calls in a row failed for model {self.settings.model!r};"
                        f" last error: {last.error}",
                        hint="check the provider (rate limits, outage, context size) and retry",
                    )
        records = [found[i] for i in sorted(found)]  # in the examples' order, whatever the calls' order
        if records and unreachable == len(records):  # a score of nothing is no result
            raise ProviderError(
                f"every call failed ({unreachable} of {len(records)}) for model {self.settings.model!r}"
                f" after its retries; last error: {records[-1].error}",
                hint="check that the model's server is up and reachable (--api-base), and its key",
            )
        outcomes = [Outcome(r.gold, r.prediction) for r in records if r.status != "error"]
        return EvalResult(
            candidate_id=candidate.id,
            records=tuple(records),
            scores=score(outcomes, seed=self.settings.seed),
            seconds=time.perf_counter() - start,
        )

    def _records(
        self, candidate: Candidate, examples: Sequence[Example], parser: LabelParser
    ) -> Iterator[tuple[int, tuple[ExampleRecord, str | None]]]:
        """Each example's index and record, with the kind of a failed call (else None), as
        the calls finish: a record is handed on as soon as its call is recorded in the ledger,
        so a killed process leaves at most the calls in flight ledgered but not recorded."""
        if self.settings.concurrency <= 1:
            for index, example in enumerate(examples):
                yield index, self._one(candidate, example, parser)
            return
        with ThreadPoolExecutor(max_workers=self.settings.concurrency) as pool:
            futures: dict[Future[tuple[ExampleRecord, str | None]], int] = {
                pool.submit(self._one, candidate, e, parser): i for i, e in enumerate(examples)
            }
            try:
                for future in as_completed(futures):
                    yield futures[future], future.result()
            finally:
                for future in futures:
                    future.cancel()

    def _one(
        self, candidate: Candidate, example: Example, parser: LabelParser
    ) -> tuple[ExampleRecord, str | None]:
        start = self.clock()
        response, size = self.call(candidate, example.text)
        if isinstance(response, CallError):
            return self._failed(example, response, size, start), response.kind
        prediction = parser.parse(response.text)
        status = "ok" if prediction is not None else "invalid"
        return ExampleRecord(
            example_id=example.id,
            gold=example.label,
            prediction=prediction,
            raw=response.text,
            correct=prediction == example.label,
            status=status,
            prompt_tokens=response.prompt_tokens,
            completion_tokens=response.completion_tokens,
            latency_s=response.latency_s,
            usd=response.usd,
            cached=response.cached,
            live_latency_s=response.live_latency_s,
            wall_s=self.clock() - start,
            data_chars=size.data_chars,
            other_chars=size.other_chars,
            messages=size.messages,
        ), None

    def _failed(self, example: Example, exc: CallError, size: PromptSize, start: float) -> ExampleRecord:
        return ExampleRecord(
            example.id,
            example.label,
            None,
            "",
            False,
            "error",
            0,
            0,
            0.0,
            None,
            False,
            error=exc.what,
            wall_s=self.clock() - start,
            data_chars=size.data_chars,
            other_chars=size.other_chars,
            messages=size.messages,
        )
