"""Data-driven multijet background: two-tag events reweighted to four-tag.

Inputs are the per-event columns the processor keeps when run with `save_columns=True`
(`output["columns"]`): for every event with a tag category and a valid pairing, its tag
category, Higgs-candidate kinematics, cut flags, masses and weight (docs/formats.md).

Method (seed talk `talk_hh4b_background_modelling.txt`):
- "data" are the multijet samples (qcd4b, else qcd); two-tag (2b) events of the same samples
  are the template, with the two promoted jets completing the candidates (hh4b.analysis.selection);
- w(x) = exp(Q(x)) is trained on control-region (CR) events, 2b against 4b, with the
  exponential loss (hh4b.background.reweighter) on REWEIGHT_FEATURES, which exclude m_hh and the
  candidate masses that define the regions;
- the normalisation is the CR ratio of four-tag yield to reweighted two-tag yield;
- uncertainty: an ensemble of bootstrap retrainings (`ensemble_<i>` variations) and a
  control-region choice variation (`cr_alt`: trained in the validation region instead);
- the models are exported to ONNX (OUTPUT_DIR/background/models/<method>/<variation>.onnx with
  cards, hh4b.background.model) and applied in the processor: `hh4b background` reruns the processor
  over the multijet datasets with `background_model=` that directory, and its `mhh_bkgmodel`
  (axes dataset, method, region, variation, tags, mhh) goes into output.coffea, where
  hh4b.stats.outputs.datadriven_background reads it;
- validation: hh4b.background.validation (CR, VR, reversed |deta_hh|, 3-tag, shifted centres).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from hh4b.analysis.cutbased import BUILTIN_METHODS
from hh4b.analysis.selection import TAG_CATEGORIES, region_codes
from hh4b.background.model import HIST_NAME, REGION_CODES, REWEIGHT_FEATURES, bkgmodel_hist, fill
from hh4b.background.reweighter import (
    ReweightConfig,
    control_region_normalisation,
    density_ratio,
    train_ensemble,
    train_reweighter,
)
from hh4b.config import MULTIJET_PROCESSES, AnalysisConfig
from hh4b.errors import ConfigError, HH4bError

log = logging.getLogger(__name__)

MIN_TRAINING_EVENTS = 20


@dataclass
class Model:
    """One trained reweighter and its CR normalisation."""

    network: object
    norm: float

    def weights(self, x: np.ndarray) -> np.ndarray:
        return self.norm * density_ratio(self.network, x)


def select(columns: dict, mask: np.ndarray) -> dict:
    return {k: v[mask] for k, v in columns.items()}


def shifted_regions(columns: dict, centre) -> np.ndarray:
    """Region codes (1 SR, 2 VR, 3 CR, 0 none) around another centre, with every other cut applied."""
    return np.where(columns["veto_ok"], region_codes(columns["mh1"], columns["mh2"], centre), 0)


def region_mask(columns: dict, region: str, codes: np.ndarray | None = None) -> np.ndarray:
    """Events of SR/VR/CR (the processor's, or those of `codes`) or of the reversed-deta SR window."""
    if region == "SR_deta_reversed":
        return columns["pt_ok"] & ~columns["deta_ok"] & (columns["mass_region"] == REGION_CODES["SR"])
    return (columns["region"] if codes is None else codes) == REGION_CODES[region]


def _xw(columns: dict, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([columns[f][mask] for f in REWEIGHT_FEATURES], axis=1).astype(np.float32)
    return x, columns["weight"][mask].astype(np.float64)


def training_sets(columns: dict, region: str, target_tags: int = 4, codes: np.ndarray | None = None) -> tuple:
    """(x_2b, w_2b, x_target, w_target) of a region; too few events to train is an error naming it."""
    in_region = region_mask(columns, region, codes)
    x2, w2 = _xw(columns, in_region & (columns["tags"] == 2))
    xt, wt = _xw(columns, in_region & (columns["tags"] == target_tags))
    if len(x2) < MIN_TRAINING_EVENTS or len(xt) < MIN_TRAINING_EVENTS:
        raise ConfigError(f"background model: too few events to train in {region} "
                          f"({len(x2)} two-tag, {len(xt)} {target_tags}-tag); generate more multijet events")
    return x2, w2, xt, wt


def _model(network, x2, w2, w4) -> Model:
    return Model(network, control_region_normalisation(network, x2, w2, w4))


def train_model(columns: dict, region: str, config: ReweightConfig, seed: int, target_tags: int = 4,
                codes: np.ndarray | None = None) -> Model:
    x2, w2, xt, wt = training_sets(columns, region, target_tags, codes)
    return _model(train_reweighter(x2, w2, xt, wt, config, seed=seed), x2, w2, wt)


def train_models(columns: dict, n_ensemble: int, config: ReweightConfig, seed: int) -> dict[str, Model]:
    """Nominal (CR), `cr_alt` (VR) and `ensemble_<i>` bootstrap models."""
    x2, w2, x4, w4 = training_sets(columns, "CR")
    models = {"nominal": _model(train_reweighter(x2, w2, x4, w4, config, seed=seed), x2, w2, w4),
              "cr_alt": train_model(columns, "VR", config, seed + 1000)}
    for i, network in enumerate(train_ensemble(x2, w2, x4, w4, n_ensemble, config, seed=seed + 1)):
        models[f"ensemble_{i}"] = _model(network, x2, w2, w4)
    return models


def predicted_weights(columns: dict, model: Model, mask: np.ndarray) -> np.ndarray:
    x, w = _xw(columns, mask)
    return w * model.weights(x)


def bkgmodel_histogram(columns: dict, models: dict[str, Model], method: str):
    """`mhh_bkgmodel` computed from the columns with the torch models (the processor's reference)."""
    h = bkgmodel_hist([method], list(models))
    for name, model in models.items():
        fill(h, columns, method, name, lambda cols, mask, m=model: predicted_weights(cols, m, mask))
    return h


def save_models(models: dict[str, Model], directory, method: str, card: dict) -> None:
    """`directory/<method>/<variation>.onnx` and cards (hh4b.background.model)."""
    from hh4b.background.reweighter import export_reweighter

    for name, model in models.items():
        export_reweighter(model.network, REWEIGHT_FEATURES, directory / method / f"{name}.onnx",
                          card={**card, "method": method, "variation": name, "norm": model.norm,
                                "training_region": "VR" if name == "cr_alt" else "CR"})


def multijet_columns(columns: dict, metadata: dict, method: str) -> tuple[dict, list[str], str]:
    """The method's events of the multijet datasets (qcd4b preferred over Pythia-only qcd),
    their dataset names and process."""
    for process in MULTIJET_PROCESSES:
        datasets = sorted(d for d, m in metadata.items() if isinstance(m, dict) and m.get("process") == process)
        if datasets:
            mask = np.isin(columns["dataset"], datasets) & (columns["method"] == method)
            return select(columns, mask), datasets, process
    raise ConfigError(f"background model: no multijet datasets (process {' or '.join(MULTIJET_PROCESSES)}) "
                      "in the outputs")


def gather_columns(output: dict) -> dict:
    """Concatenate the processor's per-chunk column lists ({name: [array, ...]}) and put the rows in
    a canonical order (sorted by every column), so that the trainings do not depend on the order in
    which a parallel executor returned the chunks: the same events give the same models."""
    raw = output.get("columns")
    if not raw:
        raise ConfigError("processor output has no per-event columns: rerun `hh4b run` with --save-columns")
    columns = {k: np.concatenate([np.asarray(a) for a in v]) if len(v) else np.zeros(0) for k, v in raw.items()}
    if "veto_ok" not in columns:
        raise ConfigError("processor output has no veto_ok column (made by an older hh4b): rerun "
                          "`hh4b run --save-columns`")
    order = np.lexsort([columns[k] for k in sorted(columns, reverse=True)])
    return {k: v[order] for k, v in columns.items()}


def run_config(options: dict) -> AnalysisConfig:
    """The AnalysisConfig of a `hh4b run` from its run_options (outputs older than the configuration
    object carry its working point, centre and luminosity as keys of their own)."""
    if "config" in options:
        return AnalysisConfig.from_dict(options["config"], "run_options")
    return AnalysisConfig(btag_wp=options["btag_wp"], dhh_centre=options["dhh_centre"], lumi_fb=options["lumi_fb"])


def network_tags(options: dict) -> tuple[int, ...]:
    """The tag categories the run's networks scored (outputs from before the option: all)."""
    return tuple(options.get("network_tags", TAG_CATEGORIES))


def check_scored_two_tag(options: dict, methods) -> None:
    """A neural method's background model needs its two- and three-tag events scored by the network:
    ConfigError naming the method and the rerun otherwise."""
    missing = [m for m in methods if m not in BUILTIN_METHODS]
    if missing and not {2, 3} <= set(network_tags(options)):
        scored = "/".join(f"{t}b" for t in network_tags(options))
        raise ConfigError(f"method {missing[0]}: its network scored only the {scored} events of this output; "
                          f"rerun `hh4b run --save-columns --network-tags 2,3,4` to model its background from "
                          f"two-tag events")


def processor_pass(options: dict, fileset_path, process: str, methods, models_dir, workers: int):
    """Rerun the processor over the multijet datasets with the exported models: `mhh_bkgmodel`."""
    from pathlib import Path

    from hh4b.analysis.processing import load_fileset, neural_methods, process_fileset
    from hh4b.analysis.processor import HH4bProcessor

    fileset = {d: e for d, e in load_fileset(fileset_path).items() if e["metadata"].get("process") == process}
    if not fileset:
        raise ConfigError(f"{fileset_path}: no datasets of process {process!r} to apply the background model to")
    pairers = {}
    if any(m not in BUILTIN_METHODS for m in methods):
        pairers = neural_methods(Path(options["models"]), options["analysis"], options["kappa_lambda_input"])
    proc = HH4bProcessor(run_config(options), methods=tuple(methods),
                         models={m: p for m, p in pairers.items() if m in methods},
                         truth_tagging=tuple(options.get("truth_tagging", ())), background_model=models_dir,
                         network_tags=network_tags(options),
                         btag=options.get("btag_options", {}))
    result = process_fileset(fileset, proc, "futures", workers, int(options["chunksize"]), progress=False)
    failed = result["bookkeeping"]["failed_chunks"]
    if failed:
        raise HH4bError(f"background model pass: {len(failed)} chunks failed, first {failed[0]}")
    return result["hists"][HIST_NAME]
