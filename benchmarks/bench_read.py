"""CPU cost of the processor against a pure read of its branches, and of the networks against the cut-based run.

    python benchmarks/bench_read.py [--datasets resonant_M500,ttbar,qcd4b] [--qcd4b-files 2]
        [--chunksize 100000] [--repeats 3] [--models models] [--json results.json] [--profile FILE]

In one process and on the same files (by default resonant_M500, ttbar and the first two qcd4b
files of the committed fileset.json), it measures CPU seconds (time.process_time, every thread of
this process) of:

1. a pure uproot read of exactly the branches the cut-based processor needs (`CUTBASED_BRANCHES`:
   the jets' kinematics and b-tag flag, genWeight, the generator particles for the truth-matched
   pairing counts), each branch once, in the processor's chunks;
2. `process_fileset` with the cut-based methods (iterative executor, one process), what
   `hh4b run --analysis resonant --no-nn` does;
3. the same with every network of --models for the resonant analysis (`hh4b run --analysis resonant`).

The three are measured in turn, `--repeats` times, and the smallest CPU time of each is kept (the
machine may be shared). It prints the CPU seconds behind both ratios, processor / read (goal <= 2)
and networks / cut-based (goal <= 2), so that a reader can recompute them. `--profile FILE`
also writes a cProfile of one cut-based run (read it with `python -m pstats FILE`).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]

# the branches the cut-based processor reads from an hh4b NanoAOD-style file at working point 70
CUTBASED_BRANCHES = ("nJet", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_btagWP70", "genWeight",
                     "nGenPart", "GenPart_pt", "GenPart_eta", "GenPart_phi", "GenPart_pdgId",
                     "GenPart_genPartIdxMother", "GenPart_statusFlags")


def bench_fileset(source: Path, datasets: list[str], qcd4b_files: int) -> dict:
    """The chosen datasets of the committed fileset, qcd4b cut to its first `qcd4b_files` files."""
    from hh4b.analysis.processing import load_fileset

    full = load_fileset(source)
    out = {}
    for name in datasets:
        entry = full[name]
        files = dict(entry["files"])
        if entry["metadata"]["process"] == "qcd4b":
            files = dict(list(files.items())[:qcd4b_files])
        out[name] = {"files": files, "metadata": entry["metadata"]}
    return out


def cpu(fn) -> tuple[float, object]:
    start = time.process_time()
    value = fn()
    return time.process_time() - start, value


def pure_read(fileset: dict, chunksize: int) -> int:
    """Every CUTBASED_BRANCHES branch of every file once, as awkward arrays, in chunks of `chunksize`."""
    import uproot

    events = 0
    for entry in fileset.values():
        for name, tree in entry["files"].items():
            with uproot.open(name) as handle:
                ttree = handle[tree]
                for start in range(0, ttree.num_entries, chunksize):
                    arrays = ttree.arrays(list(CUTBASED_BRANCHES), entry_start=start,
                                          entry_stop=min(start + chunksize, ttree.num_entries))
                    events += len(arrays)
    return events


def processor_run(fileset: dict, chunksize: int, models: dict) -> dict:
    from hh4b.analysis.cutbased import BUILTIN_METHODS
    from hh4b.analysis.processing import process_fileset
    from hh4b.analysis.processor import HH4bProcessor
    from hh4b.config import AnalysisConfig

    methods = (*BUILTIN_METHODS, *(m for m in models if m not in BUILTIN_METHODS))
    proc = HH4bProcessor(AnalysisConfig(analysis="resonant"), methods=methods, models=models)
    output = process_fileset(fileset, proc, "iterative", workers=1, chunksize=chunksize, progress=False)
    book = output["bookkeeping"]
    assert book["events_failed"] == 0 and book["events_processed"] == book["events_in"], book
    return output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fileset", type=Path, default=ROOT / "fileset.json")
    parser.add_argument("--datasets", default="resonant_M500,ttbar,qcd4b")
    parser.add_argument("--qcd4b-files", type=int, default=2)
    parser.add_argument("--chunksize", type=int, default=100_000, help="entries per chunk (hh4b run's default)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile of one cut-based run")
    args = parser.parse_args()

    from hh4b.analysis.processing import neural_methods

    fileset = bench_fileset(args.fileset, [d for d in args.datasets.split(",") if d], args.qcd4b_files)
    files = [f for e in fileset.values() for f in e["files"]]
    models = neural_methods(args.models, "resonant", 1.0)
    print(f"files: {', '.join(os.path.relpath(f, ROOT) for f in files)}")
    print(f"branches read: {', '.join(CUTBASED_BRANCHES)}")
    print(f"networks: {', '.join(models) or 'none'}; chunksize {args.chunksize}")

    # warm-up: imports, first-call overheads, ONNX sessions
    events = pure_read(fileset, args.chunksize)
    processor_run(fileset, args.chunksize, {})
    processor_run(fileset, args.chunksize, models)
    times: dict[str, list[float]] = {"read": [], "cutbased": [], "networks": []}
    for _ in range(args.repeats):
        times["read"].append(cpu(lambda: pure_read(fileset, args.chunksize))[0])
        times["cutbased"].append(cpu(lambda: processor_run(fileset, args.chunksize, {}))[0])
        times["networks"].append(cpu(lambda: processor_run(fileset, args.chunksize, models))[0])
    best = {k: min(v) for k, v in times.items()}
    ratios = {"cutbased_over_read": best["cutbased"] / best["read"],
              "networks_over_cutbased": best["networks"] / best["cutbased"]}
    print(f"{events} events; CPU seconds, best of {args.repeats} (all tries: "
          + "; ".join(f"{k} {', '.join(f'{t:.3f}' for t in v)}" for k, v in times.items()) + ")")
    print(f"  (1) pure uproot read of the branches  {best['read']:8.3f} CPU-s")
    print(f"  (2) process_fileset, cut-based        {best['cutbased']:8.3f} CPU-s")
    print(f"  (3) process_fileset, all networks     {best['networks']:8.3f} CPU-s")
    print(f"ratio (2)/(1) processor / read:        {ratios['cutbased_over_read']:.2f}  (goal <= 2)")
    print(f"ratio (3)/(2) networks / cut-based:    {ratios['networks_over_cutbased']:.2f}  (goal <= 2)")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(processor_run, fileset, args.chunksize, {})
        profiler.dump_stats(str(args.profile))
        print(f"cProfile of one cut-based run: {args.profile}")
    if args.json:
        args.json.write_text(json.dumps({"files": files, "branches": list(CUTBASED_BRANCHES), "events": events,
                                         "networks": list(models), "chunksize": args.chunksize,
                                         "cpu_seconds": times, "best": best, "ratios": ratios,
                                         "load_average": os.getloadavg()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
