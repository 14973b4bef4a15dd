"""Independent asymptotic CLs upper limits for a counting model (no pyhf).

Formulas of Cowan, Cranmer, Gross & Vitells, Eur. Phys. J. C 71 (2011) 1554, arXiv:1007.1727.
The model is a product of Poisson terms n_i ~ Pois(mu s_i + b_i) with known b_i (no nuisance
parameters). For the test statistic q~_mu the asymptotic distributions depend on one number,
the Asimov value q_mu,A: the test statistic evaluated on the background-only Asimov data set
n_i = b_i (their Eq. 24 with mu' = 0):

    q_mu,A = 2 sum_i [ mu s_i - b_i ln(1 + mu s_i / b_i) ].

With sigma^2 = mu^2 / q_mu,A the distribution of sqrt(q_mu) under mu' = 0 is a unit Gaussian
centred at sqrt(q_mu,A) (their Eqs. 30-31). For the expected limit at N standard deviations
of the background-only distribution (N = 0 the median; N = +-1, +-2 the bands),

    CLs_N(mu) = [1 - Phi(sqrt(q_mu,A) - N)] / Phi(N)                (their Eq. 89 for N = 0)

and the limit is the mu where CLs_N(mu) = alpha. The observed q~_mu for data n follows their
Eqs. 16 and 65: p_mu = 1 - Phi(sqrt q~_mu) for q~_mu <= q_mu,A,
p_mu = 1 - Phi((q~_mu + q_mu,A) / (2 sqrt(q_mu,A))) otherwise; 1 - p_b = Phi(sqrt(q_mu,A) - sqrt(q~_mu))
in the first case and Phi((q_mu,A - q~_mu) / (2 sqrt(q_mu,A))) in the second.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq, minimize_scalar
from scipy.stats import norm

SIGMAS = (-2.0, -1.0, 0.0, 1.0, 2.0)


def _as_arrays(signal, background):
    s = np.atleast_1d(np.asarray(signal, dtype=float))
    b = np.atleast_1d(np.asarray(background, dtype=float))
    if s.shape != b.shape or np.any(b <= 0) or np.any(s < 0) or not np.any(s > 0):
        raise ValueError("counting model needs matching shapes, b > 0, s >= 0 and some s > 0")
    return s, b


def poisson_nll(mu, n, s, b) -> float:
    """-ln L(mu) up to an n-dependent constant: sum (mu s + b) - n ln(mu s + b)."""
    nu = mu * s + b
    return float(np.sum(nu - np.where(n > 0, n * np.log(nu), 0.0)))


def q_asimov(mu: float, signal, background) -> float:
    """q_mu,A on the background-only Asimov data set n = b."""
    s, b = _as_arrays(signal, background)
    return float(2.0 * np.sum(mu * s - b * np.log1p(mu * s / b)))


def cls_expected(mu: float, signal, background, n_sigma: float = 0.0) -> float:
    """Expected CLs at mu for the background-only quantile n_sigma (0 = median)."""
    sqrt_qa = np.sqrt(max(q_asimov(mu, signal, background), 0.0))
    return float(norm.sf(sqrt_qa - n_sigma) / norm.cdf(n_sigma))


def _mu_hat(n, s, b) -> float:
    """Maximum-likelihood mu, allowed negative down to where some mu s + b reaches zero."""
    lower = -np.min(b[s > 0] / s[s > 0]) * (1 - 1e-9)
    upper = max(10.0 * (np.sum(n) + 10.0) / np.sum(s), 1.0)
    return float(minimize_scalar(poisson_nll, bounds=(lower, upper), args=(n, s, b), method="bounded",
                                 options={"xatol": 1e-10}).x)


def q_tilde(mu: float, observed, signal, background) -> float:
    """q~_mu of CCGV Eq. (16) for observed counts."""
    s, b = _as_arrays(signal, background)
    n = np.atleast_1d(np.asarray(observed, dtype=float))
    mu_hat = _mu_hat(n, s, b)
    if mu_hat > mu:
        return 0.0
    reference = poisson_nll(max(mu_hat, 0.0), n, s, b)
    return max(2.0 * (poisson_nll(mu, n, s, b) - reference), 0.0)


def cls_observed(mu: float, observed, signal, background) -> float:
    """Observed CLs at mu with the asymptotic q~_mu distributions (CCGV Eqs. 65-66)."""
    qa = q_asimov(mu, signal, background)
    q = q_tilde(mu, observed, signal, background)
    sqrt_qa, sqrt_q = np.sqrt(qa), np.sqrt(q)
    if q <= qa:
        p_mu, one_minus_pb = norm.sf(sqrt_q), norm.cdf(sqrt_qa - sqrt_q)
    else:
        p_mu = norm.sf((q + qa) / (2 * sqrt_qa))
        one_minus_pb = norm.cdf((qa - q) / (2 * sqrt_qa))
    return float(p_mu / one_minus_pb)


def _solve(cls_fn, alpha: float, mu_scale: float) -> float:
    hi = mu_scale
    while cls_fn(hi) > alpha:
        hi *= 2.0
    return float(brentq(lambda m: cls_fn(m) - alpha, 1e-12 * mu_scale, hi, xtol=1e-12 * hi, rtol=1e-12))


def _scale(s, b) -> float:
    return float(np.sqrt(np.sum(b)) / np.sum(s))


def expected_upper_limits(signal, background, alpha: float = 0.05, sigmas=SIGMAS) -> np.ndarray:
    """Expected CLs upper limits on mu at the background-only quantiles `sigmas` (ascending limits)."""
    s, b = _as_arrays(signal, background)
    return np.array([_solve(lambda m, n=n: cls_expected(m, s, b, n), alpha, _scale(s, b)) for n in sigmas])


def observed_upper_limit(observed, signal, background, alpha: float = 0.05) -> float:
    """Observed CLs upper limit on mu for counts `observed`."""
    s, b = _as_arrays(signal, background)
    return _solve(lambda m: cls_observed(m, observed, s, b), alpha, _scale(s, b))
