"""The conditions for fine-tuning, each checked with its evidence, and the verdict.

Decision rule (kept short on purpose):
- **no** when (b) the output is not a fixed label set; or when (d) cost and latency are known
  and do not rule out the prompted model and (e) no trained model beats the best prompt:
  fine-tuning would not pay;
- **go** when (b) and (c) are met and either (e) a trained model beats the best prompt on the
  same test examples by more than its 95% paired interval (what training reaches is measured,
  so this holds for an unpriced model too; the token saving is stated in (d)), or (a) the
  prompt ceiling was reached and (d) cost or latency rule out the prompted model;
- **not yet** otherwise: a condition is not shown or unknown, and the check says what would
  settle it (a larger dev slice, a longer search, more labels, prices or a latency limit).

(a) is met when the run's plateau test declared the ceiling on a dev slice that resolves the
run's ceiling resolution (``--ceiling-points``, default 5): a plateau on a smaller slice is
"not shown", with the dev size that would resolve it. (b) is met when the task has a
closed set of at least two labels and every label has training examples. (c) is met when at
least ``min_examples`` usable examples remain after cleaning and no class has fewer than
``min_per_class``. (d) is met when the fine-tuned model is cheaper per classification (and,
with a training price, pays back within 12 months at the monthly volume), or when the winning
prompt's mean call latency exceeds the user's limit; its finding states the prompt tokens per
call of both, priced or not. (e) compares each trained model (the TF-IDF probe, and the small
fine-tune when it was trained) with the best prompt, paired on the test examples the prompt was
scored on (a failed call counts as wrong).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from promptopt.evaluate.evaluator import ExampleRecord
from promptopt.evaluate.paired import difference
from promptopt.handoff.finetune.datacard import DataCard
from promptopt.handoff.finetune.economics import Economics
from promptopt.handoff.format import pct
from promptopt.run.reader import Latency
from promptopt.run.summary import RunSummary

Status = Literal["met", "not met", "not shown", "unknown"]
Verdict = Literal["go", "not yet", "no"]


@dataclass(frozen=True)
class Check:
    """One condition: ``finding`` states the evidence in one sentence, ``action`` what would
    change the status (empty when met)."""

    key: str
    title: str
    status: Status
    finding: str
    action: str = ""


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    why: tuple[str, ...]


def check_ceiling(summary: RunSummary) -> Check:
    title = "the prompt ceiling was reached"
    plateau = summary.plateau
    if plateau is not None and plateau.ceiling_reached:
        return Check(
            "a",
            title,
            "met",
            f"the plateau test declared the ceiling ({plateau.reason}; {plateau.resolution_text()}); "
            f"dev ceiling {pct(plateau.ceiling)} [{pct(plateau.ceiling_low)}, "
            f"{pct(plateau.ceiling_high)}]",
        )
    if plateau is not None and plateau.plateau:
        return Check(
            "a",
            title,
            "not shown",
            f"the search stalled ({plateau.reason}), but {plateau.resolution_text()}",
            f"search again on {_dev_size(plateau.dev_needed())} (--dev-limit), or accept a "
            f"coarser ceiling (--ceiling-points {math.ceil(plateau.mde * 100)})",
        )
    reason = (plateau.reason if plateau is not None else None) or "no plateau evidence was recorded"
    return Check(
        "a",
        title,
        "not shown",
        f"the run stopped by {summary.stop_reason!r} before the plateau test passed (last check: {reason})",
        "search longer (a larger budget) until the plateau test declares the ceiling",
    )


def _dev_size(needed: int | None) -> str:
    return "more dev examples" if needed is None else f"about {needed:,} dev examples"


def check_format(labels: Sequence[str], card: DataCard, best_rows: Sequence[ExampleRecord]) -> Check:
    title = "the output format is fixed"
    invalid = sum(r.status == "invalid" for r in best_rows)
    unseen = [c.label for c in card.classes if c.usable == 0]
    if len(labels) < 2 or unseen:
        return Check(
            "b",
            title,
            "not met",
            f"{len(labels)} labels; {len(unseen)} have no usable training example ({', '.join(unseen[:5])})",
            "give every label training examples",
        )
    return Check(
        "b",
        title,
        "met",
        f"a closed set of {len(labels)} labels, each with training examples; the "
        f"best prompt gave {invalid} answers outside it on {len(best_rows)} test examples",
    )


def check_examples(card: DataCard, *, min_examples: int, min_per_class: int) -> Check:
    title = f"there are {min_examples}+ good labeled examples"
    usable, small = len(card.cleaning.usable), card.under(min_per_class)
    c = card.cleaning
    finding = (
        f"{usable} usable of {c.total} train examples ({c.duplicates} duplicates, "
        f"{c.conflicting_examples} with conflicting labels, {c.test_overlap_examples} also in test "
        f"removed); {len(small)} classes under {min_per_class}"
    )
    if usable >= min_examples and not small:
        return Check("c", title, "met", finding)
    need = [f"{min_examples - usable} more examples"] if usable < min_examples else []
    need += [f"more examples for {', '.join(x.label for x in small[:5])}"] if small else []
    return Check("c", title, "not met", finding, "label " + " and ".join(need))


def latency_status(best_mean_s: float, limit_ms: float | None) -> tuple[Status, str]:
    if limit_ms is None:
        return "unknown", "no latency limit given (--max-latency-ms)"
    if not math.isfinite(best_mean_s):
        return "unknown", "no measured latency"
    ms = best_mean_s * 1000
    if ms > limit_ms:
        return "met", f"the winning prompt takes {ms:.0f} ms per call, over the {limit_ms:.0f} ms limit"
    return "not met", f"the winning prompt takes {ms:.0f} ms per call, within the {limit_ms:.0f} ms limit"


def tokens_text(economics: Economics) -> str:
    """Prompt tokens per call of the best prompt (measured) and of the fine-tuned model
    (estimated: its short training prompt and the input), priced or not."""
    prompted = economics.prompted.per_call.prompt_tokens
    tuned = economics.fine_tuned.per_call.prompt_tokens
    if not (math.isfinite(prompted) and math.isfinite(tuned)) or prompted <= 0:
        return "prompt tokens per call not measured"
    return (
        f"the best prompt uses {prompted:,.0f} prompt tokens per call, the fine-tuned model about "
        f"{tuned:,.0f} ({1 - tuned / prompted:.0%} fewer)"
    )


def check_cost(economics: Economics, best_mean_s: float, ledger: Latency, limit_ms: float | None) -> Check:
    title = "cost or latency rule out the prompted model"
    cost, cost_why = economics.cost_status()
    latency, latency_why = latency_status(best_mean_s, limit_ms)
    mean = "n/a" if not math.isfinite(ledger.mean_s) else f"{ledger.mean_s * 1000:.0f} ms"
    finding = (
        f"cost: {cost_why}; tokens: {tokens_text(economics)}; latency: {latency_why} "
        f"(all task calls in the ledger: {mean} mean)"
    )
    if "met" in (cost, latency):
        return Check("d", title, "met", finding)
    if cost == "not met" and (latency == "not met" or limit_ms is None):
        return Check("d", title, "not met", finding)
    return Check(
        "d",
        title,
        "unknown",
        finding,
        "give the prices of unpriced models (--price-per-mtok-in/--price-per-mtok-out, "
        "--target-price-per-mtok-in/--target-price-per-mtok-out) or a latency limit (--max-latency-ms)",
    )


def check_learned(
    learned: Sequence[tuple[str, Mapping[str, bool]]], best_rows: Sequence[ExampleRecord], *, seed: int
) -> Check:
    """Each trained model (a name and its outcome by test id) against the best prompt, paired on
    the test examples both answered; met when one of them is above the prompt by more than its
    95% paired bootstrap interval."""
    title = "a trained model beats the best prompt"
    prompt = {r.example_id: r.correct and r.status != "error" for r in best_rows}
    diffs = [(name, difference(correct, prompt, seed=seed)) for name, correct in learned if correct]
    diffs = [(name, d) for name, d in diffs if d.n > 0]
    if not diffs:
        return Check("e", title, "unknown", "no trained model was scored on the prompt's test examples")
    parts = [
        f"{name} {pct(d.a_accuracy)} against the best prompt's {pct(d.b_accuracy)} on the same {d.n} test "
        f"examples: {_pts(d.diff)} [{_pts(d.low)}, {_pts(d.high)}]"
        for name, d in diffs
    ]
    finding = "; ".join(parts) + " (95% paired bootstrap; a failed call counts as wrong)"
    return Check("e", title, "met" if any(d.low > 0 for _, d in diffs) else "not met", finding)


def _pts(value: float) -> str:
    return f"{value * 100:+.1f} pts"


def decide(checks: Sequence[Check]) -> Decision:
    """Apply the rule in the module docstring."""
    by_key = {c.key: c for c in checks}

    def status(key: str) -> Status:
        return by_key[key].status if key in by_key else "unknown"

    learned = status("e") == "met"
    blocking = [by_key["b"]] if status("b") == "not met" else []
    if status("d") == "not met" and not learned:
        blocking.append(by_key["d"])
    if blocking:
        return Decision("no", tuple(f"({c.key}) {c.title}: not met; {c.finding}" for c in blocking))
    basis = ["b", "c"] + (["e"] if learned else ["a", "d"])
    if all(status(k) == "met" for k in basis):
        return Decision("go", tuple(f"({k}) {by_key[k].finding}" for k in basis))
    open_checks = [c for c in checks if c.status != "met" and c.action] or [
        c for c in checks if c.status != "met"
    ]
    return Decision(
        "not yet",
        tuple(
            f"({c.key}) {c.title}: {c.status}"
            + (f"; to settle it: {c.action}" if c.action else f"; {c.finding}")
            for c in open_checks
        ),
    )
