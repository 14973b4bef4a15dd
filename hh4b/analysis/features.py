"""High-level inputs of the dense-network baseline (paper Tables II and IV).

The features are built from two Higgs candidates made by a chosen pairing. Every function
takes plain numpy columns (one value per event) so the same code serves the processor, the
training-data export and the tests.
"""

from __future__ import annotations

import numpy as np

from hh4b.kinematics import invariant_mass, momenta

HIGGS_VARIABLES = ("pt", "eta", "phi", "mass")

# Table II: Higgs candidates (8), dR of each candidate's jets (2), b-tag of the four jets (4),
# di-Higgs pT and mass (2).
RESONANT_FEATURES = (
    *(f"h{i}_{v}" for i in (1, 2) for v in HIGGS_VARIABLES),
    "h1_dr", "h2_dr",
    "j1_btag", "j2_btag", "j3_btag", "j4_btag",
    "hh_pt", "hh_mass",
)
# Table IV adds missing transverse momentum (2), lepton counts (2) and kappa_lambda (1).
NONRESONANT_FEATURES = (
    *RESONANT_FEATURES,
    "met_pt", "met_phi",
    "n_electron", "n_muon",
    "kappa_lambda",
)
FEATURE_SETS = {"resonant": RESONANT_FEATURES, "nonresonant": NONRESONANT_FEATURES}


def dihiggs_system(h1: dict, h2: dict) -> tuple[np.ndarray, np.ndarray]:
    """pT and invariant mass of h1 + h2; each candidate a dict with pt, eta, phi, mass."""
    p1, p2 = (momenta(*(np.asarray(h[v], dtype=np.float64) for v in HIGGS_VARIABLES)) for h in (h1, h2))
    hh = p1 + p2
    return hh.pt, invariant_mass(hh)


def higgs_features(h1: dict, h2: dict, dr: tuple, btags: tuple, event: dict | None = None) -> dict:
    """Columns of Tables II/IV.

    h1, h2: leading and subleading candidate (dicts of pt, eta, phi, mass arrays);
    dr: (dR between h1's jets, dR between h2's jets); btags: four arrays, h1's jets then h2's;
    event: optional met_pt, met_phi, n_electron, n_muon, kappa_lambda columns.
    """
    columns = {f"h{i}_{v}": np.asarray(h[v], dtype=np.float32)
               for i, h in ((1, h1), (2, h2)) for v in HIGGS_VARIABLES}
    columns["h1_dr"], columns["h2_dr"] = (np.asarray(x, dtype=np.float32) for x in dr)
    for i, tag in enumerate(btags, start=1):
        columns[f"j{i}_btag"] = np.asarray(tag, dtype=np.float32)
    hh_pt, hh_mass = dihiggs_system(h1, h2)
    columns["hh_pt"], columns["hh_mass"] = hh_pt.astype(np.float32), hh_mass.astype(np.float32)
    for name, values in (event or {}).items():
        columns[name] = np.asarray(values, dtype=np.float32)
    return columns


def feature_matrix(columns: dict, names: tuple[str, ...]) -> np.ndarray:
    """Stack the named columns into a float32 (events, features) matrix, in `names` order."""
    missing = [n for n in names if n not in columns]
    if missing:
        raise KeyError(f"feature columns missing: {', '.join(missing)}")
    return np.stack([np.asarray(columns[n], dtype=np.float32) for n in names], axis=1)
