"""Anti-kt R = 0.4 jets clustered in C++ by Pythia's SlowJet while Pythia generates.

SlowJet runs from a `UserHooks.onEndHadronLevel` callback, i.e. after hadronisation and all
hadron decays, on the visible final state (SlowJet selection 2: no neutrinos or other invisible
particles) within |eta| < JET_ETA_MAX, with the true particle masses. Running inside the hook
lets Pythia's `nextBatch` still hand over the whole event record in bulk as awkward arrays; the
jets are matched back to the batch events by an event fingerprint (record size and energy of
the last particle), which also drops the jets of events that Pythia rejected after the hook.

Jets are clustered down to JET_CLUSTER_PT_MIN; the detector response and the JET_PT_MIN cut
come later (hh4b.generate.detector). With a `ShowerVeto` (hh4b.generate.shower_veto) the same
hook also stops, early in the shower, events that cannot give four quality jets, and records the
weight factor of each accepted event.
"""

from __future__ import annotations

import contextlib
import os
import sys

import awkward as ak
import numpy as np
import pythia8mc

from hh4b.constants import JET_CLUSTER_PT_MIN, JET_ETA_MAX, JET_R

ANTI_KT_POWER = -1
SELECT_VISIBLE_FINAL = 2
USE_TRUE_MASSES = 2


@contextlib.contextmanager
def quiet_stdout():
    """Send C++ writes to file descriptor 1 (fjcore's banner, Pythia's init) to /dev/null."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


class JetHook(pythia8mc.UserHooks):
    """Pythia user hook that clusters every generated event with SlowJet (anti-kt).

    Per event it records the jet four-momenta (px, py, pz, E), the event fingerprint and the
    shower-veto weight factor; call `take(batch)` after each `nextBatch` to get the jets and
    factors aligned with the batch. `veto` (a ShowerVeto) needs `info` (pythia.infoPython()) set
    before the first event, for the weights of the vetoed events.
    """

    def __init__(self, radius: float = JET_R, pt_min: float = JET_CLUSTER_PT_MIN, eta_max: float = JET_ETA_MAX,
                 veto=None):
        pythia8mc.UserHooks.__init__(self)
        self._slowjet = pythia8mc.SlowJet(ANTI_KT_POWER, radius, pt_min, eta_max, SELECT_VISIBLE_FINAL, USE_TRUE_MASSES)
        self.veto = veto
        self.info = None
        self._factor = 1.0
        self._reset()
        self._print_banner_quietly()

    def _reset(self) -> None:
        self._p4: list[float] = []
        self._counts: list[int] = []
        self._sizes: list[int] = []
        self._last_e: list[float] = []
        self._factors: list[float] = []

    def _print_banner_quietly(self) -> None:
        """fjcore prints its banner at the first clustering: get it over with into /dev/null."""
        event = pythia8mc.Event()
        event.init("banner", pythia8mc.ParticleData())
        for px in (50.0, -50.0):
            event.append(211, 1, 0, 0, px, 0.0, 10.0, float(np.hypot(np.hypot(px, 10.0), 0.13957)), 0.13957)
        with quiet_stdout():
            self._slowjet.analyze(event)

    @property
    def n_vetoed(self) -> int:
        """Events the shower veto has stopped so far (0 without a veto)."""
        return self.veto.n_vetoed if self.veto is not None else 0

    def canVetoPT(self) -> bool:  # Pythia's method names
        return self.veto is not None

    def scaleVetoPT(self) -> float:
        return self.veto.scale

    def doVetoPT(self, position, event) -> bool:
        self._factor = self.veto.decide(event, self.info.weight())
        return self._factor == 0.0

    def onEndHadronLevel(self, hadron_level, event) -> bool:  # noqa: N802 (Pythia's name)
        slowjet = self._slowjet
        slowjet.analyze(event)
        n_jets = slowjet.sizeJet()
        p4 = self._p4
        for j in range(n_jets):
            v = slowjet.p(j)
            p4.extend((v.px(), v.py(), v.pz(), v.e()))
        self._counts.append(n_jets)
        self._sizes.append(event.size())
        self._last_e.append(event.back().e())
        self._factors.append(self._factor)
        self._factor = 1.0
        return True

    def take(self, particles: ak.Array) -> tuple[ak.Array, np.ndarray]:
        """Jets (records px, py, pz, e) and shower-veto weight factors of the events in `particles`
        (the batch's `prt`), then reset."""
        counts = np.asarray(self._counts, dtype=np.int64)
        p4 = np.asarray(self._p4, dtype=np.float64).reshape(-1, 4)
        keep = _align(np.asarray(self._sizes), np.asarray(self._last_e), particles)
        factors = np.asarray(self._factors, dtype=np.float64)[keep]
        self._reset()
        jets = ak.unflatten(ak.zip({"px": p4[:, 0], "py": p4[:, 1], "pz": p4[:, 2], "e": p4[:, 3]}), counts)
        return jets[keep], factors


def _align(sizes: np.ndarray, last_e: np.ndarray, particles: ak.Array) -> np.ndarray:
    """Indices of the hook records that belong to the batch events, in batch order."""
    batch_sizes = ak.to_numpy(ak.num(particles))
    batch_last_e = ak.to_numpy(particles.p.e[:, -1]) if len(particles) else np.zeros(0)
    if len(sizes) == len(batch_sizes) and np.array_equal(sizes, batch_sizes) and np.array_equal(last_e, batch_last_e):
        return np.arange(len(sizes))
    keep = np.empty(len(batch_sizes), dtype=np.int64)
    j = 0
    for i, (size, energy) in enumerate(zip(batch_sizes, batch_last_e)):  # rare path: Pythia rejected an event
        while j < len(sizes) and not (sizes[j] == size and last_e[j] == energy):
            j += 1
        if j == len(sizes):
            raise RuntimeError("SlowJet records could not be matched to Pythia's batch events")
        keep[i] = j
        j += 1
    return keep
