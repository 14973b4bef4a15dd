"""ACC and AUC of the shipped classifiers on the same events (paper Tables III, V, like for like).

    python studies/compare_classifiers.py --data train_resonant.h5 --analysis resonant [--models models]
        [--valid-fraction 0.3] [--json out.json]

The model cards each quote metrics on their own validation events (the DNNs: four-tag events
against qcd4b + ttbar; SPA-NET: all jets against qcd). This scores SPA-NET's signal probability
and both DNNs (min-dR and SPA-NET pairing) on one set: the validation split of a DNN training file
(`hh4b export-h5`, the split `hh4b train dnn --valid-fraction` uses), with the same weights and the
same ACC/AUC code (hh4b.nn.train_dnn.accuracy_and_auc). The DNN rows reproduce the cards' metrics
when the file and split are the cards' own.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from hh4b.analysis.features import FEATURE_SETS
from hh4b.analysis.inference import OnnxModel
from hh4b.nn.card import model_filename
from hh4b.nn.data import split
from hh4b.nn.train_cli import dnn_features
from hh4b.nn.train_dnn import accuracy_and_auc


def spanet_probability(data: dict, path: Path) -> np.ndarray:
    model = OnnxModel(path, kind="spanet")
    feeds = {"jets": data["jets"].astype(np.float32), "mask": data["mask"].astype(bool)}
    if "globals" in model.input_names:
        feeds["globals"] = data["globals"].astype(np.float32)
    return model.run(feeds, ["signal_probability"])["signal_probability"]


def compare(data_path, analysis: str, models: Path, valid_fraction: float) -> dict:
    valid = split(data_path, valid_fraction)[1]
    data = valid.read(0, len(valid))
    signal, weight = data["signal"].astype(bool), data["weight"]
    scores, used = {}, np.ones(len(signal), bool)
    for pairing in ("mindr", "spanet"):
        spanet_model = models / model_filename("spanet", analysis) if pairing == "spanet" else None
        x, valid_events = dnn_features(data, FEATURE_SETS[analysis], spanet_model)
        probability = np.full(len(signal), np.nan)
        probability[valid_events] = OnnxModel(models / model_filename(f"dnn_{pairing}", analysis), kind="dnn").run(
            {"features": x.astype(np.float32)}, ["signal_probability"])["signal_probability"]
        scores[f"dnn_{pairing}"], used = probability, used & valid_events
    scores["spanet"] = spanet_probability(data, models / model_filename("spanet", analysis))
    rows = {}
    for name, probability in scores.items():
        acc, auc = accuracy_and_auc(probability[used], signal[used], weight[used])
        rows[name] = {"accuracy": acc, "auc": auc}
    return {"data": str(data_path), "analysis": analysis, "valid_fraction": valid_fraction,
            "events": int(used.sum()), "signal_events": int(signal[used].sum()), "metrics": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="DNN training file from `hh4b export-h5`")
    parser.add_argument("--analysis", choices=("resonant", "nonresonant"), required=True)
    parser.add_argument("--models", default="models")
    parser.add_argument("--valid-fraction", type=float, default=0.3)
    parser.add_argument("--json", default=None, help="also write the result here")
    args = parser.parse_args()
    result = compare(args.data, args.analysis, Path(args.models), args.valid_fraction)
    print(f"{args.analysis}: {result['events']} validation events ({result['signal_events']} signal)")
    for name, row in result["metrics"].items():
        print(f"  {name:<11} ACC {row['accuracy']:.4f}  AUC {row['auc']:.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
