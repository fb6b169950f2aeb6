"""Putting the fine-tuning spec together from a run and its task, and writing its folder.

Everything is computed before anything is written, and an output folder that exists and is
not empty is refused without ``force``, so a failure never leaves a half-written spec over a
previous one. The one exception is the small fine-tune (``--small-model``): it is saved into
``classifier/`` of the (checked) output folder while the spec is computed, and scored from there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from promptopt.errors import UsageError
from promptopt.handoff.finetune import chat, defaults, render
from promptopt.handoff.finetune.datacard import DataCard, agreed_errors, data_card
from promptopt.handoff.finetune.decision import (
    Check,
    Decision,
    check_ceiling,
    check_cost,
    check_examples,
    check_format,
    check_learned,
    decide,
)
from promptopt.handoff.finetune.economics import (
    Economics,
    GivenPrice,
    PerCall,
    PriceFn,
    Side,
    Training,
    fine_tuned_name,
    resolve_price,
)
from promptopt.handoff.finetune.gate import Gate, gate_task_files
from promptopt.handoff.finetune.probe import ProbeResult, run_probe
from promptopt.handoff.finetune.small import FOLDER as SMALL_FOLDER
from promptopt.handoff.finetune.small import SmallResult, train_small
from promptopt.handoff.format import clean_json
from promptopt.llm.classifier import TrainSettings
from promptopt.prompt.render import system_message
from promptopt.run.reader import FinishedRun, Latency, run_test_examples
from promptopt.run.store import atomic_write
from promptopt.task.spec import Example, Task

DEFAULT_TOKENS_PER_CHAR = 0.25  # about 4 characters per token, when the run measured nothing


@dataclass(frozen=True)
class SpecOptions:
    """What the user decides: the model to fine-tune, the volume, prices the map lacks, a
    latency limit, and the thresholds of condition (c)."""

    target_model: str = defaults.TARGET_MODEL
    monthly_volume: int = defaults.MONTHLY_VOLUME
    prompted_price: GivenPrice = field(default_factory=GivenPrice)
    target_price: GivenPrice = field(default_factory=GivenPrice)
    train_usd_per_mtok: float | None = None
    epochs: int = defaults.EPOCHS
    max_latency_ms: float | None = None
    min_examples: int = defaults.MIN_EXAMPLES
    min_per_class: int = defaults.MIN_PER_CLASS
    val_fraction: float = defaults.VAL_FRACTION
    small_model: bool = False  # train the small fine-tune (minutes of CPU) into the spec folder

    def check(self) -> None:
        """Raise UsageError for a value that cannot be used."""
        self.prompted_price.check("--price-per-mtok-in and --price-per-mtok-out")
        self.target_price.check("--target-price-per-mtok-in and --target-price-per-mtok-out")
        for flag, value in (
            ("--monthly-volume", self.monthly_volume),
            ("--epochs", self.epochs),
            ("--min-per-class", self.min_per_class),
        ):
            if value < 1:
                raise UsageError(
                    f"{flag} must be at least 1 (seen: {value})", hint=f"drop {flag} for the default"
                )
        for flag, number in (
            ("--train-price-per-mtok", self.train_usd_per_mtok),
            ("--max-latency-ms", self.max_latency_ms),
        ):
            if number is not None and (number < 0 or not math.isfinite(number)):
                raise UsageError(
                    f"{flag} must be finite and >= 0 (seen: {number})",
                    hint=f"drop {flag} to leave it unknown",
                )


def options_from_flags(flags: Mapping[str, Any]) -> SpecOptions:
    """Options from the CLI's flag values; prices come as ``(in, out)`` pairs."""
    values = dict(flags)
    for key in ("prompted_price", "target_price"):
        values[key] = GivenPrice(*values.get(key, (None, None)))
    return SpecOptions(**values)


@dataclass(frozen=True)
class Spec:
    run: FinishedRun
    task: Task
    options: SpecOptions
    system_prompt: str
    train: tuple[Example, ...]
    val: tuple[Example, ...]
    gate_examples: tuple[Example, ...]
    card: DataCard
    probe: ProbeResult | None
    small: SmallResult | None
    economics: Economics
    best_latency_s: float
    task_latency: Latency
    checks: tuple[Check, ...]
    decision: Decision
    gate: Gate


def build_spec(
    run: FinishedRun, task: Task, options: SpecOptions, price: PriceFn, *, small_folder: Path | None = None
) -> Spec:
    """Compute the whole spec (no model call; ``price`` only looks prices up). With
    ``options.small_model`` the small fine-tune is trained and saved into ``small_folder``
    (the only thing written here)."""
    options.check()
    gate_examples = run_test_examples(run, task)
    card = data_card(task.name, task.labels, task.split("train"), task.split("test"), gate_examples)
    system = chat.training_system_prompt(run.best.instruction, task.labels)
    train, val = chat.stratified_holdout(card.cleaning.usable, options.val_fraction, seed=run.info.seed)
    economics = estimate_economics(run, task, options, price, system=system, train=train)
    best_latency = _mean([r.latency_s for r in run.best_test_rows if r.status != "error"])
    latency = run.task_latency()
    probe = run_probe(card.cleaning.usable, gate_examples, seed=run.info.seed)
    small = _small(options, small_folder, card.cleaning.usable, gate_examples, seed=run.info.seed)
    learned = [
        ("the probe", probe.correct if probe else {}),
        ("the small fine-tune", small.correct if small else {}),
    ]
    card = replace(card, agreed=agreed_errors(gate_examples, _judges(run, probe, small)))
    checks = (
        check_ceiling(run.summary),
        check_format(task.labels, card, run.best_test_rows),
        check_examples(card, min_examples=options.min_examples, min_per_class=options.min_per_class),
        check_cost(economics, best_latency, latency, options.max_latency_ms),
        check_learned(learned, run.best_test_rows, seed=run.info.seed),
    )
    return Spec(
        run=run,
        task=task,
        options=options,
        system_prompt=system,
        train=train,
        val=val,
        gate_examples=gate_examples,
        card=card,
        probe=probe,
        small=small,
        economics=economics,
        best_latency_s=best_latency,
        task_latency=latency,
        checks=checks,
        decision=decide(checks),
        gate=_gate(run, task, system),
    )


def _judges(
    run: FinishedRun, probe: ProbeResult | None, small: SmallResult | None
) -> list[tuple[str, Mapping[str, str | None]]]:
    """Who answered the gate: the best prompt (a failed call is no answer) and each trained model."""
    prompt: dict[str, str | None] = {
        r.example_id: r.prediction if r.status != "error" else None for r in run.best_test_rows
    }
    judges: list[tuple[str, Mapping[str, str | None]]] = [("the best prompt", prompt)]
    judges += [("the probe", dict(probe.predicted))] if probe is not None else []
    judges += [("the small fine-tune", dict(small.predicted))] if small is not None else []
    return judges


def _small(
    options: SpecOptions, folder: Path | None, train: Sequence[Example], test: Sequence[Example], *, seed: int
) -> SmallResult | None:
    if not options.small_model:
        return None
    if folder is None:
        raise UsageError(
            "the small fine-tune needs a folder to be saved in", hint="build the spec with write_for_run"
        )
    return train_small(train, test, folder, settings=TrainSettings(seed=seed))


def _gate(run: FinishedRun, task: Task, system: str) -> Gate:
    run.require_test_score()
    s = run.summary
    ci = s.best_test_ci or (float("nan"), float("nan"))
    return Gate(
        task=task.name,
        run_id=run.run_id,
        test_ids=run.scored_test_ids,
        data_hashes=dict(task.data_hashes),
        accuracy=float(s.best_test_accuracy or 0.0),
        ci=ci,
        macro_f1=s.best_test_macro_f1,
        best_candidate_id=run.best.id,
        prompted_model=run.info.model,
        instruction=run.best.instruction,
        system_prompt=system,
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


# -- economics --------------------------------------------------------------------------------


def tokens_per_char(run: FinishedRun, task: Task) -> float:
    """Prompt tokens per character of rendered text, measured on the zero-shot baseline's test
    calls (its prompt is the training prompt's shape: instruction, labels, input)."""
    if run.baseline is None:
        return DEFAULT_TOKENS_PER_CHAR
    by_id = {e.id: e for e in task.split("test")}
    rows = [r for r in run.baseline_test_rows if r.status != "error" and r.example_id in by_id]
    system = len(system_message(run.baseline, task.labels))
    chars = sum(system + len(by_id[r.example_id].text) for r in rows)
    tokens = sum(r.prompt_tokens for r in rows)
    return tokens / chars if chars and tokens else DEFAULT_TOKENS_PER_CHAR


def estimate_economics(
    run: FinishedRun,
    task: Task,
    options: SpecOptions,
    price: PriceFn,
    *,
    system: str,
    train: Sequence[Example],
) -> Economics:
    rate = tokens_per_char(run, task)
    ok = [r for r in run.best_test_rows if r.status != "error"]
    measured = PerCall(
        _mean([float(r.prompt_tokens) for r in ok]), _mean([float(r.completion_tokens) for r in ok])
    )
    gate = run_test_examples(run, task)
    estimated = PerCall(
        rate * (len(system) + _mean([len(e.text) for e in gate])),
        max(1.0, rate * _mean([len(e.label) for e in gate])),
    )
    target = fine_tuned_name(options.target_model)
    return Economics(
        prompted=Side(
            run.info.model, measured, True, resolve_price(run.info.model, options.prompted_price, price)
        ),
        fine_tuned=Side(target, estimated, False, resolve_price(target, options.target_price, price)),
        training=Training(
            tokens_per_epoch=rate * sum(len(system) + len(e.text) + len(e.label) for e in train),
            epochs=options.epochs,
            usd_per_mtok=options.train_usd_per_mtok,
        ),
        monthly_volume=options.monthly_volume,
    )


# -- files ------------------------------------------------------------------------------------


def _jsonl(rows: Iterable[Any]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def spec_files(spec: Spec) -> dict[str, str]:
    """Every file of the spec folder, by relative path."""
    system, task = spec.system_prompt, spec.task
    return {
        "proposal.md": render.proposal_md(spec),
        "proposal.json": _json(render.proposal_json(spec)),
        "train.jsonl": _jsonl(chat.openai_row(system, e) for e in spec.train),
        "val.jsonl": _jsonl(chat.openai_row(system, e) for e in spec.val),
        "hf_train.jsonl": _jsonl(chat.hf_row(system, e) for e in spec.train),
        "hf_val.jsonl": _jsonl(chat.hf_row(system, e) for e in spec.val),
        "eval_gate.md": render.eval_gate_md(spec),
        "gate.json": _json(clean_json(spec.gate.to_json())),
        "data_card.md": render.data_card_md(spec.card),
        "data_card.json": _json(clean_json(spec.card.to_json())),
        **gate_task_files(
            spec.gate,
            description=task.spec.description,
            labels=task.labels,
            test=spec.gate_examples,
            train=task.split("train"),
            dev=task.split("dev"),
        ),
    }


def check_out_dir(out: Path, *, force: bool) -> None:
    """Refuse an output folder that exists and is not empty, unless ``force``."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder", hint="choose a folder for the spec")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(
            f"output folder {out} already exists and is not empty "
            f"({sum(1 for _ in out.iterdir())} entries); nothing was written",
            hint="pass --force to overwrite the spec files in it, or choose another --out",
        )


def write_spec(files: Mapping[str, str], out: Path, *, force: bool) -> list[Path]:
    """Write the files under ``out`` (each atomically) and return their paths."""
    check_out_dir(out, force=force)
    written = []
    for name, text in files.items():
        atomic_write(out / name, text)
        written.append(out / name)
    return written


def write_for_run(
    run: FinishedRun, task: Task, options: SpecOptions, price: PriceFn, out: Path, *, force: bool
) -> tuple[Spec, list[Path]]:
    """Build the spec of ``run`` and write it to ``out`` (refused if ``out`` is not empty,
    unless ``force``; checked before the work)."""
    check_out_dir(out, force=force)
    spec = build_spec(run, task, options, price, small_folder=out / SMALL_FOLDER)
    return spec, write_spec(spec_files(spec), out, force=True)
