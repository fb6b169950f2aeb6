"""The markdown table (with ratios against promptopt), the target checks, and the plot of test
accuracy against model calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REFERENCE = "promptopt"


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


def _row(r: Mapping[str, Any], ref: Mapping[str, Any] | None) -> str:
    if r["status"] != "ok":
        return f"| {r['contender']} | {r['status']}: {r.get('reason') or ''} |" + " |" * 10
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


HEADER = (
    "| contender | test accuracy [95% CI] | vs promptopt (points) | optimization calls | all calls | "
    "optimization tokens | prompt tokens/call (final prompt) | wall s | stopped by itself | calls ratio | "
    "tokens/call ratio | time ratio |\n|" + " --- |" * 12
)


def markdown(results: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    ref = next((r for r in results if r["contender"] == REFERENCE and r["status"] == "ok"), None)
    lines = [
        f"### {meta['task']} on `{meta['model']}` ({meta['date']}, {meta['machine']})",
        "",
        f"Dev slice {meta['dev_n']} examples (optimization), test slice {meta['test_n']} (every contender), "
        f"DSPy train sample {meta['train_n']}. Ratios are against promptopt (all calls, final prompt tokens "
        "per call, wall seconds including the test scoring).",
        "",
        HEADER,
    ]
    lines += [_row(r, ref) for r in results]
    lines += ["", "Command: `" + meta["command"] + "`", ""]
    lines += [f"- {line}" for line in target_lines(results)]
    return "\n".join(lines) + "\n"


def _get(results: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((r for r in results if r["contender"] == name and r["status"] == "ok"), None)


def targets(results: Sequence[Mapping[str, Any]]) -> dict[str, bool | None]:
    """Issue 5's targets; None where a contender needed for the check did not run."""
    ours, mipro = _get(results, REFERENCE), _get(results, "dspy-miprov2-light")
    retrieval, probe = _get(results, "retrieval-10"), _get(results, "probe")
    out: dict[str, bool | None] = dict.fromkeys(
        (
            "60_points_above_miprov2",
            "fifth_of_miprov2_wall_time",
            "third_of_miprov2_tokens_per_call",
            "3_points_above_retrieval",
            "within_3_points_of_probe",
        )
    )
    if ours is None:
        return out
    if mipro is not None:
        out["60_points_above_miprov2"] = ours["accuracy"] - mipro["accuracy"] >= 0.60
        out["fifth_of_miprov2_wall_time"] = total_seconds(ours) <= total_seconds(mipro) / 5
        out["third_of_miprov2_tokens_per_call"] = (
            ours["final_prompt_tokens_per_call"] <= mipro["final_prompt_tokens_per_call"] / 3
        )
    if retrieval is not None:
        out["3_points_above_retrieval"] = ours["accuracy"] - retrieval["accuracy"] >= 0.03
    if probe is not None:
        out["within_3_points_of_probe"] = ours["accuracy"] >= probe["accuracy"] - 0.03
    return out


def target_lines(results: Sequence[Mapping[str, Any]]) -> list[str]:
    words = {True: "met", False: "MISSED", None: "not checked (a contender did not run)"}
    return [f"target {name.replace('_', ' ')}: {words[value]}" for name, value in targets(results).items()]


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
