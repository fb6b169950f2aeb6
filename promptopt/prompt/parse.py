"""Parsing the model's answer back into a label (or ``None``: an ``invalid`` answer)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from promptopt.prompt.render import codes_for

ANSWER_PREFIX = re.compile(
    r"^(?:the\s+)?(?:label|answer|intent|category|class|output|topic|product)\b\s*(?:is\b)?\s*[:=\-]?\s*",
    re.I,
)
STRIP_CHARS = "\"'`*_[](){}<>.,;:!?- \t"
SEPARATORS = re.compile(r"[\s_\-/]+")


class LabelParser:
    """Maps a raw completion to a label, or ``None`` when it names no label (``invalid``).

    Reads the first non-empty line. Tolerates case, surrounding whitespace and quotes, a
    trailing period, a leading ``Label:``-style prefix, and spaces/hyphens written for
    underscores. It never guesses between labels: an answer that is not exactly one label
    after normalisation is invalid.
    """

    def __init__(self, labels: Sequence[str], output_format: str = "label") -> None:
        self.labels = tuple(labels)
        targets = codes_for(self.labels) if output_format == "code" else self.labels
        self._keys: dict[str, str] = {}
        for target, label in zip(targets, self.labels, strict=True):
            self._keys.setdefault(normalize(target), label)

    def parse(self, completion: str) -> str | None:
        line = next((line for line in completion.splitlines() if line.strip()), "")
        for variant in _variants(line):
            if variant in self._keys:
                return self._keys[variant]
        return None


def _variants(line: str) -> list[str]:
    stripped = line.strip().strip(STRIP_CHARS)
    without_prefix = ANSWER_PREFIX.sub("", stripped).strip(STRIP_CHARS)
    return [normalize(stripped), normalize(without_prefix)]


def normalize(text: str) -> str:
    """Lower-case, trim quotes/punctuation at the ends, fold ``_ - /`` and spaces to one space."""
    return SEPARATORS.sub(" ", text.strip().strip(STRIP_CHARS).lower()).strip()
