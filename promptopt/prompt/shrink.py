"""What makes long inputs and long label lists affordable: cutting texts to a token length,
one demo per label among the neighbours, and the label list narrowed to the neighbours' labels.

Lengths are in tokens at a fixed :data:`CHARS_PER_TOKEN` (a rendering must not depend on
what a run has measured so far, or the same candidate would render two ways); a cut ends at a
word boundary and is marked with an ellipsis.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from promptopt.prompt.candidate import CutMode
from promptopt.task.spec import Example

CHARS_PER_TOKEN = 4
ELLIPSIS = " [...] "
HEAD_SHARE = 2 / 3  # "ends": two thirds of the length from the start, the rest from the end


def cut(text: str, tokens: int, mode: CutMode = "head") -> str:
    """``text`` cut to about ``tokens`` tokens (``tokens * CHARS_PER_TOKEN`` characters at
    most, the marker included); 0 keeps it whole. ``head`` keeps the start, ``ends`` the start
    and the end (a ticket's closing lines often say what is asked)."""
    limit = tokens * CHARS_PER_TOKEN
    if tokens <= 0 or len(text) <= limit:
        return text
    room = max(1, limit - len(ELLIPSIS))
    if mode == "head":
        return _head(text, room) + ELLIPSIS.rstrip()
    head = _head(text, int(room * HEAD_SHARE))
    return head + ELLIPSIS + _tail(text, room - len(head))


def _head(text: str, n: int) -> str:
    """The first ``n`` characters at most, ending at a word boundary when there is one."""
    piece = text[:n]
    space = piece.rfind(" ")
    return (piece[:space] if space > n // 2 else piece).rstrip()


def _tail(text: str, n: int) -> str:
    """The last ``n`` characters at most, starting at a word boundary when there is one."""
    if n <= 0:
        return ""
    piece = text[-n:]
    space = piece.find(" ")
    return (piece[space + 1 :] if 0 <= space < n // 2 else piece).lstrip()


MIN_INPUT_CHARS = 200  # an input is never cut shorter than this to fit a context window


def fit(demos: Sequence[Example], text: str, drop_chars: int) -> tuple[list[Example], str]:
    """A prompt too long for the model's context window, shorter by about ``drop_chars``
    characters of data: demos dropped first, the first shown first (retrieved demos are shown
    most similar last, so the least similar go first), then the input's head kept (never under
    :data:`MIN_INPUT_CHARS`) and marked with the ellipsis."""
    kept = list(demos)
    while kept and drop_chars > 0:
        drop_chars -= len(kept.pop(0).text)
    if drop_chars > 0:
        room = max(MIN_INPUT_CHARS, len(text) - drop_chars - len(ELLIPSIS))
        if room < len(text):
            text = _head(text, room) + ELLIPSIS.rstrip()
    return kept, text


def one_per_label(neighbours: Iterable[Example], k: int) -> list[Example]:
    """The nearest neighbour of each label, nearest first, until ``k`` (``neighbours`` most
    similar first)."""
    seen: set[str] = set()
    chosen: list[Example] = []
    for example in neighbours:
        if example.label not in seen:
            seen.add(example.label)
            chosen.append(example)
            if len(chosen) == k:
                break
    return chosen


def neighbour_labels(labels: Sequence[str], neighbours: Iterable[Example]) -> tuple[str, ...]:
    """The labels the neighbours carry, in the task's label order (so the list does not hint
    at which neighbour is nearest)."""
    present = {e.label for e in neighbours}
    return tuple(label for label in labels if label in present)
