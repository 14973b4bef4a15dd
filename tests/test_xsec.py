"""Parton densities, alpha_s and the LO gg -> hh cross section (`hh4b xsec`) against the references."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hh4b import cli, constants
from hh4b.theory import xsec
from hh4b.theory.pdf import PartonDensity, parton_density

SIGMA_SM_13 = 16.7  # fb, docs/generation.md
SIGMA_SM_14 = 19.8


@pytest.fixture(scope="module")
def pdf() -> PartonDensity:
    return parton_density()


@pytest.mark.parametrize("pid", [21, 2, 1, -2, 5])
def test_pdf_grid_matches_pythia(pdf, pid):
    rng = np.random.default_rng(pid + 100)
    x = 10 ** rng.uniform(-5, np.log10(0.5), 300)
    q2 = 10 ** rng.uniform(np.log10(30.0), 7, 300)
    exact = np.array([pdf.xfx_exact(pid, xi, qi) for xi, qi in zip(x, q2)])
    assert np.all(np.abs(pdf.xfx(pid, x, q2) - exact) < 2e-3 * np.maximum(np.abs(exact), 0.01))


def test_pdf_shapes_and_flavours(pdf):
    x, q2 = np.array([1e-3, 0.1, 0.5]), np.full(3, 1e4)
    gluon, up, upbar = pdf.xfx(21, x, q2), pdf.xfx(2, x, q2), pdf.xfx(-2, x, q2)
    assert gluon[0] > gluon[1] > gluon[2] > 0  # gluons dominate at small x
    assert up[1] > upbar[1] and up[2] > 5 * upbar[2]  # valence
    assert abs(pdf.xfx(5, 0.01, 10.0)) < 1e-6 < pdf.xfx(5, 0.01, 100.0)  # b only above m_b
    assert pdf.xfx(0, x, q2) == pytest.approx(gluon)  # 0 means gluon
    assert pdf.xfx(21, 1.0, 100.0) == 0.0


def test_alpha_s_two_loop(pdf):
    assert pdf.alpha_s(constants.M_Z**2) == pytest.approx(constants.ALPHA_S_MZ, abs=1e-5)
    q2 = np.geomspace(4.0, 1e7, 50)
    values = pdf.alpha_s(q2)
    assert np.all(np.diff(values) < 0)  # asymptotic freedom
    exact = np.array([pdf._alpha_s.exact(q) for q in q2])
    np.testing.assert_allclose(values, exact, rtol=1e-5)


@pytest.fixture(scope="module")
def coefficients_13():
    return xsec.sigma_coefficients(13000.0)


def test_sigma_sm_13tev(coefficients_13):
    a, b, c = coefficients_13
    assert a + b + c == pytest.approx(SIGMA_SM_13, rel=0.03)
    assert xsec.sigma_gghh(1.0) == pytest.approx(a + b + c, rel=1e-12)


@pytest.mark.parametrize("kappa", [-5.0, 0.0, 2.0, 5.0, 10.0])
def test_sigma_ratio_table(coefficients_13, kappa):
    a, b, c = coefficients_13
    ratio = (a + b * kappa + c * kappa**2) / (a + b + c)
    assert ratio == pytest.approx(xsec.REFERENCE_RATIOS_13TEV[kappa], rel=0.03)


def test_sigma_minimum(coefficients_13):
    a, b, c = coefficients_13
    k_min = -b / (2 * c)
    assert k_min == pytest.approx(2.43, abs=0.05)
    assert (a - b**2 / (4 * c)) / (a + b + c) == pytest.approx(0.42, rel=0.03)


def test_sigma_14tev_and_ratio():
    assert xsec.sigma_gghh(1.0, 14000.0) == pytest.approx(SIGMA_SM_14, rel=0.03)
    assert xsec.xsec_ratio_14_13() == pytest.approx(SIGMA_SM_14 / SIGMA_SM_13, rel=0.01)


def test_scale_choice_matters():
    # a lower scale raises alpha_s: sigma must react (the options are wired through)
    assert xsec.sigma_gghh(1.0, scale_factor=0.5) > 1.1 * xsec.sigma_gghh(1.0)


def test_cli_prints_sigma_and_table(capsys):
    assert cli.main(["xsec", "--kappa-lambda", "1", "--sqrt-s", "13000", "--table"]) == 0
    out = capsys.readouterr().out
    sigma = float(re.search(r"\) = ([0-9.]+) fb", out).group(1))
    assert sigma == pytest.approx(SIGMA_SM_13, rel=0.03)
    assert "sigma/sigma(1)" in out and len(out.splitlines()) >= 3 + len(xsec.TABLE_KAPPAS)


def test_cli_rejects_bad_options(capsys):
    assert cli.main(["xsec", "--sqrt-s", "100"]) == 2
    err = capsys.readouterr().err
    assert "--sqrt-s" in err and len(err.strip().splitlines()) == 1


def test_unknown_pdf_set_is_a_config_error(capsys):
    assert cli.main(["xsec", "--pdf-set", "999"]) == 2
    assert "--pdf-set" in capsys.readouterr().err
