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

from hh4b.analysis.padding import padded_columns, to_padded
from hh4b.constants import TRUTH_MATCH_DR
from hh4b.kinematics import delta_r

# per-event status codes
MATCHED, NO_TRUTH, UNMATCHED_QUARK, MULTI_MATCHED_QUARK, SHARED_JET = 0, 1, 2, 3, 4


def quark_columns(quarks: ak.Array, width: int = 4) -> dict:
    """Higgs b quarks (records pt, eta, phi, parent) as padded numpy columns: {"n": (n,) quarks per
    event, "eta"/"phi": (n, width) float64 NaN-padded, "parent": (n, width) int64 -1-padded}."""
    return {"n": ak.to_numpy(ak.num(quarks.pt, axis=1)), **padded_columns(quarks, ("eta", "phi"), width),
            "parent": to_padded(ak.values_astype(quarks.parent, np.int64), width, -1)}


def match_quarks(jets: ak.Array, quarks: ak.Array | None, dr_max: float = TRUTH_MATCH_DR) -> dict:
    """Match Higgs b quarks (pt, eta, phi, parent) to jets.

    Returns {"status": (n,) code, "jet_parent": jagged per jet: 0/1 = which Higgs it came from,
    -1 = not matched}. Parent labels are 0 for the Higgs with the lower index, 1 for the other.
    Vectorised as dense (events, 4 quarks, jets) arrays (`match_padded`); events without exactly
    four quarks get NO_TRUTH.
    """
    n_jets = ak.to_numpy(ak.num(jets.pt, axis=1))
    if quarks is None:
        return {"status": np.full(len(n_jets), NO_TRUTH), "jet_parent": ak.unflatten(
            np.full(int(n_jets.sum()), -1, dtype=np.int64), n_jets)}
    width = int(n_jets.max(initial=0))
    jet = padded_columns(jets, ("eta", "phi"), width)
    status, jet_parent = match_padded(jet["eta"], jet["phi"], quark_columns(quarks), dr_max)
    valid = np.arange(width)[None, :] < n_jets[:, None]
    return {"status": status, "jet_parent": ak.unflatten(jet_parent[valid], n_jets)}


def match_padded(jet_eta: np.ndarray, jet_phi: np.ndarray, quarks: dict,
                 dr_max: float = TRUTH_MATCH_DR) -> tuple[np.ndarray, np.ndarray]:
    """`match_quarks` on padded columns: (n, J) jet eta and phi (NaN where there is no jet, which
    matches nothing) and the quarks' `quark_columns`. Returns the (n,) status codes and the (n, J)
    parent label of each jet slot (-1 = not matched or no jet)."""
    n_quarks, parent = quarks["n"], quarks["parent"]
    with np.errstate(invalid="ignore"):
        close = delta_r(quarks["eta"][:, :, None], quarks["phi"][:, :, None],
                        jet_eta[:, None, :], jet_phi[:, None, :]) < dr_max
    close &= (n_quarks == 4)[:, None, None]
    n_per_quark = close.sum(axis=2)  # (n, 4)
    jet_claims = close.sum(axis=1)  # (n, J)
    low = parent.min(axis=1, keepdims=True)
    label = (parent != low).astype(np.int64)  # 0 = the Higgs with the lower index
    two_parents = parent.max(axis=1) != low[:, 0]
    jet_parent = np.where(jet_claims == 1, (close * label[:, :, None]).sum(axis=1), -1)
    status = np.select(
        [(n_quarks != 4) | ~two_parents, (n_per_quark == 0).any(axis=1), (n_per_quark > 1).any(axis=1),
         (jet_claims > 1).any(axis=1)],
        [NO_TRUTH, UNMATCHED_QUARK, MULTI_MATCHED_QUARK, SHARED_JET], default=MATCHED)
    return status, jet_parent


def correct_pairing(jet_parent: ak.Array, jet_idx: np.ndarray) -> np.ndarray:
    """(n,) bool: the (n, 2, 2) chosen jet indices (into the event's jets) pair each Higgs's jets.

    Correct means both jets of a candidate come from the same Higgs and the two candidates
    come from different Higgs bosons. Indices -1 (no jet) are never correct. `jet_parent` is
    jagged (`match_quarks`) or the (n, J) padded labels of `match_padded`.
    """
    jet_idx = np.asarray(jet_idx, dtype=np.int64)
    n = len(jet_idx)
    if n == 0:
        return np.zeros(0, dtype=bool)
    width = int(max(1, jet_idx.max() + 1))
    if isinstance(jet_parent, np.ndarray):
        labels = np.pad(jet_parent, ((0, 0), (0, max(0, width - jet_parent.shape[1]))), constant_values=-1)
    else:
        labels = to_padded(jet_parent, width, -1)
    safe = np.where(jet_idx >= 0, jet_idx, 0)
    lab = labels[np.arange(n)[:, None, None], safe]
    lab = np.where(jet_idx >= 0, lab, -1)
    same = (lab[:, :, 0] == lab[:, :, 1]) & (lab[:, :, 0] >= 0)
    return same.all(axis=1) & (lab[:, 0, 0] != lab[:, 1, 0])
