"""`python -m hh4b.limits OUTPUT_DIR` (= `hh4b limits`): pyhf limits from the processor's histograms.

The command builds FitOptions (hh4b.stats.inputs) from its options and runs
hh4b.stats.results.run_limits, the library a notebook calls too.

For every analysis method in OUTPUT_DIR/output.coffea:
- resonant: 95% CL CLs upper limits on sigma(gg -> H -> hh) in fb vs m_H (expected with +-1/2 sigma
  bands; observed when `data` datasets exist and the luminosity/energy are the output's own);
- non-resonant: (a) mu as POI, the sigma_HH limit vs kappa_lambda and the allowed kappa_lambda range,
  (b) kappa_lambda as POI, the profile-likelihood interval (paper Table VI);
- projections to other luminosities and the equivalent luminosity between methods (notes Table 28).
Methods with a classifier score (spanet, dnn_*) select events above the score threshold with the
best Asimov significance including the background MC uncertainty (the paper: S/sqrt(B)), and/or
(--score-fit, beyond the paper) fit the m_hh distributions of several score slices at once,
labelled `<method> (score bins)`; those enter the limit and interval tables and plots, not the
projections.
Every fit keeps the per-bin MC statistical uncertainties (staterror, from the sum of squared
weights) unless --no-staterror; the fit bins are merged until each has a background MC relative
uncertainty within --max-mc-uncertainty (hh4b.stats.binning). A fit that does not converge is an
error naming the method, the hypothesis and the least well known bin. Each result says whether
the MC statistics limit it (the MC uncertainties weaken it by more than MC_LIMITED_FACTOR).
Writes workspaces/*.json (pyhf, saved with POI bounds that contain the limits), tables (JSON +
CSV), plots (PNG + PDF) and summary.md to --report.

Cross sections: the signal histograms are normalised to the dataset's xsec_pb, which includes the
branching ratios forced in generation (metadata br_forced: a number, or a dict/list whose product
is used; hh4b's signal samples force hh -> bbbb, constants.BR_HH_4B). The reported limits are on
sigma(gg -> H -> hh) = mu_95 * xsec_pb / br_forced and on sigma(gg -> hh), with sigma x BR(bbbb)
beside them.
"""

from __future__ import annotations

import argparse
import sys

from hh4b import console
from hh4b.config import DEFAULT, add_config_argument, from_options
from hh4b.constants import (
    FIT_MAX_MC_UNCERTAINTY,
    FIT_MIN_KISH,
)
from hh4b.errors import ConfigError, HH4bError
from hh4b.stats.inputs import (
    BACKGROUND_MODELS,
    ENSEMBLE_MODES,
    HEFT_METHODS,
    MULTIJET_CHOICES,
    SCORE_FITS,
    FitOptions,
)
from hh4b.stats.results import run_limits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="directory holding the processor's output.coffea")
    add_config_argument(parser, "luminosity, energy, kappa_lambda grid, fit bins, projections")
    parser.add_argument("--lumi", type=float, default=None,
                        help=f"integrated luminosity in fb^-1; histograms are scaled by lumi / the output's lumi_fb "
                             f"(default: the --config file's, else {DEFAULT.lumi_fb:g})")
    parser.add_argument("--sqrt-s", type=float, default=None,
                        help="centre-of-mass energy in GeV of the limits; the non-resonant signal is scaled by the "
                             "LO sigma(gg->hh) ratio to the output's energy, backgrounds are not "
                             f"(default: the --config file's, else {DEFAULT.sqrt_s:g})")
    parser.add_argument("--method", nargs="+", default=None,
                        help="analysis methods to use (default: every method in the output, e.g. cut_mindr cut_dhh)")
    parser.add_argument("--report", default=None, help="directory for tables, plots, workspaces and summary.md "
                                                       "(default: OUTPUT_DIR/limits)")
    parser.add_argument("--toys", type=int, default=0,
                        help="pseudo-experiments per POI point for the resonant CLs limits; 0 = asymptotic "
                             "formulae (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the toys (default: %(default)s)")
    parser.add_argument("--background", choices=BACKGROUND_MODELS, default="simulation",
                        help="multijet background: simulated samples (binned, per-bin MC uncertainties), the "
                             "simulated m_hh shape smoothed by a fit with its MC uncertainty as correlated shape "
                             "nuisances (hh4b.stats.smoothing), or the 2b->4b reweighted model in the output's "
                             "'mhh_bkgmodel' histogram with its ensemble shape nuisances (default: %(default)s)")
    parser.add_argument("--multijet", choices=MULTIJET_CHOICES, default="auto",
                        help="simulated multijet sample when both exist; auto prefers qcd4b (default: %(default)s)")
    parser.add_argument("--ensemble-mode", choices=ENSEMBLE_MODES, default="pca",
                        help="ensemble -> nuisances: principal components of the retrainings' spread, or one "
                             "nuisance mean +- std (default: %(default)s)")
    parser.add_argument("--normsys", action="append", default=[], metavar="NAME:SAMPLE:REL",
                        help="normalisation uncertainty, e.g. qcd_xsec:qcd:0.1 (10%% on sample qcd); repeatable")
    parser.add_argument("--no-staterror", action="store_true",
                        help="leave out the MC statistical uncertainties (staterror) of the templates")
    parser.add_argument("--min-background", type=float, default=1.0,
                        help="merge m_hh bins (from the tails in) until each has at least this many background "
                             "events at --lumi; bins with zero background are not allowed (default: %(default)s)")
    parser.add_argument("--max-mc-uncertainty", type=float, default=FIT_MAX_MC_UNCERTAINTY,
                        help="merge m_hh bins (from the tails in) until each has a background MC relative "
                             "uncertainty sqrt(sum w^2) / sum w of at most this; a smoothed background's "
                             "(correlated) uncertainty is not merged away (default: %(default)s)")
    parser.add_argument("--min-kish", type=float, default=FIT_MIN_KISH,
                        help="classifier-score thresholds and score slices keep at least this many Kish-effective "
                             "background MC events, (sum w)^2 / sum w^2 (default: %(default)s)")
    parser.add_argument("--max-bins", type=int, default=None,
                        help=f"at most this many m_hh bins of equal relative width (snapped to the histogram's edges) "
                             f"before the --min-background merging; pyhf fits with per-bin MC uncertainties slow "
                             f"down steeply with more bins, those of a smoothed background (a few shape nuisances) "
                             f"do not (default: the configuration's, {DEFAULT.fit_max_bins}, with --background "
                             f"smoothed {DEFAULT.smooth_fit_bins})")
    parser.add_argument("--projections", type=float, nargs="*", default=None,
                        help="extra luminosities in fb^-1 for the projection table; none to skip "
                             f"(default: the configuration's, {', '.join(f'{x:g}' for x in DEFAULT.projections_fb)})")
    parser.add_argument("--score-fit", choices=SCORE_FITS, default="both",
                        help="methods with a classifier score: m_hh above the best threshold (Asimov significance "
                             "with the background MC uncertainty; the paper: S/sqrt(B)), a fit of --score-bins score "
                             "slices with nested optimal edges, or both (default: %(default)s)")
    parser.add_argument("--score-bins", type=int, default=3,
                        help="score slices of the binned fit; the top one is the threshold selection "
                             "(default: %(default)s)")
    parser.add_argument("--score-slice-bins", type=int, default=2,
                        help="at most this many m_hh bins in each score slice below the top one, which keeps "
                             "--max-bins like the threshold fit; fewer bins keep the fits fast (default: %(default)s)")
    parser.add_argument("--kappa-step", type=float, default=None,
                        help="step of the kappa_lambda grid in [-10, 15] for the mu-as-POI limits; the profile "
                             f"scan uses half of it (default: the configuration's, {DEFAULT.kappa_step:g})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--heft-methods", nargs="*", default=list(HEFT_METHODS),
                        help="methods whose non-resonant fit also gives the HEFT results (limits on sigma at the "
                             "benchmarks, the c_2 interval, the (kappa_lambda, c_2) contours; about 1.5 min each; "
                             "none to skip) when the output has the HEFT term histograms (default: %(default)s)")


def fit_options(args: argparse.Namespace) -> FitOptions:
    """The FitOptions of the command line, over the --config file's AnalysisConfig."""
    if args.kappa_step is not None and not args.kappa_step > 0.0:
        raise ConfigError(f"--kappa-step {args.kappa_step:g}: must be positive")
    config = from_options(args.config, lumi_fb=args.lumi, sqrt_s=args.sqrt_s, kappa_step=args.kappa_step,
                          projections_fb=args.projections)
    return FitOptions(config, background=args.background, multijet=args.multijet, ensemble_mode=args.ensemble_mode,
                      normsys=tuple(args.normsys), staterror=not args.no_staterror, min_background=args.min_background,
                      max_mc_uncertainty=args.max_mc_uncertainty, min_kish=args.min_kish, max_bins=args.max_bins,
                      score_fit=args.score_fit, score_bins=args.score_bins, score_slice_bins=args.score_slice_bins,
                      toys=args.toys, seed=args.seed, progress=not args.no_progress,
                      heft_methods=tuple(args.heft_methods))


def main(args: argparse.Namespace) -> int:
    return run_limits(args.output_dir, fit_options(args), args.method, args.report)


def _run() -> int:
    parser = argparse.ArgumentParser(prog="python -m hh4b.limits", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args()
    try:
        return main(args)
    except HH4bError as err:
        console.error(f"hh4b limits: error: {err}")
        return 2


if __name__ == "__main__":
    sys.exit(_run())
