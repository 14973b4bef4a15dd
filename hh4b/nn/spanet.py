"""SPA-NET for HH -> bbbb (paper section III.B, Fig. 2, Table VIII): joint jet assignment and
event classification.

Inputs per event: up to J jets with raw (pt, eta, phi, mass, btag) (topology.JET_FEATURES), a
boolean mask of real jets, and G global inputs (kappa_lambda for the non-resonant model, none
for the resonant one). The jet embedding uses log(1 + pT) and log(1 + m) standardised with
training statistics stored as buffers, eta standardised, phi as (sin, cos) and the b-tag bit.

Structure:
- an event token (learned, plus the embedded globals) joins the jet embeddings;
- central transformer encoder over [token, jets] with a key padding mask and no positional
  encoding, so the jet outputs are permutation-equivariant and the token is invariant;
- per Higgs, a branch encoder and a symmetric tensor attention S = X W X^T, averaged with its
  transpose (exact b1 <-> b2 symmetry), masked for padding and the diagonal, log-softmax over
  all J*J entries -> pair log-probabilities (B, 2, J, J);
- classification head on the central encoder's event token (not on the assignment, per the
  paper), whose input vector is also returned as the event embedding;
- exact joint decoding (decoding.py) inside forward, so an exported graph outputs jet indices.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from torch import nn

from hh4b.nn.decoding import decode_assignment
from hh4b.nn.topology import JET_FEATURES

MASKED_SCORE = -1.0e9  # log-probability given to padded jets and the diagonal
N_EMBED_INPUTS = 6  # log pT, eta, sin phi, cos phi, log m, btag


@dataclass(frozen=True)
class SpanetConfig:
    """Architecture and training hyperparameters (presets: paper Table VIII, plus `compact` and
    `tiny`; attention heads are not in the table: 8 for hidden 256, 4 for hidden 32 as in notes 3.2.2)."""

    hidden: int = 32
    central_layers: int = 8
    branch_layers: int = 2
    classification_layers: int = 1
    heads: int = 4
    dropout: float = 0.0
    learning_rate: float = 1e-3
    l2_penalty: float = 0.0
    grad_clip: float = 0.5
    batch_size: int = 2048
    epochs: int = 50
    assignment_scale: float = 1.0
    classification_scale: float = 1.0
    n_globals: int = 0
    warmup_fraction: float = 0.05

    def to_dict(self) -> dict:
        return asdict(self)

    def with_(self, **changes) -> SpanetConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


SPANET_PRESETS = {
    "resonant": SpanetConfig(hidden=256, central_layers=8, branch_layers=4, classification_layers=1,
                             heads=8, dropout=0.061, learning_rate=4.9e-4, l2_penalty=3.82e-4,
                             grad_clip=0.445, batch_size=2048, epochs=50, n_globals=0),
    "nonresonant": SpanetConfig(hidden=32, central_layers=8, branch_layers=2, classification_layers=1,
                                heads=4, dropout=0.0059, learning_rate=6.59e-3, l2_penalty=3.74e-4,
                                grad_clip=0.425, batch_size=2048, epochs=50, n_globals=1),
    # not the paper's: a CPU-friendly model (4 central layers) for one-core training and fast inference
    "compact": SpanetConfig(hidden=32, central_layers=4, branch_layers=2, classification_layers=1,
                            heads=4, dropout=0.0059, learning_rate=1e-3, l2_penalty=3.74e-4,
                            grad_clip=0.425, batch_size=256, epochs=20, n_globals=0),
    "tiny": SpanetConfig(hidden=32, central_layers=2, branch_layers=1, classification_layers=1,
                         heads=4, dropout=0.0, learning_rate=3e-3, l2_penalty=1e-4, grad_clip=1.0,
                         batch_size=256, epochs=10, n_globals=0),
}


class SparseDropout(nn.Module):
    """Dropout with the same law as nn.Dropout (each element zeroed independently with probability p,
    the rest scaled by 1/(1-p)), for the small p of the presets: the zeroed positions are drawn as the
    successes of a Bernoulli process, i.e. cumulative sums of geometric gaps, so a batch costs about
    n*p random draws instead of n. Identity in eval mode, so exported graphs do not contain it."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability {p} is not in [0, 1)")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        n = x.numel()
        expected = n * self.p
        size = int(expected + 6.0 * math.sqrt(expected) + 16)
        gaps = torch.empty(size, dtype=torch.float64, device=x.device).geometric_(self.p)
        positions = gaps.cumsum_(0)
        while positions[-1] <= n:  # the draws ended before the last element: continue the process
            more = torch.empty(size, dtype=torch.float64, device=x.device).geometric_(self.p).cumsum_(0)
            more += positions[-1]
            positions = torch.cat([positions, more])
        dropped = positions[positions <= n].long() - 1
        y = (x * (1.0 / (1.0 - self.p))).contiguous()
        y.view(-1).index_fill_(0, dropped, 0.0)  # in place on the fresh product: no further copy
        return y


class EncoderLayer(nn.Module):
    """Pre-norm transformer encoder block; padded keys get a large negative attention bias."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden size {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.norm_attention = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.project = nn.Linear(dim, dim)
        self.norm_feed = nn.LayerNorm(dim)
        self.feed = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), SparseDropout(dropout), nn.Linear(2 * dim, dim))
        self.dropout = SparseDropout(dropout)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor) -> torch.Tensor:
        """x (B, T, D), key_bias (B, 1, 1, T) -> (B, T, D)."""
        n_batch, n_tokens, dim = x.shape
        q, k, v = self.qkv(self.norm_attention(x)).view(n_batch, n_tokens, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dim // self.heads) + key_bias, dim=-1)
        attended = (weights @ v).transpose(1, 2).reshape(n_batch, n_tokens, dim)
        x = x + self.dropout(self.project(attended))
        return x + self.dropout(self.feed(self.norm_feed(x)))


class Encoder(nn.Module):
    """A stack of EncoderLayer with a final LayerNorm."""

    def __init__(self, dim: int, heads: int, layers: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(dim, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, key_bias: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, key_bias)
        return self.norm(x)


def _mlp(n_in: int, dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, dim), nn.GELU(), SparseDropout(dropout), nn.Linear(dim, dim))


class SymmetricTensorAttention(nn.Module):
    """Pair scores S_ij = x_i W x_j / D symmetrised as (S + S^T) / 2: exactly symmetric in i, j."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim, dim) / math.sqrt(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = (x @ self.weight) @ x.transpose(1, 2) / math.sqrt(x.shape[-1])
        return 0.5 * (scores + scores.transpose(1, 2))


class Spanet(nn.Module):
    """forward(jets (B,J,5), mask (B,J) bool, globals (B,G)) ->
    (pair_log_prob (B,2,J,J), assignment (B,2,2) int64, signal_probability (B,), embedding (B,D))."""

    def __init__(self, config: SpanetConfig):
        super().__init__()
        self.config = config
        dim, drop = config.hidden, config.dropout
        self.register_buffer("jet_mean", torch.zeros(N_EMBED_INPUTS))
        self.register_buffer("jet_scale", torch.ones(N_EMBED_INPUTS))
        self.register_buffer("global_mean", torch.zeros(config.n_globals))
        self.register_buffer("global_scale", torch.ones(config.n_globals))
        self.jet_embedding = _mlp(N_EMBED_INPUTS, dim, drop)
        self.event_token = nn.Parameter(torch.zeros(dim))
        self.global_embedding = _mlp(config.n_globals, dim, drop) if config.n_globals else None
        self.central = Encoder(dim, config.heads, config.central_layers, drop)
        self.branches = nn.ModuleList(Encoder(dim, config.heads, config.branch_layers, drop) for _ in range(2))
        self.attention = nn.ModuleList(SymmetricTensorAttention(dim) for _ in range(2))
        head: list[nn.Module] = []
        for _ in range(config.classification_layers):
            head += [nn.Linear(dim, dim), nn.GELU(), SparseDropout(drop)]
        self.classifier = nn.Sequential(*head, nn.Linear(dim, 1))

    # --- input transformation --------------------------------------------------------------
    @staticmethod
    def embed_inputs(jets: torch.Tensor) -> torch.Tensor:
        """Raw (pt, eta, phi, mass, btag) -> (log(1+pt), eta, sin phi, cos phi, log(1+m), btag)."""
        pt, eta, phi, mass, btag = jets.unbind(-1)
        return torch.stack([torch.log1p(pt.clamp(min=0)), eta, torch.sin(phi), torch.cos(phi),
                            torch.log1p(mass.clamp(min=0)), btag], dim=-1)

    def set_normalisation(self, jets: np.ndarray, mask: np.ndarray, globals_: np.ndarray | None = None) -> None:
        """Store mean and spread of log pT, eta and log m of real jets (and of the globals)."""
        set_input_statistics(self, jets, mask, globals_ if self.config.n_globals else None)

    # --- network ---------------------------------------------------------------------------
    def outputs(self, jets: torch.Tensor, mask: torch.Tensor, globals_: torch.Tensor | None = None) -> dict:
        """Training outputs: pair_log_prob (B,2,J,J), class_logit (B,), embedding (B,D)."""
        mask = mask.to(torch.bool)
        x = (self.embed_inputs(jets) - self.jet_mean) / self.jet_scale
        x = torch.where(mask.unsqueeze(-1), x, torch.zeros_like(x))
        jet_vectors = self.jet_embedding(x)
        token = self.event_token.expand(jets.shape[0], 1, -1)
        if self.global_embedding is not None:
            g = (globals_ - self.global_mean) / self.global_scale
            token = token + self.global_embedding(g).unsqueeze(1)
        sequence = torch.cat([token, jet_vectors], dim=1)
        valid = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        key_bias = torch.where(valid, 0.0, MASKED_SCORE).to(x.dtype)[:, None, None, :]
        central = self.central(sequence, key_bias)
        embedding = central[:, 0]
        pair_valid = mask.unsqueeze(2) & mask.unsqueeze(1)
        index = torch.arange(jets.shape[1], device=jets.device)
        pair_valid = pair_valid & (index.unsqueeze(1) != index.unsqueeze(0))
        log_probs = []
        for branch, attention in zip(self.branches, self.attention):
            scores = attention(branch(central, key_bias)[:, 1:])
            scores = torch.where(pair_valid, scores, torch.full_like(scores, MASKED_SCORE))
            log_probs.append(torch.log_softmax(scores.flatten(1), dim=1).view_as(scores))
        return {"pair_log_prob": torch.stack(log_probs, dim=1),
                "class_logit": self.classifier(embedding).squeeze(-1),
                "embedding": embedding}

    def forward(self, jets: torch.Tensor, mask: torch.Tensor, globals_: torch.Tensor | None = None):
        out = self.outputs(jets, mask, globals_)
        assignment = decode_assignment(out["pair_log_prob"])
        return out["pair_log_prob"], assignment, torch.sigmoid(out["class_logit"]), out["embedding"]


def set_input_statistics(model: nn.Module, jets: np.ndarray, mask: np.ndarray,
                         globals_: np.ndarray | None = None) -> None:
    """Fill a model's jet_mean/jet_scale buffers from the real jets' `Spanet.embed_inputs` (sin, cos
    and btag left as they are) and, given globals, its global_mean/global_scale buffers."""
    x = Spanet.embed_inputs(torch.as_tensor(jets, dtype=torch.float32))[torch.as_tensor(mask, dtype=torch.bool)]
    mean, std = x.mean(0), x.std(0)
    keep = torch.tensor([True, True, False, False, True, False])  # sin, cos, btag stay as they are
    model.jet_mean.copy_(torch.where(keep, mean, torch.zeros_like(mean)))
    model.jet_scale.copy_(torch.where(keep & (std > 0), std, torch.ones_like(std)))
    if globals_ is not None:
        g = torch.as_tensor(globals_, dtype=torch.float32).reshape(len(globals_), -1)
        model.global_mean.copy_(g.mean(0))
        gstd = g.std(0)
        model.global_scale.copy_(torch.where(gstd > 0, gstd, torch.ones_like(gstd)))


def feature_names() -> tuple[str, ...]:
    """Order of the jets tensor's last axis."""
    return JET_FEATURES


def save_checkpoint(path, model: Spanet, **info) -> None:
    """Model config, weights (normalisation buffers included) and free-form info (metrics, data)."""
    torch.save({"config": model.config.to_dict(), "state_dict": model.state_dict(), **info}, path)


def load_checkpoint(path) -> tuple[Spanet, dict]:
    """(model in eval mode, the checkpoint dict); raises InputFileError for unreadable files."""
    from pathlib import Path

    from hh4b.errors import InputFileError

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: checkpoint not found")
    import pickle

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        model = Spanet(SpanetConfig(**checkpoint["config"]))
        model.load_state_dict(checkpoint["state_dict"])
    except (KeyError, RuntimeError, TypeError, EOFError, pickle.UnpicklingError) as err:
        raise InputFileError(f"{path}: not a SPA-NET checkpoint ({err})") from err
    return model.eval(), checkpoint
