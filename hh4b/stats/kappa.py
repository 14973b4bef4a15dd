"""Non-resonant kappa_lambda constraints (paper section VI.B, Table VI; notes section 15).

At leading order the gg -> hh amplitude is linear in kappa_lambda, so every signal-region bin's
yield is quadratic: s_i(k) = a_i + b_i k + c_i k^2, with (a, b, c) the processor's
`mhh_kl_terms` histograms (docs/formats.md section 3).

(a) mu as POI: at each k the signal template s(k) gets a free strength mu and its 95% CL CLs
    upper limit mu_95(k) is computed (limits.py). The cross-section limit is
    sigma_95(k) = mu_95(k) sigma(k); k is excluded where the prediction is above the limit,
    i.e. where mu_95(k) < 1. The allowed interval is the contiguous region with mu_95 >= 1
    around the least-constrained k; its ends are interpolated in log mu_95.
(b) kappa_lambda as POI: the signal enters the pyhf model as three samples (a, b, c) with
    normalisation factors `kl_one` = 1, `kl_lin` = k and `kl_sq` = k^2, all held fixed at a
    given k while every nuisance parameter is profiled with pyhf (`pyhf.infer.mle.fit` with
    fixed_params). This keeps the background model (staterror, normsys, histosys) identical to
    the mu fits. -2 Delta ln L(k) = twice_nll(k) - min_k twice_nll; the 95% interval is where it
    is below 3.84 (chi^2, 1 dof); lower/upper are the outermost crossings (values beyond them are
    excluded), found by root finding between scan points.
Signal MC statistical uncertainties are not included in the kappa models (the three term
templates come from the same events, so their per-bin covariance is not in the histograms); the
backgrounds' are, as in the mu fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyhf
from scipy.optimize import brentq, minimize_scalar
from scipy.stats import chi2
from tqdm.auto import tqdm

from hh4b.constants import KAPPA_LAMBDA_RANGE
from hh4b.stats.limits import use_backend, with_fallback
from hh4b.stats.model import MU_BOUNDS, Template, build_spec, model_and_data

CHI2_95_1DOF = float(chi2.ppf(0.95, 1))  # 3.841


def kappa_grid(step: float, bounds=KAPPA_LAMBDA_RANGE) -> np.ndarray:
    """kappa_lambda values spaced by `step` over `bounds` (default constants.KAPPA_LAMBDA_RANGE, paper section II.A)."""
    lo, hi = bounds
    return np.round(np.arange(lo, hi + 1e-9, step), 6)


KAPPA_SCAN = kappa_grid(0.25)
KL_FACTOR_BOUNDS = {"kl_one": (0.0, 2.0), "kl_lin": (-100.0, 100.0), "kl_sq": (0.0, 1.0e4)}


@dataclass(frozen=True)
class KappaTerms:
    """Per-bin coefficients of s(k) = a + b k + c k^2 (events at the analysis luminosity)."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray

    def yields(self, k: float) -> np.ndarray:
        return np.asarray(self.a) + np.asarray(self.b) * k + np.asarray(self.c) * k * k

    def scaled(self, factor: float) -> KappaTerms:
        return KappaTerms(np.asarray(self.a) * factor, np.asarray(self.b) * factor, np.asarray(self.c) * factor)


@dataclass
class Interval:
    """A 95% CL kappa_lambda interval (lower, upper; width = upper - lower) and the scan behind it."""

    lower: float
    upper: float
    kappas: np.ndarray
    values: np.ndarray  # mu_95(k) for (a), -2 Delta ln L(k) for (b)
    best: float | None = None

    @property
    def width(self) -> float:
        return float(self.upper - self.lower)

    def as_dict(self) -> dict:
        return {"lower": float(self.lower), "upper": float(self.upper), "width": self.width,
                "best": None if self.best is None else float(self.best)}


# --- (a) mu as POI --------------------------------------------------------------------------
def _log_crossing(k0, k1, m0, m1) -> float:
    """k where log mu_95 crosses 0 between (k0, m0) and (k1, m1)."""
    l0, l1 = np.log(m0), np.log(m1)
    return float(k0 + (k1 - k0) * l0 / (l0 - l1))


def allowed_interval_from_mu(kappas, mu95) -> Interval:
    """The contiguous k region with mu_95(k) >= 1 around the largest mu_95 (not excluded)."""
    kappas, mu95 = np.asarray(kappas, dtype=float), np.asarray(mu95, dtype=float)
    centre = int(np.argmax(mu95))
    if mu95[centre] < 1.0:
        return Interval(np.nan, np.nan, kappas, mu95)
    lo = centre
    while lo > 0 and mu95[lo - 1] >= 1.0:
        lo -= 1
    hi = centre
    while hi < kappas.size - 1 and mu95[hi + 1] >= 1.0:
        hi += 1
    lower = -np.inf if lo == 0 else _log_crossing(kappas[lo - 1], kappas[lo], mu95[lo - 1], mu95[lo])
    upper = np.inf if hi == kappas.size - 1 else _log_crossing(kappas[hi], kappas[hi + 1], mu95[hi], mu95[hi + 1])
    return Interval(lower, upper, kappas, mu95)


# --- (b) kappa_lambda as POI ------------------------------------------------------------------
def kappa_spec(edges, terms: KappaTerms, backgrounds: dict[str, Template], *, observed=None,
               asimov_kappa: float = 1.0, mu_bounds: tuple[float, float] = MU_BOUNDS, **spec_kwargs) -> dict:
    """Workspace with the signal as three samples (a, b, c) scaled by kl_one, kl_lin = k, kl_sq = k^2
    (held fixed, at k = 1 as saved) and by one signal strength `mu`, the POI, with `mu_bounds`.

    The profile scan fixes mu = 1 and sets k; as saved, the workspace is the SM signal with a
    free strength, so plain pyhf gives its upper limit on mu. observed: data counts; default the
    Asimov data set at kappa_lambda = asimov_kappa (expected).
    """
    if observed is None:
        observed = terms.yields(asimov_kappa) + np.sum([t.yields for t in backgrounds.values()], axis=0)
    signals = {"signal_a": (Template(np.asarray(terms.a)), ("kl_one", "mu")),
               "signal_b": (Template(np.asarray(terms.b)), ("kl_lin", "mu")),
               "signal_c": (Template(np.asarray(terms.c)), ("kl_sq", "mu"))}
    parameters = [{"name": n, "bounds": [list(b)], "inits": [1.0], "fixed": True} for n, b in KL_FACTOR_BOUNDS.items()]
    parameters.append({"name": "mu", "bounds": [[float(mu_bounds[0]), float(mu_bounds[1])]], "inits": [1.0]})
    return build_spec(edges, signals, backgrounds, observed=observed, signal_staterror=False,
                      parameters=parameters, poi="mu", **spec_kwargs)


class ProfileLikelihood:
    """twice_nll(k) of a kappa workspace with mu = 1 and all nuisance parameters profiled."""

    def __init__(self, spec: dict):
        use_backend(spec)
        self.spec = spec
        self.model, self.data = model_and_data(spec)
        self.index = {n: self.model.config.par_slice(n).start for n in ("kl_one", "kl_lin", "kl_sq", "mu")}
        self.fixed = list(self.model.config.suggested_fixed())
        for i in self.index.values():
            self.fixed[i] = True
        self.free = not all(self.fixed)

    def __call__(self, k: float) -> float:
        pars = np.asarray(self.model.config.suggested_init(), dtype=float)
        pars[self.index["kl_one"]], pars[self.index["kl_lin"]], pars[self.index["kl_sq"]] = 1.0, k, k * k
        pars[self.index["mu"]] = 1.0
        if not self.free:
            return float(-2.0 * self.model.logpdf(pyhf.tensorlib.astensor(pars), self.data)[0])
        _, twice_nll = with_fallback(self.spec, lambda: pyhf.infer.mle.fit(
            self.data, self.model, init_pars=list(pars), fixed_params=self.fixed, return_fitted_val=True))
        return float(twice_nll)


def profile_scan(spec: dict, kappas=KAPPA_SCAN, threshold: float = CHI2_95_1DOF) -> Interval:
    """-2 Delta ln L scan in kappa_lambda and its interval at `threshold` (3.84: 95% CL)."""
    nll = ProfileLikelihood(spec)
    kappas = np.asarray(kappas, dtype=float)
    values = np.array([nll(k) for k in tqdm(kappas, desc="kappa_lambda profile scan", leave=False)])
    i = int(np.argmin(values))
    lo_k, hi_k = kappas[max(i - 1, 0)], kappas[min(i + 1, kappas.size - 1)]
    best = minimize_scalar(nll, bounds=(lo_k, hi_k), method="bounded", options={"xatol": 1e-5})
    best_k, minimum = (float(best.x), float(best.fun)) if best.fun < values[i] else (float(kappas[i]), float(values[i]))
    delta = values - minimum

    def excess(k):
        return nll(k) - minimum - threshold

    inside = np.flatnonzero(delta <= threshold)
    first, last = int(inside[0]), int(inside[-1])
    lower = brentq(excess, kappas[first - 1], kappas[first], xtol=1e-6) if first > 0 else -np.inf
    upper = brentq(excess, kappas[last], kappas[last + 1], xtol=1e-6) if last < kappas.size - 1 else np.inf
    return Interval(float(lower), float(upper), kappas, delta, best=best_k)
