"""Physics augmentation of the network inputs: a global rotation in phi and a reflection in eta.

The detector and the pp initial state are symmetric under a rotation of the whole event about
the beam (phi -> phi + delta for every object) and under the reflection z -> -z (eta -> -eta for
every object), so a transformed event is an equally likely event of the same process with the
same truth pairing and weight. Training on a freshly transformed copy of every batch teaches the
networks the symmetry instead of the orientation of the few training events.

Per event: one delta uniform in [-pi, pi) and one sign s in {+1, -1}; phi -> wrap(phi + delta)
into [-pi, pi), eta -> s * eta; pT, mass and b-tag, and so every pair and four-jet mass and every
Delta R, are unchanged; padded jets stay exactly as they were (zeros). Validation and test events
are never augmented. The draws come from a numpy Generator (`augment_rng(seed)`, a stream apart
from the batch shuffles and the torch initialisation), so a training is reproducible and one with
and one without augmentation see the same batches in the same order.

SPA-NET (hh4b.nn.train_spanet): `augment_jets` on the jets of every training batch; its only
other input, kappa_lambda, is invariant.

DNN (hh4b.nn.train_dnn): the Table II/IV features (hh4b.analysis.features) are built once from the
jets. The min-dR pairing uses only dR and dijet pT, which the symmetry keeps, so the features of
the transformed event are the original ones with the signed etas (h1_eta, h2_eta) multiplied by s
and the azimuths (h1_phi, h2_phi and the MET direction met_phi) rotated by the same delta; every
other feature (pT, masses, dR, b-tags, hh pT and mass, MET, lepton counts, kappa_lambda) is
invariant. `augment_features` does exactly that on each training batch of the feature matrix,
by column name (`*_eta`, `*_phi`), with no need to rebuild the features from jets. For the
features on a SPA-NET pairing it keeps the pairing found on the original event, the same pairing
of the same jets.
"""

from __future__ import annotations

import numpy as np
import torch

from hh4b.nn.topology import JET_FEATURES

_STREAM = 20_211  # second entropy word: keeps the augmentation draws apart from other seeded streams
ETA, PHI = JET_FEATURES.index("eta"), JET_FEATURES.index("phi")


def augment_rng(seed: int) -> np.random.Generator:
    """The augmentation generator of a training with this seed."""
    return np.random.default_rng((int(seed), _STREAM))


def wrap_phi(phi):
    """Angles into [-pi, pi)."""
    return (phi + np.pi) % (2 * np.pi) - np.pi


def draw(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """One rotation angle delta in [-pi, pi) and one eta sign in {+1, -1} per event."""
    delta = rng.uniform(-np.pi, np.pi, n)
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return delta, sign


def _as_input_type(out: np.ndarray, like):
    return torch.from_numpy(out) if isinstance(like, torch.Tensor) else out


def augment_jets(jets, mask, rng: np.random.Generator):
    """(B, J, 5) jets in JET_FEATURES order (numpy or CPU torch) and their (B, J) real-jet mask ->
    the same events rotated in phi and reflected in eta, as a new array of the input's type."""
    x = np.asarray(jets)
    real = np.asarray(mask, dtype=bool)
    delta, sign = draw(len(x), rng)
    out = x.copy()
    eta, phi = x[..., ETA].astype(np.float64), x[..., PHI].astype(np.float64)
    out[..., ETA] = np.where(real, sign[:, None] * eta, eta)
    out[..., PHI] = np.where(real, wrap_phi(phi + delta[:, None]), phi)
    return _as_input_type(out, jets)


def feature_columns(names) -> tuple[list[int], list[int]]:
    """Indices of the features that flip with eta (`*_eta`) and rotate with phi (`*_phi`)."""
    names = list(names)
    return ([i for i, n in enumerate(names) if n.endswith("_eta")],
            [i for i, n in enumerate(names) if n.endswith("_phi")])


def augment_features(features, names, rng: np.random.Generator):
    """(B, F) DNN features named `names` (numpy or CPU torch) -> the features of the same events
    rotated in phi and reflected in eta, as a new array of the input's type."""
    x = np.asarray(features)
    eta, phi = feature_columns(names)
    delta, sign = draw(len(x), rng)
    out = x.copy()
    out[:, eta] = sign[:, None] * x[:, eta].astype(np.float64)
    out[:, phi] = wrap_phi(x[:, phi].astype(np.float64) + delta[:, None])
    return _as_input_type(out, features)
