"""The jet inputs of SPA-NET, built by one function for training (`hh4b export-h5`) and serving
(the processor's `hh4b.analysis.methods.SpanetModel`), so both see the same arrays for the same jets.

Layout (the `jets` and `mask` inputs of a SPA-NET card, hh4b.nn.card): the leading `width` jets
of each event in the order given (pT-ordered), their raw `JET_FEATURES` (pt [GeV], eta, phi,
mass [GeV], btag 0/1) as float32, zero padding, and a mask of real jets; a jet with a non-finite
feature is zeroed and masked.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hh4b.analysis.padding import to_padded
from hh4b.constants import SPANET_MAX_JETS
from hh4b.nn.topology import JET_FEATURES


def jet_inputs(jets: ak.Array, width: int = SPANET_MAX_JETS) -> tuple[np.ndarray, np.ndarray]:
    """(n, width, 5) float32 jet features (JET_FEATURES order) and the (n, width) real-jet mask."""
    cols = [to_padded(ak.values_astype(jets[k], np.float32), width, 0.0) for k in JET_FEATURES]
    mask = to_padded(ak.ones_like(jets.pt, dtype=bool), width, False)
    features = np.stack(cols, axis=-1).astype(np.float32)
    bad = ~np.isfinite(features).all(axis=-1)
    features[bad] = 0.0
    return features, mask & ~bad


class LastJetInputs:
    """`jet_inputs` of the last jets array it was called with, kept for the next call with the same
    array: SPA-NET and Deep Sets then share one build of their inputs per chunk. Pickles empty."""

    def __init__(self):
        self._last = None

    def __getstate__(self):
        return {"_last": None}

    def __call__(self, jets: ak.Array) -> tuple[np.ndarray, np.ndarray]:
        last = self._last
        if last is not None and last[0] is jets:
            return last[1]
        result = jet_inputs(jets)
        self._last = (jets, result)
        return result
