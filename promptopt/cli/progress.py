"""Progress on the terminal (a live line) or in a log (a plain line every tenth), and Ctrl-C."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from promptopt.cli.app import err
from promptopt.run import events as ev


def run_with_progress(run: Any, candidate: Any, examples: Any, task_name: str, split: str) -> Any:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("acc {task.fields[acc]}"),
        TextColumn("invalid {task.fields[inv]}"),
        TextColumn("errors {task.fields[errs]}"),
        TimeRemainingColumn(),
    )
    counts = {"n": 0, "ok": 0, "inv": 0, "err": 0}
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        bar = progress.add_task(f"{task_name}/{split}", total=len(examples), acc="-", inv=0, errs=0)

        def tick(record: Any) -> None:
            counts["n"] += 1
            counts["ok"] += int(record.correct)
            counts["inv"] += int(record.status == "invalid")
            counts["err"] += int(record.status == "error")
            scored = counts["n"] - counts["err"]
            acc = f"{counts['ok'] / scored:.1%}" if scored else "-"
            progress.update(bar, advance=1, acc=acc, inv=counts["inv"], errs=counts["err"])
            plain_progress(
                counts["n"],
                len(examples),
                f"{task_name}/{split}: {counts['n']}/{len(examples)}  acc {acc}"
                f"  invalid {counts['inv']}  errors {counts['err']}",
            )

        return run.evaluator.evaluate(candidate, examples, on_record=tick)


def plain_progress(done: int, total: int, line: str) -> None:
    """Where no live display shows (stderr is a log file, not a terminal): ``line`` at every
    tenth of the work."""
    if not err.is_terminal and done % max(1, total // 10) == 0:
        err.print(line, highlight=False)


class CtrlC:
    """Ctrl-C that always stops a run. Python raises KeyboardInterrupt wherever the main thread
    is when SIGINT arrives; if that is a finalizer (llama.cpp's ``LlamaSampler.__del__`` runs
    often), Python prints "Exception ignored" and carries on, and the run would finish as if
    nothing was pressed. So the handler also remembers the press, and as an observer of the run
    this raises it again at the next stored example. A SIGINT the shell set to be ignored
    (a job a script starts with ``&``) stays ignored."""

    def __init__(self) -> None:
        self.pressed = False
        self._previous: Any = None

    def __enter__(self) -> CtrlC:
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: object) -> None:
        self.pressed = True
        raise KeyboardInterrupt

    def __call__(self, event: ev.Event) -> None:
        if self.pressed:
            raise KeyboardInterrupt


@dataclass
class DisplayState:
    """What the progress line shows: evaluations finished, the best full-dev accuracy, the
    spend, the plateau status, the candidate being scored and its examples so far."""

    evals: int = 0
    best: float | None = None
    calls: int = 0
    tokens: int = 0
    usd: float | None = 0.0
    plateau: str = "-"
    current: str = "-"
    done: int = 0
    elapsed: float = 0.0


class OptimizeDisplay:
    """Live progress of a run (best score, spend, candidates, plateau status). On a terminal
    it is one refreshing status line; otherwise a line per finished evaluation."""

    def __init__(self, console: Console, budget: Any = None) -> None:
        self.console = console
        self.state = DisplayState()
        self.budget = budget  # a promptopt.llm.budget.Budget: what the time left is read from
        self.pace: Any = None  # a new run's compose.TimePace: the time limit is priced once
        self._status: Any = None

    def __enter__(self) -> OptimizeDisplay:
        if self.console.is_terminal:
            self._status = self.console.status(self._line())
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def __call__(self, event: ev.Event) -> None:
        match event:
            case ev.ExampleScored():
                self.state.done += 1
            case ev.EvalStart(candidate=candidate, operator=operator):
                self.state.current, self.state.done = f"{candidate} ({operator})", 0
            case ev.Evaluated():
                self._evaluated(event)
            case ev.Incumbent(accuracy=accuracy):
                self.state.best = accuracy
            case ev.Plateau(evidence=evidence):
                self.state.plateau = evidence.state
            case ev.Stop(reason=reason):
                self.console.print(f"search stopped: {reason}; scoring baseline and best on test…")
            case ev.BudgetTight(text=text):
                self.console.print(f"[yellow]warning:[/] {text}", highlight=False)
        if self._status is not None:
            self._status.update(self._line())

    def _evaluated(self, event: ev.Evaluated) -> None:
        s = self.state
        s.evals, s.calls, s.tokens, s.usd, s.elapsed = (
            s.evals + 1,
            event.calls,
            event.spend_tokens,
            event.usd,
            event.elapsed_s,
        )
        if not event.raced_out and (s.best is None or event.accuracy > s.best):
            s.best = event.accuracy  # the incumbent event that follows says the same
        if self._status is None:
            raced = " (stopped early: worse than the best)" if event.raced_out else ""
            self.console.print(
                f"[{event.elapsed_s:7.0f}s] {event.candidate} {event.operator:<20} "
                f"dev {event.accuracy:.1%} on {event.n}{raced} | {self._line()}",
                highlight=False,
            )
        self._price_time_limit()

    def _price_time_limit(self) -> None:
        """Once, when the seeds are scored: can the time limit reach a plateau verdict at the
        pace they ran?"""
        from promptopt.search.outlook import time_outlook

        s, pace = self.state, self.pace
        seconds = getattr(self.budget, "seconds", None)
        if pace is None or not seconds or s.evals < pace.after_evaluations or s.elapsed <= 0 or s.tokens <= 0:
            return
        self.pace = None
        self.console.print(
            time_outlook(pace.need, tokens_per_s=s.tokens / s.elapsed, limit_s=seconds), highlight=False
        )

    def _line(self) -> str:
        s = self.state
        best = "-" if s.best is None else f"{s.best:.1%}"
        usd = "n/a" if s.usd is None else f"${s.usd:.4f}"
        left = time_left(self.budget, s)
        return (
            f"candidates {s.evals} · best dev {best} · calls {s.calls} · live tokens {s.tokens} · {usd}"
            f" · plateau {s.plateau}{left} · now {s.current} [{s.done}]"
        )


def time_left(budget: Any, s: DisplayState) -> str:
    """`` · ~12 min left`` from the budget used so far (the most used of time, calls, tokens
    and dollars, at the pace so far); empty without a budget or before the first evaluation.
    The search may stop sooner, at the plateau or at --max-trials."""
    if budget is None or s.elapsed <= 0:
        return ""
    used = [
        s.elapsed / budget.seconds if budget.seconds else 0.0,
        s.calls / budget.calls if budget.calls else 0.0,
        s.tokens / budget.tokens if budget.tokens else 0.0,
        (s.usd or 0.0) / budget.usd if budget.usd else 0.0,
    ]
    fraction = max(used)
    if fraction <= 0:
        return ""
    seconds = max(0.0, s.elapsed * (1 - fraction) / fraction)
    return f" · ~{seconds / 60:.0f} min left" if seconds >= 90 else f" · ~{seconds:.0f} s left"
