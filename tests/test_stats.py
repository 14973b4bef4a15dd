"""Statistics: pyhf limits against an independent CCGV calculation, kappa_lambda intervals,
luminosity scaling, ensemble shape nuisances and input checks."""

import os

import numpy as np
import pyhf
import pytest

os.environ.setdefault("TQDM_DISABLE", "1")

from hh4b.errors import ConfigError  # noqa: E402
from hh4b.stats import asymptotic  # noqa: E402
from hh4b.stats.kappa import KappaTerms, allowed_interval_from_mu, kappa_spec, profile_scan  # noqa: E402
from hh4b.stats.limits import upper_limit  # noqa: E402
from hh4b.stats.model import Template, build_spec, ensemble_histosys  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:jsonschema.RefResolver:DeprecationWarning")

EDGES = np.linspace(250.0, 1050.0, 9)
BKG = np.array([900.0, 800.0, 600.0, 400.0, 250.0, 120.0, 60.0, 30.0])
SIG = np.array([1.0, 3.0, 8.0, 12.0, 8.0, 3.0, 1.0, 0.5])


def counting_spec(s, b, edges=None, **kwargs):
    s, b = np.atleast_1d(np.asarray(s, float)), np.atleast_1d(np.asarray(b, float))
    edges = np.arange(s.size + 1.0) if edges is None else edges
    return build_spec(edges, {"signal": (Template(s), "mu")}, {"bkg": Template(b)}, staterror=False, **kwargs)


def test_one_bin_expected_limit_matches_independent_asymptotic():
    pyhf_limits = upper_limit(counting_spec(10.0, 100.0))
    ccgv = asymptotic.expected_upper_limits([10.0], [100.0])
    assert np.allclose(pyhf_limits.expected, ccgv, rtol=0.02)
    assert 1.9 < ccgv[2] < 2.3  # ~ 1.96 sqrt(b)/s with Poisson corrections


def test_median_only_limit_equals_the_median_of_the_full_bands():
    """bands=False (the kappa_lambda scans) solves one curve: the same median, no bands."""
    spec = counting_spec([10.0, 4.0], [100.0, 30.0])
    full, median_only = upper_limit(spec), upper_limit(spec, bands=False)
    assert median_only.median == full.median
    assert np.isnan(median_only.expected[[0, 1, 3, 4]]).all() and np.isfinite(full.expected).all()


def test_one_bin_observed_limit_matches_independent_asymptotic():
    spec = counting_spec(10.0, 100.0, observed=[120.0])
    result = upper_limit(spec, observed=True)
    assert result.observed == pytest.approx(asymptotic.observed_upper_limit([120.0], [10.0], [100.0]), rel=0.02)
    assert result.observed > result.median  # an upward fluctuation weakens the limit


def test_asimov_q_reduces_to_s_squared_over_b_for_small_signal():
    assert asymptotic.q_asimov(1.0, [1.0], [1.0e4]) == pytest.approx(1.0e-4, rel=1e-3)


def test_limit_scales_like_inverse_sqrt_luminosity_when_background_dominated():
    s, b = np.array([2.0, 5.0, 2.0]), np.array([4000.0, 5000.0, 4000.0])
    base = upper_limit(counting_spec(s, b)).median
    tenfold = upper_limit(counting_spec(10 * s, 10 * b)).median
    assert tenfold / base == pytest.approx(1 / np.sqrt(10), rel=0.05)


def test_staterror_and_normsys_weaken_the_limit():
    plain = upper_limit(build_spec(EDGES, {"signal": (Template(SIG), "mu")}, {"qcd": Template(BKG)}, staterror=False))
    syst = upper_limit(build_spec(EDGES, {"signal": (Template(SIG, 0.01 * SIG), "mu")}, {"qcd": Template(BKG, 4 * BKG)},
                                  normsys={"qcd": {"qcd_norm": 0.1}}))
    assert syst.median > 1.05 * plain.median


def test_ensemble_nuisance_enters_workspace_and_widens_limit():
    rng = np.random.default_rng(7)
    ensemble = BKG * (1 + 0.1 * rng.normal(size=(40, 1)) + 0.03 * rng.normal(size=(40, 8)))
    signals, bkgs = {"signal": (Template(SIG), "mu")}, {"qcd": Template(BKG, BKG)}
    without = build_spec(EDGES, signals, bkgs)
    with_ens = build_spec(EDGES, signals, bkgs, ensembles={"qcd": ensemble})
    mods = [m for m in with_ens["channels"][0]["samples"][1]["modifiers"] if m["type"] == "histosys"]
    assert mods and all(m["name"].startswith("qcd_ensemble_") for m in mods)
    pyhf.schema.validate(with_ens, "workspace.json")
    assert upper_limit(with_ens).median > 1.02 * upper_limit(without).median


def test_pca_components_reproduce_ensemble_covariance():
    rng = np.random.default_rng(3)
    flat = np.full(8, 500.0)
    ensemble = flat * (1 + 0.05 * rng.normal(size=(500, 2)) @ np.vstack([np.ones(8), np.linspace(-1, 1, 8)]))
    shifts = [hi - flat for _, hi in ensemble_histosys(flat, ensemble, "pca")]
    rebuilt = sum(np.outer(d, d) for d in shifts)
    cov = np.cov(ensemble, rowvar=False)
    assert len(shifts) == 2  # two true sources of variation
    assert np.allclose(rebuilt, cov, atol=0.01 * np.abs(cov).max())


def test_zero_background_bin_is_a_clear_error():
    b = BKG.copy()
    b[5] = 0.0
    with pytest.raises(ConfigError, match=r"bin 5 \(m_hh in \[750, 850\) GeV\).*zero background"):
        build_spec(EDGES, {"signal": (Template(SIG), "mu")}, {"qcd": Template(b)}, label="cut_mindr m_H=500")


def test_toy_limits_are_reproducible_and_close_to_asymptotic():
    spec = counting_spec(10.0, 100.0)
    first = upper_limit(spec, toys=100, scan_points=6, seed=5)
    again = upper_limit(spec, toys=100, scan_points=6, seed=5)
    assert np.array_equal(first.expected, again.expected)
    assert first.median == pytest.approx(asymptotic.expected_upper_limits([10.0], [100.0])[2], rel=0.25)


TERMS = KappaTerms(a=SIG * 2.0, b=-1.2 * SIG * np.linspace(1.5, 0.5, 8), c=0.5 * SIG * np.linspace(1.5, 0.6, 8))


def brute_force_interval(terms, bkg, kappas, asimov_kappa=1.0):
    """Poisson -2 Delta ln L on a fine grid, no nuisance parameters, written with numpy only."""
    n = terms.yields(asimov_kappa) + bkg
    nu = np.array([terms.yields(k) + bkg for k in kappas])
    twice_nll = 2 * np.sum(nu - n * np.log(nu), axis=1)
    allowed = kappas[twice_nll - twice_nll.min() <= 3.841458820694124]
    return allowed.min(), allowed.max()


def test_kappa_profile_interval_agrees_with_brute_force_scan():
    interval = profile_scan(kappa_spec(EDGES, TERMS, {"qcd": Template(BKG)}, staterror=False),
                            np.arange(-10, 15.01, 0.5))
    lower, upper = brute_force_interval(TERMS, BKG, np.arange(-10, 15, 0.001))
    assert interval.lower == pytest.approx(lower, abs=0.01)
    assert interval.upper == pytest.approx(upper, abs=0.01)
    assert interval.lower < 1.0 < interval.upper


def test_kappa_interval_widens_with_background_mc_uncertainty():
    kappas = np.arange(-10, 15.01, 0.5)
    narrow = profile_scan(kappa_spec(EDGES, TERMS, {"qcd": Template(BKG)}, staterror=False), kappas)
    wide = profile_scan(kappa_spec(EDGES, TERMS, {"qcd": Template(BKG, 0.5 * BKG)}), kappas)
    assert wide.width > narrow.width


def test_allowed_interval_from_mu_limits_interpolates_crossings():
    kappas = np.arange(-4.0, 9.0, 1.0)
    mu95 = np.exp(1.0 - 0.1 * (kappas - 2.0) ** 2)  # log mu95 crosses 0 at 2 +- sqrt(10)
    interval = allowed_interval_from_mu(kappas, mu95)
    assert interval.lower == pytest.approx(2 - np.sqrt(10), abs=0.1)
    assert interval.upper == pytest.approx(2 + np.sqrt(10), abs=0.1)
