"""DSPy's contenders, configured as its documentation recommends: a ``dspy.LM`` for the task
model (temperature 0, as promptopt uses), the default adapter (ChatAdapter, with its JSON
fallback), a ``dspy.Predict`` over a signature whose output is a ``Literal`` of the labels and
whose instructions are the task's default instruction, and ``dspy.Evaluate`` for the test score.
DSPy's caches are off, so every call is real; calls and tokens are read from DSPy's own history
of the calls made in each phase."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

from anchors.common import Result, Usage, scored
from anchors.promptopt_side import Bench
from promptopt.prompt.render import seed_instruction
from promptopt.task.spec import Example, Task

log = logging.getLogger(__name__)
HISTORY_CAP = 10_000  # dspy.clients.base_lm.MAX_HISTORY_SIZE: a phase must stay below it
# DSPy aborts an evaluation or a bootstrap after 10 failed examples by default (an answer its
# adapters cannot parse is an exception); with a small model that ends the optimizer early, so
# a failure counts as a wrong answer instead, as it does for promptopt.
MAX_ERRORS = 1_000_000


def configure(model: str) -> Any:
    """The task LM, with DSPy's caches off; ``local/`` models are registered with LiteLLM."""
    import dspy

    if model.startswith("local/"):
        from promptopt.production.runtime import register_local_models

        register_local_models()
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    return dspy.LM(model, temperature=0.0, cache=False)


def _history() -> list[dict[str, Any]]:
    from dspy.clients import base_lm

    return base_lm.GLOBAL_HISTORY  # type: ignore[no-any-return]


class Phase:
    """Counts the LM calls made inside a ``with`` block (DSPy's global history, cleared first)."""

    def __enter__(self) -> Phase:
        _history().clear()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        entries = list(_history())
        if len(entries) >= HISTORY_CAP:
            log.warning("DSPy's history reached its cap: calls in this phase are undercounted")
        usages = [e.get("usage") or {} for e in entries]
        costs = [e.get("cost") for e in entries]
        self.usage = Usage(
            calls=len(entries),
            prompt_tokens=sum(int(u.get("prompt_tokens") or 0) for u in usages),
            completion_tokens=sum(int(u.get("completion_tokens") or 0) for u in usages),
            seconds=time.perf_counter() - self.started,
            usd=sum(float(c) for c in costs if c is not None) if any(c is not None for c in costs) else None,
        )


def signature(task: Task) -> Any:
    import dspy

    labels = tuple(task.labels)
    fields = {"text": (str, dspy.InputField()), "label": (Literal[labels], dspy.OutputField())}
    return dspy.Signature(fields, seed_instruction(task))


def examples(items: Sequence[Example]) -> list[Any]:
    import dspy

    return [dspy.Example(text=e.text, label=e.label).with_inputs("text") for e in items]


def said(prediction: Any) -> str:
    """The label a DSPy prediction gave ("" when its adapters produced none)."""
    return str(getattr(prediction, "label", "") or "").strip()


def metric(example: Any, prediction: Any, trace: Any = None) -> bool:
    return said(prediction) == str(example.label)


def feedback_metric(
    gold: Any, pred: Any, trace: Any = None, pred_name: Any = None, pred_trace: Any = None
) -> Any:
    """GEPA's metric: the score and a sentence the reflection model can learn from."""
    import dspy

    answer = said(pred)
    ok = answer == gold.label
    text = "Correct." if ok else f"Wrong: answered {answer!r}, the correct label is {gold.label!r}."
    return dspy.Prediction(score=float(ok), feedback=text)


def _test(bench: Bench, name: str, program: Any, optimization: Usage, **fields: Any) -> Result:
    import dspy

    evaluate = dspy.Evaluate(
        devset=examples(bench.test),
        metric=metric,
        num_threads=1,
        display_progress=True,
        max_errors=len(bench.test) + 1,
        provide_traceback=False,
    )
    with Phase() as phase:
        outcome = evaluate(program)
    predicted = [said(pred) for _, pred, _ in outcome.results]
    gold = [ex.label for ex, _, _ in outcome.results]
    usage = phase.usage
    return scored(
        name,
        gold,
        predicted,
        seed=bench.seed,
        optimization=optimization,
        test=usage,
        final_prompt_tokens_per_call=usage.prompt_tokens / max(usage.calls, 1),
        settings={**fields, **describe(program)},
    )


def describe(program: Any) -> dict[str, Any]:
    """The final program's prompt parts: instruction and number of demos per predictor."""
    parts = [{"instruction": p.signature.instructions, "demos": len(p.demos)} for p in program.predictors()]
    return {"predictors": parts}


def _task_lm(bench: Bench) -> Any:
    """DSPy's settings for one contender: the task LM, and failures counted as wrong answers."""
    import dspy

    return dspy.context(lm=configure(bench.model), max_errors=MAX_ERRORS)


def predict(bench: Bench) -> Result:
    import dspy

    with _task_lm(bench):
        return _test(
            bench,
            "dspy-predict",
            dspy.Predict(signature(bench.task)),
            Usage(),
            adapter="ChatAdapter (default)",
        )


def _optimized(bench: Bench, name: str, compile_fn: Callable[[Any], Any], **fields: Any) -> Result:
    import dspy

    with _task_lm(bench):
        with Phase() as phase:
            program = compile_fn(dspy.Predict(signature(bench.task)))
        result = _test(bench, name, program, phase.usage, **fields)
    # DSPy's optimizers run the trials their settings fix; none stops at a plateau
    return replace(result, stopped_by_itself=False, stop_reason="its fixed number of trials")


def bootstrap_random_search(bench: Bench, *, candidates: int) -> Result:
    import dspy

    def run(student: Any) -> Any:
        optimizer = dspy.BootstrapFewShotWithRandomSearch(
            metric=metric, num_candidate_programs=candidates, num_threads=1
        )
        return optimizer.compile(student, trainset=examples(bench.train), valset=examples(bench.dev))

    return _optimized(
        bench,
        "dspy-bootstrap-rs",
        run,
        num_candidate_programs=candidates,
        trainset=len(bench.train),
        valset=len(bench.dev),
    )


def mipro_light(bench: Bench) -> Result:
    import dspy

    def run(student: Any) -> Any:
        optimizer = dspy.MIPROv2(metric=metric, auto="light", num_threads=1, seed=bench.seed)
        return optimizer.compile(student, trainset=examples(bench.train), valset=examples(bench.dev))

    return _optimized(
        bench, "dspy-miprov2-light", run, auto="light", trainset=len(bench.train), valset=len(bench.dev)
    )


def gepa(bench: Bench, *, metric_calls: int, reflection_max_tokens: int) -> Result:
    """GEPA with the task model as its own reflection model (no other model runs here)."""
    import dspy

    reflection = dspy.LM(bench.model, temperature=1.0, cache=False, max_tokens=reflection_max_tokens)

    def run(student: Any) -> Any:
        optimizer = dspy.GEPA(
            metric=feedback_metric,
            max_metric_calls=metric_calls,
            reflection_lm=reflection,
            num_threads=1,
            seed=bench.seed,
            track_stats=False,
        )
        return optimizer.compile(student, trainset=examples(bench.train), valset=examples(bench.dev))

    return _optimized(
        bench,
        "dspy-gepa",
        run,
        max_metric_calls=metric_calls,
        reflection_lm=bench.model,
        reflection_max_tokens=reflection_max_tokens,
        trainset=len(bench.train),
        valset=len(bench.dev),
    )
