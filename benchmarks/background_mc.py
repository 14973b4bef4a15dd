"""Effective multijet MC statistics where the analysis looks, and what they cost.

    python benchmarks/background_mc.py data/qcd4b_*.root [--reference OLD.root ...] [--json out.json]

For each set of LO four-b files (hh4b.generate.qcd4b): the processor (truth tagging, cut-based
min-dR pairing) at both working points, WP 70 (resonant) and WP 77 (non-resonant), and per
mass-plane region (SR, VR, CR) of the four-tag events passing every other cut: the expected events
at 300 fb^-1, the raw and Kish-effective MC events, and the CPU seconds per Kish SR event (the
seconds per generation stage in the files' metadata: parton level, colour flows, shower; wall-clock
times of one-core jobs, an upper bound of their CPU time when jobs share cores). With --reference, the same for a second
set of files (e.g. the former default) and, for the four-tag yield, the SR yield and the m_hh,
m_h1, m_h2 shapes of the four-tag events, a chi2 of the two samples' difference over its errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import numpy as np
from scipy.stats import chi2

from hh4b.constants import BTAG_WP_NONRESONANT, BTAG_WP_RESONANT
from hh4b.generate import writer
from hh4b.weights import effective_entries

REGIONS = {1: "SR", 2: "VR", 3: "CR"}
SHAPES = {"mhh": np.array([200, 300, 350, 400, 450, 500, 600, 800, 3000.0]),
          "mh1": np.linspace(40, 240, 9), "mh2": np.linspace(40, 240, 9)}


def dataset(files: list[str]) -> dict:
    """One qcd4b fileset entry for `files`, its metadata pooled as `hh4b generate --fileset` does."""
    from pathlib import Path

    from hh4b.generate.fileset import refresh_metadata

    fileset = {"qcd4b": {"files": {str(Path(f).resolve()): "Events" for f in files},
                         "metadata": {"process": "qcd4b"}}}
    refresh_metadata(Path(files[0]), fileset)
    cpu = sum(sum(writer.read_metadata(f)["qcd4b"]["seconds"].values()) for f in files)
    return fileset, float(cpu)


def four_tag_columns(fileset: dict, working_point: str) -> dict:
    """Per-event columns (hh4b.analysis.columns) of the four-tag, min-dR-paired events at `working_point`."""
    from hh4b.analysis.processing import process_fileset
    from hh4b.analysis.processor import HH4bProcessor
    from hh4b.config import AnalysisConfig

    proc = HH4bProcessor(AnalysisConfig(btag_wp=working_point), methods=("cut_mindr",), save_columns=True,
                         truth_tagging=("qcd4b",))
    out = process_fileset(fileset, proc, "iterative", 1, 100_000, progress=False)
    cols = {k: np.concatenate(v) if isinstance(v, list) else np.asarray(v) for k, v in out["columns"].items()}
    keep = cols["tags"] == 4
    return {k: v[keep] for k, v in cols.items()}


def summary(columns: dict, cpu: float) -> dict:
    out = {"four_tag": {"events": float(columns["weight"].sum()), "kish": effective_entries(columns["weight"])}}
    for code, name in REGIONS.items():
        w = columns["weight"][columns["region"] == code]
        out[name] = {"events": float(w.sum()), "raw": int(len(w)), "kish": effective_entries(w)}
    out["cpu_s_per_kish_sr"] = cpu / out["SR"]["kish"] if out["SR"]["kish"] > 0 else float("inf")
    return out


def compare(a: dict, b: dict) -> dict:
    """chi2 / ndf and p-value of the difference of two weighted samples: yields and shapes."""
    out = {}
    for name, mask in (("four_tag", None), ("SR", 1)):
        values = []
        for cols in (a, b):
            w = cols["weight"] if mask is None else cols["weight"][cols["region"] == mask]
            values.append((w.sum(), np.sum(w**2)))
        (x, vx), (y, vy) = values
        value = (x - y) ** 2 / (vx + vy)
        out[f"{name}_yield"] = {"chi2": float(value), "ndf": 1, "p": float(chi2.sf(value, 1))}
    for name, edges in SHAPES.items():
        hists = []
        for cols in (a, b):
            w = cols["weight"] / cols["weight"].sum()
            hists.append((np.histogram(cols[name], edges, weights=w)[0],
                          np.histogram(cols[name], edges, weights=w**2)[0]))
        (x, vx), (y, vy) = hists
        use = (vx + vy) > 0
        value = float(np.sum((x - y)[use] ** 2 / (vx + vy)[use]))
        ndf = int(use.sum()) - 1
        out[name] = {"chi2": value, "ndf": ndf, "p": float(chi2.sf(value, ndf))}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--reference", nargs="+", help="a second set of qcd4b files to compare with")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = {}
    sets = {"sample": args.files, **({"reference": args.reference} if args.reference else {})}
    columns = {}
    for label, files in sets.items():
        fileset, cpu = dataset(files)
        report[label] = {"files": len(files), "cpu_seconds": cpu}
        for analysis, wp in (("resonant", BTAG_WP_RESONANT), ("nonresonant", BTAG_WP_NONRESONANT)):
            columns[label, analysis] = four_tag_columns(fileset, wp)
            report[label][analysis] = summary(columns[label, analysis], cpu)
            s = report[label][analysis]
            logging.info("%s %s (WP %s): SR %.0f events, %d raw, Kish %.1f; VR Kish %.1f; CR Kish %.1f; "
                         "%.1f CPU s per Kish SR event", label, analysis, wp, s["SR"]["events"], s["SR"]["raw"],
                         s["SR"]["kish"], s["VR"]["kish"], s["CR"]["kish"], s["cpu_s_per_kish_sr"])
    if args.reference:
        for analysis in ("resonant", "nonresonant"):
            report[f"compare_{analysis}"] = compare(columns["sample", analysis], columns["reference", analysis])
            logging.info("%s: %s", analysis, {k: round(v["p"], 3) for k, v in report[f"compare_{analysis}"].items()})
    if args.json:
        with open(args.json, "w") as fout:
            json.dump(report, fout, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
