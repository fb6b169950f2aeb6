"""For the export, runtime and verify tests: a small task written to disk (so commands can load
it), a deterministic fake model whose answer depends on the whole request (any change in
rendering or parameters changes about half of its answers, so a one-for-one comparison is a
real check), a fake sentence embedder, and finished run folders built with promptopt's own
evaluator, history and store."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from promptopt.compose import OptimizeSettings, new_run_info, optimize_slices, seed_instruction
from promptopt.evaluate.evaluator import EvalResult, EvalSettings, Evaluator
from promptopt.llm.types import Completer, CompletionRequest, CompletionResponse
from promptopt.prompt.candidate import Candidate
from promptopt.prompt.demos import DemoSource
from promptopt.prompt.retrieve import EmbeddingRetriever, Retriever
from promptopt.run.history import History
from promptopt.run.store import RunStore
from promptopt.task.load import load_task
from promptopt.task.spec import Task

LABELS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta")
WORDS = ("river", "stone", "cloud", "metal", "paper", "glass", "sand", "wood")
MODEL = "fake/model"
TASK_TOML = """name = "fake"
description = "Topic of short notes"
metric = "accuracy"
[fields]
input = "text"
label = "label"
[data]
dir = "fake"
train = "train.jsonl"
dev = "dev.jsonl"
test = "test.jsonl"
labels = "labels.txt"
"""


def _rows(n: int, offset: int) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        words = f"{WORDS[(i * 7 + offset) % len(WORDS)]} {WORDS[(i * 3) % len(WORDS)]}"
        rows.append({"text": f"note {offset + i} about {label} {words}", "label": label})
    return rows


def write_task(root: Path, *, n_train: int = 48, n_dev: int = 18, n_test: int = 30) -> Path:
    """``root/tasks/fake.toml`` with its data under ``root/data/fake``; returns the task file."""
    data = root / "data" / "fake"
    data.mkdir(parents=True, exist_ok=True)
    for split, n, offset in (("train", n_train, 0), ("dev", n_dev, 1000), ("test", n_test, 2000)):
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows(n, offset)))
    (data / "labels.txt").write_text("\n".join(LABELS) + "\n")
    toml = root / "tasks" / "fake.toml"
    toml.parent.mkdir(parents=True, exist_ok=True)
    toml.write_text(TASK_TOML)
    return toml


def load_fake(root: Path) -> Task:
    return load_task(str(root / "tasks" / "fake.toml"), search_dirs=(root / "tasks",), data_dir=root / "data")


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass
class ScriptedModel:
    """A deterministic Completer. It answers the gold label (read from the note's text) more
    often when the demos show it, otherwise another label; in the output format the prompt
    asks for (codes or labels). ``salt`` makes another model: other answers on some inputs."""

    salt: str = ""
    calls: int = 0
    seen: list[CompletionRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fingerprint(self, model: str) -> str:
        return ""

    def complete(self, request: CompletionRequest) -> CompletionResponse:
        with self._lock:
            self.calls += 1
            self.seen.append(request)
        text = ("Decide which topic the note is about, variant 2. Reply with the label only."
                if request.role == "proposer" else self._answer(request))
        chars = sum(len(c) for _, c in request.messages)
        return CompletionResponse(text=text, prompt_tokens=chars // 4, completion_tokens=1, usd=0.0, latency_s=0.001)

    def _answer(self, request: CompletionRequest) -> str:
        system, last = request.messages[0][1], request.messages[-1][1]
        text = last.rsplit("Input: ", 1)[-1]
        found = re.search(r"about (\w+)", text)
        gold = found.group(1) if found else LABELS[0]
        codes = {label: code for code, label in re.findall(r"^(L\d+): (\w+)", system, re.M)}
        as_code = "Reply with the code only." in system
        shown = "\n".join([system.split("\nExamples:\n", 1)[-1] if "\nExamples:\n" in system else "",
                           *(c for _, c in request.messages[1:-1]), last[: len(last) - len(text)]])
        answer = codes.get(gold, gold) if as_code else gold
        helped = f"about {gold}" in shown or re.search(rf"\b{re.escape(answer)}\b", shown) is not None
        key = json.dumps(request.canonical(), sort_keys=True)
        if _unit(self.salt, key) < (0.7 if helped else 0.3):
            return answer
        wrong = LABELS[(LABELS.index(gold) + 1 + int(_unit(key, "wrong") * 4)) % len(LABELS)] if gold in LABELS else LABELS[0]
        return codes.get(wrong, wrong) if as_code else wrong


class HashEmbedder:
    """Unit-length bag-of-words vectors (hashed into 32 dimensions): notes about the same label
    are near. Counts the texts it embeds."""

    def __init__(self) -> None:
        self.embedded = 0

    def encode(self, texts: Any) -> Any:
        self.embedded += len(texts)
        rows = np.zeros((len(texts), 32), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in str(text).lower().split():
                rows[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 32] += 1.0
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms == 0, 1.0, norms)

    def encode_pool(self, texts: Any) -> Any:
        return self.encode(texts)


def demo_source(task: Task, embedder: HashEmbedder | None) -> DemoSource:
    train = task.split("train")
    retrievers: dict[str, Retriever] = {}
    if embedder is not None:
        retrievers["minilm"] = EmbeddingRetriever(train, embedder)
    return DemoSource(train, retrievers=retrievers)


def make_run(path: Path, task: Task, candidate: Candidate, model: Completer, *, model_name: str = MODEL,
             embedder: HashEmbedder | None = None, dev_limit: int | None = None,
             test_limit: int | None = None, seed: int = 0) -> Path:
    """A finished run folder whose winner is ``candidate``: the zero-shot baseline and the
    winner scored on the run's dev and test slices by promptopt's evaluator, records stored
    through the run's history, and a summary with the keys the optimizer writes."""
    settings = OptimizeSettings(task=task.name, model=model_name, seed=seed, dev_limit=dev_limit,
                                test_limit=test_limit, concurrency=1)
    dev, test = optimize_slices(task, settings)
    store = RunStore.create(path, {"run_id": path.name, **new_run_info(task, settings, dev, test)})
    history = History.load(store)
    evaluator = Evaluator(completer=model, labels=task.labels, demo_source=demo_source(task, embedder),
                          settings=EvalSettings(model=model_name, temperature=settings.temperature, seed=seed))
    baseline = Candidate(instruction=seed_instruction(task))
    results: dict[tuple[str, str], EvalResult] = {}
    for cand in dict.fromkeys([baseline, candidate]):
        history.add_candidate(cand)
        for split, examples in (("dev", dev), ("test", test)):
            def keep(record: Any, c: str = cand.id, s: str = split) -> None:
                history.add_record(c, s, record.to_json())

            results[(cand.id, split)] = evaluator.evaluate(cand, examples, on_record=keep)
    store.write_json("summary.json", _summary(results, baseline, candidate, len(dev), len(test)))
    return path


def _summary(results: dict[tuple[str, str], EvalResult], baseline: Candidate, best: Candidate,
             n_dev: int, n_test: int) -> dict[str, Any]:
    b, w = results[(baseline.id, "test")].scores, results[(best.id, "test")].scores
    return {"best_candidate_id": best.id, "baseline_candidate_id": baseline.id,
            "baseline_test_accuracy": b.accuracy, "baseline_test_ci": [b.ci_low, b.ci_high],
            "baseline_test_macro_f1": b.macro_f1, "best_test_accuracy": w.accuracy,
            "best_test_ci": [w.ci_low, w.ci_high], "best_test_macro_f1": w.macro_f1,
            "test_n": n_test, "test_incomplete": None,
            "best_dev_accuracy": results[(best.id, "dev")].scores.accuracy, "best_dev_n": n_dev,
            "dev_n": n_dev, "stop_reason": "max-trials", "best_candidate": best.to_json()}


def export_run(run: Path, task: Task, *, fmt: str = "json", out: Path | None = None, force: bool = False,
               embedder: HashEmbedder | None = None) -> list[Path]:
    """``promptopt export`` as a library call: the written files, the artifact first (the
    program first for ``dspy``)."""
    from promptopt.handoff.export import build, source

    found = source.open_run(run)
    source.check_same_data(task, found)
    needs = build.needs_embeddings(found.candidate)
    built = build.build(found, task, embedder=embedder or (HashEmbedder() if needs else None),
                        embed_pool=fmt != "messages")
    return build.write(built, build.ExportPlan.of(run, fmt, out), force=force)
