"""Per-event columns the processor hands to other stages.

`event_columns`: event-level inputs of the networks, read from the NanoAOD-style branches when
present: the non-resonant DNN's (paper Table IV: MET and its phi, electron and muon counts) and the
event number that picks the fold of a k-fold model (hh4b.analysis.inference.KFoldModel).

`per_event_columns`: with `save_columns=True` the processor keeps, for every event with a tag
category and a valid pairing, what the data-driven background model (hh4b.background.datadriven) needs:
dataset, method, tag count, weight, masses, cut flags, region codes and the reweighting inputs.
`mass_region` is the mass-plane region of the processor's centre for every event (no other cut);
`veto_ok` is every cut but the mass plane (pT, |deta_hh|, top veto, any classifier pass), so
`region == where(veto_ok, mass_region, 0)` and regions of another centre are
`where(veto_ok, region_codes(mh1, mh2, centre), 0)`.
Chunks append to lists ({name: [array, ...]}), which coffea concatenates when merging.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hh4b.analysis.padding import to_padded
from hh4b.analysis.selection import region_codes
from hh4b.constants import DHH_CENTRE
from hh4b.nn.card import KFOLD_VARIABLE

COLUMN_NAMES = ("dataset", "method", "tags", "weight", "mhh", "mh1", "mh2", "region", "mass_region", "pt_ok",
                "deta_ok", "veto_ok", "h1_pt", "h1_eta", "h1_dr", "h2_pt", "h2_eta", "h2_dr", "hh_pt", "deta_hh",
                "jet4_pt", "n_jets")


def event_columns(events) -> dict:
    """met_pt, met_phi, n_electron, n_muon as float32 numpy columns and the event number `event`
    (uint64), only those present."""
    sources = {"met_pt": ("MET", "pt"), "met_phi": ("MET", "phi")}
    out = {}
    for name, (collection, field) in sources.items():
        if collection in events.fields and field in events[collection].fields:
            out[name] = ak.to_numpy(events[collection][field]).astype(np.float32)
    for name, collection in (("n_electron", "Electron"), ("n_muon", "Muon")):
        if collection in events.fields:
            out[name] = ak.to_numpy(ak.num(events[collection], axis=1)).astype(np.float32)
    if KFOLD_VARIABLE in events.fields:
        out[KFOLD_VARIABLE] = ak.to_numpy(events[KFOLD_VARIABLE]).astype(np.uint64)
    return out


def per_event_columns(dataset: str, jets, result: dict, weight: np.ndarray, centre=DHH_CENTRE) -> dict:
    """Columns of the events with a category and a valid pairing, for every method; `centre` is
    the processor's X_hh centre (the one its `region` used)."""
    n_jets = ak.to_numpy(ak.num(jets.pt, axis=1))
    pts = to_padded(ak.values_astype(jets.pt, np.float64), 4, 0.0)
    out = {k: [] for k in COLUMN_NAMES}
    for method, q in result["methods"].items():
        rows = np.flatnonzero(q["valid"] & (result["category"] > 0))
        h1, h2 = ({k: v[rows] for k, v in h.items()} for h in (q["h1"], q["h2"]))
        values = {
            "dataset": np.full(len(rows), dataset), "method": np.full(len(rows), method),
            "tags": result["category"][rows], "weight": weight[rows], "mhh": q["mhh"][rows],
            "mh1": h1["mass"], "mh2": h2["mass"], "region": q["region"][rows],
            "mass_region": region_codes(h1["mass"], h2["mass"], centre), "pt_ok": q["pt_ok"][rows],
            "deta_ok": q["deta_ok"][rows], "veto_ok": q["veto_ok"][rows],
            "h1_pt": h1["pt"], "h1_eta": h1["eta"], "h1_dr": h1["dr"],
            "h2_pt": h2["pt"], "h2_eta": h2["eta"], "h2_dr": h2["dr"], "hh_pt": (h1["p4"] + h2["p4"]).pt,
            "deta_hh": np.abs(h1["eta"] - h2["eta"]), "jet4_pt": pts[rows, 3], "n_jets": n_jets[rows],
        }
        for k in COLUMN_NAMES:
            out[k].append(np.asarray(values[k]))
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}
