"""hist.Hist factories with the axes of docs/formats.md section 3 (all Weight() storage).

Categorical axes: dataset (growing), region (presel, SR, VR, CR), tags (2b, 3b, 4b), method
(growing: cut_mindr, cut_dhh, later spanet ...); `kappa_lambda` (growing, values as text) for
non-resonant samples and `term` (a, b, c) for the polynomial decomposition.

m_hh binning (`MHH_EDGES`): from 200 GeV, bins of 20 GeV up to 600 GeV, 40 GeV up to 1000 GeV,
100 GeV up to 2000 GeV and 250 GeV up to 3000 GeV: roughly half the ~7-10% m_hh resolution of
four-jet systems, coarser where the falling spectrum leaves few events per bin.
`presel` holds events passing the pT cuts of Eq. (4) (before |deta_hh|, top veto and X_hh),
the place to look at deta_hh, X_Wt and X_hh; SR/VR/CR hold events passing every cut but X_hh.
"""

from __future__ import annotations

import hist
import numpy as np

from hh4b.analysis.selection import REGIONS, TAG_CATEGORIES

REGION_LABELS = ("presel", *REGIONS)
TAG_LABELS = tuple(TAG_CATEGORIES.values())
TERMS = ("a", "b", "c")
MHH_EDGES = np.concatenate([
    np.arange(200.0, 600.0, 20.0), np.arange(600.0, 1000.0, 40.0),
    np.arange(1000.0, 2000.0, 100.0), np.arange(2000.0, 3000.0 + 1, 250.0)])


def _categories() -> list:
    return [
        hist.axis.StrCategory([], name="dataset", growth=True),
        hist.axis.StrCategory(list(REGION_LABELS), name="region"),
        hist.axis.StrCategory(list(TAG_LABELS), name="tags"),
        hist.axis.StrCategory([], name="method", growth=True),
    ]


def _hist(*axes) -> hist.Hist:
    return hist.Hist(*_categories(), *axes, storage=hist.storage.Weight())


def mhh_axis() -> hist.axis.Variable:
    return hist.axis.Variable(MHH_EDGES, name="mhh", label=r"$m_{hh}$ [GeV]")


def make_histograms(nonresonant: bool = False) -> dict[str, hist.Hist]:
    """The processor's histograms; non-resonant adds `mhh_kl` and `mhh_kl_terms`."""
    hists = {
        "mhh": _hist(mhh_axis()),
        "mh1_mh2": _hist(hist.axis.Regular(50, 50.0, 200.0, name="mh1", label=r"$m_{h1}$ [GeV]"),
                         hist.axis.Regular(50, 50.0, 200.0, name="mh2", label=r"$m_{h2}$ [GeV]")),
        "h1_pt": _hist(hist.axis.Regular(60, 0.0, 1200.0, name="pt", label=r"$p_T^{h1}$ [GeV]")),
        "h2_pt": _hist(hist.axis.Regular(60, 0.0, 1200.0, name="pt", label=r"$p_T^{h2}$ [GeV]")),
        "h1_eta": _hist(hist.axis.Regular(50, -5.0, 5.0, name="eta", label=r"$\eta^{h1}$")),
        "h2_eta": _hist(hist.axis.Regular(50, -5.0, 5.0, name="eta", label=r"$\eta^{h2}$")),
        "deta_hh": _hist(hist.axis.Regular(50, 0.0, 5.0, name="deta", label=r"$|\Delta\eta_{hh}|$")),
        "xhh": _hist(hist.axis.Regular(50, 0.0, 10.0, name="xhh", label=r"$X_{hh}$")),
        "xwt": _hist(hist.axis.Regular(50, 0.0, 10.0, name="xwt", label=r"min $X_{Wt}$")),
    }
    if nonresonant:
        hists["mhh_kl"] = hist.Hist(*_categories(), hist.axis.StrCategory([], name="kappa_lambda", growth=True),
                                    mhh_axis(), storage=hist.storage.Weight())
        hists["mhh_kl_terms"] = hist.Hist(*_categories(), hist.axis.StrCategory(list(TERMS), name="term"),
                                          mhh_axis(), storage=hist.storage.Weight())
    return hists


def score_histograms(nonresonant: bool = False) -> dict[str, hist.Hist]:
    """m_hh vs classifier score (0.01 bins, the threshold grid of hh4b.stats.thresholds) for the
    neural selections, filled for every event with a valid pairing (no mass-plane cuts)."""
    def make(*extra):
        return hist.Hist(hist.axis.StrCategory([], name="dataset", growth=True),
                         hist.axis.StrCategory(list(TAG_LABELS), name="tags"),
                         hist.axis.StrCategory([], name="method", growth=True), *extra,
                         hist.axis.Regular(100, 0.0, 1.0, name="score", label="signal score"),
                         mhh_axis(), storage=hist.storage.Weight())

    hists = {"mhh_score": make()}
    if nonresonant:
        hists["mhh_score_kl_terms"] = make(hist.axis.StrCategory(list(TERMS), name="term"))
    return hists


def kl_label(kappa_lambda: float) -> str:
    """Category label of a kappa_lambda value, e.g. 1.0 -> '1', 2.5 -> '2.5'."""
    return f"{float(kappa_lambda):g}"


def new_cutflow(cuts) -> dict[str, np.ndarray]:
    """{cut: array([sum of weights, raw count])}; arrays add element-wise when chunks merge."""
    return {cut: np.zeros(2, dtype=np.float64) for cut in cuts}
