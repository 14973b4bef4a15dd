"""The paper's neural selections as processor plug-ins (paper sections IV, V.A, VI.A).

Each method is a picklable callable `(jets, cands, event_columns) -> {"jet_idx", "valid",
"score"}` (the `pairers` protocol of hh4b.analysis.cutbased), built from ONNX files only:

    cut_spanet  SPA-NET pairing, then the cut-based selection
    spanet      SPA-NET pairing; selection by the SPA-NET signal score
    dnn_mindr   min-dR pairing of the four tagged jets; selection by the DNN score
    dnn_spanet  SPA-NET pairing; selection by a DNN trained on that pairing
    deepsets    min-dR pairing of the four tagged jets; selection by the Deep Sets score
                (hh4b.nn.deepsets, on the same jet inputs as SPA-NET)

SPA-NET sees the leading `SPANET_MAX_JETS` jets of the event (all jets, tagged or not, as in
the paper); its decoded indices point into the event's pT-ordered jet list. Events where
SPA-NET picks a jet outside the list are impossible by construction (masked jets).
The non-resonant networks take kappa_lambda as an input: the processor evaluates them at one
hypothesis (`kappa_lambda`, default the SM value 1), documented in the output metadata.
Any of the networks may be a k-fold set (hh4b.analysis.inference.KFoldModel): each event is then
scored by the fold of its event number, which reaches the methods in `event_columns["event"]`.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hh4b.analysis.cutbased import builtin_jet_indices
from hh4b.analysis.features import higgs_features
from hh4b.analysis.inference import DEFAULT_BATCH_SIZE, DeepSetsScorer, DNNScorer, available_providers, open_model
from hh4b.analysis.padding import to_padded
from hh4b.analysis.pairing import higgs_candidates
from hh4b.constants import SPANET_MAX_JETS
from hh4b.errors import ConfigError
from hh4b.nn.card import KFOLD_VARIABLE, SCHEMAS
from hh4b.nn.inputs import LastJetInputs, jet_inputs
from hh4b.nn.topology import JET_FEATURES

NN_METHODS = ("cut_spanet", "spanet", "dnn_mindr", "dnn_spanet", "deepsets")
MINDR_PAIRED = ("dnn_mindr", "deepsets")  # neural methods on the min-dR pairing (no SPA-NET)
SPANET_INPUTS = SCHEMAS["spanet"].inputs
SPANET_OUTPUTS = SCHEMAS["spanet"].outputs
JET_COLUMNS = JET_FEATURES


def padded_inputs(jets: ak.Array, width: int = SPANET_MAX_JETS) -> tuple[np.ndarray, np.ndarray]:
    """(n, width, 5) raw jet features (pt, eta, phi, mass, btag) and the (n, width) real-jet mask:
    the SPA-NET inputs `hh4b export-h5` writes for training (hh4b.nn.inputs.jet_inputs)."""
    return jet_inputs(jets, width)


# events per onnxruntime call on the CPU provider: the best one-thread rate of the compact and paper
# presets at 10 jets (benchmarks/bench_roofline.py: 256 beats 64, 1000 and 4096 by 5-15%; larger
# batches fall out of cache); other providers keep the default batch
SPANET_CPU_BATCH_SIZE = 256


def spanet_batch_size() -> int:
    """Events per onnxruntime call for SPA-NET on the provider a session would get here."""
    return SPANET_CPU_BATCH_SIZE if available_providers()[0] == "CPUExecutionProvider" else DEFAULT_BATCH_SIZE


class SpanetModel:
    """SPA-NET from its ONNX file: decoded jet pairs and signal probability per event."""

    def __init__(self, path, threads: int = 1, kappa_lambda: float = 1.0, inputs=None):
        # inputs, outputs and n_globals checked
        self.model = open_model(path, threads=threads, kind="spanet", batch_size=spanet_batch_size())
        self.inputs = inputs or padded_inputs  # a LastJetInputs shared with Deep Sets builds them once per chunk
        self.n_globals = int(self.model.card.get("n_globals", 0))
        self.kappa_lambda = float(kappa_lambda)
        self._last = None  # (jets, result): three methods share one SPA-NET pass per chunk

    def __getstate__(self):
        return {**self.__dict__, "_last": None}

    def __call__(self, jets: ak.Array, event: np.ndarray | None = None) -> dict:
        if self._last is not None and self._last[0] is jets:
            return self._last[1]
        result = self._evaluate(jets, event)
        self._last = (jets, result)
        return result

    def _evaluate(self, jets: ak.Array, event: np.ndarray | None) -> dict:
        features, mask = self.inputs(jets)
        feeds = {"jets": features, "mask": mask}
        if self.n_globals:
            feeds["globals"] = np.full((len(features), self.n_globals), self.kappa_lambda, dtype=np.float32)
        out = self.model.run(feeds, list(SPANET_OUTPUTS), event)
        jet_idx = out["assignment"].astype(np.int64).reshape(-1, 2, 2)
        valid = mask.sum(axis=1) >= 4
        return {"jet_idx": np.where(valid[:, None, None], jet_idx, -1), "valid": valid,
                "score": out["signal_probability"].reshape(-1)}


def _dnn_columns(jets: ak.Array, jet_idx: np.ndarray, event_columns: dict, kappa_lambda: float) -> dict:
    """Table II/IV columns for the Higgs candidates given by (n, 2, 2) jet indices."""
    width = int(max(4, jet_idx.max(initial=0) + 1))
    cols = [to_padded(ak.values_astype(jets[k], np.float64), width, np.nan) for k in ("pt", "eta", "phi", "mass")]
    safe = np.where(jet_idx >= 0, jet_idx, 0)
    hh = higgs_candidates(*cols, safe)
    btag = to_padded(ak.values_astype(jets.btag, np.float32), width, 0.0)
    flat = hh["jet_idx"].reshape(len(safe), 4)
    tags = np.take_along_axis(btag, flat, axis=1)
    extra = dict(event_columns)
    extra.setdefault("kappa_lambda", np.full(len(safe), kappa_lambda, dtype=np.float32))
    return higgs_features(hh["h1"], hh["h2"], (hh["h1"]["dr"], hh["h2"]["dr"]), tuple(tags.T), extra)


class NeuralMethod:
    """One of NN_METHODS as a `pairers` callable for hh4b.analysis.cutbased.analyse."""

    def __init__(self, name: str, spanet: SpanetModel | None = None, dnn: DNNScorer | None = None,
                 kappa_lambda: float = 1.0, deepsets: DeepSetsScorer | None = None):
        if name not in NN_METHODS:
            raise ConfigError(f"unknown neural method {name!r}; choose from {NN_METHODS}")
        needs = (("SPA-NET", name not in MINDR_PAIRED, spanet), ("DNN", name.startswith("dnn_"), dnn),
                 ("Deep Sets", name == "deepsets", deepsets))
        wanted = [w for w, need, have in needs if need and have is None]
        if wanted:
            raise ConfigError(f"method {name!r} needs a {' and a '.join(wanted)} model (processor option `models`)")
        self.name, self.spanet, self.dnn, self.deepsets, self.kappa_lambda = name, spanet, dnn, deepsets, kappa_lambda

    def __call__(self, jets: ak.Array, cands: dict, event_columns: dict | None = None) -> dict:
        event_columns = dict(event_columns or {})
        event = event_columns.pop(KFOLD_VARIABLE, None)  # the fold of a k-fold model
        if self.name in MINDR_PAIRED:
            jet_idx, valid = builtin_jet_indices(cands, "cut_mindr")
            result = {"jet_idx": jet_idx, "valid": valid}
        else:
            result = dict(self.spanet(jets, event))
        if self.name == "deepsets":
            result["score"] = np.where(result["valid"], self.deepsets(jets, event), 0.0)
        if self.name.startswith("dnn_"):
            with np.errstate(invalid="ignore", divide="ignore"):
                columns = _dnn_columns(jets, result["jet_idx"], event_columns, self.kappa_lambda)
            result["score"] = np.where(result["valid"], self.dnn(columns, event), 0.0)
        if self.name == "cut_spanet":
            result.pop("score", None)
        return result


def build_methods(names, spanet_path=None, dnn_paths: dict | None = None, threads: int = 1,
                  kappa_lambda: float = 1.0, deepsets_path=None) -> dict:
    """{method: NeuralMethod} for the neural names in `names`; models are opened (and checked) now.

    dnn_paths maps "dnn_mindr"/"dnn_spanet" to their ONNX files.
    """
    dnn_paths = dnn_paths or {}
    wanted = [n for n in names if n in NN_METHODS]
    inputs = LastJetInputs()
    spanet = SpanetModel(spanet_path, threads, kappa_lambda, inputs) if spanet_path and any(
        n not in MINDR_PAIRED for n in wanted) else None
    deepsets = DeepSetsScorer(deepsets_path, threads, kappa_lambda, inputs) \
        if deepsets_path and "deepsets" in wanted else None
    methods = {}
    for name in wanted:
        dnn = DNNScorer(dnn_paths[name], threads) if name in dnn_paths else None
        methods[name] = NeuralMethod(name, spanet=spanet, dnn=dnn, kappa_lambda=kappa_lambda, deepsets=deepsets)
    return methods
