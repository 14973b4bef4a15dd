"""Dense-network baseline classifier (paper section IV, Table VII).

A stack of ReLU layers on the standardised features of `hh4b.analysis.features`; the standardisation
travels inside the model (buffers), so the exported ONNX graph takes raw feature values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class DNNConfig:
    """Hyperparameters; presets below are the paper's Table VII (min-dR pairing columns)."""

    hidden: int = 256
    layers: int = 5
    learning_rate: float = 2.27e-4
    batch_size: int = 512
    dropout: float = 0.0
    epochs: int = 20

    def to_dict(self) -> dict:
        return asdict(self)


DNN_PRESETS = {
    "resonant": DNNConfig(hidden=256, layers=5, learning_rate=2.27e-4),
    "nonresonant": DNNConfig(hidden=256, layers=3, learning_rate=4.95e-3),
    "tiny": DNNConfig(hidden=32, layers=2, learning_rate=3e-3, epochs=10),
}


class DenseClassifier(nn.Module):
    """features (batch, F) -> signal probability (batch,)."""

    def __init__(self, n_inputs: int, hidden: int = 256, layers: int = 5, dropout: float = 0.0):
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(n_inputs))
        self.register_buffer("feature_scale", torch.ones(n_inputs))
        blocks: list[nn.Module] = []
        width = n_inputs
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        blocks.append(nn.Linear(width, 1))
        self.network = nn.Sequential(*blocks)

    def set_standardisation(self, features: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Store the (weighted) mean and spread of the training features."""
        w = np.ones(len(features)) if weights is None else np.abs(weights)
        mean = np.average(features, axis=0, weights=w)
        std = np.sqrt(np.average((features - mean) ** 2, axis=0, weights=w))
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feature_scale.copy_(torch.as_tensor(np.where(std > 0, std, 1.0), dtype=torch.float32))

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.network((features - self.feature_mean) / self.feature_scale).squeeze(-1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(features))


def export_onnx(model: DenseClassifier, feature_names: tuple[str, ...], path, card: dict) -> None:
    """Write the model with a dynamic batch axis and its card (`<path>.json`, feature names; hh4b.nn.card)."""
    from pathlib import Path

    from hh4b.nn.card import write_card

    path = Path(path)
    model.eval()
    example = torch.zeros(2, len(feature_names))
    torch.onnx.export(model, (example,), str(path), input_names=["features"],
                      output_names=["signal_probability"], opset_version=17,
                      dynamic_axes={"features": {0: "batch"}, "signal_probability": {0: "batch"}},
                      dynamo=False)
    write_card(path, {"model": "dnn", "inputs": {"features": list(feature_names)},
                      "outputs": ["signal_probability"], **card})
