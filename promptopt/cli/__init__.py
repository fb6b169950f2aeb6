"""The command line: a thin shell over the library (the only package that prints).

- :mod:`.app`: the typer app, the consoles, the shared options, errors to exit codes;
- :mod:`.tasks`: ``tasks``, ``models``, ``eval``;
- :mod:`.init`: ``init`` (a task file from one data file or a hub dataset);
- :mod:`.runs`: ``optimize``, ``resume``, ``runs``, ``show``;
- :mod:`.handoffs`: ``report``, ``finetune-spec``, ``export``;
- :mod:`.production`: ``predict``, ``verify``;
- :mod:`.progress`: live progress, plain progress lines for logs, Ctrl-C;
- :mod:`.tables`: the tables and summaries the commands print;
- :mod:`.next_steps`: the commands that follow each command.
"""

from promptopt.cli import handoffs, init, production, runs, tasks
from promptopt.cli.app import app

__all__ = ["app", "entrypoint", "handoffs", "init", "production", "runs", "tasks"]


def entrypoint() -> None:
    app()
