"""Markdown and JSON of the spec: the proposal, the eval gate and the data card."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from promptopt.evaluate.plateau import empty_evidence
from promptopt.handoff.finetune import decision, gate
from promptopt.handoff.finetune.datacard import AgreedErrors, DataCard, Lengths
from promptopt.handoff.finetune.economics import PAYBACK_MONTHS, Economics, Side
from promptopt.handoff.format import clean_json, interval, num, pct, usd

if TYPE_CHECKING:
    from promptopt.handoff.finetune.spec import Spec


def val_method(spec: Spec) -> str:
    return (
        f"a label-stratified, seeded {spec.options.val_fraction:.0%} of the cleaned train split "
        "(dev, used to pick the prompt, and test, the gate, stay untouched)"
    )


# -- proposal ---------------------------------------------------------------------------------


def proposal_md(spec: Spec) -> str:
    run, d = spec.run, spec.decision
    lines = [
        f"# Fine-tuning proposal: {spec.task.name}",
        "",
        f"Run `{run.run_id}`, model `{run.info.model}`, best prompt `{run.best.id}`. Written by "
        "`promptopt finetune-spec` from the run folder and the task data, with no model call.",
        "",
        f"## Verdict: **{d.verdict.upper()}**",
        "",
        *[f"- {w}" for w in d.why],
        "",
        "| condition | status | evidence |",
        "| --- | --- | --- |",
        *[f"| ({c.key}) {c.title} | **{c.status}** | {c.finding} |" for c in spec.checks],
        "",
        "Decision rule: **no** when (b) is not met (the output is not a fixed label set), or when (d) "
        "is not met (cost and latency are known and do not rule out the prompted model) and (e) is not; "
        "**go** when (b) and (c) are met and either (e) a trained model beats the best prompt by more "
        "than its paired interval, or (a) the ceiling was reached and (d) is met; **not yet** "
        "otherwise, with what would settle each open condition.",
        "",
    ]
    lines += _ceiling_section(spec) + _format_section(spec) + _examples_section(spec)
    lines += _cost_section(spec) + _files_section(spec)
    return "\n".join(lines) + "\n"


def _ceiling_section(spec: Spec) -> list[str]:
    s = spec.run.summary
    p = s.plateau or empty_evidence("no evidence recorded")
    lines = [
        "## (a) The prompt ceiling",
        "",
        f"- Stop reason: `{s.stop_reason}`. Plateau test: **{p.state}** ({p.reason}).",
        f"- Resolution: {p.resolution_text()}.",
        f"- Window: the last 30% of spend, tokens {num(p.window_start, 0)} to {num(p.window_end, 0)}; "
        f"{p.n_in_window} candidates compared with the incumbent `{p.incumbent_id}` "
        f"(dev {pct(p.incumbent_accuracy)}).",
        f"- Smallest p-value {num(p.min_p_value, 3)} (one-sided exact McNemar, H1: the candidate is better); "
        f"smallest detectable effect (paired, power 0.8) {pct(p.mde)}; projected gain for 50% more spend "
        f"{pct(p.projected_gain)}; dev ceiling {pct(p.ceiling)} "
        f"{interval([p.ceiling_low, p.ceiling_high])}.",
        "",
    ]
    if p.effects:
        lines += [
            "| candidate | paired examples | effect vs incumbent | p-value |",
            "| --- | ---: | ---: | ---: |",
            *[
                f"| `{e.candidate_id}` | {e.n_paired} | {_points(e.effect)} | {num(e.p_value, 3)} |"
                for e in p.effects
            ],
            "",
        ]
    return lines + _against_probe(spec)


def _points(value: float) -> str:
    return f"{value * 100:+.1f} pts" if math.isfinite(value) else "n/a"


def _against_probe(spec: Spec) -> list[str]:
    s, probe, n = spec.run.summary, spec.probe, len(spec.gate_examples)
    rows = [
        f"| zero-shot baseline (`{s.baseline_candidate_id}`) | {pct(s.baseline_test_accuracy)} "
        f"{interval(s.baseline_test_ci)} |",
        f"| best prompt (`{spec.run.best.id}`, {spec.run.best.demo_strategy} demos) | "
        f"{pct(s.best_test_accuracy)} {interval(s.best_test_ci)} |",
    ]
    if probe is not None:
        rows.append(
            f"| fine-tune probe: {probe.method}, on {probe.n_train} cleaned train examples | "
            f"{pct(probe.scores.accuracy)} {interval([probe.scores.ci_low, probe.scores.ci_high])} |"
        )
    small = spec.small
    if small is not None:
        rows.append(
            f"| small fine-tune: {small.method}, on {small.n_train} cleaned train examples, {small.epochs} epoch(s) "
            f"({small.train_seconds:.0f} s; {small.ms_per_example:.1f} ms per example; {small.size_bytes / 1e6:.0f} MB) | "
            f"{pct(small.scores.accuracy)} {interval([small.scores.ci_low, small.scores.ci_high])} |"
        )
    return [
        f"### Prompt ceiling against learning from the data (the same {n} test examples)",
        "",
        "| | test accuracy [95% bootstrap interval] |",
        "| --- | ---: |",
        *rows,
        "",
        _probe_reading(spec),
        "",
        *(
            [agreed_summary(spec.card.agreed) + " (Listed in `data_card.md`.)", ""]
            if spec.card.agreed
            else []
        ),
        *_small_lines(spec),
    ]


def _small_lines(spec: Spec) -> list[str]:
    small = spec.small
    if small is None:
        return [
            "No small fine-tune was trained (`promptopt finetune-spec RUN --small-model` trains one on the CPU).",
            "",
        ]
    return [
        f"The small fine-tune is saved in `{small.folder.name}/` and scores through the gate as a model "
        f"(`{small.model}`), from this folder:",
        "",
        "```bash",
        gate.eval_command(small.model),
        gate.check_command(),
        "```",
        "",
    ]


def _probe_reading(spec: Spec) -> str:
    probe, s = spec.probe, spec.run.summary
    if probe is None:
        return "No probe: the cleaned train split has fewer than two labels."
    low, high = s.best_test_ci or (math.nan, math.nan)
    if probe.scores.ci_low > high:
        return "The probe's interval lies above the best prompt's: the labeled data teaches more than the prompt reached."
    if probe.scores.ci_high < low:
        return (
            "The probe's interval lies below the best prompt's: a linear model on this data does not reach the "
            "prompt; a fine-tuned language model has to do better than the probe to pass the gate."
        )
    return "The intervals overlap: on these examples the probe and the best prompt are not told apart."


def _format_section(spec: Spec) -> list[str]:
    invalid = sum(r.status == "invalid" for r in spec.run.best_test_rows)
    labels = ", ".join(f"`{label}`" for label in spec.task.labels)
    source = "the task's labels file" if spec.task.spec.data.labels else "the labels seen in train"
    return [
        "## (b) The output format",
        "",
        f"- {len(spec.task.labels)} labels, a closed set from {source}; the fine-tuned model answers with the "
        "label name only (the training files' assistant message is exactly one label).",
        f"- The best prompt answered outside the label set {invalid} times on {len(spec.run.best_test_rows)} test "
        f"examples (its output format: `{spec.run.best.output_format}`).",
        f"- Labels: {labels}.",
        "",
    ]


def _examples_section(spec: Spec) -> list[str]:
    card, o = spec.card, spec.options
    c = card.cleaning
    small = card.under(o.min_per_class)
    smallest = sorted(card.classes, key=lambda x: x.usable)[:5]
    return [
        "## (c) Labeled examples",
        "",
        f"- Train split: {c.total} examples. Exact duplicates (lower-cased, whitespace folded): {c.duplicates}. "
        f"Conflicting labels: {c.conflicting_texts} texts carrying 2+ labels ({c.conflicting_examples} examples). "
        f"Also in the test split: {c.test_overlap_examples} examples.",
        f"- Usable after removing those (one copy kept of each duplicate): **{len(c.usable)}** "
        f"(threshold {o.min_examples}).",
        f"- Classes under {o.min_per_class} usable examples: {len(small)}"
        + (f" ({', '.join(f'`{x.label}` {x.usable}' for x in small)})" if small else "")
        + ".",
        f"- Smallest classes: {', '.join(f'`{x.label}` {x.usable}' for x in smallest)}; largest/smallest "
        f"{num(card.imbalance())}x. Full table: `data_card.md`.",
        "",
    ]


def _cost_section(spec: Spec) -> list[str]:
    e = spec.economics
    lines = [
        "## (d) Cost and latency",
        "",
        f"| | prompted: `{e.prompted.model}` | fine-tuned: `{e.fine_tuned.model}` |",
        "| --- | ---: | ---: |",
        f"| prompt tokens per call | {num(e.prompted.per_call.prompt_tokens)} (measured on test) | "
        f"{num(e.fine_tuned.per_call.prompt_tokens)} (estimated) |",
        f"| completion tokens per call | {num(e.prompted.per_call.completion_tokens)} (measured) | "
        f"{num(e.fine_tuned.per_call.completion_tokens)} (estimated) |",
        f"| price per million tokens, in / out | {_price(e.prompted)} | {_price(e.fine_tuned)} |",
        f"| **dollars per million classifications** | **{usd(e.prompted.usd_per_million)}** | "
        f"**{usd(e.fine_tuned.usd_per_million)}** |",
        "",
    ]
    return (
        lines
        + _break_even(e)
        + _latency(spec)
        + [
            "Token estimates for the fine-tuned model: the training system prompt plus the mean test input (and the mean "
            "label as the answer), at the prompt tokens per character the run measured on its zero-shot baseline.",
            "",
        ]
    )


def _price(side: Side) -> str:
    p = side.price
    return "unpriced" if p is None else f"${p.usd_per_mtok_in:g} / ${p.usd_per_mtok_out:g} ({p.source})"


def _break_even(e: Economics) -> list[str]:
    t = e.training
    train_price = (
        "not given (LiteLLM's map has no training prices; --train-price-per-mtok)"
        if t.usd_per_mtok is None
        else f"${t.usd_per_mtok:g} per million training tokens"
    )
    lines = [
        f"- Monthly volume: {e.monthly_volume:,} classifications; saving per month: {usd(e.monthly_saving)}.",
        f"- Fine-tuning job: about {num(t.tokens_per_epoch, 0)} training tokens per epoch x {t.epochs} epochs; "
        f"price {train_price}; one-time cost: {usd(t.one_time_usd)}.",
    ]
    volume = e.break_even_volume
    if volume is not None:
        lines.append(
            "- Break-even: never (the fine-tuned model saves nothing per classification)."
            if math.isinf(volume)
            else f"- Break-even: after {num(volume, 0)} classifications, {num(e.break_even_months)} months."
        )
    if e.affordable_training_usd is not None:
        lines.append(
            f"- A fine-tuning job that costs under {usd(e.affordable_training_usd)} pays back within "
            f"{PAYBACK_MONTHS:.0f} months at this volume."
        )
    if e.saving_per_million is None:
        lines.append("- Break-even: unknown until both models are priced.")
    return [*lines, ""]


def _latency(spec: Spec) -> list[str]:
    ledger, limit = spec.task_latency, spec.options.max_latency_ms
    return [
        f"- Latency: the winning prompt's test calls took {num(spec.best_latency_s * 1000, 0)} ms on average; "
        f"all {ledger.calls} live task calls in the ledger {num(ledger.mean_s * 1000, 0)} ms mean, "
        f"{num(ledger.p95_s * 1000, 0)} ms p95. Limit: "
        + ("none given (--max-latency-ms)." if limit is None else f"{limit:g} ms."),
        "",
    ]


def _files_section(spec: Spec) -> list[str]:
    return [
        "## The hand-off",
        "",
        f"- `train.jsonl` ({len(spec.train)} rows) and `val.jsonl` ({len(spec.val)} rows): OpenAI chat fine-tuning "
        f"format, system + user + assistant (the label). Val is {val_method(spec)}.",
        "- `hf_train.jsonl` / `hf_val.jsonl`: the same rows in TRL's conversational prompt-completion format "
        "(`prompt`: system and user messages, `completion`: the assistant message). `train.jsonl` is also TRL's "
        "`messages` format.",
        "- `eval_gate.md`, `gate.json`, `gate/`: the score to beat and the command that checks it.",
        "- `data_card.md`, `data_card.json`: class balance, text lengths, train/test overlap.",
        "",
        "The system prompt of every training example (the winning instruction and the label list; no demos, the "
        "weights learn what they taught):",
        "",
        "```text",
        spec.system_prompt,
        "```",
        "",
    ]


def proposal_json(spec: Spec) -> dict[str, Any]:
    e, probe, s = spec.economics, spec.probe, spec.run.summary
    data: dict[str, Any] = clean_json(
        {
            "run_id": spec.run.run_id,
            "task": spec.task.name,
            "verdict": spec.decision.verdict,
            "why": list(spec.decision.why),
            "rule": decision.__doc__,
            "checks": [asdict(c) for c in spec.checks],
            "prompt": {
                "best_candidate_id": spec.run.best.id,
                "best_test_accuracy": s.best_test_accuracy,
                "best_test_ci": None if s.best_test_ci is None else list(s.best_test_ci),
                "baseline_test_accuracy": s.baseline_test_accuracy,
                "plateau": None if s.plateau is None else s.plateau.to_json(),
                "stop_reason": s.stop_reason,
            },
            "probe": None
            if probe is None
            else {
                "method": probe.method,
                "n_train": probe.n_train,
                "n_test": probe.scores.n,
                "accuracy": probe.scores.accuracy,
                "ci95": [probe.scores.ci_low, probe.scores.ci_high],
                "macro_f1": probe.scores.macro_f1,
                "seconds": probe.seconds,
                "ms_per_example": probe.ms_per_example,
            },
            "small_fine_tune": None
            if spec.small is None
            else {
                "method": spec.small.method,
                "model": spec.small.model,
                "n_train": spec.small.n_train,
                "epochs": spec.small.epochs,
                "n_test": spec.small.scores.n,
                "accuracy": spec.small.scores.accuracy,
                "ci95": [spec.small.scores.ci_low, spec.small.scores.ci_high],
                "macro_f1": spec.small.scores.macro_f1,
                "train_seconds": spec.small.train_seconds,
                "ms_per_example": spec.small.ms_per_example,
                "size_bytes": spec.small.size_bytes,
            },
            "economics": {
                **asdict(e),
                "prompted_usd_per_million": e.prompted.usd_per_million,
                "fine_tuned_usd_per_million": e.fine_tuned.usd_per_million,
                "monthly_saving_usd": e.monthly_saving,
                "one_time_usd": e.training.one_time_usd,
                "break_even_volume": e.break_even_volume,
                "break_even_months": e.break_even_months,
                "payback_months_limit": PAYBACK_MONTHS,
            },
            "latency": {
                "best_prompt_mean_s_per_call": spec.best_latency_s,
                "ledger": asdict(spec.task_latency),
                "limit_ms": spec.options.max_latency_ms,
            },
            "training_data": {
                "train": len(spec.train),
                "val": len(spec.val),
                "val_method": val_method(spec),
                "system_prompt": spec.system_prompt,
            },
        }
    )
    return data


# -- eval gate --------------------------------------------------------------------------------


def eval_gate_md(spec: Spec) -> str:
    g = spec.gate
    data = g.to_json()
    return "\n".join(
        [
            f"# Eval gate: {g.task}",
            "",
            "A fine-tuned model replaces the prompt only if it beats the best prompt on the same test examples.",
            "",
            f"- Test set: task `{g.task}`, split `test`, the {data['n']} examples run `{g.run_id}` scored its best prompt on "
            f"(ids in `gate.json`, sha256 of the ids joined by newlines `{data['test_ids_sha256']}`; data file hashes "
            "in `gate.json`). They are copied, in run order, to `gate/test.jsonl`.",
            f"- **Score to beat: accuracy {pct(g.accuracy)}** (95% bootstrap interval {interval(g.ci)}; macro-F1 "
            f"{num(g.macro_f1, 3)}), by `{g.prompted_model}` with prompt `{g.best_candidate_id}`.",
            f"- Rule: {data['rule']}.",
            "- Train and val examples whose text appears in the test split were removed, so the gate never scores "
            "an example the fine-tuned model was trained on.",
            "",
            "Check a fine-tuned model from this folder (the prompt `promptopt eval` renders from `gate/task.toml` is "
            "exactly the system prompt of the training files; replace the model name, e.g. "
            "`openai/ft:gpt-4o-mini-2024-07-18:org::id`):",
            "",
            "```bash",
            gate.eval_command(),
            gate.check_command(),
            "```",
            "",
            "The second command exits 0 and prints PASS when the result covers every gate example without errors and "
            "its accuracy is above the score to beat.",
            "",
        ]
    )


# -- data card --------------------------------------------------------------------------------


def _lengths_row(name: str, lengths: Lengths) -> str:
    c, w = lengths.chars, lengths.words
    return f"| {name} | {num(c.mean)} | {num(c.p50, 0)} | {num(c.p95, 0)} | {num(w.mean)} | {num(w.p50, 0)} | {num(w.p95, 0)} |"


def data_card_md(card: DataCard) -> str:
    c = card.cleaning
    lines = [
        f"# Data card: {card.task}",
        "",
        f"{len(card.labels)} labels. Train {c.total} examples ({len(c.usable)} usable after cleaning), test split "
        f"{card.test_split_n}, the run's test examples (the gate) {card.test_n}.",
        "",
        "## Text lengths",
        "",
        "| split | chars mean | chars p50 | chars p95 | words mean | words p50 | words p95 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        _lengths_row("train", card.lengths_train),
        _lengths_row("gate test", card.lengths_test),
        "",
        "## Train/test overlap (exact match, lower-cased, whitespace folded)",
        "",
        f"- Train examples whose text is in the test split: {card.overlap_full_test}; in the gate's test examples: "
        f"{card.overlap_gate}. They are left out of the training files.",
        f"- Duplicates in train: {c.duplicates}; texts with conflicting labels: {c.conflicting_texts} "
        f"({c.conflicting_examples} examples).",
        "",
        f"## Class balance (largest/smallest usable: {num(card.imbalance())}x)",
        "",
        "| label | train | share | usable | gate test |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| `{x.label}` | {x.train} | {pct(x.train / c.total if c.total else math.nan)} | {x.usable} | {x.test} |"
        for x in card.classes
    ]
    return "\n".join(lines + _agreed_lines(card.agreed)) + "\n"


AGREED_SHOWN = 10  # examples listed in the data card (all are in data_card.json)


def agreed_summary(agreed: AgreedErrors) -> str:
    """One sentence: how many gate examples every judge got wrong the same way, and the top pairs."""
    pairs = agreed.pairs()
    top = ", ".join(f"`{g}` read as `{p}` ({n})" for g, p, n in pairs[:3])
    return (
        f"{len(agreed.examples)} of the {agreed.n_judged} gate examples that {', '.join(agreed.judges)} all answered "
        f"get the same wrong label from each of them"
        + (f": {top}" if top else "")
        + ". Models that learn in different ways agreeing against the label suggest label noise or classes the "
        "labels do not separate: a ceiling they make is not a prompting problem."
    )


def _agreed_lines(agreed: AgreedErrors | None) -> list[str]:
    if agreed is None:
        return []
    lines = ["", "## Suspected label noise or ambiguous classes", "", agreed_summary(agreed), ""]
    if not agreed.examples:
        return lines
    lines += ["| gold | every judge said | examples |", "| --- | --- | ---: |"]
    lines += [f"| `{g}` | `{p}` | {n} |" for g, p, n in agreed.pairs()]
    lines += ["", f"The first {min(AGREED_SHOWN, len(agreed.examples))} (all in `data_card.json`):", ""]
    lines += [
        f"- `{e.example_id}` (gold `{e.gold}`, said `{e.predicted}`): {_clip(e.text)}"
        for e in agreed.examples[:AGREED_SHOWN]
    ]
    return lines


def _clip(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
