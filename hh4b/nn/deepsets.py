"""Deep Sets event classifier: a per-jet network phi, a masked sum (or mean) over the real jets,
and an event network rho, as in the Deep Sets studies of h -> 4l; invariant under any reordering
of the jets by construction.

Inputs are SPA-NET's (hh4b.nn.inputs.jet_inputs, the same HDF5 training file): jets (B, J, 5),
the raw `JET_FEATURES` of the pT-ordered jets, the (B, J) mask of real jets and, for the
non-resonant model, globals (B, 1) = kappa_lambda, standardised and joined to the pooled vector
before rho. Each jet is transformed alone, as SPA-NET embeds it (log(1 + pT), eta, sin phi,
cos phi, log(1 + m), btag, standardised with training statistics kept as buffers), so phi is
permutation-equivariant and the pooled vector invariant. Padding enters through the mask only:
padded inputs are replaced by zeros before phi and their phi outputs by zeros before pooling,
whatever values they hold. Mean pooling divides by the number of real jets (it is then blind
to the jet multiplicity; sum pooling is not).

`export_onnx` writes the graph with dynamic batch and jet axes and the SPA-NET input names,
outputs signal_probability (as the DNN) and logit (exact where the probability rounds to 1 in
float32), checks onnxruntime against torch and writes the card (hh4b.nn.card, kind deepsets).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hh4b.errors import ConfigError
from hh4b.nn import card as card_module
from hh4b.nn.card import POOLINGS
from hh4b.nn.export_onnx import JET_RANGE, OPSET, TOLERANCE, example_inputs, input_names
from hh4b.nn.spanet import N_EMBED_INPUTS, Spanet, set_input_statistics
from hh4b.nn.topology import JET_FEATURES

OUTPUTS = ("signal_probability", "logit")


@dataclass(frozen=True)
class DeepSetsConfig:
    """Architecture and training hyperparameters. The paper has no Deep Sets model: the presets are
    sized between its DNN and the compact SPA-NET, `tiny` is for tests and quick checks."""

    hidden: int = 64
    phi_layers: int = 3
    rho_layers: int = 2
    pooling: str = "sum"
    learning_rate: float = 1e-3
    batch_size: int = 512
    epochs: int = 30
    dropout: float = 0.0
    n_globals: int = 0  # set from the training file: 1 (kappa_lambda) for a non-resonant file

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ConfigError(f"Deep Sets pooling {self.pooling!r}: choose from {', '.join(POOLINGS)}")
        if min(self.hidden, self.phi_layers, self.batch_size, self.epochs) < 1 or self.rho_layers < 0:
            raise ConfigError(f"Deep Sets config {self.to_dict()}: sizes and epochs must be >= 1 (rho_layers >= 0)")

    def to_dict(self) -> dict:
        return asdict(self)

    def with_(self, **changes) -> DeepSetsConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


DEEPSETS_PRESETS = {
    # resonant: hidden 128 reached validation AUC 0.64 on the shipped training file (15.6k four-tag events,
    # seed 1, 30% held out; 0.64 also at learning rate 3e-4), hidden 64 0.78
    "resonant": DeepSetsConfig(hidden=64, phi_layers=3, rho_layers=3, learning_rate=1e-3, epochs=60),
    "nonresonant": DeepSetsConfig(hidden=64, phi_layers=3, rho_layers=3, learning_rate=1e-3, epochs=60),
    "tiny": DeepSetsConfig(hidden=32, phi_layers=2, rho_layers=1, learning_rate=5e-3, batch_size=256, epochs=10),
}


def _mlp(n_in: int, hidden: int, layers: int, dropout: float) -> list[nn.Module]:
    blocks: list[nn.Module] = []
    for _ in range(layers):
        blocks += [nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout)]
        n_in = hidden
    return blocks


class DeepSetsClassifier(nn.Module):
    """forward(jets (B,J,5), mask (B,J) bool, globals (B,G) or (B,) when G > 0) -> signal logit (B,)."""

    def __init__(self, config: DeepSetsConfig):
        super().__init__()
        self.config = config
        self.register_buffer("jet_mean", torch.zeros(N_EMBED_INPUTS))
        self.register_buffer("jet_scale", torch.ones(N_EMBED_INPUTS))
        self.register_buffer("global_mean", torch.zeros(config.n_globals))
        self.register_buffer("global_scale", torch.ones(config.n_globals))
        self.phi = nn.Sequential(*_mlp(N_EMBED_INPUTS, config.hidden, config.phi_layers, config.dropout))
        rho = _mlp(config.hidden + config.n_globals, config.hidden, config.rho_layers, config.dropout)
        self.rho = nn.Sequential(*rho, nn.Linear(config.hidden if rho else config.hidden + config.n_globals, 1))

    def set_normalisation(self, jets: np.ndarray, mask: np.ndarray, globals_: np.ndarray | None = None) -> None:
        """Store mean and spread of log pT, eta and log m of real jets (and of the globals)."""
        set_input_statistics(self, jets, mask, globals_ if self.config.n_globals else None)

    def pooled(self, jets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The (B, hidden) sum or mean of phi over the real jets."""
        real = mask.to(torch.bool).unsqueeze(-1)
        x = (Spanet.embed_inputs(jets) - self.jet_mean) / self.jet_scale
        x = torch.where(real, x, torch.zeros_like(x))
        h = self.phi(x)
        total = torch.where(real, h, torch.zeros_like(h)).sum(dim=1)
        if self.config.pooling == "mean":
            total = total / real.sum(dim=1).clamp(min=1).to(total.dtype)
        return total

    def forward(self, jets: torch.Tensor, mask: torch.Tensor, globals_: torch.Tensor | None = None) -> torch.Tensor:
        event = self.pooled(jets, mask)
        if self.config.n_globals:
            if globals_ is None:
                raise ConfigError(f"this Deep Sets model takes {self.config.n_globals} global inputs (kappa_lambda)")
            g = globals_.unsqueeze(-1) if globals_.dim() == 1 else globals_
            event = torch.cat([event, (g - self.global_mean) / self.global_scale], dim=-1)
        return self.rho(event).squeeze(-1)

    def probabilities(self, jets, mask, globals_=None) -> torch.Tensor:
        return torch.sigmoid(self(jets, mask, globals_))


class _Graph(nn.Module):
    """The exported signature: (jets, mask[, globals]) -> (signal_probability, logit)."""

    def __init__(self, model: DeepSetsClassifier):
        super().__init__()
        self.model = model

    def forward(self, jets, mask, *globals_):
        logit = self.model(jets, mask, *globals_)
        return torch.sigmoid(logit), logit


def max_difference(model: DeepSetsClassifier, path, n_batch: int, n_jets: int, seed: int = 0) -> dict[str, float]:
    """Largest onnxruntime - torch difference on random inputs (hh4b.nn.export_onnx.example_inputs):
    absolute for the probability, relative to max(1, |logit|) for the logit (float32 rounding of a
    large logit exceeds an absolute 1e-5)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = example_inputs(model, n_batch, n_jets, seed)
    probability, logit = session.run(list(OUTPUTS), feeds)
    with torch.no_grad():
        want_probability, want_logit = (t.numpy() for t in _Graph(model)(
            *(torch.as_tensor(feeds[n]) for n in input_names(model))))
    return {"signal_probability": float(np.max(np.abs(probability - want_probability))),
            "logit_relative": float(np.max(np.abs(logit - want_logit) / np.maximum(1.0, np.abs(want_logit))))}


def export_onnx(model: DeepSetsClassifier, path, card: dict) -> dict:
    """Write the graph (dynamic batch and jet axes), verify it against torch at JET_RANGE's ends and
    10 jets, and write its card (kind deepsets, `card` added); returns the card."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    names = input_names(model)
    feeds = example_inputs(model, 2, 6)
    axes = {"jets": {0: "batch", 1: "jets"}, "mask": {0: "batch", 1: "jets"}, "globals": {0: "batch"},
            **{name: {0: "batch"} for name in OUTPUTS}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)  # the TorchScript exporter, as SPA-NET's
        torch.onnx.export(_Graph(model), tuple(torch.as_tensor(feeds[n]) for n in names), str(path),
                          input_names=names, output_names=list(OUTPUTS), opset_version=OPSET,
                          dynamic_axes={k: v for k, v in axes.items() if k in names or k in OUTPUTS}, dynamo=False)
    checks = {n: max_difference(model, path, 64, n, seed=n) for n in (JET_RANGE[0], 10, JET_RANGE[1])}
    if max(v for c in checks.values() for v in c.values()) > TOLERANCE:
        raise ConfigError(f"{path}: onnxruntime and torch disagree after export: {checks}")
    config = model.config
    globals_ = {"globals": ["kappa_lambda"]} if config.n_globals else {}
    return card_module.write_card(path, {
        "model": "deepsets", "inputs": {"jets": list(JET_FEATURES), "mask": ["real_jet"], **globals_},
        "outputs": list(OUTPUTS), "pooling": config.pooling, "n_globals": config.n_globals,
        "units": {"pt": "GeV", "mass": "GeV", "btag": "0 or 1"}, "jet_range": list(JET_RANGE),
        "config": config.to_dict(), "opset": OPSET, "verification": checks, **card}, default=str)
