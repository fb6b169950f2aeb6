"""The one door to the network: every model call, local or remote, goes through LiteLLM here.

``local/...`` models reach llama.cpp through an in-process LiteLLM custom provider (measured:
about 8 ms of LiteLLM overhead per call, against ~270 ms for the model; an HTTP server would add
a serialisation and socket round trip per call and a process to manage). ``classifier/<folder>``
is a small fine-tuned classifier (:mod:`promptopt.llm.classifier`) behind a second custom
provider: it answers the last user message with a label, so a trained model is scored through
the same evaluator and gate as a prompt. Every other model string goes to LiteLLM unchanged. Third-party errors are translated here into promptopt's.
"""

from __future__ import annotations

import atexit
import email.utils
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

from promptopt.errors import CredentialsError, ModelError, ProviderError, UsageError
from promptopt.llm import classifier, local
from promptopt.llm.router import RouterConfig
from promptopt.llm.types import CallError, CompletionRequest, CompletionResponse, context_overflow

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 120.0  # seconds an attempt may take (--timeout)
_NO_KEY_PROVIDERS = {"ollama", "ollama_chat"}  # these default to http://localhost:11434


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of rate limits (429), timeouts, dropped connections and 5xx answers: the
    server's ``Retry-After`` when given, else exponential backoff with full jitter."""

    attempts: int = 5
    base_s: float = 1.0
    max_s: float = 30.0
    max_retry_after_s: float = 120.0  # a server's Retry-After is honoured up to this

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds before the next attempt: the server's ``Retry-After`` when it sent one (up
        to ``max_retry_after_s``), else exponential backoff with full jitter."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s)
        return rng.uniform(0, min(self.max_s, self.base_s * 2 ** (attempt - 1)))


@lru_cache(maxsize=1)
def _litellm() -> ModuleType:
    """Import LiteLLM once, offline-safe: the bundled price map, no debug prints, and the
    ``local`` provider registered."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    litellm.custom_provider_map = [
        *(p for p in litellm.custom_provider_map if p.get("provider") not in ("local", "classifier")),
        {"provider": "local", "custom_handler": _make_local_handler(litellm)},
        {"provider": "classifier", "custom_handler": _make_classifier_handler(litellm)},
    ]
    return litellm


# For callers that set no limit (``dspy.LM`` sends max_tokens=None): room for a few paragraphs,
# enough for DSPy's instruction proposers and reflections. promptopt's own requests always set one.
UNSET_MAX_TOKENS = 1024

_ENGINE = local.LlamaEngine()  # process-wide: loaded weights are shared by every gateway
atexit.register(_ENGINE.close)
_CLASSIFIERS = classifier.ClassifierEngine()


def _make_local_handler(litellm: ModuleType) -> Any:
    """A LiteLLM ``CustomLLM`` that runs ``local/<name>`` on llama.cpp. ``api_base`` carries the
    resolved GGUF path (so the handler needs no configuration of its own)."""

    class LocalHandler(litellm.CustomLLM):  # type: ignore[name-defined,misc]
        def completion(
            self,
            model: str,
            messages: list[dict[str, str]],
            api_base: str,
            custom_prompt_dict: dict[str, Any],
            model_response: Any,
            *args: Any,
            **kwargs: Any,
        ) -> Any:
            params = kwargs.get("optional_params") or (args[5] if len(args) > 5 else {})
            path = (
                Path(api_base)
                if api_base
                else local.resolve(local.PREFIX + model, local.default_models_dir()).path
            )
            try:
                result = _ENGINE.chat(
                    path,
                    messages,
                    temperature=float(params.get("temperature", 0.0)),
                    max_tokens=int(params.get("max_tokens") or UNSET_MAX_TOKENS),
                    stop=list(params.get("stop") or []),
                    seed=params.get("seed"),
                )
            except ValueError as exc:  # llama.cpp: "Requested tokens (N) exceed context window"
                raise litellm.ContextWindowExceededError(str(exc), model=model, llm_provider="local") from exc
            return _fill_response(litellm, model_response, result)

    return LocalHandler()


def _make_classifier_handler(litellm: ModuleType) -> Any:
    """A LiteLLM ``CustomLLM`` that answers with ``classifier/<folder>``'s label for the last
    user message; its prompt tokens are the word pieces the encoder reads."""

    class ClassifierHandler(litellm.CustomLLM):  # type: ignore[name-defined,misc]
        def completion(
            self, model: str, messages: list[dict[str, str]], model_response: Any, *args: Any, **kwargs: Any
        ) -> Any:
            start = time.perf_counter()
            trained = _CLASSIFIERS.get(Path(model))
            text = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
            label = trained.predict([text])[0]
            result = local.EngineResult(
                text=label,
                prompt_tokens=trained.count_tokens(text),
                completion_tokens=1,
                seconds=time.perf_counter() - start,
            )
            return _fill_response(litellm, model_response, result)

    return ClassifierHandler()


def _fill_response(litellm: ModuleType, response: Any, result: local.EngineResult) -> Any:
    from litellm.types.utils import Choices, Message, Usage

    response.choices = [
        Choices(message=Message(content=result.text, role="assistant"), index=0, finish_reason="stop")
    ]
    response.usage = Usage(
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        total_tokens=result.prompt_tokens + result.completion_tokens,
    )
    return response


@dataclass
class LiteLLMGateway:
    """The :class:`~promptopt.llm.types.Completer` that talks to models. Construction does no
    I/O; LiteLLM is imported on first use. ``check`` validates a model before any work."""

    models_dir: Path = field(default_factory=local.default_models_dir)
    # model string -> the base URL of the server that answers it (a self-hosted OpenAI-compatible
    # server: ``openai/<name>`` with ``http://host:port/v1``); other models go to their provider
    api_bases: Mapping[str, str] = field(default_factory=dict)
    # several deployments behind one model name (``--router FILE``): its names go to litellm.Router
    router: RouterConfig | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float = DEFAULT_TIMEOUT_S  # per attempt; a call that takes longer is retried
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    _local_files: dict[str, local.LocalFile] = field(default_factory=dict)
    _keyless: set[str] = field(default_factory=set)  # self-hosted models called without an API key
    _router: Any = None  # the litellm.Router, built on first use
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for model, base in self.api_bases.items():
            check_api_base(base, model)
        check_timeout(self.timeout_s)

    def fingerprint(self, model: str) -> str:
        """What identifies the weights behind a model string, for the completion cache: a
        local file's fingerprint, a classifier's training record, the server of a self-hosted
        model; "" for other remote models."""
        if classifier.is_classifier(model):
            return classifier.fingerprint(Path(model.removeprefix(classifier.PREFIX)))
        if model in self.api_bases:
            return f"api_base={self.api_bases[model]}"
        if self._routed(model):
            assert self.router is not None
            return self.router.fingerprint(model)
        return self._local_file(model).fingerprint if local.is_local(model) else ""

    def _routed(self, model: str) -> bool:
        return self.router is not None and model in self.router.names()

    def check(self, model: str, env: Mapping[str, str]) -> None:
        """Fail fast on a model that cannot be called: unknown local name or file, a name
        LiteLLM cannot route, or a provider whose API key / base URL is not set."""
        if local.is_local(model):
            self._local_file(model)
            return
        if classifier.is_classifier(model):
            _CLASSIFIERS.get(Path(model.removeprefix(classifier.PREFIX)))
            return
        if self._routed(model):  # the router file names each deployment's server and key
            return
        provider = self._provider(model)
        if provider in _NO_KEY_PROVIDERS:
            return
        missing = _missing_keys(_litellm(), model, env)
        if missing and model in self.api_bases:  # a self-hosted server rarely wants a key
            log.info("%s at %s: %s not set, calling without a key", model, self.api_bases[model], missing[0])
            with self._lock:
                self._keyless.add(model)
            return
        if missing:
            raise CredentialsError(
                f"model {model!r} (provider {provider!r}) needs {', '.join(missing)}, which is not set",
                hint=f"export {missing[0]}=...  (tests and local/ models need no key)",
            )

    def _provider(self, model: str) -> str:
        litellm = _litellm()
        try:
            return str(litellm.get_llm_provider(model)[1])
        except Exception as exc:  # LiteLLM raises BadRequestError for unroutable names
            raise ModelError(
                f"unknown model {model!r}: LiteLLM cannot tell its provider",
                hint="prefix it with a provider, e.g. openai/gpt-4o-mini, anthropic/claude-sonnet-4-5,"
                " ollama/llama3, or use local/qwen2.5-0.5b-instruct",
            ) from exc

    def _local_file(self, model: str) -> local.LocalFile:
        with self._lock:
            if model not in self._local_files:
                self._local_files[model] = local.resolve(model, self.models_dir)
            return self._local_files[model]

    def complete(self, request: CompletionRequest) -> CompletionResponse:
        start = time.perf_counter()
        failed: dict[str, int] = {}  # a routed call: deployment id -> the attempt it last failed
        deployment: str | None = None  # None: the Router picks (its strategy and cooldowns)
        for attempt in range(1, self.retry.attempts + 1):
            try:
                raw = self._call(request, deployment)
                return self._response(request, raw, time.perf_counter() - start, attempt)
            except CallError as exc:
                if exc.kind != "transient" or attempt == self.retry.attempts:
                    exc.attempts = attempt
                    raise
                if self._routed(request.model):  # LiteLLM names the deployment that failed
                    who = getattr(exc.__cause__, "failed_deployment_id", None) or deployment
                    if isinstance(who, str):
                        failed[who] = attempt
                    deployment = self._next_deployment(request.model, failed)
                delay = self.retry.delay(attempt, self.rng, exc.retry_after)
                log.warning(
                    "%s: %s; retry %d/%d in %.1fs",
                    request.model,
                    exc.what,
                    attempt,
                    self.retry.attempts - 1,
                    delay,
                )
                self.sleep(delay)
        raise AssertionError("unreachable")

    def _next_deployment(self, model: str, failed: Mapping[str, int]) -> str | None:
        """The deployment a routed call's retry goes to, by its id: one that has not failed in
        this call, else the one whose last failure in it is the oldest; among equals one not in
        LiteLLM's cooldown, then any (``self.rng``). So a retry never lands on the deployment that
        just failed while another exists. The Router's own pick would not promise that: by default
        it cools a deployment down once 5 requests in the minute reached it and more than half
        failed, for 5 s, so before that (and after) each pick may land on a dead server again.
        A deployment named by its id is called even in cooldown. None (the Router picks) for a
        lone deployment."""
        router = self._router_instance(_litellm())
        ids = [str(d["model_info"]["id"]) for d in router.registry().deployments(model, source="all")]
        if len(ids) < 2:
            return None
        cooled = {str(c[0]) for c in router.health().cooldowns.get_active_cooldowns(ids, None)}
        best = min((failed.get(d, 0), d in cooled) for d in ids)
        return self.rng.choice([d for d in ids if (failed.get(d, 0), d in cooled) == best])

    def _call(self, request: CompletionRequest, deployment: str | None = None) -> Any:
        litellm = _litellm()
        kwargs: dict[str, Any] = dict(
            model=request.model,
            messages=request.message_dicts(),
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            timeout=self.timeout_s,
            num_retries=0,
        )
        if request.stop:
            kwargs["stop"] = list(request.stop)
        if request.seed is not None:
            kwargs["seed"] = request.seed
        if local.is_local(request.model):
            kwargs["api_base"] = str(self._local_file(request.model).path)
        elif request.model in self.api_bases:
            kwargs["api_base"] = self.api_bases[request.model]
            if request.model in self._keyless:
                kwargs["api_key"] = "no-key"  # the OpenAI client insists on one; the server ignores it
        try:
            if self._routed(request.model):
                if deployment is not None:  # a deployment's id names that one deployment
                    kwargs["model"] = deployment
                return self._router_instance(litellm).completion(**kwargs)
            return litellm.completion(**kwargs)
        except Exception as exc:
            translated = _translate(litellm, request.model, exc)
            if translated is None:  # not a provider's error: a bug raises, it never becomes data
                raise
            raise translated from exc

    def _router_instance(self, litellm: ModuleType) -> Any:
        """The litellm.Router of ``router`` (its own retries off unless the file sets them:
        this gateway retries, and a retry after a transient failure goes to a deployment that
        has not failed in that call while one remains: :meth:`_next_deployment`)."""
        with self._lock:
            if self._router is None:
                assert self.router is not None
                settings = {"num_retries": 0, **self.router.settings}
                self._router = litellm.Router(
                    model_list=[dict(d) for d in self.router.model_list], **settings
                )
            return self._router

    def _response(
        self, request: CompletionRequest, raw: Any, seconds: float, attempts: int
    ) -> CompletionResponse:
        usage = getattr(raw, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        text = raw.choices[0].message.content or ""
        return CompletionResponse(
            text=text,
            prompt_tokens=prompt,
            completion_tokens=completion,
            usd=self.price(request.model, prompt, completion),
            latency_s=seconds,
            attempts=attempts,
        )

    def price(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Dollars from LiteLLM's bundled price map; 0.0 for local models and classifiers; None
        if unpriced."""
        if local.is_local(model) or classifier.is_classifier(model):
            return 0.0
        if self._routed(model):  # deployments may differ in price: not guessed
            return None
        try:
            p, c = _litellm().cost_per_token(
                model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
        except Exception:  # ModelNotMappedError and friends: unknown price, not zero
            return None
        return float(p) + float(c)


def check_api_base(base: str, model: str) -> None:
    """An API base must be an http(s) URL; a local model needs none."""
    if local.is_local(model) or classifier.is_classifier(model):
        raise UsageError(
            f"--api-base {base!r} was given for {model!r}, which runs in this process",
            hint="drop --api-base, or name the served model as openai/<name>",
        )
    url = urlparse(base)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise UsageError(
            f"--api-base must be an http(s) URL (seen: {base!r})",
            hint="for an OpenAI-compatible server: --api-base http://127.0.0.1:8000/v1",
        )


def check_timeout(seconds: float | None) -> None:
    """Refuse a ``--timeout`` that is not a positive number of seconds."""
    if seconds is not None and not seconds > 0:
        raise UsageError(
            f"--timeout must be more than 0 seconds (seen: {seconds})",
            hint=f"give the seconds one call may take, e.g. --timeout 600 for a slow server (default {DEFAULT_TIMEOUT_S:.0f})",
        )


def _missing_keys(litellm: ModuleType, model: str, env: Mapping[str, str]) -> list[str]:
    found = litellm.validate_environment(model)
    return [k for k in found.get("missing_keys", []) if not env.get(k)]


_TRANSIENT = (
    "RateLimitError",
    "Timeout",
    "APIConnectionError",
    "InternalServerError",
    "ServiceUnavailableError",
    "BadGatewayError",
)
_PER_EXAMPLE = (
    "ContextWindowExceededError",
    "ContentPolicyViolationError",
    "BadRequestError",
    "UnprocessableEntityError",
    "JSONSchemaValidationError",
)


def _translate(litellm: ModuleType, model: str, exc: Exception) -> Exception | None:
    """Map a LiteLLM (or engine) error to: a retryable CallError, a per-example CallError, or
    a systemic error that stops the work. None for an exception that is no provider's error
    (a bug): it is raised unchanged."""
    if isinstance(exc, ModelError):
        return exc
    name = type(exc).__name__
    if isinstance(exc, (litellm.AuthenticationError, litellm.PermissionDeniedError)):
        return CredentialsError(
            f"model {model!r}: the provider refused the credentials ({exc})",
            hint="check the API key for this provider",
        )
    if isinstance(exc, litellm.NotFoundError):
        return ModelError(
            f"unknown model {model!r}: the provider does not know it ({exc})",
            hint="check the model name against the provider's list",
        )
    status = getattr(exc, "status_code", None)
    server_side = isinstance(status, int) and status >= 500
    if server_side or any(isinstance(exc, getattr(litellm, n, ())) for n in _TRANSIENT):
        return CallError(f"{name}: {exc}", kind="transient", retry_after=_retry_after(exc))
    overflow = context_overflow(str(exc))
    if isinstance(exc, getattr(litellm, "ContextWindowExceededError", ())) or (
        overflow is not None and isinstance(exc, (getattr(litellm, "BadRequestError", ()), ValueError))
    ):
        return CallError(f"{name}: {exc}", kind="context", overflow=overflow)
    if any(isinstance(exc, getattr(litellm, n, ())) for n in _PER_EXAMPLE) or isinstance(exc, ValueError):
        return CallError(f"{name}: {exc}", kind="request")
    if isinstance(exc, litellm.APIError):
        return ProviderError(
            f"model {model!r}: provider error {name}: {exc}",
            hint="retry later or check the provider's status",
        )
    return None


def _retry_after(exc: Exception) -> float | None:
    """The seconds a server asked to wait (``Retry-After``: seconds or an HTTP date), if any."""
    for headers in (
        getattr(exc, "litellm_response_headers", None),
        getattr(getattr(exc, "response", None), "headers", None),
    ):
        value = headers.get("retry-after") if headers is not None and hasattr(headers, "get") else None
        if value is None:
            continue
        try:
            return float(value)
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(str(value))
        except (TypeError, ValueError):
            continue
        return (when - datetime.now(when.tzinfo or UTC)).total_seconds()
    return None
