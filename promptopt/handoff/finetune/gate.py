"""The eval gate: the run's test examples, the score a fine-tuned model must beat (the best
prompt's test accuracy, with its interval), and the exact commands that check it.

The gate ships its own small task under ``gate/`` in the spec folder: ``test.jsonl`` holds the
run's test examples in run order, ``train.jsonl`` and ``dev.jsonl`` copy the task's splits (a
task needs them; the gate uses no demos), ``labels.txt`` keeps the label order, and
``task.toml`` carries the training system prompt's instruction. ``promptopt eval`` on it
therefore renders exactly the prompt the fine-tuned model was trained with, on exactly the
examples the best prompt was scored on, from the spec folder alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptopt.task.spec import Example

MODEL_PLACEHOLDER = "<FINE_TUNED_MODEL>"
GATE_DIR = "gate"


def ids_sha256(ids: Sequence[str]) -> str:
    """sha256 of the ids joined by newlines, in order."""
    return hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()


def eval_command(model: str = MODEL_PLACEHOLDER) -> str:
    """Run from the spec folder."""
    return (
        f"promptopt eval {GATE_DIR}/task.toml --data-dir {GATE_DIR} --split test --model {model} "
        "--no-cache --json gate_result.json --records gate_records.jsonl"
    )


def check_command() -> str:
    """Exit 0 when the result covers every gate example without errors and beats the gate."""
    return (
        "python -c \"import json,sys; r=json.load(open('gate_result.json')); g=json.load(open('gate.json')); "
        "ok=r['errors']==0 and r['n']==g['n'] and r['accuracy']>g['must_beat']['accuracy']; "
        "print('PASS' if ok else 'FAIL', r['accuracy'], 'vs', g['must_beat']['accuracy']); sys.exit(0 if ok else 1)\""
    )


@dataclass(frozen=True)
class Gate:
    task: str
    run_id: str
    test_ids: tuple[str, ...]
    data_hashes: Mapping[str, str]
    accuracy: float
    ci: tuple[float, float]
    macro_f1: float | None
    best_candidate_id: str
    prompted_model: str
    instruction: str
    system_prompt: str

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "run_id": self.run_id,
            "split": "test",
            "n": len(self.test_ids),
            "test_ids": list(self.test_ids),
            "test_ids_sha256": ids_sha256(self.test_ids),
            "data_hashes": dict(self.data_hashes),
            "must_beat": {
                "metric": "accuracy",
                "accuracy": self.accuracy,
                "ci95": list(self.ci),
                "macro_f1": self.macro_f1,
                "what": "the best prompt's test accuracy",
                "candidate_id": self.best_candidate_id,
                "model": self.prompted_model,
            },
            "rule": (
                "a fine-tuned model passes when it answers all n gate examples without errors and its "
                "accuracy is above must_beat.accuracy; it is better beyond noise when the lower bound of "
                "its 95% interval is above must_beat.ci95[1]"
            ),
            "system_prompt": self.system_prompt,
            "command": eval_command(),
            "check_command": check_command(),
            "cwd": "the spec folder (the folder that holds gate.json)",
        }


def _toml_string(text: str) -> str:
    """A TOML basic string (JSON escapes are valid TOML; DEL must be escaped too)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _jsonl(examples: Sequence[Example]) -> str:
    return "".join(
        json.dumps({"text": e.text, "label": e.label}, ensure_ascii=False) + "\n" for e in examples
    )


def gate_task_files(
    gate: Gate,
    *,
    description: str,
    labels: Sequence[str],
    test: Sequence[Example],
    train: Sequence[Example],
    dev: Sequence[Example],
) -> dict[str, str]:
    """The gate task's files, by path relative to the spec folder."""
    toml = "\n".join(
        [
            f"# The eval gate of run {gate.run_id}: its {len(test)} test examples, in run order.",
            f"# Check a fine-tuned model from the spec folder with: {eval_command()}",
            f"name = {_toml_string(gate.task + '-gate')}",
            f"description = {_toml_string(description)}",
            'metric = "accuracy"',
            f"instruction = {_toml_string(gate.instruction)}",
            "",
            "[fields]",
            'input = "text"',
            'label = "label"',
            "",
            "[data]",
            'dir = "."',
            'train = "train.jsonl"',
            'dev = "dev.jsonl"',
            'test = "test.jsonl"',
            'labels = "labels.txt"',
            "",
        ]
    )
    return {
        f"{GATE_DIR}/task.toml": toml,
        f"{GATE_DIR}/test.jsonl": _jsonl(test),
        f"{GATE_DIR}/train.jsonl": _jsonl(train),
        f"{GATE_DIR}/dev.jsonl": _jsonl(dev),
        f"{GATE_DIR}/labels.txt": "".join(f"{label}\n" for label in labels),
    }
