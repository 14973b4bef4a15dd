"""Truth matching of jets to the b quarks of the two Higgs decays (paper section III.B).

Each Higgs b quark is matched to the jets within dR < 0.4 (constants.TRUTH_MATCH_DR).
An event is *fully matched* when it has exactly four Higgs b quarks from two Higgs bosons,
every quark is within dR < 0.4 of exactly one jet, and no jet is claimed by two quarks.
Events with a quark matched to two or more jets, or an unmatched quark, are flagged
(`status`) and, as in the paper, left out of pairing-efficiency denominators.

Pairing efficiency of a method = events whose chosen pairing puts the two jets of each
Higgs together / fully matched events.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hh4b.constants import TRUTH_MATCH_DR
from hh4b.pairing import delta_r

# per-event status codes
MATCHED, NO_TRUTH, UNMATCHED_QUARK, MULTI_MATCHED_QUARK, SHARED_JET = 0, 1, 2, 3, 4


def match_quarks(jets: ak.Array, quarks: ak.Array | None, dr_max: float = TRUTH_MATCH_DR) -> dict:
    """Match Higgs b quarks (pt, eta, phi, parent) to jets.

    Returns {"status": (n,) code, "jet_parent": jagged per jet: 0/1 = which Higgs it came from,
    -1 = not matched}. Parent labels are 0 for the Higgs with the lower index, 1 for the other.
    """
    n = len(jets)
    if quarks is None:
        return {"status": np.full(n, NO_TRUTH), "jet_parent": ak.values_astype(jets.pt * 0 - 1, np.int64)}
    pairs = ak.cartesian({"q": quarks, "j": jets}, axis=1, nested=True)  # (n, quark, jet)
    close = delta_r(pairs.q.eta, pairs.q.phi, pairs.j.eta, pairs.j.phi) < dr_max
    n_per_quark = ak.sum(close, axis=2)
    n_quarks = ak.to_numpy(ak.num(quarks.pt, axis=1))
    parents = quarks.parent
    first_parent = ak.fill_none(ak.min(parents, axis=1), -1)
    two_parents = ak.to_numpy(ak.fill_none(ak.max(parents, axis=1), -1) != first_parent)
    label = ak.values_astype(parents != first_parent, np.int64)  # (n, quark)
    jet_claims = ak.sum(close, axis=1)  # (n, jet): how many quarks claim each jet
    labelled = ak.where(close, label[:, :, None], 0)
    jet_parent = ak.where(jet_claims == 1, ak.sum(labelled, axis=1), -1)

    unmatched = ak.to_numpy(ak.any(n_per_quark == 0, axis=1))
    multi = ak.to_numpy(ak.any(n_per_quark > 1, axis=1))
    shared = ak.to_numpy(ak.any(jet_claims > 1, axis=1))
    status = np.select(
        [(n_quarks != 4) | ~two_parents, unmatched, multi, shared],
        [NO_TRUTH, UNMATCHED_QUARK, MULTI_MATCHED_QUARK, SHARED_JET], default=MATCHED)
    return {"status": status, "jet_parent": jet_parent}


def correct_pairing(jet_parent: ak.Array, jet_idx: np.ndarray) -> np.ndarray:
    """(n,) bool: the (n, 2, 2) chosen jet indices (into the event's jets) pair each Higgs's jets.

    Correct means both jets of a candidate come from the same Higgs and the two candidates
    come from different Higgs bosons. Indices -1 (no jet) are never correct.
    """
    jet_idx = np.asarray(jet_idx, dtype=np.int64)
    n = len(jet_idx)
    if n == 0:
        return np.zeros(0, dtype=bool)
    padded = ak.fill_none(ak.pad_none(jet_parent, int(max(1, jet_idx.max() + 1)), axis=1, clip=True), -1)
    labels = ak.to_numpy(padded)
    safe = np.where(jet_idx >= 0, jet_idx, 0)
    lab = labels[np.arange(n)[:, None, None], safe]
    lab = np.where(jet_idx >= 0, lab, -1)
    same = (lab[:, :, 0] == lab[:, :, 1]) & (lab[:, :, 0] >= 0)
    return same.all(axis=1) & (lab[:, 0, 0] != lab[:, 1, 0])
