"""Leading-order gg -> hh with the full top-mass dependence: form factors and |M|^2 = a + b k + c k^2.

Formulas of Glover & van der Bij and Plehn, Spira & Zerwas (hep-ph/9603205), written out here.
With m = m_t, S = s/m^2, T = t/m^2, U = u/m^2, rho = m_h^2/m^2,
T1 = T - rho, U1 = U - rho, N = T U - rho^2 and the dimensionless scalar integrals c_.. = m^2 C0,
d_.. = m^4 D0 of hh4b.theory.loops:

    F_tri = (2/S) [2 + (4 - S) c_ab]
    F_box = S^-2 [4S + 8S c_ab - 2S(S + 2 rho - 8) Sigma + (2 rho - 8)(2 T1 c_ac + 2 U1 c_bc - N d_acb)]
    G_box = (S N)^-1 [(T^2 + rho^2 - 8T)(S c_ab + 2 T1 c_ac - S T d_bac)
                      + (U^2 + rho^2 - 8U)(S c_ab + 2 U1 c_bc - S U d_abc)
                      - (T^2 + U^2 - 2 rho^2)(T + U - 8) c_cd - 2 (T + U - 8) N Sigma]

    dsigma/dt = G_F^2 alpha_s^2 / (512 (2 pi)^3) * (|k_l C_tri F_tri + F_box|^2 + |G_box|^2)
              = dsigma_dt_prefactor(alpha_s) * (a + b k_l + c k_l^2),   C_tri = 3 m_h^2 / (s - m_h^2 + i m_h Gamma_h),

so a = |F_box|^2 + |G_box|^2, b = 2 Re(C_tri F_tri conj(F_box)), c = |C_tri F_tri|^2 are
dimensionless and depend only on (s, t); k_t = 1. The t range is the full one (the 1/2 for
identical Higgs bosons is inside the prefactor). Heavy-top limit: F_tri -> 2/3, F_box -> -2/3,
G_box -> 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hh4b import constants
from hh4b.theory import loops

SIN2_THETA_MIN_GBOX = 1e-3


@dataclass(frozen=True)
class HiggsPairParameters:
    """Masses and width entering the matrix element (GeV)."""

    m_t: float = constants.M_T
    m_h: float = constants.M_H
    gamma_h: float = constants.GAMMA_H


def dsigma_dt_prefactor(alpha_s: np.ndarray) -> np.ndarray:
    """G_F^2 alpha_s^2 / (512 (2 pi)^3) in GeV^-4 (times a + b k + c k^2 gives dsigma/dt in GeV^-4)."""
    return constants.G_F**2 * np.asarray(alpha_s) ** 2 / (512.0 * (2.0 * np.pi) ** 3)


def scalar_integrals(s: np.ndarray, t: np.ndarray, params: HiggsPairParameters = HiggsPairParameters(),
                     box_nodes: int = loops.N_GAUSS_D0) -> dict[str, np.ndarray]:
    """The dimensionless c_ab, c_ac, c_bc, c_cd, d_abc, d_bac, d_acb at (s, t); u = 2 m_h^2 - s - t."""
    s, t = np.broadcast_arrays(np.asarray(s, dtype=float), np.asarray(t, dtype=float))
    m2, mh2 = params.m_t**2, params.m_h**2
    u = 2.0 * mh2 - s - t
    return {
        "c_ab": m2 * loops.c0_one_massless(0.0, s, m2),
        "c_ac": m2 * loops.c0_one_massless(mh2, t, m2),
        "c_bc": m2 * loops.c0_one_massless(mh2, u, m2),
        "c_cd": m2 * _per_unique(lambda values: loops.c0_equal_legs(mh2, values, m2), s),
        "d_abc": m2**2 * loops.d0_box_s(s, u, mh2, m2, box_nodes),
        "d_bac": m2**2 * loops.d0_box_s(s, t, mh2, m2, box_nodes),
        "d_acb": m2**2 * loops.d0_box_tu(t, u, mh2, m2),
    }


def _per_unique(function, values: np.ndarray) -> np.ndarray:
    """function(values) evaluated once per distinct value (c_cd depends on s only)."""
    unique, inverse = np.unique(values, return_inverse=True)
    return function(unique)[inverse].reshape(values.shape)


def form_factors(s: np.ndarray, t: np.ndarray, params: HiggsPairParameters = HiggsPairParameters(),
                 box_nodes: int = loops.N_GAUSS_D0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F_tri, F_box, G_box), complex arrays over the phase-space points (s, t)."""
    s, t = np.broadcast_arrays(np.asarray(s, dtype=float), np.asarray(t, dtype=float))
    m2, mh2 = params.m_t**2, params.m_h**2
    ints = scalar_integrals(s, t, params, box_nodes)
    S, T = s / m2, t / m2
    rho = mh2 / m2
    U = 2.0 * rho - S - T
    T1, U1 = T - rho, U - rho
    N = T * U - rho**2
    sigma = ints["d_abc"] + ints["d_bac"] + ints["d_acb"]
    c_ab, c_ac, c_bc, c_cd = ints["c_ab"], ints["c_ac"], ints["c_bc"], ints["c_cd"]
    f_tri = 2.0 / S * (2.0 + (4.0 - S) * c_ab)
    f_box = (4.0 * S + 8.0 * S * c_ab - 2.0 * S * (S + 2.0 * rho - 8.0) * sigma
             + (2.0 * rho - 8.0) * (2.0 * T1 * c_ac + 2.0 * U1 * c_bc - N * ints["d_acb"])) / S**2
    g_box = ((T**2 + rho**2 - 8.0 * T) * (S * c_ab + 2.0 * T1 * c_ac - S * T * ints["d_bac"])
             + (U**2 + rho**2 - 8.0 * U) * (S * c_ab + 2.0 * U1 * c_bc - S * U * ints["d_abc"])
             - (T**2 + U**2 - 2.0 * rho**2) * (T + U - 8.0) * c_cd
             - 2.0 * (T + U - 8.0) * N * sigma) / np.where(N == 0.0, 1.0, S * N)
    # G_box vanishes like sin^2(theta) in the forward direction, where its formula is 0/0 and
    # loses all digits; below sin^2 theta = 1e-3 it is set to 0 (|G_box|^2 < 1e-6 there).
    beta2 = 1.0 - 4.0 * rho / S
    sin2_theta = 4.0 * N / (S**2 * np.where(beta2 > 0.0, beta2, 1.0))
    g_box = np.where(sin2_theta < SIN2_THETA_MIN_GBOX, 0.0, g_box)
    return f_tri, f_box, g_box


def triangle_propagator(s: np.ndarray, params: HiggsPairParameters = HiggsPairParameters()) -> np.ndarray:
    """C_tri = 3 m_h^2 / (s - m_h^2 + i m_h Gamma_h)."""
    mh2 = params.m_h**2
    return 3.0 * mh2 / (np.asarray(s, dtype=float) - mh2 + 1j * params.m_h * params.gamma_h)


def coefficients_from_form_factors(s, f_tri, f_box, g_box, params: HiggsPairParameters = HiggsPairParameters()):
    """(a, b, c) of |M|^2 = a + b k + c k^2 from the form factors (see module docstring)."""
    tri = triangle_propagator(s, params) * f_tri
    a = np.abs(f_box) ** 2 + np.abs(g_box) ** 2
    b = 2.0 * np.real(tri * np.conj(f_box))
    c = np.abs(tri) ** 2
    return a, b, c


def me_coefficients(s: np.ndarray, t: np.ndarray, params: HiggsPairParameters = HiggsPairParameters(),
                    box_nodes: int = loops.N_GAUSS_D0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, c) at phase-space points (s, t) in GeV^2, vectorised."""
    f_tri, f_box, g_box = form_factors(s, t, params, box_nodes)
    return coefficients_from_form_factors(np.asarray(s, dtype=float), f_tri, f_box, g_box, params)


def msq_direct(s: np.ndarray, t: np.ndarray, kappa_lambda: float,
               params: HiggsPairParameters = HiggsPairParameters(),
               box_nodes: int = loops.N_GAUSS_D0) -> np.ndarray:
    """|k_l C_tri F_tri + F_box|^2 + |G_box|^2 evaluated directly at one kappa_lambda."""
    f_tri, f_box, g_box = form_factors(s, t, params, box_nodes)
    amp = kappa_lambda * triangle_propagator(s, params) * f_tri + f_box
    return np.abs(amp) ** 2 + np.abs(g_box) ** 2


def t_from_cos_theta(s: np.ndarray, cos_theta: np.ndarray, m_h: float = constants.M_H) -> np.ndarray:
    """t = m_h^2 - (s/2)(1 - beta cos theta), beta = sqrt(1 - 4 m_h^2 / s), in the hh rest frame."""
    s = np.asarray(s, dtype=float)
    beta = np.sqrt(np.maximum(1.0 - 4.0 * m_h**2 / s, 0.0))
    return m_h**2 - 0.5 * s * (1.0 - beta * np.asarray(cos_theta))
