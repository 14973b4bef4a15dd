"""`hh4b xsec`: the leading-order gg -> hh cross section versus kappa_lambda, in fb.

sigma(k) = A + B k + C k^2 exactly at LO. The coefficients are integrated deterministically:

    sigma_X = int dm_hh (2 m_hh / S_had) L_gg(tau, mu_F) alpha_s(mu_R)^2 P int dt X(s, t),
    L_gg(tau, mu) = (1/tau) int_tau^1 (dx/x) [x g(x, mu)] [(tau/x) g(tau/x, mu)],

with tau = m_hh^2 / S_had, mu_R = mu_F = scale_factor * m_hh / 2, P = G_F^2 / (512 (2 pi)^3)
(hh4b.theory.gghh) and X = a, b, c. Gauss-Legendre rules: m_hh in pieces split at 2 m_t (the top
threshold) with end-point clustering, cos theta in [0, 1] (a, b, c are even in cos theta),
log x for the luminosity. The scalar integrals are the expensive part; they are cached per
(m_t, m_h, box-rule) so that tables and several energies reuse them.

Defaults (docs/generation.md, reference settings): Pythia PDF:pSet = 19, alpha_s(m_Z) = 0.118 at two loops,
mu = m_hh / 2, m_t = 173 GeV, m_h = 125 GeV, 13 TeV. Reference: sigma(k = 1) = 16.7 fb (13 TeV),
19.8 fb (14 TeV).
"""

from __future__ import annotations

import argparse
import functools

import numpy as np

from hh4b import console, constants
from hh4b.errors import ConfigError
from hh4b.theory import gghh
from hh4b.theory.pdf import parton_density

# Reference sigma(k)/sigma(1) at 13 TeV, docs/generation.md
REFERENCE_RATIOS_13TEV = {-5.0: 16.0, -1.0: 3.75, 0.0: 2.09, 2.0: 0.474, 3.0: 0.513, 5.0: 2.28, 10.0: 16.6}
TABLE_KAPPAS = (-10.0, -5.0, -3.0, -1.0, 0.0, 1.0, 2.0, 2.43, 3.0, 5.0, 7.0, 10.0, 12.0, 15.0)
M_HH_MAX = 4000.0  # upper end of the m_hh integral (GeV); the rest is < 1e-4 of sigma
N_COS = 10
N_LUMI = 48
BOX_NODES_XSEC = 32  # Gauss nodes of the box rule: A converged to 1e-4 (24: 1e-3, 48: 1e-5)


def _m_hh_rule(m_h: float, m_t: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss nodes in m_hh over [2 m_h, M_HH_MAX], split at 2 m_t, clustered at the thresholds."""
    edges = [(2 * m_h, 2 * m_t, 12), (2 * m_t, 2 * m_t + 150.0, 12), (2 * m_t + 150.0, 800.0, 10),
             (800.0, 1500.0, 8), (1500.0, M_HH_MAX, 8)]
    nodes, weights = [], []
    for low, high, count in edges:
        r, w = np.polynomial.legendre.leggauss(count)
        r, w = 0.5 * (r + 1.0), 0.5 * w
        # m = low + (high - low) r^2 clusters at `low` (square-root threshold behaviour)
        nodes.append(low + (high - low) * r**2)
        weights.append((high - low) * 2.0 * r * w)
    return np.concatenate(nodes), np.concatenate(weights)


@functools.lru_cache(maxsize=8)
def _partonic_table(m_t: float, m_h: float, gamma_h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """m_hh nodes, weights and int dt (a, b, c) there (GeV^2); shape (3, n_m)."""
    params = gghh.HiggsPairParameters(m_t=m_t, m_h=m_h, gamma_h=gamma_h)
    m_hh, m_weights = _m_hh_rule(m_h, m_t)
    cos_nodes, cos_weights = np.polynomial.legendre.leggauss(N_COS)
    cos_nodes, cos_weights = 0.5 * (cos_nodes + 1.0), 0.5 * cos_weights
    s = (m_hh**2)[:, None] * np.ones_like(cos_nodes)
    t = gghh.t_from_cos_theta(s, cos_nodes[None, :], m_h)
    a, b, c = gghh.me_coefficients(s, t, params, BOX_NODES_XSEC)
    beta = np.sqrt(1.0 - 4.0 * m_h**2 / m_hh**2)
    # int dt over the full range = 2 * int_0^1 dcos (s beta / 2) X  (X even in cos theta)
    dt_factor = (m_hh**2 * beta)[:, None] * cos_weights[None, :]
    integrals = np.stack([(x * dt_factor).sum(axis=1) for x in (a, b, c)])
    return m_hh, m_weights, integrals


def gluon_luminosity(tau: np.ndarray, mu2: np.ndarray, pdf) -> np.ndarray:
    """L_gg(tau, mu^2) = (1/tau) int_tau^1 (dx/x) xg(x) xg(tau/x), Gauss in log x."""
    nodes, weights = np.polynomial.legendre.leggauss(N_LUMI)
    nodes, weights = 0.5 * (nodes + 1.0), 0.5 * weights
    log_tau = np.log(tau)[:, None]
    # symmetric in x <-> tau/x: integrate log x over [log tau / 2, 0] and double
    log_x = 0.5 * log_tau * (1.0 - nodes[None, :])
    x = np.exp(log_x)
    q2 = np.broadcast_to(np.asarray(mu2)[:, None], x.shape)
    xg1 = pdf.xfx(21, x, q2)
    xg2 = pdf.xfx(21, np.exp(log_tau) / x, q2)
    jac = -0.5 * log_tau  # d log x / d node
    return 2.0 * (xg1 * xg2 * weights[None, :]).sum(axis=1) * jac[:, 0] / np.exp(log_tau[:, 0])


def sigma_coefficients(sqrt_s: float = constants.SQRT_S, pdf_set: int = constants.PYTHIA_PDF_SET,
                       alpha_s_mz: float = constants.ALPHA_S_MZ, alpha_s_order: int = 2,
                       scale_factor: float = 1.0, m_t: float = constants.M_T,
                       m_h: float = constants.M_H, gamma_h: float = constants.GAMMA_H
                       ) -> tuple[float, float, float]:
    """(A, B, C) in fb with sigma(k_lambda) = A + B k + C k^2 (LO, top loop, k_t = 1)."""
    _check(sqrt_s, m_t, m_h, scale_factor)
    m_hh, m_weights, integrals = _partonic_table(float(m_t), float(m_h), float(gamma_h))
    weight = hadronic_weights(m_hh, m_weights, sqrt_s, pdf_set, alpha_s_mz, alpha_s_order, scale_factor)
    coefficients = (integrals * weight[None, :]).sum(axis=1)
    return tuple(float(v) for v in coefficients)


def hadronic_weights(m_hh: np.ndarray, m_weights: np.ndarray, sqrt_s: float,
                     pdf_set: int = constants.PYTHIA_PDF_SET, alpha_s_mz: float = constants.ALPHA_S_MZ,
                     alpha_s_order: int = 2, scale_factor: float = 1.0) -> np.ndarray:
    """Per m_hh node: rule weight * (2 m_hh / S_had) L_gg alpha_s^2 P in fb / GeV^2, 0 above sqrt(s).

    Times int dt X(s, t) (GeV^2) and summed over the nodes it gives sigma_X in fb."""
    m_hh, m_weights = np.asarray(m_hh, dtype=float), np.asarray(m_weights, dtype=float)
    keep = m_hh < sqrt_s
    pdf = parton_density(pdf_set, alpha_s_mz, alpha_s_order)
    s_had = sqrt_s**2
    tau = m_hh[keep] ** 2 / s_had
    mu2 = (scale_factor * m_hh[keep] / 2.0) ** 2
    lumi = gluon_luminosity(tau, mu2, pdf)
    weight = np.zeros_like(m_hh)
    weight[keep] = (m_weights[keep] * 2.0 * m_hh[keep] / s_had * lumi * gghh.dsigma_dt_prefactor(pdf.alpha_s(mu2))
                    * constants.GEV2_TO_PB * 1000.0)
    return weight


def sigma_gghh(kappa_lambda: float, sqrt_s: float = constants.SQRT_S, **options) -> float:
    """LO sigma(gg -> hh) in fb at kappa_lambda (options as in sigma_coefficients)."""
    a, b, c = sigma_coefficients(sqrt_s, **options)
    return a + b * kappa_lambda + c * kappa_lambda**2


def xsec_ratio_14_13(kappa_lambda: float = 1.0, **options) -> float:
    """sigma(14 TeV) / sigma(13 TeV) at kappa_lambda, for projecting 13 TeV samples to 14 TeV.

    Used by the statistics stage for the 14 TeV luminosity projections; LO top-loop ratio
    (reference: 19.8 / 16.7 = 1.186 at kappa_lambda = 1)."""
    return sigma_gghh(kappa_lambda, 14000.0, **options) / sigma_gghh(kappa_lambda, 13000.0, **options)


def _check(sqrt_s: float, m_t: float, m_h: float, scale_factor: float) -> None:
    if not sqrt_s > 2.0 * m_h:
        raise ConfigError(f"--sqrt-s {sqrt_s} GeV is below the hh threshold 2 m_h = {2 * m_h} GeV")
    if not (50.0 <= m_t <= 1e5 and 10.0 <= m_h <= 1000.0):
        raise ConfigError(f"--m-t {m_t} / --m-h {m_h} outside 50..1e5 / 10..1000 GeV")
    if not 0.1 <= scale_factor <= 10.0:
        raise ConfigError(f"--scale-factor {scale_factor} outside 0.1..10")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kappa-lambda", type=float, default=1.0, help="trilinear coupling / SM (default 1)")
    parser.add_argument("--sqrt-s", type=float, default=constants.SQRT_S,
                        help="collider energy in GeV (default: %(default)s)")
    parser.add_argument("--table", action="store_true", help="print sigma(k)/sigma(1) for a range of k")
    parser.add_argument("--pdf-set", type=int, default=constants.PYTHIA_PDF_SET,
                        help="Pythia PDF:pSet (default: %(default)s)")
    parser.add_argument("--alpha-s", type=float, default=constants.ALPHA_S_MZ,
                        help="alpha_s(m_Z) (default: %(default)s)")
    parser.add_argument("--alpha-s-order", type=int, default=2, choices=(1, 2),
                        help="running order of alpha_s (default: %(default)s)")
    parser.add_argument("--scale-factor", type=float, default=1.0,
                        help="mu_R = mu_F = factor * m_hh / 2 (default 1)")
    parser.add_argument("--m-t", type=float, default=constants.M_T, help="top mass in GeV (default: %(default)s)")
    parser.add_argument("--m-h", type=float, default=constants.M_H, help="Higgs mass in GeV (default: %(default)s)")
    five = parser.add_mutually_exclusive_group()
    five.add_argument("--heft", type=float, nargs=5, metavar=("KL", "KT", "C2", "CG", "C2G"),
                      help="sigma at the five HEFT couplings kappa_lambda kappa_t c_2 c_g c_2g (hh4b.theory.heft)")
    five.add_argument("--benchmark", help="sigma at HEFT benchmark 1 ... 12, 8a or SM (hh4b.constants)")
    parser.add_argument("--coefficients", action="store_true",
                        help="print the 15 LO coefficients A_i (fb) of sigma in the five couplings")


def main(args: argparse.Namespace) -> int:
    options = dict(pdf_set=args.pdf_set, alpha_s_mz=args.alpha_s, alpha_s_order=args.alpha_s_order,
                   scale_factor=args.scale_factor, m_t=args.m_t, m_h=args.m_h)
    if args.heft is not None or args.benchmark is not None or args.coefficients:
        from hh4b.theory import heft

        return heft.print_cross_sections(args.sqrt_s, args.heft, args.benchmark, args.coefficients, **options)
    a, b, c = sigma_coefficients(args.sqrt_s, **options)
    sigma = a + b * args.kappa_lambda + c * args.kappa_lambda**2
    console.result(f"sigma(gg -> hh, LO, kappa_lambda = {args.kappa_lambda:g}, sqrt(s) = {args.sqrt_s / 1000:g} TeV)"
                   f" = {sigma:.4g} fb")
    console.result(f"sigma(k) = {a:.5g} + ({b:.5g}) k + {c:.5g} k^2 fb")
    if args.table:
        sigma_sm = a + b + c
        console.result(f"{'kappa_lambda':>12} {'sigma [fb]':>11} {'sigma/sigma(1)':>15}")
        for k in TABLE_KAPPAS:
            value = a + b * k + c * k**2
            console.result(f"{k:12g} {value:11.4g} {value / sigma_sm:15.4g}")
    return 0
