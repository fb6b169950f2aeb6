"""The real embedded engine and models: a multi-token decode in a child process (a bad
llama.cpp build dies with SIGSEGV/SIGILL there, failing this test instead of crashing the
suite), sha256 verification, and real evaluations on small slices."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from promptopt import compose
from promptopt.errors import ModelError
from promptopt.llm import local
from promptopt.llm.gateway import LiteLLMGateway
from promptopt.llm.local.aligned import MIN_SNAPSHOT_TOKENS
from promptopt.llm.types import CompletionRequest
from promptopt.settings import Paths

pytestmark = pytest.mark.model

QWEN = "local/qwen2.5-0.5b-instruct"
GEMMA = "local/gemma-3-270m"


@pytest.fixture(scope="module")
def gateway() -> LiteLLMGateway:
    return LiteLLMGateway(models_dir=local.default_models_dir())


@pytest.mark.parametrize("model", [QWEN, GEMMA])
def test_multi_token_decode_in_a_child_process(model: str) -> None:
    script = textwrap.dedent(f"""
        from promptopt.llm import local
        spec = local.PACKAGED[{model[len("local/") :]!r}]
        path = local.prepare(spec, local.default_models_dir())
        from llama_cpp import Llama
        llm = Llama(model_path=str(path), n_ctx=512, n_threads=2, verbose=False)
        prompt = "The quick brown fox jumps over the lazy dog. " * 8
        out = llm.create_completion(prompt, max_tokens=8, temperature=0)
        print(out["usage"]["prompt_tokens"], out["usage"]["completion_tokens"])
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        f"multi-token decode died with return code {proc.returncode} (negative = signal: -11 SIGSEGV,"
        f" -4 SIGILL). llama-cpp-python was built with flags this CPU cannot run: rerun"
        f" scripts/setup.sh. stderr: {proc.stderr[-2000:]}"
    )
    prompt_tokens, completion_tokens = map(int, proc.stdout.split()[-2:])
    assert prompt_tokens > 50 and completion_tokens >= 1


def test_gateway_routes_local_models_through_litellm(gateway: LiteLLMGateway) -> None:
    request = CompletionRequest(
        model=QWEN, messages=(("system", "Reply with one word."), ("user", "Say yes.")), max_tokens=8
    )
    response = gateway.complete(request)
    assert response.text.strip()
    assert response.prompt_tokens > 10 and response.completion_tokens >= 1
    assert response.usd == 0.0 and not response.cached and response.latency_s > 0


def test_deterministic_at_temperature_zero(gateway: LiteLLMGateway) -> None:
    request = CompletionRequest(model=QWEN, messages=(("user", "Name a colour of the sky."),), max_tokens=12)
    assert gateway.complete(request).text == gateway.complete(request).text


def test_over_long_prompt_is_a_per_call_error_not_a_crash(gateway: LiteLLMGateway) -> None:
    from promptopt.llm.types import CallError

    huge = "word " * (local.N_CTX + 500)
    with pytest.raises(CallError) as info:
        gateway.complete(CompletionRequest(model=QWEN, messages=(("user", huge),), max_tokens=4))
    assert info.value.kind == "context"  # the evaluator cuts such a prompt to fit
    assert info.value.overflow is not None and info.value.overflow[1] == local.N_CTX


def test_unknown_local_model_is_a_clear_error(gateway: LiteLLMGateway) -> None:
    with pytest.raises(ModelError) as info:
        gateway.check("local/llama-99b", {})
    assert "llama-99b" in str(info.value) and "qwen2.5-0.5b-instruct" in str(info.value)


def test_user_gguf_path_is_accepted(tmp_path: Path) -> None:
    target = local.prepare(local.PACKAGED["gemma-3-270m"], local.default_models_dir())
    link = tmp_path / "mine.gguf"
    link.symlink_to(target)
    resolved = local.resolve(f"local/{link}", tmp_path)
    assert resolved.path == target.resolve() and resolved.fingerprint
    with pytest.raises(ModelError, match="not found"):
        local.resolve(f"local/{tmp_path / 'missing.gguf'}", tmp_path)


def _paths(data_dir: Path, tmp_path: Path) -> Paths:
    return Paths(
        data_dir=data_dir,
        task_dirs=(Path(__file__).resolve().parents[2] / "tasks",),
        models_dir=local.default_models_dir(),
        cache_file=tmp_path / "cache.sqlite",
    )


@pytest.mark.parametrize("model", [QWEN, GEMMA])
def test_real_evaluation_on_a_small_slice(model: str, data_dir: Path, tmp_path: Path) -> None:
    paths = _paths(data_dir, tmp_path)
    task = compose.load("cfpb_complaints", paths)
    examples = compose.slice_of(task, "dev", 6, seed=0)
    candidate = compose.baseline_candidate(
        task, k=3, strategy="retrieved", instruction=None, rng=random.Random(0)
    )
    run = compose.open_eval(task, paths, model=model, seed=0, temperature=0.0, concurrency=None, env={})
    result = run.evaluator.evaluate(candidate, examples)
    totals = run.ledger.totals
    assert len(result.records) == 6 and totals.calls == 6 and totals.usd == 0.0
    assert all(r.status in ("ok", "invalid") for r in result.records)
    assert all(r.prompt_tokens > 50 and r.latency_s > 0 for r in result.records)
    assert sum(r.prompt_tokens for r in result.records) == totals.prompt_tokens
    assert result.scores.n == 6 and 0.0 <= result.scores.accuracy <= 1.0
    # the same requests again come from the cache, cost nothing, and predict the same
    again = run.evaluator.evaluate(candidate, examples)
    assert [r.cached for r in again.records] == [True] * 6
    assert [r.prediction for r in again.records] == [r.prediction for r in result.records]


def test_qwen_beats_chance_with_retrieved_demos(data_dir: Path, tmp_path: Path) -> None:
    """Five balanced classes: chance is 20%. With 4 retrieved demos the real model must do
    clearly better on 15 dev examples, or the rendering/parsing path is broken."""
    paths = _paths(data_dir, tmp_path)
    task = compose.load("cfpb_complaints", paths)
    examples = compose.slice_of(task, "dev", 15, seed=1, stratified=True)
    candidate = compose.baseline_candidate(
        task, k=4, strategy="retrieved", instruction=None, rng=random.Random(0)
    )
    run = compose.open_eval(task, paths, model=QWEN, seed=0, temperature=0.0, concurrency=None, env={})
    result = run.evaluator.evaluate(candidate, examples)
    assert result.scores.accuracy >= 0.4, [(r.gold, r.raw) for r in result.records]
    assert result.invalid <= 3


def test_answers_do_not_depend_on_the_order_of_calls() -> None:
    """The property the aligned engine exists for: two engines see the same prompts in
    opposite orders (with a shared prefix and per-input demos, as with retrieval) and give
    identical answers."""
    path = local.prepare(local.PACKAGED["qwen2.5-0.5b-instruct"], local.default_models_dir())
    system = {
        "role": "system",
        "content": "Classify the message. Labels:\n"
        + "\n".join(
            f"intent_{i}_{word}" for i, word in enumerate(["card", "refund", "rate", "pin", "topup"] * 8)
        ),
    }
    prompts = []
    for i, text in enumerate(
        [
            "where is my card",
            "I want my money back",
            "what rate do you use",
            "forgot my pin",
            "top up failed twice",
        ]
    ):
        demo = [
            {"role": "user", "content": f"example {i} " * (i + 1)},
            {"role": "assistant", "content": "intent_0_card"},
        ]
        prompts.append([system, *demo, {"role": "user", "content": text}])
    first, second = local.LlamaEngine(), local.LlamaEngine()
    try:

        def answer(engine: local.LlamaEngine, messages: list[dict[str, str]]) -> str:
            return engine.chat(path, messages, temperature=0.0, max_tokens=12, stop=["\n"], seed=0).text

        forward = [answer(first, p) for p in prompts]
        backward = [answer(second, p) for p in reversed(prompts)][::-1]
        assert forward == backward
    finally:
        first.close()
        second.close()


def test_alternating_prompt_prefixes_reuse_kept_states_and_answer_as_a_cold_engine() -> None:
    """Two shared prefixes sent in turn (as DSPy's adapter and its JSON fallback do): each is
    kept once evaluated a second time, so from the fifth call on its KV state comes back from
    the kept snapshots, and every answer equals a fresh engine's answer to that prompt alone."""
    path = local.prepare(local.PACKAGED["qwen2.5-0.5b-instruct"], local.default_models_dir())
    labels = "\n".join(
        f"intent_{i}_{w}" for i, w in enumerate(["card", "refund", "rate", "pin", "topup"] * 8)
    )
    systems = [
        {"role": "system", "content": f"Classify the message. Labels:\n{labels}"},
        {"role": "system", "content": f"Answer in JSON with a field 'label', one of:\n{labels}"},
    ]
    texts = [
        "where is my card",
        "I want my money back",
        "what rate do you use",
        "forgot my pin",
        "my top up failed",
        "cancel my transfer",
    ]
    prompts = [[systems[i % 2], {"role": "user", "content": text}] for i, text in enumerate(texts)]
    engine = local.LlamaEngine()

    def answer(e: local.LlamaEngine, messages: list[dict[str, str]]) -> local.EngineResult:
        return e.chat(path, messages, temperature=0.0, max_tokens=12, stop=["\n"], seed=0)

    try:
        results = [answer(engine, p) for p in prompts]
        cold = []
        for p in prompts:
            fresh = local.LlamaEngine()
            try:
                cold.append(answer(fresh, p))
            finally:
                fresh.close()
    finally:
        engine.close()
    assert [r.text for r in results] == [c.text for c in cold]
    assert all(c.reused_tokens == 0 for c in cold)
    assert all(r.prompt_tokens - r.reused_tokens > 64 for r in results[:4])  # prefixes differ
    for r in results[4:]:  # the prefix two calls back is restored: all but the input is reused
        assert r.reused_tokens >= MIN_SNAPSHOT_TOKENS and r.prompt_tokens - r.reused_tokens < 64
