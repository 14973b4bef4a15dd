"""SPA-NET ONNX against the one-core roofline: achieved / attainable FLOP rate per preset.

For each preset (the shipped compact models, sizes read from models/spanet_*.json, and the paper's
non-resonant preset) a randomly initialised model (torch seed 0) is exported with
hh4b.nn.export_onnx.export_graph, and the run prints:

- FLOP/event, exactly from the graph: every MatMul, Gemm, FusedMatMul and Einsum node counts
  2 * (broadcast batch dims) * M * N * K, with the shapes of its inputs taken from one run of the
  graph at batch 1 and 10 jets (all intermediate tensors exposed as outputs, so no shape is
  guessed); the count is repeated at batch 2 to check it is linear in the batch. Element-wise ops,
  reductions, Softmax, LayerNorm and GELU are not counted (they are the overhead the roofline
  exposes). Decoding (Gather/ArgMax) has no matrix products.
- achieved: events per CPU second of one onnxruntime thread (intra_op = inter_op = 1) on
  random events of 10 jet slots with 4-10 real jets, at several batch sizes; the best is used;
- attainable: the same core's plain fp32 MatMul rate (GFLOP/s), measured in the same run with a
  one-node ONNX graph (M x K) @ (K x N) for every weight-matrix shape (K, N) of the model,
  M = 11 * batch rows; per shape the best M is kept, and the rates are combined as the model's
  FLOP-weighted harmonic mean (the time the model's FLOPs would take as plain GEMMs);
- ratio = achieved events/s * FLOP/event / attainable FLOP/s;
- the onnxruntime profile of the top ops (share of node time) at the best batch size.

--compare-opt-levels also prints events/CPU-s at the first batch size for each onnxruntime graph
optimisation level, measured interleaved (best of 3) in the same run.

    python benchmarks/bench_roofline.py [--presets compact-nonresonant compact-resonant nonresonant]
        [--batches 64 256 1000 4096] [--seconds 1.5] [--opt-level all]
        [--compare-opt-levels] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from hh4b.nn.export_onnx import example_inputs, export_graph, input_names  # noqa: E402
from hh4b.nn.spanet import SPANET_PRESETS, Spanet, SpanetConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N_JETS = 10
MATMUL_OPS = ("MatMul", "Gemm", "FusedMatMul", "Einsum")
OPT_LEVELS = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}


def preset_configs() -> dict[str, SpanetConfig]:
    """The shipped models' configs (from their cards) and the paper's non-resonant preset."""
    configs = {}
    for analysis in ("nonresonant", "resonant"):
        card = ROOT / "models" / f"spanet_{analysis}.json"
        if card.is_file():
            configs[f"compact-{analysis}"] = SpanetConfig(**json.loads(card.read_text())["config"])
    configs["nonresonant"] = SPANET_PRESETS["nonresonant"]
    return configs


def make_model(config: SpanetConfig) -> Spanet:
    torch.manual_seed(0)
    model = Spanet(config).eval()
    with torch.no_grad():  # non-trivial normalisation, as in a trained model
        model.jet_mean[0], model.jet_scale[0] = 4.0, 0.7
    return model


def session(path, opt_level: str = "all", profile: str | None = None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = OPT_LEVELS[opt_level]
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = profile
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _feeds(model: Spanet, n_batch: int, seed: int = 2) -> dict[str, np.ndarray]:
    feeds = example_inputs(model, n_batch, N_JETS, seed=seed)
    return {k: feeds[k] for k in input_names(model)}


def _matmul_flops(node, shapes) -> tuple[int, tuple[int, int]]:
    """(FLOPs, (K, N)) of one matrix-product node from its input shapes."""
    if node.op_type == "Einsum":
        raise NotImplementedError("Einsum FLOP count")  # not produced by the exporter
    a, b = (list(shapes[name]) for name in node.input[:2])
    attrs = {att.name: helper.get_attribute_value(att) for att in node.attribute}
    if node.op_type == "Gemm":
        m, k = a[::-1] if attrs.get("transA") else a
        n = b[0] if attrs.get("transB") else b[1]
        return 2 * m * n * k, (k, n)
    if len(a) == 1:
        a = [1] + a
    if len(b) == 1:
        b = b + [1]
    if attrs.get("transA"):
        a[-2:] = a[-2:][::-1]
    if attrs.get("transB"):
        b[-2:] = b[-2:][::-1]
    batch = np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2]))
    m, k, n = a[-2], a[-1], b[-1]
    return 2 * int(np.prod(batch, dtype=np.int64)) * m * n * k, (k, n)


def count_flops(path, model: Spanet, n_batch: int = 1) -> dict:
    """Exact matrix-product FLOPs of one run at (n_batch, N_JETS): per op type and per weight shape."""
    graph_model = onnx.load(str(path))
    graph = graph_model.graph
    initialisers = {i.name: numpy_helper.to_array(i).shape for i in graph.initializer}
    constants = {n.output[0]: numpy_helper.to_array(n.attribute[0].t).shape
                 for n in graph.node if n.op_type == "Constant" and n.attribute and n.attribute[0].t.dims}
    wanted = {name for n in graph.node if n.op_type in MATMUL_OPS for name in n.input[:2]}
    known = {**initialisers, **constants}
    existing = {o.name for o in graph.output}
    for name in sorted(wanted - set(known) - existing):
        graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.onnx"
        onnx.save(graph_model, str(probe))
        sess = session(probe, "disable")
        names = [o.name for o in sess.get_outputs()]
        values = sess.run(names, _feeds(model, n_batch))
    shapes = {**known, **{n: v.shape for n, v in zip(names, values)}}
    total, by_op, by_weight = 0, defaultdict(int), defaultdict(int)
    for node in graph.node:
        if node.op_type in MATMUL_OPS:
            flops, kn = _matmul_flops(node, shapes)
            total += flops
            by_op[node.op_type] += flops
            weight = node.input[1] in known
            by_weight[kn if weight else "activation x activation"] += flops
    return {"flops": total, "by_op": dict(by_op), "by_shape": dict(by_weight)}


def throughput(sess, feeds: dict, seconds: float) -> float:
    """Events per CPU second of sess.run on feeds, after one warm-up run."""
    n_batch = len(next(iter(feeds.values())))
    sess.run(None, feeds)
    done, cpu = 0, time.process_time()
    while True:
        sess.run(None, feeds)
        done += n_batch
        spent = time.process_time() - cpu
        if spent >= seconds:
            return done / spent


def gemm_rate(m: int, k: int, n: int, seconds: float) -> float:
    """GFLOP/s of one onnxruntime thread on a plain fp32 (m x k) @ (k x n) MatMul node."""
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "gemm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])], [weight])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gemm.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
        sess = session(path)
        x = {"x": rng.standard_normal((m, k)).astype(np.float32)}
        runs_per_s = throughput(sess, x, seconds) / m
    return 2 * m * k * n * runs_per_s / 1e9


def profile(path, feeds: dict, opt_level: str, runs: int = 20) -> list[tuple[str, float]]:
    """Share of node time per op type (onnxruntime profiling), largest first."""
    with tempfile.TemporaryDirectory() as tmp:
        sess = session(path, opt_level, profile=str(Path(tmp) / "prof"))
        for _ in range(runs):
            sess.run(None, feeds)
        events = json.loads(Path(sess.end_profiling()).read_text())
    per_op = defaultdict(float)
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"]
    total = sum(per_op.values()) or 1.0
    return sorted(((op, dur / total) for op, dur in per_op.items()), key=lambda x: -x[1])


def roofline(name: str, config: SpanetConfig, batches, seconds: float, opt_level: str,
             top: int = 10) -> dict:
    """All numbers of one preset (see the module docstring)."""
    model = make_model(config)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.onnx"
        export_graph(model, path)
        flops1, flops2 = count_flops(path, model, 1), count_flops(path, model, 2)
        per_event = flops1["flops"]
        if flops2["flops"] != 2 * per_event:
            raise RuntimeError(f"FLOPs not linear in the batch: {flops1['flops']} at 1, {flops2['flops']} at 2")
        sess = session(path, opt_level)
        rates = {b: throughput(sess, _feeds(model, b), seconds) for b in batches}
        best = max(rates, key=rates.get)
        ops = profile(path, _feeds(model, best), opt_level)
    shapes = {kn: f for kn, f in flops1["by_shape"].items() if kn != "activation x activation"}
    tokens = N_JETS + 1
    gemm = {kn: max(gemm_rate(tokens * b, kn[0], kn[1], seconds / 3) for b in (256, 1000)) for kn in shapes}
    weight_flops = sum(shapes.values())
    attainable_gflops = weight_flops / sum(f / gemm[kn] for kn, f in shapes.items())
    achieved_gflops = rates[best] * per_event / 1e9
    return {"preset": name, "config": config.to_dict(), "n_jets": N_JETS, "opt_level": opt_level,
            "flop_per_event": per_event, "flop_by_op": flops1["by_op"],
            "flop_by_shape": {str(k): v for k, v in flops1["by_shape"].items()},
            "events_per_cpu_s": {str(b): r for b, r in rates.items()}, "best_batch": best,
            "gemm_gflops": {f"{k}x{n}": g for (k, n), g in gemm.items()},
            "attainable_gflops": attainable_gflops,
            "attainable_events_per_cpu_s": attainable_gflops * 1e9 / per_event,
            "achieved_gflops": achieved_gflops, "ratio": achieved_gflops / attainable_gflops,
            "profile": ops[:top]}


def report(r: dict) -> None:
    rates = ", ".join(f"{b}: {v:,.0f}" for b, v in r["events_per_cpu_s"].items())
    gemm = ", ".join(f"{s}: {g:.1f}" for s, g in r["gemm_gflops"].items())
    print(f"\n== {r['preset']} (hidden {r['config']['hidden']}, {r['config']['central_layers']} central + "
          f"{r['config']['branch_layers']} branch layers, {r['n_jets']} jets, "
          f"ORT opt level {r['opt_level']})")
    print(f"FLOP/event (matrix products: {', '.join(r['flop_by_op'])}): {r['flop_per_event']:,}  "
          f"by weight shape (K, N): {r['flop_by_shape']}")
    print(f"events/CPU-s by batch: {rates}  -> best batch {r['best_batch']}")
    print(f"plain MatMul GFLOP/s by (K x N): {gemm}  -> attainable {r['attainable_gflops']:.1f} GFLOP/s "
          f"= {r['attainable_events_per_cpu_s']:,.0f} events/CPU-s")
    print(f"achieved {r['events_per_cpu_s'][str(r['best_batch'])]:,.0f} ev/s x {r['flop_per_event']:,} FLOP "
          f"= {r['achieved_gflops']:.2f} GFLOP/s;  achieved / attainable = {r['ratio']:.3f}")
    print("profile: " + ", ".join(f"{op} {share:.0%}" for op, share in r["profile"]))


def compare_opt_levels(config: SpanetConfig, n_batch: int, seconds: float) -> dict[str, float]:
    """Events/CPU-s per graph optimisation level, interleaved, best of 3."""
    model = make_model(config)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        export_graph(model, path)
        sessions = {level: session(path, level) for level in OPT_LEVELS}
        feeds = _feeds(model, n_batch)
        rates = defaultdict(list)
        for _ in range(3):
            for level, sess in sessions.items():
                rates[level].append(throughput(sess, feeds, seconds / 3))
    return {level: max(r) for level, r in rates.items()}


def main() -> None:
    configs = preset_configs()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(configs), choices=list(configs))
    parser.add_argument("--batches", nargs="+", type=int, default=[64, 256, 1000, 4096])
    parser.add_argument("--seconds", type=float, default=1.5, help="CPU seconds per throughput point")
    parser.add_argument("--opt-level", choices=list(OPT_LEVELS), default="all")
    parser.add_argument("--compare-opt-levels", action="store_true")
    parser.add_argument("--json", help="write the results as JSON")
    args = parser.parse_args()
    results = []
    for name in args.presets:
        results.append(roofline(name, configs[name], args.batches, args.seconds, args.opt_level))
        report(results[-1])
        if args.compare_opt_levels:
            levels = compare_opt_levels(configs[name], args.batches[0], args.seconds)
            results[-1]["opt_levels_events_per_cpu_s"] = levels
            print(f"opt levels at batch {args.batches[0]}: "
                  + ", ".join(f"{k}: {v:,.0f}" for k, v in levels.items()), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
