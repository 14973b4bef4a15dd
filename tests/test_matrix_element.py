"""LO gg -> hh matrix element: scalar loop integrals, form factors, (a, b, c), the Pythia process."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from hh4b import constants
from hh4b.errors import ConfigError
from hh4b.theory import gghh, loops

M2 = constants.M_T**2
MH2 = constants.M_H**2
LEGS_S = (0.0, 0.0, MH2, MH2)  # D0(0, 0, m_h^2, m_h^2; s, t)
LEGS_TU = (0.0, MH2, 0.0, MH2)  # D0(0, m_h^2, 0, m_h^2; t, u)


def _d0_simplex_scipy(s12: float, s23: float, legs, m2: float = M2) -> float:
    """D0 = int_simplex 1/F^2 by adaptive scipy quadrature (real, below threshold)."""

    def integrand(x3, x2, x1):
        x4 = 1.0 - x1 - x2 - x3
        f = (m2 - x1 * x2 * legs[0] - x2 * x3 * legs[1] - x3 * x4 * legs[2] - x4 * x1 * legs[3]
             - x1 * x3 * s12 - x2 * x4 * s23)
        return 1.0 / f**2

    return integrate.tplquad(integrand, 0, 1, lambda x1: 0, lambda x1: 1 - x1,
                             lambda x1, x2: 0, lambda x1, x2: 1 - x1 - x2, epsabs=0, epsrel=1e-10)[0]


def _complex_mass_extrapolated(function, deltas=(0.05, 0.10, 0.15)) -> complex:
    """Quadrature with m^2 (1 - i delta), extrapolated quadratically to delta = 0."""
    values = [function(M2 * (1.0 - 1j * d)) for d in deltas]
    return complex(np.polyval(np.polyfit(deltas, values, 2), 0.0))


def _gauss01(n):
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (x + 1.0), 0.5 * w


def _d0_box_s_complex_mass(s: float, t: float, m2c: complex, n: int = 100) -> complex:
    """Plain 3-d Gauss rule on the simplex (cube map) with a complex top mass."""
    x, w = _gauss01(n)
    u1, u2, u3 = np.meshgrid(x, x, x, indexing="ij")
    weight = w[:, None, None] * w[None, :, None] * w[None, None, :] * (1 - u1) ** 2 * (1 - u2)
    x1, x2, x3 = u1, (1 - u1) * u2, (1 - u1) * (1 - u2) * u3
    x4 = (1 - u1) * (1 - u2) * (1 - u3)
    f = m2c - x3 * x4 * MH2 - x4 * x1 * MH2 - x1 * x3 * s - x2 * x4 * t
    return complex((weight / f**2).sum())


def _c0_equal_legs_complex_mass(s: float, m2c: complex, n: int = 400) -> complex:
    """C0(m_h^2, m_h^2, s) = -int_simplex 1/F with a complex top mass, 2-d Gauss rule."""
    x, w = _gauss01(n)
    u1, u2 = np.meshgrid(x, x, indexing="ij")
    weight = w[:, None] * w[None, :] * (1 - u1)
    x1, x2, x3 = u1, (1 - u1) * u2, (1 - u1) * (1 - u2)
    f = m2c - x1 * x2 * MH2 - x2 * x3 * MH2 - x1 * x3 * s
    return complex(-(weight / f).sum())


# --- scalar integrals ------------------------------------------------------------------------

def test_heavy_mass_limits_of_scalar_integrals():
    big = 1e12
    assert loops.c0_equal_legs(0.0, np.array([1.0]), big)[0] * big == pytest.approx(-0.5, rel=1e-9)
    assert loops.d0_box_s(1.0, -1.0, 0.0, big) * big**2 == pytest.approx(1 / 6, rel=1e-9)
    assert loops.d0_box_tu(-1.0, -1.0, 0.0, big) * big**2 == pytest.approx(1 / 6, rel=1e-9)


@pytest.mark.parametrize("s", [-5e4, 1e4, 5e4, 1.1e5])
def test_c0_below_threshold_matches_quadrature(s):
    def integrand(x2, x1):
        x3 = 1.0 - x1 - x2
        return -1.0 / (M2 - x1 * x2 * MH2 - x2 * x3 * MH2 - x1 * x3 * s)

    reference = integrate.dblquad(integrand, 0, 1, 0, lambda x1: 1 - x1, epsabs=0, epsrel=1e-12)[0]
    value = loops.c0_equal_legs(MH2, np.array([s]), M2)[0]
    assert abs(value / reference - 1) < 1e-8


def test_c0_above_threshold_matches_closed_form_and_complex_mass():
    s = np.array([1.0e5, 1.3e5, 2e5, 5e5, 1e6, 4e6])
    numeric = loops.c0_equal_legs(0.0, s, M2)
    closed = loops.c0_one_massless(0.0, s, M2)
    assert np.all(np.abs(numeric / closed - 1) < 1e-8)
    assert np.any(np.abs(closed.imag) > 0.3 * np.abs(closed))  # the test reaches above threshold
    s_cd = 3e5
    reference = _complex_mass_extrapolated(lambda m2c: _c0_equal_legs_complex_mass(s_cd, m2c))
    value = loops.c0_equal_legs(MH2, np.array([s_cd]), M2)[0]
    assert abs(value / reference - 1) < 3e-3


@pytest.mark.parametrize("s,t", [(1e5, -3e4), (6e4, -1e4), (1.15e5, -8e4)])
def test_d0_box_s_below_threshold_matches_quadrature(s, t):
    # 32 nodes: the default 24 leaves ~1e-8 just below threshold (s = 0.96 * 4 m^2)
    assert abs(loops.d0_box_s(s, t, MH2, M2, 32) / _d0_simplex_scipy(s, t, LEGS_S) - 1) < 1e-8


@pytest.mark.parametrize("t,u", [(-3e4, -5e4), (-1e5, -2e4)])
def test_d0_box_tu_matches_quadrature(t, u):
    assert abs(loops.d0_box_tu(t, u, MH2, M2) / _d0_simplex_scipy(t, u, LEGS_TU) - 1) < 1e-8


def test_d0_above_threshold_matches_complex_mass_quadrature():
    s, t = 2.0e5, -6e4
    value = loops.d0_box_s(s, t, MH2, M2)
    reference = _complex_mass_extrapolated(lambda m2c: _d0_box_s_complex_mass(s, t, m2c))
    assert abs(value.imag) > 0.5 * abs(value)  # genuinely above threshold
    assert abs(value / reference - 1) < 3e-3


def test_d0_converges_with_nodes_above_threshold():
    s = np.array([1.3e5, 5e5, 4e6, 2.5e7])
    t = -0.3 * s
    reference = loops.d0_box_s(s, t, MH2, M2, 64)
    assert np.all(np.abs(loops.d0_box_s(s, t, MH2, M2) / reference - 1) < 1e-4)


# --- form factors and |M|^2 -------------------------------------------------------------------

def test_heavy_top_limit_of_form_factors():
    params = gghh.HiggsPairParameters(m_t=2e4)
    s = np.array([300.0**2, 500.0**2])
    t = gghh.t_from_cos_theta(s, np.array([0.3, -0.6]))
    f_tri, f_box, g_box = gghh.form_factors(s, t, params)
    np.testing.assert_allclose(f_tri, 2 / 3, atol=1e-3)
    np.testing.assert_allclose(f_box, -2 / 3, atol=1e-3)
    np.testing.assert_allclose(np.abs(g_box), 0.0, atol=1e-3)


def test_form_factors_differ_from_heavy_top_limit_at_physical_mass():
    s = np.array([600.0**2])
    f_tri, f_box, g_box = gghh.form_factors(s, gghh.t_from_cos_theta(s, np.array([0.2])))
    assert abs(f_box[0] + 2 / 3) > 0.1 and abs(g_box[0]) > 0.01


@pytest.mark.parametrize("kappa", [-3.0, 1.0, 7.0])
def test_abc_reproduce_direct_msq(kappa):
    m_hh = np.array([260.0, 340.0, 350.0, 420.0, 700.0, 1500.0])
    s = m_hh**2
    t = gghh.t_from_cos_theta(s, np.array([0.1, -0.4, 0.7, 0.0, -0.9, 0.5]))
    a, b, c = gghh.me_coefficients(s, t)
    direct = gghh.msq_direct(s, t, kappa)
    np.testing.assert_allclose(a + b * kappa + c * kappa**2, direct, rtol=1e-10)
    assert np.all(a > 0) and np.all(c > 0)


def test_coefficients_are_even_in_cos_theta():
    s = np.full(2, 450.0**2)
    t = gghh.t_from_cos_theta(s, np.array([0.6, -0.6]))
    a, b, c = gghh.me_coefficients(s, t)
    np.testing.assert_allclose(a[0], a[1], rtol=1e-8)
    np.testing.assert_allclose(b[0], b[1], rtol=1e-8)


# --- the Pythia process ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def grid():
    from hh4b.generate.nonresonant import MatrixElementGrid

    return MatrixElementGrid()


def test_grid_interpolation_matches_exact(grid):
    rng = np.random.default_rng(5)
    m_hh = np.concatenate([rng.uniform(255, 345, 10), rng.uniform(348, 700, 20), rng.uniform(700, 2500, 10)])
    cos_theta = rng.uniform(-0.97, 0.97, m_hh.size)
    s = m_hh**2
    t = gghh.t_from_cos_theta(s, cos_theta)
    exact = np.array(gghh.me_coefficients(s, t, box_nodes=32))
    interpolated = np.array([grid.coefficients(si, ti) for si, ti in zip(s, t)]).T
    for k in (0.0, 1.0, 5.0):
        rel = np.abs((interpolated[0] + k * interpolated[1] + k * k * interpolated[2])
                     / (exact[0] + k * exact[1] + k * k * exact[2]) - 1)
        assert np.median(rel) < 1e-3 and rel.max() < 5e-2


def test_grid_array_lookup_equals_scalar_lookup(grid):
    rng = np.random.default_rng(8)
    m_hh = np.concatenate([rng.uniform(250, 7000, 200), [250.0, 345.9, 346.0, 346.1, 1000.0, 6500.0]])
    s = m_hh**2
    t = gghh.t_from_cos_theta(s, rng.uniform(-1, 1, m_hh.size))
    vectorised = np.array(grid.coefficients_array(s, t))
    scalar = np.array([grid.coefficients(si, ti) for si, ti in zip(s, t)]).T
    np.testing.assert_allclose(vectorised, scalar, rtol=1e-12, atol=0)


def test_process_rejects_kappa_out_of_range():
    from hh4b.generate.nonresonant import GGToHHProcess

    with pytest.raises(ConfigError, match="kappa-lambda"):
        GGToHHProcess(kappa_lambda=40.0)


def _process_level_sample(kappa: float, n_events: int, seed: int):
    """Hard-process-only Pythia events: (m_hh, (a, b, c)) per event."""
    import pythia8mc

    from hh4b.generate.nonresonant import configure_nonresonant

    pythia = pythia8mc.Pythia("", False)
    for line in ("Beams:eCM = 13000", "PartonLevel:all = off", "HadronLevel:all = off",
                 "ProcessLevel:resonanceDecays = off", "Print:quiet = on", "Random:setSeed = on",
                 f"Random:seed = {seed}"):
        pythia.readString(line)
    process = configure_nonresonant(pythia, kappa)
    assert pythia.init()
    m_hh, coefficients = [], []
    for _ in range(n_events):
        assert pythia.next()
        higgs = [p for p in pythia.process if p.id() == 25]
        assert len(higgs) == 2
        total = higgs[0].p() + higgs[1].p()
        m_hh.append(total.mCalc())
        info = pythia.infoPython()
        coefficients.append(process.coefficients_for(info.sHat(), info.tHat()))
        assert process.last_coefficients == pytest.approx(coefficients[-1], rel=1e-9)
    sigma_fb = pythia.infoPython().sigmaGen() * 1e12
    return np.array(m_hh), np.array(coefficients), sigma_fb, process


@pytest.fixture(scope="module")
def sample_k0():
    return _process_level_sample(0.0, 1500, seed=11)


def test_pythia_process_reweighting_reproduces_direct_sample(sample_k0):
    m0, abc0, sigma0, _ = sample_k0
    n = len(m0)
    m5, _, sigma5, _ = _process_level_sample(5.0, n, seed=12)
    weights = (abc0[:, 0] + 5.0 * abc0[:, 1] + 25.0 * abc0[:, 2]) / abc0[:, 0]
    edges = np.array([250.0, 300.0, 350.0, 400.0, 450.0, 550.0, 700.0, 5000.0])
    reweighted, _ = np.histogram(m0, edges, weights=weights)
    reweighted_err2, _ = np.histogram(m0, edges, weights=weights**2)
    direct, _ = np.histogram(m5, edges)
    scale = n / weights.sum()
    chi2 = np.sum((reweighted * scale - direct) ** 2 / (reweighted_err2 * scale**2 + direct))
    assert chi2 < 2.5 * (len(edges) - 1)  # p > ~0.02 for 7 bins
    # the shapes differ at the two generation points (test can fail)
    unweighted, _ = np.histogram(m0, edges)
    chi2_wrong = np.sum((unweighted - direct) ** 2 / (unweighted + direct))
    assert chi2_wrong > chi2
    # Pythia's sigma (hard process, no BR) near hh4b xsec: sigma(0) = 34.9, sigma(5) = 38.1 fb
    assert sigma0 == pytest.approx(34.9, rel=0.1)
    assert sigma5 / sigma0 == pytest.approx(weights.mean(), rel=0.1)


def test_generation_point_keeps_effective_sample_size(sample_k0):
    """k_gen = 0 keeps the Kish ESS >= 24% of N over k in [-5, 10]; k_gen = 1 would not."""
    _, abc, _, _ = sample_k0
    a, b, c = abc.T

    def ess_fraction(k_target, k_gen):
        # ESS/N = E_gen[w]^2 / E_gen[w^2], w = msq_target / msq_gen, E_gen over the k_gen density;
        # the k = 0 sample emulates it with the density ratio msq_gen / msq_0 = base
        msq_gen = a + b * k_gen + c * k_gen**2
        base = msq_gen / a
        w = (a + b * k_target + c * k_target**2) / msq_gen
        return (base * w).sum() ** 2 / (base.sum() * (base * w**2).sum())

    fractions = {k: ess_fraction(k, 0.0) for k in (-5.0, -1.0, 1.0, 2.5, 5.0, 10.0)}
    assert min(fractions.values()) > 0.2, fractions
    assert ess_fraction(5.0, 1.0) < 0.1
