"""The HH -> 4b coffea processor: one chunk of events -> histograms, cutflow, truth counts.

Composition of the hh4b library (see docs/formats.md section 3 for the output):
read jets (hh4b.analysis.events) -> candidates, tag category, pairings, cuts, regions (hh4b.analysis.cutbased)
-> weights (hh4b.weights) -> one fill per histogram per chunk (hh4b.analysis.histograms), plus
truth-matched pairing counts on simulated samples (hh4b.analysis.truth).

Options are __init__ keyword arguments. `models` is the hook for neural methods: a dict
{method name: callable(jets, cands) -> {"jet_idx": (n, 2, 2), "valid": (n,), "score"?,
"pass"?}} (see hh4b.analysis.cutbased); every name in `methods` must be a built-in (cut_mindr,
cut_dhh) or a key of `models`. Callables must pickle (they travel to Dask workers).
`background_model`: a directory of 2b -> 4b reweighters from `hh4b background` (hh4b.background.model),
checked when the processor is made; chunks of the model's multijet process fill `mhh_bkgmodel`.
`btag`: b-tag options {tagger, era, thresholds, delphes_bits} over the fileset metadata's
(hh4b.analysis.events.btag_options). `config` (hh4b.config.AnalysisConfig) holds the run-level choices: the
working point (AnalysisConfig.working_point), the luminosity, the X_hh centre, the kappa_lambda training points.
`network_tags`: the tag categories (of 2, 3, 4) the networks score: four-tag events by default, the
only ones the neural selections select; (2, 3, 4) when a data-driven background of a neural method
needs its two-tag (and three-tag validation) events; the others are invalid for the neural methods.
`branch_filter`: the NanoAOD branches a chunk's events are built from (uproot's filter_name, by default
hh4b.analysis.events.nanoaod_branches, what the readers use); None builds them from every branch (a
subclass reading others). Delphes files are always read whole.
`truth_tagging`: dataset names or processes (metadata "process") whose events enter every tag
category weighted by its probability from the jets' true flavours instead of their drawn tags
(hh4b.analysis.truthtag); the cutflow's "all" counts each event once, later raw counts count events.
Jets with NaN or infinite kinematics fail the jet quality cut and are counted per dataset in
bookkeeping["nonfinite_jets"].
"""

from __future__ import annotations

import awkward as ak
import numpy as np
from coffea import processor

from hh4b.analysis import heft_histograms
from hh4b.analysis.columns import COLUMN_NAMES, event_columns, per_event_columns
from hh4b.analysis.cutbased import BUILTIN_METHODS, analyse
from hh4b.analysis.events import (
    btag_options,
    collection_fields,
    gen_weight,
    higgs_b_quark_columns,
    nanoaod_branches,
    read_jets,
)
from hh4b.analysis.histograms import (
    REGION_LABELS,
    TERMS,
    HistogramSet,
    kl_label,
    make_histograms,
    new_cutflow,
    score_histograms,
)
from hh4b.analysis.padding import padded_jets
from hh4b.analysis.selection import CUTS, TAG_CATEGORIES
from hh4b.analysis.truth import MATCHED, correct_pairing, match_padded
from hh4b.analysis.truthtag import chunk_rng, expand as truth_tag
from hh4b.background.model import HIST_NAME as BKGMODEL_HIST, BackgroundModel
from hh4b.config import DEFAULT, NONRESONANT, AnalysisConfig
from hh4b.errors import ConfigError, InputFileError
from hh4b.weights import density_ratio, event_weight, kl_polynomial, kl_term_factors

COMMON_CUTS = CUTS[:3]  # all, four_jets_2tags, four_tag
METHOD_CUTS = CUTS[3:]  # pairing, pt_cuts, deta_hh, top_veto, SR: 4b events, per method


class HH4bProcessor(processor.ProcessorABC):
    def __init__(self, config: AnalysisConfig = DEFAULT, methods=tuple(BUILTIN_METHODS),
                 models: dict | None = None, btag: dict | None = None, retries: int = 1,
                 save_columns: bool = False, truth_tagging=(), background_model=None, network_tags=(4,),
                 branch_filter=nanoaod_branches):
        self.config = config
        self.methods = tuple(methods)
        self.models = dict(models or {})
        self.btag = dict(btag or {})
        self.retries = int(retries)
        self.save_columns = bool(save_columns)
        self.truth_tagging = tuple(truth_tagging)
        self.branch_filter = branch_filter
        self.network_tags = tuple(int(t) for t in network_tags)
        unknown = [t for t in self.network_tags if t not in TAG_CATEGORIES]
        if unknown or not self.network_tags:
            raise ConfigError(f"network_tags {network_tags!r}: give tag categories out of {tuple(TAG_CATEGORIES)}")
        self.background_model = None if background_model is None else BackgroundModel(
            background_model, self.methods, config.dhh_centre, config.fixed_working_point)

    def cut_names(self) -> list[str]:
        """Cutflow keys in order: common cuts, then `method/cut` for every method."""
        return [*COMMON_CUTS, *(f"{m}/{c}" for m in self.methods for c in METHOD_CUTS)]

    def empty_output(self, dataset: str, nonresonant: bool) -> dict:
        return {
            "hists": HistogramSet({
                **make_histograms(nonresonant), **score_histograms(nonresonant),
                **(heft_histograms.histograms() if nonresonant else {}),
                **({BKGMODEL_HIST: self.background_model.histogram()} if self.background_model else {})}),
            "columns": {k: [] for k in COLUMN_NAMES} if self.save_columns else {},
            "cutflow": {dataset: new_cutflow(self.cut_names())},
            "truth": {dataset: {m: {"matched": 0, "correct": 0} for m in self.methods}},
            "bookkeeping": {"events_processed": 0, "chunks": [], "failed_chunks": [], "nonfinite_jets": {dataset: 0}},
        }

    def process(self, events) -> dict:
        """Process one chunk, retrying `retries` times; a chunk that still fails is returned
        as an entry of bookkeeping["failed_chunks"] (file, entry range, error), never dropped."""
        meta = dict(events.metadata)
        chunk = {"dataset": meta.get("dataset", "unknown"), "file": meta.get("filename", ""),
                 "entry_start": int(meta.get("entrystart", 0)),
                 "entry_stop": int(meta.get("entrystop", 0) or 0)}
        error = None
        for _attempt in range(self.retries + 1):
            try:
                return self.process_chunk(events)
            except Exception as err:  # any failure of this chunk is reported, not raised
                error = " ".join(f"{type(err).__name__}: {err}".split())  # one line
        out = self.empty_output(chunk["dataset"], meta.get("process") == NONRESONANT)
        out["bookkeeping"]["failed_chunks"] = [{**chunk, "error": error}]
        return out

    def process_chunk(self, events) -> dict:
        """The analysis of one chunk; raises on bad input (see `process`)."""
        meta = dict(events.metadata)
        dataset = meta.get("dataset", "unknown")
        nonresonant = meta.get("process") == NONRESONANT
        out = self.empty_output(dataset, nonresonant)
        out["bookkeeping"]["events_processed"] = len(events)
        out["bookkeeping"]["chunks"] = [(dataset, meta.get("filename", ""), int(meta.get("entrystart", 0)),
                                         int(meta.get("entrystop", len(events))))]
        if len(events) == 0:
            return out
        jets = read_jets(events, self.config.working_point(meta), btag_options(meta, self.btag))
        padded = padded_jets(jets)  # the numpy columns every later step works on
        real = np.arange(padded["pt"].shape[1]) < ak.to_numpy(ak.num(jets.pt, axis=1))[:, None]
        finite = np.isfinite(padded["pt"]) & np.isfinite(padded["eta"]) & np.isfinite(padded["phi"]) & \
            np.isfinite(padded["mass"])
        out["bookkeeping"]["nonfinite_jets"][dataset] = int(np.count_nonzero(real & ~finite))
        weight = event_weight(gen_weight(events), meta, self.config.lumi_fb)
        if not np.all(np.isfinite(weight)):
            raise InputFileError(f"{meta.get('filename')}: non-finite genWeight in entries "
                                 f"{meta.get('entrystart')}-{meta.get('entrystop')}")
        total = (weight.sum(), len(weight))
        source = np.arange(len(weight))
        copies = dataset in self.truth_tagging or meta.get("process") in self.truth_tagging
        if copies:
            jets, probability, source = truth_tag(jets, self.config.working_point(meta), chunk_rng(
                dataset, meta.get("filename", ""), int(meta.get("entrystart", 0))), meta.get("filename"))
            weight = weight[source] * probability
            padded = padded_jets(jets)
        inputs = {k: v[source] for k, v in event_columns(events).items()} if self.models else None
        result = analyse(jets, self.methods, self.config.dhh_centre, pairers=self.models, event_columns=inputs,
                         padded=padded, plugin_categories=self.network_tags)
        self._cutflow(out["cutflow"][dataset], result, weight, total, source if copies else None)
        self._truth(out["truth"][dataset], events, padded, result, source)
        kl = kappa_lambda_inputs(events, meta) if nonresonant else None
        if kl is not None:
            kl = tuple(x[source] for x in kl)
        self._fill(out["hists"], dataset, result, weight, kl)
        if kl is not None:
            heft_histograms.fill(out["hists"], dataset, result, weight, kl, events, source)
        self._fill_scores(out["hists"], dataset, result, weight, kl)
        background = self.background_model is not None and self.background_model.applies_to(meta)
        columns = per_event_columns(dataset, jets, result, weight, self.config.dhh_centre) \
            if self.save_columns or background else {}
        if self.save_columns:
            for name, values in columns.items():
                out["columns"][name].append(values)
        if background:
            self.background_model.fill(out["hists"][BKGMODEL_HIST], columns)
        return out

    def _fill_scores(self, hists: dict, dataset: str, result: dict, weight, kl) -> None:
        """mhh_score for methods with a classifier score: all events with a valid pairing."""
        tags = np.array(["", "", "2b", "3b", "4b"])
        for method, q in result["methods"].items():
            if "score" not in q:
                continue
            rows = np.flatnonzero(q["valid"] & (result["category"] > 0))
            common = {"dataset": dataset, "tags": tags[result["category"][rows]], "method": method,
                      "score": np.clip(q["score"][rows].astype(np.float64), 0.0, 1.0 - 1e-9), "mhh": q["mhh"][rows]}
            hists["mhh_score"].fill(**common, weight=weight[rows])
            if kl is not None:
                a, b, c, density = kl
                factors = kl_term_factors(a[rows], b[rows], c[rows], density[rows])
                for term in TERMS:
                    hists["mhh_score_kl_terms"].fill(**common, term=term, weight=weight[rows] * factors[term])

    def _cutflow(self, cutflow: dict, result: dict, weight: np.ndarray, total: tuple, source) -> None:
        """`total`: (sum of weights, events) of the chunk; `source`: None when rows are events, else the
        event of each truth-tagging copy (raw counts then count distinct events)."""
        category = result["category"]
        four_tag = category == 4
        cutflow["all"] += np.array(total, dtype=np.float64)
        masks = {"four_jets_2tags": category > 0, "four_tag": four_tag}
        for method, q in result["methods"].items():
            for cut, key in zip(METHOD_CUTS, ("valid", "pt_ok", "deta_ok", "veto_ok", "sr")):
                masks[f"{method}/{cut}"] = four_tag & q[key]
        for cut, mask in masks.items():
            events = np.count_nonzero(mask) if source is None else np.unique(source[mask]).size
            cutflow[cut] += np.array([weight[mask].sum(), events], dtype=np.float64)

    def _truth(self, truth: dict, events, padded: dict, result: dict, source: np.ndarray) -> None:
        """Truth-matched pairing counts of the four-tag rows; `padded`: the analysed jets' columns,
        `source`: the event of each row."""
        four_tag = result["category"] == 4
        if not four_tag.any():
            return
        quarks = higgs_b_quark_columns(events)
        if quarks is None:
            return
        rows = source[four_tag]
        status, jet_parent = match_padded(padded["eta"][four_tag], padded["phi"][four_tag],
                                          {k: v[rows] for k, v in quarks.items()})
        matched = status == MATCHED
        for method, q in result["methods"].items():
            correct = correct_pairing(jet_parent, q["jet_idx"][four_tag]) & q["valid"][four_tag]
            truth[method]["matched"] += int(matched.sum())
            truth[method]["correct"] += int((correct & matched).sum())

    def _fill(self, hists: dict, dataset: str, result: dict, weight: np.ndarray, kl) -> None:
        cols: dict[str, list] = {k: [] for k in ("event", "region", "method", "tags")}
        for method, q in result["methods"].items():
            for label in REGION_LABELS:
                mask = q["pt_ok"] if label == "presel" else q["region"] == REGION_LABELS.index(label)
                mask = mask & (result["category"] > 0)
                rows = np.flatnonzero(mask)
                cols["event"].append(rows)
                cols["region"].append(np.full(len(rows), label))
                cols["method"].append(np.full(len(rows), method))
                cols["tags"].append(np.array([TAG_CATEGORIES[c] for c in (2, 3, 4)])[result["category"][rows] - 2])
        cat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
        rows = cat.pop("event").astype(np.int64)
        if len(rows) == 0:
            return
        values = self._columns(result, cat["method"], rows)
        common = {"dataset": dataset, "region": cat["region"], "tags": cat["tags"], "method": cat["method"]}
        w = weight[rows]
        hists["mhh"].fill(**common, mhh=values["mhh"], weight=w)
        hists["mh1_mh2"].fill(**common, mh1=values["mh1"], mh2=values["mh2"], weight=w)
        for name in ("h1_pt", "h2_pt"):
            hists[name].fill(**common, pt=values[name], weight=w)
        for name in ("h1_eta", "h2_eta"):
            hists[name].fill(**common, eta=values[name], weight=w)
        hists["deta_hh"].fill(**common, deta=values["deta"], weight=w)
        hists["xhh"].fill(**common, xhh=values["xhh"], weight=w)
        hists["xwt"].fill(**common, xwt=np.minimum(result["xwt"][rows], 1e9), weight=w)
        if kl is not None:
            self._fill_kl(hists, common, values["mhh"], w, kl, rows)

    @staticmethod
    def _columns(result: dict, methods: np.ndarray, rows: np.ndarray) -> dict:
        """Per-fill-entry values, gathering each entry's method's quantities."""
        out = {k: np.empty(len(rows)) for k in ("mhh", "mh1", "mh2", "h1_pt", "h2_pt", "h1_eta", "h2_eta",
                                                 "deta", "xhh")}
        for method, q in result["methods"].items():
            sel = methods == method
            r = rows[sel]
            h1, h2 = q["h1"], q["h2"]
            for key, col in (("mhh", q["mhh"]), ("mh1", h1["mass"]), ("mh2", h2["mass"]), ("h1_pt", h1["pt"]),
                             ("h2_pt", h2["pt"]), ("h1_eta", h1["eta"]), ("h2_eta", h2["eta"]), ("xhh", q["xhh"])):
                out[key][sel] = col[r]
            out["deta"][sel] = np.abs(h1["eta"][r] - h2["eta"][r])
        return out

    def _fill_kl(self, hists: dict, common: dict, mhh, weight, kl, rows) -> None:
        """kappa_lambda reweighted m_hh and the a/b/c term histograms (docs/formats.md)."""
        a, b, c, density = (x[rows] for x in kl)
        n = len(mhh)
        klabels = np.repeat([kl_label(k) for k in self.config.kappa_lambda_training], n)
        kweights = np.concatenate([weight * density_ratio(kl_polynomial(a, b, c, k), density)
                                   for k in self.config.kappa_lambda_training])
        tiled = {k: np.tile(v, len(self.config.kappa_lambda_training)) for k, v in common.items() if k != "dataset"}
        hists["mhh_kl"].fill(dataset=common["dataset"], **tiled, kappa_lambda=klabels,
                             mhh=np.tile(mhh, len(self.config.kappa_lambda_training)), weight=kweights)
        factors = kl_term_factors(a, b, c, density)
        tiled = {k: np.tile(v, len(TERMS)) for k, v in common.items() if k != "dataset"}
        hists["mhh_kl_terms"].fill(dataset=common["dataset"], **tiled, term=np.repeat(TERMS, n),
                                   mhh=np.tile(mhh, len(TERMS)),
                                   weight=np.concatenate([weight * factors[t] for t in TERMS]))

    def postprocess(self, accumulator):
        """After all chunks of a Runner call: the cutflow as plain [sum of weights, raw count] lists
        (coffea calls this once per Runner, i.e. per schema group of datasets; the groups' datasets
        are disjoint, so merging their finalised outputs never adds two cutflow lists)."""
        return finalise(accumulator)


def kappa_lambda_coefficients(events, filename) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The per-event a, b, c of |M|^2 = a + b k + c k^2 (NanoAODSchema groups KappaLambda_a/b/c
    into a `KappaLambda` collection with fields a, b, c)."""
    present = collection_fields(events, "KappaLambda")
    missing = [x for x in "abc" if x not in present]
    if missing:
        raise InputFileError(f"{filename}: branch KappaLambda_{missing[0]} not found (non-resonant sample)")
    return tuple(ak.to_numpy(events.KappaLambda[x]).astype(np.float64) for x in "abc")


def kappa_lambda_inputs(events, meta: dict) -> tuple:
    """(a, b, c, generation density |M|^2_gen) per event of a non-resonant chunk, read once per chunk:
    the density is a + b k0 + c k0^2 at the generation kappa_lambda, or the five-coupling mixture's
    (metadata heft_generation, hh4b.analysis.heft_histograms.generation_density)."""
    a, b, c = kappa_lambda_coefficients(events, meta.get("filename"))
    return a, b, c, heft_histograms.generation_density(events, a, b, c, meta)


def finalise(output: dict) -> dict:
    """After merging chunks: the histograms as a plain dict of hist.Hist (each HistogramSet part
    combined once) and plain-JSON-friendly cutflow lists [sum of weights, raw count]."""
    if isinstance(output.get("hists"), HistogramSet):
        output["hists"] = dict(output["hists"])
    for cuts in output.get("cutflow", {}).values():
        for cut, value in cuts.items():
            cuts[cut] = [float(value[0]), int(value[1])]
    return output
