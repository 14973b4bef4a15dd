"""Phase space of p p -> b b~ b b~ with b quarks of mass m (0: massless, 5-flavour scheme; 4.7 GeV:
4-flavour scheme): a cut-adapted lab-frame map for VEGAS, and RAMBO.

Both return `Points`: the six momenta (beam 1, beam 2, b, b~, b, b~; [E, px, py, pz] in GeV),
the momentum fractions x1, x2 and a weight `jac` such that

    sigma = < jac * f(x1) f(x2) / (2 s_hat) * |M|^2 >   (GeV^-2; times GEV2_TO_PB for pb),

i.e. `jac` is the density of the measure dx1 dx2 dPhi_4 with respect to the sampled variables,
dPhi_4 = (2 pi)^4 delta^4(P - sum k) prod d^3k / ((2 pi)^3 2 E). Points outside the generator
cuts carry jac = 0.

Lab-frame map (`lab_frame_points`, 9 unit-cube variables for VEGAS + a uniform global azimuth):
b quarks 1-3 get the transverse mass mT = sqrt(pT^2 + m^2) (logarithmic in
[mT_min, sqrt(s)/2], mT_min = sqrt(pT_min^2 + m^2)), rapidity y (uniform in |y| < y_max) and
azimuth; quark 4 gets y, and its transverse momentum balances the others. Energy and p_z
conservation then fix x1 and x2. With d^3k/(2E) = pT dpT dy dphi / 2 = mT^2 dln(mT) dy dphi / 2
and dx1 dx2 = (2/s) dE dp_z the measure is

    dx1 dx2 dPhi_4 = (2 pi)^-8 (2/s) (1/2)^4 prod_{i<=3} mT_i^2 dln(mT_i) dy_i dphi_i  dy_4.

y_max = min(eta_max, arccosh(sqrt(s) / (2 mT_min))), the second being the largest rapidity a quark
with mT >= mT_min can have (E <= sqrt(s)/2); since |y| <= |eta|, every point inside the |eta| cut
is reachable. With m = 0, y = eta and mT = pT: the pT and |eta| cuts of quarks 1-3 and |eta| of
quark 4 hold by construction, so VEGAS only has to learn the shape of |M|^2 inside the fiducial
region; with m > 0 and no cuts (pT_min = 0, eta_max = inf, dR_min = 0) it covers all of phase space.

RAMBO (`rambo_points`, the flat reference): tau = x1 x2 logarithmic in [(4 mT_min)^2/s, 1]
(sqrt(s_hat) >= sum mT), rapidity uniform, then the massless n = 4 RAMBO momenta in the
partonic rest frame (weight (2 pi)^-8 (pi/2)^3 s_hat^2 / (3! 2!)), given the mass m by rescaling
the three-momenta (`give_mass`, Kleiss, Stirling, Ellis, Comput. Phys. Commun. 40 (1986) 359,
with its weight factor), boosted to the lab.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hh4b import constants as C
from hh4b.errors import ConfigError

N_FINAL = 4
DIM = 9  # VEGAS dimensions of the lab-frame map
FINAL_IDS = (5, -5, 5, -5)
# (2 pi)^-8 (phase-space factors) * 2 (dx1 dx2 = 2/s dE dp_z) / 2^4 (d^3k / 2E = pT dpT deta dphi / 2)
MEASURE_CONSTANT = (2.0 * np.pi) ** -8 * 2.0 / 16.0


@dataclass(frozen=True)
class Cuts:
    """Generator-level cuts on each b quark (pT, |eta|) and on each pair (dR)."""

    pt_min: float = C.QCD4B_PT_MIN
    eta_max: float = C.QCD4B_ETA_MAX
    dr_min: float = C.QCD4B_DR_MIN


def default_cuts(scheme: str) -> Cuts:
    """The generator cuts of a flavour scheme: "5fs" (massless b) QCD4B_PT_MIN, QCD4B_ETA_MAX,
    QCD4B_DR_MIN; "4fs" (massive b) none, as MadGraph's default run card for b quarks."""
    if scheme == "4fs":
        return Cuts(pt_min=0.0, eta_max=np.inf, dr_min=0.0)
    return Cuts()


def check_cuts(cuts: Cuts, mass: float) -> None:
    """Massless quarks need pT_min > 0 and dR_min > 0 (soft and collinear singularities)."""
    if mass == 0.0 and (cuts.pt_min <= 0.0 or cuts.dr_min <= 0.0):
        raise ConfigError(f"massless b quarks (5fs) need generator cuts pt_min > 0 and dr_min > 0, not {cuts}; "
                          "use the 4fs scheme (massive b) to generate without cuts")
    if cuts.pt_min < 0.0 or cuts.dr_min < 0.0 or cuts.eta_max <= 0.0:
        raise ConfigError(f"generator cuts out of range: {cuts}")


@dataclass
class Points:
    momenta: np.ndarray  # (N, 6, 4)
    x1: np.ndarray
    x2: np.ndarray
    jac: np.ndarray  # 0 outside the cuts

    def select(self, mask: np.ndarray) -> Points:
        return Points(self.momenta[mask], self.x1[mask], self.x2[mask], self.jac[mask])


def rapidity(momenta: np.ndarray) -> np.ndarray:
    """Rapidity of the four final-state quarks, shape (N, 4)."""
    final = momenta[:, 2:, :]
    return 0.5 * np.log((final[..., 0] + final[..., 3]) / (final[..., 0] - final[..., 3]))


def transverse_mass(momenta: np.ndarray) -> np.ndarray:
    """mT = sqrt(E^2 - pz^2) of the four final-state quarks, shape (N, 4)."""
    final = momenta[:, 2:, :]
    return np.sqrt(np.maximum(final[..., 0] ** 2 - final[..., 3] ** 2, 0.0))


def kinematics(momenta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pT, eta, phi) of the four final-state quarks, each of shape (N, 4)."""
    final = momenta[:, 2:, :]
    pt = np.hypot(final[..., 1], final[..., 2])
    eta = np.arcsinh(final[..., 3] / np.maximum(pt, 1e-300))
    return pt, eta, np.arctan2(final[..., 2], final[..., 1])


def _min_dr2(eta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Smallest dR^2 over the pairs of final-state quarks, per event."""
    i, j = np.triu_indices(N_FINAL, 1)
    dphi = np.angle(np.exp(1j * (phi[:, i] - phi[:, j])))
    return ((eta[:, i] - eta[:, j]) ** 2 + dphi**2).min(1)


def passes_cuts(momenta: np.ndarray, cuts: Cuts) -> np.ndarray:
    """True where every b quark has pT > pt_min, |eta| < eta_max and all pairs dR > dr_min."""
    pt, eta, phi = kinematics(momenta)
    ok = np.all((pt > cuts.pt_min) & (np.abs(eta) < cuts.eta_max), axis=1)
    return ok & (_min_dr2(eta, phi) > cuts.dr_min**2)


def cut_variables(momenta: np.ndarray) -> dict:
    """What the generator cuts act on, per event: softest b-quark pT, largest |eta|, smallest pair dR
    (keys as the Cuts fields)."""
    pt, eta, phi = kinematics(momenta)
    return {"pt_min": pt.min(1), "eta_max": np.abs(eta).max(1), "dr_min": np.sqrt(_min_dr2(eta, phi))}


def _beams(x1: np.ndarray, x2: np.ndarray, sqrt_s: float) -> np.ndarray:
    e1, e2 = 0.5 * sqrt_s * x1, 0.5 * sqrt_s * x2
    zero = np.zeros_like(x1)
    return np.stack([np.stack([e1, zero, zero, e1], -1), np.stack([e2, zero, zero, -e2], -1)], 1)


def min_transverse_mass(cuts: Cuts, mass: float) -> float:
    return float(np.hypot(cuts.pt_min, mass))


def max_rapidity(cuts: Cuts, sqrt_s: float, mass: float) -> float:
    """Largest |y| a quark inside the cuts can have: min(eta_max, arccosh(sqrt(s) / (2 mT_min)))."""
    return float(min(cuts.eta_max, np.arccosh(0.5 * sqrt_s / min_transverse_mass(cuts, mass))))


def assemble(pt3: np.ndarray, y: np.ndarray, phi3: np.ndarray, sqrt_s: float, mass: float = 0.0):
    """Momenta from pT, phi of quarks 1-3 and rapidity y of all four (quark 4 balances pT).

    Returns (momenta (N, 6, 4), x1, x2, pT of quark 4).
    """
    px, py = pt3 * np.cos(phi3), pt3 * np.sin(phi3)
    px4, py4 = -px.sum(1), -py.sum(1)
    pt = np.column_stack([pt3, np.hypot(px4, py4)])
    mt = np.sqrt(pt**2 + mass**2)
    energy, pz = mt * np.cosh(y), mt * np.sinh(y)
    x1 = (energy.sum(1) + pz.sum(1)) / sqrt_s
    x2 = (energy.sum(1) - pz.sum(1)) / sqrt_s
    final = np.stack([energy, np.column_stack([px, px4]), np.column_stack([py, py4]), pz], -1)
    return np.concatenate([_beams(x1, x2, sqrt_s), final], 1), x1, x2, pt[:, 3]


def lab_frame_jacobian(mt3: np.ndarray, log_range: float, y_max: float, sqrt_s: float) -> np.ndarray:
    """Density of dx1 dx2 dPhi_4 per unit-cube volume of the lab-frame map, from the transverse masses
    of quarks 1-3: prod_i mT_i^2 dln(mT_i) (log_range du) dy_i (2 y_max du) dphi_i (2 pi du)."""
    return (np.prod(mt3**2, 1) * log_range**3 * (2.0 * y_max) ** 4 * (2.0 * np.pi) ** 3
            * MEASURE_CONSTANT / sqrt_s**2)


def lab_frame_points(u: np.ndarray, phi0: np.ndarray, sqrt_s: float, cuts: Cuts, mass: float = 0.0) -> Points:
    """Map unit-cube points u (N, 9) and global azimuths phi0 (N,) to phase-space points."""
    mt_min, y_max = min_transverse_mass(cuts, mass), max_rapidity(cuts, sqrt_s, mass)
    log_range = np.log(0.5 * sqrt_s / mt_min)
    mt3 = mt_min * np.exp(u[:, 0:3] * log_range)
    y = y_max * (2.0 * u[:, 3:7] - 1.0)
    phi = np.column_stack([phi0, phi0[:, None] + 2.0 * np.pi * u[:, 7:9]])
    momenta, x1, x2, pt4 = assemble(np.sqrt(mt3**2 - mass**2), y, phi, sqrt_s, mass)
    jac = lab_frame_jacobian(mt3, log_range, y_max, sqrt_s)
    inside = (x1 < 1.0) & (x2 < 1.0) & (pt4 > cuts.pt_min)
    inside &= passes_cuts(momenta, cuts)
    return Points(momenta, x1, x2, np.where(inside, jac, 0.0))


def rambo_momenta(rng: np.random.Generator, sqrt_shat: np.ndarray) -> np.ndarray:
    """Massless RAMBO: N x 4 isotropic momenta with total (sqrt_shat, 0, 0, 0); shape (N, 4, 4)."""
    n_points = len(sqrt_shat)
    r = rng.random((n_points, N_FINAL, 4))
    cos = 2.0 * r[..., 0] - 1.0
    sin = np.sqrt(1.0 - cos**2)
    phi = 2.0 * np.pi * r[..., 1]
    q0 = -np.log(r[..., 2] * r[..., 3])
    q = np.stack([q0, q0 * sin * np.cos(phi), q0 * sin * np.sin(phi), q0 * cos], -1)
    total = q.sum(1)
    mass = np.sqrt(total[:, 0] ** 2 - np.sum(total[:, 1:] ** 2, 1))
    b = -total[:, 1:] / mass[:, None]
    gamma = total[:, 0] / mass
    a = 1.0 / (1.0 + gamma)
    x = sqrt_shat / mass
    bq = np.einsum("nk,nik->ni", b, q[..., 1:])
    energy = x[:, None] * (gamma[:, None] * q[..., 0] + bq)
    boost = b[:, None, :] * q[..., 0:1] + a[:, None, None] * bq[..., None] * b[:, None, :]
    space = x[:, None, None] * (q[..., 1:] + boost)
    return np.concatenate([energy[..., None], space], -1)


def give_mass(massless: np.ndarray, sqrt_shat: np.ndarray, mass: float) -> tuple[np.ndarray, np.ndarray]:
    """RAMBO's massive momenta (N, n, 4) from massless ones in the partonic rest frame, and the weight
    factor W_m / W_0 = s^(2-n) (sum |k|)^(2n-3) prod(|k| / k0) / sum(|k|^2 / k0).

    The three-momenta are scaled by the xi in (0, 1) that solves sum sqrt(m^2 + xi^2 |p|^2) = sqrt(s_hat)
    (Newton's method from xi = 1, which converges monotonically: the sum is convex in xi).
    """
    n = massless.shape[1]
    if mass == 0.0:
        return massless, np.ones(len(massless))
    p2 = np.sum(massless[..., 1:] ** 2, -1)
    xi = np.ones(len(massless))
    for _ in range(50):
        energy = np.sqrt(mass**2 + xi[:, None] ** 2 * p2)
        step = (energy.sum(1) - sqrt_shat) / (xi * np.sum(p2 / energy, 1))
        xi -= step
        if np.all(np.abs(step) < 1e-14 * xi):
            break
    space = xi[:, None, None] * massless[..., 1:]
    energy = np.sqrt(mass**2 + xi[:, None] ** 2 * p2)
    k = np.sqrt(xi[:, None] ** 2 * p2)
    factor = (sqrt_shat ** (4 - 2 * n) * k.sum(1) ** (2 * n - 3) * np.prod(k / energy, 1)
              / np.sum(k**2 / energy, 1))
    return np.concatenate([energy[..., None], space], -1), factor


def rambo_points(rng: np.random.Generator, n_points: int, sqrt_s: float, cuts: Cuts, mass: float = 0.0) -> Points:
    """Flat phase space: log tau, uniform rapidity, RAMBO in the partonic frame (with masses), boost to the lab."""
    tau_min = (N_FINAL * min_transverse_mass(cuts, mass) / sqrt_s) ** 2
    u = rng.random((n_points, 2))
    tau = tau_min ** (1.0 - u[:, 0])
    y_max = -0.5 * np.log(tau)
    y = y_max * (2.0 * u[:, 1] - 1.0)
    x1, x2 = np.sqrt(tau) * np.exp(y), np.sqrt(tau) * np.exp(-y)
    shat = tau * sqrt_s**2
    final, mass_factor = give_mass(rambo_momenta(rng, np.sqrt(shat)), np.sqrt(shat), mass)
    beta = np.tanh(y)[:, None]
    boost_gamma = np.cosh(y)[:, None]
    energy = boost_gamma * (final[..., 0] + beta * final[..., 3])
    pz = boost_gamma * (final[..., 3] + beta * final[..., 0])
    final = np.stack([energy, final[..., 1], final[..., 2], pz], -1)
    momenta = np.concatenate([_beams(x1, x2, sqrt_s), final], 1)
    rambo_weight = (2.0 * np.pi) ** -8 * (np.pi / 2.0) ** 3 * shat**2 / 12.0
    jac = tau * np.log(1.0 / tau_min) * (2.0 * y_max) * rambo_weight * mass_factor
    return Points(momenta, x1, x2, np.where(passes_cuts(momenta, cuts), jac, 0.0))
