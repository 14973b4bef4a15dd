"""The data-driven multijet background model as ONNX files, applied in the processor.

`hh4b background` trains the 2b -> 4b reweighters (hh4b.background.datadriven) and writes one ONNX file
per variation with its card into a model directory:

    MODELS/<method>/<variation>.onnx + <variation>.json
    card: model = "reweighter", inputs.features (column names, in order), outputs = ["log_ratio"],
          method, variation, norm (control-region normalisation), seed, process (the multijet
          process the model applies to), trained_on (datasets), dhh_centre, btag_wp, training_region

The processor (`HH4bProcessor(background_model=MODELS)`) loads the directory with
`BackgroundModel`, which checks every card against the graph (hh4b.nn.card) and the processor's configuration
at start-up; each variation is an `hh4b.analysis.inference.OnnxModel`, so the onnxruntime sessions are
made lazily once per worker and never pickled. Per chunk of a dataset of the model's process,
the two-tag events of each modelled method in SR, VR and CR get the weight
event weight * norm * exp(Q(x)) and fill `mhh_bkgmodel` (axes dataset, method, region,
variation, tags = 2b, mhh; docs/formats.md).
"""

from __future__ import annotations

from pathlib import Path

import hist
import numpy as np

from hh4b.analysis.histograms import mhh_axis
from hh4b.errors import ConfigError, InputFileError
from hh4b.nn.card import SCHEMAS

REWEIGHT_FEATURES = ("h1_pt", "h1_eta", "h1_dr", "h2_pt", "h2_eta", "h2_dr", "hh_pt", "deta_hh", "jet4_pt", "n_jets")
REGION_CODES = {"SR": 1, "VR": 2, "CR": 3}
HIST_NAME = "mhh_bkgmodel"
CARD_KEYS = SCHEMAS["reweighter"].fields  # the card fields every reweighter has (hh4b.nn.card)


def bkgmodel_hist(methods, variations) -> hist.Hist:
    """An empty `mhh_bkgmodel` with a growing dataset axis."""
    return hist.Hist(hist.axis.StrCategory([], name="dataset", growth=True),
                     hist.axis.StrCategory(list(methods), name="method"),
                     hist.axis.StrCategory(list(REGION_CODES), name="region"),
                     hist.axis.StrCategory(list(variations), name="variation"),
                     hist.axis.StrCategory(["2b"], name="tags"),
                     mhh_axis(), storage=hist.storage.Weight())


def two_tag_rows(columns: dict, method: str, region: str) -> np.ndarray:
    """Two-tag events of a method in SR, VR or CR (the processor's regions), from per-event columns."""
    return (columns["tags"] == 2) & (columns["method"] == method) & (columns["region"] == REGION_CODES[region])


def fill(h: hist.Hist, columns: dict, method: str, variation: str, weights_of) -> None:
    """Fill one method and variation; `weights_of(columns, mask)` gives the reweighted event weights."""
    for region in REGION_CODES:
        mask = two_tag_rows(columns, method, region)
        if mask.any():
            h.fill(dataset=columns["dataset"][mask], method=method, region=region, variation=variation,
                   tags="2b", mhh=columns["mhh"][mask], weight=weights_of(columns, mask))


class Reweighter:
    """One exported variation: features -> norm * exp(Q), evaluated with onnxruntime."""

    def __init__(self, path: Path):
        from hh4b.analysis.inference import OnnxModel

        self.model = OnnxModel(path, kind="reweighter",
                               allowed_features=("per-event reweighting columns", REWEIGHT_FEATURES))
        card = self.model.card
        self.features = tuple(card["inputs"]["features"])
        self.card = card
        self.norm = float(card["norm"])

    def weights(self, columns: dict, mask: np.ndarray) -> np.ndarray:
        x = np.stack([np.asarray(columns[f][mask], dtype=np.float32) for f in self.features], axis=1)
        q = self.model.run({"features": x}, ["log_ratio"])["log_ratio"].astype(np.float64)
        return np.asarray(columns["weight"][mask], dtype=np.float64) * self.norm * np.exp(q)


class BackgroundModel:
    """Every reweighter of a model directory, checked against the processor's configuration."""

    def __init__(self, directory, methods, centre, btag_wp: str | None = None):
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise InputFileError(f"{self.directory}: background model directory not found "
                                 "(`hh4b background` writes OUTPUT_DIR/background/models)")
        files = sorted(self.directory.glob("*/*.onnx"))
        if not files:
            raise InputFileError(f"{self.directory}: no <method>/<variation>.onnx reweighters")
        self.reweighters: dict[str, dict[str, Reweighter]] = {}
        for path in files:
            model = Reweighter(path)
            if (model.card["method"], model.card["variation"]) != (path.parent.name, path.stem):
                raise InputFileError(f"{path}: card says method {model.card['method']!r}, variation "
                                     f"{model.card['variation']!r}; the file name says otherwise")
            self.reweighters.setdefault(path.parent.name, {})[path.stem] = model
        self._check(tuple(methods), tuple(float(c) for c in centre), btag_wp)
        self.variations = sorted({v for per in self.reweighters.values() for v in per}, key=_variation_order)

    def _check(self, methods, centre, btag_wp) -> None:
        missing = [m for m in self.reweighters if m not in methods]
        if missing:
            raise ConfigError(f"{self.directory}: models for methods {missing}, which the processor does not run "
                              f"(methods {list(methods)})")
        processes = {r.card["process"] for per in self.reweighters.values() for r in per.values()}
        if len(processes) != 1:
            raise InputFileError(f"{self.directory}: reweighters for several processes {sorted(processes)}")
        self.process = processes.pop()
        for method, per in self.reweighters.items():
            if "nominal" not in per:
                raise InputFileError(f"{self.directory / method}: no nominal.onnx (has {sorted(per)})")
            if len({r.features for r in per.values()}) != 1:
                raise InputFileError(f"{self.directory / method}: variations use different input features")
            for r in per.values():
                trained = r.card.get("dhh_centre")
                if trained is not None and not np.allclose(trained, centre):
                    raise ConfigError(f"{r.model.path}: trained with regions around centre {tuple(trained)}, "
                                      f"the processor uses {centre}")
                wp = r.card.get("btag_wp")
                if btag_wp is not None and wp is not None and str(wp) != str(btag_wp):
                    raise ConfigError(f"{r.model.path}: trained at b-tag WP {wp}, the processor uses {btag_wp}")

    def applies_to(self, metadata: dict) -> bool:
        return metadata.get("process") == self.process

    def histogram(self) -> hist.Hist:
        return bkgmodel_hist(self.reweighters, self.variations)

    def fill(self, h: hist.Hist, columns: dict) -> None:
        for method, per in self.reweighters.items():
            for variation, model in per.items():
                fill(h, columns, method, variation, model.weights)


def _variation_order(name: str):
    """nominal, other variations, then ensemble members by number."""
    if name == "nominal":
        return (0, 0, "")
    if name.startswith("ensemble_") and name[9:].isdigit():
        return (2, int(name[9:]), "")
    return (1, 0, name)
