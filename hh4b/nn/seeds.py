"""Mean and spread of a classifier's ACC and AUC over several trainings (paper Tables III and V
quote mean +- error over 10 trainings).

`hh4b train dnn|spanet --seeds K` trains seeds S, S+1, ..., S+K-1 on the same data, split and
settings (only the weight initialisation and the batch order change), keeps the first as the
model, and records the spread as `metrics_over_seeds` (dnn: in its card); `--update-card CARD` writes that block
into an existing card (the shipped models) after checking that seed S reproduces the card's own
metrics, so the block belongs to that model's data and settings. The .onnx is never touched.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hh4b.errors import ConfigError
from hh4b.nn.card import read_card_file

METRICS = ("accuracy", "auc")


def metrics_over_seeds(runs: list[dict], command: str = "") -> dict:
    """{seeds, n, accuracy/auc: {mean, std (sample, ddof=1), values}, command} from train_dnn metrics."""
    block = {"seeds": [int(r["seed"]) for r in runs], "n": len(runs)}
    for key in METRICS:
        values = np.array([float(r[key]) for r in runs])
        block[key] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                      "values": [float(v) for v in values]}
    if command:
        block["command"] = command
    return block


def card_metrics(card: dict) -> dict:
    """A card's ACC/AUC on its own validation events: DNN `metrics`, SPA-NET `metrics.valid_classification`."""
    metrics = card.get("metrics", {})
    return metrics if "auc" in metrics else metrics.get("valid_classification", {})


def update_card(card_path, block: dict, first: dict) -> Path:
    """Write `block` into the card at `card_path` as `metrics_over_seeds`; ConfigError when the first
    retrained seed does not reproduce the card's metrics (different data or settings)."""
    path = Path(card_path)
    if not path.is_file():
        raise ConfigError(f"--update-card {path}: no such model card")
    card = read_card_file(path)
    own = card_metrics(card)
    for key in METRICS:
        shipped = own.get(key)
        if shipped is not None and not np.isclose(float(shipped), float(first[key]), rtol=0.0, atol=1e-9):
            raise ConfigError(f"--update-card {path}: seed {first['seed']} gives {key} {first[key]:.6f} but the card "
                              f"says {shipped:.6f}; retrain with the card's data and `command`")
    card["metrics_over_seeds"] = {**block, "shipped_model_included": True}  # seed S is the card's model
    path.write_text(json.dumps(card, indent=2) + "\n")
    return path
