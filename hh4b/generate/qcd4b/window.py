"""Importance sampling of p p -> b b~ b b~ toward the analysis' Higgs-mass window.

Of the LO four-b events that pass the four-tag selection, only a few percent have a jet pairing
with both candidate masses near m_h: the mass plane's signal region (SR), and around it the VR and
CR that the data-driven background model needs. The b quarks already tell, before the shower and
before the matrix element is evaluated, which events can get there. `HiggsWindow` gives each
parton-level configuration a factor g in [floor, 1]; the generator keeps a point with probability g
(before computing |M|^2) and gives the events it keeps the weight 1/g, so every distribution stays
unbiased and only the share of CPU spent on each region changes.

g is built from the three pairings of the four b quarks, with the analysis' own pairing rules
(hh4b.analysis.pairing) applied to the quarks as if they were jets:

    g = max(floor, max_p c_p * W(d_p) * [|deta_p| < QCD4B_WINDOW_DETA_MAX]),

- d_p: distance, in the jet mass plane, of pairing p's candidates from the CR centre
  (REGION_CR scale times the X_hh centre), the quark-pair masses (m1, m2), ordered by scalar pT sum
  as the analysis orders h1 and h2, mapped to jet masses by the centre over m_h
  (m1 c1 / M_H, m2 c2 / M_H: the jets lose part of the b quarks' energy, which is why the SR centre
  sits below m_h);
- W(d) = 1 inside the CR radius plus QCD4B_WINDOW_MARGIN, then a Gaussian fall-off of width
  QCD4B_WINDOW_WIDTH (jet mass resolution and wrong jets);
- c_p = 1 for the pairings the cut-based analysis picks (min-dR, dR + min-D_hh), else
  QCD4B_WINDOW_OTHER_PAIRINGS (a learned pairing, SPA-NET's, may pick either);
- deta_p: the pseudorapidity difference of the two candidates (the analysis cuts at DETA_HH_MAX).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hh4b import constants as C
from hh4b.analysis import pairing
from hh4b.generate.qcd4b import phasespace as ps


@dataclass(frozen=True)
class HiggsWindow:
    """Per-point factor g of the module docstring; fields default to the QCD4B_WINDOW_* constants."""

    floor: float = C.QCD4B_WINDOW_FLOOR
    control: float = C.QCD4B_WINDOW_CONTROL
    other_pairings: float = C.QCD4B_WINDOW_OTHER_PAIRINGS
    forward: float = C.QCD4B_WINDOW_FORWARD
    sr_margin: float = C.QCD4B_WINDOW_SR_MARGIN
    margin: float = C.QCD4B_WINDOW_MARGIN
    width: float = C.QCD4B_WINDOW_WIDTH
    deta_max: float = C.QCD4B_WINDOW_DETA_MAX

    def __call__(self, momenta: np.ndarray) -> np.ndarray:
        """g for parton-level momenta (N, 6, 4) (beams, then the four b quarks; [E, px, py, pz])."""
        quarks = momenta[:, 2:, :]
        pt, eta, phi = ps.kinematics(momenta)
        mass = np.sqrt(np.maximum(quarks[..., 0] ** 2 - np.sum(quarks[..., 1:] ** 2, axis=-1), 0.0))
        pairings = pairing.all_pairings(pt, eta, phi, mass)
        pairs = pairings["pairs"]
        first = pairs["ht"][..., 0] >= pairs["ht"][..., 1]
        c1, c2 = C.DHH_CENTRE
        j1 = np.where(first, pairs["mass"][..., 0], pairs["mass"][..., 1]) * c1 / C.M_H
        j2 = np.where(first, pairs["mass"][..., 1], pairs["mass"][..., 0]) * c2 / C.M_H
        window = np.maximum(self._signal(j1, j2), self.control * self._control(j1, j2))
        with np.errstate(divide="ignore", invalid="ignore"):
            pair_eta = np.nan_to_num(np.arcsinh(pairs["p4"].pz / pairs["pt"]))
        window *= np.abs(pair_eta[..., 0] - pair_eta[..., 1]) < self.deta_max
        weight = np.full(window.shape, self.other_pairings)
        rows = np.arange(len(window))
        dhh, valid = pairing.choose_dhh(pairings)
        weight[rows, pairing.choose_mindr(pairings)] = 1.0
        weight[rows[valid], dhh[valid]] = 1.0
        central = np.where((np.abs(eta) < C.QCD4B_WINDOW_ETA_MAX).all(axis=1), 1.0, self.forward)
        return np.maximum(self.floor, central * (weight * window).max(axis=1))

    def _fall_off(self, excess: np.ndarray) -> np.ndarray:
        return np.exp(-0.5 * (np.maximum(excess, 0.0) / self.width) ** 2)

    def _signal(self, j1: np.ndarray, j2: np.ndarray) -> np.ndarray:
        """1 within sr_margin GeV of the SR ellipse X_hh < XHH_MAX (approximately: the X_hh distance times the
        resolution 0.1 m), then the fall-off."""
        c1, c2 = C.DHH_CENTRE
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.hypot((j1 - c1) / (C.XHH_RESOLUTION * j1), (j2 - c2) / (C.XHH_RESOLUTION * j2))
        distance = (x - C.XHH_MAX) * C.XHH_RESOLUTION * 0.5 * (c1 + c2)
        return self._fall_off(np.nan_to_num(distance, nan=np.inf) - self.sr_margin)

    def _control(self, j1: np.ndarray, j2: np.ndarray) -> np.ndarray:
        """1 within margin GeV of the CR disc, then the fall-off."""
        c1, c2 = C.DHH_CENTRE
        scale, radius = C.REGION_CR
        return self._fall_off(np.hypot(j1 - scale * c1, j2 - scale * c2) - radius - self.margin)

    def key(self) -> list:
        return [self.floor, self.control, self.other_pairings, self.forward, self.sr_margin, self.margin, self.width,
                self.deta_max, *C.DHH_CENTRE, *C.REGION_CR, C.XHH_MAX, C.XHH_RESOLUTION, C.QCD4B_WINDOW_ETA_MAX]

    def describe(self) -> str:
        return (f"Higgs window: max({self.floor:g}, f_eta max_p c_p W_p [|deta_p| < {self.deta_max:g}]); "
                f"c_p = 1 for the min-dR and D_hh pairings, {self.other_pairings:g} for others; "
                f"W = 1 within {self.sr_margin:g} GeV of the SR, {self.control:g} within "
                f"{C.REGION_CR[1] + self.margin:g} GeV of the CR centre, Gaussian fall-off {self.width:g} GeV; "
                f"f_eta = {self.forward:g} with a b quark at |eta| > {C.QCD4B_WINDOW_ETA_MAX:g}")
