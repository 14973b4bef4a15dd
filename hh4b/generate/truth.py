"""Truth information from Pythia's event record, columnar over a whole batch of events.

The record (`nextBatch(...).prt`) is flattened once; Pythia's per-event indices (mother1,
daughter1, ...) become global indices by adding each event's offset. Pythia keeps "copies" of a
particle when it recoils or radiates: the copy has the same id and the previous copy as mother1.
Following mother1 while the id stays the same leads to the first copy (the chain root); a
particle that is nobody's same-id mother is a last copy.

GenPart (docs/formats.md): the heavy scalar H (35), the Higgs bosons h (25, last copies), the b
quarks from the h decays and the other b quarks of the hard process (qcd4b's four, each top's decay
b) after final-state radiation (last copy before hadronisation; mother = the h or the top, -1 for
the outgoing b quarks of a 2 -> n process), tops and Ws (last copies) and the W daughters (first
copies; a b from a W decay is kept only as such).
statusFlags: bit 7 isHardProcess, bit 12 isFirstCopy, bit 13 isLastCopy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import awkward as ak
import numpy as np

IS_HARD_PROCESS = 1 << 7
IS_FIRST_COPY = 1 << 12
IS_LAST_COPY = 1 << 13
NEUTRINOS = (12, 14, 16)


@dataclass
class FlatRecord:
    """A batch's particle record as flat numpy arrays; `event` is each particle's batch index."""

    pid: np.ndarray
    status: np.ndarray
    mother: np.ndarray  # global index of mother1, -1 for none
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    m: np.ndarray
    event: np.ndarray
    counts: np.ndarray

    @cached_property
    def pt(self) -> np.ndarray:
        return np.hypot(self.px, self.py)

    @cached_property
    def eta(self) -> np.ndarray:
        return np.arcsinh(np.divide(self.pz, self.pt, out=np.full_like(self.pz, np.inf), where=self.pt > 0))

    @cached_property
    def heaviest_quark(self) -> np.ndarray:
        """For hadrons (|status| >= 81) the heaviest quark flavour from the PDG code, else 0."""
        a = np.abs(self.pid)
        hadron = (np.abs(self.status) >= 81) & (a > 100) & ((a // 10) % 10 != 0)
        q = np.where((a // 1000) % 10 > 0, (a // 1000) % 10, (a // 100) % 10)
        return np.where(hadron, q, 0)

    @cached_property
    def phi(self) -> np.ndarray:
        return np.arctan2(self.py, self.px)

    def unflatten(self, values: np.ndarray, mask: np.ndarray) -> ak.Array:
        """Jagged per-event array of `values[mask]` (mask over all particles)."""
        counts = np.bincount(self.event[mask], minlength=len(self.counts))
        return ak.unflatten(values[mask], counts)


def flatten_record(particles: ak.Array) -> FlatRecord:
    """Flatten the batch record `prt` and turn per-event mother indices into global ones."""
    counts = ak.to_numpy(ak.num(particles)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    event = np.repeat(np.arange(len(counts)), counts)
    flat = ak.flatten(particles)
    mother1 = ak.to_numpy(flat.mother1).astype(np.int64)
    mother = np.where(mother1 > 0, mother1 + offsets[event], -1)
    p = flat.p
    return FlatRecord(
        pid=ak.to_numpy(flat.id).astype(np.int32), status=ak.to_numpy(flat.status).astype(np.int32), mother=mother,
        px=ak.to_numpy(p.px), py=ak.to_numpy(p.py), pz=ak.to_numpy(p.pz), e=ak.to_numpy(p.e),
        m=ak.to_numpy(flat.m), event=event, counts=counts,
    )


def copy_structure(rec: FlatRecord) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chain root index, is-first-copy, is-last-copy) for every particle, by pointer jumping."""
    has_mother = rec.mother >= 0
    same = np.zeros(len(rec.pid), dtype=bool)
    same[has_mother] = rec.pid[rec.mother[has_mother]] == rec.pid[has_mother]
    parent = np.where(same, rec.mother, np.arange(len(rec.pid)))
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            break
        parent = grand
    last = np.ones(len(rec.pid), dtype=bool)
    last[rec.mother[same]] = False
    return parent, ~same, last


def heavy_flavour_hadrons(rec: FlatRecord, flavour: int, pt_min: float) -> np.ndarray:
    """Mask of weakly decaying hadrons whose heaviest quark is `flavour` (5 or 4), pT > pt_min.

    "Weakly decaying" = the last hadron of that flavour in its decay chain: no hadron of the same
    flavour has it as mother.
    """
    selected = rec.heaviest_quark == flavour
    last = selected.copy()
    from_same = selected & (rec.mother >= 0)
    from_same[from_same] = selected[rec.mother[from_same]]
    last[rec.mother[from_same]] = False
    return last & (rec.pt > pt_min)


def visible_final(rec: FlatRecord, eta_max: float) -> np.ndarray:
    """Mask of visible final-state particles (no neutrinos) inside the calorimeter acceptance."""
    visible = (rec.status > 0) & ~np.isin(np.abs(rec.pid), NEUTRINOS) & (np.abs(rec.pid) < 1000000)
    return visible & (np.abs(rec.eta) < eta_max)


def genparts(rec: FlatRecord) -> ak.Array:
    """The GenPart collection (NanoAOD names) of each event."""
    root, first, last = copy_structure(rec)
    apid = np.abs(rec.pid)
    root_mother = rec.mother[root]
    mother_pid = np.where(root_mother >= 0, rec.pid[np.maximum(root_mother, 0)], 0)
    hard = (np.abs(rec.status[root]) >= 21) & (np.abs(rec.status[root]) <= 29)
    w_last = (apid == 24) & last
    mother_is_w = np.zeros(len(apid), dtype=bool)
    mother_is_w[rec.mother >= 0] = w_last[rec.mother[rec.mother >= 0]]
    keep = (
        ((apid == 35) & last)
        | ((apid == 25) & last)
        | ((apid == 5) & last & ((mother_pid == 25) | (hard & (np.abs(mother_pid) != 24))))  # W's: first copies
        | ((apid == 6) & last)
        | w_last
        | (first & mother_is_w & (apid != 24))
    )
    local = np.full(len(apid), -1, dtype=np.int32)
    kept = np.flatnonzero(keep)
    starts = np.searchsorted(rec.event[kept], np.arange(len(rec.counts)))
    local[kept] = np.arange(len(kept)) - starts[rec.event[kept]]
    mother_idx = np.where(root_mother >= 0, local[np.maximum(root_mother, 0)], -1)
    flags = hard * IS_HARD_PROCESS + first * IS_FIRST_COPY + last * IS_LAST_COPY
    fields = {
        "pt": rec.pt.astype(np.float32), "eta": rec.eta.astype(np.float32), "phi": rec.phi.astype(np.float32),
        "mass": rec.m.astype(np.float32), "pdgId": rec.pid, "status": np.abs(rec.status).astype(np.int32),
        "statusFlags": flags.astype(np.int32), "genPartIdxMother": mother_idx.astype(np.int32),
    }
    return ak.zip({name: rec.unflatten(values, keep) for name, values in fields.items()})
