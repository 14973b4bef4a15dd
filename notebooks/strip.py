"""Strip outputs and execution counts from notebooks, so they are stored clean in git.

    python notebooks/strip.py notebooks/*.ipynb          # rewrite in place
    python notebooks/strip.py --check notebooks/*.ipynb  # exit 1 if any notebook has outputs

tests/test_notebooks.py fails when a stored notebook has outputs; run this before committing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat


def strip(nb) -> bool:
    """Remove outputs, execution counts and execution timing metadata in place; True if anything changed."""
    changed = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            changed = True
        cell["outputs"] = []
        cell["execution_count"] = None
        for key in ("execution", "collapsed", "scrolled"):
            if key in cell.metadata:
                del cell.metadata[key]
                changed = True
    return changed


def has_outputs(nb) -> list[int]:
    """Indices of code cells that carry outputs or an execution count."""
    return [i for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only report notebooks with outputs")
    args = parser.parse_args(argv)
    dirty = []
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        if args.check:
            if has_outputs(nb):
                dirty.append(path)
        elif strip(nb):
            nbformat.write(nb, path)
            print(f"stripped {path}")
    for path in dirty:
        print(f"{path}: stored with outputs (run python notebooks/strip.py {path})", file=sys.stderr)
    return 1 if dirty else 0


if __name__ == "__main__":
    sys.exit(main())
