"""The report's sections as document blocks, each from values computed elsewhere."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from promptopt.evaluate.plateau import empty_evidence
from promptopt.handoff.format import interval, pct
from promptopt.handoff.report.ablation import Attribution
from promptopt.handoff.report.candidates import CandidatePoint
from promptopt.handoff.report.doc import Block, Bullets, Heading, Image, Para, Table
from promptopt.handoff.report.trajectory import Trajectory
from promptopt.handoff.report.unfixed import StrongSet, Unfixed
from promptopt.prompt.candidate import Candidate
from promptopt.run.summary import RunSummary

MAX_LISTED = 25
MAX_CLASSES = 20


def pts(value: Any) -> str:
    """A fraction as signed points (``+1.7 pt``); ``n/a`` when missing."""
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "n/a"
    return f"{value * 100:+.1f} pt"


def plain_pts(value: Any) -> str:
    return (
        "n/a" if not isinstance(value, int | float) or not math.isfinite(value) else f"{value * 100:.1f} pt"
    )


def number(value: Any, digits: int = 0) -> str:
    return "n/a" if not isinstance(value, int | float) or not math.isfinite(value) else f"{value:,.{digits}f}"


def pvalue(value: Any) -> str:
    return "n/a" if not isinstance(value, int | float) or not math.isfinite(value) else f"{value:.3g}"


def describe(c: Candidate) -> str:
    """The decomposition in a few words."""
    if c.demo_strategy == "retrieved":
        demos = f"{c.k} retrieved demos ({c.retriever}, {c.demo_layout})"
    elif c.demo_strategy == "none":
        demos = "no demos"
    else:
        demos = f"{len(c.demo_ids)} {c.demo_strategy} demos ({c.demo_layout})"
    labels = "described labels" if c.label_style == "described" else "label names"
    answer = "answers as codes" if c.output_format == "code" else "answers as labels"
    return f"{demos}, {labels}, {answer}"


# -- verdict ----------------------------------------------------------------------------------


def cost_text(s: RunSummary, model: str) -> str:
    usd = s.usd
    if usd is None:
        money = "unpriced (the model has no price)"
    elif s.unpriced_calls:
        money = f"${usd:,.4f} for the priced calls ({s.unpriced_calls} calls unpriced)"
    elif usd == 0 and model.startswith("local/"):
        money = "$0 (local model)"
    else:
        money = f"${usd:,.4f}"
    roles = ", ".join(f"{n:,} {role}" for role, n in s.calls_by_role.items())
    tokens = s.prompt_tokens + s.completion_tokens
    return (
        f"{number(s.calls)} calls ({roles or 'by role unknown'}), {tokens:,} tokens "
        f"({number(s.prompt_tokens)} prompt + {number(s.completion_tokens)} completion), "
        f"{money}, {number(s.seconds)} s of wall time"
    )


def verdict(s: RunSummary, model: str, attribution: Attribution | None) -> list[Block]:
    plateau = s.plateau or empty_evidence("no plateau evidence recorded")
    if plateau.ceiling_reached:
        head = "**Ceiling found.** The plateau test declared the prompt ceiling: "
    elif plateau.plateau:
        head = (
            "**Ceiling not resolved.** The search stalled (no gain its dev slice can detect), but the "
            f"dev slice is too small to call that a ceiling ({plateau.resolution_text()}): "
        )
    else:
        head = (
            f"**No ceiling found.** The search stopped on `{s.stop_reason}` before the plateau test "
            "declared a ceiling: "
        )
    evidence = [
        f"plateau window: spend from {number(plateau.window_start)} to {number(plateau.window_end)} "
        f"tokens; {plateau.n_in_window} candidates compared with the incumbent; smallest p-value "
        f"{pvalue(plateau.min_p_value)}",
        f"smallest detectable effect (paired MDE): {plain_pts(plateau.mde)} on {plateau.n_dev} dev examples "
        f"(a ceiling needs {plain_pts(plateau.resolution)}); projected gain for 50% more "
        f"spend: {plain_pts(plateau.projected_gain)}",
        f"ceiling estimate: {pct(plateau.ceiling)} {interval(_pair(plateau.ceiling_low, plateau.ceiling_high))} "
        "(the incumbent's dev accuracy plus the projected gain, 95% bootstrap)",
        f"result: best prompt **{pct(s.best_test_accuracy)}** {interval(s.best_test_ci)} on "
        + _test_count(s.best_test_n, s.test_n)
        + ", "
        f"zero-shot baseline {pct(s.baseline_test_accuracy)} {interval(s.baseline_test_ci)}"
        + ("" if s.baseline_test_n in (None, s.test_n) else f" on {s.baseline_test_n}")
        + f"; best dev {pct(s.best_dev_accuracy)} on {s.best_dev_n}",
        f"cost: {cost_text(s, model)}",
    ]
    if attribution is not None:
        evidence.append("lift carried by: " + carriers(attribution))
    return [
        Heading(2, "Verdict"),
        Para(head + (plateau.reason or "no plateau evidence recorded") + "."),
        Bullets(tuple(evidence)),
    ]


def _pair(low: float, high: float) -> tuple[float, float] | None:
    return (low, high) if math.isfinite(low) and math.isfinite(high) else None


def carriers(attribution: Attribution) -> str:
    carry = [r.ablation.name for r in attribution.results if r.paired.verdict == "carries lift"]
    if not attribution.results:
        return "nothing to ablate (the best prompt has no part beyond the zero-shot seed)"
    if not carry:
        return f"no single part shown to carry lift on {len(attribution.example_ids)} test examples"
    return (
        ", ".join(carry) + f" (paired 95% interval above 0 on {len(attribution.example_ids)} test examples)"
    )


# -- progress and candidates ------------------------------------------------------------------


def progress(traj: Trajectory, s: RunSummary, spend_image: str) -> list[Block]:
    last = traj.steps[-1] if traj.steps else None
    extra = (
        ""
        if last is None
        else (
            f" The search made {last.calls:,} calls in {len(traj.steps)} evaluations; the final test scoring "
            f"(baseline and best) accounts for most of the other {max(0, s.calls - last.calls):,}."
        )
    )
    unit = (
        "dollars" if traj.priced else "tokens (the run is unpriced or cost $0, so spend is shown in tokens)"
    )
    return [
        Heading(2, "Progress of the search"),
        Para(
            "The line is the best dev accuracy so far (the incumbent: the best candidate scored on the whole "
            "dev slice); the band is its 95% Wilson interval on its dev examples; grey dots are the "
            "evaluations, hollow triangles the candidates stopped early by racing." + extra
        ),
        Image("progress_calls.png", "Best dev accuracy against model calls"),
        Image(spend_image, f"Best dev accuracy against {unit}"),
    ]


def candidates(
    points: Sequence[CandidatePoint],
    front: Sequence[CandidatePoint],
    winner: str,
    strong: StrongSet,
    known: Mapping[str, Candidate],
) -> list[Block]:
    on_front = {p.candidate_id for p in front}
    rows = tuple(
        (
            f"`{p.candidate_id}`",
            p.operator,
            describe(known[p.candidate_id]) if p.candidate_id in known else "?",
            pct(p.accuracy),
            str(p.n),
            number(p.prompt_tokens),
            _marks(p, winner, on_front, set(strong.candidate_ids)),
        )
        for p in points
    )
    return [
        Heading(2, "Candidates"),
        Para(
            "Every candidate by dev accuracy and prompt tokens per call (its cost in production). The Pareto "
            "front joins the whole-dev candidates that no other beats on both; candidates stopped early were "
            "scored on fewer examples and are drawn hollow, off the front."
        ),
        Image("candidates.png", "Dev accuracy against prompt tokens per call, with the Pareto front"),
        Table(
            ("candidate", "operator", "decomposition", "dev acc", "n", "prompt tok/call", ""),
            rows,
            right=(3, 4, 5),
        ),
    ]


def _marks(p: CandidatePoint, winner: str, front: set[str], strong: set[str]) -> str:
    marks = [
        m
        for m, on in (
            ("winner", p.candidate_id == winner),
            ("Pareto", p.candidate_id in front),
            ("strong", p.candidate_id in strong),
        )
        if on
    ]
    if not p.full:
        marks.append(f"stopped early ({p.why or 'racing'})")
    return ", ".join(marks)


# -- attribution ------------------------------------------------------------------------------


def attribution(result: Attribution | None, note: str, n_test: int) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Attribution of the winning decomposition")]
    if result is None:
        return [*blocks, Para(note)]
    if not result.results:
        return [
            *blocks,
            Para(
                "The best prompt has nothing to take back: it is the seed instruction with label "
                "names, no demos and labels as answers."
            ),
        ]
    st = result.setting
    blocks.append(
        Para(
            f"Each ablation takes one part of the best prompt back and is scored through the evaluator (`{st.model}`, "
            f"temperature {st.temperature:g}, seed {st.seed}) on the same **{len(result.example_ids)}** test examples, "
            + (
                f"a label-stratified sample of the {n_test} its best prompt was scored on (`--limit`). "
                if len(result.example_ids) < n_test
                else "all the test examples its best prompt was scored on. "
            )
            + "The best prompt's answers on them are the run's "
            "own records. Lift = best minus ablated accuracy on the examples both answered, with a 95% paired bootstrap "
            "interval; p is the two-sided exact McNemar test. A part carries lift when the interval is above 0."
        )
    )
    rows = tuple(
        (
            r.ablation.title,
            f"`{r.ablation.candidate.id}`",
            str(r.paired.n),
            pct(r.paired.best_accuracy),
            pct(r.paired.ablated_accuracy),
            f"{pts(r.paired.lift)} [{pts(r.paired.ci_low)}, {pts(r.paired.ci_high)}]",
            pvalue(r.paired.p_value),
            f"{r.paired.b} / {r.paired.c}",
            f"{r.invalid} / {r.errors}",
            f"**{r.paired.verdict}**",
        )
        for r in result.results
    )
    blocks.append(
        Table(
            (
                "best prompt…",
                "candidate",
                "n",
                "best",
                "ablated",
                "lift [95% CI]",
                "p",
                "only best / only ablated right",
                "invalid / failed",
                "verdict",
            ),
            rows,
            right=(2, 3, 4, 5, 6),
        )
    )
    blocks.append(Para("Which parts carry the lift: " + carriers(result) + "."))
    return blocks


# -- per class, confusions, unfixed errors ----------------------------------------------------


def per_class(recall: Mapping[str, float], n_test: int) -> list[Block]:
    weakest = sorted(recall.items(), key=lambda kv: (kv[1], kv[0]))[:8]
    return [
        Heading(2, "Per-class test accuracy of the best prompt"),
        Para(
            f"Recall of each gold class on the run's {n_test} test examples, weakest first; the black ticks are "
            "the zero-shot baseline on the same examples. Weakest: "
            + ", ".join(f"`{k}` {pct(v)}" for k, v in weakest)
            + "."
        ),
        Image("per_class.png", "Per-class test accuracy (recall) of the best prompt"),
    ]


def confusions(pairs: Sequence[tuple[str, str, int]]) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Main confusions")]
    if not pairs:
        return [*blocks, Para("The best prompt made no mistake on test.")]
    rows = tuple((f"`{g}`", f"`{p}`", str(c)) for g, p, c in pairs)
    return [
        *blocks,
        Para(f"The {len(pairs)} most frequent mistakes of the best prompt on test (gold → predicted)."),
        Table(("gold", "predicted", "count"), rows, right=(2,)),
        Image("confusions.png", "Main confusions"),
    ]


def unfixed(strong: StrongSet, dev: Unfixed, test: Unfixed, texts: Mapping[str, str] | None) -> list[Block]:
    blocks: list[Block] = [
        Heading(2, "Errors that prompting did not fix"),
        Para(
            f"**Strong candidates**: scored on the whole dev slice and within {plain_pts(strong.tolerance)} of the "
            f"best dev accuracy ({pct(strong.best_accuracy)}); the tolerance is the larger of the plateau test's "
            f"detectable effect ({plain_pts(strong.mde) if strong.mde is not None else 'n/a'}) and 5 points. "
            f"{len(strong.candidate_ids)} are strong: "
            + ", ".join(f"`{c}`" for c in strong.candidate_ids)
            + ". "
            "An example counts when every strong candidate answered it and got it wrong; these are what a "
            "fine-tune needs data for."
        ),
    ]
    for found in (dev, test):
        blocks.extend(_unfixed_split(found, texts))
    return blocks


def _unfixed_split(found: Unfixed, texts: Mapping[str, str] | None) -> list[Block]:
    who = (
        f"all {len(found.candidate_ids)} strong candidates"
        if len(found.candidate_ids) > 1
        else "the one strong candidate scored there"
        if found.candidate_ids
        else "no strong candidate"
    )
    head = Para(
        f"**{found.split}**: {len(found.examples)} of {found.n_answered} examples wrong for {who}"
        + (" (" + ", ".join(f"`{c}`" for c in found.candidate_ids) + ")" if found.candidate_ids else "")
        + "."
    )
    if not found.examples:
        return [head]
    counts = found.by_class()
    classes = Table(
        ("gold class", "examples"),
        tuple((f"`{k}`", str(v)) for k, v in counts[:MAX_CLASSES])
        + ((f"{len(counts) - MAX_CLASSES} more classes", str(sum(v for _, v in counts[MAX_CLASSES:]))),)
        * (len(counts) > MAX_CLASSES),
        right=(1,),
    )
    pairs = found.same_answer_pairs()
    agreed: list[Block] = (
        [
            Para(
                f"{sum(n for _, _, n in pairs)} of them got one same wrong label from every candidate, by class pair "
                "(suspected label noise or classes the labels do not separate: a ceiling they make is not a "
                "prompting problem; `finetune-spec` also asks the trained models):"
            ),
            Table(
                ("gold class", "every candidate said", "examples"),
                tuple((f"`{g}`", f"`{p}`", str(n)) for g, p, n in pairs[:MAX_CLASSES]),
                right=(2,),
            ),
        ]
        if pairs
        else []
    )
    listed = found.examples[:MAX_LISTED]
    rows = tuple(
        (
            f"`{e.example_id}`",
            f"`{e.gold}`",
            ", ".join(f"`{p}`" if p else "invalid" for p in e.predictions),
            *((_snippet(texts.get(e.example_id, "")),) if texts else ()),
        )
        for e in listed
    )
    more = len(found.examples) - len(listed)
    headers = (
        "example",
        "gold",
        "answers" if len(found.candidate_ids) > 1 else "answer",
        *(("text",) if texts else ()),
    )
    return [
        head,
        classes,
        *agreed,
        Table(headers, rows),
        *([Para(f"({more} more in report.json.)")] if more > 0 else []),
    ]


def _snippet(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _test_count(n: int | None, of: int) -> str:
    """ "77 test examples", or "30 of 77 test examples (all the budget allowed)"."""
    if n is None or n >= of:
        return f"{of} test examples"
    return f"{n} of {of} test examples (all the budget allowed)"
