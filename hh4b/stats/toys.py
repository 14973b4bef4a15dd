"""CLs from pseudo-experiments (toys) with pyhf's ToyCalculator, for `limits --toys N`.

pyhf 0.7.6's own toy-based expected p-values call numpy.percentile(interpolation=...), which
numpy 2 removed; this module therefore takes pyhf's sampled test-statistic distributions of
q~_mu under signal+background and background-only and forms the CLs values itself:
CLs(t) = P_sb(q >= t) / P_b(q >= t); the expected CLs at N sigma is the quantile of CLs over
the background-only toys (the same construction as pyhf's). The limit at each CLs curve is the
first crossing of 0.05 on a POI grid, interpolated linearly in log CLs. Toys are drawn from numpy's global
generator, seeded here, so a given seed gives identical limits.
"""

from __future__ import annotations

import numpy as np
import pyhf
from scipy.stats import norm
from tqdm.auto import tqdm

BAND_SIGMAS = (-2, -1, 0, 1, 2)


def _tail(samples: np.ndarray, values: np.ndarray) -> np.ndarray:
    """P(q >= value) for each value from the empirical distribution `samples`."""
    ordered = np.sort(samples)
    return (ordered.size - np.searchsorted(ordered, values, side="left")) / ordered.size


def cls_at(mu: float, data, model, ntoys: int) -> tuple[float, np.ndarray]:
    """(observed CLs, expected CLs at BAND_SIGMAS) at POI value mu from `ntoys` pseudo-experiments."""
    calc = pyhf.infer.calculators.ToyCalculator(data, model, test_stat="qtilde", ntoys=ntoys, track_progress=False)
    sb, b = calc.distributions(mu)
    sb_samples, b_samples = np.asarray(sb.samples, dtype=float), np.asarray(b.samples, dtype=float)
    t_obs = float(calc.teststatistic(mu))
    p_b_all = np.clip(_tail(b_samples, b_samples), 1.0 / b_samples.size, None)
    cls_all = _tail(sb_samples, b_samples) / p_b_all
    observed = float(_tail(sb_samples, np.array([t_obs]))[0] / max(_tail(b_samples, np.array([t_obs]))[0],
                                                                   1.0 / b_samples.size))
    # large q (signal-excluding) <-> small CLs: the +N sigma (weaker) limit uses the lower-q quantile
    expected = np.quantile(cls_all, norm.cdf(np.asarray(BAND_SIGMAS, dtype=float)))
    return observed, expected


def _crossing(grid: np.ndarray, cls: np.ndarray, alpha: float) -> float:
    below = np.flatnonzero(cls < alpha)
    if below.size == 0:
        return float("nan")
    i = int(below[0])
    if i == 0:
        return float(grid[0])
    log_cls = np.log(np.clip(cls[[i, i - 1]], 1e-12, None))
    return float(np.interp(np.log(alpha), log_cls, [grid[i], grid[i - 1]]))


def toy_upper_limits(data, model, grid: np.ndarray, ntoys: int, seed: int, alpha: float = 0.05):
    """(observed limit, expected limits ascending) from toys on the POI grid."""
    np.random.seed(seed)
    obs, exp = [], []
    for mu in tqdm(grid, desc=f"toys ({ntoys} per point)", leave=False):
        o, e = cls_at(float(mu), data, model, ntoys)
        obs.append(o)
        exp.append(e)
    obs, exp = np.asarray(obs), np.asarray(exp)
    expected = np.sort([_crossing(grid, exp[:, k], alpha) for k in range(exp.shape[1])])
    return _crossing(grid, obs, alpha), expected
