"""Proton parton densities x f(x, Q^2) and the strong coupling alpha_s(Q^2), vectorised.

Both come from Pythia 8 (`pythia8mc`), so that cross sections computed here use exactly
what the event generator uses: the PDF is Pythia's `PDF:pSet` (default 19 = NNPDF3.1 NLO
luxQED, docs/generation.md), the coupling is `pythia8mc.AlphaStrong` at two loops normalised to
alpha_s(m_Z) (the PDF object's own `alphaS()` returns 1 in pythia8mc, so it is not used).

Calling Pythia once per point is slow from Python, so each flavour is tabulated once on a
dense grid in (log x, log Q^2) and interpolated with bicubic splines. Measured for x < 0.5:
gluon, u, d, s, b below 1e-3 of max(|x f|, 0.01). Pythia returns 0 where a fitted x f turns
negative; near such points (sea antiquarks at large x, charm just above its threshold) the
absolute error reaches ~3e-4.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.interpolate import RectBivariateSpline

from hh4b import constants
from hh4b.errors import ConfigError

# Grid of the interpolation: log-spaced at small x, linear towards x = 1 where PDFs fall fast.
X_MIN = 1e-7
Q2_MIN, Q2_MAX = 1.0, 1e10  # GeV^2; Pythia freezes the PDF below Q = 1.65 GeV (NNPDF3.1 grid)
# x f is not smooth where Pythia's grid starts (Q = 1.65 GeV) and where the b-quark PDF
# switches on (Q = m_b = 4.92 GeV in the NNPDF3.1 grids of pSet 19): Q^2 is tabulated in
# separate pieces between these edges.
Q2_EDGES = (Q2_MIN, 1.65**2, 4.92**2, Q2_MAX)
_N_LOGX, _N_LINX, _N_LOGQ2 = 300, 200, 80
PARTON_IDS = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 21)


def _x_nodes() -> np.ndarray:
    """Interpolation nodes in x: dense in log x below 0.1, dense in x above."""
    low = np.geomspace(X_MIN, 0.1, _N_LOGX)
    high = np.linspace(0.1, 0.999, _N_LINX)
    return np.unique(np.concatenate([low, high]))


@functools.lru_cache(maxsize=4)
def _pythia_pdf(pset: int):
    """Initialise a process-less Pythia with `PDF:pSet = pset` and return its proton PDF."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in ("ProcessLevel:all = off", "Print:quiet = on"):
        pythia.readString(line)
    accepted = pythia.readString(f"PDF:pSet = {pset}") and pythia.init()
    pdf = pythia.getPDFPtr(2212) if accepted else None
    if pdf is None or not pdf.isSetup():
        raise ConfigError(f"Pythia has no proton PDF set PDF:pSet = {pset} (--pdf-set)")
    return pythia, pdf


class PartonDensity:
    """Proton x f(x, Q^2) for quarks (pdg id -5..5) and gluons (21 or 0), plus alpha_s.

    `xfx(pid, x, q2)` is vectorised over numpy arrays of any (broadcastable) shape. Values
    outside (X_MIN, 1) return 0 above x = 1 and the X_MIN value below; Q^2 is clamped to
    [Q2_MIN, Q2_MAX].
    """

    def __init__(self, pset: int = constants.PYTHIA_PDF_SET, alpha_s_mz: float = constants.ALPHA_S_MZ,
                 alpha_s_order: int = 2):
        self.pset = int(pset)
        self._pythia, self._pdf = _pythia_pdf(self.pset)
        self._x_nodes = _x_nodes()
        self._logx = np.log(self._x_nodes)
        self._splines: dict[int, list[RectBivariateSpline]] = {}
        self._alpha_s = StrongCoupling(alpha_s_mz, alpha_s_order)

    def _splines_for(self, pid: int) -> list[RectBivariateSpline]:
        """One bicubic spline per Q^2 piece between Q2_EDGES, built on first use."""
        pid = 21 if pid == 0 else int(pid)
        if pid not in PARTON_IDS:
            raise ConfigError(f"parton id {pid} not in the proton PDF (allowed: {PARTON_IDS})")
        if pid not in self._splines:
            xf = self._pdf.xf
            pieces = []
            for low, high in zip(Q2_EDGES[:-1], Q2_EDGES[1:]):
                # nodes just inside the piece so that each side sees its own flavour content
                logq2 = np.linspace(np.log(low * (1 + 1e-9)), np.log(high * (1 - 1e-9)), _N_LOGQ2)
                table = np.array([[xf(pid, x, q2) for q2 in np.exp(logq2)] for x in self._x_nodes])
                pieces.append(RectBivariateSpline(self._logx, logq2, table, kx=3, ky=3))
            self._splines[pid] = pieces
        return self._splines[pid]

    def xfx(self, pid: int, x: np.ndarray, q2: np.ndarray) -> np.ndarray:
        """x f_pid(x, Q^2) of the proton, interpolated from Pythia's PDF set."""
        x, q2 = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(q2, dtype=float))
        logx = np.log(np.clip(x, X_MIN, self._x_nodes[-1]))
        logq2 = np.log(np.clip(q2, Q2_MIN, Q2_MAX))
        piece = np.searchsorted(np.log(Q2_EDGES[1:-1]), logq2, side="right")
        values = np.zeros(x.shape)
        for index, spline in enumerate(self._splines_for(pid)):
            mask = piece == index
            values[mask] = spline(logx[mask], logq2[mask], grid=False)
        return np.where(x < 1.0, values, 0.0)

    def xfx_exact(self, pid: int, x: float, q2: float) -> float:
        """Pythia's own x f(x, Q^2) at one point (slow; for checks)."""
        return self._pdf.xf(21 if pid == 0 else int(pid), float(x), float(q2))

    def alpha_s(self, q2: np.ndarray) -> np.ndarray:
        """Two-loop alpha_s(Q^2) normalised to alpha_s(m_Z) (see StrongCoupling)."""
        return self._alpha_s(q2)


class StrongCoupling:
    """alpha_s(Q^2) from `pythia8mc.AlphaStrong` (given order, flavour thresholds of Pythia).

    Tabulated once on a fine grid in log Q^2 and interpolated linearly (relative error
    < 1e-6, also across the flavour thresholds where the slope jumps).
    """

    def __init__(self, alpha_s_mz: float = constants.ALPHA_S_MZ, order: int = 2):
        import pythia8mc

        if not 0.05 < alpha_s_mz < 0.2:
            raise ConfigError(f"alpha_s(m_Z) = {alpha_s_mz} is outside (0.05, 0.2)")
        if order not in (1, 2):
            raise ConfigError(f"alpha_s order must be 1 or 2, not {order}")
        self.alpha_s_mz, self.order = alpha_s_mz, order
        self._running = pythia8mc.AlphaStrong()
        self._running.init(alpha_s_mz, order)
        self._logq2 = np.linspace(np.log(Q2_MIN), np.log(Q2_MAX), 20000)
        self._values = np.array([self._running.alphaS(q2) for q2 in np.exp(self._logq2)])

    def __call__(self, q2: np.ndarray) -> np.ndarray:
        logq2 = np.log(np.clip(np.asarray(q2, dtype=float), Q2_MIN, Q2_MAX))
        return np.interp(logq2, self._logq2, self._values)

    def exact(self, q2: float) -> float:
        """Pythia's alpha_s at one scale (slow; for checks)."""
        return self._running.alphaS(float(q2))


@functools.lru_cache(maxsize=4)
def parton_density(pset: int = constants.PYTHIA_PDF_SET, alpha_s_mz: float = constants.ALPHA_S_MZ,
                   alpha_s_order: int = 2) -> PartonDensity:
    """A shared, cached PartonDensity (building the grids costs ~0.1 s per flavour)."""
    return PartonDensity(pset, alpha_s_mz, alpha_s_order)
