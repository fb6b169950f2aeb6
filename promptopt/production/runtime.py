"""The tiny runtime: load a production prompt artifact and classify with it.

``promptopt.load(path).predict(text)`` renders exactly as the run's evaluator did (the same
:class:`~promptopt.evaluate.evaluator.Evaluator` builds the request, through :mod:`promptopt.prompt.render` and
:mod:`promptopt.prompt.demos`), calls the model through promptopt's one door (LiteLLM; ``local/...``
models run in-process and offline), and parses the answer back into a label. No optimizer code
is on this path (an import-linter contract keeps it so).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptopt.errors import PromptoptError, ProviderError
from promptopt.evaluate.evaluator import EvalResult, EvalSettings, Evaluator, ExampleRecord
from promptopt.llm import local
from promptopt.llm.cache import CachingCompleter, DiskCache
from promptopt.llm.embed import MiniLMEmbedder
from promptopt.llm.gateway import DEFAULT_TIMEOUT_S, LiteLLMGateway
from promptopt.llm.ledger import Ledger
from promptopt.llm.metered import MeteredCompleter
from promptopt.llm.router import load_router_config
from promptopt.llm.types import CallError, Completer
from promptopt.production.artifact import Artifact, ArtifactError, read_artifact
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.prompt.parse import LabelParser
from promptopt.prompt.render import Message, render
from promptopt.prompt.retrieve import Embedder, EmbeddingRetriever, Retriever
from promptopt.task.spec import Example

log = logging.getLogger(__name__)


class PredictionError(PromptoptError):
    """One input got no label: the call failed, or the answer names no label."""

    exit_code = 7


@dataclass(frozen=True)
class Prediction:
    """The outcome for one input. ``label`` is None when ``status`` is ``invalid`` (the
    answer names no label) or ``error`` (the call failed after its retries; see ``error``)."""

    label: str | None
    status: str  # "ok" | "invalid" | "error"
    raw: str
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"prediction": self.label, "status": self.status, "raw": self.raw, "error": self.error}


@dataclass
class StoredEmbedder:
    """Pool vectors from the artifact; query vectors from the live embedding model."""

    vectors: Any
    query: Embedder

    def encode(self, texts: Sequence[str]) -> Any:
        return self.query.encode(texts)

    def encode_pool(self, texts: Sequence[str]) -> Any:
        if len(texts) != self.vectors.shape[0]:
            raise ArtifactError(
                f"the stored embeddings have {self.vectors.shape[0]} rows for {len(texts)} pool texts",
                hint="re-export the run with: promptopt export RUN --force",
            )
        return self.vectors


@dataclass
class Runtime:
    """A loaded artifact, ready to classify. ``ledger`` records every call it makes."""

    artifact: Artifact
    candidate: Candidate
    evaluator: Evaluator
    ledger: Ledger
    gateway: LiteLLMGateway | None = None
    _parser: LabelParser = field(init=False)

    def __post_init__(self) -> None:
        self._parser = LabelParser(self.labels, self.candidate.output_format)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.evaluator.labels

    @property
    def model(self) -> str:
        return self.evaluator.settings.model

    def check(self, env: Mapping[str, str]) -> None:
        """Fail fast when the model cannot be called (unknown name, missing key or file)."""
        if self.gateway is not None:
            self.gateway.check(self.model, env)

    def demos(self, text: str) -> list[Example]:
        """The demos shown for ``text``, in the order shown (retrieved: most similar last)."""
        return self.evaluator.demo_source.demos(self.candidate, text)

    def messages(self, text: str) -> list[Message]:
        """The chat messages sent for ``text``."""
        return render(self.candidate, self.labels, self.demos(text), text)

    def classify(self, text: str) -> Prediction:
        """One call; a failed call or an answer that is no label is a :class:`Prediction` with
        that status, never an exception."""
        response, _ = self.evaluator.call(self.candidate, text)  # cut to fit as in the run
        if isinstance(response, CallError):
            return Prediction(None, "error", "", error=response.what)
        label = self._parser.parse(response.text)
        return Prediction(label, "ok" if label is not None else "invalid", response.text)

    def predict(self, text: str) -> str:
        """The label for ``text``. Raises :class:`PredictionError` when there is none."""
        outcome = self.classify(text)
        if outcome.label is None:
            what = (
                outcome.error if outcome.status == "error" else f"the answer {outcome.raw!r} names no label"
            )
            raise PredictionError(
                f"no label for this input: {what}",
                hint="use predict_many/classify to keep going past such inputs",
            )
        return outcome.label

    def predict_many(
        self, texts: Sequence[str], *, on_prediction: Callable[[Prediction], None] | None = None
    ) -> list[Prediction]:
        """One :class:`Prediction` per text, in order; calls run ``concurrency`` at a time.
        A run of failed calls (the provider is down, not one bad input) raises ProviderError."""
        workers = max(1, self.evaluator.settings.concurrency)
        limit = self.evaluator.settings.max_consecutive_errors
        results: list[Prediction] = []
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for outcome in pool.map(self.classify, texts):
                results.append(outcome)
                if on_prediction is not None:
                    on_prediction(outcome)
                _check_failures(results, limit, self.model)
        if results and all(p.status == "error" for p in results):  # no result at all
            raise ProviderError(
                f"every call failed ({len(results)} of {len(results)}) for model {self.model!r};"
                f" last error: {results[-1].error}",
                hint="check that the model's server is up and reachable (--api-base), and its key",
            )
        return results

    def evaluate(
        self, examples: Sequence[Example], *, on_record: Callable[[ExampleRecord], None] | None = None
    ) -> EvalResult:
        """Score labelled examples exactly as the run's evaluator did."""
        return self.evaluator.evaluate(self.candidate, examples, on_record=on_record)


def _check_failures(results: Sequence[Prediction], limit: int, model: str) -> None:
    tail = results[-limit:]
    if len(tail) == limit and all(p.status == "error" for p in tail):
        raise ProviderError(
            f"{limit} calls in a row failed for model {model!r}; last error: {tail[-1].error}",
            hint="check the provider (rate limits, outage, context size) and retry",
        )


def model_door(
    models_dir: Path | None,
    cache_file: Path | None,
    api_bases: Mapping[str, str] | None = None,
    router: Path | None = None,
    timeout_s: float | None = None,
) -> tuple[LiteLLMGateway, Completer]:
    """The gateway (LiteLLM, or llama.cpp in-process for ``local/``), behind an optional
    completion cache. ``api_bases``: the server of each self-hosted model string; ``router``:
    a LiteLLM Router file (several deployments behind one model name); ``timeout_s``: seconds
    one attempt may take (None: the default)."""
    gateway = LiteLLMGateway(
        models_dir=models_dir or local.default_models_dir(),
        api_bases=dict(api_bases or {}),
        router=load_router_config(router) if router is not None else None,
        timeout_s=DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s,
    )
    if cache_file is None:
        return gateway, gateway
    return gateway, CachingCompleter(gateway, DiskCache(cache_file))


def load(
    path: str | Path,
    *,
    completer: Completer | None = None,
    embedder: Embedder | None = None,
    models_dir: Path | None = None,
    cache_file: Path | None = None,
    concurrency: int | None = None,
    api_base: str | None = None,
    router: Path | None = None,
    timeout_s: float | None = None,
) -> Runtime:
    """Read and verify an artifact (format, content hash, embeddings) and build its runtime.

    ``completer``: call models through this instead of the LiteLLM gateway (tests, or a
    custom stack). ``embedder``: query embeddings for a MiniLM pool (default: the packaged
    MiniLM model, loaded on first use). ``cache_file``: a completion cache (off by default).
    ``concurrency``: calls in flight (default 1 for ``local/`` models, else 8). ``api_base``:
    the model's server, overriding the one the artifact records (a self-hosted model that
    moved). ``router``: a LiteLLM Router file whose model names reach their deployments (the
    artifact's model name must be one of them). ``timeout_s``: seconds one call attempt may
    take (default 120). No model call and no embedding happens here.
    """
    artifact = read_artifact(Path(path))
    candidate = _candidate(artifact)
    gateway: LiteLLMGateway | None = None
    if completer is None:
        base = api_base or artifact.model.get("api_base")
        bases = {str(artifact.model["name"]): str(base)} if base else None
        gateway, completer = model_door(models_dir, cache_file, bases, router, timeout_s)
    ledger = Ledger()
    evaluator = Evaluator(
        completer=MeteredCompleter(completer, ledger),
        labels=artifact.labels,
        demo_source=demo_source(artifact, candidate, embedder),
        settings=_settings(artifact, concurrency),
    )
    _check_request(artifact, evaluator, candidate)
    return Runtime(
        artifact=artifact, candidate=candidate, evaluator=evaluator, ledger=ledger, gateway=gateway
    )


def _candidate(artifact: Artifact) -> Candidate:
    try:
        candidate = artifact.candidate
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(
            f"artifact {artifact.path} holds no valid prompt decomposition: {exc}",
            hint="re-export the run with: promptopt export RUN --force",
        ) from exc
    recorded = artifact.data["candidate"].get("id")
    if candidate.id != recorded:
        raise ArtifactError(
            f"artifact {artifact.path}: its prompt hashes to candidate {candidate.id}, "
            f"but it records {recorded}",
            hint="this promptopt computes candidate ids differently; use the version that "
            "exported it, or re-export",
        )
    return candidate


def _settings(artifact: Artifact, concurrency: int | None) -> EvalSettings:
    model = artifact.model
    name = str(model["name"])
    workers = concurrency or (1 if local.is_local(name) else 8)
    return EvalSettings(
        model=name,
        temperature=float(model["temperature"]),
        max_tokens=int(model["max_tokens"]),
        seed=int(model["seed"]),
        concurrency=workers,
    )


def _check_request(artifact: Artifact, evaluator: Evaluator, candidate: Candidate) -> None:
    """The request this promptopt builds must carry the parameters the artifact records
    (a promptopt that changed them would score differently)."""
    probe = evaluator.request(
        candidate.without_demos(operator="probe"),
        "probe",
    )
    model = artifact.model
    recorded = (float(model["temperature"]), int(model["max_tokens"]), tuple(model["stop"]), model["seed"])
    built = (probe.temperature, probe.max_tokens, probe.stop, probe.seed)
    if built != recorded:
        raise ArtifactError(
            f"artifact {artifact.path} records model parameters {recorded} "
            f"(temperature, max_tokens, stop, seed), but this promptopt would send {built}",
            hint="use the promptopt version that exported it (see 'versions' in the artifact)",
        )


def demo_source(artifact: Artifact, candidate: Candidate, embedder: Embedder | None = None) -> DemoSource:
    """Demos from the artifact: its fixed demos, or its whole retrieval pool with the word and
    character TF-IDF retrievers (refitted, deterministic) and, for MiniLM, the stored pool
    embeddings with live query embeddings."""
    pool = artifact.pool()
    retrievers: dict[str, Retriever] = {}
    if candidate.demo_strategy == "retrieved" and candidate.retriever == "minilm":
        stored = StoredEmbedder(artifact.embeddings(), embedder or MiniLMEmbedder(None))
        retrievers["minilm"] = EmbeddingRetriever(pool, stored)
    return DemoSource(pool, retrievers=retrievers)


def register_local_models() -> None:
    """Make ``local/...`` model names callable through LiteLLM itself (for code that calls
    LiteLLM directly, such as an exported DSPy program's ``dspy.LM``): registers promptopt's
    in-process llama.cpp provider."""
    from promptopt.llm.gateway import _litellm

    _litellm()
