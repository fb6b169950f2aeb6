"""Progress and Ctrl-C: the progress line shows a new best as soon as it is scored, and Ctrl-C
always stops a run, even when it lands inside a finalizer, where Python swallows the
KeyboardInterrupt (seen in CI: llama.cpp's LlamaSampler.__del__ ate it and the run went on to
its end)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from promptopt.cli.progress import CtrlC
from promptopt.run.events import Evaluated, ExampleScored

# what the run tells its observers after each scored example
EXAMPLE = ExampleScored(candidate="c", split="dev", correct=True, status="ok")


@pytest.fixture(autouse=True)
def _sigint_as_in_a_terminal() -> Iterator[None]:
    """Python's own SIGINT handler, even when the tests run from a background job (which
    starts with SIGINT ignored)."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


class _PressedDuringFinalizer:
    """Sends SIGINT to this process from inside ``__del__`` and waits for the handler to run."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)


def _press_inside_a_finalizer() -> None:
    _PressedDuringFinalizer()  # dropped at once: __del__ runs here, and its KeyboardInterrupt is ignored


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_press_swallowed_by_a_finalizer_is_raised_at_the_next_example() -> None:
    with CtrlC() as ctrl_c:
        ctrl_c(EXAMPLE)  # nothing pressed yet: the run goes on
        _press_inside_a_finalizer()
        assert ctrl_c.pressed
        with pytest.raises(KeyboardInterrupt):
            ctrl_c(EXAMPLE)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_without_the_guard_such_a_press_is_lost() -> None:
    """The failure the guard exists for: Python's own handler raises inside __del__ and the
    exception goes nowhere."""
    _press_inside_a_finalizer()  # no KeyboardInterrupt reaches this frame


def test_the_previous_handler_is_restored_and_an_ignored_sigint_stays_ignored() -> None:
    before = signal.getsignal(signal.SIGINT)
    with CtrlC():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what `promptopt optimize ... &` from a script starts with
    with CtrlC() as ctrl_c:
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
        ctrl_c(EXAMPLE)
        assert not ctrl_c.pressed
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # the fixture puts the original back


def test_the_progress_line_shows_a_new_best_as_soon_as_it_is_scored() -> None:
    import io

    from rich.console import Console

    from promptopt.cli.progress import OptimizeDisplay

    buffer = io.StringIO()
    display = OptimizeDisplay(Console(file=buffer, force_terminal=False, width=400))
    base = Evaluated(
        eval="e0",
        candidate="a",
        trial=None,
        operator="seed",
        accuracy=0.25,
        n=40,
        raced_out=False,
        why=None,
        spend_tokens=100,
        calls=40,
        usd=0.0,
        elapsed_s=1.0,
    )
    display(base)
    display(replace(base, eval="e1", candidate="b", accuracy=0.925))
    display(
        replace(base, eval="e2", candidate="c", accuracy=1.0, n=10, raced_out=True, why="worse")
    )  # on fewer examples
    lines = buffer.getvalue().splitlines()
    assert "best dev 25.0%" in lines[0] and "best dev 92.5%" in lines[1] and "best dev 92.5%" in lines[2]


def test_the_progress_line_says_the_time_left_from_the_most_used_budget() -> None:
    from promptopt.cli.progress import DisplayState, time_left
    from promptopt.llm.budget import Budget

    state = DisplayState(calls=100, tokens=1_000, elapsed=60.0)
    assert time_left(Budget(seconds=600), state) == " · ~9 min left"  # 60 of 600 s used
    assert time_left(Budget(calls=150, seconds=6000), state) == " · ~30 s left"  # calls run out first
    assert time_left(Budget(tokens=1_000_000), state) == " · ~999 min left"  # 60 s × 999
    assert time_left(Budget(), state) == "" and time_left(None, state) == ""
    assert time_left(Budget(seconds=600), DisplayState()) == ""  # nothing measured yet


def test_the_time_limit_is_priced_once_when_the_seeds_are_scored() -> None:
    """Two seeds: nothing after the first evaluation; after the second, one line at the pace
    so far (60,000 tokens in 60 s: 1,000 tokens/s, so 100,000 to 300,000 tokens take 100 to
    300 s, against --time-limit 200); never again."""
    import io

    from rich.console import Console

    from promptopt.cli.progress import OptimizeDisplay
    from promptopt.compose import TimePace
    from promptopt.llm.budget import Budget
    from promptopt.search.outlook import Need

    buffer = io.StringIO()
    display = OptimizeDisplay(Console(file=buffer, force_terminal=False, width=400), Budget(seconds=200))
    display.pace = TimePace(need=Need("prompt tokens", 100_000.0, 300_000.0), after_evaluations=2)
    first = Evaluated(
        eval="e0", candidate="a", trial=None, operator="seed", accuracy=0.5, n=20, raced_out=False,
        why=None, spend_tokens=20_000, calls=20, usd=0.0, elapsed_s=20.0,
    )  # fmt: skip
    display(first)
    assert "time outlook" not in buffer.getvalue()
    display(replace(first, eval="e1", candidate="b", spend_tokens=60_000, elapsed_s=60.0))
    display(replace(first, eval="e2", candidate="c", spend_tokens=90_000, elapsed_s=90.0))
    shown = buffer.getvalue().splitlines()
    assert "time outlook" in shown[2] and " b " in shown[1]  # after the second seed's own line
    lines = [line for line in shown if "time outlook" in line]
    assert lines == [
        "time outlook: at the pace so far (1,000 prompt tokens/s), a plateau verdict needs 100 to 300 s; "
        "--time-limit 200 may reach it."
    ]
