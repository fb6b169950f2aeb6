"""promptopt: automated prompt optimization for narrow classification tasks.

Importing the package is cheap: it does no I/O, reads no environment variable, and imports no
heavy third-party library.
"""

__version__ = "0.1.0"
