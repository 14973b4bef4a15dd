"""Scalar one-loop integrals C0 and D0 with all internal masses equal (the top quark in gg -> hh).

Convention (the one the form factors of hh4b.theory.gghh are written in): integrals d^4q / (i pi^2) over
propagators 1/((q + r_i)^2 - m^2 + i eps), so that C0 -> -1/(2 m^2) and D0 -> 1/(6 m^4) for heavy m.
With Feynman parameters x_i and the homogeneous form F(x) = sum_ij x_i x_j A_ij, A_ij = m^2 - s_ij / 2
(s_ij = (r_i - r_j)^2),
    C0 = -int dx delta(1 - sum x) / (F - i eps),   D0 = int dx delta(1 - sum x) / (F - i eps)^2.

Method (Cheng-Wu): the delta function is taken over all parameters but one, x_k = z, which then
runs over [0, inf). F = a z^2 + b z + c with a = m^2 and b, c depending on the other parameters;
the z integral is done in closed form (`_i_int` for boxes, `_k_int` for triangles, whose projective
integrand carries an extra 1/(1 + z); both valid for Im c <= 0). What
is left is a 1-d (C0) or 2-d (D0) integral over a simplex with Gauss-Legendre rules. Above a
threshold c vanishes inside the region; there the remaining parameter y (splitting x_i = w y,
x_j = w (1 - y) between the two propagators of the cut channel) is moved into the complex plane,
y -> y + i lambda y (1 - y) (1 - 2 y), which gives Im c < 0 as the i eps prescription demands
and leaves the integral unchanged (Cauchy); the box's remaining pinch point is removed by a Duffy
split (see d0_box_s). Measured relative accuracy (tests/test_matrix_element.py): below threshold ~1e-14 (equal to
scipy quadrature; 1e-8 at s = 0.96 * 4 m^2 with 24 nodes); above threshold C0 (400 nodes)
<= 2e-9, D0 with 16 / 24 / 32 nodes <= 1e-4 / 4e-6 / 3e-7 from threshold to m_hh = 6 TeV. The
box form factor G_box cancels strongly (errors grow ~100x), so cross sections need >= 24 nodes.

Triangles with a massless leg also have closed forms in the triangle function f(tau), tau = 4 m^2 / q^2:
f = arcsin(1/sqrt(tau))^2 for tau >= 1, -(1/4) [log((1 + beta) / (1 - beta)) - i pi]^2 with
beta = sqrt(1 - tau) for 0 < tau < 1 (above threshold), -(1/4) log((beta + 1) / (beta - 1))^2 for q^2 < 0,
and C0(0, 0, q^2) = -2 f(tau) / q^2 (`f_tau`, `c0_one_massless`).
"""

from __future__ import annotations

import cmath
import functools

import numba
import numpy as np

N_GAUSS_C0 = 400  # nodes of the 1-d triangle rule
N_GAUSS_D0 = 24  # Gauss nodes per dimension of each of the four Duffy triangles of the box
HIGH_S_OVER_M2 = 50.0  # s / m^2 at m_hh = 1.2 TeV: above, the box rule gets ceil(sqrt(s / that)) x nodes
LAMBDA_DEFORM = 2.0  # deformation strength of y; any value keeps Im c <= 0 exactly (see _deformed)


@functools.lru_cache(maxsize=32)
def _gauss_unit(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1] (cached: leggauss(400) costs ~50 ms)."""
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


# --- the z integrals in closed form (scalar, compiled) ------------------------------------------

@numba.njit(cache=True)
def _atanh_ratio(u2: complex) -> complex:
    """atanh(u) / u as a function of u^2 (even in u), principal branch, series near 0."""
    if abs(u2) < 1e-2:
        return 1.0 + u2 / 3.0 + u2**2 / 5.0 + u2**3 / 7.0 + u2**4 / 9.0 + u2**5 / 11.0
    u = cmath.sqrt(u2)
    return cmath.atanh(u) / u


@numba.njit(cache=True)
def _i_int(a: float, b: float, c: complex) -> complex:
    """I = int_0^inf dz / (a z^2 + b z + c)^2 for a, b > 0, Im c <= 0 (c - i eps when real).

    With u^2 = 1 - 4ac/b^2: I = (4a/b^3) [1/(1 - u^2) - atanh(u)/u] / u^2; the - i eps on c
    puts u^2 just above the real axis, which selects the principal branch of atanh."""
    u2 = 1.0 - 4.0 * a * c / (b * b)
    if u2.imag == 0.0:
        u2 = complex(u2.real, 1e-300)
    if abs(u2) < 1e-2:
        value = 0.0 + 0.0j
        power = 1.0 + 0.0j
        for n in range(1, 9):  # sum_n 2n/(2n+1) u^(2(n-1))
            value += 2.0 * n / (2.0 * n + 1.0) * power
            power *= u2
    else:
        value = (1.0 / (1.0 - u2) - _atanh_ratio(u2)) / u2
    return 4.0 * a / (b * b * b) * value


@numba.njit(cache=True)
def _log1p_ratio(d: complex) -> complex:
    """log(1 + d) / d, stable near d = 0."""
    if abs(d) < 1e-4:
        return 1.0 - d / 2.0 + d * d / 3.0 - d * d * d / 4.0
    return cmath.log(1.0 + d) / d


@numba.njit(cache=True)
def _dd1(x: complex, y: complex) -> complex:
    """First divided difference of g(r) = log(-r): (g(x) - g(y)) / (x - y), stable for x ~ y."""
    return _log1p_ratio((x - y) / y) / y


@numba.njit(cache=True)
def _k_int(a: float, b: float, c: complex) -> complex:
    """K = int_0^inf dz / ((1 + z)(a z^2 + b z + c)), Im c <= 0, no root on z >= 0.

    With roots r0 = -1, r1, r2 of the denominator, K = -(1/a) g[r0, r1, r2] (second divided
    difference of g(r) = log(-r)), evaluated in the order that avoids near-equal roots."""
    if c.imag == 0.0:
        c = complex(c.real, -1e-300)
    root = cmath.sqrt(b * b - 4.0 * a * c)
    r1 = (-b - root) / (2.0 * a)
    r2 = 2.0 * c / (-b - root)  # the other root, without cancellation
    r0 = -1.0 + 0.0j
    if abs(r1 - r2) > abs(r0 - r2):
        return -(_dd1(r0, r1) - _dd1(r0, r2)) / (r1 - r2) / a
    return -(_dd1(r1, r0) - _dd1(r1, r2)) / (r0 - r2) / a


@numba.njit(cache=True)
def _deformed(y: float) -> tuple[complex, complex]:
    """y on the contour y + i lambda y (1-y) (1-2y), and the Jacobian d y_complex / d y."""
    shifted = complex(y, LAMBDA_DEFORM * y * (1.0 - y) * (1.0 - 2.0 * y))
    jac = complex(1.0, LAMBDA_DEFORM * (1.0 - 6.0 * y + 6.0 * y * y))
    return shifted, jac


# --- triangle C0(p^2, p^2, s) ----------------------------------------------------------------

@numba.njit(cache=True)
def _c0_kernel(s, p2, m2, nodes, weights):
    out = np.empty(s.shape[0], dtype=np.complex128)
    for i in range(s.shape[0]):
        total = 0.0 + 0.0j
        for k in range(nodes.shape[0]):
            y, jac = _deformed(nodes[k])
            total += _k_int(m2, 2.0 * m2 - p2, m2 - s[i] * y * (1.0 - y)) * jac * weights[k]
        out[i] = -total
    return out


def c0_equal_legs(p2: float, s: np.ndarray, m2: float, n_gauss: int = N_GAUSS_C0) -> np.ndarray:
    """C0(p^2, p^2, s) with internal masses m, for 0 <= p^2 < 4 m^2 and any real s.

    Cheng-Wu with z the parameter between the two p^2 legs; for a triangle the projective
    integrand carries 1/U = 1/(1 + z): C0 = -int dy K(m^2, 2 m^2 - p^2, m^2 - y(1-y) s).
    c_cd of gg -> hh is C0(m_h^2, m_h^2, s); C0(0, 0, s) checks it against the closed form.
    """
    s = np.asarray(s, dtype=float)
    nodes, weights = _gauss_unit(n_gauss)
    return _c0_kernel(s.ravel(), float(p2), float(m2), nodes, weights).reshape(s.shape)


# --- boxes -------------------------------------------------------------------------------------

@numba.njit(cache=True)
def _box_s_kernel(s, t, split, mh2, m2, nodes, weights):
    out = np.empty(s.shape[0], dtype=np.complex128)
    n = nodes.shape[0]
    for i in range(s.shape[0]):
        power = 2.0 if s[i] > 16.0 * m2 else 1.0
        total = 0.0 + 0.0j
        for side in range(2):
            width = split[i] if side == 0 else 1.0 - split[i]
            if width == 0.0:
                continue
            sign = -1.0 if side == 0 else 1.0
            for triangle in range(2):
                for k in range(n):
                    for j in range(n):
                        if triangle == 0:
                            r, q = nodes[k], nodes[k] * nodes[j]
                        else:
                            r, q = nodes[k] * nodes[j], nodes[k]
                        jac = nodes[k] * weights[k] * weights[j]
                        x4 = split[i] + sign * width * r * r
                        dx4 = width * 2.0 * r
                        y, dy = _deformed(0.5 * (1.0 - q) ** power)
                        dy *= power * (1.0 - q) ** (power - 1.0)
                        w = 1.0 - x4
                        b = 2.0 * m2 - t[i] * x4
                        c = m2 - w * w * (y * (1.0 - y)) * s[i] - x4 * w * mh2
                        total += _i_int(m2, b, c) * w * dx4 * dy * jac
        out[i] = total
    return out


def d0_box_s(s: np.ndarray, t: np.ndarray, mh2: float, m2: float,
             n_gauss: int = N_GAUSS_D0) -> np.ndarray:
    """D0(0, 0, m_h^2, m_h^2; s, t) with internal masses m, for t < 0 (any s > 0).

    Propagators 1..4 with the massless legs between 1-2 and 2-3; s between 1-3, t between 2-4.
    Cheng-Wu with z = x2: a = m^2, b = 2 m^2 - t x4, c = m^2 - w^2 y(1-y) s - x4 w m_h^2 with
    w = 1 - x4, x1 = w y, x3 = w (1 - y) (Jacobian w); c is symmetric in y <-> 1 - y, so y runs
    over [0, 1/2] (doubled) and only y is deformed (b stays real). Above threshold c vanishes at
    the pinch (x4*, y = 1/2), where the y deformation vanishes; with x4 = x4* -+ r^2 and
    y = (1 - q)/2 the integrand ~ r / (alpha r^2 + k q^2) near r = q = 0, and a Duffy split of
    the (r, q) square (q = r v and r = q v) makes it smooth. Below threshold the corner sits at
    x4 = 0, y = 1/2, where c is smallest (and vanishes as s -> 4 m^2). For s > 16 m^2,
    y = (1 - q)^2 / 2 also clusters nodes at y -> 0, where the zeros of c sit for s >> 4 m^2,
    and above m_hh ~ 1.2 TeV the node count grows like sqrt(s).
    """
    s, t = np.broadcast_arrays(np.asarray(s, dtype=float), np.asarray(t, dtype=float))
    shape = s.shape
    s, t = s.ravel(), t.ravel()
    # below threshold c is smallest at (x4 = 0, y = 1/2): put the Duffy corner there
    split = np.maximum(_pinch_x4(s, mh2, m2), 0.0)
    # far above threshold the zeros of c crowd towards y = 0: more nodes there
    scale = np.ceil(np.sqrt(np.maximum(s / (HIGH_S_OVER_M2 * m2), 1.0)))
    out = np.empty(s.shape, dtype=complex)
    for factor in np.unique(scale):
        sel = scale == factor
        nodes, weights = _gauss_unit(int(n_gauss * factor))
        out[sel] = _box_s_kernel(s[sel], t[sel], split[sel], float(mh2), float(m2), nodes, weights)
    return out.reshape(shape)


def _pinch_x4(s: np.ndarray, mh2: float, m2: float) -> np.ndarray:
    """x4 in (0, 1) where c(x4, y = 1/2) = m^2 - w^2 s/4 - x4 w m_h^2 = 0, else -1."""
    # with w = 1 - x4: (s/4 - m_h^2) w^2 + m_h^2 w - m^2 = 0
    qa = s / 4.0 - mh2
    disc = mh2**2 + 4.0 * qa * m2
    w = (-mh2 + np.sqrt(np.maximum(disc, 0.0))) / (2.0 * np.where(qa == 0.0, 1.0, qa))
    inside = (s > 4.0 * m2) & (qa > 0.0) & (w > 0.0) & (w < 1.0)
    return np.where(inside, 1.0 - w, -1.0)


@numba.njit(cache=True)
def _box_tu_kernel(t, u, mh2, m2, nodes, weights):
    out = np.empty(t.shape[0], dtype=np.complex128)
    for i in range(t.shape[0]):
        total = 0.0 + 0.0j
        for k in range(nodes.shape[0]):
            v = nodes[k]
            for j in range(nodes.shape[0]):
                y = nodes[j]
                x1, x3 = (1.0 - v) * y, (1.0 - v) * (1.0 - y)
                b = 2.0 * m2 - mh2 * x3 - u[i] * v
                c = m2 - t[i] * x1 * x3 - mh2 * x1 * v
                total += _i_int(m2, b, complex(c, 0.0)) * (1.0 - v) * weights[k] * weights[j]
        out[i] = total
    return out


def d0_box_tu(t: np.ndarray, u: np.ndarray, mh2: float, m2: float, n_gauss: int = 24) -> np.ndarray:
    """D0(0, m_h^2, 0, m_h^2; t, u) with internal masses m, for t, u < 0 (no threshold).

    Legs 0, m_h^2, 0, m_h^2 between propagators 1-2, 2-3, 3-4, 4-1; t between 1-3, u between
    2-4. Cheng-Wu with z = x2: b = 2 m^2 - m_h^2 x3 - u x4, c = m^2 - t x1 x3 - m_h^2 x1 x4 > 0,
    x4 = v, x1 = (1 - v) y, x3 = (1 - v)(1 - y) (Jacobian 1 - v); real, no deformation.
    """
    t, u = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(u, dtype=float))
    nodes, weights = _gauss_unit(n_gauss)
    return _box_tu_kernel(t.ravel(), u.ravel(), float(mh2), float(m2), nodes, weights).reshape(t.shape)
