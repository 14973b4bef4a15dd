"""hist.Hist factories with the axes of docs/formats.md section 3 (all Weight() storage).

Categorical axes: dataset (growing), region (presel, SR, VR, CR), tags (2b, 3b, 4b), method
(growing: cut_mindr, cut_dhh, later spanet ...); `kappa_lambda` (growing, values as text) for
non-resonant samples and `term` (a, b, c) for the polynomial decomposition.

m_hh binning (`MHH_EDGES`): from 200 GeV, bins of 20 GeV up to 600 GeV, 40 GeV up to 1000 GeV,
100 GeV up to 2000 GeV and 250 GeV up to 3000 GeV: roughly half the ~7-10% m_hh resolution of
four-jet systems, coarser where the falling spectrum leaves few events per bin.
`presel` holds events passing the pT cuts of Eq. (4) (before |deta_hh|, top veto and X_hh),
the place to look at deta_hh, X_Wt and X_hh; SR/VR/CR hold events passing every cut but X_hh.

Chunk outputs keep their histograms in a `HistogramSet`, which coffea's accumulation adds without
growing a histogram's categories at every merge.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, MutableMapping

import hist
import numpy as np

from hh4b.analysis.selection import REGIONS, TAG_CATEGORIES

REGION_LABELS = ("presel", *REGIONS)
TAG_LABELS = tuple(TAG_CATEGORIES.values())
TERMS = ("a", "b", "c")
MHH_EDGES = np.concatenate([
    np.arange(200.0, 600.0, 20.0), np.arange(600.0, 1000.0, 40.0),
    np.arange(1000.0, 2000.0, 100.0), np.arange(2000.0, 3000.0 + 1, 250.0)])


class HistogramSet(MutableMapping):
    """{name: hist.Hist}, which coffea's accumulation of chunk outputs adds cheaply.

    boost-histogram adds two histograms whose growing category axes differ (another dataset, another
    method) through a generic bin-by-bin index map, and a running total that grows by a dataset at each
    merge costs O(datasets^2) in bins: merging chunks cost more than analysing them. The set keeps, per
    name, one part per distinct set of axes; parts with equal axes add in place (boost-histogram's fast
    path), and the parts are combined once, into the union of their categories, when the histogram is
    looked up (`combine`)."""

    def __init__(self, hists: Mapping | None = None):
        self._parts = {name: [h] for name, h in (hists or {}).items()}

    def __getitem__(self, name: str) -> hist.Hist:
        parts = self._parts[name]
        if len(parts) > 1:
            parts[:] = [combine(parts)]
        return parts[0]

    def __setitem__(self, name: str, h: hist.Hist) -> None:
        self._parts[name] = [h]

    def __delitem__(self, name: str) -> None:
        del self._parts[name]

    def __iter__(self):
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def __add__(self, other: Mapping) -> HistogramSet:
        out = HistogramSet()
        out._parts = {name: [h.copy() for h in parts] for name, parts in self._parts.items()}
        out += other
        return out

    def __iadd__(self, other: Mapping) -> HistogramSet:
        others = other._parts if isinstance(other, HistogramSet) else {name: [h] for name, h in other.items()}
        for name, parts in others.items():
            mine = self._parts.setdefault(name, [])
            for h in parts:
                same = next((p for p in mine if p.axes == h.axes), None)
                if same is None:
                    mine.append(h.copy())
                else:
                    same += h
        return self


_ADDITIVE = (hist.storage.Double, hist.storage.Int64, hist.storage.Weight)


def combine(parts: list[hist.Hist]) -> hist.Hist:
    """The sum of histograms whose axes are equal except for the categories of growing category axes:
    one histogram over the union of those categories (in order of first appearance, as boost-histogram
    orders them when it adds), every part added once. Means storages are added by boost-histogram."""
    first = parts[0]
    if any(p.ndim != first.ndim or p.storage_type is not first.storage_type for p in parts):
        raise ValueError("cannot add histograms of different dimensions or storages")
    if not isinstance(first.storage_type(), _ADDITIVE):
        return functools.reduce(operator.iadd, parts[1:], first.copy())
    axes, positions = [], []  # positions[axis][part]: the part's bins in the union axis, None when equal
    for number, axis in enumerate(first.axes):
        others = [p.axes[number] for p in parts]
        if all(o == axis for o in others):
            axes.append(axis)
            positions.append(None)
            continue
        growing = isinstance(axis, (hist.axis.StrCategory, hist.axis.IntCategory)) and axis.traits.growth
        if not growing or any(type(o) is not type(axis) or o.name != axis.name or
                              o.traits.overflow != axis.traits.overflow for o in others):
            raise ValueError(f"cannot add histograms: axis {number} ({axis.name!r}) differs between them")
        index: dict = {}
        for o in others:
            for category in o:
                index.setdefault(category, len(index))
        overflow = [len(index)] if axis.traits.overflow else []
        axes.append(type(axis)(list(index), name=axis.name, label=axis.label, growth=True,
                               overflow=axis.traits.overflow))
        positions.append([np.array([index[c] for c in o] + overflow, dtype=np.intp) for o in others])
    out = hist.Hist(*axes, storage=first.storage_type(), name=first.name, label=first.label)
    # plain ndarray views of the storages (boost-histogram's View assigns element by element)
    view = out.view(flow=True).view(np.ndarray)
    for k, part in enumerate(parts):
        where = _index([None if pos is None else pos[k] for pos in positions], out.axes.extent)
        source = part.view(flow=True).view(np.ndarray)
        for field in view.dtype.names or (None,):
            if field is None:
                view[where] += source
            else:
                view[field][where] += source[field]
    return out


def _index(positions: list, extent: tuple) -> tuple:
    """The numpy index of a part's bins in the union: runs of consecutive bins as slices (a view),
    one remaining index array as such, several as an outer product (np.ix_)."""
    index = []
    for pos in positions:
        if pos is None:
            index.append(slice(None))
        elif len(pos) and np.array_equal(pos, np.arange(pos[0], pos[0] + len(pos))):
            index.append(slice(int(pos[0]), int(pos[0]) + len(pos)))
        else:
            index.append(pos)
    arrays = [k for k, i in enumerate(index) if not isinstance(i, slice)]
    if len(arrays) <= 1:
        return tuple(index)
    return np.ix_(*(np.arange(size)[i] if isinstance(i, slice) else i for i, size in zip(index, extent)))


def _categories() -> list:
    return [
        hist.axis.StrCategory([], name="dataset", growth=True),
        hist.axis.StrCategory(list(REGION_LABELS), name="region"),
        hist.axis.StrCategory(list(TAG_LABELS), name="tags"),
        hist.axis.StrCategory([], name="method", growth=True),
    ]


def _hist(*axes) -> hist.Hist:
    return hist.Hist(*_categories(), *axes, storage=hist.storage.Weight())


def mhh_axis() -> hist.axis.Variable:
    return hist.axis.Variable(MHH_EDGES, name="mhh", label=r"$m_{hh}$ [GeV]")


def make_histograms(nonresonant: bool = False) -> dict[str, hist.Hist]:
    """The processor's histograms; non-resonant adds `mhh_kl` and `mhh_kl_terms`."""
    hists = {
        "mhh": _hist(mhh_axis()),
        "mh1_mh2": _hist(hist.axis.Regular(50, 50.0, 200.0, name="mh1", label=r"$m_{h1}$ [GeV]"),
                         hist.axis.Regular(50, 50.0, 200.0, name="mh2", label=r"$m_{h2}$ [GeV]")),
        "h1_pt": _hist(hist.axis.Regular(60, 0.0, 1200.0, name="pt", label=r"$p_T^{h1}$ [GeV]")),
        "h2_pt": _hist(hist.axis.Regular(60, 0.0, 1200.0, name="pt", label=r"$p_T^{h2}$ [GeV]")),
        "h1_eta": _hist(hist.axis.Regular(50, -5.0, 5.0, name="eta", label=r"$\eta^{h1}$")),
        "h2_eta": _hist(hist.axis.Regular(50, -5.0, 5.0, name="eta", label=r"$\eta^{h2}$")),
        "deta_hh": _hist(hist.axis.Regular(50, 0.0, 5.0, name="deta", label=r"$|\Delta\eta_{hh}|$")),
        "xhh": _hist(hist.axis.Regular(50, 0.0, 10.0, name="xhh", label=r"$X_{hh}$")),
        "xwt": _hist(hist.axis.Regular(50, 0.0, 10.0, name="xwt", label=r"min $X_{Wt}$")),
    }
    if nonresonant:
        hists["mhh_kl"] = hist.Hist(*_categories(), hist.axis.StrCategory([], name="kappa_lambda", growth=True),
                                    mhh_axis(), storage=hist.storage.Weight())
        hists["mhh_kl_terms"] = hist.Hist(*_categories(), hist.axis.StrCategory(list(TERMS), name="term"),
                                          mhh_axis(), storage=hist.storage.Weight())
    return hists


def score_histograms(nonresonant: bool = False) -> dict[str, hist.Hist]:
    """m_hh vs classifier score (0.01 bins, the threshold grid of hh4b.stats.thresholds) for the
    neural selections, filled for every event with a valid pairing (no mass-plane cuts)."""
    def make(*extra):
        return hist.Hist(hist.axis.StrCategory([], name="dataset", growth=True),
                         hist.axis.StrCategory(list(TAG_LABELS), name="tags"),
                         hist.axis.StrCategory([], name="method", growth=True), *extra,
                         hist.axis.Regular(100, 0.0, 1.0, name="score", label="signal score"),
                         mhh_axis(), storage=hist.storage.Weight())

    hists = {"mhh_score": make()}
    if nonresonant:
        hists["mhh_score_kl_terms"] = make(hist.axis.StrCategory(list(TERMS), name="term"))
    return hists


def kl_label(kappa_lambda: float) -> str:
    """Category label of a kappa_lambda value, e.g. 1.0 -> '1', 2.5 -> '2.5'."""
    return f"{float(kappa_lambda):g}"


def new_cutflow(cuts) -> dict[str, np.ndarray]:
    """{cut: array([sum of weights, raw count])}; arrays add element-wise when chunks merge."""
    return {cut: np.zeros(2, dtype=np.float64) for cut in cuts}
