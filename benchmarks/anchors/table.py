"""The markdown table (with ratios against promptopt), the target checks, and the plot of test
accuracy against model calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anchors.common import COUNTING_RULE, paired_interval

REFERENCE = "promptopt"
EPS = 1e-9  # accuracies are ratios of small integers: 0.975 - 0.375 must meet 0.60


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int = 0) -> str:
    return "n/a" if x is None else f"{x:,.{digits}f}"


def _ratio(mine: float | None, ref: float | None) -> str:
    if mine is None or ref is None or ref == 0:
        return "n/a"
    return f"{mine / ref:.2f}x"


def total_calls(r: Mapping[str, Any]) -> int:
    return int(r["optimization"]["calls"]) + int(r["test"]["calls"])


def total_seconds(r: Mapping[str, Any]) -> float:
    return float(r["optimization"]["seconds"]) + float(r["test"]["seconds"])


def _count(x: int | None) -> str:
    return "n/a" if x is None else f"{x:,}"


def _pool(r: Mapping[str, Any]) -> str:
    """The train pool a row drew from: its size and fingerprint, "none" for no train example."""
    n = r.get("train_n")
    if n is None:
        return "n/a"
    return "none" if n == 0 else f"{n:,} ({r.get('train_ids_sha256')})"


def _row(r: Mapping[str, Any], ref: Mapping[str, Any] | None) -> str:
    if r["status"] != "ok":
        return f"| {r['contender']} | {r['status']}: {r.get('reason') or ''} |" + " |" * (COLUMNS - 2)
    ci = r.get("ci") or [None, None]
    diff = (
        "n/a"
        if ref is None or ref.get("accuracy") is None
        else f"{100 * (r['accuracy'] - ref['accuracy']):+.1f}"
    )
    opt = r["optimization"]
    stopped = {True: "yes", False: "no", None: "-"}[r.get("stopped_by_itself")]
    cells = [
        r["contender"],
        f"{_pct(r['accuracy'])} [{_pct(ci[0])}, {_pct(ci[1])}]",
        f"{_count(r.get('failed'))} / {_count(r.get('unparseable'))}",
        _pool(r),
        diff,
        _num(opt["calls"]),
        _num(total_calls(r)),
        _num(opt["prompt_tokens"] + opt["completion_tokens"]),
        _num(r.get("final_prompt_tokens_per_call")),
        _num(total_seconds(r)),
        stopped,
        _ratio(total_calls(r), total_calls(ref) if ref else None),
        _ratio(
            r.get("final_prompt_tokens_per_call"), ref.get("final_prompt_tokens_per_call") if ref else None
        ),
        _ratio(total_seconds(r), total_seconds(ref) if ref else None),
    ]
    return "| " + " | ".join(cells) + " |"


COLUMNS = 14
HEADER = (
    "| contender | test accuracy [95% CI] | failed / unparseable (test) | train pool (ids sha256) | "
    "vs promptopt (points) | optimization calls | all calls | optimization tokens | "
    "prompt tokens/call (final prompt) | wall s | stopped by itself | calls ratio | tokens/call ratio | "
    "time ratio |\n|" + " --- |" * COLUMNS
)


def pool_lines(results: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> list[str]:
    """What the outputs say about the train pool: the shared one, and any row that used
    another (which makes the comparison unfair, so it is said loudly)."""
    pool = meta["train_pool"]
    lines = [
        f"Train pool: {pool['drawn']}, ids sha256 {pool['ids_sha256']}, the same for every contender "
        "that uses train examples (retrieved demos, bootstrapped or labeled demos, the probe's training); "
        "zero-shot and dspy-predict use none."
    ]
    for r in results:
        if r["status"] == "ok" and r.get("train_n") and r.get("train_ids_sha256") != pool["ids_sha256"]:
            lines.append(f"WARNING: {r['contender']} used another train pool ({_pool(r)}): not comparable.")
    return lines


def markdown(results: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    ref = next((r for r in results if r["contender"] == REFERENCE and r["status"] == "ok"), None)
    lines = [
        f"### {meta['task']} on `{meta['model']}` ({meta['date']}, {meta['machine']})",
        "",
        f"Dev slice {meta['dev_n']} examples (optimization), test slice {meta['test_n']} (every contender). "
        + " ".join(pool_lines(results, meta)),
        "",
        f"Counting rule: {COUNTING_RULE}. Ratios are against promptopt (all calls, final prompt tokens "
        "per call, wall seconds including the test scoring).",
        "",
        HEADER,
    ]
    lines += [_row(r, ref) for r in results]
    lines += ["", "Command: `" + meta["command"] + "`", ""]
    lines += [f"- {line}" for line in target_lines(results, seed=int(meta.get("seed", 0)))]
    return "\n".join(lines) + "\n"


def _get(results: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((r for r in results if r["contender"] == name and r["status"] == "ok"), None)


@dataclass(frozen=True)
class Target:
    """One of issue 5's targets: ``verdict`` is ``met``, ``not resolved`` (the point estimate
    satisfies an accuracy claim but its paired 95% interval does not), ``missed``, or ``not
    checked`` (a contender it needs did not run); ``detail`` gives the figures."""

    name: str
    claim: str
    verdict: str
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return {"claim": self.claim, "verdict": self.verdict, "detail": self.detail}


def accuracy_verdict(difference: float, interval: tuple[float, float] | None, margin: float) -> str:
    """The claim "A >= B + margin": met only when the low end of the paired interval of A - B
    is at least ``margin``; not resolved when only the point estimate is; missed otherwise."""
    if difference < margin - EPS:
        return "missed"
    if interval is not None and interval[0] >= margin - EPS:
        return "met"
    return "not resolved"


def _accuracy_target(
    name: str, claim: str, a: Mapping[str, Any], b: Mapping[str, Any], margin: float, seed: int
) -> Target:
    paired = paired_interval(a.get("answers") or (), b.get("answers") or (), seed=seed)
    if paired is None:
        difference, interval = a["accuracy"] - b["accuracy"], None
        detail = f"{100 * difference:+.1f} points; no paired interval (no per-example answers kept)"
    else:
        difference, interval = paired[0], (paired[1], paired[2])
        detail = (
            f"{100 * difference:+.1f} points, paired 95% interval [{100 * paired[1]:+.1f}, "
            f"{100 * paired[2]:+.1f}] on {a['n_test']} test examples"
        )
    return Target(name, claim, accuracy_verdict(difference, interval, margin), detail)


def _figure_target(name: str, claim: str, ok: bool, detail: str) -> Target:
    """A target on a single measurement (time, tokens): read as measured, no interval."""
    return Target(name, claim, "met" if ok else "missed", detail)


CLAIMS = {
    "60_points_above_miprov2": "at least 60 points above MIPROv2 light",
    "fifth_of_miprov2_wall_time": "at most a fifth of MIPROv2 light's wall time",
    "third_of_miprov2_tokens_per_call": "at most a third of MIPROv2 light's prompt tokens per call",
    "3_points_above_retrieval": "at least 3 points above the plain retrieval baseline",
    "within_3_points_of_probe": "within 3 points of the trained probe (or above it)",
}


def check_targets(results: Sequence[Mapping[str, Any]], *, seed: int = 0) -> list[Target]:
    """Issue 5's targets, in order; "not checked" where a contender needed did not run."""
    ours, mipro = _get(results, REFERENCE), _get(results, "dspy-miprov2-light")
    retrieval, probe = _get(results, "retrieval-10"), _get(results, "probe")
    found: dict[str, Target] = {}
    if ours is not None and mipro is not None:
        found["60_points_above_miprov2"] = _accuracy_target(
            "60_points_above_miprov2", CLAIMS["60_points_above_miprov2"], ours, mipro, 0.60, seed
        )
        mine, theirs = total_seconds(ours), total_seconds(mipro)
        found["fifth_of_miprov2_wall_time"] = _figure_target(
            "fifth_of_miprov2_wall_time",
            CLAIMS["fifth_of_miprov2_wall_time"],
            mine <= theirs / 5,
            f"{mine:,.0f} s against {theirs:,.0f} s",
        )
        mine, theirs = ours["final_prompt_tokens_per_call"], mipro["final_prompt_tokens_per_call"]
        found["third_of_miprov2_tokens_per_call"] = _figure_target(
            "third_of_miprov2_tokens_per_call",
            CLAIMS["third_of_miprov2_tokens_per_call"],
            mine <= theirs / 3,
            f"{mine:,.0f} against {theirs:,.0f}",
        )
    if ours is not None and retrieval is not None:
        found["3_points_above_retrieval"] = _accuracy_target(
            "3_points_above_retrieval", CLAIMS["3_points_above_retrieval"], ours, retrieval, 0.03, seed
        )
    if ours is not None and probe is not None:
        found["within_3_points_of_probe"] = _accuracy_target(
            "within_3_points_of_probe", CLAIMS["within_3_points_of_probe"], ours, probe, -0.03, seed
        )
    return [found.get(name) or Target(name, claim, "not checked") for name, claim in CLAIMS.items()]


def targets(results: Sequence[Mapping[str, Any]], *, seed: int = 0) -> dict[str, dict[str, str]]:
    """The targets as the JSON keeps them: name -> claim, verdict and figures."""
    return {t.name: t.to_json() for t in check_targets(results, seed=seed)}


def target_lines(results: Sequence[Mapping[str, Any]], *, seed: int = 0) -> list[str]:
    words = {
        "met": "met",
        "not resolved": "not resolved (the 95% interval cannot resolve it)",
        "missed": "MISSED",
        "not checked": "not checked (a contender did not run)",
    }
    return [
        f"target {t.claim}: {words[t.verdict]}" + (f" ({t.detail})" if t.detail else "")
        for t in check_targets(results, seed=seed)
    ]


def plot(results: Sequence[Mapping[str, Any]], meta: Mapping[str, Any], path: Path) -> None:
    """Test accuracy (with its interval) against all model calls, log scale; the probe makes no
    calls and is drawn as a horizontal line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.transforms import blended_transform_factory

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    right_edge = blended_transform_factory(ax.transAxes, ax.transData)
    calls = [total_calls(r) for r in results if r["status"] == "ok" and total_calls(r) > 0]
    for r in results:
        if r["status"] != "ok" or r["accuracy"] is None:
            continue
        acc, (low, high) = 100 * r["accuracy"], r["ci"]
        if total_calls(r) == 0:
            ax.axhline(acc, color="grey", linestyle="--", linewidth=1)
            ax.text(
                0.99,
                acc + 0.6,
                f"{r['contender']} (no model calls): {acc:.1f}%",
                color="grey",
                fontsize=8,
                va="bottom",
                ha="right",
                transform=right_edge,
            )
            continue
        ax.errorbar(
            total_calls(r),
            acc,
            yerr=[[acc - 100 * low], [100 * high - acc]],
            fmt="o",
            capsize=4,
            color="tab:red" if r["contender"] == REFERENCE else "tab:blue",
        )
        ax.annotate(
            r["contender"], (total_calls(r), acc), textcoords="offset points", xytext=(6, 4), fontsize=8
        )
    ax.set_xscale("log")
    if calls:
        ax.set_xlim(min(calls) / 2, max(calls) * 3)
    ax.set_ylim(0, 107)
    ax.set_xlabel("model calls (optimization + test scoring, log scale)")
    ax.set_ylabel(f"test accuracy, % ({meta['test_n']} examples, 95% CI)")
    ax.set_title(f"{meta['task']} on {meta['model']}: accuracy against calls")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
