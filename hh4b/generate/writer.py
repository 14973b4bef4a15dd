"""Write generated events as a NanoAOD-style ROOT file (docs/formats.md) with uproot.

Trees are TTrees (`mktree`: uproot >= 5.7 writes RNTuples on plain assignment, which coffea's
NanoAOD reader does not expect). The file is written to a hidden temporary file next to the target and
renamed at the end, so an error never leaves a partial file under the requested name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from hh4b.errors import ConfigError

METADATA_KEY = "hh4b_metadata"
# coffea's NanoAODSchema.all_cross_references (importing coffea here costs ~2 s per job); the
# test reading generated files with warnings as errors catches any drift.
NANOAOD_CROSS_REFERENCES = {
    "Electron_genPartIdx": "GenPart", "Electron_jetIdx": "Jet", "Electron_photonIdx": "Photon",
    "LowPtElectron_electronIdx": "Electron", "LowPtElectron_genPartIdx": "GenPart", "LowPtElectron_photonIdx": "Photon",
    "FatJet_genJetAK8Idx": "GenJetAK8", "FatJet_subJetIdx1": "SubJet", "FatJet_subJetIdx2": "SubJet",
    "FsrPhoton_muonIdx": "Muon", "GenPart_genPartIdxMother": "GenPart", "GenVisTau_genPartIdxMother": "GenPart",
    "Jet_electronIdx1": "Electron", "Jet_electronIdx2": "Electron", "Jet_genJetIdx": "GenJet", "Jet_muonIdx1": "Muon",
    "Jet_muonIdx2": "Muon", "Muon_fsrPhotonIdx": "FsrPhoton", "Muon_genPartIdx": "GenPart", "Muon_jetIdx": "Jet",
    "Photon_electronIdx": "Electron", "Photon_genPartIdx": "GenPart", "Photon_jetIdx": "Jet",
    "Tau_genPartIdx": "GenPart", "Tau_jetIdx": "Jet",
}
SCHEMA_MAKES_MASS = ("Photon", "FsrPhoton")  # NanoAODSchema.full_like_items: it adds their mass itself
# Reconstructed-object floats are stored, as in CMS NanoAOD, with a reduced float32 mantissa (bits kept
# of 23, rounded to nearest), which compresses far better: pT, mass and MET to 2^-11 = 0.05% relative
# (the jet energy resolution is >= 3%), eta and phi to 12 bits (<= 6e-4 at |eta| < 5, against an angular
# resolution of ~0.01). Weights and generator-level particles keep full precision (docs/formats.md).
MANTISSA_BITS = {"pt": 10, "mass": 10, "eta": 12, "phi": 12}
REDUCED_COLLECTIONS = ("Jet", "Electron", "Muon")
REDUCED_BRANCHES = {"MET_pt": 10, "MET_phi": 12}


def check_writable(output: str | os.PathLike) -> Path:
    """Fail early (ConfigError naming the path) if `output` cannot be created."""
    path = Path(output)
    if path.is_dir():
        raise ConfigError(f"output {path} is a directory, expected a .root file name")
    probe = path.parent / f".{path.name}.probe-{os.getpid()}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"cannot write output {path}: {err.strerror or err}") from None
    return path


def _temporary(path: Path) -> Path:
    return path.parent / f".{path.name}.tmp-{os.getpid()}"


def write_events(output: str | os.PathLike, events: dict, metadata: dict) -> Path:
    """Write the `Events` tree, the `Runs` tree and the metadata JSON atomically.

    `events` maps branch names (or collection names with an awkward record array, which uproot
    writes as `nX` + `X_field` branches) to arrays, one entry per event.
    """
    path = check_writable(output)
    weights = np.asarray(events["genWeight"], dtype=np.float64)
    runs = {  # as NanoAOD: counts before any generator-level filter (the shower veto), from the metadata
        "run": np.asarray([events["run"][0] if len(weights) else 0], dtype=np.uint32),
        "genEventCount": np.asarray([metadata.get("n_generated", len(weights))], dtype=np.int64),
        "genEventSumw": np.asarray([metadata.get("sumw", weights.sum())], dtype=np.float64),
        "genEventSumw2": np.asarray([metadata.get("sumw2", (weights**2).sum())], dtype=np.float64),
    }
    events = with_cross_references(reduce_precision(events))
    tmp = _temporary(path)
    try:
        with uproot.recreate(tmp) as fout:
            fout.mktree("Events", {name: _prepare(value) for name, value in events.items()})
            fout.mktree("Runs", runs)
            fout[METADATA_KEY] = json.dumps(metadata, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def round_mantissa(values, bits: int) -> np.ndarray:
    """float32 values rounded to nearest with `bits` of the 23 mantissa bits kept (ties away from zero)."""
    raw = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    drop = 23 - int(bits)
    rounded = (raw + np.uint32(1 << (drop - 1))) & np.uint32((0xFFFFFFFF >> drop) << drop)
    finite = np.isfinite(np.asarray(values, dtype=np.float32))
    return np.where(finite, rounded, raw).view(np.float32)


def reduce_precision(events: dict) -> dict:
    """`events` with the MANTISSA_BITS rounding applied to the REDUCED_COLLECTIONS and REDUCED_BRANCHES."""
    out = dict(events)
    for name, bits in REDUCED_BRANCHES.items():
        if name in out:
            out[name] = round_mantissa(out[name], bits)
    for name in REDUCED_COLLECTIONS:
        value = out.get(name)
        if not isinstance(value, ak.Array) or not value.fields:
            continue
        counts = ak.num(value)
        columns = {}
        for field in value.fields:
            column = value[field]
            if field in MANTISSA_BITS:
                flat = round_mantissa(ak.to_numpy(ak.flatten(column)), MANTISSA_BITS[field])
                column = ak.unflatten(flat, counts)
            columns[field] = column
        out[name] = ak.zip(columns)
    return out


def with_cross_references(events: dict) -> dict:
    """Add every cross-reference index NanoAODSchema looks for, so it reads the file without warnings.

    Indices into collections this generator does not make (Photon, Tau, GenJet, ...) are -1
    ("no match", NanoAOD's convention); collections named by a cross-reference but not produced
    are written empty (n = 0 in every event) with pt/eta/phi/mass and their index fields.
    """
    n_events = len(events["genWeight"])
    fields = {k: {f: v[f] for f in v.fields} for k, v in events.items() if isinstance(v, ak.Array) and v.fields}
    counts = {k: ak.num(v) for k, v in events.items() if k in fields}
    for indexer, target in NANOAOD_CROSS_REFERENCES.items():
        source, field = indexer.split("_", 1)
        for name in (source, target):
            if name not in fields:
                counts[name] = np.zeros(n_events, dtype=np.int64)
                kinematics = ("pt", "eta", "phi") if name in SCHEMA_MAKES_MASS else ("pt", "eta", "phi", "mass")
                fields[name] = {f: ak.unflatten(np.zeros(0, np.float32), counts[name]) for f in kinematics}
        if field not in fields[source]:
            n = counts[source]
            fields[source][field] = ak.unflatten(np.full(int(np.sum(n)), -1, dtype=np.int32), n)
    out = {k: v for k, v in events.items() if k not in fields}
    for name, columns in fields.items():
        out[name] = ak.zip(columns)
    return out


def _prepare(value):
    return value if isinstance(value, ak.Array) else np.asarray(value)


def read_metadata(path: str | os.PathLike) -> dict:
    """The `hh4b_metadata` JSON of a generated file."""
    with uproot.open(path) as fin:
        return json.loads(str(fin[METADATA_KEY]))
