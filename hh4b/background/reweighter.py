"""Data-driven multijet background: two-tag -> four-tag reweighting network.

A network Q(x) is trained on control-region events with the exponential loss
    L = E_2b[exp(Q/2)] + E_4b[exp(-Q/2)]
whose minimum is at exp(Q) = p_4b(x) / p_2b(x) (per unit of weight), so w(x) = exp(Q(x))
turns the two-tag distribution into the four-tag one. The network is the dense baseline's
(`DenseClassifier.logits` is Q). An ensemble of bootstrap retrainings gives the spread used
as a systematic uncertainty (seed talk `talk_hh4b_background_modelling.txt`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from hh4b.nn.dnn import DenseClassifier


@dataclass(frozen=True)
class ReweightConfig:
    hidden: int = 64
    layers: int = 3
    learning_rate: float = 2e-3
    batch_size: int = 1024
    epochs: int = 40
    patience: int = 5
    validation_fraction: float = 0.2
    cosine_decay: bool = False  # learning rate annealed to 0 over `epochs` (cosine), else constant


def exponential_loss(q_2b: torch.Tensor, w_2b: torch.Tensor, q_4b: torch.Tensor, w_4b: torch.Tensor):
    """Weighted E_2b[exp(Q/2)] + E_4b[exp(-Q/2)], each class's weights normalised to 1."""
    return (w_2b * torch.exp(0.5 * q_2b)).sum() / w_2b.sum() + (w_4b * torch.exp(-0.5 * q_4b)).sum() / w_4b.sum()


def _split(n: int, fraction: float, rng: np.random.Generator):
    order = rng.permutation(n)
    n_valid = int(round(n * fraction))
    return order[n_valid:], order[:n_valid]


def train_reweighter(x_2b, w_2b, x_4b, w_4b, config: ReweightConfig = ReweightConfig(), seed: int = 0,
                     progress: bool = False) -> DenseClassifier:
    """Fit Q(x); returns the model whose `logits` is Q (ratio normalised to the 4b/2b weight sums)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = DenseClassifier(x_2b.shape[1], config.hidden, config.layers)
    model.set_standardisation(np.vstack([x_2b, x_4b]))
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, config.epochs) if config.cosine_decay else None
    data = {}
    for name, x, w in (("2b", x_2b, w_2b), ("4b", x_4b, w_4b)):
        train_idx, valid_idx = _split(len(x), config.validation_fraction, rng)
        xt, wt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(w, dtype=torch.float32)
        data[name] = (xt[train_idx], wt[train_idx], xt[valid_idx], wt[valid_idx])
    n_batches = max(1, max(len(d[0]) for d in data.values()) // config.batch_size)
    best, best_loss, stale = copy.deepcopy(model.state_dict()), np.inf, 0
    for _ in tqdm(range(config.epochs), desc="reweighter epochs", disable=not progress):
        model.train()
        perms = {k: torch.as_tensor(rng.permutation(len(d[0]))) for k, d in data.items()}
        for b in range(n_batches):
            batch = {}
            for k, (xt, wt, _, _) in data.items():
                size = len(xt) // n_batches
                idx = perms[k][b * size:(b + 1) * size]
                batch[k] = (model.logits(xt[idx]), wt[idx])
            optimiser.zero_grad()
            exponential_loss(*batch["2b"], *batch["4b"]).backward()
            optimiser.step()
        if schedule is not None:
            schedule.step()
        model.eval()
        with torch.no_grad():
            loss = float(exponential_loss(model.logits(data["2b"][2]), data["2b"][3],
                                          model.logits(data["4b"][2]), data["4b"][3]))
        if loss < best_loss - 1e-7:
            best, best_loss, stale = copy.deepcopy(model.state_dict()), loss, 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.load_state_dict(best)
    model.eval()
    return model


def density_ratio(model: DenseClassifier, x: np.ndarray) -> np.ndarray:
    """w(x) = exp(Q(x)): the four-tag over two-tag density ratio (shape only)."""
    with torch.no_grad():
        return torch.exp(model.logits(torch.as_tensor(x, dtype=torch.float32))).numpy()


def control_region_normalisation(model, x_2b, w_2b, w_4b) -> float:
    """Factor making the reweighted two-tag yield equal the four-tag yield in the control region."""
    return float(np.sum(w_4b) / np.sum(w_2b * density_ratio(model, x_2b)))


def train_ensemble(x_2b, w_2b, x_4b, w_4b, n_models: int, config: ReweightConfig = ReweightConfig(),
                   seed: int = 0) -> list[DenseClassifier]:
    """Bootstrap retrainings: each model sees Poisson(1)-resampled event weights."""
    rng = np.random.default_rng(seed)
    models = []
    for i in tqdm(range(n_models), desc="reweighter ensemble"):
        boot_2b = w_2b * rng.poisson(1.0, len(w_2b))
        boot_4b = w_4b * rng.poisson(1.0, len(w_4b))
        models.append(train_reweighter(x_2b, boot_2b, x_4b, boot_4b, config, seed=seed + 1 + i))
    return models


class _LogRatio(torch.nn.Module):
    """The exported graph: features -> Q(x) = log w(x) (exp is applied by the reader, in float64)."""

    def __init__(self, model: DenseClassifier):
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.model.logits(features)


def export_reweighter(model: DenseClassifier, feature_names: tuple[str, ...], path, card: dict) -> None:
    """ONNX file (input `features` (batch, F), output `log_ratio` (batch,)) and its card `<path>.json`
    (hh4b.nn.card; `card` must hold the reweighter fields method, variation, norm and process)."""
    from pathlib import Path

    from hh4b.nn.card import write_card

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    torch.onnx.export(_LogRatio(model), (torch.zeros(2, len(feature_names)),), str(path),
                      input_names=["features"], output_names=["log_ratio"], opset_version=17,
                      dynamic_axes={"features": {0: "batch"}, "log_ratio": {0: "batch"}}, dynamo=False)
    write_card(path, {"model": "reweighter", "inputs": {"features": list(feature_names)}, "outputs": ["log_ratio"],
                      **card})
