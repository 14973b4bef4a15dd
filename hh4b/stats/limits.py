"""95% CL CLs upper limits on the signal strength mu with pyhf, and their conversion to fb.

The test statistic is q~_mu (signal strength bounded below by 0) with its asymptotic
distributions (Cowan, Cranmer, Gross, Vitells, arXiv:1007.1727), as in the paper's section V.B;
pseudo-experiments (`toys > 0`) are an option. Expected limits and their +-1, +-2 sigma bands are
computed on the pre-fit background-only Asimov data set (nuisance parameters at their nominal
values), so they are the projections the paper quotes; the observed limit uses the workspace's
observations when real or pseudo-data were given. A mu limit becomes a cross-section limit as
sigma_limit = mu_limit * sigma_assumed, where sigma_assumed is the cross section the signal
templates were normalised to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pyhf
from scipy.optimize import toms748

from hh4b.stats import asymptotic
from hh4b.stats.model import model_and_data, set_poi_bounds
from hh4b.stats.toys import toy_upper_limits

logging.getLogger("pyhf.optimize").setLevel(logging.CRITICAL)  # failed fits are retried or reported by hh4b

CL_ALPHA = 0.05  # 95% CL
BAND_SIGMAS = (-2, -1, 0, 1, 2)
MAX_BRACKET_DOUBLINGS = 12
LIMIT_RTOL = 1e-3  # relative precision of the asymptotic limits (root finding)
MINUIT_TOLERANCE = 0.1  # iminuit's EDM tolerance (pyhf's default)
# what a pyhf minimisation raises when it does not converge (AssertionError: pyhf's own check of
# the optimiser's success flag)
FIT_ERRORS = (pyhf.exceptions.FailedMinimization, AssertionError, np.linalg.LinAlgError)


@dataclass
class LimitResult:
    """Upper limits on mu: expected at (-2, -1, 0, +1, +2) sigma (ascending) and observed (or None)."""

    expected: np.ndarray
    observed: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def median(self) -> float:
        return float(self.expected[2])

    def scaled(self, factor: float) -> LimitResult:
        """The same limits in other units (e.g. times the signal cross section in fb)."""
        obs = None if self.observed is None else self.observed * factor
        return LimitResult(np.asarray(self.expected) * factor, obs, dict(self.extra))

    def as_dict(self) -> dict:
        names = ("expected_m2", "expected_m1", "expected", "expected_p1", "expected_p2")
        out = {n: float(v) for n, v in zip(names, self.expected)}
        out["observed"] = None if self.observed is None else float(self.observed)
        return out


def optimisers(spec: dict | None = None) -> list:
    """The pyhf optimisers to try in turn on `spec`: MINUIT then scipy's when it has nuisance
    parameters (or is not given), scipy's alone otherwise (see `use_backend`)."""
    scipy_opt = pyhf.optimize.scipy_optimizer()
    if spec is None or has_nuisances(spec):
        return [pyhf.optimize.minuit_optimizer(tolerance=MINUIT_TOLERANCE), scipy_opt]
    return [scipy_opt]


def with_fallback(spec: dict | None, fit):
    """fit() with each optimiser of `optimisers(spec)` in turn until one converges (the model is
    the same; only the minimiser changes); the last failure is raised. pyhf's own log of a failed
    minimisation is silenced: callers report failures themselves."""
    candidates = optimisers(spec)
    for i, optimiser in enumerate(candidates):
        pyhf.set_backend("numpy", optimiser)
        try:
            return fit()
        except FIT_ERRORS:
            if i == len(candidates) - 1:
                raise


def use_backend(spec: dict | None = None) -> None:
    """pyhf's numpy backend with the first of `optimisers(spec)`: MINUIT (iminuit, the one pyhf
    recommends) when `spec` has nuisance parameters (or is not given), scipy's otherwise.

    scipy's SLSQP stops with "Inequality constraints incompatible" on models whose staterror
    parameters are wide (a background with a few heavy-weight MC events); MINUIT converges on
    them at about the same cost (1.2x on a 6-bin model with staterror). pyhf's MINUIT interface
    fails on a fit with every parameter fixed (the conditional fit of a model whose only
    parameter is the POI), which scipy's handles. A fit costs ~10 ms at 8 bins with staterror but
    ~1 s at 40 bins, so the limits stage keeps the number of m_hh bins small (limits --max-bins).
    """
    pyhf.set_backend("numpy", optimisers(spec)[0])


def has_nuisances(spec: dict) -> bool:
    """Whether a workspace has modifiers other than normalisation factors (which are POIs or fixed here)."""
    return any(m["type"] != "normfactor" for c in spec["channels"] for s in c["samples"] for m in s["modifiers"])


def cls_values(mu: float, data, model, **hypotest_kwargs) -> np.ndarray:
    """(observed CLs, 5 expected CLs) at mu. Where the Asimov test statistic vanishes (a mu too
    small for the model to tell from zero) pyhf's asymptotic formulae divide 0 by 0: CLs is 1 there."""
    with np.errstate(divide="ignore", invalid="ignore"):
        obs, exp = pyhf.infer.hypotest(float(mu), data, model, test_stat="qtilde", return_expected_set=True,
                                       **hypotest_kwargs)
    return np.nan_to_num(np.array([float(obs), *(float(e) for e in exp)]), nan=1.0)


def _cls_curves(data, model, **hypotest_kwargs):
    """mu -> (observed CLs, 5 expected CLs) as floats, cached."""
    cache = {}

    def curves(mu: float) -> np.ndarray:
        key = float(mu)
        if key not in cache:
            cache[key] = cls_values(key, data, model, **hypotest_kwargs)
        return cache[key]

    return curves


def _solve_limits(data, model, hi: float, curves_wanted) -> list[float]:
    """Limits for the CLs curves `curves_wanted` (0 observed, 1-5 expected -2..+2 sigma): toms748
    root of CLs(mu) - alpha in (0, hi]."""
    curves = _cls_curves(data, model)
    roots = []
    for k in curves_wanted:
        lo = LIMIT_RTOL * hi
        while curves(lo)[k] < CL_ALPHA and lo > 1e-9 * hi:
            lo /= 10.0
        roots.append(float(toms748(lambda mu, k=k: curves(mu)[k] - CL_ALPHA, lo, hi, rtol=LIMIT_RTOL)))
    return roots


def asimov_background(model) -> np.ndarray:
    """Pre-fit background-only Asimov data (main + auxiliary) of a pyhf model."""
    pars = np.asarray(model.config.suggested_init(), dtype=float)
    pars[model.config.poi_index] = 0.0
    return np.asarray(model.expected_data(pars))


def _counting_guess(model) -> float:
    """A first bracket for the limit: the no-systematics +2 sigma expected limit, times 3."""
    pars = np.asarray(model.config.suggested_init(), dtype=float)
    pars[model.config.poi_index] = 0.0
    b = np.asarray(model.expected_actualdata(pars))
    pars[model.config.poi_index] = 1.0
    s = np.clip(np.asarray(model.expected_actualdata(pars)) - b, 0.0, None)
    if not np.any(s > 0):
        raise ValueError("the signal predicts no events at mu = 1")
    keep = b > 0
    return 3.0 * float(asymptotic.expected_upper_limits(s[keep], b[keep])[-1])


def _bracket(spec: dict, targets, guess: float, **hypotest_kwargs) -> float:
    """An upper POI bound where every wanted CLs is below alpha: the POI bounds are widened until
    the limits lie inside them. targets: [(data, indices into (observed, 5 expected) CLs)]."""
    hi = guess
    for _ in range(MAX_BRACKET_DOUBLINGS):
        model, _ = model_and_data(set_poi_bounds(spec, poi_bounds(hi)))
        cls = [cls_values(hi, data, model, **hypotest_kwargs)[list(wanted)] for data, wanted in targets]
        if max(c.max() for c in cls) < CL_ALPHA:
            return hi
        hi *= 2.0
    raise ValueError(f"could not bracket the CLs limit below mu = {hi:g}")


def upper_limit(spec: dict, *, observed: bool = False, toys: int = 0, seed: int = 0,
                scan_points: int = 31, bands: bool = True) -> LimitResult:
    """Expected (and observed if `observed`) 95% CL CLs upper limits on the POI of `spec`; the
    result's extra["poi_bounds"] are the POI bounds the fits used (`poi_bounds`).

    bands=False brackets and solves only the median expected limit (the +-1, 2 sigma entries are
    NaN): the same median, a fifth of the root finding (asymptotic only).

    Asymptotic q~_mu by default (pyhf.infer.hypotest, toms748 root finding to LIMIT_RTOL); with `toys` > 0, pseudo-
    experiments (see toys.py) on a grid of `scan_points` POI values spanning the asymptotic bands
    (half the -2 sigma to 1.5 times the +2 sigma limit), seeded with `seed`.
    """
    return with_fallback(spec, lambda: _upper_limit(spec, observed, toys, seed, scan_points, bands))


def _upper_limit(spec: dict, observed: bool, toys: int, seed: int, scan_points: int, bands: bool) -> LimitResult:
    model, data = model_and_data(spec)
    asimov = asimov_background(model)
    expected_curves = range(1, 6) if bands or toys > 0 else [3]
    targets = [(asimov, expected_curves)] + ([(np.asarray(data), [0])] if observed else [])
    hi = _bracket(spec, targets, _counting_guess(model))
    model, _ = model_and_data(set_poi_bounds(spec, poi_bounds(hi)))
    if bands or toys > 0:
        expected = np.sort(_solve_limits(asimov, model, hi, expected_curves))
    else:
        expected = np.full(5, np.nan)
        expected[2] = _solve_limits(asimov, model, hi, expected_curves)[0]
    obs = _solve_limits(np.asarray(data), model, hi, [0])[0] if observed else None
    if toys > 0:
        grid = np.linspace(0.5 * expected[0], 1.5 * max(expected[-1], obs or 0.0), scan_points)
        expected = np.sort(toy_upper_limits(asimov, model, grid, int(toys), seed)[1])
        obs = toy_upper_limits(np.asarray(data), model, grid, int(toys), seed)[0] if observed else None
    return LimitResult(expected, obs, {"calctype": "toybased" if toys else "asymptotics", "toys": int(toys),
                                       "poi_bounds": poi_bounds(hi)})


def poi_bounds(bracket: float) -> tuple[float, float]:
    """POI bounds of the fits around a bracketing mu: [0, 2 x bracket], so that every limit and
    band lies inside them (a workspace saved with them refits in plain pyhf as it is)."""
    return 0.0, 2.0 * float(bracket)
