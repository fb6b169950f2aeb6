"""The error families: each has its own exit code, and a message says what and how to fix."""

from __future__ import annotations

from promptopt.errors import DataError, TaskError


def test_error_exit_codes_differ() -> None:
    assert TaskError("x").exit_code != DataError("x").exit_code
    assert str(TaskError("what", hint="how")) == "what\n  fix: how"
