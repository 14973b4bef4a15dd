"""`hh4b main`: the README's main job on the built-in default fileset.

Chains the stages through their own subcommands, so it does exactly what a person typing them
would: materialise missing files of the fileset, then per analysis (resonant at the 70% b-tag
working point, non-resonant at 77%, paper II.A) process with every method whose model ships in
`models/`, build the data-driven background where the multijet sample allows it, compute
limits (into limits/ with the binned simulated templates and per-bin MC uncertainties; into
limits_smoothed/ for the cut-based methods with the multijet m_hh shape smoothed by a fit, whose
MC uncertainty the fits carry as correlated shape nuisances; for DATADRIVEN_METHOD also with the
data-driven background, into limits_datadriven/) and write the report. The LO four-b background is
truth tagged (TRUTH_TAGGED_PROCESSES) unless --no-truth-tagging.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hh4b.config import ANALYSES, DEFAULT, MAINJOB_FIT_BINS, MAINJOB_KAPPA_STEP, RESONANT, TRUTH_TAGGED_PROCESSES
from hh4b.errors import HH4bError

DATADRIVEN_METHOD = "cut_mindr"  # the method `hh4b background` models by default

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fileset", default="fileset.json", help="fileset to process (default: %(default)s)")
    parser.add_argument("--output", default="outputs",
                        help="directory for histograms, limits and reports (default: %(default)s)")
    parser.add_argument("--models", default="models", help="directory of ONNX models (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes (default: %(default)s)")
    parser.add_argument("--lumi", type=float, default=DEFAULT.lumi_fb,
                        help="integrated luminosity in fb^-1 for the limits (default: %(default)s)")
    parser.add_argument("--sqrt-s", type=float, default=DEFAULT.sqrt_s,
                        help="centre-of-mass energy of the limits in GeV (default: %(default)s)")
    parser.add_argument("--analysis", choices=ANALYSES, action="append",
                        help="run only this analysis (repeatable; default: both)")
    parser.add_argument("--max-bins", type=int, default=MAINJOB_FIT_BINS,
                        help="m_hh bins of the binned-template fits (limits/, limits_datadriven/; fewer = faster; "
                             "the smoothed fits in limits_smoothed/ use the limits stage's default) "
                             "(default: %(default)s)")
    parser.add_argument("--no-truth-tagging", action="store_true",
                        help="draw the b-tags of the LO four-b background like every other sample instead of "
                             "truth tagging it (default: truth tagging, ~3x the effective four-tag statistics)")
    parser.add_argument("--ensemble", type=int, default=5,
                        help="bootstrap retrainings of the data-driven background (default: %(default)s)")


def _stage(argv: list[str], optional: bool = False) -> bool:
    from hh4b.cli import main as cli_main

    log.info("==> hh4b %s", " ".join(argv))
    status = cli_main(argv)
    if status and not optional:
        raise HH4bError(f"stage `hh4b {' '.join(argv[:2])}` failed with status {status}")
    if status:
        log.warning("note: optional stage `hh4b %s` did not complete (status %s); continuing", argv[0], status)
    return status == 0


def truth_tagging_option(fileset_path, disabled: bool) -> list[str]:
    """`--truth-tagging P,...` for the TRUTH_TAGGED_PROCESSES present in the fileset (none when disabled)."""
    from hh4b.analysis.processing import load_fileset

    if disabled:
        return []
    present = {e["metadata"].get("process") for e in load_fileset(fileset_path).values()}
    names = [p for p in TRUTH_TAGGED_PROCESSES if p in present]
    return ["--truth-tagging", ",".join(names)] if names else []


def cut_based_methods(output_dir) -> list[str]:
    """The methods of a processor output without a classifier score (the smoothed limits' methods:
    their fits take about a minute each, those above classifier thresholds several)."""
    from hh4b.stats.outputs import load_output
    from hh4b.stats.scores import score_methods

    out = load_output(output_dir)
    return [m for m in out.methods() if m not in score_methods(out)]


def main(args: argparse.Namespace) -> int:
    output = Path(args.output)
    workers = str(args.workers)
    _stage(["generate", "--fileset", args.fileset, "--workers", workers])
    truth_tagging = truth_tagging_option(args.fileset, args.no_truth_tagging)
    for analysis in args.analysis or ANALYSES:
        out = output / analysis
        _stage(["run", args.fileset, "--analysis", analysis, "--models", args.models, "--executor", "futures",
                "--workers", workers, "--output", str(out), "--save-columns", "--no-progress", *truth_tagging])
        limits = ["limits", str(out), "--lumi", str(args.lumi), "--sqrt-s", str(args.sqrt_s),
                  "--kappa-step", str(MAINJOB_KAPPA_STEP)]
        binned = [*limits, "--max-bins", str(args.max_bins)]
        datadriven = analysis == RESONANT and _stage(
            ["background", str(out), "--ensemble", str(args.ensemble), "--workers", workers], optional=True)
        _stage([*binned, "--report", str(out / "limits")])
        _stage([*limits, "--report", str(out / "limits_smoothed"), "--background", "smoothed", "--heft-methods",
                "--method", *cut_based_methods(out)])
        if datadriven:
            _stage([*binned, "--report", str(out / "limits_datadriven"), "--background", "datadriven",
                    "--method", DATADRIVEN_METHOD], optional=True)
        _stage(["report", str(out), "--models", args.models])
    log.info("main job done: per analysis under %s/: output.coffea, limits/ (plots, tables, workspaces), "
             "report/report.md", output)
    return 0
