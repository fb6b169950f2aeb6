"""DSPy's contenders, configured as its documentation recommends: a ``dspy.LM`` for the task
model (temperature 0, as promptopt uses), the default adapter (ChatAdapter, with its JSON
fallback), a ``dspy.Predict`` over a signature whose output is a ``Literal`` of the labels and
whose instructions are the task's default instruction, and ``dspy.Evaluate`` for the test score.
DSPy's caches are off, so every call is real; calls and tokens are read from DSPy's own history
of the calls made in each phase.

Every optimizer gets the bench's train pool (the same examples promptopt and the probe use), in
an order shuffled with the seed: train files are often sorted by label, and DSPy's unshuffled
bootstrap candidate would otherwise take its demos from the first label or two. Their cost
does not grow with the pool: a bootstrap stops after its few successful traces (unless the model
almost never answers right), and MIPROv2's dataset summary reads at most 10 batches of 10."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

from anchors.common import Answer, Bench, Result, Usage, answer, scored, trained_on
from promptopt.llm.embed import MiniLMEmbedder
from promptopt.prompt.render import seed_instruction
from promptopt.prompt.retrieve import Embedder
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


def trainset(bench: Bench) -> list[Example]:
    """The pool, in an order shuffled with the bench's seed (see the module's docstring)."""
    pool = list(bench.train)
    random.Random(bench.seed).shuffle(pool)
    return pool


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


class Guarded:
    """The program under test, with each input's failure kept instead of raised: DSPy raises
    ``AdapterParseError`` when its adapters find no label in the answer (unparseable), and
    anything else when the call itself failed. ``dspy.Evaluate`` would score both 0 without
    telling them apart."""

    def __init__(self, program: Any) -> None:
        self.program = program

    def __call__(self, **inputs: Any) -> Any:
        import dspy
        from dspy.utils.exceptions import AdapterParseError

        try:
            return self.program(**inputs)
        except AdapterParseError:
            return dspy.Prediction(label=None, failure="unparseable")
        except Exception as exc:  # a failed call counts as wrong, as for every contender
            log.info("a DSPy call failed: %s: %s", type(exc).__name__, exc)
            return dspy.Prediction(label=None, failure="failed")


def answers_of(
    examples: Sequence[Example], predictions: Sequence[Any], labels: Sequence[str]
) -> list[Answer]:
    """DSPy's predictions under the counting rule (a label that is not exactly one of the
    task's is unparseable, as for promptopt)."""
    out = []
    for example, prediction in zip(examples, predictions, strict=True):
        failure = getattr(prediction, "failure", None) if prediction is not None else "failed"
        text = None if failure else said(prediction)
        out.append(answer(example, text, labels, failed=failure == "failed"))
    return out


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
        outcome = evaluate(Guarded(program))
    usage = phase.usage
    return scored(
        name,
        answers_of(bench.test, [pred for _, pred, _ in outcome.results], bench.task.labels),
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

    lm = bench.dspy_lm if bench.dspy_lm is not None else configure(bench.model)
    return dspy.context(lm=lm, max_errors=MAX_ERRORS)


def predict(bench: Bench) -> Result:
    import dspy

    with _task_lm(bench):
        result = _test(
            bench,
            "dspy-predict",
            dspy.Predict(signature(bench.task)),
            Usage(),
            adapter="ChatAdapter (default)",
        )
    # no demos: it uses no train example
    return replace(result, **trained_on(()))


def _optimized(bench: Bench, name: str, compile_fn: Callable[[Any, list[Any]], Any], **fields: Any) -> Result:
    """``compile_fn(student, trainset)`` compiled and scored; ``trainset`` is the pool."""
    import dspy

    pool = trainset(bench)
    with _task_lm(bench):
        with Phase() as phase:
            program = compile_fn(dspy.Predict(signature(bench.task)), examples(pool))
        result = _test(bench, name, program, phase.usage, trainset=len(pool), **fields)
    # DSPy's optimizers run the trials their settings fix; none stops at a plateau
    return replace(
        result, stopped_by_itself=False, stop_reason="its fixed number of trials", **trained_on(pool)
    )


def bootstrap_random_search(bench: Bench, *, candidates: int) -> Result:
    import dspy

    def run(student: Any, train: list[Any]) -> Any:
        optimizer = dspy.BootstrapFewShotWithRandomSearch(
            metric=metric, num_candidate_programs=candidates, num_threads=1
        )
        return optimizer.compile(student, trainset=train, valset=examples(bench.dev))

    return _optimized(
        bench, "dspy-bootstrap-rs", run, num_candidate_programs=candidates, valset=len(bench.dev)
    )


def mipro_light(bench: Bench) -> Result:
    import dspy

    def run(student: Any, train: list[Any]) -> Any:
        optimizer = dspy.MIPROv2(metric=metric, auto="light", num_threads=1, seed=bench.seed)
        return optimizer.compile(student, trainset=train, valset=examples(bench.dev))

    return _optimized(bench, "dspy-miprov2-light", run, auto="light", valset=len(bench.dev))


def gepa(bench: Bench, *, metric_calls: int, reflection_max_tokens: int) -> Result:
    """GEPA with the task model as its own reflection model (no other model runs here)."""
    import dspy

    reflection = dspy.LM(bench.model, temperature=1.0, cache=False, max_tokens=reflection_max_tokens)

    def run(student: Any, train: list[Any]) -> Any:
        optimizer = dspy.GEPA(
            metric=feedback_metric,
            max_metric_calls=metric_calls,
            reflection_lm=reflection,
            num_threads=1,
            seed=bench.seed,
            track_stats=False,
        )
        return optimizer.compile(student, trainset=train, valset=examples(bench.dev))

    return _optimized(
        bench,
        "dspy-gepa",
        run,
        max_metric_calls=metric_calls,
        reflection_lm=bench.model,
        reflection_max_tokens=reflection_max_tokens,
        valset=len(bench.dev),
    )


def knn_vectorizer(embedder: Embedder, pool_texts: Sequence[str]) -> Any:
    """promptopt's sentence embedder as DSPy's ``Embedder``: the pool (one batch) through
    ``encode_pool``, kept on disk like promptopt's, and queries through ``encode``."""
    import dspy

    pool = list(pool_texts)

    def encode(texts: list[str]) -> Any:
        return embedder.encode_pool(texts) if list(texts) == pool else embedder.encode(texts)

    return dspy.Embedder(encode, batch_size=max(len(pool), 1), caching=False)


def knn(bench: Bench, *, k: int) -> Result:
    """``KNNFewShot``: the ``k`` nearest pool examples by MiniLM (the model promptopt
    retrieves with) as labeled demos, per input. Its ``BootstrapFewShot`` is asked for no
    bootstrapped traces and ``k`` labeled demos, so that it shows the neighbours themselves,
    as the plain retrieval baseline does (bootstrapping would add up to ``k`` teacher calls
    per test input)."""
    import dspy

    pool = trainset(bench)
    # KNN embeds each train example as "text: <its text>" (its input fields, named)
    vectorizer = knn_vectorizer(
        bench.embedder or MiniLMEmbedder(bench.paths.embed_dir), [f"text: {e.text}" for e in pool]
    )
    with _task_lm(bench):
        with Phase() as phase:
            optimizer = dspy.KNNFewShot(
                k=k,
                trainset=examples(pool),
                vectorizer=vectorizer,
                max_bootstrapped_demos=0,
                max_labeled_demos=k,
            )
            program = optimizer.compile(dspy.Predict(signature(bench.task)))
        result = _test(
            bench,
            "dspy-knn",
            program,
            phase.usage,
            k=k,
            embedder="all-MiniLM-L6-v2 (promptopt's)",
            max_bootstrapped_demos=0,
            max_labeled_demos=k,
            trainset=len(pool),
        )
    return replace(result, stopped_by_itself=None, stop_reason=None, **trained_on(pool))
