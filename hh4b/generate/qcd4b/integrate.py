"""Hadronic cross section of p p -> b b~ b b~ at LO, VEGAS adaptation and unweighting.

sigma = sum_ab int dx1 dx2 f_a(x1, mu_F) f_b(x2, mu_F) / (2 s_hat) |M_ab|^2(alpha_s(mu_R)) dPhi_4

with the channels ab = g g, q q~ and q~ q for q = u, d, s, c (matrix_elements.py), PDFs and
alpha_s from the Pythia PDF set of the signal (hh4b.theory.pdf), and the dynamic scale
mu_R = mu_F = QCD4B_SCALE_FACTOR * H_T = H_T / 2, H_T = scalar sum of the four b-quark transverse
masses (= their pT for massless quarks; MadGraph's default dynamic scale is also built on mT).

Importance sampling: multi-channel phase space (multichannel.py: lab-frame map + b-b~ pair
channels), each channel type behind a `vegas.AdaptiveMap` trained with a fixed seed, so the
maps (cached on disk) do not depend on the job seed; the job then estimates sigma and unweights
with its own seed.
Unweighting: accept with probability min(1, w b / w_max) and weight max(1, w b / w_max) / b, so
nothing is truncated: the rare points above w_max ("overweight", a share `overweight_fraction` of
sigma) are kept with their excess as weight. w_max is chosen so that the points above it carry
QCD4B_UNWEIGHT_OVERWEIGHT (option `overweight`) of the biased
cross section in the sigma sample; the unweighting run, with many more points, meets more of them
(the weight tail is long), which costs a little Kish efficiency but no bias. The selection bias
b = min(1, (pT_4 / QCD4B_BIAS_PT_REF)^p4) * min(1, (pT_3 / QCD4B_BIAS_PT3_REF)^p3) (pT_4, pT_3 =
softest and second-softest b quark; `Bias`, powers 0: no bias) keeps fewer of the soft events that
dominate sigma but rarely pass the four-jet selection; kept events carry the weight 1/b, so every
distribution stays unbiased.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hh4b import constants as C
from hh4b.generate.qcd4b import multichannel, phasespace as ps
from hh4b.generate.qcd4b.window import HiggsWindow

QUARKS = (1, 2, 3, 4)  # d, u, s, c in the initial state
# channel index -> (beam 1 id, beam 2 id): g g, then q q~ for each q, then q~ q
CHANNELS = ((21, 21),) + tuple((q, -q) for q in QUARKS) + tuple((-q, q) for q in QUARKS)
GRID_SEED = 20240917  # the VEGAS map is trained with this seed whatever the job seed
NINC = 200  # VEGAS increments per dimension
BATCH = 20000


@dataclass(frozen=True)
class Bias:
    """b = min(1, (pT_4 / QCD4B_BIAS_PT_REF)^pt4_power) * min(1, (pT_3 / QCD4B_BIAS_PT3_REF)^pt3_power) * g,
    pT_4 and pT_3 the softest and second-softest b quark, g the Higgs-window factor (window.py; 1 when
    `window` is None). The window factor is applied first, before the matrix element is computed."""

    pt4_power: float = C.QCD4B_BIAS_POWER
    pt3_power: float = C.QCD4B_BIAS_PT3_POWER
    window: HiggsWindow | None = None

    def pt_factor(self, points: ps.Points) -> np.ndarray:
        pt, _, _ = ps.kinematics(points.momenta)
        softest = np.sort(pt, 1)
        return (np.minimum(1.0, (softest[:, 0] / C.QCD4B_BIAS_PT_REF) ** self.pt4_power)
                * np.minimum(1.0, (softest[:, 1] / C.QCD4B_BIAS_PT3_REF) ** self.pt3_power))

    def window_factor(self, points: ps.Points) -> np.ndarray:
        return np.ones(len(points.jac)) if self.window is None else self.window(points.momenta)

    def __call__(self, points: ps.Points) -> np.ndarray:
        return self.pt_factor(points) * self.window_factor(points)

    def describe(self) -> str:
        text = (f"min(1, (softest b pT / {C.QCD4B_BIAS_PT_REF:g} GeV)^{self.pt4_power:g}) * "
                f"min(1, (second-softest b pT / {C.QCD4B_BIAS_PT3_REF:g} GeV)^{self.pt3_power:g})")
        return text if self.window is None else f"{text} * [{self.window.describe()}]"

    def key(self) -> list:
        key = [self.pt4_power, C.QCD4B_BIAS_PT_REF, self.pt3_power, C.QCD4B_BIAS_PT3_REF]
        return key if self.window is None else key + ["window", *self.window.key()]


@dataclass
class Timers:
    """Seconds spent per stage (matrix element, PDFs, phase space, ...)."""

    seconds: dict = field(default_factory=lambda: defaultdict(float))

    def add(self, name: str, start: float) -> None:
        self.seconds[name] += time.perf_counter() - start


class Integrand:
    """Event weights in pb (per sampled point) and their split into CHANNELS."""

    def __init__(self, matrix_elements, pdf, sqrt_s: float, timers: Timers | None = None):
        self.me, self.pdf, self.sqrt_s = matrix_elements, pdf, float(sqrt_s)
        self.timers = timers or Timers()

    def scale2(self, points: ps.Points) -> np.ndarray:
        """mu^2 = (QCD4B_SCALE_FACTOR * H_T)^2, H_T = sum of the b-quark transverse masses."""
        return (C.QCD4B_SCALE_FACTOR * ps.transverse_mass(points.momenta).sum(1)) ** 2

    def channels(self, points: ps.Points) -> np.ndarray:
        """d sigma per point and channel in pb, shape (N, len(CHANNELS)); 0 outside the cuts."""
        out = np.zeros((len(points.jac), len(CHANNELS)))
        live = points.jac > 0
        if not live.any():
            return out
        p = points.select(live)
        start = time.perf_counter()
        mu2 = self.scale2(p)
        alpha_s = self.pdf.alpha_s(mu2)
        x, q2, n = np.concatenate([p.x1, p.x2]), np.concatenate([mu2, mu2]), len(mu2)
        density = {pid: self.pdf.xfx(pid, x, q2) / x for pid in sorted({a for a, _ in CHANNELS})}
        f1 = {pid: values[:n] for pid, values in density.items()}
        f2 = {pid: values[n:] for pid, values in density.items()}
        self.timers.add("pdf", start)
        start = time.perf_counter()
        m_gg = self.me.gg(p.momenta, alpha_s)
        self.timers.add("me_gg", start)
        start = time.perf_counter()
        m_qqbar, m_qbarq = self.me.qqbar(p.momenta, alpha_s)
        self.timers.add("me_qqbar", start)
        flux = p.jac * C.GEV2_TO_PB / (2.0 * p.x1 * p.x2 * self.sqrt_s**2)
        live_out = np.empty((len(p.jac), len(CHANNELS)))
        for index, (a, b) in enumerate(CHANNELS):
            matrix = m_gg if a == 21 else (m_qqbar if a > 0 else m_qbarq)
            live_out[:, index] = flux * f1[a] * f2[b] * matrix
        out[live] = live_out
        return out


class VegasSampler:
    """Multi-channel phase space (multichannel.py) behind VEGAS adaptive maps."""

    def __init__(self, sqrt_s: float, cuts: ps.Cuts, grids: np.ndarray | None = None, mass: float = 0.0):
        self.sqrt_s, self.cuts = float(sqrt_s), cuts
        self.channels = multichannel.Channels(sqrt_s, cuts, NINC, None if grids is None else list(grids), mass)

    def sample(self, rng: np.random.Generator, n: int, timers: Timers) -> tuple[tuple, ps.Points]:
        channel, y, points = self.channels.sample(rng, n, timers)
        return (channel, y), points

    def grids(self) -> np.ndarray:
        return np.stack([np.asarray(m.extract_grid()) for m in self.channels.maps])

    def train(self, integrand: Integrand, iterations: int, n_per_iteration: int, progress: bool = True,
              bias: Bias = Bias()) -> list:
        """Adapt the maps to the biased weights (fixed seed); returns the per-iteration (sigma, error)."""
        rng = np.random.default_rng(GRID_SEED)
        history = []
        for _ in tqdm(range(iterations), desc="qcd4b VEGAS", disable=not progress, leave=False):
            (channel, y), points = self.sample(rng, n_per_iteration, integrand.timers)
            weights = integrand.channels(points).sum(1)
            training = (weights * bias(points)) ** 2
            for index, mask in enumerate((channel == 0, channel > 0)):
                self.channels.maps[index].add_training_data(np.ascontiguousarray(y[mask]), training[mask])
                self.channels.maps[index].adapt(alpha=0.5)
            history.append((weights.mean(), weights.std() / np.sqrt(len(weights))))
        return history


class FlatSampler:
    """RAMBO phase space (no adaptation): the reference for the VEGAS cross section."""

    def __init__(self, sqrt_s: float, cuts: ps.Cuts, mass: float = 0.0):
        self.sqrt_s, self.cuts, self.mass = float(sqrt_s), cuts, float(mass)

    def sample(self, rng: np.random.Generator, n: int, timers: Timers) -> tuple[None, ps.Points]:
        start = time.perf_counter()
        points = ps.rambo_points(rng, n, self.sqrt_s, self.cuts, self.mass)
        timers.add("phase_space", start)
        return None, points


def grid_path(cache: Path, sqrt_s: float, cuts: ps.Cuts, pdf_set: int, iterations: int, n_per_iteration: int,
              artifact: str, bias: Bias, mass: float = 0.0) -> Path:
    """Cache file of a trained VEGAS map, keyed by everything that shapes it."""
    key = json.dumps([sqrt_s, cuts.pt_min, str(cuts.eta_max), cuts.dr_min, pdf_set, iterations, n_per_iteration,
                      artifact, GRID_SEED, NINC, "multichannel-2", C.QCD4B_SCALE_FACTOR, *bias.key(), mass])
    return cache / f"vegas_{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"


def trained_sampler(integrand: Integrand, cuts: ps.Cuts, iterations: int, n_per_iteration: int,
                    cache: Path | None, pdf_set: int, artifact: str, progress: bool = True,
                    bias: Bias = Bias(), mass: float = 0.0) -> VegasSampler:
    """A VegasSampler with a trained map, read from / written to `cache` when given."""
    path = None
    if cache is not None:
        path = grid_path(cache, integrand.sqrt_s, cuts, pdf_set, iterations, n_per_iteration, artifact, bias, mass)
        if path.is_file():
            return VegasSampler(integrand.sqrt_s, cuts, grids=np.load(path), mass=mass)
    sampler = VegasSampler(integrand.sqrt_s, cuts, mass=mass)
    sampler.train(integrand, iterations, n_per_iteration, progress, bias)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{np.random.default_rng().integers(1 << 30)}.npy")
        np.save(tmp, sampler.grids())
        tmp.replace(path)
    return sampler


def cross_section(sampler, integrand: Integrand, rng: np.random.Generator, n_points: int,
                  progress: bool = False,
                  bias: Bias = Bias()) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray]:
    """(sigma in pb, its statistical error, point weights times the pT bias, point weights, window
    factors) from n_points samples: `unweight` compares weight x pT bias with w_max on the points
    that its window step keeps (`max_weight(biased, overweight, window)`)."""
    weights, biased, window = [], [], []
    for start in tqdm(range(0, n_points, BATCH), desc="qcd4b sigma", disable=not progress, leave=False):
        _, points = sampler.sample(rng, min(BATCH, n_points - start), integrand.timers)
        weights.append(integrand.channels(points).sum(1))
        biased.append(weights[-1] * bias.pt_factor(points))
        window.append(bias.window_factor(points))
    weights = np.concatenate(weights)
    return (float(weights.mean()), float(weights.std(ddof=1) / np.sqrt(len(weights))), np.concatenate(biased),
            weights, np.concatenate(window))


def pooled_cross_section(weights: np.ndarray, events: Unweighted) -> tuple[float, float, int]:
    """(sigma, error, points) from the sigma sample's weights and every point the unweighting tried
    (same sampler, so all are draws of one estimator; the unweighting tries 10-100x more points)."""
    n = len(weights) + events.n_tried
    mean = (weights.sum() + events.sum_w) / n
    second = (np.sum(weights**2) + events.sum_w2) / n
    return float(mean), float(np.sqrt(max(second - mean**2, 0.0) / (n - 1))), int(n)


def max_weight(weights: np.ndarray, overweight: float = C.QCD4B_UNWEIGHT_OVERWEIGHT,
               multiplicity: np.ndarray | None = None) -> float:
    """Smallest w_max with sum(m max(w - w_max, 0)) <= overweight * sum(m w), m the points'
    multiplicities (the probability that the window step keeps them; 1 by default)."""
    m = np.ones(len(weights)) if multiplicity is None else np.asarray(multiplicity, dtype=float)
    positive = weights > 0
    order = np.argsort(weights[positive])[::-1]
    w, m = weights[positive][order], m[positive][order]
    if len(w) == 0:
        return 0.0
    # sum over the k largest of m_i (w_i - w_k); non-decreasing in k
    excess = np.cumsum(m * w) - np.cumsum(m) * w
    allowed = overweight * np.sum(m * w)
    k = np.searchsorted(excess, allowed, side="right")
    return float(w[max(k - 1, 0)])


@dataclass
class Unweighted:
    """Unweighted parton-level events."""

    points: ps.Points
    channel: np.ndarray  # index into CHANNELS
    weight: np.ndarray  # max(1, w b / w_max) / b (all 1 without bias and overweight points)
    mu2: np.ndarray
    alpha_s: np.ndarray
    n_tried: int
    w_max: float
    overweight_fraction: float  # share of sigma above w_max (kept with weight > 1/b)
    sum_w: float = 0.0  # sum of w and of w^2 over the n_tried points (pb, pb^2)
    sum_w2: float = 0.0


def unweight(sampler, integrand: Integrand, rng: np.random.Generator, n_events: int, w_max: float,
             progress: bool = True, bias: Bias = Bias()) -> Unweighted:
    """Hit-or-miss unweighting in two steps: with a Higgs window (`bias.window`), keep each point with
    probability g before its matrix element is computed; then accept with probability
    min(1, w b_pT / w_max). Accepted events weigh max(1, w b_pT / w_max) / (b_pT g), so overweight points
    keep their excess; each event's channel is drawn from its channel weights."""
    kept, n_tried, excess, total, total2 = [], 0, 0.0, 0.0, 0.0
    n_kept = 0
    with tqdm(total=n_events, desc="qcd4b unweight", unit="ev", disable=not progress, leave=False) as bar:
        while n_kept < n_events:
            _, points = sampler.sample(rng, BATCH, integrand.timers)
            n_tried += len(points.jac)
            if bias.window is None:
                g = np.ones(len(points.jac))
            else:
                g = bias.window_factor(points)
                keep = rng.random(len(g)) < g
                points, g = points.select(keep), g[keep]
            per_channel = integrand.channels(points)
            b = bias.pt_factor(points)
            w = per_channel.sum(1)
            unbiased = w / g  # estimates w over every tried point
            weights = w * b
            total += unbiased.sum()
            total2 += np.sum(unbiased**2)
            excess += (np.clip(weights - w_max, 0, None) / (b * g)).sum()
            accept = rng.random(len(weights)) * w_max < weights
            cumulative = np.cumsum(per_channel[accept], 1)
            pick = rng.random(int(accept.sum()))[:, None] * cumulative[:, -1:]
            channel = np.minimum((cumulative < pick).sum(1), len(CHANNELS) - 1)
            kept.append((points.select(accept), channel,
                         np.maximum(1.0, weights[accept] / w_max) / (b[accept] * g[accept])))
            n_kept += int(accept.sum())
            bar.update(min(int(accept.sum()), n_events - bar.n))
    points = ps.Points(*(np.concatenate([getattr(k[0], f) for k in kept])[:n_events]
                         for f in ("momenta", "x1", "x2", "jac")))
    channel = np.concatenate([k[1] for k in kept])[:n_events]
    weight = np.concatenate([k[2] for k in kept])[:n_events]
    mu2 = integrand.scale2(points)
    return Unweighted(points, channel, weight, mu2, integrand.pdf.alpha_s(mu2), n_tried, w_max,
                      excess / total if total > 0 else 0.0, total, total2)
