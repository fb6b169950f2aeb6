"""A synthetic task and a deterministic fake model for optimizer tests: no network, no key,
no llama.cpp. The fake answers correctly with a probability that rises with demos, with demos
of the gold label (retrieval finds them) and with proposer-written instructions, so the search
has a real signal to find."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

from promptopt.llm.types import CompletionRequest, CompletionResponse
from promptopt.task.spec import DataSpec, Example, Task, TaskSpec

LABELS = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta")
WORDS = ("river", "stone", "cloud", "metal", "paper", "glass", "sand", "wood")


def _examples(split: str, n: int, offset: int) -> tuple[Example, ...]:
    out = []
    for i in range(n):
        label = LABELS[i % len(LABELS)]
        text = f"note {offset + i} about {label} {WORDS[(i * 7 + offset) % len(WORDS)]} {WORDS[(i * 3) % len(WORDS)]}"
        out.append(Example(f"{split}-{i}", text, label))
    return tuple(out)


def fake_task(n_train: int = 120, n_dev: int = 60, n_test: int = 48) -> Task:
    spec = TaskSpec(name="fake", description="Topic of short notes", metric="accuracy", input_field="text",
                    label_field="label", data=DataSpec(dir="fake", train="train.jsonl", dev="dev.jsonl",
                                                       test="test.jsonl"))
    splits = {"train": _examples("train", n_train, 0), "dev": _examples("dev", n_dev, 1000),
              "test": _examples("test", n_test, 2000)}
    return Task(spec=spec, labels=LABELS, splits=splits, data_hashes={"train": "t", "dev": "d", "test": "x"})


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass
class FakeModel:
    """A Completer. ``flat``: every prompt has the same accuracy (a plateau from the start).
    ``kill_after``: SIGKILL this process at that call (a crash mid-run). ``clock``: advanced
    by ``seconds_per_call`` on each call (time limits without waiting)."""

    usd_per_call: float | None = 0.0
    flat: bool = False
    kill_after: int | None = None
    proposer_reply: str | None = None
    seconds_per_call: float = 0.0
    now: float = 0.0
    calls: int = 0
    seen: list[CompletionRequest] = field(default_factory=list)

    def fingerprint(self, model: str) -> str:
        return ""

    def clock(self) -> float:
        return self.now

    def complete(self, request: CompletionRequest) -> CompletionResponse:
        self.calls += 1
        self.now += self.seconds_per_call
        self.seen.append(request)
        if self.kill_after is not None and self.calls >= self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        text = self._proposal(request) if request.role == "proposer" else self._answer(request)
        chars = sum(len(c) for _, c in request.messages)
        return CompletionResponse(text=text, prompt_tokens=chars // 4, completion_tokens=2,
                                  usd=self.usd_per_call, latency_s=self.seconds_per_call or 0.001)

    def _proposal(self, request: CompletionRequest) -> str:
        if self.proposer_reply is not None:
            return self.proposer_reply
        return f"Read the note and decide which topic it is about, variant {(request.seed or 0) % 1000}."

    def _answer(self, request: CompletionRequest) -> str:
        system = request.messages[0][1]
        text = request.messages[-1][1]
        gold = next((label for label in LABELS if f"about {label}" in text), LABELS[0])
        demos = [c for r, c in request.messages[1:-1] if r == "assistant"]
        p = 0.5 if self.flat else self._accuracy(system, demos, gold)
        if _unit(text, system if not self.flat else "", len(demos)) < p:
            return gold
        return LABELS[(LABELS.index(gold) + 1 + int(_unit(text, "wrong") * 4)) % len(LABELS)]

    @staticmethod
    def _accuracy(system: str, demos: list[str], gold: str) -> float:
        p = 0.3
        if demos:
            p += 0.2
        if gold in demos:
            p += 0.3
        if "variant" in system:
            p += 0.1
        return p


def write_task_folder(root: Path, rows: dict[str, list[tuple[str, str]]], labels: tuple[str, ...]) -> Path:
    """The fake task on disk: ``root/data/fake/{split}.jsonl`` from (text, label) rows, its
    labels file, and ``root/fake.toml`` pointing at them; returns the task file."""
    folder = root / "data" / "fake"
    folder.mkdir(parents=True, exist_ok=True)
    for split, items in rows.items():
        (folder / f"{split}.jsonl").write_text(
            "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in items), encoding="utf-8")
    (folder / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    task_file = root / "fake.toml"
    task_file.write_text('name = "fake"\ndescription = "Topic of short notes"\n[fields]\ninput = "text"\n'
                         'label = "label"\n[data]\ndir = "fake"\ntrain = "train.jsonl"\ndev = "dev.jsonl"\n'
                         'test = "test.jsonl"\nlabels = "labels.txt"\n', encoding="utf-8")
    return task_file


def split_rows(task: Task) -> dict[str, list[tuple[str, str]]]:
    return {split: [(e.text, e.label) for e in task.split(split)] for split in ("train", "dev", "test")}
