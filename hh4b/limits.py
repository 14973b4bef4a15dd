"""`python -m hh4b.limits OUTPUT_DIR` (= `hh4b limits`): pyhf limits from the processor's histograms.

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
import json
import logging
import re
import sys
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from hh4b import console
from hh4b.constants import (
    FIT_MAX_BINS,
    FIT_MAX_MC_UNCERTAINTY,
    FIT_MIN_KISH,
    LUMI_DEFAULT_FB,
    LUMI_PROJECTIONS_FB,
    MC_LIMITED_FACTOR,
    SMOOTH_FIT_BINS,
)
from hh4b.errors import ConfigError, HH4bError
from hh4b.stats import binning, fitsummary, kappa as kl, outputs, plots, projections, scores, smoothing, tables
from hh4b.stats.heft import heft_results, markdown_table as heft_markdown
from hh4b.stats.limits import FIT_ERRORS, LimitResult, upper_limit
from hh4b.stats.model import Template, build_spec, set_poi_bounds
from hh4b.theory import heft
from hh4b.weights import generation_kappa_lambda

SIGNAL_PROCESSES = ("resonant", "nonresonant")
BACKGROUND_MODELS = ("simulation", "smoothed", "datadriven")
HEFT_METHODS = ("cut_mindr",)  # methods given the HEFT results by default (they cost ~1.5 min each)
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="directory holding the processor's output.coffea")
    parser.add_argument("--lumi", type=float, default=LUMI_DEFAULT_FB,
                        help="integrated luminosity in fb^-1; histograms are scaled by lumi / the output's lumi_fb "
                             "(default: %(default)s)")
    parser.add_argument("--sqrt-s", type=float, default=14000.0,
                        help="centre-of-mass energy in GeV of the limits; the non-resonant signal is scaled by the "
                             "LO sigma(gg->hh) ratio to the output's energy, backgrounds are not "
                             "(default: %(default)s)")
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
    parser.add_argument("--multijet", choices=("auto", "qcd", "qcd4b"), default="auto",
                        help="simulated multijet sample when both exist; auto prefers qcd4b (default: %(default)s)")
    parser.add_argument("--ensemble-mode", choices=("pca", "envelope"), default="pca",
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
                             f"do not (default: {FIT_MAX_BINS}, with --background smoothed {SMOOTH_FIT_BINS})")
    parser.add_argument("--projections", type=float, nargs="*", default=list(LUMI_PROJECTIONS_FB),
                        help="extra luminosities in fb^-1 for the projection table; none to skip "
                             "(default: %(default)s)")
    parser.add_argument("--score-fit", choices=("threshold", "bins", "both"), default="both",
                        help="methods with a classifier score: m_hh above the best threshold (Asimov significance "
                             "with the background MC uncertainty; the paper: S/sqrt(B)), a fit of --score-bins score "
                             "slices with nested optimal edges, or both (default: %(default)s)")
    parser.add_argument("--score-bins", type=int, default=3,
                        help="score slices of the binned fit; the top one is the threshold selection "
                             "(default: %(default)s)")
    parser.add_argument("--score-slice-bins", type=int, default=2,
                        help="at most this many m_hh bins in each score slice below the top one, which keeps "
                             "--max-bins like the threshold fit; fewer bins keep the fits fast (default: %(default)s)")
    parser.add_argument("--kappa-step", type=float, default=0.5,
                        help="step of the kappa_lambda grid in [-10, 15] for the mu-as-POI limits; the profile "
                             "scan uses half of it (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--heft-methods", nargs="*", default=list(HEFT_METHODS),
                        help="methods whose non-resonant fit also gives the HEFT results (limits on sigma at the "
                             "benchmarks, the c_2 interval, the (kappa_lambda, c_2) contours; about 1.5 min each; "
                             "none to skip) when the output has the HEFT term histograms (default: %(default)s)")


def max_bins(args) -> int:
    """--max-bins, or its default for the background model."""
    if args.max_bins is not None:
        return args.max_bins
    return SMOOTH_FIT_BINS if args.background == "smoothed" else FIT_MAX_BINS


def _parse_normsys(items) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    for item in items:
        parts = item.split(":")
        try:
            name, sample, rel = parts[0], parts[1], float(parts[2])
        except (IndexError, ValueError) as err:
            raise ConfigError(f"--normsys {item!r}: expected NAME:SAMPLE:REL, e.g. qcd_xsec:qcd:0.1") from err
        result.setdefault(sample, {})[name] = rel
    return result


def branching_ratio(out: outputs.ProcessorOutput, dataset: str) -> float:
    """The branching ratio included in a signal dataset's xsec_pb (metadata br_forced: a number, or
    a dict/list of factors); ConfigError naming the dataset when it is missing or not in (0, 1]."""
    br = out.metadata[dataset].get("br_forced")
    if br is None:
        raise ConfigError(f"signal dataset {dataset!r} in {out.path} has no metadata 'br_forced': give the branching "
                          f"ratio its xsec_pb includes (1 if xsec_pb is the full cross section)")
    try:
        value = float(np.prod(list(br.values()) if isinstance(br, dict) else br))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"signal dataset {dataset!r}: metadata br_forced {br!r} is not a number") from err
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"signal dataset {dataset!r}: metadata br_forced {value:g} is not in (0, 1]")
    return value


class MethodInputs:
    """Binned, luminosity-scaled templates of one method, on bins with background everywhere."""

    def __init__(self, out: outputs.ProcessorOutput, method: str, args):
        self.out, self.method, self.args = out, method, args
        self.scale = projections.lumi_factor(args.lumi, out.lumi_fb)
        self.ensembles, self.variations, self.smooth_fits = {}, {}, {}
        if args.background == "datadriven":
            edges, backgrounds = self._datadriven()
        else:
            edges, backgrounds = outputs.simulated_backgrounds(out, method, args.multijet)
        if args.background == "smoothed":
            backgrounds = self._smoothed(edges, backgrounds)
        self.native_edges = edges
        coarse = outputs.geometric_edges(edges, max_bins(args))
        # a smoothed template's uncertainty is correlated across bins: merging does not reduce it
        total = outputs.total(t if not t.shapes else Template(t.yields) for t in backgrounds.values())
        total = outputs.rebin(total, edges, coarse).scaled(self.scale)
        self.edges = binning.mc_merged_edges(coarse, total.yields, total.variances, args.max_mc_uncertainty,
                                             args.min_background, label=f"method {method}")
        self.backgrounds = {n: self.rebin(t).scaled(self.scale) for n, t in backgrounds.items()}
        self.ensembles = {n: self._rebin_rows(e) * self.scale for n, e in self.ensembles.items()}
        self.variations = {n: {k: self.rebin(Template(v)).yields * self.scale for k, v in d.items()}
                           for n, d in self.variations.items()}
        self.observed = self._observed()

    def _datadriven(self):
        edges, nominal, ensemble, others, replaced = outputs.datadriven_background(self.out, self.method)
        _, sim = outputs.simulated_backgrounds(self.out, self.method, self.args.multijet)
        backgrounds = {n: t for n, t in sim.items() if n not in replaced and n not in outputs.MULTIJET}
        backgrounds["multijet"] = nominal
        if ensemble is not None:
            self.ensembles["multijet"] = ensemble
        if others:
            self.variations["multijet"] = others
        return edges, backgrounds

    def _smoothed(self, edges, backgrounds: dict[str, Template]) -> dict[str, Template]:
        """The multijet templates replaced by their smooth fits (hh4b.stats.smoothing); a sample too
        scarce to fit keeps its binned template, with a warning."""
        result = dict(backgrounds)
        for name in outputs.MULTIJET:
            if name not in result or not result[name].yields.sum() > 0:
                continue
            try:
                result[name], fit = smoothing.smoothed_template(edges, result[name], name,
                                                                label=f"method {self.method}, {name}")
            except ConfigError as err:
                log.warning("%s; keeping its binned template", err)
                continue
            self.smooth_fits[name] = fit
        return result

    def smooth_rows(self) -> list[dict]:
        """One row per smoothed background: the fitted degree and the goodness of fit."""
        return [{"method": self.method, "background": name, **fit.as_dict()} for name, fit in self.smooth_fits.items()]

    def rebin(self, template: Template) -> Template:
        return outputs.rebin(template, self.native_edges, self.edges)

    def signal(self, datasets) -> Template:
        """The summed SR template of `datasets` on the fit bins, at --lumi."""
        return self.rebin(outputs.template(self.out, datasets, self.method)[1]).scaled(self.scale)

    def kappa_terms(self, datasets) -> kl.KappaTerms:
        """The non-resonant (a, b, c) terms of `datasets` on the fit bins, at --lumi."""
        edges, terms = outputs.kappa_terms(self.out, datasets, self.method)
        idx = np.searchsorted(edges, self.edges[:-1])
        return kl.KappaTerms(*(np.add.reduceat(np.asarray(x, float), idx) * self.scale
                               for x in (terms.a, terms.b, terms.c)))

    def _rebin_rows(self, rows):
        idx = np.searchsorted(self.native_edges, self.edges[:-1])
        return np.add.reduceat(np.asarray(rows, float), idx, axis=1)

    def _observed(self):
        data = self.out.datasets("data")
        if not data:
            return None
        if not (np.isclose(self.scale, 1.0) and np.isclose(self.args.sqrt_s, self.out.sqrt_s)):
            return None  # observed data exist only at the output's own luminosity and energy
        return self.rebin(outputs.template(self.out, data, self.method)[1]).yields

    def bin_rows(self) -> list[dict]:
        """The fit bins with their total background at --lumi, MC relative uncertainty and Kish count."""
        total = outputs.total(self.backgrounds.values())
        return binning.bin_rows(self.edges, total.yields, total.variances)

    def spec(self, signals: dict, scale: float = 1.0, staterror: bool | None = None, **kwargs) -> dict:
        """Workspace with luminosity `scale` relative to --lumi (projections); staterror None: as
        --no-staterror says."""
        normsys = _parse_normsys(self.args.normsys)
        bkgs = {n: t.scaled(scale) for n, t in self.backgrounds.items()}
        return build_spec(self.edges, signals, bkgs, normsys=normsys or None,
                          ensembles={n: e * scale for n, e in self.ensembles.items()} or None,
                          variations={n: {k: v * scale for k, v in d.items()} for n, d in self.variations.items()}
                          or None, ensemble_mode=self.args.ensemble_mode,
                          staterror=not self.args.no_staterror if staterror is None else staterror,
                          label=f"method {self.method}", **kwargs)

    def kappa_spec(self, terms: kl.KappaTerms, scale: float = 1.0, staterror: bool | None = None,
                   **kwargs) -> dict:
        """The kappa_lambda-as-POI workspace (hh4b.stats.kappa.kappa_spec) at luminosity `scale`."""
        bkgs = {n: t.scaled(scale) for n, t in self.backgrounds.items()}
        return kl.kappa_spec(self.edges, terms.scaled(scale), bkgs, normsys=_parse_normsys(self.args.normsys) or None,
                             staterror=not self.args.no_staterror if staterror is None else staterror,
                             label=f"method {self.method}", **kwargs)


class ScoreBinnedInputs(MethodInputs):
    """The fit in bins of the classifier score: one MethodInputs per score slice [lo, hi) of `score_edges`
    (each on its own merged m_hh bins: --max-bins in the top slice, as in the threshold fit,
    --score-slice-bins below it), concatenated into the bins of one channel."""

    def __init__(self, out: outputs.ProcessorOutput, method: str, args, score_edges):
        self.out, self.args, self.score_edges = out, args, np.asarray(score_edges, float)
        self.method = f"{method}{scores.SCORE_BINS_SUFFIX}"
        lower = argparse.Namespace(**{**vars(args), "max_bins": min(args.score_slice_bins, max_bins(args))})
        self.slices = [MethodInputs(scores.thresholded_output(out, method, lo, hi if hi < 1.0 else np.inf), method,
                                    args if hi >= 1.0 else lower)
                       for lo, hi in zip(self.score_edges[:-1], self.score_edges[1:])]
        self.scale = self.slices[0].scale
        self.edges = np.arange(sum(s.edges.size - 1 for s in self.slices) + 1.0)  # fit-bin index
        self.backgrounds = {n: self._join([s.backgrounds[n] for s in self.slices]) for n in self.slices[0].backgrounds}
        self.ensembles = {n: np.concatenate([s.ensembles[n] for s in self.slices], axis=1)
                          for n in self.slices[0].ensembles}
        self.variations = {n: {k: np.concatenate([s.variations[n][k] for s in self.slices]) for k in d}
                           for n, d in self.slices[0].variations.items()}
        observed = [s.observed for s in self.slices]
        self.observed = None if any(o is None for o in observed) else np.concatenate(observed)

    def bin_rows(self) -> list[dict]:
        rows = []
        for lo, hi, part in zip(self.score_edges[:-1], self.score_edges[1:], self.slices):
            rows += [{**r, "bin": len(rows) + i, "score": f"[{lo:g}, {hi:g})"} for i, r in enumerate(part.bin_rows())]
        return rows

    @staticmethod
    def _join(templates) -> Template:
        """The slices' templates side by side; each slice's shape nuisances (its own smooth fit)
        become nuisances `<name>_slice<k>` that leave the other slices at their nominal."""
        variances = [t.variances for t in templates]
        shapes = []
        for k, t in enumerate(templates):
            for name, lo, hi in t.shapes:
                shapes.append((f"{name}_slice{k}",
                               *(np.concatenate([x if j == k else u.yields for j, u in enumerate(templates)])
                                 for x in (lo, hi))))
        return Template(np.concatenate([t.yields for t in templates]),
                        None if any(v is None for v in variances) else np.concatenate(variances), tuple(shapes))

    def smooth_rows(self) -> list[dict]:
        return [{**r, "method": self.method, "score": f"[{lo:g}, {hi:g})"}
                for lo, hi, part in zip(self.score_edges[:-1], self.score_edges[1:], self.slices)
                for r in part.smooth_rows()]

    def signal(self, datasets) -> Template:
        return self._join([s.signal(datasets) for s in self.slices])

    def kappa_terms(self, datasets) -> kl.KappaTerms:
        parts = [s.kappa_terms(datasets) for s in self.slices]
        return kl.KappaTerms(*(np.concatenate([getattr(p, t) for p in parts]) for t in "abc"))


def _save_workspace(spec: dict, report: Path, name: str) -> None:
    path = report / "workspaces" / f"{re.sub(r'[^A-Za-z0-9.+-]+', '_', name).strip('_')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=1) + "\n")


def resonant_masses(out) -> list[float]:
    return sorted({float(m["mass"]) for m in out.metadata.values() if m.get("process") == "resonant"})


class Fits:
    """The fits of one limits run: each limit or scan with the error it names when it fails,
    and a FitRecord per (method, hypothesis) for the summary."""

    def __init__(self, args):
        self.args = args
        self.records: list[fitsummary.FitRecord] = []
        self.smooth_rows: list[dict] = []

    def _fail(self, inputs: MethodInputs, hypothesis: str, err: Exception) -> HH4bError:
        worst = max(inputs.bin_rows(), key=lambda b: b["mc_rel_uncertainty"])
        return HH4bError(f"{inputs.method}, {hypothesis}: the fit did not converge ({str(err).splitlines()[0]}); "
                         f"least well known bin {worst['bin']} (m_hh [{worst['low']:g}, {worst['high']:g}) GeV): "
                         f"background {worst['background']:.4g}, MC uncertainty {worst['mc_rel_uncertainty']:.0%}")

    def _run(self, inputs: MethodInputs, hypothesis: str, fit):
        try:
            return fit()
        except (*FIT_ERRORS, ValueError) as err:  # ValueError: a limit that cannot be bracketed
            raise self._fail(inputs, hypothesis, err) from err

    def limit(self, inputs: MethodInputs, hypothesis: str, spec: dict, **kwargs) -> LimitResult:
        return self._run(inputs, hypothesis, lambda: upper_limit(spec, **kwargs))

    def profile(self, inputs: MethodInputs, hypothesis: str, spec: dict, kappas) -> kl.Interval:
        return self._run(inputs, hypothesis, lambda: kl.profile_scan(spec, kappas))

    def record(self, inputs: MethodInputs, hypothesis: str, spec: dict, mc_factor: float | None) -> dict:
        rec = fitsummary.FitRecord(inputs.method, hypothesis, fitsummary.uncertainties(spec), inputs.bin_rows(),
                                   mc_factor)
        self.records.append(rec)
        self.smooth_rows += [r for r in inputs.smooth_rows() if r not in self.smooth_rows]
        return {"staterror": not self.args.no_staterror, "mc_weakening": mc_factor, "mc_limited": rec.mc_limited}


def resonant(inputs: MethodInputs, report: Path, args, fits: Fits, masses=None) -> list[dict]:
    out, rows = inputs.out, []
    masses = resonant_masses(out) if masses is None else masses
    for mass in tqdm(masses, desc=f"resonant limits {inputs.method}", disable=args.no_progress):
        datasets = out.datasets("resonant", mass=mass)
        hypothesis = f"m_H = {mass:g} GeV"
        br = branching_ratio(out, datasets[0])
        signals = {"signal": (inputs.signal(datasets), "mu")}
        spec = inputs.spec(signals, observed=inputs.observed)
        result = fits.limit(inputs, hypothesis, spec, observed=inputs.observed is not None, toys=args.toys,
                            seed=args.seed)
        spec = set_poi_bounds(spec, result.extra["poi_bounds"])
        _save_workspace(spec, report, f"resonant_{inputs.method}_M{mass:g}")
        mc_factor = None
        if not args.no_staterror:
            without = fits.limit(inputs, hypothesis, inputs.spec(signals, staterror=False), bands=False)
            mc_factor = fitsummary.weakening(result.median, without.median)
        sigma_fb = float(out.metadata[datasets[0]]["xsec_pb"]) * 1000.0 / br
        rows.append({"method": inputs.method, "mass": mass, "lumi_fb": args.lumi, "sigma_assumed_fb": sigma_fb,
                     "br_4b": br, "mu_expected": result.median, **result.scaled(sigma_fb).as_dict(),
                     "expected_sigma_br_fb": result.median * sigma_fb * br,
                     **fits.record(inputs, hypothesis, spec, mc_factor)})
    return rows


def nonresonant(inputs: MethodInputs, report: Path, args, fits: Fits) -> dict | None:
    out = inputs.out
    datasets = out.datasets("nonresonant")
    if not datasets or "mhh_kl_terms" not in out.hists:
        return None
    meta = out.metadata[datasets[0]]
    xfac = projections.sqrt_s_factor(out.sqrt_s, args.sqrt_s)
    terms = inputs.kappa_terms(datasets).scaled(xfac)
    br = branching_ratio(out, datasets[0])
    sigma0_fb = float(meta["xsec_pb"]) * 1000.0 / br * xfac
    grid = kl.kappa_grid(args.kappa_step)
    sm_signal = {"signal": (Template(np.clip(terms.yields(1.0), 0.0, None)), "mu")}
    sm = fits.limit(inputs, "kappa_lambda = 1 (mu)", inputs.spec(sm_signal))
    _save_workspace(inputs.spec(sm_signal, parameters=[_poi(sm)]), report, f"nonresonant_mu_{inputs.method}_k1")
    mu95 = np.array([fits.limit(inputs, f"kappa_lambda = {k:g} (mu)",
                                inputs.spec({"signal": (Template(np.clip(terms.yields(k), 1e-12, None)), "mu")}),
                                bands=False).median
                     for k in tqdm(grid, desc=f"mu limits vs kappa {inputs.method}", disable=args.no_progress)])
    sigma_pred = sigma0_fb * projections.sigma_hh_ratio(grid) / generation_sigma_ratio(meta, out.sqrt_s)
    spec_k = inputs.kappa_spec(terms, mu_bounds=sm.extra["poi_bounds"])
    _save_workspace(spec_k, report, f"nonresonant_kappa_{inputs.method}")
    scan = kl.kappa_grid(args.kappa_step / 2)
    profile = fits.profile(inputs, "kappa_lambda profile", spec_k, scan)
    mc_factor = None
    if not args.no_staterror:
        without = fits.profile(inputs, "kappa_lambda profile", inputs.kappa_spec(terms, staterror=False), scan)
        mc_factor = fitsummary.weakening(profile.width, without.width)
    return {"grid": grid, "mu95": mu95, "sigma_limit": mu95 * sigma_pred, "sigma_pred": sigma_pred, "br_4b": br,
            "mu_interval": kl.allowed_interval_from_mu(grid, mu95), "profile": profile, "terms": terms,
            "sm_mu95": sm, **fits.record(inputs, "kappa_lambda", spec_k, mc_factor)}


def generation_sigma_ratio(meta: dict, sqrt_s: float) -> float:
    """LO sigma of a non-resonant sample's generation point over sigma_SM: projections.sigma_hh_ratio(k0)
    of a kappa_lambda sample, sum_k g_k A_k / sigma_SM (hh4b.theory.heft at `sqrt_s`) of a five-coupling mixture."""
    if meta.get("heft_generation") is None:
        return float(projections.sigma_hh_ratio(generation_kappa_lambda(meta)))
    terms = heft.sigma_terms(float(sqrt_s))
    sigma_sm = float(heft.term_monomials(heft.benchmark("SM").couplings()) @ terms)
    return float(heft.file_generation(meta) @ terms) / sigma_sm


def _poi(result: LimitResult) -> dict:
    lo, hi = result.extra["poi_bounds"]
    return {"name": "mu", "bounds": [[lo, hi]], "inits": [1.0]}


def _kappa_width(inputs: MethodInputs, terms, scale: float, args, fits: Fits) -> kl.Interval:
    return fits.profile(inputs, f"kappa_lambda profile at {scale * args.lumi:g} fb^-1",
                        inputs.kappa_spec(terms, scale), kl.kappa_grid(0.5))


def projection_rows(inputs: MethodInputs, res_rows, kappa, args, fits: Fits) -> list[dict]:
    rows = []
    for lumi in tqdm(args.projections, desc=f"projections {inputs.method}", disable=args.no_progress):
        scale = lumi / args.lumi
        row = {"method": inputs.method, "lumi_fb": lumi}
        if kappa is not None:
            iv = _kappa_width(inputs, kappa["terms"], scale, args, fits)
            row.update(kappa_lower=iv.lower, kappa_upper=iv.upper, kappa_width=iv.width)
        for r in res_rows:
            signal = inputs.signal(inputs.out.datasets("resonant", mass=r["mass"]))
            limit = fits.limit(inputs, f"m_H = {r['mass']:g} GeV at {lumi:g} fb^-1",
                               inputs.spec({"signal": (signal.scaled(scale), "mu")}, scale=scale), bands=False)
            row[f"sigma_limit_fb_M{r['mass']:g}"] = limit.median * r["sigma_assumed_fb"]
        rows.append(row)
    return rows


def equivalent_lumis(all_inputs: dict, kappas: dict, args, fits: Fits) -> list[dict]:
    """For each method, the luminosity at which it reaches the best method's Delta kappa at --lumi."""
    widths = {m: k["profile"].width for m, k in kappas.items() if np.isfinite(k["profile"].width)}
    if len(widths) < 2:
        return []
    best = min(widths, key=widths.get)
    rows = []
    for method in widths:
        inputs, terms = all_inputs[method], kappas[method]["terms"]
        lumi = projections.equivalent_luminosity(
            lambda L, i=inputs, t=terms: _kappa_width(i, t, L / args.lumi, args, fits).width, widths[best],
            (args.lumi / 20, args.lumi * 100))
        rows.append({"reference_method": best, "reference_lumi_fb": args.lumi, "reference_width": widths[best],
                     "method": method, "width_at_lumi": widths[method], "equivalent_lumi_fb": lumi})
    return rows


def _summary(report, args, out, res_rows, kappa_rows, proj_rows, eq_rows, files, fits: Fits,
             heft_tables: dict) -> Path:
    smoothed = ("; the multijet background's m_hh shape is a fit to its MC (hh4b.stats.smoothing), whose MC "
                "uncertainty enters as correlated shape nuisances (one per fit-parameter eigenvector and one for the "
                "choice of function) instead of per-bin ones" if args.background == "smoothed" else "")
    mc = ("off (--no-staterror): the fits leave out the MC statistical uncertainties" if args.no_staterror else
          f"on in every fit (per-bin MC statistical uncertainties from the sum of squared weights{smoothed}); fit "
          f"bins merged to a background MC relative uncertainty <= {args.max_mc_uncertainty:g}; classifier "
          f"thresholds keep >= {args.min_kish:g} Kish-effective background MC events")
    sections = [("Setup", f"Input `{out.path}` (lumi_fb {out.lumi_fb:g}, sqrt(s) {out.sqrt_s:g} GeV) scaled to "
                          f"{args.lumi:g} fb^-1 at {args.sqrt_s:g} GeV; background model: {args.background}; "
                          f"{'toys: ' + str(args.toys) if args.toys else 'asymptotic q~_mu'}; MC statistical "
                          f"uncertainties {mc}. Cross sections are divided by the branching ratio in each signal "
                          f"sample (br_4b), so the limits are on sigma(gg -> H -> hh) and sigma(gg -> hh); the "
                          f"sigma x BR(hh -> bbbb) column is beside them. A result is limited by MC statistics when "
                          f"the MC uncertainties weaken it by more than {MC_LIMITED_FACTOR:g}x (mc_weakening). "
                          f"Backgrounds are not rescaled in sqrt(s); the non-resonant signal is scaled by the LO "
                          f"sigma(gg->hh) ratio {projections.sqrt_s_factor(out.sqrt_s, args.sqrt_s):.4f}.")]
    if res_rows:
        sections.append(("Resonant: 95% CL upper limits on sigma(gg -> H -> hh) [fb]", tables.markdown_table(
            res_rows, ["method", "mass", "expected_m2", "expected_m1", "expected", "expected_p1", "expected_p2",
                       "observed", "expected_sigma_br_fb", "mc_weakening", "mc_limited"])))
    if kappa_rows:
        sections.append(("Non-resonant: kappa_lambda constraints (paper Table VI)", tables.markdown_table(
            kappa_rows, ["method", "mu95_sm", "mu_lower", "mu_upper", "mu_width", "pl_lower", "pl_upper", "pl_width",
                         "mc_weakening", "mc_limited"])))
    if fits.records:
        sections.append(("Fit models: uncertainties and MC statistics", tables.markdown_table(
            [r.row() for r in fits.records], ["method", "hypothesis", "uncertainties", "bins",
                                              "max_mc_rel_uncertainty", "min_kish", "mc_weakening", "mc_limited"])))
        sections.append(("Fit bins: background at the fit luminosity, MC relative uncertainty, Kish count",
                         tables.markdown_table([b for r in fits.records for b in r.bin_rows()],
                                               ["method", "hypothesis", "bin", "low", "high", "background",
                                                "mc_rel_uncertainty", "kish"])))
    if fits.smooth_rows:
        sections.append(("Smoothed backgrounds: fitted degree and goodness of fit (chi^2 of the populated MC bins)",
                         tables.markdown_table(fits.smooth_rows, list(dict.fromkeys(
                             k for r in fits.smooth_rows for k in r)))))
    for method, table in heft_tables.items():
        sections.append((f"HEFT couplings ({method}): expected 95% CL limits on sigma(gg -> hh) [fb]", table))
    if proj_rows:
        sections.append(("Projections", tables.markdown_table(proj_rows, list(dict.fromkeys(
            k for r in proj_rows for k in r)))))
    if eq_rows:
        sections.append(("Equivalent luminosity (notes Table 28)", tables.markdown_table(
            eq_rows, ["method", "width_at_lumi", "reference_method", "reference_width", "equivalent_lumi_fb"])))
    sections.append(("Workspaces", "`workspaces/*.json` are the fitted models as pyhf JSON, with POI bounds that "
                                   "contain every limit; `pyhf.infer.intervals.upper_limits.upper_limit` refits them "
                                   "as saved. The limits here use pyhf's MINUIT optimiser "
                                   "(`pyhf.set_backend(\"numpy\", \"minuit\")`), which also converges where "
                                   "scipy's SLSQP fails on the most MC-limited models."))
    heft_files = sorted(report.glob("heft_*"))
    sections.append(("Files", "\n".join(f"- `{Path(f).relative_to(report)}`" for f in [*files, *heft_files])))
    return tables.write_summary(report / "summary.md", "hh4b limits", sections)


def _kappa_row(method: str, kappa: dict) -> dict:
    a, b = kappa["mu_interval"], kappa["profile"]
    return {"method": method, "mu95_sm": kappa["sm_mu95"].median, "mu_lower": a.lower, "mu_upper": a.upper,
            "mu_width": a.width, "pl_lower": b.lower, "pl_upper": b.upper, "pl_width": b.width, "pl_best": b.best,
            **{k: kappa[k] for k in ("staterror", "mc_weakening", "mc_limited")}}


def score_method(out, method: str, report: Path, args, fits: Fits):
    """A neural selection: per signal hypothesis the score threshold with the best Asimov
    significance including the background MC uncertainty (the paper: S/sqrt(B), notes Table 33),
    then the cut-based limit code on the events above it (hh4b.stats.scores)."""
    rows, proj, thresholds, inputs = [], [], [], None
    options = _threshold_options(out, args)
    for mass in resonant_masses(out):
        scan = scores.best_threshold(out, method, out.datasets("resonant", mass=mass), args.multijet, **options)
        thresholds.append({"method": method, "signal": f"M{mass:g}", **scan.as_dict()})
        inputs = MethodInputs(scores.thresholded_output(out, method, scan.threshold), method, args)
        mass_rows = resonant(inputs, report, args, fits, masses=[mass])
        rows += mass_rows
        proj += projection_rows(inputs, mass_rows, None, args, fits) if args.projections else []
    kappa = None
    if out.datasets("nonresonant") and scores.SCORE_KL_HIST in out.hists:
        scan = scores.best_threshold(out, method, out.datasets("nonresonant"), args.multijet, kappa_terms=True,
                                     **options)
        thresholds.append({"method": method, "signal": "kappa_lambda=1", **scan.as_dict()})
        inputs = MethodInputs(scores.thresholded_output(out, method, scan.threshold), method, args)
        kappa = nonresonant(inputs, report, args, fits)
        proj += projection_rows(inputs, [], kappa, args, fits) if args.projections else []
    return rows, kappa, proj, inputs, thresholds


def _threshold_options(out, args) -> dict:
    """Threshold-scan options at --lumi: the minimum background events and Kish count, and the
    background MC uncertainty in the significance when the fits have it."""
    return {"min_background": args.min_background, "min_kish": args.min_kish,
            "scale": projections.lumi_factor(args.lumi, out.lumi_fb), "mc_uncertainty": not args.no_staterror}


def score_bins_method(out, method: str, report: Path, args, fits: Fits):
    """The fit in bins of the classifier score (beyond the paper): per signal hypothesis the
    --score-bins slices with nested optimal edges (scores.nested_edges) in one fit."""
    rows, edge_rows, inputs, kappa = [], [], None, None
    options = _threshold_options(out, args)
    for mass in resonant_masses(out):
        edges = scores.score_bin_edges(out, method, out.datasets("resonant", mass=mass), args.score_bins,
                                       args.multijet, **options)
        inputs = ScoreBinnedInputs(out, method, args, edges)
        edge_rows.append({"method": inputs.method, "signal": f"M{mass:g}", "score_edges": _edges_text(edges)})
        rows += resonant(inputs, report, args, fits, masses=[mass])
    if out.datasets("nonresonant") and scores.SCORE_KL_HIST in out.hists:
        edges = scores.score_bin_edges(out, method, out.datasets("nonresonant"), args.score_bins, args.multijet,
                                       kappa_terms=True, **options)
        inputs = ScoreBinnedInputs(out, method, args, edges)
        edge_rows.append({"method": inputs.method, "signal": "kappa_lambda=1", "score_edges": _edges_text(edges)})
        kappa = nonresonant(inputs, report, args, fits)
    return rows, kappa, [], inputs, edge_rows


def _edges_text(edges) -> str:
    return " ".join(f"{e:g}" for e in edges)


def _score_fits(args) -> list[str]:
    if args.score_slice_bins < 1:
        raise ConfigError(f"--score-slice-bins {args.score_slice_bins}: need at least one m_hh bin per slice")
    fits = ["threshold", "bins"] if args.score_fit == "both" else [args.score_fit]
    if args.background == "datadriven" and "bins" in fits:
        if args.score_fit == "bins":
            raise ConfigError("--score-fit bins needs --background simulation: the data-driven multijet model "
                              "has no classifier-score axis")
        fits.remove("bins")
    return fits


def _method_results(out, method: str, report: Path, args, fits: Fits) -> list[tuple]:
    """[(label, resonant rows, kappa results or None, projection rows, inputs, threshold/edge rows)]: one
    entry per method, or for a method with a classifier score one per --score-fit choice."""
    if method in scores.score_methods(out):
        choices = {"threshold": (method, score_method),
                   "bins": (f"{method}{scores.SCORE_BINS_SUFFIX}", score_bins_method)}
        return [(choices[f][0], *choices[f][1](out, method, report, args, fits)) for f in _score_fits(args)]
    inputs = MethodInputs(out, method, args)
    rows = resonant(inputs, report, args, fits)
    kappa = nonresonant(inputs, report, args, fits)
    proj = projection_rows(inputs, rows, kappa, args, fits) if args.projections else []
    return [(method, rows, kappa, proj, inputs, [])]


def _check_options(args) -> None:
    if not 0.0 < args.max_mc_uncertainty:
        raise ConfigError(f"--max-mc-uncertainty {args.max_mc_uncertainty:g}: must be positive")
    if args.min_kish < 0.0:
        raise ConfigError(f"--min-kish {args.min_kish:g}: must not be negative")
    if not args.kappa_step > 0.0:
        raise ConfigError(f"--kappa-step {args.kappa_step:g}: must be positive")


def main(args: argparse.Namespace) -> int:
    _check_options(args)
    out = outputs.load_output(args.output_dir)
    methods = outputs.check_methods(out, args.method)
    for process in SIGNAL_PROCESSES:
        for dataset in out.datasets(process):
            branching_ratio(out, dataset)
    report = Path(args.report) if args.report else Path(args.output_dir) / "limits"
    report.mkdir(parents=True, exist_ok=True)
    files, res_rows, kappa_rows, proj_rows, kappas, all_inputs = [], [], [], [], {}, {}
    threshold_rows, edge_rows, fits, heft_tables = [], [], Fits(args), {}
    for method in methods:
        for label, rows, kappa, proj, inputs, thresholds in _method_results(out, method, report, args, fits):
            heft = heft_results(out, inputs, report, args) if label in args.heft_methods else None
            if heft is not None:
                heft_tables[label] = heft_markdown(heft)
            if not label.endswith(scores.SCORE_BINS_SUFFIX):
                all_inputs[label] = inputs
            (edge_rows if label.endswith(scores.SCORE_BINS_SUFFIX) else threshold_rows).extend(thresholds)
            res_rows, proj_rows = res_rows + rows, proj_rows + proj
            if kappa is not None:
                kappas[label] = kappa
                kappa_rows.append(_kappa_row(label, kappa))
    eq_rows = equivalent_lumis(all_inputs, {m: k for m, k in kappas.items() if m in all_inputs},
                               args, fits) if args.projections else []
    if res_rows:
        files += tables.write_table(res_rows, report / "resonant_limits")
        files += plots.plot_resonant_limits(res_rows, report / "resonant_limits", args.lumi, args.sqrt_s)
    if kappas:
        files += tables.write_table(kappa_rows, report / "kappa_lambda_intervals")
        scan_rows = [{"method": m, "kappa_lambda": float(k), "mu95": float(u), "sigma_limit_fb": float(s),
                      "sigma_theory_fb": float(t), "sigma_br_limit_fb": float(s * d["br_4b"])}
                     for m, d in kappas.items()
                     for k, u, s, t in zip(d["grid"], d["mu95"], d["sigma_limit"], d["sigma_pred"])]
        files += tables.write_table(scan_rows, report / "kappa_lambda_mu_scan")
        first = next(iter(kappas.values()))
        files += plots.plot_kappa_xsec_limits({m: (d["grid"], d["sigma_limit"]) for m, d in kappas.items()},
                                              (first["grid"], first["sigma_pred"]), report / "kappa_lambda_xsec_limits",
                                              args.lumi, args.sqrt_s)
        files += plots.plot_kappa_scans({m: (d["profile"].kappas, d["profile"].values) for m, d in kappas.items()},
                                        report / "kappa_lambda_scan", args.lumi, args.sqrt_s)
    if fits.records:
        files += tables.write_table([b for r in fits.records for b in r.bin_rows()], report / "fit_bins")
    if threshold_rows:
        files += tables.write_table(threshold_rows, report / "score_thresholds")
    if edge_rows:
        files += tables.write_table(edge_rows, report / "score_bin_edges")
    if proj_rows:
        files += tables.write_table(proj_rows, report / "projections")
    if eq_rows:
        files += tables.write_table(eq_rows, report / "equivalent_luminosity")
    if not res_rows and not kappas:
        raise HH4bError(f"{out.path}: no resonant or non-resonant signal datasets in the metadata")
    summary = _summary(report, args, out, res_rows, kappa_rows, proj_rows, eq_rows, files, fits, heft_tables)
    log.info("limits: wrote %d files and workspaces/ to %s/ (summary: %s)", len(files) + 1, report, summary)
    return 0


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
