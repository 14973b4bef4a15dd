"""A smooth background m_hh template from a fit to the weighted MC histogram.

Where the multijet MC is scarce, its binned template is a few heavy events per bin, and the
per-bin MC uncertainties (staterror, one free parameter per bin) dominate every fit. A smooth
density fitted to the whole m_hh histogram pools the MC of all bins into a few parameters:

    f(m) = exp(sum_k c_k L^k),  L = ln(m / m_ref),  k = 0 .. degree,

integrated over each bin (Gauss-Legendre). The fit maximises the Poisson likelihood of the
weighted histogram in units of the sample's mean event weight s = sum w^2 / sum w, i.e. of
its Kish-effective counts: -ln L = sum_i (mu_i - y_i ln mu_i) / s. With the normalisation free
the fitted total equals the MC's, and a bin's weight in the fit does not depend on whether one
of the sample's rare heavy events happened to land in it (a chi^2 with each bin's own sum w^2
would pull the density under the bins that got one). The parameters' covariance is the
sandwich H^-1 G H^-1 of that likelihood, with G = sum_i v_i d mu_i d mu_i^T / mu_i^2 from each
bin's sum of squared weights v_i, so the heavy events' spread is what the fit's uncertainty
carries. The range starts at the first bin with MC (below it the template is 0, as the MC says)
and runs to the histogram's end, so empty bins in the tail pull the density down.

The degree starts at SMOOTH_MIN_DEGREE and rises while one more term improves 2 Delta ln L by
more than SMOOTH_DEGREE_CHI2 (a likelihood-ratio test at 95%), up to SMOOTH_MAX_DEGREE. The
fit's MC statistical uncertainty enters the pyhf model as one shape nuisance per eigenvector of
the parameters' covariance (the template at c +- sqrt(lambda_k) u_k); the choice of function as
one more: the template of the next degree (symmetrised). The goodness of fit (chi^2 of the
populated bins, its p-value) is reported, so a user sees when the density does not describe
the MC.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.stats import chi2

from hh4b.constants import SMOOTH_DEGREE_CHI2, SMOOTH_MAX_DEGREE, SMOOTH_MIN_DEGREE
from hh4b.errors import ConfigError
from hh4b.stats.model import Template

GAUSS_POINTS = 8
MU_FLOOR = 1e-9  # relative to the largest bin: keeps the covariance finite where the density vanishes


@dataclass(frozen=True)
class SmoothFit:
    """The fitted density on a histogram's bins: parameters, covariance and fit quality."""

    edges: np.ndarray
    first_bin: int  # bins below it are 0
    m_ref: float
    params: np.ndarray
    covariance: np.ndarray
    chi2: float
    ndf: int
    alternative: np.ndarray | None = None  # parameters of the next degree (function-choice uncertainty)

    @property
    def degree(self) -> int:
        return self.params.size - 1

    @property
    def p_value(self) -> float:
        return float(chi2.sf(self.chi2, self.ndf)) if self.ndf > 0 else float("nan")

    def yields(self, params=None) -> np.ndarray:
        """Per-bin integrals of the density with `params` (default: the fit's)."""
        params = self.params if params is None else np.asarray(params, float)
        out = np.zeros(self.edges.size - 1)
        out[self.first_bin:] = _integrals(self.edges[self.first_bin:], params, self.m_ref)[0]
        return out

    def variances(self) -> np.ndarray:
        """Per-bin variance of the template from the parameters' covariance (linearised)."""
        jac = np.zeros((self.edges.size - 1, self.params.size))
        jac[self.first_bin:] = _integrals(self.edges[self.first_bin:], self.params, self.m_ref)[1]
        return np.einsum("ik,kl,il->i", jac, self.covariance, jac)

    def shape_variations(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(lo, hi) templates: one per eigenvector of the covariance, then the function choice."""
        eigval, eigvec = np.linalg.eigh(self.covariance)
        out = []
        for lam, u in zip(eigval[::-1], eigvec[:, ::-1].T):
            if lam > 0:
                shift = np.sqrt(lam) * u
                out.append((self.yields(self.params - shift), self.yields(self.params + shift)))
        if self.alternative is not None:
            nominal, alt = self.yields(), self.yields(self.alternative)
            out.append((np.clip(2 * nominal - alt, 0.0, None), alt))
        return out

    def as_dict(self) -> dict:
        return {"degree": self.degree, "m_ref": self.m_ref, "fit_low": float(self.edges[self.first_bin]),
                "chi2": self.chi2, "ndf": self.ndf, "p_value": self.p_value}


def _nodes(edges):
    x, w = np.polynomial.legendre.leggauss(GAUSS_POINTS)
    lo, hi = edges[:-1, None], edges[1:, None]
    return 0.5 * (hi - lo) * x[None, :] + 0.5 * (hi + lo), 0.5 * (hi - lo) * w[None, :]


def _powers(m, m_ref, degree):
    return np.log(m / m_ref)[..., None] ** np.arange(degree + 1)


def _integrals(edges, params, m_ref):
    """(per-bin integrals of the density, their derivatives by the parameters (bins, params))."""
    m, w = _nodes(edges)
    powers = _powers(m, m_ref, params.size - 1)
    wf = w * np.exp(np.clip(powers @ params, -700.0, 700.0))
    return wf.sum(axis=1), np.einsum("bn,bnk->bk", wf, powers)


def _fit_degree(edges, y, s, m_ref, degree, start=None):
    def nll_and_grad(c):
        mu, jac = _integrals(edges, c, m_ref)
        mu = np.clip(mu, 1e-300, None)
        return float(np.sum((mu - y * np.log(mu)) / s)), ((1.0 - y / mu) / s) @ jac

    if start is None:
        width = np.diff(edges)
        start = np.zeros(degree + 1)
        start[0] = np.log(max(y.sum() / width.sum(), 1e-300))
    else:
        start = np.concatenate([start, np.zeros(degree + 1 - start.size)])
    result = minimize(nll_and_grad, start, jac=True, method="BFGS", options={"gtol": 1e-8, "maxiter": 2000})
    return result.x, float(result.fun)


def _sandwich(edges, y, v, params, m_ref):
    """H^-1 G H^-1 of the weighted Poisson likelihood (module docstring)."""
    mu, jac = _integrals(edges, params, m_ref)
    mu = np.maximum(mu, MU_FLOOR * mu.max())  # bins the density leaves empty: no 1/mu^2 overflow
    hinv = np.linalg.pinv(jac.T @ (jac / mu[:, None]))
    return hinv @ (jac.T @ (jac * (v / mu**2)[:, None])) @ hinv


def fit_smooth(edges, yields, variances, *, min_degree: int = SMOOTH_MIN_DEGREE,
               max_degree: int = SMOOTH_MAX_DEGREE, degree_chi2: float = SMOOTH_DEGREE_CHI2,
               label: str = "") -> SmoothFit:
    """The smooth density fitted to a weighted m_hh histogram (module docstring); ConfigError
    naming `label` when the histogram has too few populated bins for the lowest degree."""
    edges = np.asarray(edges, float)
    y, v = np.asarray(yields, float), np.asarray(variances, float)
    populated = np.flatnonzero(y > 0)
    where = f" ({label})" if label else ""
    if populated.size < min_degree + 2:
        raise ConfigError(f"smoothed background{where}: {populated.size} populated m_hh bins, at least "
                          f"{min_degree + 2} are needed for a degree-{min_degree} fit (more MC is needed)")
    first = int(populated[0])
    e, y, v = edges[first:], y[first:], v[first:]
    s = float(np.clip(v, 0.0, None).sum() / y.sum())
    if not s > 0:
        raise ConfigError(f"smoothed background{where}: the MC histogram has no sum of squared weights")
    centres = 0.5 * (e[:-1] + e[1:])
    m_ref = float(np.sum(centres * y) / y.sum())
    fits = {min_degree: _fit_degree(e, y, s, m_ref, min_degree)}
    degree = min_degree
    while degree < max_degree:
        nxt = _fit_degree(e, y, s, m_ref, degree + 1, start=fits[degree][0])
        fits[degree + 1] = nxt
        if 2.0 * (fits[degree][1] - nxt[1]) <= degree_chi2:
            break
        degree += 1
    c = fits[degree][0]
    covariance = _sandwich(e, y, v, c, m_ref)
    if not np.all(np.isfinite(covariance)):
        raise ConfigError(f"smoothed background{where}: the degree-{degree} fit has no finite covariance")
    alternative = fits.get(degree + 1) or _fit_degree(e, y, s, m_ref, degree + 1, start=c)
    mu = _integrals(e, c, m_ref)[0]
    filled = (y > 0) & (v > 0)
    chi2_value = float(np.sum((y[filled] - mu[filled]) ** 2 / v[filled]))
    return SmoothFit(edges, first, m_ref, c, covariance, chi2_value,
                     int(filled.sum() - c.size), alternative[0])


def smoothed_template(edges, template: Template, name: str, label: str = "") -> tuple[Template, SmoothFit]:
    """`template` replaced by its smooth fit: yields, linearised per-bin variances (reported) and
    the fit's shape nuisances `<name>_smooth_<k>` and `<name>_smooth_function`."""
    fit = fit_smooth(edges, template.yields, template.variances, label=label)
    variations = fit.shape_variations()
    names = [f"{name}_smooth_{k}" for k in range(len(variations) - 1)] + [f"{name}_smooth_function"]
    shapes = tuple((n, lo, hi) for n, (lo, hi) in zip(names, variations))
    return Template(fit.yields(), fit.variances(), shapes), fit
