"""Writing the limits stage's tables (JSON + CSV) and its markdown summary."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np


def write_table(rows: list[dict], stem: Path) -> list[Path]:
    """rows (list of flat dicts) -> stem.json and stem.csv; returns the paths written."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = stem.with_suffix(".json"), stem.with_suffix(".csv")
    json_path.write_text(json.dumps(rows, indent=2) + "\n")
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return [json_path, csv_path]


def _fmt(value) -> str:
    """Three significant digits, written out in full between 1e-3 and 1e6 (1000, not 1e+03)."""
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if not isinstance(value, (float, np.floating)):
        return str(value)
    if not np.isfinite(value):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        return np.format_float_positional(float(f"{value:.3g}"), trim="-")
    return f"{value:.2e}"


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    head = "| " + " | ".join(columns) + " |\n| " + " | ".join("---" for _ in columns) + " |\n"
    return head + "".join("| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |\n" for r in rows)


def write_summary(path: Path, title: str, sections: list[tuple[str, str]]) -> Path:
    """Markdown file with a title and (heading, body) sections."""
    text = f"# {title}\n\n" + "".join(f"## {h}\n\n{body.rstrip()}\n\n" for h, body in sections)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
