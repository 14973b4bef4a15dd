"""Score-threshold optimisation: the cut p_signal >= p_th that maximises a significance.

As in the paper (sections IV.A.2, V.A.2) and notes section 16.7 (Table 33): p_th is scanned
from 0 to 1 in steps of 0.01 and, per mass point, the threshold with the largest S / sqrt(B)
is kept. S and B are weighted yields of events with score >= p_th. Thresholds that leave less
than `min_background` background (default: any B > 0) are not eligible, so an empty background
never gives an infinite significance. Reusable by every neural-network method.

Beyond the paper, when the background's MC statistical uncertainty sigma_B is known the figure
of merit is the Asimov significance with an uncertain background (`asimov_significance`), which
falls again at tight thresholds where few MC events are left, so a threshold whose template
would be dominated by its MC uncertainty is not chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THRESHOLD_STEP = 0.01  # notes section 16.7


@dataclass
class ThresholdScan:
    thresholds: np.ndarray
    signal: np.ndarray
    background: np.ndarray
    significance: np.ndarray
    best: int
    background_kish: np.ndarray | None = None  # Kish-effective background MC events above each threshold

    @property
    def threshold(self) -> float:
        return float(self.thresholds[self.best])

    def as_dict(self) -> dict:
        i = self.best
        row = {"p_th": self.threshold, "S": float(self.signal[i]), "B": float(self.background[i])}
        if self.background_kish is None:
            return {**row, "S_over_sqrtB": float(self.significance[i])}
        return {**row, "B_kish": float(self.background_kish[i]), "Z_asimov": float(self.significance[i])}


def asimov_significance(s, b, sigma_b=None) -> np.ndarray:
    """Median discovery significance of s signal on b background events known to +- sigma_b
    (Cowan, Cranmer, Gross, Vitells, arXiv:1007.1727, with the profiled background uncertainty of
    Cowan's note "Discovery sensitivity for a counting experiment with background uncertainty"):
    Z^2 = 2 [(s+b) ln((s+b)(b+sigma^2) / (b^2+(s+b) sigma^2)) - (b^2/sigma^2) ln(1 + sigma^2 s / (b (b+sigma^2)))],
    and Z^2 = 2 [(s+b) ln(1 + s/b) - s] for sigma_b = 0. Needs b > 0."""
    s, b = np.asarray(s, dtype=float), np.asarray(b, dtype=float)
    var = np.zeros_like(b) if sigma_b is None else np.asarray(sigma_b, dtype=float) ** 2
    exact = 2.0 * ((s + b) * np.log1p(s / b) - s)
    small = var <= 1e-12 * b * b
    v = np.where(small, 1.0, var)
    with_unc = 2.0 * ((s + b) * np.log((s + b) * (b + v) / (b * b + (s + b) * v))
                      - b * b / v * np.log1p(v * s / (b * (b + v))))
    return np.sqrt(np.clip(np.where(small, exact, with_unc), 0.0, None))


def thresholds_grid(step: float = THRESHOLD_STEP) -> np.ndarray:
    return np.round(np.arange(0.0, 1.0 + step / 2, step), 10)


def yield_above(scores, weights, thresholds) -> np.ndarray:
    """Sum of weights of events with score >= t, for every t (sorted cumulative sums, no loops)."""
    scores = np.asarray(scores, dtype=float)
    weights = np.ones_like(scores) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(scores)
    tail = np.concatenate([np.cumsum(weights[order][::-1])[::-1], [0.0]])
    return tail[np.searchsorted(scores[order], thresholds, side="left")]


def scan_threshold(sig_scores, sig_weights, bkg_scores, bkg_weights, step: float = THRESHOLD_STEP,
                   min_background: float = 0.0) -> ThresholdScan:
    """S / sqrt(B) for every threshold of the 0..1 grid and the best one."""
    grid = thresholds_grid(step)
    s = yield_above(sig_scores, sig_weights, grid)
    b = yield_above(bkg_scores, bkg_weights, grid)
    eligible = b > min_background
    if not np.any(eligible):
        raise ValueError(f"no threshold leaves more than {min_background} background events")
    significance = np.where(eligible, s / np.sqrt(np.where(eligible, b, 1.0)), -np.inf)
    return ThresholdScan(grid, s, b, significance, int(np.argmax(significance)))
