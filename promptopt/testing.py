"""Test doubles, shipped once so that every test (and a user's own) uses the same ones:

- :class:`FakeCompleter`: a completer whose answers come from a handler (``request -> text``),
  in the manner of httpx's ``MockTransport``; it counts and records the calls, can advance a
  fake clock, price each call, or kill its process at a given call;
- handlers: :func:`topic_answers`, a landscape the search can climb (answers get better
  with demos, with demos of the gold label and with written instructions);
  :func:`hashed_answers`, whose answer depends on the whole request (any change in rendering
  or parameters changes about half the answers, so one-for-one comparisons are real checks);
  :func:`replies`, answers (or failed calls) scripted per input; :func:`in_turn`, answers (or
  failed calls) in a fixed order, whatever the input;
- the tiny task: :func:`tiny_task` in memory, :func:`write_tiny_task` on disk (a task file and
  its data, loadable by every command);
- :class:`HashEmbedder`: sentence vectors without a model;
- :func:`new_run_store` and :func:`fake_optimizer`: the real optimizer over a fake completer,
  on a new or resumed run folder;
- :func:`build_finished_run`: a finished run folder scored by promptopt's own evaluator and
  written through the run's own history and store.

Nothing here touches the network or a real model. The real paths (the embedded model, a real
server) have tests of their own.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from promptopt.compose import (
    OptimizeRun,
    OptimizeSettings,
    assemble_optimize,
    new_run_info,
    optimize_slices,
    restored_ledger,
)
from promptopt.evaluate.evaluator import EvalResult, EvalSettings, Evaluator, ExampleRecord
from promptopt.llm.cache import CachingCompleter, DiskCache
from promptopt.llm.metered import MeteredCompleter
from promptopt.llm.types import CallError, Completer, CompletionRequest, CompletionResponse
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.prompt.render import seed_instruction
from promptopt.prompt.retrieve import EmbeddingRetriever, Retriever
from promptopt.run.events import EvalStart, Evaluated, Event
from promptopt.run.history import History
from promptopt.run.store import RunStore
from promptopt.search.finish import Ending, summarize
from promptopt.search.space import SearchSpace
from promptopt.task.load import load_task
from promptopt.task.spec import DataSpec, Example, Task, TaskSpec

LABELS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta")
WORDS = ("river", "stone", "cloud", "metal", "paper", "glass", "sand", "wood")
MODEL = "fake/model"
TASK_NAME = "fake"
TASK_DESCRIPTION = "Topic of short notes"
# the settings of a short run on the tiny task over a fake completer (tests replace what they vary)
FAKE_SETTINGS = OptimizeSettings(
    task=TASK_NAME,
    model=MODEL,
    dev_limit=40,
    test_limit=24,
    first_rung=10,
    concurrency=1,
    space=SearchSpace(retrievers=("word", "char")),
    ceiling_resolution=0.25,  # what 40 dev examples can resolve: a plateau here is a ceiling
)

Handler = Callable[[CompletionRequest], str]


# -- the fake completer ---------------------------------------------------------------------------


@dataclass
class FakeCompleter:
    """A :class:`~promptopt.llm.types.Completer` answering with ``handler(request)`` (a
    handler that raises :class:`~promptopt.llm.types.CallError` fails the call).

    ``usd_per_call``: the price of each call (None: unpriced). ``seconds_per_call``: how far
    each call advances :meth:`clock` (give it to the optimizer as its clock: time limits
    without waiting), and each call's latency. ``hold_s``: real seconds each call stays open
    (outside the lock, so concurrent calls overlap; ``max_in_flight`` says how many did).
    ``kill_after``: SIGKILL this process at that
    call (a crash mid-run). ``model_fingerprint``: what :meth:`fingerprint` returns (a local
    model's weights; part of the completion cache's key). Prompt tokens are ``prompt_tokens``,
    else a quarter of the characters sent. Thread-safe; the handler runs outside the lock."""

    handler: Handler
    usd_per_call: float | None = 0.0
    seconds_per_call: float = 0.0
    completion_tokens: int = 2
    kill_after: int | None = None
    model_fingerprint: str = ""
    prompt_tokens: int | None = None
    now: float = 0.0
    calls: int = 0
    hold_s: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    seen: list[CompletionRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fingerprint(self, model: str) -> str:
        return self.model_fingerprint

    def clock(self) -> float:
        return self.now

    def complete(self, request: CompletionRequest) -> CompletionResponse:
        with self._lock:
            self.calls += 1
            self.now += self.seconds_per_call
            self.seen.append(request)
            if self.kill_after is not None and self.calls >= self.kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hold_s:
                time.sleep(self.hold_s)
            text = self.handler(request)
        finally:
            with self._lock:
                self.in_flight -= 1
        chars = sum(len(content) for _, content in request.messages)
        return CompletionResponse(
            text=text,
            prompt_tokens=chars // 4 if self.prompt_tokens is None else self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            usd=self.usd_per_call,
            latency_s=self.seconds_per_call or 0.001,
        )


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from ``parts``."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _gold(text: str) -> str:
    found = re.search(r"about (\w+)", text)
    return found.group(1) if found and found.group(1) in LABELS else LABELS[0]


def _wrong(gold: str, key: str) -> str:
    return LABELS[(LABELS.index(gold) + 1 + int(_unit(key, "wrong") * 4)) % len(LABELS)]


def topic_answers(*, flat: bool = False, proposer_reply: str | None = None) -> Handler:
    """Answers the note's topic with a probability that rises with demos (+0.2), with a demo
    of the gold label (+0.3) and with a proposer-written instruction (+0.1, the word
    "variant"), from 0.3: a real signal for the search to find. ``flat``: every prompt is right
    half of the time (a plateau from the start). Proposals: ``proposer_reply``, else an
    instruction with a variant number taken from the request's seed."""

    def answer(request: CompletionRequest) -> str:
        if request.role == "proposer":
            if proposer_reply is not None:
                return proposer_reply
            return f"Read the note and decide which topic it is about, variant {(request.seed or 0) % 1000}."
        system, text = request.messages[0][1], request.messages[-1][1]
        gold = next((label for label in LABELS if f"about {label}" in text), LABELS[0])
        demos = [content for role, content in request.messages[1:-1] if role == "assistant"]
        p = 0.5 if flat else _topic_accuracy(system, demos, gold)
        if _unit(text, system if not flat else "", len(demos)) < p:
            return gold
        return LABELS[(LABELS.index(gold) + 1 + int(_unit(text, "wrong") * 4)) % len(LABELS)]

    return answer


def _topic_accuracy(system: str, demos: list[str], gold: str) -> float:
    p = 0.3
    if demos:
        p += 0.2
    if gold in demos:
        p += 0.3
    if "variant" in system:
        p += 0.1
    return p


def hashed_answers(
    *,
    salt: str = "",
    proposer_reply: str = "Decide which topic the note is about, variant 2. Reply with the label only.",
) -> Handler:
    """Answers the gold label (read from the note) with probability 0.7 when the prompt shows it
    (a demo of it, or a neighbour's label), else 0.3, drawn from a hash of the whole request,
    in the output format the prompt asks for (codes or labels). ``salt`` makes another model."""

    def answer(request: CompletionRequest) -> str:
        if request.role == "proposer":
            return proposer_reply
        system, last = request.messages[0][1], request.messages[-1][1]
        text = last.rsplit("Input: ", 1)[-1]
        gold = _gold(text)
        codes = {label: code for code, label in re.findall(r"^(L\d+): (\w+)", system, re.M)}
        as_code = "Reply with the code only." in system
        shown = "\n".join(
            [
                system.split("\nExamples:\n", 1)[-1] if "\nExamples:\n" in system else "",
                *(content for _, content in request.messages[1:-1]),
                last[: len(last) - len(text)],
            ]
        )
        target = codes.get(gold, gold) if as_code else gold
        helped = f"about {gold}" in shown or re.search(rf"\b{re.escape(target)}\b", shown) is not None
        key = json.dumps(request.canonical(), sort_keys=True)
        if _unit(salt, key) < (0.7 if helped else 0.3):
            return target
        wrong = _wrong(gold, key)
        return codes.get(wrong, wrong) if as_code else wrong

    return answer


Reply = str | CallError


def _reply(reply: Reply) -> str:
    if isinstance(reply, CallError):
        raise reply
    return reply


def replies(
    by_input: Mapping[str, Reply] | None = None,
    *,
    default: Reply = "",
    delay: Callable[[str], float] | None = None,
) -> Handler:
    """Answers scripted per input: ``by_input[last message]``, else ``default``; a
    :class:`~promptopt.llm.types.CallError` there fails the call. ``delay(input)``: seconds
    to sleep first (so calls in flight finish out of order)."""
    scripted = dict(by_input or {})

    def answer(request: CompletionRequest) -> str:
        last = request.messages[-1][1]
        if delay is not None:
            time.sleep(delay(last))
        return _reply(scripted.get(last, default))

    return answer


def in_turn(answers: Sequence[Reply]) -> Handler:
    """The answers in order, whatever the request, starting over after the last; a
    :class:`~promptopt.llm.types.CallError` fails that call."""
    if not answers:
        raise ValueError("in_turn needs at least one answer")
    script = tuple(answers)
    lock = threading.Lock()
    served = [0]

    def answer(request: CompletionRequest) -> str:
        with lock:
            reply = script[served[0] % len(script)]
            served[0] += 1
        return _reply(reply)

    return answer


# -- the tiny task -----------------------------------------------------------------------------------


def note_rows(n: int, offset: int) -> list[tuple[str, str]]:
    """``n`` short notes ``(text, label)``, labels in turn; ``offset`` keeps splits apart."""
    rows = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        rows.append(
            (
                f"note {offset + i} about {label} {WORDS[(i * 7 + offset) % len(WORDS)]} "
                f"{WORDS[(i * 3) % len(WORDS)]}",
                label,
            )
        )
    return rows


SPLIT_OFFSETS = {"train": 0, "dev": 1000, "test": 2000}


def tiny_task(n_train: int = 120, n_dev: int = 60, n_test: int = 48) -> Task:
    """The tiny task in memory (its data hashes are placeholders: nothing is on disk)."""
    spec = TaskSpec(
        name=TASK_NAME,
        description=TASK_DESCRIPTION,
        metric="accuracy",
        input_fields=("text",),
        label_field="label",
        data=DataSpec(dir=TASK_NAME, train="train.jsonl", dev="dev.jsonl", test="test.jsonl"),
    )
    sizes = {"train": n_train, "dev": n_dev, "test": n_test}
    splits = {
        split: tuple(
            Example(f"{split}-{i}", text, label)
            for i, (text, label) in enumerate(note_rows(n, SPLIT_OFFSETS[split]))
        )
        for split, n in sizes.items()
    }
    return Task(spec=spec, labels=LABELS, splits=splits, data_hashes={"train": "t", "dev": "d", "test": "x"})


def task_rows(task: Task) -> dict[str, list[tuple[str, str]]]:
    """A task's splits as ``(text, label)`` rows (for :func:`write_tiny_task`)."""
    return {split: [(e.text, e.label) for e in task.split(split)] for split in ("train", "dev", "test")}


def write_tiny_task(
    root: Path,
    *,
    n_train: int = 48,
    n_dev: int = 18,
    n_test: int = 30,
    rows: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    labels: Sequence[str] = LABELS,
) -> Path:
    """The tiny task on disk: ``root/data/fake/{train,dev,test}.jsonl`` and ``labels.txt``, and
    ``root/tasks/fake.toml`` pointing at them (data dir: ``root/data``). ``rows`` replaces the
    generated notes. Returns the task file."""
    sizes = {"train": n_train, "dev": n_dev, "test": n_test}
    data = root / "data" / TASK_NAME
    data.mkdir(parents=True, exist_ok=True)
    for split, n in sizes.items():
        items = rows[split] if rows is not None else note_rows(n, SPLIT_OFFSETS[split])
        (data / f"{split}.jsonl").write_text(
            "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in items), encoding="utf-8"
        )
    (data / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    task_file = root / "tasks" / f"{TASK_NAME}.toml"
    task_file.parent.mkdir(parents=True, exist_ok=True)
    task_file.write_text(
        f'name = "{TASK_NAME}"\ndescription = "{TASK_DESCRIPTION}"\nmetric = "accuracy"\n'
        '[fields]\ninput = "text"\nlabel = "label"\n'
        f'[data]\ndir = "{TASK_NAME}"\ntrain = "train.jsonl"\ndev = "dev.jsonl"\n'
        'test = "test.jsonl"\nlabels = "labels.txt"\n',
        encoding="utf-8",
    )
    return task_file


def load_tiny_task(root: Path) -> Task:
    """The task :func:`write_tiny_task` wrote under ``root``."""
    return load_task(
        str(root / "tasks" / f"{TASK_NAME}.toml"), search_dirs=(root / "tasks",), data_dir=root / "data"
    )


# -- a sentence embedder without a model ------------------------------------------------------------


class HashEmbedder:
    """Unit-length bag-of-words vectors (words hashed into 32 dimensions): notes about the same
    label are near. Counts the texts it embeds (``embedded``) and the pools (``pool_calls``)."""

    def __init__(self) -> None:
        self.embedded = 0
        self.pool_calls = 0

    def encode(self, texts: Sequence[str]) -> Any:
        self.embedded += len(texts)
        rows = np.zeros((len(texts), 32), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in str(text).lower().split():
                rows[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 32] += 1.0
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms == 0, 1.0, norms)

    def encode_pool(self, texts: Sequence[str]) -> Any:
        self.pool_calls += 1
        return self.encode(texts)


def demo_source(task: Task, embedder: HashEmbedder | None = None) -> DemoSource:
    """Demos from the task's train split; with ``embedder``, also the ``minilm`` retriever."""
    train = task.split("train")
    retrievers: dict[str, Retriever] = {}
    if embedder is not None:
        retrievers["minilm"] = EmbeddingRetriever(train, embedder)
    return DemoSource(train, retrievers=retrievers)


# -- the optimizer on a fake completer --------------------------------------------------------------


def new_run_store(path: Path, task: Task, settings: OptimizeSettings) -> RunStore:
    """A new run folder for ``settings`` on ``task``, with the run.json ``promptopt optimize``
    writes (its slices, settings, versions and data hashes)."""
    dev, test = optimize_slices(task, settings)
    return RunStore.create(path, {"run_id": path.name, **new_run_info(task, settings, dev, test)})


def fake_optimizer(
    store: RunStore,
    task: Task,
    settings: OptimizeSettings,
    completer: FakeCompleter,
    *,
    observers: Sequence[Callable[[Event], None]] = (),
    cache: DiskCache | None = None,
    demos: DemoSource | None = None,
    clock: Callable[[], float] | None = None,
) -> OptimizeRun:
    """The run's optimizer as ``promptopt optimize`` (new folder) or ``promptopt resume``
    (a folder with history) builds it, over ``completer`` (through ``cache`` when given)
    metered into the run's ledger. The clock is the completer's unless ``clock`` is given."""
    ledger = restored_ledger(store)
    inner: Completer = completer if cache is None else CachingCompleter(completer, cache)
    return assemble_optimize(
        task,
        settings,
        store,
        metered=MeteredCompleter(inner, ledger),
        ledger=ledger,
        observers=observers,
        clock=clock or completer.clock,
        demos=demos,
    )


# -- a finished run -----------------------------------------------------------------------------------


def build_finished_run(
    path: Path,
    task: Task,
    candidate: Candidate,
    completer: Completer,
    *,
    model_name: str = MODEL,
    embedder: HashEmbedder | None = None,
    dev_limit: int | None = None,
    test_limit: int | None = None,
    test_scored: int | None = None,
    seed: int = 0,
) -> Path:
    """A finished run folder whose winner is ``candidate``: the zero-shot baseline and the
    winner scored on the run's dev and test slices by promptopt's evaluator through
    ``completer``, stored through the run's history (records, evaluation events, ledger), and
    the summary the optimizer would write (stopped by ``max-trials``, no plateau evidence).
    ``test_scored``: the budget ran short in the final scoring, so the winner was scored on
    only the first ``test_scored`` test examples and the baseline on none."""
    settings = OptimizeSettings(
        task=task.name, model=model_name, seed=seed, dev_limit=dev_limit, test_limit=test_limit, concurrency=1
    )
    dev, test = optimize_slices(task, settings)
    store = new_run_store(path, task, settings)
    history = History.load(store)
    ledger = restored_ledger(store)
    evaluator = Evaluator(
        completer=MeteredCompleter(completer, ledger),
        labels=task.labels,
        demo_source=demo_source(task, embedder),
        settings=EvalSettings(model=model_name, temperature=settings.temperature, seed=seed),
    )
    baseline = Candidate(instruction=seed_instruction(task))
    for number, cand in enumerate(dict.fromkeys([baseline, candidate])):
        history.add_candidate(cand)
        history.add_event(
            EvalStart(eval=f"e{number}", candidate=cand.id, trial=number, operator=cand.operator)
        )
        dev_result = _score(evaluator, history, cand, "dev", dev)
        totals = ledger.totals
        history.add_event(
            evaluated(
                f"e{number}",
                cand,
                accuracy=dev_result.scores.accuracy,
                n=len(dev),
                trial=number,
                spend_tokens=totals.live_tokens,
                calls=totals.calls,
                usd=totals.usd,
            )
        )
    if test_scored is None:
        for cand in dict.fromkeys([baseline, candidate]):
            _score(evaluator, history, cand, "test", test)
    else:
        _score(evaluator, history, candidate, "test", test[:test_scored])
    ending = Ending(
        reason="max-trials",
        best=candidate,
        baseline=baseline,
        incomplete=None if test_scored is None else "budget-calls",
        seconds=0.0,
        trials=len({baseline.id, candidate.id}),
        plateau=None,
    )
    summary = summarize(history, ledger, ending, n_dev=len(dev), n_test=len(test), seed=seed)
    store.write_json("summary.json", summary.to_json())
    return path


def evaluated(
    eval_id: str,
    candidate: Candidate,
    *,
    accuracy: float,
    n: int,
    trial: int | None = None,
    spend_tokens: int = 0,
    calls: int = 0,
    usd: float | None = None,
) -> Evaluated:
    """The event of ``candidate`` scored on ``n`` whole dev examples (not raced out)."""
    return Evaluated(
        eval=eval_id,
        candidate=candidate.id,
        trial=trial,
        operator=candidate.operator,
        accuracy=accuracy,
        n=n,
        raced_out=False,
        why=None,
        spend_tokens=spend_tokens,
        calls=calls,
        usd=usd,
        elapsed_s=0.0,
    )


def add_scored(history: History, candidate: Candidate, correct: Sequence[bool], *, tokens: int = 100) -> None:
    """``candidate`` scored by hand into ``history``: right or wrong on dev examples ``dev-0``,
    ``dev-1``, ... as ``correct`` says, ``tokens`` prompt tokens per call, and its event."""
    history.add_candidate(candidate)
    for i, right in enumerate(correct):
        row = ExampleRecord(f"dev-{i}", "a", "a", "a", right, "ok", tokens, 1, 0.1, None, False)
        history.add_record(candidate.id, "dev", row)
    event = evaluated(
        f"e{len(history.events)}", candidate, accuracy=sum(correct) / len(correct), n=len(correct)
    )
    history.add_event(event)


def _score(
    evaluator: Evaluator, history: History, candidate: Candidate, split: str, examples: Sequence[Example]
) -> EvalResult:
    def keep(record: ExampleRecord) -> None:
        history.add_record(candidate.id, split, record)

    return evaluator.evaluate(candidate, examples, on_record=keep)
