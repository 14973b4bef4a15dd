"""Throughput of the analysis chain with ONNX inference on (issue 7), on one CPU core.

    python benchmarks/bench_inference.py [--events 20000] [--models models] [--preset nonresonant]

Uses models/spanet_*.onnx and models/dnn_*.onnx when present; otherwise exports untrained
networks of the chosen preset (same graph, same cost). Prints events/s and events/s/core for:
SPA-NET alone (batch inference), and the full in-memory chain with all five methods.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import torch  # noqa: E402

from hh4b.cutbased import analyse  # noqa: E402
from hh4b.events import make_jets  # noqa: E402
from hh4b.features import RESONANT_FEATURES  # noqa: E402
from hh4b.methods import SpanetModel, build_methods  # noqa: E402
from hh4b.nn.dnn import DenseClassifier, export_onnx  # noqa: E402
from hh4b.nn.export_onnx import export_spanet  # noqa: E402
from hh4b.nn.spanet import SPANET_PRESETS, Spanet  # noqa: E402
from toys import hh_events  # noqa: E402


def model_files(models: Path, preset: str, scratch: Path) -> tuple[Path, Path]:
    spanet, dnn = models / f"spanet_{preset}.onnx", models / f"dnn_mindr_{preset}.onnx"
    if not spanet.is_file():
        spanet = scratch / "spanet.onnx"
        export_spanet(Spanet(SPANET_PRESETS[preset].with_(n_globals=0)).eval(), spanet, {})
    if not dnn.is_file():
        dnn = scratch / "dnn.onnx"
        export_onnx(DenseClassifier(len(RESONANT_FEATURES)).eval(), RESONANT_FEATURES, dnn, card={})
    return spanet, dnn


def timed(label: str, fn, n: int) -> None:
    fn()  # warm-up: session creation, first allocation
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    print(f"{label:<44} {n / elapsed:>10.0f} events/s  {n / elapsed:>10.0f} events/s/core (1 thread)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--models", default="models")
    parser.add_argument("--preset", default="nonresonant", choices=("resonant", "nonresonant"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    toy = hh_events(args.events, 500.0, seed=1)["jets"]
    jets = make_jets(toy["pt"], toy["eta"], toy["phi"], toy["mass"], toy["btagWP70"], toy["hadronFlavour"])
    with tempfile.TemporaryDirectory() as scratch:
        spanet_path, dnn_path = model_files(Path(args.models), args.preset, Path(scratch))
        print(f"models: {spanet_path}, {dnn_path}; {args.events} toy m_H = 500 GeV events")
        spanet = SpanetModel(spanet_path)
        timed("SPA-NET ONNX inference (pairs + score)", lambda: spanet(jets), args.events)
        methods = build_methods(["cut_spanet", "spanet", "dnn_mindr", "dnn_spanet"], spanet_path,
                                {"dnn_mindr": dnn_path, "dnn_spanet": dnn_path})
        names = ("cut_mindr", "cut_dhh", *methods)
        timed("cut-based chain, no inference", lambda: analyse(jets, ("cut_mindr", "cut_dhh")), args.events)
        timed("full chain, all methods, inference on", lambda: analyse(jets, names, pairers=methods), args.events)
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
