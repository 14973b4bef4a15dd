"""Fit binning that respects the background MC.

A fit bin is usable when its total expected background is positive, at least `min_background`
events, and known from the simulation to a relative MC statistical uncertainty
sqrt(sum w^2) / sum w of at most `max_mc_uncertainty`. Bins that are not are merged with their
neighbours from the tails in: from the lowest m_hh upward and from the highest downward, each
side closing a group as soon as it is usable, until both sides meet at the bin with the most
background, which takes what is left. The Kish effective number of MC events of a bin,
(sum w)^2 / sum w^2, is 1 / (relative MC uncertainty)^2, so the bound is also a minimum Kish
count: 30% means at least 11.1 effective events per bin.
"""

from __future__ import annotations

import numpy as np

from hh4b.constants import FIT_MAX_MC_UNCERTAINTY
from hh4b.errors import ConfigError


def relative_mc_uncertainty(yields, variances) -> np.ndarray:
    """sqrt(variance) / yield per bin; inf where the yield is not positive."""
    y, v = np.asarray(yields, dtype=float), np.clip(np.asarray(variances, dtype=float), 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, np.sqrt(v) / np.where(y > 0, y, 1.0), np.inf)


def kish_count(yields, variances) -> np.ndarray:
    """(sum w)^2 / sum w^2 per bin; inf for bins without MC variance, 0 without yield."""
    y, v = np.asarray(yields, dtype=float), np.asarray(variances, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, np.where(v > 0, y * y / np.where(v > 0, v, 1.0), np.inf), 0.0)


def mc_merged_edges(edges, yields, variances, max_mc_uncertainty: float = FIT_MAX_MC_UNCERTAINTY,
                    min_background: float = 0.0, label: str = "") -> np.ndarray:
    """Edges (a subset of `edges`) whose every bin has a positive background of at least
    `min_background` and a relative MC uncertainty of at most `max_mc_uncertainty`, merging from
    the tails in (module docstring). ConfigError naming `label` when even one bin of everything
    cannot meet the bound."""
    edges = np.asarray(edges, dtype=float)
    y, v = np.asarray(yields, dtype=float), np.asarray(variances, dtype=float)
    if y.shape != (edges.size - 1,) or v.shape != y.shape:
        raise ConfigError(f"binning{_where(label)}: {y.size} yields and {v.size} variances for {edges.size - 1} bins")

    def usable(start: int, stop: int) -> bool:
        total = y[start:stop].sum()
        return bool(total > 0 and total >= min_background
                    and relative_mc_uncertainty(total, v[start:stop].sum()) <= max_mc_uncertainty)

    if not usable(0, y.size):
        rel = float(relative_mc_uncertainty(y.sum(), v.sum()))
        raise ConfigError(f"binning{_where(label)}: the whole signal region has background {y.sum():.4g} events "
                          f"with MC relative uncertainty {rel:.0%}; it cannot meet --max-mc-uncertainty "
                          f"{max_mc_uncertainty:g} and --min-background {min_background:g} (more MC is needed)")
    peak = int(np.argmax(y))
    bounds, start = [0], 0
    for i in range(peak):
        if usable(start, i + 1):
            start = i + 1
            bounds.append(start)
    upper, stop = [y.size], y.size
    for j in range(y.size - 1, peak, -1):
        if usable(j, stop):
            stop = j
            upper.append(stop)
    bounds += upper[::-1]
    # the middle group [start, stop) takes the rest; while it is not usable it absorbs its smaller neighbour
    while not usable(start, stop):
        k = bounds.index(start)
        lower = y[bounds[k - 1]:start].sum() if k > 0 else np.inf
        higher = y[stop:bounds[k + 2]].sum() if stop < y.size else np.inf
        if lower <= higher:
            bounds.pop(k)
            start = bounds[k - 1]
        else:
            bounds.pop(k + 1)
            stop = bounds[k + 1]
    return edges[bounds]


def bin_rows(edges, yields, variances) -> list[dict]:
    """One row per fit bin: its m_hh range, background, MC relative uncertainty and Kish count."""
    edges = np.asarray(edges, dtype=float)
    rel = relative_mc_uncertainty(yields, variances)
    kish = kish_count(yields, variances)
    return [{"bin": i, "low": float(edges[i]), "high": float(edges[i + 1]), "background": float(y),
             "mc_rel_uncertainty": float(r), "kish": float(k)}
            for i, (y, r, k) in enumerate(zip(np.asarray(yields, float), rel, kish))]


def _where(label: str) -> str:
    return f" ({label})" if label else ""
