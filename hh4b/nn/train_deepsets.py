"""Deep Sets training on the SPA-NET HDF5 file: Adam on the DNN's weighted binary cross-entropy
with class-normalised weights (hh4b.nn.train_dnn), early stopping on the validation loss, fixed
seeds. With `augment` (the default) the jets of every training batch are rotated in phi and
reflected in eta as SPA-NET's are (hh4b.nn.augment.augment_jets); validation jets never are.

The training and validation ranges are read into memory once (about 350 bytes an event at 16
jets); the input statistics come from the real jets of the whole training range.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import torch
from tqdm.auto import tqdm

from hh4b.errors import ConfigError
from hh4b.nn.augment import augment_jets, augment_rng
from hh4b.nn.data import SpanetH5
from hh4b.nn.deepsets import DeepSetsClassifier, DeepSetsConfig
from hh4b.nn.train_dnn import accuracy_and_auc, class_normalised_weights, weighted_bce

log = logging.getLogger(__name__)

EVAL_BATCH = 8192  # events per forward pass when scoring (bounds the (batch, jets, hidden) activations)


def _tensors(data: SpanetH5) -> tuple[dict, np.ndarray, np.ndarray]:
    """{jets, mask, globals, labels, weights} tensors (class-normalised weights), and the labels
    and raw weights for the metrics."""
    arrays = data.read(0, len(data))
    labels = (arrays["signal"] > 0).astype(np.int64)
    tensors = {name: torch.as_tensor(arrays[name]) for name in ("jets", "mask", "globals")}
    tensors["labels"] = torch.as_tensor(labels.astype(np.float32))
    tensors["weights"] = torch.as_tensor(class_normalised_weights(labels, arrays["weight"]))
    return tensors, labels, arrays["weight"]


def _inputs(model: DeepSetsClassifier, batch: dict) -> tuple:
    return (batch["jets"], batch["mask"], *((batch["globals"],) if model.config.n_globals else ()))


def score(model: DeepSetsClassifier, tensors: dict) -> torch.Tensor:
    """Logits of all events, in batches of EVAL_BATCH, in eval mode without gradients."""
    model.eval()
    n = len(tensors["jets"])
    with torch.no_grad():
        return torch.cat([model(*_inputs(model, {k: v[i:i + EVAL_BATCH] for k, v in tensors.items()}))
                          for i in range(0, n, EVAL_BATCH)])


def train_deepsets(train: SpanetH5, valid: SpanetH5, config: DeepSetsConfig, seed: int = 0, patience: int = 5,
                   progress: bool = True, augment: bool = True) -> tuple[DeepSetsClassifier, dict]:
    """Train on two ranges of an HDF5 file (hh4b.nn.data.split); returns the model of the epoch with
    the lowest validation loss and its metrics (validation ACC and AUC, per-epoch history)."""
    if train.n_globals != valid.n_globals or not len(train) or not len(valid):
        raise ConfigError(f"{train.path}: training ({len(train)} events, {train.n_globals} globals) and validation "
                          f"({len(valid)} events, {valid.n_globals} globals) do not match")
    config = config.with_(n_globals=train.n_globals)
    torch.manual_seed(seed)
    rng, augment_draws = np.random.default_rng(seed), augment_rng(seed)
    train_t, _, _ = _tensors(train)
    valid_t, valid_labels, valid_weights = _tensors(valid)
    model = DeepSetsClassifier(config)
    model.set_normalisation(train_t["jets"].numpy(), train_t["mask"].numpy(), train_t["globals"].numpy())
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    best, best_loss, best_epoch, stale, history = copy.deepcopy(model.state_dict()), np.inf, 0, 0, []
    for epoch in tqdm(range(config.epochs), desc="Deep Sets epochs", disable=not progress):
        model.train()
        order = torch.as_tensor(rng.permutation(len(train)))
        for start in range(0, len(order), config.batch_size):
            batch = {k: v[order[start:start + config.batch_size]] for k, v in train_t.items()}
            if augment:
                batch["jets"] = augment_jets(batch["jets"], batch["mask"], augment_draws)
            optimiser.zero_grad()
            weighted_bce(model(*_inputs(model, batch)), batch["labels"], batch["weights"]).backward()
            optimiser.step()
        valid_loss = float(weighted_bce(score(model, valid_t), valid_t["labels"], valid_t["weights"]))
        history.append({"epoch": epoch, "valid_loss": valid_loss})
        log.debug("epoch %d: validation loss %.5f", epoch, valid_loss)
        if valid_loss < best_loss - 1e-6:
            best, best_loss, best_epoch, stale = copy.deepcopy(model.state_dict()), valid_loss, epoch, 0
        else:
            stale += 1
            if stale >= patience:
                break
    model.load_state_dict(best)
    probabilities = torch.sigmoid(score(model, valid_t)).numpy()
    acc, auc = accuracy_and_auc(probabilities, valid_labels, valid_weights)
    return model, {"valid_loss": best_loss, "accuracy": acc, "auc": auc, "best_epoch": best_epoch,
                   "history": history, "config": config.to_dict(), "seed": seed, "augment": augment,
                   "n_train": len(train), "n_valid": len(valid)}
