"""Non-resonant gg -> hh for Pythia 8: a Python `Sigma2Process` with the full-m_t LO matrix element.

Pythia has no such process. `GGToHHProcess` gives Pythia dsigma/dt = P alpha_s^2 |M|^2(k_gen)
with |M|^2 = a + b k + c k^2 from hh4b.theory.gghh (P = G_F^2 / (512 (2 pi)^3)), at the generation
point k_gen (default constants.NONRESONANT_GENERATION_KL = 0: it keeps the effective sample
size >= 24% of N for every k in [-5, 10], docs/generation.md). Each event stores (a, b, c) so that
any kappa_lambda is an exact reweighting: w(k) = (a + b k + c k^2) / (a + b k_gen + c k_gen^2).
With `hh4b generate --heft-mixture` the process samples the five-coupling mixture of
constants.HEFT_GENERATION_MIXTURE instead (`heft_mixture_generation`; the file metadata records it as
`heft_generation`, docs/heft.md), and the reweighting divides by that mixture's |M|^2.

Speed: the loop integrals cost ~1 ms per phase-space point, far too much for Pythia's trial
points, so (a, b, c) are tabulated once per process on a grid in (sqrt(s), cos^2 theta) and
interpolated with bicubic splines (cos^2 theta because a, b, c are even in cos theta; sqrt(s)
through v = sqrt(|sqrt(s) - 2 m_t|) on each side of the top threshold, where the form factors
have square-root cusps). Generation stops at m_hh = M_HH_GRID_MAX (`PhaseSpace:mHatMax`); points
above it would be computed exactly.

Hard-process settings follow the reference settings of docs/generation.md: alpha_s(m_Z) = 0.118 at two
loops, mu_R = mu_F = m_hh / 2 and the hard-process PDF PDF:pSet = 19 (`PDF:useHard`), so that
Pythia's sigma matches `hh4b xsec`; h -> b b~ is forced and its branching ratio is returned
by `forced_branching_ratio` for the file metadata.
"""

from __future__ import annotations

import functools

import numpy as np
import pythia8mc
from scipy.interpolate import RectBivariateSpline

from hh4b import constants
from hh4b.errors import ConfigError
from hh4b.theory import gghh, heft

PROCESS_CODE = 10251  # user process codes must be >= 10000
M_HH_GRID_MAX = 6000.0  # GeV; above it (a, b, c) are computed exactly (rare)
THRESHOLD_GAP = 0.1  # GeV between 2 m_t and the nearest grid node
M_HH_SPLIT = 1000.0  # GeV; the grid is uniform in log m_hh above
N_GRID_BELOW, N_GRID_ABOVE, N_GRID_HIGH, N_GRID_COS2 = 16, 28, 16, 12


class MatrixElementGrid:
    """(a, b, c)(s, t) interpolated from a grid built once per process.

    `terms` is the function that gives the coefficients at exact (s, t): gghh.me_coefficients for
    (a, b, c), heft.me_terms for the 15 terms of the five-coupling polynomial (the same nodes, so
    its A_1, A_7, A_3 splines are those of a, b, c). `combination(vector)` is one spline of
    sum_k vector_k X_k (splines are linear in the tabulated values), the generator's |M|^2.

    Three pieces in m_hh: [2 m_h, 2 m_t] and [2 m_t, M_HH_SPLIT] in v = sqrt(|m_hh - 2 m_t|)
    (square-root cusps at the top threshold), [M_HH_SPLIT, M_HH_GRID_MAX] in log m_hh; cos^2 theta
    in [0, 1]. Measured: build 0.9 s CPU (+ ~1 s one-time numba start-up); |M|^2 interpolation
    error median ~1e-5, worst ~2% (forward |cos theta| > 0.9 above 1 TeV, and within 1 GeV of
    2 m_t); a look-up costs ~10 us.
    """

    def __init__(self, params: gghh.HiggsPairParameters = gghh.HiggsPairParameters(), terms=gghh.me_coefficients):
        self.params = params
        self.terms = terms
        self._threshold = 2.0 * params.m_t
        cos2 = np.linspace(0.0, 1.0, N_GRID_COS2)
        # (kind, m_hh range, node count, box rule); the loop integrals are singular exactly at
        # m_hh = 2 m_t, so the nodes stop THRESHOLD_GAP short of it and the splines extrapolate
        pieces = (("below", 2.0 * params.m_h, self._threshold - THRESHOLD_GAP, N_GRID_BELOW, 24),
                  ("above", self._threshold + THRESHOLD_GAP, M_HH_SPLIT, N_GRID_ABOVE, 24),
                  ("log", M_HH_SPLIT, M_HH_GRID_MAX, N_GRID_HIGH, 16))
        covers = (self._threshold, M_HH_SPLIT, np.inf)  # each piece serves m_hh up to this
        self._pieces, self._tables = [], []
        for (kind, m_low, m_high, count, box_nodes), cover in zip(pieces, covers):
            x_nodes = np.linspace(*sorted((self._to_x(kind, m_low), self._to_x(kind, m_high))), count)
            m_hh = self._from_x(kind, x_nodes)
            s = (m_hh**2)[:, None] * np.ones_like(cos2)
            t = gghh.t_from_cos_theta(s, np.sqrt(cos2)[None, :], params.m_h)
            values = np.asarray(terms(s, t, params, box_nodes))
            splines = [RectBivariateSpline(x_nodes, cos2, value) for value in values]
            self._pieces.append((kind, cover, splines))
            self._tables.append((x_nodes, cos2, values))

    def _to_x(self, kind: str, m_hh):
        """Grid variable: sqrt(|m_hh - 2 m_t|) near the top threshold, log m_hh above M_HH_SPLIT."""
        return np.log(m_hh) if kind == "log" else np.sqrt(np.abs(m_hh - self._threshold))

    def _from_x(self, kind: str, x):
        if kind == "log":
            return np.exp(x)
        return self._threshold + (x**2 if kind == "above" else -(x**2))

    def cos2_theta(self, s: float, t: float) -> float:
        """cos^2 theta of the hh rest frame from (s, t) with on-shell Higgs bosons, clipped to [0, 1]."""
        m_h2 = self.params.m_h**2
        beta = np.sqrt(max(1.0 - 4.0 * m_h2 / s, 0.0))
        cos_theta = (t - m_h2 + 0.5 * s) / (0.5 * s * beta) if beta > 0.0 else 0.0
        return min(cos_theta * cos_theta, 1.0)

    def combination(self, vector) -> MatrixElementGrid:
        """A grid of the single function sum_k vector_k X_k (same nodes and pieces)."""
        vector = np.asarray(vector, dtype=float)
        combined = object.__new__(MatrixElementGrid)
        combined.params, combined._threshold = self.params, self._threshold
        combined.terms = lambda s, t, params, box_nodes=None: np.tensordot(
            vector, np.asarray(self.terms(s, t, params)), axes=(0, 0))[None]
        combined._pieces, combined._tables = [], []
        for (kind, cover, _), (x_nodes, cos2, values) in zip(self._pieces, self._tables):
            value = np.tensordot(vector, values, axes=(0, 0))
            combined._pieces.append((kind, cover, [RectBivariateSpline(x_nodes, cos2, value)]))
            combined._tables.append((x_nodes, cos2, value[None]))
        return combined

    def coefficients(self, s: float, t: float) -> tuple[float, ...]:
        """(a, b, c) (or the grid's terms) at one phase-space point (s, t) in GeV^2."""
        m_hh = float(np.sqrt(s))
        if m_hh > M_HH_GRID_MAX:
            s_arr, t_arr = np.array([s]), np.array([t])
            return tuple(float(x[0]) for x in self.terms(s_arr, t_arr, self.params))
        cos2 = self.cos2_theta(s, t)
        for kind, cover, splines in self._pieces:
            if m_hh <= cover:
                x = self._to_x(kind, m_hh)
                return tuple(float(spline(x, cos2, grid=False)) for spline in splines)
        raise AssertionError("unreachable")


    def coefficients_array(self, s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, ...]:
        """(a, b, c) (or the grid's terms) at many points (vectorised; for the per-event branches)."""
        s, t = np.broadcast_arrays(np.asarray(s, dtype=float), np.asarray(t, dtype=float))
        m_hh = np.sqrt(s)
        m_h2 = self.params.m_h**2
        beta = np.sqrt(np.maximum(1.0 - 4.0 * m_h2 / s, 0.0))
        cos_theta = np.where(beta > 0.0, (t - m_h2 + 0.5 * s) / (0.5 * s * np.where(beta > 0.0, beta, 1.0)), 0.0)
        cos2 = np.minimum(cos_theta**2, 1.0)
        out = np.zeros((len(self._pieces[0][2]),) + s.shape)
        lower = -np.inf
        for kind, cover, splines in self._pieces:
            sel = (m_hh > lower) & (m_hh <= min(cover, M_HH_GRID_MAX))
            x = self._to_x(kind, m_hh[sel])
            for row, spline in zip(out, splines):
                row[sel] = spline(x, cos2[sel], grid=False)
            lower = cover
        beyond = m_hh > M_HH_GRID_MAX
        if beyond.any():
            out[:, beyond] = self.terms(s[beyond], t[beyond], self.params)
        return tuple(out)


@functools.lru_cache(maxsize=4)
def matrix_element_grid(params: gghh.HiggsPairParameters = gghh.HiggsPairParameters(),
                        five_couplings: bool = False) -> MatrixElementGrid:
    """The grid of `params`, built once per Python process (several Pythia instances share it):
    (a, b, c), or with `five_couplings` the 15 terms of hh4b.theory.heft."""
    return MatrixElementGrid(params, heft.me_terms if five_couplings else gghh.me_coefficients)


def heft_branches(s_hat, t_hat) -> dict[str, np.ndarray]:
    """HEFT_A<k> (float32) of the five-coupling terms other than A_1, A_7, A_3 (= KappaLambda_a, b, c)
    at each event's s-hat, t-hat: with them any coupling point is an exact reweighting (hh4b.theory.heft)."""
    terms = matrix_element_grid(five_couplings=True).coefficients_array(np.asarray(s_hat), np.asarray(t_hat))
    return {f"HEFT_{name}": np.asarray(terms[k], np.float32)
            for k, name in enumerate(heft.TERM_NAMES) if k not in heft.KL_TERMS}


class GGToHHProcess(pythia8mc.Sigma2Process):
    """g g -> h h with the LO full-m_t matrix element at kappa_lambda = `kappa_lambda`.

    Keep a Python reference to the object for as long as Pythia lives (Pythia holds only a raw pointer).
    For the accepted event use `coefficients_for(info.sHat(), info.tHat())` with
    `info = pythia.infoPython()`; `last_coefficients` holds (a, b, c) of the latest `sigmaKin`
    call, which after `pythia.next()` is the accepted point (tested), but Pythia also calls
    sigmaKin for trial points, so the explicit form is the safe one.

    With `generation` (15 numbers g_k, hh4b.theory.heft.generation_vector: a five-coupling point or a
    mixture) the process samples |M|^2 = sum_k g_k T_k with one spline of that sum (kappa_lambda
    is then unused); `coefficients_for` still gives (a, b, c), the other twelve terms come from
    `heft_branches` on the same grid.
    """

    def __init__(self, kappa_lambda: float = constants.NONRESONANT_GENERATION_KL,
                 params: gghh.HiggsPairParameters = gghh.HiggsPairParameters(), generation=None):
        pythia8mc.Sigma2Process.__init__(self)
        low, high = constants.KAPPA_LAMBDA_RANGE
        if not low <= kappa_lambda <= high:
            raise ConfigError(f"--kappa-lambda {kappa_lambda} outside [{low}, {high}]")
        self.kappa_lambda = float(kappa_lambda)
        self.generation = None if generation is None else np.asarray(generation, dtype=float)
        if self.generation is not None and self.generation.shape != (len(heft.TERM_NAMES),):
            raise ConfigError(f"a five-coupling generation vector has {len(heft.TERM_NAMES)} entries")
        self.grid = matrix_element_grid(params, self.generation is not None)
        self._msq_grid = None if self.generation is None else self.grid.combination(self.generation)
        self.last_coefficients = (0.0, 0.0, 0.0)
        self._sigma = 0.0

    def coefficients_for(self, s, t):
        """(a, b, c) of |M|^2 = a + b k + c k^2 at s-hat = s, t-hat = t (GeV^2).

        Floats for scalar (s, t); three arrays for arrays (e.g. a batch's sHat, tHat). With a
        five-coupling `generation` they are the terms T_1, T_7, T_3 of its grid."""
        if np.ndim(s) == 0 and np.ndim(t) == 0:
            values = self.grid.coefficients(float(s), float(t))
        else:
            values = self.grid.coefficients_array(s, t)
        return values if self.generation is None else tuple(values[k] for k in heft.KL_TERMS)

    # --- Pythia interface ---
    def name(self):
        return "g g -> h h (LO, full m_t, hh4b)"

    def code(self):
        return PROCESS_CODE

    def inFlux(self):
        return "gg"

    def id3Mass(self):
        return 25

    def id4Mass(self):
        return 25

    def sigmaKin(self):
        if self._msq_grid is not None:
            (msq,) = self._msq_grid.coefficients(self.sH, self.tH)
            self._sigma = float(gghh.dsigma_dt_prefactor(self.alpS)) * max(msq, 0.0)
            return
        a, b, c = self.grid.coefficients(self.sH, self.tH)
        self.last_coefficients = (a, b, c)
        k = self.kappa_lambda
        msq = max(a + b * k + c * k * k, 0.0)
        self._sigma = float(gghh.dsigma_dt_prefactor(self.alpS)) * msq

    def sigmaHat(self):
        return self._sigma

    def setIdColAcol(self):
        self.setId(21, 21, 25, 25)
        self.setColAcol(1, 2, 2, 1, 0, 0, 0, 0)


def nonresonant_settings(pdf_set: int = constants.PYTHIA_PDF_SET) -> list[str]:
    """Pythia settings of the hard process: reference couplings and scales, h -> b b~ forced."""
    return [
        f"SigmaProcess:alphaSvalue = {constants.ALPHA_S_MZ:g}",
        "SigmaProcess:alphaSorder = 2",
        "SigmaProcess:renormScale2 = 4",  # sHat ...
        "SigmaProcess:renormMultFac = 0.25",  # ... / 4: mu_R = m_hh / 2
        "SigmaProcess:factorScale2 = 4",
        "SigmaProcess:factorMultFac = 0.25",  # mu_F = m_hh / 2
        f"PhaseSpace:mHatMax = {M_HH_GRID_MAX:g}",  # m_hh > 6 TeV: < 1e-6 of sigma at 13-14 TeV
        "PDF:useHard = on",
        f"PDF:pHardSet = {pdf_set}",
        "25:onMode = off",
        "25:onIfMatch = 5 -5",
    ]


def configure_nonresonant(pythia, kappa_lambda: float = constants.NONRESONANT_GENERATION_KL,
                          params: gghh.HiggsPairParameters = gghh.HiggsPairParameters(), generation=None
                          ) -> GGToHHProcess:
    """Apply `nonresonant_settings` and register gg -> hh with `setSigmaPtr`, before `init()`.

    Returns the process object: the caller must keep it alive while `pythia` is used.
    """
    for line in nonresonant_settings():
        if not pythia.readString(line):
            raise ConfigError(f"Pythia rejected the setting '{line}'")
    process = GGToHHProcess(kappa_lambda, params, generation)
    pythia.setSigmaPtr(process)
    return process


def check_heft_mixture(sample: str, kappa_lambda: float | None) -> None:
    """ConfigError unless `--heft-mixture` goes with `--sample nonresonant` and no `--kappa-lambda`."""
    if sample != "nonresonant":
        raise ConfigError(f"--heft-mixture goes with --sample nonresonant, not {sample!r}")
    if kappa_lambda is not None:
        raise ConfigError("--heft-mixture and --kappa-lambda: give one (the mixture sets all five couplings)")


def heft_mixture_generation(sample: str, kappa_lambda: float | None,
                            sqrt_s: float = constants.SQRT_S) -> tuple[np.ndarray, dict]:
    """The generation vector of constants.HEFT_GENERATION_MIXTURE at `sqrt_s` (hh4b.theory.heft.default_generation)
    and the file metadata record `heft_generation` that describes it (docs/heft.md): the mixture's
    fractions, each point's couplings, sqrt(s) and the 15 g_k of |M|^2_gen = sum_k g_k T_k."""
    check_heft_mixture(sample, kappa_lambda)
    mixture = dict(constants.HEFT_GENERATION_MIXTURE)
    vector = heft.default_generation(float(sqrt_s))
    record = {"mixture": mixture, "couplings": {name: list(heft.benchmark(name).couplings()) for name in mixture},
              "sqrt_s": float(sqrt_s), "terms": list(heft.TERM_NAMES), "vector": [float(g) for g in vector]}
    return vector, record


def forced_branching_ratio(pythia) -> float:
    """BR(h -> b b~)^2 from Pythia's particle data (call after `init()`), for xsec metadata."""
    entry = pythia.particleData.particleDataEntryPtr(25)
    br_bb = sum(entry.channel(i).bRatio() for i in range(entry.sizeChannels())
                if sorted(abs(entry.channel(i).product(j)) for j in range(entry.channel(i).multiplicity())) == [5, 5])
    return br_bb**2
