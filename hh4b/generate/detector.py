"""A documented parametrised detector, applied columnar to a batch of events.

- Jet energy response: each particle-level jet four-momentum is scaled by 1 + (sigma/E) * g,
  g ~ N(0, 1), with sigma/E = JER_STOCHASTIC / sqrt(E/GeV) + JER_CONSTANT (the direction and
  mass/energy ratio are kept). Jets with pT >= JET_PT_MIN and |eta| < JET_ETA_MAX after the
  response are kept, pT-ordered.
- Jet_hadronFlavour: 5 if a weakly decaying b hadron (pT > HADRON_LABEL_PT_MIN) lies within
  dR < HADRON_LABEL_DR of the jet, else 4 for a c hadron, else 0.
- b-tagging by true hadron flavour: one uniform number u per jet, tagged at working point w if
  u < eff_w(flavour) (b: eff_b, c: 1/rej_c, light: 1/rej_light, constants.BTAG_WORKING_POINTS)
  and |eta| < BTAG_ETA_MAX. The same u for every working point makes the tags nested.
- Electrons and muons: final-state e/mu with pT > LEPTON_PT_MIN inside their |eta| acceptance,
  isolated: scalar pT sum of the other visible final-state particles within LEPTON_ISO_DR below
  LEPTON_ISO_MAX times the lepton pT. Perfect efficiency and resolution.
- MET: minus the vector pT sum of the visible final state in |eta| < JET_ETA_MAX, corrected
  for the jet response (minus the pT change of every smeared jet).

Smeared jets are `vector` four-momenta and every dR is the analysis's (hh4b.kinematics).
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hh4b.constants import (
    BTAG_ETA_MAX,
    BTAG_WORKING_POINTS,
    ELECTRON_ETA_MAX,
    HADRON_LABEL_DR,
    JER_CONSTANT,
    JER_STOCHASTIC,
    JET_ETA_MAX,
    JET_PT_MIN,
    LEPTON_ISO_DR,
    LEPTON_ISO_MAX,
    LEPTON_PT_MIN,
    MUON_ETA_MAX,
)
from hh4b.kinematics import cartesian, delta_r, invariant_mass


def jet_resolution(energy):
    """Relative jet energy resolution sigma/E = a/sqrt(E) + b."""
    return JER_STOCHASTIC / np.sqrt(np.maximum(energy, 1e-6)) + JER_CONSTANT


def smear_jets(jets: ak.Array, rng: np.random.Generator) -> tuple[ak.Array, ak.Array]:
    """Apply the energy response to particle-level jets (records px, py, pz, e).

    Returns (all smeared jets with pt, eta, phi, mass, px, py; the pT change (dpx, dpy) per event).
    """
    counts = ak.num(jets)
    flat = ak.flatten(jets)
    e = ak.to_numpy(flat.e)
    scale = np.clip(1.0 + jet_resolution(e) * rng.standard_normal(len(e)), 0.0, None)
    px, py, pz = (ak.to_numpy(flat[c]) * scale for c in ("px", "py", "pz"))
    p4 = cartesian(px, py, pz, e * scale)
    smeared = ak.unflatten(ak.zip({"pt": p4.pt, "eta": p4.eta, "phi": p4.phi, "mass": invariant_mass(p4)}), counts)
    dpx = ak.sum(ak.unflatten(px - ak.to_numpy(flat.px), counts), axis=1)
    dpy = ak.sum(ak.unflatten(py - ak.to_numpy(flat.py), counts), axis=1)
    return smeared, (ak.to_numpy(dpx), ak.to_numpy(dpy))


def select_jets(jets: ak.Array) -> ak.Array:
    """Jets passing pT >= JET_PT_MIN and |eta| < JET_ETA_MAX, pT-ordered."""
    jets = jets[(jets.pt >= JET_PT_MIN) & (np.abs(jets.eta) < JET_ETA_MAX)]
    return jets[ak.argsort(jets.pt, axis=1, ascending=False)]


def same_event_pairs(event_a: np.ndarray, event_b: np.ndarray, n_events: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) of all a_i, b_j in the same event; flat numpy, `event_b` sorted."""
    b_counts = np.bincount(event_b, minlength=n_events)
    b_start = np.concatenate([[0], np.cumsum(b_counts)[:-1]])
    n_pairs = b_counts[event_a]
    i = np.repeat(np.arange(len(event_a)), n_pairs)
    pair_start = np.concatenate([[0], np.cumsum(n_pairs)[:-1]])
    j = np.repeat(b_start[event_a] - pair_start, n_pairs) + np.arange(len(i))
    return i, j


def hadron_flavour(jets: ak.Array, b_hadrons: dict, c_hadrons: dict) -> ak.Array:
    """Jet_hadronFlavour (5, 4, 0): b/c hadrons (flat eta, phi, event) within HADRON_LABEL_DR."""
    counts = ak.to_numpy(ak.num(jets))
    jet_event = np.repeat(np.arange(len(counts)), counts)
    eta, phi = ak.to_numpy(ak.flatten(jets.eta)), ak.to_numpy(ak.flatten(jets.phi))

    def near(hadrons):
        i, j = same_event_pairs(jet_event, hadrons["event"], len(counts))
        close = delta_r(eta[i], phi[i], hadrons["eta"][j], hadrons["phi"][j]) < HADRON_LABEL_DR
        return np.bincount(i[close], minlength=len(eta)) > 0

    flavour = np.where(near(b_hadrons), 5, np.where(near(c_hadrons), 4, 0)).astype(np.int32)
    return ak.unflatten(flavour, counts)


def tag_efficiency(flavour: np.ndarray, working_point: str) -> np.ndarray:
    """Per-jet b-tag probability at `working_point` given the hadron flavour (5, 4, 0)."""
    wp = BTAG_WORKING_POINTS[working_point]
    return np.select([flavour == 5, flavour == 4], [wp["eff_b"], 1.0 / wp["rej_c"]], 1.0 / wp["rej_light"])


def btag(flavour: np.ndarray, eta: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Nested b-tag decisions {working point: bool array} for flat arrays of jets."""
    u = rng.random(len(flavour))
    inside = np.abs(eta) < BTAG_ETA_MAX
    return {name: inside & (u < tag_efficiency(flavour, name)) for name in BTAG_WORKING_POINTS}


def isolation(lep_event, lep_eta, lep_phi, vis_event, vis_pt, vis_eta, vis_phi, n_events) -> np.ndarray:
    """Scalar pT sum of visible particles within LEPTON_ISO_DR of each lepton (itself excluded)."""
    i, j = same_event_pairs(lep_event, vis_event, n_events)
    dr = delta_r(lep_eta[i], lep_phi[i], vis_eta[j], vis_phi[j])
    inside = (dr < LEPTON_ISO_DR) & (dr > 1e-6)
    return np.bincount(i[inside], weights=vis_pt[j][inside], minlength=len(lep_event))


def isolated_leptons(candidates: dict, iso: np.ndarray, flavour: int, n_events: int) -> ak.Array:
    """Isolated electrons (flavour 11) or muons (13) per event, pT-ordered.

    `candidates`: flat arrays pt, eta, phi, mass, pid, event of final-state leptons; `iso` their
    isolation sums (see `isolation`).
    """
    eta_max = ELECTRON_ETA_MAX if flavour == 11 else MUON_ETA_MAX
    c = candidates
    keep = (np.abs(c["pid"]) == flavour) & (c["pt"] > LEPTON_PT_MIN) & (np.abs(c["eta"]) < eta_max)
    keep &= iso < LEPTON_ISO_MAX * c["pt"]
    order = np.lexsort((-c["pt"][keep], c["event"][keep]))
    counts = np.bincount(c["event"][keep], minlength=n_events)
    fields = {f: c[f][keep][order].astype(np.float32) for f in ("pt", "eta", "phi", "mass")}
    fields["charge"] = (-np.sign(c["pid"][keep][order])).astype(np.int32)
    return ak.zip({f: ak.unflatten(v, counts) for f, v in fields.items()})


def missing_pt(visible_px: np.ndarray, visible_py: np.ndarray, jet_dpx: np.ndarray, jet_dpy: np.ndarray):
    """(MET_pt, MET_phi) from per-event visible pT sums and the jet response."""
    mex = -visible_px - jet_dpx
    mey = -visible_py - jet_dpy
    return np.hypot(mex, mey), np.arctan2(mey, mex)
