"""Multi-channel phase space for p p -> b b~ b b~: the lab-frame map plus four b-b~ pair channels.

The largest weights of the single lab-frame map come from a b and a b~ close to each other
(g -> b b~ splittings near the dR cut), a correlation of two particles that a separable VEGAS
grid cannot learn. A pair channel generates b~ B around b A in polar coordinates in rapidity and azimuth,
y_B = y_A + dR cos(a), phi_B = phi_A + dR sin(a), with log dR in [dR_lo, pi] (the disc
where (dR, a) is one-to-one on the y-phi cylinder; dR_lo = max(dR_min, DR_FLOOR)):
dy dphi = dR^2 ln(pi / dR_lo) 2 pi du du. The other variables are those of the lab-frame map
(mT logarithmic, y uniform, the fourth quark's pT from balance). The lab-frame channel covers
all of phase space inside the cuts, so pairs closer than DR_FLOOR (allowed for massive quarks,
where nothing is singular there) are still generated. There is one pair channel per b-b~ pairing (four), all sharing one
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
DR_FLOOR = 0.01  # smallest dR of the pair channels when the cuts allow closer pairs (massive quarks)


def _unit_phi(delta: np.ndarray) -> np.ndarray:
    return np.mod(delta, 2.0 * np.pi) / (2.0 * np.pi)


class Channels:
    """Lab-frame + pair channels with their VEGAS maps; `sample` returns (channel, y, Points)."""

    def __init__(self, sqrt_s: float, cuts: ps.Cuts, ninc: int = 200, grids=None, mass: float = 0.0):
        self.sqrt_s, self.cuts, self.mass = float(sqrt_s), cuts, float(mass)
        self.mt_min, self.y_max = ps.min_transverse_mass(cuts, mass), ps.max_rapidity(cuts, sqrt_s, mass)
        self.log_mt = np.log(0.5 * sqrt_s / self.mt_min)
        self.dr_lo = max(cuts.dr_min, DR_FLOOR)
        self.log_dr = np.log(np.pi / self.dr_lo)
        grids = grids if grids is not None else (None, None)
        flat = [[0.0, 1.0]] * ps.DIM
        self.maps = [vegas.AdaptiveMap(flat, ninc=ninc) if g is None else vegas.AdaptiveMap(g) for g in grids]
        self.alphas = np.array([ALPHA_LAB] + [(1.0 - ALPHA_LAB) / len(PAIR_ORDERS)] * len(PAIR_ORDERS))

    # --- pair parametrisation ------------------------------------------------------------
    def _pair_forward(self, u: np.ndarray, phi0: np.ndarray, order) -> ps.Points:
        n = len(u)
        mt = self.mt_min * np.exp(u[:, [0, 2, 5]] * self.log_mt)
        dr = self.dr_lo * np.exp(u[:, 3] * self.log_dr)
        angle = 2.0 * np.pi * u[:, 4]
        y = np.empty((n, 4))
        y[:, 0] = self.y_max * (2 * u[:, 1] - 1)
        y[:, 1] = y[:, 0] + dr * np.cos(angle)
        y[:, 2] = self.y_max * (2 * u[:, 6] - 1)
        y[:, 3] = self.y_max * (2 * u[:, 8] - 1)
        phi = np.column_stack([phi0, phi0 + dr * np.sin(angle), phi0 + 2.0 * np.pi * u[:, 7]])
        momenta, x1, x2, _ = ps.assemble(np.sqrt(mt**2 - self.mass**2), y, phi, self.sqrt_s, self.mass)
        slots = np.empty(6, dtype=int)
        slots[:2] = (0, 1)
        slots[list(order)] = (2, 3, 4, 5)
        return ps.Points(momenta[:, slots], x1, x2, np.zeros(n))

    def _pair_inverse(self, momenta: np.ndarray, order) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(u, density factor 1/J of the parametrisation, inside-support mask) for the pair order."""
        p = momenta[:, [0, 1, *order]]
        _, _, phi = ps.kinematics(p)
        mt, y = ps.transverse_mass(p), ps.rapidity(p)
        dy = y[:, 1] - y[:, 0]
        dphi = np.angle(np.exp(1j * (phi[:, 1] - phi[:, 0])))
        dr = np.hypot(dy, dphi)
        u = np.column_stack([
            np.log(mt[:, 0] / self.mt_min) / self.log_mt, (y[:, 0] / self.y_max + 1) / 2,
            np.log(mt[:, 1] / self.mt_min) / self.log_mt, np.log(np.maximum(dr, 1e-300) / self.dr_lo) / self.log_dr,
            _unit_phi(np.arctan2(dphi, dy)), np.log(mt[:, 2] / self.mt_min) / self.log_mt,
            (y[:, 2] / self.y_max + 1) / 2, _unit_phi(phi[:, 2] - phi[:, 0]), (y[:, 3] / self.y_max + 1) / 2])
        inside = (dr > self.dr_lo) & (dr < np.pi)
        jac = (np.prod(mt[:, :3] ** 2, 1) * dr**2 * self.log_mt**3 * self.log_dr * (2.0 * self.y_max) ** 3
               * (2.0 * np.pi) ** 3 * ps.MEASURE_CONSTANT / self.sqrt_s**2)
        return np.clip(u, 0.0, 1.0), jac, inside

    def _lab_inverse(self, momenta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        _, _, phi = ps.kinematics(momenta)
        mt, y = ps.transverse_mass(momenta), ps.rapidity(momenta)
        u = np.column_stack([np.log(mt[:, :3] / self.mt_min) / self.log_mt, (y / self.y_max + 1) / 2,
                             _unit_phi(phi[:, 1] - phi[:, 0]), _unit_phi(phi[:, 2] - phi[:, 0])])
        jac = ps.lab_frame_jacobian(mt[:, :3], self.log_mt, self.y_max, self.sqrt_s)
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
                points = ps.lab_frame_points(u, phi0[mask], self.sqrt_s, self.cuts, self.mass)
            else:
                points = self._pair_forward(u, phi0[mask], PAIR_ORDERS[index - 1])
            momenta[mask], x1[mask], x2[mask] = points.momenta, points.x1, points.x2
        inside = (x1 < 1) & (x2 < 1) & ps.passes_cuts(momenta, self.cuts)
        density = self._density(momenta)
        jac = np.where(inside & (density > 0), 1.0 / np.where(density > 0, density, 1.0), 0.0)
        timers.add("phase_space", start)
        return channel, y, ps.Points(momenta, x1, x2, jac)
