"""The command line: a thin shell over the library (the only package that prints)."""

from promptopt.cli.main import app, entrypoint

__all__ = ["app", "entrypoint"]
