"""SPA-NET speed: training throughput (events/s, torch, N threads) and ONNX inference
throughput (events/s, onnxruntime, one thread) for the paper presets, on random inputs of
10 jets (the paper's maximum) with a realistic real-jet multiplicity of 4-10.

On a shared machine wall-clock rates undercount; the CPU-time rates (events per second of
process CPU time, divided by the thread count for training) estimate an uncontended core.
Training memory grows with the batch: the resonant preset (hidden 256) needs ~6 GB at 2048.

    python benchmarks/bench_spanet.py [--presets resonant nonresonant] [--train-threads 2]
                                      [--train-steps 5] [--batch 2048] [--onnx-events 100000]
                                      [--device cpu|cuda] [--output FILE.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hh4b.nn.export_onnx import example_inputs, export_graph, input_names
from hh4b.nn.losses import total_loss
from hh4b.nn.spanet import SPANET_PRESETS, Spanet

N_JETS = 10


def _batch(model: Spanet, n: int, device: str) -> dict:
    feeds = example_inputs(model, n, N_JETS, seed=1)
    batch = {k: torch.as_tensor(v, device=device) for k, v in feeds.items()}
    targets = np.tile(np.array([[[0, 1], [2, 3]]]), (n, 1, 1))
    batch.update(targets=torch.as_tensor(targets, device=device), signal=torch.ones(n, device=device),
                 weight=torch.ones(n, device=device))
    return batch


def train_throughput(preset: str, threads: int, steps: int, batch_size: int, device: str) -> tuple[float, float]:
    """(wall, CPU-time) events per second of forward + backward + AdamW step, after a warm-up step."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = SPANET_PRESETS[preset]
    model = Spanet(config).to(device).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.l2_penalty)
    batch = _batch(model, batch_size, device)
    args = [batch["jets"], batch["mask"], batch.get("globals")]
    for step in range(steps + 1):
        if step == 1:
            if device == "cuda":
                torch.cuda.synchronize()
            start, cpu = time.perf_counter(), time.process_time()
        loss, _ = total_loss(model.outputs(*args), batch)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimiser.step()
    if device == "cuda":
        torch.cuda.synchronize()
    events = steps * batch_size
    return events / (time.perf_counter() - start), events * threads / (time.process_time() - cpu)


def onnx_throughput(preset: str, n_events: int, batch_size: int) -> tuple[float, float]:
    """(wall, CPU-time) events per second of the exported graph (decoding included), one thread."""
    import onnxruntime as ort

    torch.manual_seed(0)
    model = Spanet(SPANET_PRESETS[preset]).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        export_graph(model, path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feeds = example_inputs(model, batch_size, N_JETS, seed=2)
        feeds = {k: feeds[k] for k in input_names(model)}
        session.run(None, feeds)
        start, cpu, done = time.perf_counter(), time.process_time(), 0
        while done < n_events:
            session.run(None, feeds)
            done += batch_size
        return done / (time.perf_counter() - start), done / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["resonant", "nonresonant"])
    parser.add_argument("--train-threads", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--onnx-events", type=int, default=50_000)
    parser.add_argument("--onnx-batch", type=int, default=4096)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", help="write the results as JSON")
    args = parser.parse_args()
    results = {"n_jets": N_JETS, "torch_threads": args.train_threads, "device": args.device}
    for preset in args.presets:
        train = train_throughput(preset, args.train_threads, args.train_steps, args.batch, args.device)
        infer = onnx_throughput(preset, args.onnx_events, args.onnx_batch)
        results[preset] = {"train_events_per_s_wall": train[0], "train_events_per_s_cpu": train[1],
                           "onnx_1core_events_per_s_wall": infer[0], "onnx_1core_events_per_s_cpu": infer[1]}
        print(f"{preset:<12} train {train[0]:9.0f} ev/s wall, {train[1]:9.0f} ev/s per CPU time "
              f"({args.train_threads} threads, {args.device});  ONNX 1 core {infer[0]:9.0f} ev/s wall, "
              f"{infer[1]:9.0f} ev/s per CPU time", flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
