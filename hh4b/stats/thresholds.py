"""Score-threshold optimisation: the cut p_signal >= p_th that maximises S / sqrt(B).

As in the paper (sections IV.A.2, V.A.2) and notes section 16.7 (Table 33): p_th is scanned
from 0 to 1 in steps of 0.01 and, per mass point, the threshold with the largest S / sqrt(B)
is kept. S and B are weighted yields of events with score >= p_th. Thresholds that leave less
than `min_background` background (default: any B > 0) are not eligible, so an empty background
never gives an infinite significance. Reusable by every neural-network method.
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

    @property
    def threshold(self) -> float:
        return float(self.thresholds[self.best])

    def as_dict(self) -> dict:
        i = self.best
        return {"p_th": self.threshold, "S": float(self.signal[i]), "B": float(self.background[i]),
                "S_over_sqrtB": float(self.significance[i])}


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


def best_thresholds(signals: dict, bkg_scores, bkg_weights, step: float = THRESHOLD_STEP,
                    min_background: float = 0.0) -> dict:
    """Per mass point {mass: ThresholdScan}; signals maps mass -> (scores, weights)."""
    return {mass: scan_threshold(s, w, bkg_scores, bkg_weights, step, min_background)
            for mass, (s, w) in signals.items()}
