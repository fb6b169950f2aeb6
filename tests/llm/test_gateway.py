"""The one door, without a model: pre-flight checks, error translation, retries, prices."""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from promptopt.errors import CredentialsError, ModelError, ProviderError, UsageError
from promptopt.llm.gateway import LiteLLMGateway, RetryPolicy, _litellm, _translate
from promptopt.llm.router import load_router_config
from promptopt.llm.types import CallError, CompletionRequest
from tests.servers import FaultPlan, FaultProxy, ScriptedServer, always


def _gateway(sleeps: list[float], attempts: int = 4) -> LiteLLMGateway:
    return LiteLLMGateway(
        retry=RetryPolicy(attempts=attempts, base_s=1.0, max_s=8.0), sleep=sleeps.append, rng=random.Random(0)
    )


def _raw(text: str) -> Any:
    usage = SimpleNamespace(prompt_tokens=12, completion_tokens=2)
    return SimpleNamespace(usage=usage, choices=[SimpleNamespace(message=SimpleNamespace(content=text))])


def _in_turn(items: list[Any]) -> Any:
    """A stand-in for a call: each call takes the next item, raising it if it is an error."""

    def call(*args: Any, **kwargs: Any) -> Any:
        item = items.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return call


REQUEST = CompletionRequest(model="openai/gpt-4o-mini", messages=(("user", "hi"),))


def test_missing_api_key_fails_before_any_call() -> None:
    with pytest.raises(CredentialsError) as info:
        LiteLLMGateway().check("openai/gpt-4o-mini", env={})
    assert "OPENAI_API_KEY" in str(info.value) and "gpt-4o-mini" in str(info.value)
    with pytest.raises(CredentialsError, match="ANTHROPIC_API_KEY"):
        LiteLLMGateway().check("anthropic/claude-sonnet-4-5", env={})


def test_present_api_key_passes_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    LiteLLMGateway().check("openai/gpt-4o-mini", env={"OPENAI_API_KEY": "sk-test"})


def test_ollama_needs_no_key() -> None:
    LiteLLMGateway().check("ollama/llama3", env={})


def test_unroutable_model_name_is_a_model_error() -> None:
    with pytest.raises(ModelError) as info:
        LiteLLMGateway().check("definitely-not-a-model", env={})
    assert "definitely-not-a-model" in str(info.value) and "local/qwen2.5-0.5b-instruct" in str(info.value)


def test_transient_errors_are_retried_with_growing_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    gateway = _gateway(sleeps)
    outcomes: list[Any] = [
        CallError("rate", kind="transient"),
        CallError("rate", kind="transient"),
        _raw("ok"),
    ]

    monkeypatch.setattr(gateway, "_call", _in_turn(outcomes))
    response = gateway.complete(REQUEST)
    assert response.text == "ok" and response.attempts == 3 and len(sleeps) == 2
    assert 0 <= sleeps[0] <= 1.0 and 0 <= sleeps[1] <= 2.0


def test_retries_stop_at_the_attempt_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    gateway = _gateway(sleeps, attempts=3)
    calls: list[int] = []

    def always_limited(request: CompletionRequest, deployment: str | None = None) -> Any:
        calls.append(1)
        raise CallError("rate limited", kind="transient")

    monkeypatch.setattr(gateway, "_call", always_limited)
    with pytest.raises(CallError) as info:
        gateway.complete(REQUEST)
    assert len(calls) == 3 and len(sleeps) == 2 and info.value.attempts == 3


def test_request_errors_are_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    gateway = _gateway(sleeps)

    def bad(request: CompletionRequest, deployment: str | None = None) -> Any:
        raise CallError("context too long", kind="request")

    monkeypatch.setattr(gateway, "_call", bad)
    with pytest.raises(CallError):
        gateway.complete(REQUEST)
    assert sleeps == []


def test_litellm_errors_translate_to_the_right_family() -> None:
    litellm = _litellm()
    model, provider = "gpt-4o-mini", "openai"
    rate = litellm.RateLimitError("slow down", llm_provider=provider, model=model)
    auth = litellm.AuthenticationError("bad key", llm_provider=provider, model=model)
    missing = litellm.NotFoundError("no such model", llm_provider=provider, model=model)
    window = litellm.ContextWindowExceededError("too long", model=model, llm_provider=provider)
    timeout = litellm.Timeout("timed out", model=model, llm_provider=provider)
    assert (
        isinstance(_translate(litellm, model, rate), CallError)
        and _translate(litellm, model, rate).kind == "transient"
    )
    assert _translate(litellm, model, timeout).kind == "transient"  # type: ignore[union-attr]
    assert isinstance(_translate(litellm, model, auth), CredentialsError)
    assert isinstance(_translate(litellm, model, missing), ModelError)
    assert _translate(litellm, model, window).kind == "context"  # type: ignore[union-attr]
    said = litellm.BadRequestError(
        "This model's maximum context length is 8192 tokens. However, your messages resulted in 9559 tokens.",
        model=model,
        llm_provider=provider,
    )
    assert _translate(litellm, model, said).overflow == (9559, 8192)  # type: ignore[union-attr]
    served = litellm.ContextWindowExceededError(  # llama-cpp-python's server, as seen in a test
        "This model's maximum context length is 512 tokens. However, you requested 934 tokens"
        " (930 in the messages, 4 in the completion).",
        model=model,
        llm_provider=provider,
    )
    assert _translate(litellm, model, served).overflow == (934, 512)  # type: ignore[union-attr]
    other = litellm.BadRequestError("temperature must be at most 2", model=model, llm_provider=provider)
    assert _translate(litellm, model, other).kind == "request"  # type: ignore[union-attr]
    for status in (500, 502, 503, 504, 529):  # any 5xx is the server's trouble: retried
        server = _translate(litellm, model, litellm.APIError(status, "boom", provider, model))
        assert isinstance(server, CallError) and server.kind == "transient", status
    assert isinstance(
        _translate(litellm, model, litellm.APIError(418, "teapot", provider, model)), ProviderError
    )


def test_a_generic_5xx_is_retried_until_it_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    litellm = _litellm()
    sleeps: list[float] = []
    gateway = _gateway(sleeps)
    answers: list[Any] = [litellm.APIError(500, "boom", "openai", "gpt-4o-mini"), _raw("ok")]

    monkeypatch.setattr(litellm, "completion", _in_turn(answers))
    response = gateway.complete(REQUEST)
    assert response.text == "ok" and response.attempts == 2 and len(sleeps) == 1


def test_a_servers_retry_after_sets_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    litellm = _litellm()
    sleeps: list[float] = []
    gateway = _gateway(sleeps)
    limited = litellm.RateLimitError("slow down", llm_provider="openai", model="gpt-4o-mini")
    limited.litellm_response_headers = {"retry-after": "7"}
    answers: list[Any] = [limited, _raw("ok")]

    monkeypatch.setattr(litellm, "completion", _in_turn(answers))
    assert gateway.complete(REQUEST).text == "ok" and sleeps == [7.0]
    assert RetryPolicy(max_retry_after_s=60).delay(1, random.Random(0), 3600) == 60  # capped


def test_an_exception_that_is_no_providers_error_is_raised_not_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug (here a KeyError) must stop the work: as a per-example failure it would become data."""
    litellm = _litellm()

    def completion(**kwargs: Any) -> Any:
        raise KeyError("choices")

    monkeypatch.setattr(litellm, "completion", completion)
    with pytest.raises(KeyError):
        _gateway([]).complete(REQUEST)


def test_an_api_base_names_a_self_hosted_server_that_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    litellm = _litellm()
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(litellm, "completion", lambda **kwargs: seen.append(kwargs) or _raw("ok"))
    gateway = LiteLLMGateway(api_bases={"openai/served": "http://127.0.0.1:9/v1"})
    gateway.check("openai/served", env={})  # no OPENAI_API_KEY: fine for a self-hosted server
    gateway.complete(CompletionRequest(model="openai/served", messages=(("user", "hi"),)))
    assert seen[0]["api_base"] == "http://127.0.0.1:9/v1" and seen[0]["api_key"]
    assert (
        gateway.fingerprint("openai/served") == "api_base=http://127.0.0.1:9/v1"
    )  # the cache keys by server
    with pytest.raises(CredentialsError):  # other models still need their key
        gateway.check("openai/gpt-4o-mini", env={})
    for bad in ("127.0.0.1:8000", "ftp://host/v1", "http://"):
        with pytest.raises(UsageError, match="--api-base must be an http"):
            LiteLLMGateway(api_bases={"openai/served": bad})
    with pytest.raises(UsageError, match="runs in this process"):
        LiteLLMGateway(api_bases={"local/qwen2.5-0.5b-instruct": "http://127.0.0.1:9/v1"})


def _routed_gateway(path: Path, bases: list[str], settings: dict[str, Any], attempts: int) -> LiteLLMGateway:
    """A gateway whose model ``team`` is a Router over ``bases``, retrying at once."""
    deployments = [
        {"model_name": "team", "litellm_params": {"model": "openai/served", "api_base": b, "api_key": "none"}}
        for b in bases
    ]
    path.write_text(json.dumps({"model_list": deployments, "router_settings": settings}))
    return LiteLLMGateway(
        router=load_router_config(path), retry=RetryPolicy(attempts=attempts), sleep=lambda s: None
    )


def test_a_routed_retry_goes_to_a_deployment_that_has_not_failed(tmp_path: Path) -> None:
    """One of two deployments drops every connection (as a killed server behind its proxy does):
    a call that reaches it is retried on the other, so two attempts answer every call. Left to
    the Router's pick, a retry lands on the dead one again 1 time in 2 whenever it is not in
    cooldown, and a call it reaches twice is lost (20 calls: 1 - (3/4)^20, 99.7% of runs). The
    cooldown is off here: LiteLLM would start one only after 5 requests in the minute, most of them
    failed, for 5 s (and its sync path leaves an event loop unclosed when it does);
    tests/cli/test_served.py loses a server with the Router's defaults."""
    settings = {"routing_strategy": "simple-shuffle", "disable_cooldowns": True}
    with (
        ScriptedServer(lambda request: "ok") as server,
        FaultProxy(server.port, always("ok")) as healthy,
        FaultProxy(server.port, always("drop")) as dead,
    ):
        gateway = _routed_gateway(tmp_path / "router.json", [healthy.base_url, dead.base_url], settings, 2)
        answers = [
            gateway.complete(CompletionRequest(model="team", messages=(("user", f"note {i}"),)))
            for i in range(20)
        ]
    assert [a.text for a in answers] == ["ok"] * 20 and healthy.forwarded == 20
    retried = [a for a in answers if a.attempts == 2]
    assert dead.served["drop"] == len(retried) > 0  # the dead deployment was tried at most once a call


def test_when_every_deployment_failed_a_retry_goes_to_the_one_that_failed_longest_ago(tmp_path: Path) -> None:
    """Both deployments answer their first request with 503: the second attempt goes to the one
    that has not failed, the third back to the first one, whose 503 is the older."""
    first_fails: FaultPlan = lambda n: "503" if n == 0 else "ok"  # noqa: E731
    with (
        ScriptedServer(lambda request: "ok") as server,
        FaultProxy(server.port, first_fails) as one,
        FaultProxy(server.port, first_fails) as two,
    ):
        gateway = _routed_gateway(tmp_path / "router.json", [one.base_url, two.base_url], {}, 5)
        answer = gateway.complete(CompletionRequest(model="team", messages=(("user", "note"),)))
    assert answer.text == "ok" and answer.attempts == 3
    assert sorted([dict(one.served), dict(two.served)], key=len) == [{"503": 1}, {"503": 1, "ok": 1}]


def test_prices_come_from_the_bundled_map_and_unknown_is_none() -> None:
    gateway = LiteLLMGateway()
    assert gateway.price("gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)
    assert gateway.price("ft:gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000) == pytest.approx(1.5)
    assert gateway.price("openai/not-a-real-model-xyz", 100, 10) is None
    assert gateway.price("local/qwen2.5-0.5b-instruct", 100, 10) == 0.0


def test_a_litellm_caller_that_sets_no_max_tokens_gets_room_to_write(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """``dspy.LM`` sends max_tokens=None: the local provider must not cut it at a label's length."""
    from promptopt.llm import gateway
    from promptopt.llm.local import EngineResult

    seen: list[int] = []

    def chat(
        path: Any, messages: Any, *, temperature: float, max_tokens: int, stop: Any, seed: Any
    ) -> EngineResult:
        seen.append(max_tokens)
        return EngineResult(text="ok", prompt_tokens=3, completion_tokens=1, seconds=0.0)

    monkeypatch.setattr(gateway._ENGINE, "chat", chat)
    litellm = _litellm()
    model = tmp_path / "m.gguf"
    for limit in (None, 7):
        litellm.completion(
            model="local/any",
            messages=[{"role": "user", "content": "hi"}],
            api_base=str(model),
            max_tokens=limit,
            temperature=0.0,
        )
    assert seen == [gateway.UNSET_MAX_TOKENS, 7] and gateway.UNSET_MAX_TOKENS >= 512
