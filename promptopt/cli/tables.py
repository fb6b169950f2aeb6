"""The tables and summaries commands print."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from promptopt.cli.app import out

if TYPE_CHECKING:
    from promptopt.evaluate.summary import EvalSummary
    from promptopt.handoff.export.verify import VerifyReport
    from promptopt.handoff.finetune.spec import Spec
    from promptopt.run.summary import RunSummary


def print_eval_summary(s: EvalSummary, cache_file: Path | None) -> None:
    c, sc, t = s.candidate, s.scores, s.spend
    table = Table(
        title=f"{s.task} / {s.split} / {s.model}  (candidate {c.id}, {c.n_demos} demos, {c.demo_strategy})"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    usd = "n/a (unpriced)" if t.usd is None else f"${t.usd:.4f}"
    rows = [
        ("accuracy", f"{sc.accuracy:.1%}  [{sc.ci_low:.1%}, {sc.ci_high:.1%}] 95% CI"),
        ("macro-F1", f"{sc.macro_f1:.3f}  [{sc.f1_ci_low:.3f}, {sc.f1_ci_high:.3f}]"),
        ("examples scored", f"{sc.n}  (invalid answers {s.invalid}, errors {s.errors})"),
        ("calls", f"{t.calls}  ({t.cached_calls} from cache)"),
        (
            "tokens",
            f"{t.prompt_tokens} prompt + {t.completion_tokens} completion  ({s.prompt_tokens_per_call:.0f} prompt tokens/call)",
        ),
        ("cost", usd),
        ("time", f"{s.seconds:.1f} s  ({s.seconds_per_example:.3f} s/example)"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    if sc.confusions:
        conf = Table(title="most frequent confusions (gold → predicted)")
        for column in ("gold", "predicted", "count"):
            conf.add_column(column)
        for gold, pred, count in sc.confusions[:8]:
            conf.add_row(gold, pred, str(count))
        out.print(conf)
    if cache_file is not None and t.cached_calls:
        out.print(
            f"[dim]{t.cached_calls} calls came from the cache {cache_file} (cost 0; use --no-cache to call again)[/]"
        )


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def ci(values: Sequence[float] | None) -> str:
    return "" if not values else f"  [{values[0]:.1%}, {values[1]:.1%}]"


def print_run_summary(s: RunSummary, path: Path) -> None:
    table = Table(title=f"run {path.name}: stopped by {s.stop_reason}")
    table.add_column("")
    table.add_column("value", justify="right")
    usd = "n/a (unpriced)" if s.usd is None else f"${s.usd:.4f}"
    roles = ", ".join(f"{k} {v}" for k, v in s.calls_by_role.items())
    rows = [
        (
            "baseline (zero-shot) test accuracy",
            pct(s.baseline_test_accuracy) + ci(s.baseline_test_ci) + _on(s.baseline_test_n, s.test_n),
        ),
        (
            "best prompt test accuracy",
            pct(s.best_test_accuracy) + ci(s.best_test_ci) + _on(s.best_test_n, s.test_n),
        ),
        ("best prompt dev accuracy", f"{pct(s.best_dev_accuracy)} on {s.best_dev_n}"),
        (
            "test examples",
            str(s.test_n) + (f" (incomplete: {s.test_incomplete})" if s.test_incomplete else ""),
        ),
        ("best candidate", f"{s.best_candidate_id} ({s.best_prompt_tokens_per_call:.0f} prompt tokens/call)"),
        *_lift_rows(s),
        ("trials / evaluations", f"{s.trials} / {s.evaluations}"),
        ("calls", f"{s.calls} ({s.cached_calls} cached; {roles})"),
        ("tokens", f"{s.prompt_tokens} prompt + {s.completion_tokens} completion"),
        ("cost", usd),
        ("time", f"{s.seconds:.0f} s"),
    ]
    if s.plateau is not None:
        rows.append(("prompt ceiling", s.plateau.text()))
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    out.print(
        f"run folder: {path}  (summary.json, candidates.jsonl, evaluations.jsonl, ledger.jsonl, events.jsonl)"
    )


def _on(n: int | None, of: int) -> str:
    """ "on 12 of 40" when the budget allowed fewer test examples than the slice."""
    return "" if n is None or n >= of else f"  on {n} of {of}"


def _lift_rows(s: RunSummary) -> list[tuple[str, str]]:
    """Where the dev lift over zero-shot came from: the seeds a user would write, or the search."""
    if s.lift_from_seeds is None or s.lift_from_search is None:
        return []
    rows = [
        ("dev lift from seeds", f"{100 * s.lift_from_seeds:+.1f} points (best seed {s.best_seed_id})"),
        ("dev lift from search moves", f"{100 * s.lift_from_search:+.1f} points"),
    ]
    proposer = _proposer_row(s)
    if proposer is not None:
        rows.append(proposer)
    if s.max_prompt_tokens is not None:
        rows.append(("max prompt tokens/call", str(s.max_prompt_tokens)))
    return rows


def _proposer_row(s: RunSummary) -> tuple[str, str] | None:
    """What the proposer's instructions were worth: how many were scored and survived racing,
    and the best with one against the best with the seed instruction (dev points)."""
    if not s.proposed_scored:
        return None
    text = f"{s.proposed_scored} scored, {s.proposed_survived or 0} survived racing"
    worth = s.proposed_instruction_lift
    if worth is not None:
        text += f"; best vs seed instruction {100 * worth:+.1f} dev points"
    if not s.proposed_survived or (worth is not None and worth <= 0):
        text += " (they did not help: try a stronger --proposer-model)"
    return ("proposed instructions", text)


def print_spec(spec: Spec, out_dir: Path, written: list[Path]) -> None:
    out.print(f"[bold]fine-tuning verdict: {spec.decision.verdict.upper()}[/]")
    for check in spec.checks:
        out.print(
            f"  ({check.key}) {check.title}: [bold]{check.status}[/] — {check.finding}", highlight=False
        )
    s, probe = spec.run.summary, spec.probe
    if probe is not None:
        out.print(
            f"probe ({probe.n_train} train examples): {pct(probe.scores.accuracy)}{ci([probe.scores.ci_low, probe.scores.ci_high])}"
            f" on {probe.scores.n} test examples; the run's best prompt {pct(s.best_test_accuracy)}"
            f"{ci(s.best_test_ci)} (its summary leaves failed calls out; (e) counts them as wrong)"
        )
    small = spec.small
    if small is not None:
        out.print(
            f"small fine-tune ({small.n_train} train examples, {small.train_seconds:.0f} s): "
            f"{pct(small.scores.accuracy)}{ci([small.scores.ci_low, small.scores.ci_high])} on {small.scores.n} test "
            f"examples, {small.ms_per_example:.1f} ms per example, {small.size_bytes / 1e6:.0f} MB in {small.folder}",
            highlight=False,
        )
        from promptopt.handoff.finetune.gate import eval_command

        out.print(f"score it through the gate: cd {out_dir} && {eval_command(small.model)}", highlight=False)
    out.print(
        f"wrote {len(written)} files to {out_dir} (proposal.md, train.jsonl: {len(spec.train)} rows, "
        f"val.jsonl: {len(spec.val)} rows, eval_gate.md, gate.json, data_card.md)"
    )
    out.print(f"check a fine-tuned model: cd {out_dir} && {spec.gate.to_json()['command']}", highlight=False)


def print_verify(r: VerifyReport) -> None:
    e = r.expected
    table = Table(title=f"verify on {r.split}: {r.n} examples" + (" (the run's ids)" if r.from_run else ""))
    table.add_column("")
    table.add_column("value", justify="right")
    expected = (
        (
            f"{pct(e.get('accuracy'))}{ci([e['ci_low'], e['ci_high']] if e.get('ci_low') is not None else None)}"
            f" on {e.get('n')}"
        )
        if e
        else "n/a"
    )
    rows = [
        ("accuracy now", f"{pct(r.accuracy)}{ci([r.ci_low, r.ci_high])}"),
        (
            f"on the {r.compared} examples the run recorded: now / recorded",
            f"{pct(r.compared_accuracy)} / {pct(r.recorded_accuracy)}",
        ),
        ("expected (the run's test score)", expected),
        ("invalid answers / failed calls", f"{r.invalid} / {r.errors}"),
        ("compared with the run's records", str(r.compared)),
        ("mismatches", str(len(r.mismatches))),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)
    if r.mismatches:
        diff = Table(title="predictions that differ from the run's")
        for column in ("example", "recorded", "now"):
            diff.add_column(column)
        for m in r.mismatches:
            diff.add_row(m.example_id, f"{m.recorded} ({m.recorded_status})", f"{m.now} ({m.now_status})")
        out.print(diff)
    elif r.compared:
        out.print(f"[green]all {r.compared} predictions match the run's records[/]")
