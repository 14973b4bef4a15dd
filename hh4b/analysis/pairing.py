"""Pairing four jets into two Higgs candidates (paper section III.A), vectorised.

Four jets can be split into two pairs in exactly three ways. They are held in ONE constant
index array `PAIRINGS` of shape (3, 2, 2): pairing p, candidate c, jet j. Fancy-indexing a
(events, 4) column with it gives (events, 3, 2, 2) values, so every pairing of every event is
evaluated at once, with no Python loop over events.

Choosing among the three pairings uses the *pT-leading* candidate of each pairing, meaning
the dijet with the larger vector pT (paper III.A: "the pT-leading Higgs boson candidate",
"the higher-pT jet pair"):

- min-dR: the pairing whose pT-leading candidate has the smallest dR between its jets.
- dR + min-D_hh: only pairings inside the m_4j-dependent dR windows of Eq. (2) are allowed
  (events with none are dropped); among allowed ones the smallest D_hh of Eq. (3) wins, with
  D_hh the distance of (m_lead, m_subl) to the line through (0, 0) and the centre (c1, c2).

Jets and dijets are columnar four-momenta (hh4b.kinematics.FourMomenta, the hot-path helper),
built once per call from the (events, jets) columns and gathered with numpy indexing; dR comes
from hh4b.kinematics.delta_r.

After the choice, the candidates are renamed h1/h2 by the scalar sum of their jets' pT
(paper V.A.1): `higgs_candidates` does this for a pairing index or for any (events, 2, 2) jet
indices, e.g. SPA-NET's decoded assignment.
"""

from __future__ import annotations

import numpy as np

from hh4b.constants import (
    DHH_CENTRE,
    DR_LEAD_WINDOW,
    DR_MAX_HIGH_M4J,
    DR_SUBL_WINDOW,
    MHH_SPLIT_DR,
)
from hh4b.kinematics import FourMomenta, delta_r

# pairing p -> two candidates -> two jet slots among the four candidate jets
PAIRINGS = np.array([[[0, 1], [2, 3]], [[0, 2], [1, 3]], [[0, 3], [1, 2]]], dtype=np.int64)
METHODS = ("mindr", "dhh")


def _pair_quantities(jets: dict, jet_idx, shared: bool = False, angles: bool = True) -> dict:
    """Dijet kinematics for jet indices of shape (..., 2) into (n, J) jets (`_jets` output).

    `jet_idx` is (n, ..., 2) per event, or, with `shared`, one index array applied to every
    event (e.g. PAIRINGS). Returns arrays of shape (n, ...): the dijet four-momentum "p4", its
    pt, mass (and, with `angles`, eta, phi), dr between its jets and ht (scalar pT sum).
    """
    if shared:
        first, second = (slice(None), jet_idx[..., 0]), (slice(None), jet_idx[..., 1])
    else:
        rows = np.arange(len(jets["pt"])).reshape((-1,) + (1,) * (jet_idx.ndim - 2))
        first, second = (rows, jet_idx[..., 0]), (rows, jet_idx[..., 1])
    p4 = jets["p4"][first] + jets["p4"][second]
    out = {"p4": p4, "pt": p4.pt, "mass": p4.mass}
    if angles:
        out.update(_angles(out))
    out["dr"] = delta_r(jets["eta"][first], jets["phi"][first], jets["eta"][second], jets["phi"][second])
    out["ht"] = jets["pt"][first] + jets["pt"][second]
    return out


def _jets(pt, eta, phi, mass) -> dict:
    """Jet columns and their four-momenta, built once and gathered many times."""
    return {"pt": pt, "eta": eta, "phi": phi, "p4": FourMomenta.from_collider(pt, eta, phi, mass)}


def _angles(pairs: dict) -> dict:
    """eta and phi of the dijets (eta = 0 for a dijet without pT, as in events without candidates)."""
    return {"eta": pairs["p4"].eta, "phi": pairs["p4"].phi}


def all_pairings(pt, eta, phi, mass) -> dict:
    """Candidates of the three pairings of four jets, (n, 4) columns -> (n, 3) per quantity.

    Keys `lead_*`/`subl_*` for the pT-leading and subleading dijet of each pairing
    (quantities pt, mass, dr), `m4j` of shape (n,), and under "pairs" the (n, 3, 2) dijets
    (four-momentum "p4", pt, mass, dr, ht; eta/phi are computed for the chosen pairing only).
    """
    pairs = _pair_quantities(_jets(pt, eta, phi, mass), PAIRINGS, shared=True, angles=False)
    first_leads = pairs["pt"][..., 0] >= pairs["pt"][..., 1]
    out = {"pairs": pairs}
    for name in ("pt", "mass", "dr"):
        a, b = pairs[name][..., 0], pairs[name][..., 1]
        out[f"lead_{name}"] = np.where(first_leads, a, b)
        out[f"subl_{name}"] = np.where(first_leads, b, a)
    out["m4j"] = (pairs["p4"][:, 0, 0] + pairs["p4"][:, 0, 1]).mass
    return out


def choose_mindr(pairings: dict) -> np.ndarray:
    """Pairing index (n,) whose pT-leading candidate has the smallest dR between its jets."""
    return np.argmin(pairings["lead_dr"], axis=1)


def dr_window_allowed(pairings: dict) -> np.ndarray:
    """(n, 3) bool: the pairing passes the m_4j-dependent dR windows of Eq. (2)."""
    m4j = pairings["m4j"][:, None]
    lead, subl = pairings["lead_dr"], pairings["subl_dr"]
    with np.errstate(divide="ignore", invalid="ignore"):
        (lo_a, lo_b), (hi_a, hi_b) = DR_LEAD_WINDOW
        lead_ok = (lead > lo_a / m4j + lo_b) & (lead < hi_a / m4j + hi_b)
        (lo_a, lo_b), (hi_a, hi_b) = DR_SUBL_WINDOW
        subl_ok = (subl > lo_a / m4j + lo_b) & (subl < hi_a / m4j + hi_b)
    high = (lead > 0) & (lead < DR_MAX_HIGH_M4J) & (subl > 0) & (subl < DR_MAX_HIGH_M4J)
    return np.where(m4j > MHH_SPLIT_DR, high, lead_ok & subl_ok)


def d_hh(m_lead, m_subl, centre=DHH_CENTRE):
    """Eq. (3): distance of (m_lead, m_subl) to the line from the origin through `centre`."""
    slope = centre[0] / centre[1]
    return np.abs(m_lead - slope * m_subl) / np.sqrt(1.0 + slope * slope)


def choose_dhh(pairings: dict, centre=DHH_CENTRE) -> tuple[np.ndarray, np.ndarray]:
    """dR + min-D_hh: (pairing index (n,), valid (n,)); invalid events have no allowed pairing."""
    allowed = dr_window_allowed(pairings)
    dist = np.where(allowed, d_hh(pairings["lead_mass"], pairings["subl_mass"], centre), np.inf)
    return np.argmin(dist, axis=1), allowed.any(axis=1)


def choose(pairings: dict, method: str, centre=DHH_CENTRE) -> tuple[np.ndarray, np.ndarray]:
    """Pairing index and validity for `method` in METHODS, from `all_pairings` output."""
    if method == "mindr":
        return choose_mindr(pairings), np.isfinite(pairings["lead_dr"]).all(axis=1)
    if method == "dhh":
        return choose_dhh(pairings, centre)
    raise ValueError(f"unknown pairing method {method!r}; choose from {METHODS}")


def pairing_jet_indices(choice: np.ndarray) -> np.ndarray:
    """(n, 2, 2) slots of the four candidate jets for pairing indices (n,)."""
    return PAIRINGS[np.asarray(choice, dtype=np.int64)]


def _ordered(pairs: dict, jet_idx: np.ndarray, mhh: np.ndarray | None = None) -> dict:
    """h1/h2 from (n, 2) dijet quantities: h1 has the larger scalar pT sum (paper V.A.1)."""
    swap = pairs["ht"][:, 1] > pairs["ht"][:, 0]
    rows, first = np.arange(len(swap)), swap.astype(np.int64)
    h1 = {k: np.where(swap, v[:, 1], v[:, 0]) for k, v in pairs.items() if k != "p4"}
    h2 = {k: np.where(swap, v[:, 0], v[:, 1]) for k, v in pairs.items() if k != "p4"}
    h1["p4"], h2["p4"] = pairs["p4"][rows, first], pairs["p4"][rows, 1 - first]
    jet_idx = np.where(swap[:, None, None], jet_idx[:, ::-1, :], jet_idx)
    if mhh is None:
        mhh = (h1["p4"] + h2["p4"]).mass
    return {"h1": h1, "h2": h2, "jet_idx": jet_idx, "mhh": mhh}


def chosen_candidates(pairings: dict, choice: np.ndarray) -> dict:
    """h1, h2 of the chosen pairing (n,), ordered by scalar pT sum; jet_idx are slots 0-3.

    m_hh is the four-jet mass m_4j, the same for every pairing.
    """
    choice = np.asarray(choice, dtype=np.int64)
    rows = np.arange(len(choice))
    pairs = {k: v[rows, choice] for k, v in pairings["pairs"].items()}
    pairs.update(_angles(pairs))
    return _ordered(pairs, pairing_jet_indices(choice), pairings["m4j"])


def higgs_candidates(pt, eta, phi, mass, jet_idx) -> dict:
    """h1 and h2 from (n, J) jet columns and (n, 2, 2) jet indices, ordered by scalar pT sum.

    Serves any assignment, e.g. SPA-NET's decoded jet indices. Returns {"h1": {...},
    "h2": {...}, "jet_idx": (n, 2, 2) reordered, "mhh": (n,)}, each candidate with pt, eta,
    phi, mass, dr, ht and its four-momentum "p4" (hh4b.kinematics.FourMomenta).
    """
    jet_idx = np.asarray(jet_idx, dtype=np.int64)
    pairs = _pair_quantities(_jets(pt, eta, phi, mass), jet_idx)
    return _ordered(pairs, jet_idx)
