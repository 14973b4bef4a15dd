"""Projections: integrated luminosity, the 13 -> 14 TeV cross-section factor, equivalent luminosity.

Histograms are in events at the processor's lumi_fb; a projection to L multiplies every yield by
L / lumi_fb (MC statistical variances by its square: the simulated sample does not grow).
The paper (sections V.B, VI.B) scales 13 TeV samples to 14 TeV by the ratio of cross sections,
the kinematics being similar; for gg -> hh the LO ratio sigma_14/sigma_13 at kappa_lambda = 1
comes from constants.GGHH_LO_XSEC_FB (19.8 / 16.7 = 1.186, docs/generation.md) or, for other
energies, from `hh4b.theory.xsec.sigma_gghh` when that module is present. Backgrounds are not
rescaled (factor 1): no LO ratio is computed for them here, and this is stated in the report.
The "equivalent luminosity" (notes Table 28) is the luminosity at which method B reaches the
figure of merit (kappa_lambda interval width, or limit) that method A has at its luminosity.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq

from hh4b.constants import GGHH_LO_KL_RATIO_COEFFS, GGHH_LO_XSEC_FB, LUMI_PROJECTIONS_FB
from hh4b.errors import ConfigError

__all__ = ["LUMI_PROJECTIONS_FB", "lumi_factor", "sqrt_s_factor", "sigma_hh_ratio", "equivalent_luminosity"]


def lumi_factor(target_fb: float, source_fb: float) -> float:
    """Yield scale factor from the histograms' luminosity to `target_fb`."""
    if not (target_fb > 0 and source_fb > 0):
        raise ConfigError(f"luminosities must be positive (got --lumi {target_fb}, output lumi_fb {source_fb})")
    return float(target_fb) / float(source_fb)


def _sigma_sm_fb(sqrt_s: float) -> float:
    if float(sqrt_s) in GGHH_LO_XSEC_FB:
        return GGHH_LO_XSEC_FB[float(sqrt_s)]
    try:
        from hh4b.theory.xsec import sigma_gghh
    except ImportError as err:
        raise ConfigError(f"no LO gg -> hh cross section for sqrt(s) = {sqrt_s:g} GeV: known "
                          f"{sorted(GGHH_LO_XSEC_FB)}, and hh4b.theory.xsec is not available") from err
    return float(sigma_gghh(1.0, sqrt_s=float(sqrt_s)))


def sqrt_s_factor(source: float, target: float) -> float:
    """sigma_LO(gg -> hh, target) / sigma_LO(gg -> hh, source) at kappa_lambda = 1."""
    if math.isclose(source, target):
        return 1.0
    return _sigma_sm_fb(target) / _sigma_sm_fb(source)


def sigma_hh_ratio(kappa_lambda) -> np.ndarray:
    """sigma(gg -> hh; k) / sigma(k = 1) at LO (constants.GGHH_LO_KL_RATIO_COEFFS)."""
    a, b, c = GGHH_LO_KL_RATIO_COEFFS
    k = np.asarray(kappa_lambda, dtype=float)
    return a + b * k + c * k * k


def equivalent_luminosity(metric: Callable[[float], float], target: float, lumi_range=(10.0, 1.0e5)) -> float:
    """Luminosity L where the decreasing figure of merit `metric(L)` equals `target` (log-L root finding).

    Returns inf when even the largest luminosity of `lumi_range` does not reach the target.
    """
    lo, hi = np.log(lumi_range[0]), np.log(lumi_range[1])

    def gap(log_l):
        return metric(float(np.exp(log_l))) - target

    if gap(hi) > 0:
        return float("inf")
    if gap(lo) < 0:
        return float(lumi_range[0])
    return float(np.exp(brentq(gap, lo, hi, xtol=1e-3)))
