"""Four-tag selection, tag categories and the cut-based analysis cuts (paper II.B, V.A.1, VI.A.1).

Jets enter as padded numpy columns pt, eta, phi, mass, btag (hh4b.analysis.padding.padded_jets of
the awkward jet records of hh4b.analysis.events); four-momenta are hh4b.kinematics.FourMomenta.

Four-tag cut and tag categories
    A *quality* jet has pT > 40 GeV, |eta| < 2.5 and finite kinematics (NaN jets never pass).
    The event's tag count is the number of b-tagged quality jets. The four candidate jets are
    - 4b (>= 4 tags): the four highest-pT tagged quality jets; this is the paper's four-tag cut;
    - 3b (exactly 3 tags): the three tagged jets plus the highest-pT untagged quality jet;
    - 2b (exactly 2 tags): the two tagged jets plus the two highest-pT untagged quality jets
      ("promoted" jets), the sample the data-driven background model reweights to 4b.
    Events with fewer than two tags or fewer than four quality jets have no category.

Cut-based selection, in order (cutflow names in CUTS)
    pT cuts of Eq. (4) on h1/h2 with m_4j the invariant mass of the two candidates;
    |deta_hh| < 1.5; top veto: events whose smallest X_Wt (Eq. 6) is below 1.5 are vetoed.
    X_Wt is built from W candidates = every pair of quality jets (candidates or not) and a top
    candidate = W + one of the four Higgs-candidate jets not in that W.

Regions in the (m_h1, m_h2) plane, with centre (c1, c2) = the X_hh centre (configurable:
paper (120, 110) GeV, ATLAS (124, 117) GeV):
    SR: X_hh < 1.6, X_hh of Eq. (5);
    VR: sqrt((m_h1 - 1.03 c1)^2 + (m_h2 - 1.03 c2)^2) < 30 GeV and not SR;
    CR: sqrt((m_h1 - 1.05 c1)^2 + (m_h2 - 1.05 c2)^2) < 45 GeV and not SR or VR
    (ATLAS resonant HH->4b, arXiv:1804.06174; constants REGION_VR, REGION_CR).
"""

from __future__ import annotations

import itertools

import numpy as np

from hh4b.constants import (
    DETA_HH_MAX,
    DHH_CENTRE,
    PT_LEAD_CUT,
    PT_SUBL_CUT,
    REGION_CR,
    REGION_VR,
    TAG_JET_ETA_MAX,
    TAG_JET_PT_MIN,
    XHH_MAX,
    XHH_RESOLUTION,
    XWT_CENTRE,
    XWT_RESOLUTION,
)
from hh4b.kinematics import FourMomenta

TAG_CATEGORIES = {2: "2b", 3: "3b", 4: "4b"}
REGIONS = ("SR", "VR", "CR")  # region code 1, 2, 3; 0 = outside all
CUTS = ("all", "four_jets_2tags", "four_tag", "pairing", "pt_cuts", "deta_hh", "top_veto", "SR")


def quality_mask(jets) -> np.ndarray:
    """Jets usable for tagging and W candidates: pT > 40 GeV, |eta| < 2.5, finite (NaN fails)."""
    finite = np.isfinite(jets["pt"]) & np.isfinite(jets["eta"]) & np.isfinite(jets["phi"]) & np.isfinite(jets["mass"])
    with np.errstate(invalid="ignore"):
        return finite & (jets["pt"] > TAG_JET_PT_MIN) & (np.abs(jets["eta"]) < TAG_JET_ETA_MAX)


def four_candidates(jets: dict) -> dict:
    """The four candidate jets per event and its tag category, from padded jet columns
    (hh4b.analysis.padding.padded_jets).

    Returns {"ntags": (n,), "category": (n,) in {0, 2, 3, 4}, "pt"/"eta"/"phi"/"mass"/"btag"/
    "index": (n, 4)} with candidates sorted by pT; `index` points into the event's jet list.
    Slots of events without a category hold NaN kinematics and index -1.
    """
    n, width = jets["pt"].shape
    quality = quality_mask(jets)
    tagged = quality & jets["btag"]
    ntags = tagged.sum(axis=1)
    category = np.where(quality.sum(axis=1) >= 4, np.minimum(ntags, 4), 0)
    category[category < 2] = 0
    # tagged jets first, each group by descending pT; non-quality jets last
    key = np.where(quality, np.where(tagged, 1e9, 0.0) + np.nan_to_num(jets["pt"]), -np.inf)
    if width < 4:
        key = np.pad(key, ((0, 0), (0, 4 - width)), constant_values=-np.inf)
    pad = ((0, 0), (0, max(0, 4 - width)))
    columns = {k: np.pad(v, pad, constant_values=np.nan if v.dtype.kind == "f" else 0) for k, v in jets.items()}
    first4 = np.argsort(-key, axis=1, kind="stable")[:, :4]
    rows = np.arange(n)[:, None]
    by_pt = np.argsort(-np.nan_to_num(columns["pt"][rows, first4], nan=-1.0), axis=1, kind="stable")
    order = first4[rows, by_pt]
    picked = {k: v[rows, order] for k, v in columns.items()}
    picked["index"] = order
    has = category[:, None] > 0
    out = {k: np.where(has, v, np.nan) for k, v in picked.items() if k in ("pt", "eta", "phi", "mass")}
    out["btag"] = has & picked["btag"].astype(bool)
    out["index"] = np.where(has, picked["index"], -1)
    out["ntags"], out["category"] = ntags, category
    return out


def pt_cuts(h1_pt, h2_pt, m4j) -> np.ndarray:
    """Eq. (4): pT_lead > 0.5 m_4j - 103 GeV and pT_subl > 0.33 m_4j - 73 GeV."""
    return (h1_pt > PT_LEAD_CUT[0] * m4j + PT_LEAD_CUT[1]) & (h2_pt > PT_SUBL_CUT[0] * m4j + PT_SUBL_CUT[1])


def deta_cut(h1_eta, h2_eta) -> np.ndarray:
    """|deta_hh| < 1.5 (paper V.A.1)."""
    return np.abs(h1_eta - h2_eta) < DETA_HH_MAX


def x_hh(m1, m2, centre=DHH_CENTRE) -> np.ndarray:
    """Eq. (5): distance to the centre in units of 10% mass resolution."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.hypot((m1 - centre[0]) / (XHH_RESOLUTION * m1), (m2 - centre[1]) / (XHH_RESOLUTION * m2))


def x_wt(m_w, m_t) -> np.ndarray:
    """Eq. (6) for W and top candidate masses."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.hypot((m_w - XWT_CENTRE[0]) / (XWT_RESOLUTION * m_w),
                        (m_t - XWT_CENTRE[1]) / (XWT_RESOLUTION * m_t))


def min_x_wt(jets: dict, cands: dict) -> np.ndarray:
    """Smallest X_Wt per event over W = any two quality jets, b = a candidate jet not in W.

    `jets` are padded jet columns (hh4b.analysis.padding.padded_jets), `cands` the four
    Higgs-candidate jets as (n, 4) columns pt, eta, phi, mass and index (position in the event's
    jets, -1 for none). Events are grouped by their number k of quality jets so each group is a
    dense (m, k) block with one constant list of jet pairs. Events without any top candidate get +inf (never vetoed).
    """
    n = len(cands["index"])
    best = np.full(n, np.inf)
    quality = quality_mask(jets)
    order = np.argsort(~quality, axis=1, kind="stable")  # quality jets first, original order
    nq = quality.sum(axis=1)
    p4 = FourMomenta.from_collider(*(np.take_along_axis(jets[k], order, axis=1) for k in ("pt", "eta", "phi", "mass")))
    b = FourMomenta.from_collider(*(cands[k] for k in ("pt", "eta", "phi", "mass")))
    for k in np.unique(nq[nq >= 2]):
        rows = np.flatnonzero(nq == k)
        pairs = np.array(list(itertools.combinations(range(k), 2)))  # (P, 2)
        idx_i, idx_j = order[rows][:, pairs[:, 0]], order[rows][:, pairs[:, 1]]  # (m, P)
        group = p4[rows]
        w = group[:, pairs[:, 0]] + group[:, pairs[:, 1]]  # (m, P)
        top = w[:, :, None] + b[rows][:, None, :]  # (m, P, 4)
        cidx = cands["index"][rows][:, None, :]
        usable = (cidx >= 0) & (cidx != idx_i[:, :, None]) & (cidx != idx_j[:, :, None])
        values = np.where(usable, x_wt(w.mass[:, :, None], top.mass), np.inf)
        best[rows] = values.reshape(len(rows), -1).min(axis=1)
    return best


def region_codes(m1, m2, centre=DHH_CENTRE) -> np.ndarray:
    """1 = SR, 2 = VR, 3 = CR, 0 = outside, from the candidate masses (see module docstring)."""
    sr = x_hh(m1, m2, centre) < XHH_MAX
    vr = np.hypot(m1 - REGION_VR[0] * centre[0], m2 - REGION_VR[0] * centre[1]) < REGION_VR[1]
    cr = np.hypot(m1 - REGION_CR[0] * centre[0], m2 - REGION_CR[0] * centre[1]) < REGION_CR[1]
    return np.select([sr, vr, cr], [1, 2, 3], default=0)
