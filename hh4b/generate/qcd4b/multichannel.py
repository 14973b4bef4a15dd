"""Multi-channel phase space for p p -> b b~ b b~: the lab-frame map plus four b-b~ pair channels.

The largest weights of the single lab-frame map come from a b and a b~ close to each other
(g -> b b~ splittings near the dR cut), a correlation of two particles that a separable VEGAS
grid cannot learn. A pair channel generates b~ B around b A in polar coordinates,
eta_B = eta_A + dR cos(a), phi_B = phi_A + dR sin(a), with log dR in [dR_min, pi] (the disc
where (dR, a) is one-to-one on the eta-phi cylinder): deta dphi = dR^2 ln(pi / dR_min) 2 pi du du.
The other variables are those of the lab-frame map (pT logarithmic, eta uniform, the fourth
quark's pT from balance). There is one pair channel per b-b~ pairing (four), all sharing one
VEGAS map (|M|^2 is symmetric under b <-> b and b~ <-> b~), and the lab-frame channel has its own.

Each point's weight uses the full mixture density g = sum_c alpha_c g_c(p), with g_c found by
inverting channel c's map at p (analytic inverse of the parametrisation, `AdaptiveMap.invmap`);
`Points.jac` is 1/g inside the cuts, so integrate.py is unchanged.
"""

from __future__ import annotations

import time

import numpy as np
import vegas

from hh4b.generate.qcd4b import phasespace as ps

PAIR_ORDERS = ((2, 3, 4, 5), (2, 5, 4, 3), (4, 3, 2, 5), (4, 5, 2, 3))  # slots of A (b), B (b~), C, D
ALPHA_LAB = 0.4  # share of points from the lab-frame channel, the rest split over the pairs


def _unit_phi(delta: np.ndarray) -> np.ndarray:
    return np.mod(delta, 2.0 * np.pi) / (2.0 * np.pi)


class Channels:
    """Lab-frame + pair channels with their VEGAS maps; `sample` returns (channel, y, Points)."""

    def __init__(self, sqrt_s: float, cuts: ps.Cuts, ninc: int = 200, grids=None):
        self.sqrt_s, self.cuts = float(sqrt_s), cuts
        self.log_pt = np.log(0.5 * sqrt_s / cuts.pt_min)
        self.log_dr = np.log(np.pi / cuts.dr_min)
        grids = grids if grids is not None else (None, None)
        flat = [[0.0, 1.0]] * ps.DIM
        self.maps = [vegas.AdaptiveMap(flat, ninc=ninc) if g is None else vegas.AdaptiveMap(g) for g in grids]
        self.alphas = np.array([ALPHA_LAB] + [(1.0 - ALPHA_LAB) / len(PAIR_ORDERS)] * len(PAIR_ORDERS))

    # --- pair parametrisation ------------------------------------------------------------
    def _pair_forward(self, u: np.ndarray, phi0: np.ndarray, order) -> ps.Points:
        c = self.cuts
        n = len(u)
        pt = np.empty((n, 4))
        pt[:, [0, 1, 2]] = c.pt_min * np.exp(u[:, [0, 2, 5]] * self.log_pt)
        dr = c.dr_min * np.exp(u[:, 3] * self.log_dr)
        angle = 2.0 * np.pi * u[:, 4]
        eta = np.empty((n, 4))
        eta[:, 0] = c.eta_max * (2 * u[:, 1] - 1)
        eta[:, 1] = eta[:, 0] + dr * np.cos(angle)
        eta[:, 2] = c.eta_max * (2 * u[:, 6] - 1)
        eta[:, 3] = c.eta_max * (2 * u[:, 8] - 1)
        phi = np.column_stack([phi0, phi0 + dr * np.sin(angle), phi0 + 2.0 * np.pi * u[:, 7]])
        momenta, x1, x2, pt4 = ps.assemble(pt[:, :3], eta, phi, self.sqrt_s)
        slots = np.empty(6, dtype=int)
        slots[:2] = (0, 1)
        slots[list(order)] = (2, 3, 4, 5)
        return ps.Points(momenta[:, slots], x1, x2, np.zeros(n))

    def _pair_inverse(self, momenta: np.ndarray, order) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(u, density factor 1/J of the parametrisation, inside-support mask) for the pair order."""
        c = self.cuts
        p = momenta[:, [0, 1, *order]]
        pt, eta, phi = ps.kinematics(p)
        deta = eta[:, 1] - eta[:, 0]
        dphi = np.angle(np.exp(1j * (phi[:, 1] - phi[:, 0])))
        dr = np.hypot(deta, dphi)
        u = np.column_stack([
            np.log(pt[:, 0] / c.pt_min) / self.log_pt, (eta[:, 0] / c.eta_max + 1) / 2,
            np.log(pt[:, 1] / c.pt_min) / self.log_pt, np.log(np.maximum(dr, 1e-300) / c.dr_min) / self.log_dr,
            _unit_phi(np.arctan2(dphi, deta)), np.log(pt[:, 2] / c.pt_min) / self.log_pt,
            (eta[:, 2] / c.eta_max + 1) / 2, _unit_phi(phi[:, 2] - phi[:, 0]), (eta[:, 3] / c.eta_max + 1) / 2])
        inside = (dr > c.dr_min) & (dr < np.pi)
        jac = (np.prod(pt[:, :3] ** 2, 1) * dr**2 * self.log_pt**3 * self.log_dr * (2.0 * c.eta_max) ** 3
               * (2.0 * np.pi) ** 3 * ps.MEASURE_CONSTANT / self.sqrt_s**2)
        return np.clip(u, 0.0, 1.0), jac, inside

    def _lab_inverse(self, momenta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = self.cuts
        pt, eta, phi = ps.kinematics(momenta)
        u = np.column_stack([np.log(pt[:, :3] / c.pt_min) / self.log_pt, (eta / c.eta_max + 1) / 2,
                             _unit_phi(phi[:, 1] - phi[:, 0]), _unit_phi(phi[:, 2] - phi[:, 0])])
        jac = (np.prod(pt[:, :3] ** 2, 1) * self.log_pt**3 * (2.0 * c.eta_max) ** 4 * (2.0 * np.pi) ** 3
               * ps.MEASURE_CONSTANT / self.sqrt_s**2)
        return np.clip(u, 0.0, 1.0), jac, np.ones(len(momenta), bool)

    # --- mixture ---------------------------------------------------------------------------
    def _density(self, momenta: np.ndarray) -> np.ndarray:
        """g(p) = sum_c alpha_c / (J_c(p) * VEGAS jacobian_c) over the channels whose support holds p."""
        total = np.zeros(len(momenta))
        inverses = [(0, self._lab_inverse(momenta))] + [(1, self._pair_inverse(momenta, o)) for o in PAIR_ORDERS]
        for alpha, (map_index, (u, jac, inside)) in zip(self.alphas, inverses):
            y, vegas_jac = np.empty_like(u), np.empty(len(u))
            self.maps[map_index].invmap(np.ascontiguousarray(u), y, vegas_jac)
            total += np.where(inside, alpha / (jac * vegas_jac), 0.0)
        return total

    def sample(self, rng: np.random.Generator, n: int, timers) -> tuple[np.ndarray, np.ndarray, ps.Points]:
        """n points: channel index per point, VEGAS y per point, Points with jac = 1 / g."""
        start = time.perf_counter()
        channel = rng.choice(len(self.alphas), size=n, p=self.alphas)
        y = rng.random((n, ps.DIM))
        phi0 = 2.0 * np.pi * rng.random(n)
        momenta = np.empty((n, 6, 4))
        x1, x2 = np.empty(n), np.empty(n)
        for index in range(len(self.alphas)):
            mask = channel == index
            u, jac = np.empty_like(y[mask]), np.empty(int(mask.sum()))
            self.maps[min(index, 1)].map(np.ascontiguousarray(y[mask]), u, jac)
            if index == 0:
                points = ps.lab_frame_points(u, phi0[mask], self.sqrt_s, self.cuts)
            else:
                points = self._pair_forward(u, phi0[mask], PAIR_ORDERS[index - 1])
            momenta[mask], x1[mask], x2[mask] = points.momenta, points.x1, points.x2
        inside = (x1 < 1) & (x2 < 1) & ps.passes_cuts(momenta, self.cuts)
        density = self._density(momenta)
        jac = np.where(inside & (density > 0), 1.0 / np.where(density > 0, density, 1.0), 0.0)
        timers.add("phase_space", start)
        return channel, y, ps.Points(momenta, x1, x2, jac)
