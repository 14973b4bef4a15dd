"""SPA-NET training speed against the reference SPANet package (PyPI `spanet`), same file, same machine.

Both codes train on one `hh4b export-h5` file (the reference reads it with the FILE.yaml event info
that export-h5 writes beside it) at the same hidden size, depth, heads, batch, learning rate, L2,
gradient clip and dropout, on the CPU with one torch thread. Sizes, hh4b -> reference Options:

    hidden               -> hidden_dim (feed-forward 2*hidden both: transformer_dim_scale 2)
    central_layers       -> num_encoder_layers        branch_layers -> num_branch_encoder_layers
    heads                -> num_attention_heads       classification_layers -> num_classification_layers
    jet MLP 6->D->D      -> embedding stack 16->D (2 layers, initial_embedding_dim 16)
    (no branch MLP)      -> num_branch_embedding_layers 0
    full symmetric W     -> the reference's default split symmetric attention

Timing: after `--warmup` optimiser steps, the process CPU time (time.process_time, one thread, no
dataloader workers) from the end of step W to the end of step W+N, so batch reading, augmentation
(hh4b) or collation (reference), the loss, backward, clipping and the optimiser and scheduler steps
all count. hh4b: the inner loop of hh4b.nn.train_spanet, rebuilt with its own functions. Reference:
a pytorch-lightning Trainer (the package's `spanet.train` no longer runs with lightning 2) with a
callback stamping on_train_batch_end. Rate = N * batch / CPU seconds; ratio = hh4b / reference.

`--epochs E` also trains both for E epochs (hh4b: train_spanet itself; reference: Trainer.fit) and
prints the pairing efficiency (hh4b.nn.evaluate.pairing_vs_parameter, row "all") of both last-epoch
models on the same validation events (hh4b's split: the last 5% of the file).

    python benchmarks/bench_train_reference.py FILE.h5 [--preset compact] [--batch 256] [--steps 200]
        [--warmup 20] [--repeats 2] [--epochs 0] [--reference-python /tmp/spanet-venv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("bench_train_reference")


def reference_options(config, data: Path, batch: int, epochs: int, cut: int, n_events: int) -> dict:
    """Reference Options (spanet/options.py) matching an hh4b SpanetConfig."""
    return {"event_info_file": str(data.with_suffix(".yaml")), "training_file": str(data),
            "hidden_dim": config.hidden, "transformer_dim": config.hidden, "transformer_dim_scale": 2.0,
            "num_encoder_layers": config.central_layers, "num_branch_encoder_layers": config.branch_layers,
            "num_branch_embedding_layers": 0, "num_attention_heads": config.heads,
            "num_classification_layers": config.classification_layers, "initial_embedding_dim": 16,
            "batch_size": batch, "learning_rate": config.learning_rate, "l2_penalty": config.l2_penalty,
            "gradient_clip": config.grad_clip, "dropout": config.dropout, "optimizer": "AdamW",
            "classification_loss_scale": config.classification_scale, "balance_classifications": True,
            "assignment_loss_scale": config.assignment_scale, "partial_events": True, "epochs": max(epochs, 1),
            "learning_rate_warmup_epochs": config.warmup_fraction * max(epochs, 1),
            "train_validation_split": cut / n_events, "num_gpu": 0, "num_dataloader_workers": 0,
            "verbose_output": False}


def child(job_path: str) -> None:
    """Runs under the reference python: train, stamp steps, optionally predict the validation events."""
    np.object = object  # spanet 2.1.1 still uses np.object (removed in numpy 2)
    import pytorch_lightning as pl
    import torch
    from spanet import JetReconstructionDataset, JetReconstructionModel, Options

    job = json.loads(Path(job_path).read_text())
    torch.set_num_threads(1)
    torch.manual_seed(job["seed"])
    options = Options()
    options.update_options(job["options"])
    for klass in JetReconstructionModel.__mro__:  # a lightning-1 hook that lightning 2 refuses; validation is off
        if "validation_epoch_end" in vars(klass):
            delattr(klass, "validation_epoch_end")
    # torch refuses prefetch_factor without workers; one process keeps all CPU time in process_time
    JetReconstructionModel.dataloader_options = property(lambda self: {"batch_size": self.options.batch_size})
    model = JetReconstructionModel(options)
    stamps = []

    class Stamp(pl.Callback):
        def on_train_batch_end(self, *args, **kwargs):
            stamps.append(time.process_time())

    limits = ({"max_epochs": job["epochs"]} if job["epochs"] else {"max_steps": job["steps"], "max_epochs": -1})
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                         num_sanity_val_steps=0, gradient_clip_val=options.gradient_clip or None,
                         callbacks=[Stamp()], **limits)
    trainer.fit(model)
    out = {"stamps": stamps, "parameters": sum(p.numel() for p in model.parameters())}
    if job["epochs"]:
        valid = JetReconstructionDataset(options.training_file, options.event_info_file,
                                         limit_index=np.arange(job["cut"], job["n_events"]), partial_events=True)
        model.eval()
        parts = [np.stack(model.predict(valid[i:i + 4096].sources).assignments, axis=1)
                 for i in range(0, len(valid), 4096)]
        np.save(job["predictions"], np.concatenate(parts))
    Path(job["result"]).write_text(json.dumps(out))


def hh4b_steps(data: Path, config, warmup: int, steps: int, seed: int = 0) -> tuple[float, int]:
    """(CPU seconds of steps warmup+1 .. warmup+steps, parameters) of train_spanet's inner loop."""
    from hh4b.nn.augment import augment_rng
    from hh4b.nn.data import split
    from hh4b.nn.train_spanet import build_model, optimiser_and_schedule, train_step

    train, _ = split(data, 0.05)
    model = build_model(config, train, seed).train()
    optimiser, scheduler = optimiser_and_schedule(model, config, -(-len(train) // config.batch_size))
    factors, rng, done, epoch = train.class_weight_factors(), augment_rng(seed), 0, 0
    while True:
        for batch in train.batches(config.batch_size, shuffle=True, seed=seed * 100_003 + epoch, factors=factors):
            train_step(model, batch, config, optimiser, scheduler, rng)
            done += 1
            if done == warmup:
                start = time.process_time()
            if done == warmup + steps:
                return time.process_time() - start, sum(p.numel() for p in model.parameters())
        epoch += 1


def run_reference(python: str, job: dict, tmp: Path) -> dict:
    job_path = tmp / "job.json"
    job_path.write_text(json.dumps({**job, "result": str(tmp / "result.json")}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([python, __file__, "--child", str(job_path)], env=env, cwd=tmp,
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"reference training failed:\n{proc.stderr[-3000:]}")
    return json.loads((tmp / "result.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", type=Path, help="HDF5 file from `hh4b export-h5` (FILE.yaml beside it)")
    parser.add_argument("--preset", default="compact")
    parser.add_argument("--batch", type=int, help="batch size (default: the preset's)")
    parser.add_argument("--steps", type=int, default=200, help="timed optimiser steps")
    parser.add_argument("--warmup", type=int, default=20, help="untimed optimiser steps first")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=0, help="also compare pairing after this many epochs")
    parser.add_argument("--reference-python", default="/tmp/spanet-venv/bin/python")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    probe = subprocess.run([args.reference_python, "-c", "import spanet"], capture_output=True) \
        if Path(args.reference_python).is_file() else None
    if probe is None or probe.returncode:
        print(f"skipped: no reference SPANet at {args.reference_python} (pip install spanet in its own venv)")
        return 0
    import torch

    from hh4b.nn.data import SpanetH5, split
    from hh4b.nn.spanet import SPANET_PRESETS

    torch.set_num_threads(1)
    config = SPANET_PRESETS[args.preset].with_(batch_size=args.batch)
    n_events = len(SpanetH5(args.data))
    cut = len(split(args.data, 0.05)[0])
    options = reference_options(config, args.data, config.batch_size, args.epochs, cut, n_events)
    log.info("hh4b %s: hidden %d, central %d, branch %d, heads %d, batch %d, lr %g; reference options %s",
             args.preset, config.hidden, config.central_layers, config.branch_layers, config.heads,
             config.batch_size, config.learning_rate, json.dumps(options))
    events = args.steps * config.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            ours, n_ours = hh4b_steps(args.data, config, args.warmup, args.steps)
            ref = run_reference(args.reference_python, {"options": options, "seed": 0, "epochs": 0,
                                                        "steps": args.warmup + args.steps}, Path(tmp))
            theirs = ref["stamps"][-1] - ref["stamps"][args.warmup - 1]
            print(f"repeat {repeat + 1}: {events} events ({args.steps} steps x {config.batch_size}); "
                  f"hh4b {ours:.2f} CPU-s = {events / ours:.0f} ev/CPU-s ({n_ours} params); "
                  f"reference {theirs:.2f} CPU-s = {events / theirs:.0f} ev/CPU-s ({ref['parameters']} params); "
                  f"ratio {theirs / ours:.2f}")
        if args.epochs:
            pairing(args, config, options, cut, n_events, Path(tmp))
    return 0


def pairing(args, config, options: dict, cut: int, n_events: int, tmp: Path) -> None:
    """Pairing efficiency of both codes' last-epoch models on hh4b's validation events."""
    from hh4b.nn.data import split
    from hh4b.nn.evaluate import pairing_vs_parameter, run_model
    from hh4b.nn.spanet import load_checkpoint
    from hh4b.nn.train_spanet import train_spanet

    start = time.process_time()
    train_spanet(args.data, tmp / "hh4b", config.with_(epochs=args.epochs), patience=10**6, progress=False)
    ours_s = time.process_time() - start
    model, _ = load_checkpoint(tmp / "hh4b" / "last.pt")
    result = run_model(model, split(args.data, 0.05)[1], progress=False)
    ref = run_reference(args.reference_python, {"options": options, "seed": 0, "epochs": args.epochs, "cut": cut,
                                                "n_events": n_events, "predictions": str(tmp / "ref.npy")}, tmp)
    ours = pairing_vs_parameter(result)["rows"]
    result["assignment"] = np.load(tmp / "ref.npy")
    theirs = pairing_vs_parameter(result)["rows"]
    ref_s = ref["stamps"][-1]  # process CPU time at the last step (includes the reference's data loading)
    per_mass = {name: ", ".join(f"{k} {v['spanet']:.3f}" for k, v in rows.items())
                for name, rows in (("hh4b", ours), ("reference", theirs))}
    print(f"after {args.epochs} epoch(s), {ours['all']['events']} validation 2h signal events: pairing hh4b "
          f"{ours['all']['spanet']:.3f}, reference {theirs['all']['spanet']:.3f}, min-dR {ours['all']['mindr']:.3f} "
          f"(per mass hh4b {per_mass['hh4b']}; reference {per_mass['reference']}); CPU-s hh4b {ours_s:.0f} "
          f"(with per-epoch validation), reference process up to its last step {ref_s:.0f}")


if __name__ == "__main__":
    sys.exit(main())
