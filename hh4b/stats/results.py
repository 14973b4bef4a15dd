"""The results of the limits stage: every limit, interval, projection, table and plot of a
processor output's methods (`run_limits`), from FitOptions (hh4b.stats.inputs).

For every method: resonant 95% CL CLs upper limits on sigma(gg -> H -> hh) vs m_H (expected with
+-1/2 sigma bands; observed when `data` datasets exist at the output's own luminosity and energy);
non-resonant mu limits vs kappa_lambda and the profile-likelihood kappa_lambda interval;
projections to other luminosities and the equivalent luminosity between methods. Methods with a
classifier score are fitted above their best threshold and/or in score slices (hh4b.stats.scores).
Each fit's workspace (pyhf JSON, POI bounds containing the limit) goes to REPORT/workspaces/, the
tables (JSON + CSV), plots (PNG + PDF) and summary.md to REPORT. A fit that does not converge is an
error naming the method, the hypothesis and the least well known bin.
"""


from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from hh4b.config import RESONANT, SIGNAL_PROCESSES
from hh4b.constants import (
    MC_LIMITED_FACTOR,
)
from hh4b.errors import ConfigError, HH4bError
from hh4b.stats import fitsummary, kappa as kl, outputs, plots, projections, scores, tables
from hh4b.stats.heft import heft_results, markdown_table as heft_markdown
from hh4b.stats.inputs import (
    FitOptions,
    MethodInputs,
    ScoreBinnedInputs,
    branching_ratio,
)
from hh4b.stats.limits import FIT_ERRORS, LimitResult, upper_limit
from hh4b.stats.model import Template, set_poi_bounds
from hh4b.theory import heft
from hh4b.weights import generation_kappa_lambda

log = logging.getLogger(__name__)


def _save_workspace(spec: dict, report: Path, name: str) -> None:
    path = report / "workspaces" / f"{re.sub(r'[^A-Za-z0-9.+-]+', '_', name).strip('_')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=1) + "\n")


def resonant_masses(out) -> list[float]:
    return sorted({float(m["mass"]) for m in out.metadata.values() if m.get("process") == RESONANT})


class Fits:
    """The fits of one limits run: each limit or scan with the error it names when it fails,
    and a FitRecord per (method, hypothesis) for the summary."""

    def __init__(self, options):
        self.options = options
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
        return {"staterror": self.options.staterror, "mc_weakening": mc_factor, "mc_limited": rec.mc_limited}


def resonant(inputs: MethodInputs, report: Path, options, fits: Fits, masses=None) -> list[dict]:
    out, rows = inputs.out, []
    masses = resonant_masses(out) if masses is None else masses
    for mass in tqdm(masses, desc=f"resonant limits {inputs.method}", disable=not options.progress):
        datasets = out.datasets("resonant", mass=mass)
        hypothesis = f"m_H = {mass:g} GeV"
        br = branching_ratio(out, datasets[0])
        signals = {"signal": (inputs.signal(datasets), "mu")}
        spec = inputs.spec(signals, observed=inputs.observed)
        result = fits.limit(inputs, hypothesis, spec, observed=inputs.observed is not None, toys=options.toys,
                            seed=options.seed)
        spec = set_poi_bounds(spec, result.extra["poi_bounds"])
        _save_workspace(spec, report, f"resonant_{inputs.method}_M{mass:g}")
        mc_factor = None
        if options.staterror:
            without = fits.limit(inputs, hypothesis, inputs.spec(signals, staterror=False), bands=False)
            mc_factor = fitsummary.weakening(result.median, without.median)
        sigma_fb = float(out.metadata[datasets[0]]["xsec_pb"]) * 1000.0 / br
        rows.append({"method": inputs.method, "mass": mass, "lumi_fb": options.config.lumi_fb,
                     "sigma_assumed_fb": sigma_fb,
                     "br_4b": br, "mu_expected": result.median, **result.scaled(sigma_fb).as_dict(),
                     "expected_sigma_br_fb": result.median * sigma_fb * br,
                     **fits.record(inputs, hypothesis, spec, mc_factor)})
    return rows


def nonresonant(inputs: MethodInputs, report: Path, options, fits: Fits) -> dict | None:
    out = inputs.out
    datasets = out.datasets("nonresonant")
    if not datasets or "mhh_kl_terms" not in out.hists:
        return None
    meta = out.metadata[datasets[0]]
    xfac = projections.sqrt_s_factor(out.sqrt_s, options.config.sqrt_s)
    terms = inputs.kappa_terms(datasets).scaled(xfac)
    br = branching_ratio(out, datasets[0])
    sigma0_fb = float(meta["xsec_pb"]) * 1000.0 / br * xfac
    grid = kl.kappa_grid(options.config.kappa_step, options.config.kappa_lambda_range)
    sm_signal = {"signal": (Template(np.clip(terms.yields(1.0), 0.0, None)), "mu")}
    sm = fits.limit(inputs, "kappa_lambda = 1 (mu)", inputs.spec(sm_signal))
    _save_workspace(inputs.spec(sm_signal, parameters=[_poi(sm)]), report, f"nonresonant_mu_{inputs.method}_k1")
    mu95 = np.array([fits.limit(inputs, f"kappa_lambda = {k:g} (mu)",
                                inputs.spec({"signal": (Template(np.clip(terms.yields(k), 1e-12, None)), "mu")}),
                                bands=False).median
                     for k in tqdm(grid, desc=f"mu limits vs kappa {inputs.method}", disable=not options.progress)])
    sigma_pred = sigma0_fb * projections.sigma_hh_ratio(grid) / generation_sigma_ratio(meta, out.sqrt_s)
    spec_k = inputs.kappa_spec(terms, mu_bounds=sm.extra["poi_bounds"])
    _save_workspace(spec_k, report, f"nonresonant_kappa_{inputs.method}")
    scan = kl.kappa_grid(options.config.kappa_step / 2, options.config.kappa_lambda_range)
    profile = fits.profile(inputs, "kappa_lambda profile", spec_k, scan)
    mc_factor = None
    if options.staterror:
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


def _kappa_width(inputs: MethodInputs, terms, scale: float, options, fits: Fits) -> kl.Interval:
    return fits.profile(inputs, f"kappa_lambda profile at {scale * options.config.lumi_fb:g} fb^-1",
                        inputs.kappa_spec(terms, scale), kl.kappa_grid(0.5, options.config.kappa_lambda_range))


def projection_rows(inputs: MethodInputs, res_rows, kappa, options, fits: Fits) -> list[dict]:
    rows = []
    for lumi in tqdm(options.config.projections_fb, desc=f"projections {inputs.method}", disable=not options.progress):
        scale = lumi / options.config.lumi_fb
        row = {"method": inputs.method, "lumi_fb": lumi}
        if kappa is not None:
            iv = _kappa_width(inputs, kappa["terms"], scale, options, fits)
            row.update(kappa_lower=iv.lower, kappa_upper=iv.upper, kappa_width=iv.width)
        for r in res_rows:
            signal = inputs.signal(inputs.out.datasets("resonant", mass=r["mass"]))
            limit = fits.limit(inputs, f"m_H = {r['mass']:g} GeV at {lumi:g} fb^-1",
                               inputs.spec({"signal": (signal.scaled(scale), "mu")}, scale=scale), bands=False)
            row[f"sigma_limit_fb_M{r['mass']:g}"] = limit.median * r["sigma_assumed_fb"]
        rows.append(row)
    return rows


def equivalent_lumis(all_inputs: dict, kappas: dict, options, fits: Fits) -> list[dict]:
    """For each method, the luminosity at which it reaches the best method's Delta kappa at --lumi."""
    widths = {m: k["profile"].width for m, k in kappas.items() if np.isfinite(k["profile"].width)}
    if len(widths) < 2:
        return []
    best = min(widths, key=widths.get)
    rows, reference = [], options.config.lumi_fb
    for method in widths:
        inputs, terms = all_inputs[method], kappas[method]["terms"]
        lumi = projections.equivalent_luminosity(
            lambda L, i=inputs, t=terms: _kappa_width(i, t, L / reference, options, fits).width, widths[best],
            (reference / 20, reference * 100))
        rows.append({"reference_method": best, "reference_lumi_fb": reference, "reference_width": widths[best],
                     "method": method, "width_at_lumi": widths[method], "equivalent_lumi_fb": lumi})
    return rows


def _summary(report, options, out, res_rows, kappa_rows, proj_rows, eq_rows, files, fits: Fits,
             heft_tables: dict) -> Path:
    smoothed = ("; the multijet background's m_hh shape is a fit to its MC (hh4b.stats.smoothing), whose MC "
                "uncertainty enters as correlated shape nuisances (one per fit-parameter eigenvector and one for the "
                "choice of function) instead of per-bin ones" if options.background == "smoothed" else "")
    mc = ("off (--no-staterror): the fits leave out the MC statistical uncertainties" if not options.staterror else
          f"on in every fit (per-bin MC statistical uncertainties from the sum of squared weights{smoothed}); fit "
          f"bins merged to a background MC relative uncertainty <= {options.max_mc_uncertainty:g}; classifier "
          f"thresholds keep >= {options.min_kish:g} Kish-effective background MC events")
    sections = [("Setup", f"Input `{out.path}` (lumi_fb {out.lumi_fb:g}, sqrt(s) {out.sqrt_s:g} GeV) scaled to "
                          f"{options.config.lumi_fb:g} fb^-1 at {options.config.sqrt_s:g} GeV; background model: "
                          f"{options.background}; "
                          f"{'toys: ' + str(options.toys) if options.toys else 'asymptotic q~_mu'}; MC statistical "
                          f"uncertainties {mc}. Cross sections are divided by the branching ratio in each signal "
                          f"sample (br_4b), so the limits are on sigma(gg -> H -> hh) and sigma(gg -> hh); the "
                          f"sigma x BR(hh -> bbbb) column is beside them. A result is limited by MC statistics when "
                          f"the MC uncertainties weaken it by more than {MC_LIMITED_FACTOR:g}x (mc_weakening). "
                          f"Backgrounds are not rescaled in sqrt(s); the non-resonant signal is scaled by the LO "
                          f"sigma(gg->hh) ratio {projections.sqrt_s_factor(out.sqrt_s, options.config.sqrt_s):.4f}.")]
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


def score_method(out, method: str, report: Path, options, fits: Fits):
    """A neural selection: per signal hypothesis the score threshold with the best Asimov
    significance including the background MC uncertainty (the paper: S/sqrt(B), notes Table 33),
    then the cut-based limit code on the events above it (hh4b.stats.scores)."""
    rows, proj, thresholds, inputs = [], [], [], None
    limits_at = _threshold_options(out, options)
    for mass in resonant_masses(out):
        scan = scores.best_threshold(out, method, out.datasets("resonant", mass=mass), options.multijet, **limits_at)
        thresholds.append({"method": method, "signal": f"M{mass:g}", **scan.as_dict()})
        inputs = MethodInputs(scores.thresholded_output(out, method, scan.threshold), method, options)
        mass_rows = resonant(inputs, report, options, fits, masses=[mass])
        rows += mass_rows
        proj += projection_rows(inputs, mass_rows, None, options, fits) if options.config.projections_fb else []
    kappa = None
    if out.datasets("nonresonant") and scores.SCORE_KL_HIST in out.hists:
        scan = scores.best_threshold(out, method, out.datasets("nonresonant"), options.multijet, kappa_terms=True,
                                     **limits_at)
        thresholds.append({"method": method, "signal": "kappa_lambda=1", **scan.as_dict()})
        inputs = MethodInputs(scores.thresholded_output(out, method, scan.threshold), method, options)
        kappa = nonresonant(inputs, report, options, fits)
        proj += projection_rows(inputs, [], kappa, options, fits) if options.config.projections_fb else []
    return rows, kappa, proj, inputs, thresholds


def _threshold_options(out, options) -> dict:
    """Threshold-scan options at --lumi: the minimum background events and Kish count, and the
    background MC uncertainty in the significance when the fits have it."""
    return {"min_background": options.min_background, "min_kish": options.min_kish,
            "scale": projections.lumi_factor(options.config.lumi_fb, out.lumi_fb), "mc_uncertainty": options.staterror}


def score_bins_method(out, method: str, report: Path, options, fits: Fits):
    """The fit in bins of the classifier score (beyond the paper): per signal hypothesis the
    --score-bins slices with nested optimal edges (scores.nested_edges) in one fit."""
    rows, edge_rows, inputs, kappa = [], [], None, None
    limits_at = _threshold_options(out, options)
    for mass in resonant_masses(out):
        edges = scores.score_bin_edges(out, method, out.datasets("resonant", mass=mass), options.score_bins,
                                       options.multijet, **limits_at)
        inputs = ScoreBinnedInputs(out, method, options, edges)
        edge_rows.append({"method": inputs.method, "signal": f"M{mass:g}", "score_edges": _edges_text(edges)})
        rows += resonant(inputs, report, options, fits, masses=[mass])
    if out.datasets("nonresonant") and scores.SCORE_KL_HIST in out.hists:
        edges = scores.score_bin_edges(out, method, out.datasets("nonresonant"), options.score_bins, options.multijet,
                                       kappa_terms=True, **limits_at)
        inputs = ScoreBinnedInputs(out, method, options, edges)
        edge_rows.append({"method": inputs.method, "signal": "kappa_lambda=1", "score_edges": _edges_text(edges)})
        kappa = nonresonant(inputs, report, options, fits)
    return rows, kappa, [], inputs, edge_rows


def _edges_text(edges) -> str:
    return " ".join(f"{e:g}" for e in edges)


def _score_fits(options) -> list[str]:
    if options.score_slice_bins < 1:
        raise ConfigError(f"--score-slice-bins {options.score_slice_bins}: need at least one m_hh bin per slice")
    fits = ["threshold", "bins"] if options.score_fit == "both" else [options.score_fit]
    if options.background == "datadriven" and "bins" in fits:
        if options.score_fit == "bins":
            raise ConfigError("--score-fit bins needs --background simulation: the data-driven multijet model "
                              "has no classifier-score axis")
        fits.remove("bins")
    return fits


def _method_results(out, method: str, report: Path, options, fits: Fits) -> list[tuple]:
    """[(label, resonant rows, kappa results or None, projection rows, inputs, threshold/edge rows)]: one
    entry per method, or for a method with a classifier score one per --score-fit choice."""
    if method in scores.score_methods(out):
        choices = {"threshold": (method, score_method),
                   "bins": (f"{method}{scores.SCORE_BINS_SUFFIX}", score_bins_method)}
        return [(choices[f][0], *choices[f][1](out, method, report, options, fits)) for f in _score_fits(options)]
    inputs = MethodInputs(out, method, options)
    rows = resonant(inputs, report, options, fits)
    kappa = nonresonant(inputs, report, options, fits)
    proj = projection_rows(inputs, rows, kappa, options, fits) if options.config.projections_fb else []
    return [(method, rows, kappa, proj, inputs, [])]


def run_limits(output_dir, options: FitOptions, methods=None, report=None) -> int:
    """Every limit, interval, projection, table and plot of OUTPUT_DIR/output.coffea's `methods`
    (None: all) into `report` (None: OUTPUT_DIR/limits)."""
    out = outputs.load_output(output_dir)
    methods = outputs.check_methods(out, methods)
    for process in SIGNAL_PROCESSES:
        for dataset in out.datasets(process):
            branching_ratio(out, dataset)
    report = Path(report) if report else Path(output_dir) / "limits"
    report.mkdir(parents=True, exist_ok=True)
    files, res_rows, kappa_rows, proj_rows, kappas, all_inputs = [], [], [], [], {}, {}
    threshold_rows, edge_rows, fits, heft_tables = [], [], Fits(options), {}
    for method in methods:
        for label, rows, kappa, proj, inputs, thresholds in _method_results(out, method, report, options, fits):
            heft = heft_results(out, inputs, report, options) if label in options.heft_methods else None
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
                               options, fits) if options.config.projections_fb else []
    if res_rows:
        files += tables.write_table(res_rows, report / "resonant_limits")
        files += plots.plot_resonant_limits(res_rows, report / "resonant_limits", options.config.lumi_fb,
                                            options.config.sqrt_s)
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
                                              options.config.lumi_fb, options.config.sqrt_s)
        files += plots.plot_kappa_scans({m: (d["profile"].kappas, d["profile"].values) for m, d in kappas.items()},
                                        report / "kappa_lambda_scan", options.config.lumi_fb, options.config.sqrt_s)
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
    summary = _summary(report, options, out, res_rows, kappa_rows, proj_rows, eq_rows, files, fits, heft_tables)
    log.info("limits: wrote %d files and workspaces/ to %s/ (summary: %s)", len(files) + 1, report, summary)
    return 0
