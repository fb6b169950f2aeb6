"""The one root error and its families.

Every error promptopt raises on purpose is a :class:`PromptoptError`. Its message says what was
wrong, the value seen, and how to fix it; its ``exit_code`` is what the CLI exits with.
Third-party errors are translated at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class PromptoptError(Exception):
    """Root of every error promptopt raises deliberately."""

    exit_code: int = 1

    def __init__(self, what: str, *, hint: str | None = None) -> None:
        self.what = what
        self.hint = hint
        super().__init__(what if hint is None else f"{what}\n  fix: {hint}")


class UsageError(PromptoptError):
    """A command-line value that cannot be used (bad flag combination, bad number)."""

    exit_code = 2


class TaskError(PromptoptError):
    """A task file that cannot be parsed or describes an impossible task."""

    exit_code = 3


class DataError(PromptoptError):
    """Data files referenced by a task are missing, unreadable, or inconsistent with it."""

    exit_code = 4


class ModelError(PromptoptError):
    """A model name that cannot be resolved, or a local model file that fails verification."""

    exit_code = 5


class CredentialsError(ModelError):
    """A provider needs an API key (or base URL) that is not set."""

    exit_code = 6


class ProviderError(PromptoptError):
    """A systemic failure of the model provider (every call failing, auth revoked mid-run)."""

    exit_code = 7


class StoreError(PromptoptError):
    """A cache or run folder that cannot be read or written (permissions, full disk)."""

    exit_code = 8
