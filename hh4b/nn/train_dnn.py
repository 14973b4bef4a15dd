"""Training and Optuna hyperparameter search for the dense-network baseline.

Adam on a weighted binary cross-entropy, early stopping on the validation loss, fixed seeds.
The search (`optuna_search`, `hh4b train dnn --optuna N`) varies learning rate, width and depth
(paper section IV; TPE sampler, fixed seed), starts from the preset's own values and keeps the trial
with the best AUC on its tuning events. With the feature names given and `augment` (the default), every
training batch is rotated in phi and reflected in eta (hh4b.nn.augment.augment_features: the
`*_eta` columns flip sign, the `*_phi` columns rotate together; the rest is invariant); the
validation features never are.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import torch
from tqdm.auto import tqdm

from hh4b.nn.augment import augment_features, augment_rng, feature_columns
from hh4b.nn.dnn import DenseClassifier, DNNConfig


def accuracy_and_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None):
    """Weighted accuracy at 0.5 and area under the ROC curve (ties counted half)."""
    w = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    acc = np.sum(w * ((scores >= 0.5) == labels)) / np.sum(w)
    order = np.argsort(scores, kind="stable")
    s, y, ww = scores[order], labels[order], w[order]
    _, first = np.unique(s, return_index=True)
    group = np.searchsorted(first, np.arange(len(s)), side="right") - 1
    bkg_per_group = np.bincount(group, weights=ww * ~y)
    bkg_below = np.concatenate([[0.0], np.cumsum(bkg_per_group)[:-1]])
    sig_per_group = np.bincount(group, weights=ww * y)
    auc = np.sum(sig_per_group * (bkg_below + 0.5 * bkg_per_group))
    return float(acc), float(auc / (np.sum(ww * y) * np.sum(ww * ~y)))


def weighted_bce(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The training loss: binary cross-entropy on logits, weighted per event (mean over events)."""
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, weight=weights)


def _loss(model, x, y, w):
    return weighted_bce(model.logits(x), y, w)


def class_normalised_weights(labels: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Per-event weights with each class summing to half the number of events."""
    w = np.ones(len(labels)) if weights is None else np.abs(np.asarray(weights, dtype=np.float64))
    out = np.empty_like(w)
    for cls in (0, 1):
        sel = labels == cls
        out[sel] = w[sel] * (len(labels) / 2) / max(w[sel].sum(), 1e-300)
    return out.astype(np.float32)


def train_dnn(train: tuple, valid: tuple, config: DNNConfig, seed: int = 0, patience: int = 5,
              progress: bool = True, feature_names: tuple[str, ...] | None = None,
              augment: bool = True) -> tuple[DenseClassifier, dict]:
    """Train on (features, labels, weights) tuples; returns the best model and its metrics.
    `feature_names` (column order) tell the augmentation which columns are etas and azimuths;
    without them, or with no such column, nothing is augmented (metrics `augment` says which)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    eta_columns, phi_columns = feature_columns(feature_names or ())
    augment = bool(augment and (eta_columns or phi_columns))
    augment_draws = augment_rng(seed)
    x_tr, y_tr, w_tr = train
    x_va, y_va, w_va = valid
    model = DenseClassifier(x_tr.shape[1], config.hidden, config.layers, config.dropout)
    model.set_standardisation(x_tr)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    tensors = [torch.as_tensor(a) for a in (x_tr, y_tr.astype(np.float32), class_normalised_weights(y_tr, w_tr))]
    valid_t = [torch.as_tensor(a) for a in (x_va, y_va.astype(np.float32), class_normalised_weights(y_va, w_va))]
    best, best_loss, stale, history = copy.deepcopy(model.state_dict()), np.inf, 0, []
    for epoch in tqdm(range(config.epochs), desc="DNN epochs", disable=not progress):
        model.train()
        order = torch.as_tensor(rng.permutation(len(x_tr)))
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            x, y, w = (t[idx] for t in tensors)
            if augment:
                x = augment_features(x, feature_names, augment_draws)
            optimiser.zero_grad()
            _loss(model, x, y, w).backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            valid_loss = float(_loss(model, *valid_t))
        history.append({"epoch": epoch, "valid_loss": valid_loss})
        if valid_loss < best_loss - 1e-6:
            best, best_loss, stale = copy.deepcopy(model.state_dict()), valid_loss, 0
        else:
            stale += 1
            if stale >= patience:
                break
    model.load_state_dict(best)
    model.eval()
    with torch.no_grad():
        scores = model(valid_t[0]).numpy()
    acc, auc = accuracy_and_auc(scores, y_va, w_va)
    return model, {"valid_loss": best_loss, "accuracy": acc, "auc": auc, "history": history,
                   "config": config.to_dict(), "seed": seed, "augment": augment}


SEARCH_SPACE = {"learning_rate": (1e-4, 1e-2), "hidden": (32, 64, 128, 256, 512), "layers": (1, 6)}


def optuna_search(train: tuple, valid: tuple, base: DNNConfig, n_trials: int = 100, seed: int = 0,
                  feature_names: tuple[str, ...] | None = None, augment: bool = True, progress: bool = True):
    """Search learning rate, width and depth (SEARCH_SPACE) on the AUC of `valid`, the base config
    as the first trial; returns (best config, summary: trials, best, base and every trial's values)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    (lo, hi), layers = SEARCH_SPACE["learning_rate"], SEARCH_SPACE["layers"]

    def objective(trial):
        config = replace(
            base,
            learning_rate=trial.suggest_float("learning_rate", lo, hi, log=True),
            hidden=trial.suggest_categorical("hidden", list(SEARCH_SPACE["hidden"])),
            layers=trial.suggest_int("layers", *layers),
        )
        _, metrics = train_dnn(train, valid, config, seed=seed, progress=False, feature_names=feature_names,
                               augment=augment)
        return metrics["auc"]

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    start = {"learning_rate": float(np.clip(base.learning_rate, lo, hi)), "hidden": base.hidden, "layers": base.layers}
    study.enqueue_trial(start)
    study.optimize(objective, n_trials=n_trials, show_progress_bar=progress)
    summary = {"trials": n_trials, "objective": "AUC on the tuning events", "seed": seed,
               "search_space": {k: list(v) for k, v in SEARCH_SPACE.items()},
               "best": {**study.best_params, "auc": study.best_value},
               "start": {**start, "auc": study.trials[0].value},
               "values": [{**t.params, "auc": t.value} for t in study.trials]}
    return replace(base, **study.best_params), summary
