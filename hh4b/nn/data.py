"""SPA-NET training data in HDF5 (SPANet-compatible layout), written once, streamed in batches.

Layout (N events, J = max jets, docs/formats.md section 4):
    INPUTS/Source/{MASK (bool), pt, eta, phi, mass, btag}   (N, J), pT-ordered, padded with 0
    INPUTS/Kappa/kappa                                       (N,) non-resonant files only
    TARGETS/h1/{b1, b2}, TARGETS/h2/{b1, b2}                 (N,) int64 jet index or -1
    CLASSIFICATIONS/EVENT/signal                             (N,) int64, 1 = signal
    WEIGHTS/weight                                           (N,) float32
    METADATA/{mass, dataset, n_jets, met_pt, met_phi,        numeric hh4b extras (ignored by SPANet):
              n_electron, n_muon}                            resonance mass or -1, Table IV inputs

`fold_split` is the k-fold alternative to `split`: fold k trains on the events whose
METADATA/event modulo K is not k (the processor applies it to the others, hh4b.analysis.inference).

Reading never loads the whole file: `SpanetH5.batches` reads contiguous blocks of a few
batches, shuffles the block order and the events inside each block with an explicit seed, so
a 1M-event file trains in well under 4 GB of memory. Writers shuffle events before writing
so that contiguous blocks mix samples.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch

from hh4b.errors import InputFileError
from hh4b.nn.topology import HH_TOPOLOGY, JET_FEATURES

SOURCE = "INPUTS/Source"
KAPPA = "INPUTS/Kappa/kappa"
SIGNAL = "CLASSIFICATIONS/EVENT/signal"
WEIGHT = "WEIGHTS/weight"
EVENT = "METADATA/event"
BLOCK_BATCHES = 8  # batches per contiguous read


def write_spanet_h5(path, jets: np.ndarray, mask: np.ndarray, targets: np.ndarray, signal: np.ndarray,
                    weight: np.ndarray, kappa: np.ndarray | None = None, metadata: dict | None = None,
                    attrs: dict | None = None) -> None:
    """Write arrays (jets (N,J,5) in JET_FEATURES order, targets (N,2,2)) in the layout above."""
    with h5py.File(path, "w") as f:
        f.attrs.update(attrs or {})
        f.create_dataset(f"{SOURCE}/MASK", data=np.asarray(mask, dtype=bool))
        for i, name in enumerate(JET_FEATURES):
            f.create_dataset(f"{SOURCE}/{name}", data=np.asarray(jets[..., i], dtype=np.float32))
        if kappa is not None:
            f.create_dataset(KAPPA, data=np.asarray(kappa, dtype=np.float32))
        for k, particle in enumerate(HH_TOPOLOGY.particles):
            for j, product in enumerate(HH_TOPOLOGY.products):
                f.create_dataset(f"TARGETS/{particle}/{product}", data=np.asarray(targets[:, k, j], dtype=np.int64))
        f.create_dataset(SIGNAL, data=np.asarray(signal, dtype=np.int64))
        f.create_dataset(WEIGHT, data=np.asarray(weight, dtype=np.float32))
        for name, values in (metadata or {}).items():
            f.create_dataset(f"METADATA/{name}", data=np.asarray(values))


class SpanetH5:
    """Events [start, stop) of one HDF5 file, or the file's events `rows` (increasing indices), read lazily."""

    def __init__(self, path, start: int = 0, stop: int | None = None, rows: np.ndarray | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputFileError(f"{self.path}: training file not found")
        with h5py.File(self.path, "r") as f:
            missing = [p for p in (f"{SOURCE}/MASK", SIGNAL, WEIGHT, *HH_TOPOLOGY.target_paths(),
                                   *(f"{SOURCE}/{n}" for n in JET_FEATURES)) if p not in f]
            if missing:
                raise InputFileError(f"{self.path}: missing HDF5 datasets {', '.join(missing)}")
            total, self.n_jets = f[f"{SOURCE}/MASK"].shape
            self.n_globals = 1 if KAPPA in f else 0
            self.metadata_names = tuple(f["METADATA"].keys()) if "METADATA" in f else ()
        self.start, self.stop = start, total if stop is None else min(stop, total)
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        if self.rows is not None and len(self.rows) and (np.any(np.diff(self.rows) <= 0) or self.rows[0] < 0
                                                           or self.rows[-1] >= total):
            raise ValueError(f"{self.path}: rows must be increasing indices below {total}")

    def __len__(self) -> int:
        return self.stop - self.start if self.rows is None else len(self.rows)

    def read(self, lo: int, hi: int) -> dict:
        """Events [lo, hi) relative to this range (or to `rows`), as numpy arrays."""
        if self.rows is None:
            a, b = self.start + lo, self.start + min(hi, len(self))
            return self._read_range(a, b)
        rows = self.rows[lo:hi]
        if len(rows) == 0:
            return self._read_range(0, 0)
        block = self._read_range(int(rows[0]), int(rows[-1]) + 1)  # one contiguous read, then the rows
        return {k: v[rows - rows[0]] for k, v in block.items()}

    def _column(self, f, name: str) -> np.ndarray:
        """One (N,) dataset over this selection."""
        if self.rows is None:
            return f[name][self.start:self.stop]
        return f[name][:][self.rows]

    def _read_range(self, a: int, b: int) -> dict:
        with h5py.File(self.path, "r") as f:
            jets = np.stack([f[f"{SOURCE}/{n}"][a:b] for n in JET_FEATURES], axis=-1).astype(np.float32)
            paths = HH_TOPOLOGY.target_paths()
            targets = np.stack([f[p][a:b] for p in paths], axis=-1).reshape(b - a, 2, 2)
            out = {"jets": jets, "mask": f[f"{SOURCE}/MASK"][a:b].astype(bool), "targets": targets.astype(np.int64),
                   "signal": f[SIGNAL][a:b].astype(np.float32), "weight": f[WEIGHT][a:b].astype(np.float32)}
            out["globals"] = (f[KAPPA][a:b].astype(np.float32).reshape(-1, 1) if self.n_globals
                              else np.zeros((b - a, 0), dtype=np.float32))
            for name in self.metadata_names:
                out[f"meta_{name}"] = f[f"METADATA/{name}"][a:b]
        return out

    def class_weight_factors(self) -> dict:
        """Per-class factors making signal and background weights each sum to half the events."""
        with h5py.File(self.path, "r") as f:
            signal = self._column(f, SIGNAL) > 0
            weight = np.abs(self._column(f, WEIGHT).astype(np.float64))
        factors = {}
        for cls in (0, 1):
            total = weight[signal == cls].sum()
            factors[cls] = 0.5 * len(signal) / total if total > 0 else 0.0
        if factors[0] == 0 or factors[1] == 0:  # one class only: plain normalisation to mean 1
            factors = {c: len(signal) / max(weight.sum(), 1e-300) for c in (0, 1)}
        return factors

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0, factors: dict | None = None):
        """Yield dicts of torch tensors; with shuffle, block order and in-block order from `seed`."""
        block = batch_size * BLOCK_BATCHES
        starts = np.arange(0, len(self), block)
        rng = np.random.default_rng(seed)
        if shuffle:
            starts = rng.permutation(starts)
        for lo in starts:
            data = self.read(int(lo), int(lo) + block)
            order = rng.permutation(len(data["signal"])) if shuffle else np.arange(len(data["signal"]))
            if factors is not None:
                data["weight"] = np.abs(data["weight"]) * np.where(data["signal"] > 0, factors[1], factors[0])
            for b in range(0, len(order), batch_size):
                idx = order[b:b + batch_size]
                yield {k: torch.as_tensor(v[idx]) for k, v in data.items()}


def split(path, valid_fraction: float = 0.05) -> tuple[SpanetH5, SpanetH5]:
    """Training range = the first (1 - f) of the file, validation = the rest (file is pre-shuffled)."""
    full = SpanetH5(path)
    cut = len(full) - max(1, int(round(valid_fraction * len(full))))
    return SpanetH5(path, 0, cut), SpanetH5(path, cut, len(full))


def fold_split(path, fold: int, folds: int, valid_fraction: float = 0.05) -> tuple[SpanetH5, SpanetH5]:
    """Training and validation events of fold `fold` of `folds`: the events whose METADATA/event
    modulo `folds` is not `fold` (the last `valid_fraction` of them validate), so that model
    `fold` can score the rest, events it never saw."""
    from hh4b.nn.card import kfold_card

    kfold_card(fold, folds)
    full = SpanetH5(path)
    with h5py.File(full.path, "r") as f:
        if EVENT not in f:
            raise InputFileError(f"{full.path}: no {EVENT} (event numbers) for k-fold training; "
                                 f"re-export it with this version of `hh4b export-h5`")
        event = f[EVENT][:].astype(np.int64)
    if np.any(event < 0):
        raise InputFileError(f"{full.path}: {int(np.count_nonzero(event < 0))} events have no event number "
                             f"(their input file has no `event` branch); k-fold needs one per event")
    rows = np.flatnonzero(event % folds != fold)
    if len(rows) < 2:
        raise InputFileError(f"{full.path}: fold {fold} of {folds} leaves {len(rows)} training events")
    cut = len(rows) - max(1, int(round(valid_fraction * len(rows))))
    return SpanetH5(path, rows=rows[:cut]), SpanetH5(path, rows=rows[cut:])
