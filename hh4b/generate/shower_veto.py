"""Early shower veto: stop showering events that cannot give four analysis-quality jets.

Every analysis category needs four jets with pT > TAG_JET_PT_MIN and |eta| < TAG_JET_ETA_MAX
(hh4b.analysis.selection), and Pythia spends ~14 ms on an LO four-b event, ~90% of it in the
MPI-interleaved showers below 10 GeV and in hadronisation. `ShowerVeto` looks at the event once,
when Pythia's interleaved MPI + ISR + FSR evolution passes the scale `scale` (UserHooks
doVetoPT): it clusters the partons of that moment (anti-kt, R = JET_R, Pythia's SlowJet) and
counts jets with pT > pt_min and |y| < eta_max. An event with fewer than `n_jets` such jets
fails. A failing event is vetoed with probability 1 - keep, and kept with weight factor 1 / keep
otherwise; passing events keep factor 1. The expected sum of weights is unchanged for every
selection, so the veto is exact in expectation whatever the criterion: a loose criterion only
costs statistics (failing events that still reach four quality jets come with weight 1 / keep),
never a bias.

Bookkeeping for the normalisation: the LHE weight (Pythia's info.weight()) of every vetoed event
is summed, so the file's sumw is the sum over all events that entered the shower, accepted and
vetoed (hh4b.generate.pythia_driver).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pythia8mc

from hh4b import constants as C
from hh4b.errors import ConfigError
from hh4b.generate.jets import ANTI_KT_POWER, SELECT_VISIBLE_FINAL, USE_TRUE_MASSES


@dataclass
class ShowerVeto:
    """Criterion, keep probability and counters of the early shower veto (see the module doc)."""

    scale: float = C.SHOWER_VETO_SCALE
    pt_min: float = C.SHOWER_VETO_PT_MIN
    eta_max: float = C.SHOWER_VETO_ETA_MAX
    n_jets: int = C.N_TAGS_REQUIRED
    keep: float = C.SHOWER_VETO_KEEP
    seed: int = 0
    n_checked: int = 0
    n_vetoed: int = 0
    n_kept_failing: int = 0
    sumw_vetoed: float = 0.0
    sumw2_vetoed: float = 0.0
    _rng: np.random.Generator = field(init=False, repr=False)
    _slowjet: object = field(init=False, repr=False)

    def __post_init__(self):
        if not 0 < self.keep <= 1:
            raise ConfigError(f"shower veto: keep probability must be in (0, 1], got {self.keep}")
        if self.scale <= 0 or self.pt_min <= 0 or self.eta_max <= 0 or self.n_jets < 1:
            raise ConfigError(f"shower veto: scale, pt_min, eta_max and n_jets must be positive ({self})")
        self._rng = np.random.default_rng([int(self.seed), 7])
        self._slowjet = pythia8mc.SlowJet(ANTI_KT_POWER, C.JET_R, 0.5 * self.pt_min, self.eta_max,
                                          SELECT_VISIBLE_FINAL, USE_TRUE_MASSES)

    def passes(self, event) -> bool:
        """Whether the partons of `event` make at least n_jets jets with pT > pt_min, |y| < eta_max."""
        slowjet = self._slowjet
        slowjet.analyze(event)
        hard = sum(1 for j in range(slowjet.sizeJet())
                   if slowjet.pT(j) > self.pt_min and abs(slowjet.y(j)) < self.eta_max)
        return hard >= self.n_jets

    def decide(self, event, weight: float) -> float:
        """Weight factor of the event (1 or 1 / keep), or 0 when it is vetoed (its weight is booked)."""
        self.n_checked += 1
        if self.passes(event):
            return 1.0
        if self._rng.random() < self.keep:
            self.n_kept_failing += 1
            return 1.0 / self.keep
        self.n_vetoed += 1
        self.sumw_vetoed += weight
        self.sumw2_vetoed += weight * weight
        return 0.0

    def summary(self) -> dict:
        """Settings and counters for the file metadata."""
        return {"scale": self.scale, "pt_min": self.pt_min, "eta_max": self.eta_max, "n_jets": self.n_jets,
                "keep": self.keep, "n_checked": self.n_checked, "n_vetoed": self.n_vetoed,
                "n_kept_failing": self.n_kept_failing, "sumw_vetoed": self.sumw_vetoed,
                "sumw2_vetoed": self.sumw2_vetoed}
