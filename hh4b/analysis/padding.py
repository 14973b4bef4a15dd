"""Jagged awkward per-event lists -> dense, padded numpy columns (no physics).

Every physics module works on (events, slots) numpy arrays: `to_padded` clips or pads one
jagged field to a fixed width, `padded_columns` does so for several fields of one record with
one shared slot layout, and `padded_jets` gives the jet columns of the analysis (pt, eta, phi,
mass as float64 padded with NaN, btag padded with False) at the event's largest multiplicity.
Real entries are where ``slot < ak.num(array)``; padding carries the fill value.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

KINEMATICS = ("pt", "eta", "phi", "mass")


def slots(counts: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, slots) of the flattened elements that fit in `width` columns, and their mask."""
    rows = np.repeat(np.arange(len(counts)), counts)
    slot = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    keep = slot < width
    return rows[keep], slot[keep], keep


def to_padded(array: ak.Array, width: int, fill, layout=None) -> np.ndarray:
    """A jagged (n, var) awkward array as a (n, width) numpy array, clipped and filled.

    `layout` (from `slots`) may be passed when several fields share the same counts."""
    if layout is None:
        layout = slots(ak.to_numpy(ak.num(array, axis=1)), width)
    rows, slot, keep = layout
    flat = ak.to_numpy(ak.flatten(array, axis=1))
    out = np.full((len(array), width), fill, dtype=np.result_type(flat.dtype, np.asarray(fill).dtype))
    out[rows, slot] = flat[keep]
    return out


def padded_columns(record: ak.Array, fields=KINEMATICS, width: int | None = None, fill=np.nan,
                   dtype=np.float64) -> dict[str, np.ndarray]:
    """{field: (n, width) column} of a jagged record, each field cast to `dtype` and padded with
    `fill`; `width` defaults to the largest multiplicity."""
    counts = ak.to_numpy(ak.num(record[fields[0]], axis=1))
    width = int(counts.max(initial=0)) if width is None else int(width)
    layout = slots(counts, width)
    return {k: to_padded(ak.values_astype(record[k], dtype), width, fill, layout) for k in fields}


def padded_jets(jets: ak.Array) -> dict:
    """Jets as (n, J) numpy columns, J the largest multiplicity; padding has NaN and btag False."""
    counts = ak.to_numpy(ak.num(jets.pt, axis=1))
    width = int(counts.max(initial=0))
    layout = slots(counts, width)
    out = {k: to_padded(ak.values_astype(jets[k], np.float64), width, np.nan, layout) for k in KINEMATICS}
    out["btag"] = to_padded(ak.values_astype(jets.btag, bool), width, False, layout)
    return out
