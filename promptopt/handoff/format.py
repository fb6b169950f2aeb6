"""Formatters shared by the hand-offs: percentages, intervals, dollars and numbers for the
markdown they write, and strict JSON (no NaN) for the files beside it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def clean_json(value: Any) -> Any:
    """The value with NaN and infinities replaced by None, so it is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


def pct(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) and math.isfinite(value) else "n/a"


def interval(values: Sequence[Any] | None) -> str:
    return f"[{pct(values[0])}, {pct(values[1])}]" if values else "[n/a]"


def usd(value: float | None) -> str:
    if value is None:
        return "unknown"
    return "never" if math.isinf(value) else f"${value:,.2f}"


def num(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "n/a" if value is None or math.isnan(value) else "never"
    return f"{value:,.{digits}f}"
