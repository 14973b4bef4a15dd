"""SPA-NET training loop (paper section IV.B): AdamW with L2 penalty, linear warm-up then cosine
decay, gradient-norm clipping, dropout, early stopping on the validation loss, fixed seeds.

Every epoch appends a row (losses, assignment efficiencies, ACC, AUC, learning rate, time) to
`metrics.csv` and `metrics.json` in the output directory and writes `last.pt`; the epoch with
the lowest validation loss is kept as `best.pt`. Data are streamed from the HDF5 file.
With `augment` (the default) every training batch is rotated in phi and reflected in eta
(hh4b.nn.augment), never the validation events; the summary and checkpoints record `augment`.
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from hh4b.errors import ConfigError
from hh4b.nn.augment import augment_jets, augment_rng
from hh4b.nn.card import kfold_card
from hh4b.nn.data import SpanetH5, fold_split, split
from hh4b.nn.evaluate import all_metrics, run_model
from hh4b.nn.losses import total_loss
from hh4b.nn.spanet import Spanet, SpanetConfig, load_checkpoint, save_checkpoint

NORMALISATION_EVENTS = 100_000


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear from 0 to 1 over `warmup` steps, then cosine down to 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def build_model(config: SpanetConfig, train: SpanetH5, seed: int) -> Spanet:
    """A freshly seeded model with input statistics from the first training events."""
    torch.manual_seed(seed)
    model = Spanet(config.with_(n_globals=train.n_globals))
    sample = train.read(0, min(len(train), NORMALISATION_EVENTS))
    model.set_normalisation(sample["jets"], sample["mask"], sample["globals"] if train.n_globals else None)
    return model


def optimiser_and_schedule(model: Spanet, config: SpanetConfig, steps_per_epoch: int):
    """AdamW with the config's L2 penalty and the warm-up + cosine learning-rate schedule over all epochs."""
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.l2_penalty,
                                  fused=True)  # one kernel over all parameters instead of a loop
    total_steps = steps_per_epoch * config.epochs
    warmup = max(1, int(config.warmup_fraction * total_steps))
    return optimiser, torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: warmup_cosine(s, total_steps, warmup))


def train_step(model: Spanet, batch: dict, config: SpanetConfig, optimiser, scheduler, augment_draws=None):
    """One optimiser step on a training batch (augmented with `augment_draws` when given); returns the loss."""
    if augment_draws is not None:
        batch["jets"] = augment_jets(batch["jets"], batch["mask"], augment_draws)
    g = batch["globals"] if batch["globals"].shape[1] else None
    loss, _ = total_loss(model.outputs(batch["jets"], batch["mask"], g), batch,
                         config.assignment_scale, config.classification_scale)
    optimiser.zero_grad()
    loss.backward()
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimiser.step()
    scheduler.step()
    return loss


def _epoch_row(epoch: int, train_losses: list, metrics: dict, lr: float, seconds: float, n_train: int) -> dict:
    total = metrics["assignment"]["by_n_jets"]["total"]
    row = {"epoch": epoch, "train_loss": float(np.mean(train_losses)) if train_losses else float("nan"),
           "valid_assignment_loss": metrics["losses"]["assignment"],
           "valid_classification_loss": metrics["losses"]["classification"],
           "valid_event_efficiency": total["event_efficiency"], "valid_higgs_efficiency": total["higgs_efficiency"],
           "valid_pairing_spanet": metrics["pairing"]["rows"]["all"]["spanet"],
           "valid_pairing_mindr": metrics["pairing"]["rows"]["all"]["mindr"],
           "valid_accuracy": metrics["classification"]["accuracy"], "valid_auc": metrics["classification"]["auc"],
           "learning_rate": lr, "seconds": seconds, "train_events_per_s": n_train / max(seconds, 1e-9)}
    return row


def _write_history(output: Path, history: list[dict]) -> None:
    with open(output / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    (output / "metrics.json").write_text(json.dumps(history, indent=2) + "\n")


def train_spanet(data_path, output_dir, config: SpanetConfig, seed: int = 0, valid_fraction: float = 0.05,
                 patience: int = 5, progress: bool = True, info: dict | None = None,
                 augment: bool = True, fold: tuple[int, int] | None = None) -> tuple[Spanet, dict]:
    """Train on an HDF5 file; returns (best model, summary with per-epoch history and final metrics).
    `augment`: a random global phi rotation and eta reflection of every training event.
    `fold` = (k, K): train fold k of a k-fold set (hh4b.nn.data.fold_split), recorded as `kfold`."""
    if config.epochs < 1 or config.batch_size < 1:
        raise ConfigError(f"epochs ({config.epochs}) and batch size ({config.batch_size}) must be >= 1")
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    train, valid = split(data_path, valid_fraction) if fold is None else fold_split(data_path, *fold, valid_fraction)
    model = build_model(config, train, seed)
    config = model.config
    steps_per_epoch = -(-len(train) // config.batch_size)
    optimiser, scheduler = optimiser_and_schedule(model, config, steps_per_epoch)
    factors = train.class_weight_factors()
    history, best_loss, stale = [], math.inf, 0
    info = {"data": str(data_path), "seed": seed, **(info or {}), "augment": bool(augment),
            **({"kfold": kfold_card(*fold)} if fold else {})}
    rng = augment_rng(seed)
    for epoch in range(config.epochs):
        model.train()
        start, losses = time.perf_counter(), []
        batches = train.batches(config.batch_size, shuffle=True, seed=seed * 100_003 + epoch, factors=factors)
        for batch in tqdm(batches, total=steps_per_epoch, desc=f"SPA-NET epoch {epoch + 1}/{config.epochs}",
                          disable=not progress, leave=False):
            loss = train_step(model, batch, config, optimiser, scheduler, rng if augment else None)
            losses.append(float(loss.detach()))
        seconds = time.perf_counter() - start
        metrics = all_metrics(run_model(model, valid, config=config, progress=False))
        row = _epoch_row(epoch, losses, metrics, scheduler.get_last_lr()[0], seconds, len(train))
        history.append(row)
        _write_history(output, history)
        valid_loss = (config.assignment_scale * row["valid_assignment_loss"]
                      + config.classification_scale * row["valid_classification_loss"])
        save_checkpoint(output / "last.pt", model, epoch=epoch, metrics=metrics, **info)
        if progress:
            tqdm.write(f"epoch {epoch + 1}: train {row['train_loss']:.4f} valid {valid_loss:.4f} "
                       f"event eff {row['valid_event_efficiency']:.3f} AUC {row['valid_auc']:.3f}")
        if valid_loss < best_loss - 1e-6:
            best_loss, stale = valid_loss, 0
            save_checkpoint(output / "best.pt", model, epoch=epoch, metrics=metrics, **info)
        else:
            stale += 1
            if stale >= patience:
                break
    best, checkpoint = load_checkpoint(output / "best.pt")
    summary = {"best_epoch": checkpoint["epoch"], "best_valid_loss": best_loss, "metrics": checkpoint["metrics"],
               "history": history, "config": config.to_dict(), **info}
    (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return best, summary
