"""The report's PNG plots, drawn with matplotlib's Agg canvas on explicit figure objects.

No pyplot and no global state: each figure gets its own Agg canvas, and style settings apply
only inside :func:`matplotlib.rc_context` around the drawing. Each function returns PNG bytes.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from promptopt.handoff.report.candidates import CandidatePoint
from promptopt.handoff.report.trajectory import Step, Trajectory

BEST = "#1f5fa8"
WINNER = "#d98c00"
MUTED = "#8a8a8a"
DPI = 110


def _render(width: float, height: float, draw: Callable[[Figure], None]) -> bytes:
    """Draw on a new figure with the report's style and return it as PNG bytes."""
    with matplotlib.rc_context(
        {
            "font.size": 10,
            "axes.titlesize": 12,
            "axes.labelsize": 10,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.fontsize": 8.5,
            "legend.framealpha": 0.9,
        }
    ):
        figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        draw(figure)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _percent(axis: Any) -> None:
    axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))


# -- (1), (2) best dev score against spend --------------------------------------------------


AXES: dict[str, tuple[str, Callable[[Step], float]]] = {
    "calls": ("model calls so far (task and proposer)", lambda s: float(s.calls)),
    "tokens": ("tokens spent so far (prompt + completion, live calls)", lambda s: s.tokens),
    "usd": ("dollars spent so far", lambda s: float(s.usd or 0.0)),
}


def progress_png(
    traj: Trajectory, axis: str, *, plateau_note: str, window: tuple[float, float] | None = None
) -> bytes:
    """Best dev accuracy after each evaluation against ``axis`` (calls, tokens or usd), with
    the incumbent's 95% Wilson band, every evaluation as a dot, the plateau marked when it was
    declared, and ``plateau_note`` (the test's verdict) under the title. ``window`` (tokens
    axis only) shades the spend window of the last plateau test."""
    label, value = AXES[axis]

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        if window is not None and axis == "tokens":
            ax.axvspan(*window, color="#b22222", alpha=0.06, label="window of the last plateau test")
        steps = [s for s in traj.steps if not math.isnan(s.best_accuracy)]
        xs = [value(s) for s in steps]
        if steps:
            ax.fill_between(
                xs,
                [s.band_low for s in steps],
                [s.band_high for s in steps],
                step="post",
                color=BEST,
                alpha=0.15,
                label="95% interval of the best (Wilson, on its dev n)",
            )
            ax.step(
                xs,
                [s.best_accuracy for s in steps],
                where="post",
                color=BEST,
                lw=2.2,
                label="best dev accuracy so far",
            )
        _evaluations(ax, traj.steps, value)
        _plateau_mark(ax, traj, value)
        ax.set_ylim(-0.02, 1.05)
        _percent(ax.yaxis)
        ax.xaxis.set_major_formatter(FuncFormatter(_compact_number if axis != "usd" else _dollars))
        ax.set_xlabel(label)
        ax.set_ylabel("dev accuracy")
        figure.suptitle(f"Best dev accuracy against {'dollars' if axis == 'usd' else axis}")
        ax.set_title("\n".join(textwrap.wrap(plateau_note, 90)), fontsize=9, color="#b22222")
        figure.legend(loc="outside lower center", ncols=3)

    return _render(8.0, 5.2, draw)


def _evaluations(ax: Any, steps: Sequence[Step], value: Callable[[Step], float]) -> None:
    full = [s for s in steps if not s.raced_out]
    raced = [s for s in steps if s.raced_out]
    ax.scatter(
        [value(s) for s in full],
        [s.accuracy for s in full],
        s=28,
        color=MUTED,
        zorder=3,
        label="an evaluation (whole dev slice)",
    )
    ax.scatter(
        [value(s) for s in raced],
        [s.accuracy for s in raced],
        s=34,
        facecolors="none",
        edgecolors=MUTED,
        marker="v",
        zorder=3,
        label="stopped early (fewer examples)",
    )


def _plateau_mark(ax: Any, traj: Trajectory, value: Callable[[Step], float]) -> None:
    if traj.plateau_index is not None:
        step = traj.steps[traj.plateau_index]
        ax.axvline(value(step), color="#b22222", ls="--", lw=1.4, label="plateau declared")
        ax.scatter([value(step)], [step.best_accuracy], s=90, marker="D", color="#b22222", zorder=4)


def _compact_number(x: float, _pos: Any = None) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= size:
            return f"{x / size:g}{suffix}"
    return f"{x:g}"


def _dollars(x: float, _pos: Any = None) -> str:
    return f"${x:,.2f}" if abs(x) >= 0.01 or x == 0 else f"${x:.2g}"


# -- (3) candidates: accuracy against prompt tokens ------------------------------------------


def candidates_png(
    points: Sequence[CandidatePoint], front: Sequence[CandidatePoint], winner_id: str
) -> bytes:
    """Every candidate's dev accuracy against its prompt tokens per call: whole-dev ones
    filled, raced-out ones hollow, the Pareto front as a staircase, the winner as a star."""

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        full = [p for p in points if p.full]
        raced = [p for p in points if not p.full]
        ax.scatter(
            [p.prompt_tokens for p in full],
            [p.accuracy for p in full],
            s=46,
            color=BEST,
            zorder=3,
            label="scored on the whole dev slice",
        )
        ax.scatter(
            [p.prompt_tokens for p in raced],
            [p.accuracy for p in raced],
            s=46,
            facecolors="none",
            edgecolors=MUTED,
            marker="v",
            zorder=3,
            label="stopped early (accuracy on fewer examples)",
        )
        if front:
            ax.plot(
                [p.prompt_tokens for p in front],
                [p.accuracy for p in front],
                drawstyle="steps-post",
                color=BEST,
                lw=1.4,
                ls="--",
                label="Pareto front (whole-dev candidates)",
            )
        _winner(ax, points, winner_id)
        _annotate(ax, points, front, winner_id)
        ax.set_ylim(-0.02, 1.08)
        _percent(ax.yaxis)
        ax.set_xlabel("prompt tokens per call (mean on dev)")
        ax.set_ylabel("dev accuracy")
        ax.set_title("Every candidate: accuracy against prompt cost")
        figure.legend(loc="outside lower center", ncols=3)

    return _render(8.0, 5.6, draw)


def _winner(ax: Any, points: Sequence[CandidatePoint], winner_id: str) -> None:
    for p in points:
        if p.candidate_id == winner_id:
            ax.scatter(
                [p.prompt_tokens],
                [p.accuracy],
                s=260,
                marker="*",
                color=WINNER,
                edgecolors="black",
                linewidths=0.8,
                zorder=4,
                label=f"winner {winner_id[:8]}",
            )


def _annotate(
    ax: Any, points: Sequence[CandidatePoint], front: Sequence[CandidatePoint], winner_id: str
) -> None:
    """Label the front and the winner (all points when there are few). A label that would
    sit on an earlier one nearby goes below its point instead."""
    keep = {p.candidate_id for p in front} | {winner_id}
    chosen = [p for p in points if len(points) <= 12 or p.candidate_id in keep]
    span = max((p.prompt_tokens for p in points), default=1.0) - min(
        (p.prompt_tokens for p in points), default=0.0
    )
    placed: list[tuple[float, float, int]] = []
    for p in sorted(chosen, key=lambda q: (q.candidate_id != winner_id, -q.accuracy)):
        x = p.prompt_tokens / (span or 1.0)
        dy = 6
        if any(abs(x - px) < 0.2 and abs(p.accuracy - py) < 0.05 and pdy == dy for px, py, pdy in placed):
            dy = 16 if p.accuracy < 0.1 else -13
        placed.append((x, p.accuracy, dy))
        text = f"{p.candidate_id[:6]} {p.operator}" + ("" if p.full else f" (n={p.n})")
        ax.annotate(
            text,
            (p.prompt_tokens, p.accuracy),
            textcoords="offset points",
            xytext=(8, dy),
            fontsize=7.5,
            color="#222222",
            zorder=2.5,
            fontweight="bold" if p.candidate_id == winner_id else "normal",
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.75},
        )


# -- (4) per-class test accuracy --------------------------------------------------------------


def per_class_png(
    recall: Mapping[str, float],
    counts: Mapping[str, int],
    overall: float,
    baseline: Mapping[str, float] | None = None,
) -> bytes:
    """Horizontal bars, one per class, sorted with the weakest at the top, each with its
    ``hits/n``; the zero-shot baseline's recall as a marker; the overall accuracy as a line."""
    labels = sorted(recall, key=lambda k: (recall[k], k))

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        ys = range(len(labels))
        colors = [_recall_color(recall[k]) for k in labels]
        ax.barh(list(ys), [recall[k] for k in labels], color=colors, height=0.72)
        if baseline:
            ax.scatter(
                [baseline.get(k, 0.0) for k in labels],
                list(ys),
                marker="|",
                s=60,
                color="black",
                zorder=3,
                clip_on=False,
                label="zero-shot baseline",
            )
        for y, k in zip(ys, labels, strict=True):
            hits = round(recall[k] * counts.get(k, 0))
            ax.text(
                1.01,
                y,
                f"{hits}/{counts.get(k, 0)}",
                va="center",
                fontsize=7,
                transform=ax.get_yaxis_transform(),
            )
        ax.axvline(overall, color="#444444", ls=":", lw=1.2, label=f"overall {overall:.1%}")
        ax.set_yticks(list(ys), labels, fontsize=7.5 if len(labels) > 30 else 9)
        ax.set_ylim(len(labels) - 0.5, -0.5)
        ax.set_xlim(0, 1.0)
        _percent(ax.xaxis)
        ax.xaxis.tick_top()
        ax.xaxis.set_label_position("top")
        ax.set_xlabel("test accuracy of the class (recall), weakest first; hits/n at the right")
        ax.grid(axis="y", visible=False)
        handles = [Patch(color=_recall_color(v), label=name) for v, name in BINS]
        figure.legend(
            handles=[*handles, *ax.get_legend_handles_labels()[0]],
            loc="outside lower center",
            ncols=3,
            fontsize=8,
        )

    return _render(8.5, max(3.4, 0.2 * len(labels) + 2.0), draw)


BINS = ((0.95, "90% or more"), (0.8, "70% to 90%"), (0.6, "50% to 70%"), (0.2, "under 50%"))


def _recall_color(value: float) -> str:
    if value >= 0.9:
        return "#4c9a5b"
    if value >= 0.7:
        return "#9cbf5f"
    if value >= 0.5:
        return "#e0a43a"
    return "#c8553d"


# -- (5) main confusions ----------------------------------------------------------------------


def confusions_png(pairs: Sequence[tuple[str, str, int]]) -> bytes:
    """The most frequent (gold -> predicted) mistakes as horizontal bars, most frequent first."""

    def draw(figure: Figure) -> None:
        ax = figure.add_subplot()
        if not pairs:
            ax.text(0.5, 0.5, "no mistakes on test", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return
        names = [f"{gold}  →  {pred}" for gold, pred, _ in pairs]
        ys = list(range(len(pairs)))
        bars = ax.barh(ys, [c for _, _, c in pairs], color="#c8553d", height=0.7)
        ax.bar_label(bars, padding=3, fontsize=8.5)
        ax.set_yticks(ys, names, fontsize=8.5)
        ax.set_ylim(len(pairs) - 0.5, -0.5)
        ax.set_xlabel("test examples (gold  →  predicted)")
        ax.set_title("Main confusions of the best prompt")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="y", visible=False)

    return _render(9.0, max(2.5, 0.32 * len(pairs) + 1.3), draw)
