"""Reading the processor's OUTPUT_DIR/output.coffea (docs/formats.md section 3) for the limits.

Signal-region m_hh templates are summed over the datasets of one process: `resonant` per mass,
`nonresonant` through the `mhh_kl_terms` (a, b, c) histograms, backgrounds per process
(`qcd`, `qcd4b`, `ttbar`), `data` as observations. If both `qcd` and `qcd4b` are present the
LO four-b sample `qcd4b` is the multijet background (the default fileset's) unless
asked otherwise. The data-driven multijet model is read from the histogram
`mhh_bkgmodel`: the usual categorical axes plus `variation` = `nominal`, `ensemble_<i>` (bootstrap
retrainings) and any other name (a one-sided systematic variation, e.g. `cr_alt` for the control-
region choice); it replaces the simulated processes of the datasets it was built from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hh4b.background.model import HIST_NAME as BKGMODEL_HIST
from hh4b.config import BACKGROUND_PROCESSES, MULTIJET_PROCESSES
from hh4b.constants import SQRT_S
from hh4b.errors import ConfigError, InputFileError
from hh4b.stats.kappa import KappaTerms
from hh4b.stats.model import Template


@dataclass
class ProcessorOutput:
    path: Path
    hists: dict
    metadata: dict  # {dataset: fileset metadata}
    lumi_fb: float
    sqrt_s: float

    def datasets(self, process: str, **match) -> list[str]:
        return sorted(d for d, m in self.metadata.items()
                      if m.get("process") == process and all(_close(m.get(k), v) for k, v in match.items()))

    def processes(self) -> set[str]:
        return {m.get("process") for m in self.metadata.values()}

    def hist(self, name: str):
        if name not in self.hists:
            raise InputFileError(f"{self.path}: no histogram {name!r} in 'hists' (available: {sorted(self.hists)})")
        return self.hists[name]

    def methods(self, name: str = "mhh") -> list[str]:
        return list(self.hist(name).axes["method"])


def _close(a, b) -> bool:
    try:
        return bool(np.isclose(float(a), float(b)))
    except (TypeError, ValueError):
        return a == b


def load_output(directory) -> ProcessorOutput:
    """Read OUTPUT_DIR/output.coffea; InputFileError naming the file and the missing key."""
    path = Path(directory) / "output.coffea"
    if not path.is_file():
        raise InputFileError(f"{path}: not found (run `hh4b run ... --output {directory}` first)")
    from coffea.util import load

    try:
        out = load(str(path))
    except Exception as err:  # corrupted or not a coffea file
        raise InputFileError(f"{path}: cannot be read as a coffea output ({err})") from err
    for key in ("hists", "metadata"):
        if not isinstance(out, dict) or key not in out:
            raise InputFileError(f"{path}: missing key {key!r} (see docs/formats.md section 3)")
    meta = dict(out["metadata"])
    # top-level keys (hh4b run), or inside metadata (older outputs)
    lumi, sqrt_s = out.get("lumi_fb", meta.pop("lumi_fb", None)), out.get("sqrt_s", meta.pop("sqrt_s", None))
    if lumi is None:
        raise InputFileError(f"{path}: metadata has no 'lumi_fb'")
    return ProcessorOutput(path, dict(out["hists"]), {k: v for k, v in meta.items() if isinstance(v, dict)},
                           float(lumi), float(sqrt_s or SQRT_S))


def check_methods(out: ProcessorOutput, methods, name: str = "mhh") -> list[str]:
    available = out.methods(name)
    if not methods:
        return available
    unknown = [m for m in methods if m not in available]
    if unknown:
        raise ConfigError(f"--method {', '.join(unknown)}: not in {out.path} (available: {', '.join(available)})")
    return list(methods)


def _select(out: ProcessorOutput, name: str, dataset: str, method: str, region: str, tags: str, **extra):
    h = out.hist(name)
    wanted = {"dataset": dataset, "method": method, "region": region, "tags": tags, **extra}
    index = {}
    empty = False  # a dataset of the output that filled nothing into this histogram (no events passed)
    for axis, value in wanted.items():
        if axis not in h.axes.name:
            continue
        if value not in list(h.axes[axis]):
            if axis == "dataset" and value in out.metadata:
                empty, index[axis] = True, sum
                continue
            raise InputFileError(f"{out.path}: histogram {name!r} has no {axis} {value!r} "
                                 f"(available: {list(h.axes[axis])})")
        index[axis] = value
    sel = h[index] * 0.0 if empty else h[index]
    if sel.ndim != 1:
        raise InputFileError(f"{out.path}: histogram {name!r} has unexpected axes {list(h.axes.name)}")
    return sel


def template(out: ProcessorOutput, datasets, method: str, name: str = "mhh", region: str = "SR",
             tags: str = "4b", **extra) -> tuple[np.ndarray, Template]:
    """(edges, summed Template) of `name` over `datasets` for one method/region/tag category."""
    if not datasets:
        raise InputFileError(f"{out.path}: no datasets for histogram {name!r}")
    values, variances, edges = 0.0, 0.0, None
    for d in datasets:
        h = _select(out, name, d, method, region, tags, **extra)
        edges = h.axes[0].edges
        values = values + h.values()
        variances = variances + (h.variances() if h.variances() is not None else 0.0)
    return np.asarray(edges), Template(np.asarray(values, float), np.asarray(variances, float))


def kappa_terms(out: ProcessorOutput, datasets, method: str, region: str = "SR", tags: str = "4b"):
    """(edges, KappaTerms) from `mhh_kl_terms` summed over the non-resonant datasets."""
    parts = {t: template(out, datasets, method, "mhh_kl_terms", region, tags, term=t) for t in "abc"}
    return parts["a"][0], KappaTerms(*(parts[t][1].yields for t in "abc"))


def background_processes(out: ProcessorOutput, multijet: str = "auto") -> list[str]:
    """The simulated background processes present, with one multijet sample (qcd4b preferred when `auto`)."""
    present = [p for p in BACKGROUND_PROCESSES if out.datasets(p)]
    multijets = [p for p in MULTIJET_PROCESSES if p in present]
    if multijet == "auto":
        drop = multijets[1:]
    else:
        if multijet not in present:
            raise ConfigError(f"--multijet {multijet}: no {multijet!r} datasets in {out.path}")
        drop = [p for p in multijets if p != multijet]
    processes = [p for p in present if p not in drop]
    if not processes:
        raise InputFileError(f"{out.path}: no background datasets (process qcd, qcd4b or ttbar) in the metadata")
    return processes


def simulated_backgrounds(out: ProcessorOutput, method: str, multijet: str = "auto", region: str = "SR",
                          tags: str = "4b") -> tuple[np.ndarray, dict[str, Template]]:
    """Background templates per process; one multijet sample (qcd4b preferred when `auto`)."""
    result, edges = {}, None
    for p in background_processes(out, multijet):
        edges, result[p] = template(out, out.datasets(p), method, region=region, tags=tags)
    return edges, result


def datadriven_background(out: ProcessorOutput, method: str, region: str = "SR"):
    """(edges, nominal Template, ensemble (n, bins) or None, {variation: yields}, replaced processes)."""
    h = out.hist(BKGMODEL_HIST)
    if "variation" not in h.axes.name:
        raise InputFileError(f"{out.path}: histogram {BKGMODEL_HIST!r} has no 'variation' axis")
    datasets = list(h.axes["dataset"]) if "dataset" in h.axes.name else [None]
    replaced = (sorted({out.metadata.get(d, {}).get("process") for d in datasets if d} - {None})
                or list(MULTIJET_PROCESSES))

    def get(variation):
        total, var, edges = 0.0, 0.0, None
        for d in datasets:
            idx = {"method": method, "region": region, "variation": variation, "tags": "2b"}
            if d is not None:
                idx["dataset"] = d
            sel = h[{k: v for k, v in idx.items() if k in h.axes.name}]
            edges, total, var = sel.axes[0].edges, total + sel.values(), var + sel.variances()
        return np.asarray(edges), Template(np.asarray(total, float), np.asarray(var, float))

    variations = list(h.axes["variation"])
    if "nominal" not in variations:
        raise InputFileError(f"{out.path}: {BKGMODEL_HIST!r} has no 'nominal' variation (has {variations})")
    edges, nominal = get("nominal")
    members = [v for v in variations if v.startswith("ensemble_")]
    ensemble = np.array([get(v)[1].yields for v in members]) if len(members) >= 2 else None
    others = {v: get(v)[1].yields for v in variations if v != "nominal" and v not in members}
    return edges, nominal, ensemble, others, replaced


def geometric_edges(edges, n_bins: int) -> np.ndarray:
    """At most `n_bins` bins with roughly equal log-width, snapped to existing `edges`.

    Equal relative width follows the m_hh resolution (a roughly constant fraction of m_hh), so a
    resonance covers one or two bins at any mass; fewer bins keep the pyhf fits fast.
    """
    edges = np.asarray(edges, dtype=float)
    if edges.size - 1 <= n_bins:
        return edges
    targets = np.geomspace(edges[0], edges[-1], n_bins + 1)
    snapped = edges[np.unique(np.argmin(np.abs(edges[None, :] - targets[:, None]), axis=1))]
    return np.unique(np.concatenate([[edges[0]], snapped, [edges[-1]]]))


def total(templates) -> Template:
    """The sum of Templates (yields and variances; a template without variances counts 0)."""
    templates = list(templates)
    variances = [np.zeros_like(np.asarray(t.yields, float)) if t.variances is None else np.asarray(t.variances, float)
                 for t in templates]
    return Template(np.sum([np.asarray(t.yields, float) for t in templates], axis=0), np.sum(variances, axis=0))


def rebin(template_: Template, edges, new_edges) -> Template:
    """Sum yields and variances of `template_` into `new_edges` (a subset of `edges`)."""
    idx = np.searchsorted(np.asarray(edges), np.asarray(new_edges)[:-1])
    values = np.add.reduceat(np.asarray(template_.yields, float), idx)
    variances = None if template_.variances is None else np.add.reduceat(np.asarray(template_.variances, float), idx)
    shapes = tuple((n, np.add.reduceat(np.asarray(lo, float), idx), np.add.reduceat(np.asarray(hi, float), idx))
                   for n, lo, hi in template_.shapes)
    return Template(values, variances, shapes)
