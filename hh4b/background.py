"""Data-driven multijet background: two-tag events reweighted to four-tag (issue 8).

Inputs are the per-event columns the processor keeps when run with `save_columns=True`
(`output["columns"]`): for every event with a tag category and a valid pairing, its tag
category, Higgs-candidate kinematics, cut flags, masses and weight (docs/formats.md).

Method (seed talk `talk_hh4b_background_modelling.txt`):
- "data" are the multijet samples (qcd4b, else qcd); two-tag (2b) events of the same samples
  are the template, with the two promoted jets completing the candidates (hh4b.selection);
- w(x) = exp(Q(x)) is trained on control-region (CR) events, 2b against 4b, with the
  exponential loss (hh4b.nn.reweight) on REWEIGHT_FEATURES, which exclude m_hh and the
  candidate masses that define the regions;
- the normalisation is the CR ratio of four-tag yield to reweighted two-tag yield;
- uncertainty: an ensemble of bootstrap retrainings (`ensemble_<i>` variations) and a
  control-region choice variation (`cr_alt`: trained in the validation region instead);
- validation: observed four-tag vs predicted yields and shapes in the validation region (VR,
  the ring between SR and CR) and in the signal-region mass window with |deta_hh| reversed.

The result is the histogram `mhh_bkgmodel` (axes dataset, method, region, variation, tags, mhh)
read by hh4b.stats.outputs.datadriven_background.
"""

from __future__ import annotations

from dataclasses import dataclass

import hist
import numpy as np

from hh4b.errors import ConfigError
from hh4b.histograms import mhh_axis
from hh4b.nn.reweight import (ReweightConfig, control_region_normalisation, density_ratio, train_ensemble,
                               train_reweighter)

REWEIGHT_FEATURES = ("h1_pt", "h1_eta", "h1_dr", "h2_pt", "h2_eta", "h2_dr", "hh_pt", "deta_hh", "jet4_pt", "n_jets")
MULTIJET_PROCESSES = ("qcd4b", "qcd")
REGION_CODES = {"SR": 1, "VR": 2, "CR": 3}
VALIDATION_REGIONS = ("CR", "VR", "SR_deta_reversed")
SHAPE_VARIABLES = ("mhh", "h1_pt", "h2_pt", "deta_hh")


@dataclass
class Model:
    """One trained reweighter and its CR normalisation."""

    network: object
    norm: float

    def weights(self, x: np.ndarray) -> np.ndarray:
        return self.norm * density_ratio(self.network, x)


def select(columns: dict, mask: np.ndarray) -> dict:
    return {k: v[mask] for k, v in columns.items()}


def region_mask(columns: dict, region: str) -> np.ndarray:
    """Events of a region: the processor's SR/VR/CR after all cuts, or the reversed-deta window."""
    if region == "SR_deta_reversed":
        return columns["pt_ok"] & ~columns["deta_ok"] & (columns["mass_region"] == REGION_CODES["SR"])
    return columns["region"] == REGION_CODES[region]


def _xw(columns: dict, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([columns[f][mask] for f in REWEIGHT_FEATURES], axis=1).astype(np.float32)
    return x, columns["weight"][mask].astype(np.float64)


def _training_sets(columns: dict, region: str) -> tuple:
    """(x_2b, w_2b, x_4b, w_4b) of a region; too few events to train is an error naming it."""
    in_region = region_mask(columns, region)
    x2, w2 = _xw(columns, in_region & (columns["tags"] == 2))
    x4, w4 = _xw(columns, in_region & (columns["tags"] == 4))
    if len(x2) < 20 or len(x4) < 20:
        raise ConfigError(f"background model: too few events to train in {region} "
                          f"({len(x2)} two-tag, {len(x4)} four-tag); generate more multijet events")
    return x2, w2, x4, w4


def _model(network, x2, w2, w4) -> Model:
    return Model(network, control_region_normalisation(network, x2, w2, w4))


def train_model(columns: dict, region: str, config: ReweightConfig, seed: int) -> Model:
    x2, w2, x4, w4 = _training_sets(columns, region)
    return _model(train_reweighter(x2, w2, x4, w4, config, seed=seed), x2, w2, w4)


def train_models(columns: dict, n_ensemble: int, config: ReweightConfig, seed: int) -> dict[str, Model]:
    """Nominal (CR), `cr_alt` (VR) and `ensemble_<i>` bootstrap models."""
    x2, w2, x4, w4 = _training_sets(columns, "CR")
    models = {"nominal": _model(train_reweighter(x2, w2, x4, w4, config, seed=seed), x2, w2, w4),
              "cr_alt": train_model(columns, "VR", config, seed + 1000)}
    for i, network in enumerate(train_ensemble(x2, w2, x4, w4, n_ensemble, config, seed=seed + 1)):
        models[f"ensemble_{i}"] = _model(network, x2, w2, w4)
    return models


def predicted_weights(columns: dict, model: Model, mask: np.ndarray) -> np.ndarray:
    x, w = _xw(columns, mask)
    return w * model.weights(x)


def bkgmodel_histogram(columns: dict, models: dict[str, Model], method: str, datasets) -> hist.Hist:
    """`mhh_bkgmodel`: reweighted two-tag m_hh per region and variation."""
    h = hist.Hist(hist.axis.StrCategory(list(datasets), name="dataset"),
                  hist.axis.StrCategory([method], name="method"),
                  hist.axis.StrCategory(list(REGION_CODES), name="region"),
                  hist.axis.StrCategory(list(models), name="variation"),
                  hist.axis.StrCategory(["2b"], name="tags"),
                  mhh_axis(), storage=hist.storage.Weight())
    two_tag = columns["tags"] == 2
    for region in REGION_CODES:
        mask = two_tag & region_mask(columns, region)
        for name, model in models.items():
            h.fill(dataset=columns["dataset"][mask], method=method, region=region, variation=name, tags="2b",
                   mhh=columns["mhh"][mask], weight=predicted_weights(columns, model, mask))
    return h


def _shape_chi2(observed, obs_var, predicted, pred_var) -> tuple[float, int]:
    keep = (obs_var + pred_var) > 0
    diff = (observed / observed.sum() - predicted / predicted.sum())[keep]
    var = (obs_var / observed.sum() ** 2 + pred_var / predicted.sum() ** 2)[keep]
    return float(np.sum(diff**2 / var)), int(keep.sum() - 1)


def validation_table(columns: dict, models: dict[str, Model]) -> list[dict]:
    """Observed vs predicted four-tag yields and shapes per validation region."""
    rows = []
    ensemble = [m for k, m in models.items() if k.startswith("ensemble_")]
    for region in VALIDATION_REGIONS:
        in_region = region_mask(columns, region)
        obs_mask, pred_mask = in_region & (columns["tags"] == 4), in_region & (columns["tags"] == 2)
        w_obs = columns["weight"][obs_mask]
        w_pred = predicted_weights(columns, models["nominal"], pred_mask)
        spread = np.std([predicted_weights(columns, m, pred_mask).sum() for m in ensemble]) if ensemble else 0.0
        row = {"region": region, "observed": float(w_obs.sum()), "observed_err": float(np.sqrt(np.sum(w_obs**2))),
               "predicted": float(w_pred.sum()), "predicted_stat": float(np.sqrt(np.sum(w_pred**2))),
               "predicted_ensemble": float(spread), "n_observed": int(obs_mask.sum()), "n_template": int(pred_mask.sum())}
        row["ratio"] = row["observed"] / row["predicted"] if row["predicted"] > 0 else float("nan")
        for var in SHAPE_VARIABLES:
            edges = np.quantile(np.concatenate([columns[var][obs_mask], columns[var][pred_mask]]),
                                np.linspace(0, 1, 9)) if obs_mask.sum() > 8 else None
            if edges is None or len(np.unique(edges)) < 3:
                continue
            edges = np.unique(edges)
            o, _ = np.histogram(columns[var][obs_mask], edges, weights=w_obs)
            ov, _ = np.histogram(columns[var][obs_mask], edges, weights=w_obs**2)
            p, _ = np.histogram(columns[var][pred_mask], edges, weights=w_pred)
            pv, _ = np.histogram(columns[var][pred_mask], edges, weights=w_pred**2)
            if o.sum() > 0 and p.sum() > 0:
                chi2, ndf = _shape_chi2(o, ov, p, pv)
                row[f"chi2_{var}"] = f"{chi2:.1f}/{ndf}"
        rows.append(row)
    return rows


def multijet_columns(columns: dict, metadata: dict, method: str) -> tuple[dict, list[str]]:
    """The method's events of the multijet datasets (qcd4b preferred over Pythia-only qcd)."""
    for process in MULTIJET_PROCESSES:
        datasets = sorted(d for d, m in metadata.items() if isinstance(m, dict) and m.get("process") == process)
        if datasets:
            mask = np.isin(columns["dataset"], datasets) & (columns["method"] == method)
            return select(columns, mask), datasets
    raise ConfigError(f"background model: no multijet datasets (process {' or '.join(MULTIJET_PROCESSES)}) in the outputs")


def gather_columns(output: dict) -> dict:
    """Concatenate the processor's per-chunk column lists ({name: [array, ...]})."""
    raw = output.get("columns")
    if not raw:
        raise ConfigError("processor output has no per-event columns: rerun `hh4b run` with --save-columns")
    return {k: np.concatenate([np.asarray(a) for a in v]) if len(v) else np.zeros(0) for k, v in raw.items()}


def add_arguments(parser) -> None:
    parser.add_argument("output_dir", help="directory with output.coffea from `hh4b run --save-columns`")
    parser.add_argument("--method", action="append", help="pairing/selection method(s) to model (default: cut_mindr)")
    parser.add_argument("--ensemble", type=int, default=10, help="bootstrap retrainings (talk: 100; default %(default)s)")
    parser.add_argument("--epochs", type=int, default=ReweightConfig.epochs, help="max epochs per training")
    parser.add_argument("--seed", type=int, default=0, help="seed of every training and bootstrap")


def _write_report(directory, method: str, rows: list[dict]) -> None:
    import json

    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"validation_{method}.json").write_text(json.dumps(rows, indent=2) + "\n")
    keys = [k for k in rows[0] if k not in ("n_observed", "n_template")]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(f"{r.get(k, ''):.4g}" if isinstance(r.get(k), float) else str(r.get(k, ""))
                                 for k in keys) + " |" for r in rows]
    (directory / f"validation_{method}.md").write_text(
        f"# Data-driven background validation ({method})\n\nObserved four-tag vs reweighted two-tag yields "
        "(predicted_ensemble = spread of the bootstrap retrainings).\n\n" + "\n".join(lines) + "\n")


def main(args) -> int:
    from pathlib import Path

    from coffea.util import load, save

    from hh4b.errors import InputFileError
    from hh4b.nn.dnn import export_onnx

    path = Path(args.output_dir) / "output.coffea"
    if not path.is_file():
        raise InputFileError(f"{path}: not found (run `hh4b run --save-columns` first)")
    output = load(path)
    columns = gather_columns(output)
    config = ReweightConfig(epochs=args.epochs)
    for method in args.method or ["cut_mindr"]:
        selected, datasets = multijet_columns(columns, output.get("metadata", {}), method)
        models = train_models(selected, args.ensemble, config, args.seed)
        output["hists"]["mhh_bkgmodel"] = bkgmodel_histogram(selected, models, method, datasets)
        rows = validation_table(selected, models)
        report_dir = Path(args.output_dir) / "background"
        _write_report(report_dir, method, rows)
        export_onnx(models["nominal"].network, REWEIGHT_FEATURES, report_dir / f"reweighter_{method}.onnx",
                    card={"model": "reweighter", "method": method, "norm": models["nominal"].norm,
                          "trained_on": datasets, "seed": args.seed})
        for r in rows:
            print(f"{method} {r['region']:>17}: observed {r['observed']:.4g} +- {r['observed_err']:.2g}, "
                  f"predicted {r['predicted']:.4g} +- {r['predicted_stat']:.2g} (stat) "
                  f"+- {r['predicted_ensemble']:.2g} (ensemble)")
    save(output, path)
    print(f"wrote mhh_bkgmodel into {path} and validation tables under {Path(args.output_dir) / 'background'}")
    return 0
