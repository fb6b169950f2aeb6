"""promptopt: automated prompt optimization for narrow classification tasks.

Importing the package is cheap: it does no I/O, reads no environment variable, and imports no
heavy third-party library.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from promptopt.settings import VERSION

if TYPE_CHECKING:
    from promptopt.production.runtime import Runtime

__version__ = VERSION


def load(path: str | Path, **options: Any) -> Runtime:
    """Load a production prompt artifact (``promptopt export``) and return its runtime:
    ``promptopt.load("prompt.json").predict(text)``. See :func:`promptopt.production.runtime.load` for
    the options. The runtime is imported on first use, so ``import promptopt`` stays cheap."""
    from promptopt.production.runtime import load as load_runtime

    return load_runtime(path, **options)
