"""Throughput of the analysis chain with ONNX inference on (issue 7), on one CPU core.

    python benchmarks/bench_inference.py [--events 20000] [--models models] [--preset nonresonant]
        [--end-to-end fileset.json] [--json results.json]

Uses models/spanet_*.onnx and models/dnn_*.onnx when present; otherwise exports untrained
networks of the chosen preset (same graph, same cost). Prints events/s (wall) and events per
CPU second (the per-core rate, also on a shared machine) for: SPA-NET alone (batch inference),
and the full in-memory chain with all five methods. --end-to-end also runs `hh4b run FILESET
--analysis PRESET --executor iterative` (one process, reading the files, every method, histograms)
with and without the networks, and reports events/s, events per CPU second and peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from hh4b.analysis.cutbased import analyse  # noqa: E402
from hh4b.analysis.events import make_jets  # noqa: E402
from hh4b.analysis.features import RESONANT_FEATURES  # noqa: E402
from hh4b.analysis.methods import SpanetModel, build_methods  # noqa: E402
from hh4b.nn.card import model_filename  # noqa: E402
from hh4b.nn.dnn import DenseClassifier, export_onnx  # noqa: E402
from hh4b.nn.export_onnx import export_spanet  # noqa: E402
from hh4b.nn.spanet import SPANET_PRESETS, Spanet  # noqa: E402

from toys import hh_events  # noqa: E402


def model_files(models: Path, preset: str, scratch: Path) -> tuple[Path, Path]:
    spanet, dnn = models / model_filename("spanet", preset), models / model_filename("dnn_mindr", preset)
    if not spanet.is_file():
        spanet = scratch / "spanet.onnx"
        export_spanet(Spanet(SPANET_PRESETS[preset].with_(n_globals=0)).eval(), spanet, {})
    if not dnn.is_file():
        dnn = scratch / "dnn.onnx"
        export_onnx(DenseClassifier(len(RESONANT_FEATURES)).eval(), RESONANT_FEATURES, dnn, card={})
    return spanet, dnn


def timed(label: str, fn, n: int) -> dict:
    fn()  # warm-up: session creation, first allocation
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    print(f"{label:<44} {n / elapsed:>10.0f} events/s  {n / cpu:>10.0f} events/CPU-s (1 thread)")
    return {"label": label, "events": n, "seconds": elapsed, "cpu_seconds": cpu, "events_per_s": n / elapsed,
            "events_per_cpu_s": n / cpu}


def end_to_end(fileset: str, analysis: str, models: str, nn: bool) -> dict:
    """`hh4b run` with the iterative executor in a child process: wall, CPU and peak memory (GNU time's
    %M of the child: a child forked from this large process would inherit its RSS high-water mark)."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "hh4b.cli", "run", fileset, "--analysis", analysis, "--executor", "iterative",
                   "--models", models, "--output", out, "--no-progress", *([] if nn else ["--no-nn"])]
        gnu_time = Path("/usr/bin/time")
        rss_file = Path(out) / "maxrss"
        if gnu_time.is_file():
            command = [str(gnu_time), "-f", "%M", "-o", str(rss_file), *command]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        events = json.loads((Path(out) / "summary.json").read_text())["bookkeeping"]["events_processed"]
        peak = float(rss_file.read_text().split()[-1]) / 1024 if rss_file.is_file() else None
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    row = {"label": f"hh4b run {analysis} iterative, " + ("networks on" if nn else "--no-nn"), "events": events,
           "seconds": seconds, "cpu_seconds": cpu, "events_per_s": events / seconds, "events_per_cpu_s": events / cpu,
           "peak_rss_mb": peak}
    print(f"{row['label']:<44} {row['events_per_s']:>10.0f} events/s  {row['events_per_cpu_s']:>10.0f} events/CPU-s "
          f"({events} events, {seconds:.1f} s, {cpu:.1f} CPU-s; peak RSS {peak or float('nan'):.0f} MB)")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--models", default="models")
    parser.add_argument("--preset", default="nonresonant", choices=("resonant", "nonresonant"))
    parser.add_argument("--end-to-end", default=None, metavar="FILESET", help="also time `hh4b run` on this fileset")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    rows = []
    torch.set_num_threads(1)
    toy = hh_events(args.events, 500.0, seed=1)["jets"]
    jets = make_jets(toy["pt"], toy["eta"], toy["phi"], toy["mass"], toy["btagWP70"], toy["hadronFlavour"])
    with tempfile.TemporaryDirectory() as scratch:
        spanet_path, dnn_path = model_files(Path(args.models), args.preset, Path(scratch))
        print(f"models: {spanet_path}, {dnn_path}; {args.events} toy m_H = 500 GeV events")
        spanet = SpanetModel(spanet_path)
        # jets[:] is a new array object each call: SpanetModel caches its last chunk by identity
        rows.append(timed("SPA-NET ONNX inference (pairs + score)", lambda: spanet(jets[:]), args.events))
        methods = build_methods(["cut_spanet", "spanet", "dnn_mindr", "dnn_spanet"], spanet_path,
                                {"dnn_mindr": dnn_path, "dnn_spanet": dnn_path})
        names = ("cut_mindr", "cut_dhh", *methods)
        rows.append(timed("cut-based chain, no inference", lambda: analyse(jets[:], ("cut_mindr", "cut_dhh")),
                          args.events))
        # Table IV's event inputs (zero here: the toy has no MET or leptons); resonant DNNs ignore them
        extra = {name: np.zeros(args.events, np.float32) for name in ("met_pt", "met_phi", "n_electron", "n_muon")}
        rows.append(timed("full chain, all methods, inference on",
                          lambda: analyse(jets[:], names, pairers=methods, event_columns=extra), args.events))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (in-memory part): {peak:.0f} MB")
    if args.end_to_end:
        rows += [end_to_end(args.end_to_end, args.preset, args.models, nn) for nn in (False, True)]
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "peak_rss_mb": peak, "cpus": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
