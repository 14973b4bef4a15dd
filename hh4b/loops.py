"""Scalar one-loop integrals C0 and D0 with all internal masses equal (the top quark in gg -> hh).

Convention (generation.md): integrals d^4q / (i pi^2) over propagators 1/((q + r_i)^2 - m^2 + i eps),
so that C0 -> -1/(2 m^2) and D0 -> 1/(6 m^4) for heavy m. With Feynman parameters x_i and the
homogeneous form F(x) = sum_ij x_i x_j A_ij, A_ij = m^2 - s_ij / 2 (s_ij = (r_i - r_j)^2),
    C0 = -int dx delta(1 - sum x) / (F - i eps),   D0 = int dx delta(1 - sum x) / (F - i eps)^2.

Method (Cheng-Wu): the delta function is taken over all parameters but one, x_k = z, which then
runs over [0, inf). F = a z^2 + b z + c with a = m^2 and b, c depending on the other parameters;
the z integral is done in closed form (functions `_j_int`, `_i_int`, valid for Im c <= 0). What
is left is a 1-d (C0) or 2-d (D0) integral over a simplex with Gauss-Legendre rules. Above a
threshold c vanishes inside the region; there the remaining parameter y (splitting x_i = w y,
x_j = w (1 - y) between the two propagators of the cut channel) is moved into the complex plane,
y -> y + i lambda y (1 - y) (1 - 2 y), which gives Im c < 0 as the i eps prescription demands
and leaves the integral unchanged (Cauchy); the box's remaining pinch point is removed by a Duffy
split (see d0_box_s). Measured relative accuracy (tests/test_matrix_element.py and the study in
the d0_box_s docstring): below threshold ~1e-14 (equal to scipy quadrature); above threshold C0
(400 nodes) <= 2e-9, D0 with 24 / 32 / 48 nodes <= 2e-4 / 2e-5 / 3e-7 (worst at sqrt(s) near
2 m_t and at 2 TeV). The box form factor G_box cancels strongly, so sigma needs >= 24 nodes.

Triangles with a massless leg also have closed forms (function f(tau) of generation.md).
"""

from __future__ import annotations

import numpy as np

N_GAUSS_C0 = 400  # nodes of the 1-d triangle rule
N_GAUSS_D0 = 24  # Gauss nodes per dimension of each of the four Duffy triangles of the box
LAMBDA_DEFORM = 0.9  # deformation strength of y (|d Im y / dy| <= lambda)
CHUNK = 64  # phase-space points per vectorised block (memory ~ CHUNK * nodes * 16 bytes)


def _gauss_unit(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    return 0.5 * (nodes + 1.0), 0.5 * weights


# --- closed forms (one massless leg) ---------------------------------------------------------

def f_tau(tau: np.ndarray) -> np.ndarray:
    """The triangle function f(tau), tau = 4 m^2 / q^2, continued below and above threshold."""
    tau = np.asarray(tau, dtype=float)
    out = np.empty(tau.shape, dtype=complex)
    above = tau >= 1.0
    out[above] = np.arcsin(1.0 / np.sqrt(tau[above])) ** 2
    mid = (tau > 0.0) & (tau < 1.0)
    beta = np.sqrt(1.0 - tau[mid])
    out[mid] = -0.25 * (np.log((1.0 + beta) / (1.0 - beta)) - 1j * np.pi) ** 2
    neg = tau < 0.0
    beta = np.sqrt(1.0 - tau[neg])
    out[neg] = -0.25 * np.log((beta + 1.0) / (beta - 1.0)) ** 2
    return out


def _g_function(q2: np.ndarray, m2: float) -> np.ndarray:
    """G(q^2) = -2 f(4 m^2 / q^2), with G(0) = 0."""
    q2 = np.asarray(q2, dtype=float)
    safe = np.where(q2 == 0.0, 1.0, q2)
    return np.where(q2 == 0.0, 0.0, -2.0 * f_tau(4.0 * m2 / safe))


def c0_one_massless(p2: np.ndarray, q2: np.ndarray, m2: float) -> np.ndarray:
    """C0(0, p^2, q^2) with internal masses m (closed form); p^2 = 0 allowed, p^2 != q^2."""
    p2, q2 = np.broadcast_arrays(np.asarray(p2, dtype=float), np.asarray(q2, dtype=float))
    massless = _g_function(q2, m2) / np.where(q2 == 0.0, 1.0, q2)  # C0(0, 0, q^2)
    general = (_g_function(p2, m2) - _g_function(q2, m2)) / np.where(p2 == q2, 1.0, p2 - q2)
    return np.where(p2 == 0.0, massless, general)


# --- the z integrals in closed form ------------------------------------------------------------

def _atanh_ratio(u2: np.ndarray) -> np.ndarray:
    """atanh(u) / u as a function of u^2 (even in u), principal branch, series near 0."""
    u = np.sqrt(u2.astype(complex))
    small = np.abs(u2) < 1e-2
    safe_u = np.where(small, 1.0, u)
    exact = np.arctanh(safe_u) / safe_u
    series = 1.0 + u2 / 3.0 + u2**2 / 5.0 + u2**3 / 7.0 + u2**4 / 9.0
    return np.where(small, series, exact)


def _j_int(a, b, c):
    """J = int_0^inf dz / (a z^2 + b z + c) for a, b > 0 and Im c <= 0 (c - i eps if real)."""
    u2 = 1.0 - 4.0 * a * c / b**2
    u2 = np.where(np.imag(u2) == 0.0, u2 + 1e-300j, u2)  # - i eps on c: Im u^2 > 0
    return 2.0 / b * _atanh_ratio(u2)


def _i_int(a, b, c):
    """I = int_0^inf dz / (a z^2 + b z + c)^2 = (4a/b^3) [1/(1-u^2) - atanh(u)/u] / u^2."""
    u2 = 1.0 - 4.0 * a * c / b**2
    u2 = np.where(np.imag(u2) == 0.0, u2 + 1e-300j, u2)
    small = np.abs(u2) < 1e-2
    safe = np.where(small, 0.5, u2)
    exact = (1.0 / (1.0 - safe) - _atanh_ratio(safe)) / safe
    # sum_n 2n/(2n+1) u^(2(n-1)), n = 1..6
    series = sum(2.0 * n / (2.0 * n + 1.0) * u2 ** (n - 1) for n in range(1, 7))
    return 4.0 * a / b**3 * np.where(small, series, exact)


def _deformed_y(nodes: np.ndarray, deform: bool) -> tuple[np.ndarray, np.ndarray]:
    """y on the contour y + i lambda y (1-y) (1-2y) and its Jacobian dy_complex / dy."""
    if not deform:
        return nodes.astype(complex), np.ones_like(nodes, dtype=complex)
    shift = LAMBDA_DEFORM * nodes * (1.0 - nodes) * (1.0 - 2.0 * nodes)
    jac = 1.0 + 1j * LAMBDA_DEFORM * (1.0 - 6.0 * nodes + 6.0 * nodes**2)
    return nodes + 1j * shift, jac


# --- triangle C0(p^2, p^2, s) ----------------------------------------------------------------

def _log1p_ratio(d: np.ndarray) -> np.ndarray:
    """log(1 + d) / d, stable near d = 0."""
    small = np.abs(d) < 1e-4
    safe = np.where(small, 1.0, d)
    return np.where(small, 1.0 - d / 2.0 + d**2 / 3.0, np.log1p(safe) / safe)


def _dd1(x, y):
    """First divided difference of g(r) = log(-r): (g(x) - g(y)) / (x - y), stable for x ~ y."""
    return _log1p_ratio((x - y) / y) / y


def _k_int(a, b, c):
    """K = int_0^inf dz / ((1 + z)(a z^2 + b z + c)), Im c <= 0, no root on z >= 0.

    With roots r0 = -1, r1, r2 of the denominator, K = -(1/a) g[r0, r1, r2] (second divided
    difference of g(r) = log(-r)), evaluated in the order that avoids near-equal roots."""
    c = np.where(np.imag(c) == 0.0, c - 1e-300j, c)
    root = np.sqrt(b * b - 4.0 * a * c + 0j)
    r1 = (-b - root) / (2.0 * a)
    r2 = 2.0 * c / (-b - root)  # the other root, without cancellation
    r0 = -np.ones_like(r1)
    use_r0_pivot = np.abs(r1 - r2) > np.abs(r0 - r2)
    safe12 = np.where(use_r0_pivot, r1 - r2, 1.0)
    safe02 = np.where(use_r0_pivot, 1.0, r0 - r2)
    pivot_r0 = (_dd1(r0, r1) - _dd1(r0, r2)) / safe12
    pivot_r1 = (_dd1(r1, r0) - _dd1(r1, r2)) / safe02
    return -np.where(use_r0_pivot, pivot_r0, pivot_r1) / a


# --- triangle C0(p^2, p^2, s) ----------------------------------------------------------------

def c0_equal_legs(p2: float, s: np.ndarray, m2: float, n_gauss: int = N_GAUSS_C0) -> np.ndarray:
    """C0(p^2, p^2, s) with internal masses m, for 0 <= p^2 < 4 m^2 and any real s.

    Cheng-Wu with z the parameter between the two p^2 legs; for a triangle the projective
    integrand carries 1/U = 1/(1 + z): C0 = -int dy K(m^2, 2 m^2 - p^2, m^2 - y(1-y) s).
    c_cd of gg -> hh is C0(m_h^2, m_h^2, s); C0(0, 0, s) checks it against the closed form.
    """
    s = np.asarray(s, dtype=float)
    nodes, weights = _gauss_unit(n_gauss)
    y, jac = _deformed_y(nodes, deform=True)
    c = m2 - s.reshape(-1, 1) * (y * (1.0 - y))  # (points, nodes)
    values = _k_int(m2, 2.0 * m2 - p2, c) * (jac * weights)
    return -values.sum(axis=1).reshape(s.shape)


# --- boxes -------------------------------------------------------------------------------------

def d0_box_s(s: np.ndarray, t: np.ndarray, mh2: float, m2: float,
             n_gauss: int = N_GAUSS_D0) -> np.ndarray:
    """D0(0, 0, m_h^2, m_h^2; s, t) with internal masses m, for t < 0 (any s > 0).

    Propagators 1..4 with the massless legs between 1-2 and 2-3; s between 1-3, t between 2-4.
    Cheng-Wu with z = x2: a = m^2, b = 2 m^2 - t x4, c = m^2 - w^2 y(1-y) s - x4 w m_h^2 with
    w = 1 - x4, x1 = w y, x3 = w (1 - y) (Jacobian w); c is symmetric in y <-> 1 - y, so y runs
    over [0, 1/2] (doubled) and only y is deformed (b stays real). Above threshold c vanishes at
    the pinch (x4*, y = 1/2), where the y deformation vanishes; with x4 = x4* -+ r^2 and
    y = (1 - q)/2 the integrand ~ r / (alpha r^2 + k q^2) near r = q = 0, and a Duffy split of
    the (r, q) square (q = r v and r = q v) makes it smooth. Below threshold the split point is
    arbitrary and harmless. For s > 16 m^2, y = (1 - q)^2 / 2 clusters nodes also at y -> 0,
    where the zeros of c sit for s >> 4 m^2.
    """
    s, t = np.broadcast_arrays(np.asarray(s, dtype=float), np.asarray(t, dtype=float))
    shape = s.shape
    s, t = s.ravel(), t.ravel()
    nodes, weights = _gauss_unit(n_gauss)
    split = _pinch_x4(s, mh2, m2)
    split = np.where(split > 0.0, split, 0.5)
    # Duffy triangles of the (r, q) square: (r, q, Jacobian) on an (n, n) grid of (outer, v)
    outer, v = nodes[:, None], nodes[None, :]
    wgt = weights[:, None] * weights[None, :]
    triangles = ((outer, outer * v, outer * wgt), (outer * v, outer, outer * wgt))
    out = np.zeros(s.shape, dtype=complex)
    for start in range(0, s.size, CHUNK):
        block = slice(start, start + CHUNK)
        sb, tb, xs = s[block, None, None], t[block, None, None], split[block, None, None]
        power = np.where(sb > 16.0 * m2, 2.0, 1.0)
        for width_sign in (-1.0, 1.0):
            width = xs if width_sign < 0 else 1.0 - xs
            for r, q, jac in triangles:
                x4 = xs + width_sign * width * r**2
                dx4 = width * 2.0 * r
                # y = (1 - q)^p / 2; p = 2 clusters nodes at y -> 0, where the normal-threshold
                # zeros of c sit at large s (y(1 - y) = m^2 / s); factor 2 for the two y halves
                y, dy = _deformed_y(0.5 * (1.0 - q) ** power, deform=True)
                dy = dy * power * (1.0 - q) ** (power - 1.0)
                w = 1.0 - x4
                b = 2.0 * m2 - tb * x4
                c = m2 - w**2 * (y * (1.0 - y)) * sb - x4 * w * mh2
                integrand = _i_int(m2, b, c) * w * dx4 * dy * jac
                out[block] += integrand.sum(axis=(1, 2))
    return out.reshape(shape)


def _pinch_x4(s: np.ndarray, mh2: float, m2: float) -> np.ndarray:
    """x4 in (0, 1) where c(x4, y = 1/2) = m^2 - w^2 s/4 - x4 w m_h^2 = 0, else -1."""
    # with w = 1 - x4: (s/4 - m_h^2) w^2 + m_h^2 w - m^2 = 0
    qa = s / 4.0 - mh2
    disc = mh2**2 + 4.0 * qa * m2
    w = (-mh2 + np.sqrt(np.maximum(disc, 0.0))) / (2.0 * np.where(qa == 0.0, 1.0, qa))
    inside = (s > 4.0 * m2) & (qa > 0.0) & (w > 0.0) & (w < 1.0)
    return np.where(inside, 1.0 - w, -1.0)


def d0_box_tu(t: np.ndarray, u: np.ndarray, mh2: float, m2: float,
              n_gauss: tuple[int, int] = (24, 24)) -> np.ndarray:
    """D0(0, m_h^2, 0, m_h^2; t, u) with internal masses m, for t, u < 0 (no threshold).

    Legs 0, m_h^2, 0, m_h^2 between propagators 1-2, 2-3, 3-4, 4-1; t between 1-3, u between
    2-4. Cheng-Wu with z = x2: b = 2 m^2 - m_h^2 x3 - u x4, c = m^2 - t x1 x3 - m_h^2 x1 x4 > 0,
    x4 = v, x1 = (1 - v) y, x3 = (1 - v)(1 - y) (Jacobian 1 - v); real, no deformation.
    """
    t, u = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(u, dtype=float))
    shape = t.shape
    t, u = t.ravel(), u.ravel()
    v_nodes, v_weights = _gauss_unit(n_gauss[0])
    y_nodes, y_weights = _gauss_unit(n_gauss[1])
    v, y = v_nodes[:, None], y_nodes[None, :]
    x1, x3, x4 = (1.0 - v) * y, (1.0 - v) * (1.0 - y), v + 0.0 * y
    weight = (1.0 - v) * v_weights[:, None] * y_weights[None, :]
    out = np.empty(t.shape, dtype=complex)
    for start in range(0, t.size, CHUNK):
        block = slice(start, start + CHUNK)
        tb, ub = t[block, None, None], u[block, None, None]
        b = 2.0 * m2 - mh2 * x3 - ub * x4
        c = m2 - tb * x1 * x3 - mh2 * x1 * x4
        out[block] = (_i_int(m2, b, c + 0j) * weight).sum(axis=(1, 2))
    return out.reshape(shape)
