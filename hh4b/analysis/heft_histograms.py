"""The processor's five-coupling histograms of non-resonant samples (hh4b.theory.heft; docs/heft.md).

`mhh_heft_terms` (axes of `mhh_kl_terms`, term = A1 ... A15) holds, in the signal region, the
event weight times T_k / |M|^2_gen for each of the 15 terms: any coupling point's m_hh template is
sum_k u_k(point) times the term histograms (hh4b.theory.heft.term_monomials). `mhh_heft` holds the templates
of `POINTS` (SM and the benchmarks, `point` axis) filled the same way.

Per-event terms. Files generated now store the twelve terms other than (a, b, c) = (T_1, T_7, T_3)
as HEFT_A<k> branches, computed like a, b, c from s-hat and t-hat; they are used when present. The
committed samples store only a, b, c; for them the other twelve are looked up on the five-coupling
grid at the two truth Higgs bosons of GenPart: m_hh is the partonic sqrt(s-hat) (initial-state radiation boosts the
pair as a whole), cos theta is the Collins-Soper angle (the partonic one up to the pair's p_T); of
the twelve, only A_6, A_11 and A_12 depend on cos theta.

Generation density (`generation_density`): the |M|^2 the events were sampled from, the denominator
of every reweighting of the processor (`mhh_kl`, the `term` histograms, these). For a kappa_lambda
file it is its polynomial a + b k0 + c k0^2, so in the kappa_lambda plane the weights are exactly
those of `mhh_kl_terms`; for a file of the five-coupling mixture (`hh4b generate --heft-mixture`,
metadata `heft_generation`) it is sum_k g_k T_k of the stored terms.
"""

from __future__ import annotations

import awkward as ak
import hist
import numpy as np

from hh4b import weights
from hh4b.analysis.events import collection_fields
from hh4b.analysis.histograms import REGION_LABELS, _categories, mhh_axis
from hh4b.analysis.selection import TAG_CATEGORIES
from hh4b.errors import InputFileError
from hh4b.theory import gghh, heft

TERMS_HIST = "mhh_heft_terms"
POINTS_HIST = "mhh_heft"
POINTS = tuple(heft.benchmarks())
LAST_COPY_BIT = 13  # NanoAOD GenPart statusFlags: isLastCopy


def histograms() -> dict[str, hist.Hist]:
    """Empty `mhh_heft_terms` and `mhh_heft`."""
    return {
        TERMS_HIST: hist.Hist(*_categories(), hist.axis.StrCategory(list(heft.TERM_NAMES), name="term"),
                              mhh_axis(), storage=hist.storage.Weight()),
        POINTS_HIST: hist.Hist(*_categories(), hist.axis.StrCategory([p.label for p in POINTS], name="point"),
                               mhh_axis(), storage=hist.storage.Weight()),
    }


def truth_higgs_pairs(events) -> dict[str, np.ndarray]:
    """pt, eta, phi, mass of the two last-copy Higgs bosons per event, arrays of shape (n, 2)."""
    if "GenPart" not in events.fields:
        raise InputFileError("five-coupling terms need the truth Higgs bosons (GenPart) of non-resonant files")
    gen = events.GenPart
    last = (gen.statusFlags & (1 << LAST_COPY_BIT)) != 0
    higgs = gen[(gen.pdgId == 25) & last]
    if not ak.all(ak.num(higgs) == 2):
        raise InputFileError("an event without exactly two last-copy Higgs bosons in GenPart")
    return {k: ak.to_numpy(higgs[k]).astype(np.float64) for k in ("pt", "eta", "phi", "mass")}


def stored_terms(events) -> np.ndarray | None:
    """T_1 ... T_15 from the generator's HEFT_A<k> branches (T_1, T_7, T_3 left 0 for the stored
    KappaLambda_a, b, c), or None when the file has none."""
    wanted = [name for k, name in enumerate(heft.TERM_NAMES) if k not in heft.KL_TERMS]
    if not set(wanted) <= set(collection_fields(events, "HEFT")):
        return None
    terms = np.zeros((len(heft.TERM_NAMES), len(events)))
    for name in wanted:
        terms[heft.TERM_NAMES.index(name)] = ak.to_numpy(events.HEFT[name]).astype(np.float64)
    return terms


def event_terms(events, stored=None, grid=None) -> np.ndarray:
    """T_1 ... T_15 per event, shape (15, n): the HEFT_A<k> branches when the file has them, else
    from the truth Higgs bosons; `stored` (a, b, c) of the same events, when given, replaces T_1, T_7, T_3."""
    terms = stored_terms(events)
    if terms is not None:
        for row, values in zip(heft.KL_TERMS, stored or ()):
            terms[row] = values
        return terms
    if grid is None:
        from hh4b.generate.nonresonant import matrix_element_grid

        grid = matrix_element_grid(five_couplings=True)
    m_hh, cos_theta = heft.mhh_cos_theta_cs(**truth_higgs_pairs(events))
    s = np.maximum(m_hh, 2.0 * grid.params.m_h + 1e-6) ** 2
    terms = np.array(grid.coefficients_array(s, gghh.t_from_cos_theta(s, cos_theta, grid.params.m_h)))
    for row, values in zip(heft.KL_TERMS, stored or ()):
        terms[row] = values
    return terms


def generation_density(events, a, b, c, metadata: dict) -> np.ndarray:
    """Per-event |M|^2_gen of a non-resonant chunk: a + b k0 + c k0^2 at the generation kappa_lambda,
    or, for a file of a five-coupling mixture (metadata `heft_generation`), sum_k g_k T_k of its
    HEFT_A<k> branches and (a, b, c)."""
    if metadata.get("heft_generation") is None:
        return weights.kl_polynomial(a, b, c, weights.generation_kappa_lambda(metadata))
    terms = stored_terms(events)
    if terms is None:
        raise InputFileError(f"{metadata.get('filename') or 'non-resonant dataset'}: generated at a five-coupling "
                             "mixture (metadata heft_generation) but has no HEFT_A<k> branches")
    for row, values in zip(heft.KL_TERMS, (a, b, c)):
        terms[row] = values
    return np.tensordot(heft.file_generation(metadata), terms, axes=(0, 0))


def fill(hists: dict, dataset: str, result: dict, weight: np.ndarray, kl, events, source: np.ndarray) -> None:
    """Fill the signal-region five-coupling histograms of one chunk (`source`: the event of each row;
    `kl`: a, b, c and the generation density of each row)."""
    for name, empty in histograms().items():
        hists.setdefault(name, empty)
    terms = event_terms(events)[:, source]
    for row, values in zip(heft.KL_TERMS, kl[:3]):
        terms[row] = values
    monomials = heft.term_monomials(heft.check_couplings([point.couplings() for point in POINTS]))
    tags = np.array(["", "", *(TAG_CATEGORIES[c] for c in (2, 3, 4))])
    sr = REGION_LABELS.index("SR")
    for method, q in result["methods"].items():
        rows = np.flatnonzero((q["region"] == sr) & (result["category"] > 0))
        if rows.size == 0:
            continue
        common = {"dataset": dataset, "region": "SR", "tags": tags[result["category"][rows]], "method": method}
        base = weight[rows] * weights.density_ratio(1.0, kl[3][rows])
        for k, name in enumerate(heft.TERM_NAMES):
            hists[TERMS_HIST].fill(**common, term=name, mhh=q["mhh"][rows], weight=base * terms[k, rows])
        point_weights = (monomials @ terms[:, rows]) * base
        for point, point_weight in zip(POINTS, point_weights):
            hists[POINTS_HIST].fill(**common, point=point.label, mhh=q["mhh"][rows], weight=point_weight)
