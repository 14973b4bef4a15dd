"""What a command shows a person: the result it was asked for on stdout, a failure on stderr.

Progress and notes ("wrote ...", "note: ...") go through `logging` instead; `hh4b.cli` shows
hh4b's INFO messages and other packages' warnings.
"""

from __future__ import annotations

import sys


def result(text: str) -> None:
    """A result the command was asked for (a number, a table, a summary) on stdout."""
    print(text, flush=True)


def error(text: str) -> None:
    """A one-line failure on stderr, e.g. `hh4b run: error: ...`."""
    print(text, file=sys.stderr, flush=True)
