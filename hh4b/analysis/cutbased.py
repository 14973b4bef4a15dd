"""The cut-based chain as a pure function: jets -> per-event analysis quantities.

`analyse(jets)` runs, for all events at once: four candidate jets and tag category, each
pairing method, h1/h2 by scalar pT sum, the pT cuts of Eq. (4), |deta_hh|, the X_Wt top veto
and the mass-plane region (see hh4b.analysis.selection). It needs no files and no coffea, so the
processor, the benchmark and the tests share it. The jets are padded into numpy columns once
(hh4b.analysis.padding); the physics modules below (selection, pairing, with hh4b.kinematics)
see only those columns.

Pairing methods: the built-ins `cut_mindr` and `cut_dhh` (hh4b.analysis.pairing). Others plug in as
`pairers={name: callable(jets, cands) -> {"jet_idx": (n, 2, 2) indices into each event's
jets, "valid": (n,) bool, optional "score": (n,), optional "pass": (n,) bool}}`; "pass" is an
extra selection (e.g. a classifier threshold) applied with the top veto, "score" is kept.
When `analyse` gets `event_columns` (event-level inputs such as MET and lepton counts for the
non-resonant DNN), plug-ins are called as callable(jets, cands, event_columns). Plug-ins see only
the events of the tag categories in `plugin_categories` (default: every category, 2b, 3b, 4b; the
processor asks for four-tag events only unless a two-tag background model needs the others), the
same objects for every plug-in of a chunk, so a network shared by several methods runs once per
chunk; the plug-in methods of the other events are invalid.
"""

from __future__ import annotations

from collections.abc import Callable

import awkward as ak
import numpy as np

from hh4b.analysis.padding import KINEMATICS, padded_jets
from hh4b.analysis.pairing import all_pairings, choose, chosen_candidates, higgs_candidates
from hh4b.analysis.selection import deta_cut, four_candidates, min_x_wt, pt_cuts, region_codes, x_hh
from hh4b.constants import DHH_CENTRE, XWT_MIN

BUILTIN_METHODS = {"cut_mindr": "mindr", "cut_dhh": "dhh"}


def _builtin(pairings: dict, ok: np.ndarray, method: str, centre) -> dict:
    """h1/h2 of a built-in pairing method, computed on the events with a category."""
    choice, valid = choose(pairings, BUILTIN_METHODS[method], centre)
    return chosen_candidates(pairings, choice), valid & ok


def _pairings_on(cands: dict, ok: np.ndarray) -> dict:
    """The three pairings of the four candidates; events without a category get zeros."""
    cols = [np.where(ok[:, None], cands[k], 0.0) for k in KINEMATICS]
    with np.errstate(invalid="ignore", divide="ignore"):
        return all_pairings(*cols)


def _to_event_jets(cands: dict, slots: np.ndarray) -> np.ndarray:
    """(n, 2, 2) candidate slots 0-3 -> indices into each event's jet list."""
    return np.take_along_axis(cands["index"][:, None, :], slots.reshape(-1, 1, 4), axis=2).reshape(-1, 2, 2)


def builtin_jet_indices(cands: dict, method: str, centre=DHH_CENTRE) -> tuple[np.ndarray, np.ndarray]:
    """A built-in pairing as (n, 2, 2) indices into each event's jets, h1 first, and its validity."""
    ok = cands["category"] > 0
    hh, valid = _builtin(_pairings_on(cands, ok), ok, method, centre)
    return _to_event_jets(cands, hh["jet_idx"]), valid


def _selectable(jets, cands: dict, ok: np.ndarray, event_columns: dict | None) -> dict:
    """The events with a tag category, the only ones a method can select: one set of (jets, cands,
    event_columns) objects per chunk, shared by every plug-in (a model can cache its pass on them)."""
    rows = np.flatnonzero(ok)
    columns = None if event_columns is None else {k: np.asarray(v)[rows] for k, v in event_columns.items()}
    return {"rows": rows, "jets": jets[rows], "cands": {k: np.asarray(v)[rows] for k, v in cands.items()},
            "event_columns": columns}


def _plug_in(pairer: Callable, subset: dict, n: int) -> dict:
    """A plug-in's output on the selectable events, scattered back to all n events (others: invalid)."""
    out = {"jet_idx": np.full((n, 2, 2), -1, dtype=np.int64), "valid": np.zeros(n, dtype=bool)}
    rows = subset["rows"]
    if len(rows) == 0:
        return out
    args = (subset["jets"], subset["cands"])
    if subset["event_columns"] is not None:
        args = (*args, subset["event_columns"])
    pick = dict(pairer(*args))
    out["jet_idx"][rows] = np.asarray(pick["jet_idx"], dtype=np.int64)
    out["valid"][rows] = np.asarray(pick["valid"], dtype=bool)
    if "score" in pick:
        out["score"] = np.zeros(n, dtype=np.float64)
        out["score"][rows] = np.asarray(pick["score"])
    if "pass" in pick:
        out["pass"] = np.zeros(n, dtype=bool)
        out["pass"][rows] = np.asarray(pick["pass"], dtype=bool)
    return out


def _leading(padded: dict, width: int) -> list[np.ndarray]:
    """The kinematics of the leading `width` jets from the padded columns, NaN-padded beyond them."""
    have = padded["pt"].shape[1]
    return [padded[k][:, :width] if have >= width else np.pad(padded[k], ((0, 0), (0, width - have)),
                                                               constant_values=np.nan) for k in KINEMATICS]


def _method_quantities(padded, cands, pairings, ok, name, centre, pairers, subset) -> dict:
    """h1/h2 and every cut decision for one method; arrays of length n (events)."""
    extra = {}
    with np.errstate(invalid="ignore"):
        if name in BUILTIN_METHODS:
            hh, valid = _builtin(pairings, ok, name, centre)
            hh["jet_idx"] = _to_event_jets(cands, hh["jet_idx"])
        elif name in pairers:
            pick = _plug_in(pairers[name], subset, len(ok))
            requested = pick["jet_idx"]
            width = int(max(4, requested.max(initial=0) + 1))
            hh = higgs_candidates(*_leading(padded, width), np.where(requested >= 0, requested, 0))
            valid = pick["valid"] & ok & (requested >= 0).all(axis=(1, 2))
            extra = {k: pick[k] for k in ("score", "pass") if k in pick}
        else:
            raise ValueError(f"unknown method {name!r}: built-ins {tuple(BUILTIN_METHODS)}, "
                             f"plug-ins {tuple(pairers)}")
        valid = valid & np.isfinite(hh["mhh"])
        h1, h2 = hh["h1"], hh["h2"]
        pt_ok = valid & pt_cuts(h1["pt"], h2["pt"], hh["mhh"])
        deta_ok = pt_ok & deta_cut(h1["eta"], h2["eta"])
    return {"h1": h1, "h2": h2, "mhh": hh["mhh"], "jet_idx": hh["jet_idx"], "valid": valid,
            "pt_ok": pt_ok, "deta_ok": deta_ok, **extra}


def analyse(jets: ak.Array, methods=("cut_mindr", "cut_dhh"), centre=DHH_CENTRE,
            pairers: dict[str, Callable] | None = None, event_columns: dict | None = None,
            padded: dict | None = None, plugin_categories=None) -> dict:
    """Per-event quantities of the cut-based chain for every method; `padded`: the jets'
    `padded_jets` columns when the caller has them already; `plugin_categories`: the tag categories
    (2, 3, 4) the plug-ins are called on (None: all).

    Returns {"category": (n,), "ntags": (n,), "xwt": (n,) min X_Wt (inf where not computed),
    "methods": {name: {"h1", "h2", "mhh", "jet_idx", "valid", "pt_ok", "deta_ok", "veto_ok",
    "xhh", "region", "sr"}}}. Cut flags are cumulative (each includes the previous ones).
    """
    pairers = pairers or {}
    padded = padded_jets(jets) if padded is None else padded
    cands = four_candidates(padded)
    ok = cands["category"] > 0
    pairings = _pairings_on(cands, ok)
    scored = ok if plugin_categories is None else ok & np.isin(cands["category"], list(plugin_categories))
    subset = _selectable(jets, cands, scored, event_columns) if any(m in pairers for m in methods) else None
    per_method = {name: _method_quantities(padded, cands, pairings, ok, name, centre, pairers, subset)
                  for name in methods}
    needs_xwt = np.zeros(len(ok), dtype=bool)
    for quantities in per_method.values():
        needs_xwt |= quantities["deta_ok"]
    xwt = np.full(len(ok), np.inf)
    if needs_xwt.any():
        subset = {k: cands[k][needs_xwt] for k in (*KINEMATICS, "index")}
        xwt[needs_xwt] = min_x_wt({k: v[needs_xwt] for k, v in padded.items()}, subset)
    for quantities in per_method.values():
        veto_ok = quantities["deta_ok"] & ~(xwt < XWT_MIN)
        if "pass" in quantities:
            veto_ok &= quantities["pass"].astype(bool)
        m1, m2 = quantities["h1"]["mass"], quantities["h2"]["mass"]
        with np.errstate(invalid="ignore"):
            quantities["xhh"] = x_hh(m1, m2, centre)
            quantities["region"] = np.where(veto_ok, region_codes(m1, m2, centre), 0)
        quantities["veto_ok"] = veto_ok
        quantities["sr"] = quantities["region"] == 1
    return {"category": cands["category"], "ntags": cands["ntags"], "xwt": xwt, "methods": per_method}
