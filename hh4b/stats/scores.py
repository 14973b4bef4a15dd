"""Neural-network selections in the limits: m_hh templates above an optimised score threshold.

The processor fills `mhh_score` (axes dataset, tags, method, score in 100 bins of 0.01, mhh) for
the four-tag events of every method with a classifier score (paper sections IV, V.A.2-3,
VI.A.2-3: the NN selections need no mass-plane cuts). Here, per signal hypothesis, the
threshold p_th maximising S/sqrt(B) is chosen on the 0.01 grid (notes section 16.7,
hh4b.stats.thresholds) and the signal-region template is the m_hh distribution of events with
score >= p_th. The limits stage gives the background's MC variance too: the figure of merit is
then the Asimov significance with the MC uncertainty of B, at the limits' luminosity, among
thresholds that keep at least `min_kish` Kish-effective background MC events. `mhh_score_kl_terms`
carries the non-resonant (a, b, c) terms the same way.
The alternative beyond the paper, a fit in bins of the score (`limits --score-fit bins`), uses
score slices whose edges are nested S/sqrt(B) thresholds (`nested_edges`): the top slice is
the threshold selection itself, each lower slice the best threshold of what is left, so the binned
fit contains the threshold fit and adds the events below it as further bins.
"""

from __future__ import annotations

import numpy as np

from hh4b.errors import ConfigError, InputFileError
from hh4b.stats.binning import kish_count
from hh4b.stats.model import Template
from hh4b.stats.thresholds import ThresholdScan, asimov_significance, thresholds_grid

SCORE_HIST = "mhh_score"
SCORE_KL_HIST = "mhh_score_kl_terms"
SCORE_BINS_SUFFIX = " (score bins)"  # label of a method's fit in bins of the score: "spanet (score bins)"


def score_methods(out) -> list[str]:
    """Methods with a classifier score in the outputs (empty when the processor ran without NNs)."""
    return list(out.hists[SCORE_HIST].axes["method"]) if SCORE_HIST in out.hists else []


def score_mhh(out, datasets, method: str, tags: str = "4b", name: str = SCORE_HIST, **extra):
    """(score edges, mhh edges, values (score, mhh), variances) summed over `datasets`."""
    h = out.hist(name)
    values = variances = 0.0
    for d in datasets:
        index = {"dataset": d, "method": method, "tags": tags, **extra}
        if d not in list(h.axes["dataset"]) and d in out.metadata:
            index["dataset"] = sum  # a dataset of the output with no scored event: it adds zero
        for axis, value in index.items():
            if value is not sum and value not in list(h.axes[axis]):
                raise InputFileError(f"{out.path}: histogram {name!r} has no {axis} {value!r}")
        sel = h[index] * (0.0 if index["dataset"] is sum else 1.0)
        values = values + sel.values()
        variances = variances + sel.variances()
    return sel.axes["score"].edges, sel.axes["mhh"].edges, np.asarray(values, float), np.asarray(variances, float)


def yields_above(score_edges, per_score_bin) -> np.ndarray:
    """Sum over score bins at or above each threshold of the 0.01 grid (bin lower edges)."""
    tail = np.concatenate([np.cumsum(per_score_bin[::-1])[::-1], [0.0]])
    return tail[np.searchsorted(score_edges, thresholds_grid() - 1e-9, side="left").clip(0, len(score_edges) - 1)]


def optimise(signal_per_score, background_per_score, score_edges, min_background: float = 0.0,
             background_variance=None, min_kish: float = 0.0, scale: float = 1.0,
             mc_uncertainty: bool = True) -> ThresholdScan:
    """The best threshold of the 0.01 grid from per-score-bin yields (m_hh summed).

    Without `background_variance`: S/sqrt(B) among thresholds leaving more than min_background
    (the paper). With it: the Asimov significance, with the background MC uncertainty unless
    not `mc_uncertainty` (a fit without it), yields times `scale` (the luminosity factor;
    variances times its square), among thresholds leaving more than min_background events (after
    scaling) and at least min_kish Kish-effective MC events.
    """
    grid = thresholds_grid()
    s = scale * yields_above(score_edges, signal_per_score)
    b = scale * yields_above(score_edges, background_per_score)
    eligible = b > min_background
    kish = None
    if background_variance is not None:
        var = scale**2 * yields_above(score_edges, background_variance)
        kish = kish_count(b, var)
        eligible &= kish >= min_kish
    if not eligible.any():
        raise InputFileError("no score threshold leaves enough background MC: the NN templates are empty "
                             f"(needed: more than {min_background:g} events and {min_kish:g} Kish-effective MC events)")
    safe_b = np.where(eligible, b, 1.0)
    if kish is None:
        significance = np.where(eligible, s / np.sqrt(safe_b), -np.inf)
    else:
        sigma_b = np.sqrt(np.where(eligible, var, 0.0)) if mc_uncertainty else None
        significance = np.where(eligible, asimov_significance(s, safe_b, sigma_b), -np.inf)
    return ThresholdScan(grid, s, b, significance, int(np.argmax(significance)), kish)


def template_above(score_edges, values, variances, threshold: float, upper: float = np.inf) -> Template:
    """m_hh template of events with threshold <= score < upper."""
    lower_edges = score_edges[:-1]
    keep = (lower_edges >= threshold - 1e-9) & (lower_edges < upper - 1e-9)
    return Template(values[keep].sum(axis=0), variances[keep].sum(axis=0))


def nested_edges(signal_per_score, background_per_score, score_edges, n_bins: int,
                 min_background: float = 0.0, background_variance=None, min_kish: float = 0.0,
                 scale: float = 1.0, mc_uncertainty: bool = True) -> np.ndarray:
    """Ascending edges [0, ..., p_2, p_1, 1] of at most n_bins score slices: p_1 is the best
    threshold (`optimise`, with the same options), p_2 the best among the events below p_1 whose
    slice keeps the minimum background, and so on; the lowest slice starts at 0. Stops early when
    no threshold below the last one leaves enough background; a lowest slice [0, p_k) without
    the minimum background (more than min_background events, min_kish MC events) is left out
    (the edges then start at p_k)."""
    if n_bins < 1:
        raise ConfigError(f"--score-bins {n_bins}: need at least one score bin")
    signal, background = np.asarray(signal_per_score, float), np.asarray(background_per_score, float)
    variance = None if background_variance is None else np.asarray(background_variance, float)
    edges, upper = [1.0], np.inf
    for _ in range(n_bins - 1):
        below = score_edges[:-1] < upper - 1e-9
        try:
            scan = optimise(np.where(below, signal, 0.0), np.where(below, background, 0.0), score_edges,
                            min_background, None if variance is None else np.where(below, variance, 0.0),
                            min_kish, scale, mc_uncertainty)
        except InputFileError:
            break
        if scan.threshold <= 0.0:
            break
        edges.append(scan.threshold)
        upper = scan.threshold
    rest = score_edges[:-1] < upper - 1e-9
    bottom = scale * background[rest].sum()
    enough = bottom > min_background
    if variance is not None and enough:
        enough = bool(kish_count(bottom, scale**2 * variance[rest].sum()) >= min_kish)
    return np.array(sorted({*edges, *([0.0] if enough else [])}))


def background_datasets(out, multijet: str = "auto") -> list[str]:
    """Datasets of the simulated backgrounds used by the limits (hh4b.stats.outputs.background_processes)."""
    from hh4b.stats.outputs import background_processes

    return [d for p in background_processes(out, multijet) for d in out.datasets(p)]


def _per_score(out, method: str, signal_datasets, multijet: str, kappa_terms: bool):
    """(score edges, signal, background, background variance) per score bin, m_hh summed;
    non-resonant signal at the SM point (a + b + c)."""
    if kappa_terms:
        parts = [score_mhh(out, signal_datasets, method, name=SCORE_KL_HIST, term=t) for t in "abc"]
        edges, signal = parts[0][0], sum(p[2] for p in parts)
    else:
        edges, _, signal, _ = score_mhh(out, signal_datasets, method)
    _, _, background, variance = score_mhh(out, background_datasets(out, multijet), method)
    return edges, signal.sum(axis=1), background.sum(axis=1), variance.sum(axis=1)


def best_threshold(out, method: str, signal_datasets, multijet: str = "auto", kappa_terms: bool = False,
                   min_background: float = 0.0, min_kish: float = 0.0, scale: float = 1.0,
                   mc_uncertainty: bool = True) -> ThresholdScan:
    """The threshold with the best Asimov significance (background MC uncertainty included unless
    not `mc_uncertainty`) at luminosity factor `scale`, among those leaving more than
    min_background events (after scaling) and at least min_kish Kish-effective background MC events."""
    edges, signal, background, variance = _per_score(out, method, signal_datasets, multijet, kappa_terms)
    return optimise(signal, background, edges, min_background, variance, min_kish, scale, mc_uncertainty)


def score_bin_edges(out, method: str, signal_datasets, n_bins: int, multijet: str = "auto",
                    kappa_terms: bool = False, min_background: float = 0.0, min_kish: float = 0.0,
                    scale: float = 1.0, mc_uncertainty: bool = True) -> np.ndarray:
    """Score-slice edges of the fit in bins of the score (nested_edges, with the background MC
    uncertainty and the minimum Kish count of `best_threshold`) for one signal hypothesis."""
    edges, signal, background, variance = _per_score(out, method, signal_datasets, multijet, kappa_terms)
    return nested_edges(signal, background, edges, n_bins, min_background, variance, min_kish, scale,
                        mc_uncertainty)


def thresholded_output(out, method: str, threshold: float, upper: float = np.inf):
    """A view of the output in which `method`'s SR m_hh histograms (mhh, mhh_kl_terms) are the events
    with threshold <= score < upper, so the cut-based limit code applies unchanged."""
    import copy

    view = copy.copy(out)
    view.hists = dict(out.hists)
    for target, source, extra_axis in (("mhh", SCORE_HIST, None), ("mhh_kl_terms", SCORE_KL_HIST, "term")):
        if target not in out.hists or source not in out.hists:
            continue
        h = out.hists[target].copy()
        src = out.hists[source]
        for dataset in src.axes["dataset"]:
            for tags in src.axes["tags"]:
                for value in (list(src.axes[extra_axis]) if extra_axis else [None]):
                    index = {"dataset": dataset, "method": method, "tags": tags}
                    if extra_axis:
                        index[extra_axis] = value
                    if method not in list(src.axes["method"]) or dataset not in list(h.axes["dataset"]):
                        continue
                    sel = src[index]
                    t = template_above(sel.axes["score"].edges, sel.values(), sel.variances(), threshold, upper)
                    h[{**index, "region": "SR"}] = np.stack([t.yields, t.variances], axis=-1)
        view.hists[target] = h
    return view
