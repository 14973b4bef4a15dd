"""Generation speed per sample family, and the QCD sample's four-tag statistics.

    python benchmarks/bench_generate.py --events 2000 [--families resonant qcd ...] [--json out.json]

Each family runs in a fresh process (one core): events/s/core = events / CPU seconds of the whole
`generate_file` call (Pythia init, generation, jets, detector, writing), peak resident memory,
and, for comparison, bare Pythia against the per-event pipeline measured alternately in chunks
(robust to a loaded machine: the ratio is what carries over).
QCD: the paper's four-tag cut (>= 4 b-tagged jets, pT > 40 GeV, |eta| < 2.5) at both working
points; Kish effective events (sum w)^2 / sum w^2 per CPU hour, and the weighted fraction of
four-tag events whose four leading tagged jets are all true b jets.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from hh4b.weights import effective_entries

LHE = Path(__file__).resolve().parents[1] / ".." / "shared" / "testdata" / "mg5_pp_to_jj.lhe.gz"
FAMILIES = {
    "resonant": {"mass": 500.0},
    "nonresonant": {"kappa_lambda": 0.0},
    "qcd": {},
    "ttbar": {},
    "lhe": {"lhe": str(LHE)},
}


def _interleaved(sample: str, options: dict, events: int, chunk: int = 125) -> dict:
    """CPU ms/event of bare Pythia (same settings, `next()` loop) and of the full per-event
    pipeline (nextBatch + SlowJet hook + detector/truth), measured alternately in chunks so that
    both see the same machine load; init and file writing excluded."""
    import pythia8mc

    from hh4b.generate import pythia_driver as D

    if sample == "lhe":
        return {}
    pythia, hook, settings, keep = D.make_pythia(sample, 7, 13000.0, options.get("mass"), options.get("kappa_lambda"),
                                                 None)
    bare = pythia8mc.Pythia("", False)
    for line in settings:
        bare.readString(line)
    bare_keep = D._configure_nonresonant(bare, options.get("kappa_lambda")) if sample == "nonresonant" else None
    bare.init()
    rng = np.random.default_rng(1)
    t_bare = t_pipe = 0.0
    for _ in range(max(1, events // chunk)):
        start = time.process_time()
        for _ in range(chunk):
            bare.next()
        t_bare += time.process_time() - start
        start = time.process_time()
        batch = pythia.nextBatch(chunk)
        D.reconstruct(batch.prt, hook.take(batch.prt)[0], rng)
        t_pipe += time.process_time() - start
    n = max(1, events // chunk) * chunk
    del bare_keep, keep
    return {"bare_ms": t_bare / n * 1e3, "pipeline_ms": t_pipe / n * 1e3}


def _four_tag(path: str) -> dict:
    import uproot

    from hh4b.constants import N_TAGS_REQUIRED, TAG_JET_ETA_MAX, TAG_JET_PT_MIN

    arrays = uproot.open(path)["Events"].arrays(["Jet_pt", "Jet_eta", "Jet_hadronFlavour", "Jet_btagWP70",
                                                  "Jet_btagWP77", "genWeight"])
    import awkward as ak

    out = {}
    weights = ak.to_numpy(arrays.genWeight).astype(np.float64)
    for wp in ("70", "77"):
        good = (arrays.Jet_pt > TAG_JET_PT_MIN) & (abs(arrays.Jet_eta) < TAG_JET_ETA_MAX) & arrays[f"Jet_btagWP{wp}"]
        passed = ak.to_numpy(ak.sum(good, axis=1) >= N_TAGS_REQUIRED)
        flav = arrays.Jet_hadronFlavour[good][:, :N_TAGS_REQUIRED]
        four_b = ak.to_numpy(ak.fill_none(ak.all(flav == 5, axis=1), False)) & passed
        w = weights[passed]
        out[wp] = {"n_pass": int(passed.sum()), "kish": effective_entries(w),
                   "frac_four_true_b": float(weights[four_b].sum() / w.sum()) if len(w) else float("nan")}
    return out


def _bench(sample: str, events: int, queue) -> None:
    from hh4b.generate import generate_file

    options = FAMILIES[sample]
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / f"{sample}.root")
        wall, cpu = time.perf_counter(), time.process_time()
        md = generate_file(sample, path, events, 12345, progress=False, **options)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        result = {"sample": sample, "events": md["n_events"], "cpu_s": cpu, "wall_s": wall,
                  "events_per_s_per_core": md["n_events"] / cpu,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        if sample == "qcd":
            result["four_tag"] = _four_tag(path)
            for stats in result["four_tag"].values():
                stats["kish_per_cpu_hour"] = stats["kish"] / cpu * 3600
    result["interleaved"] = _interleaved(sample, options, min(events, 1000))
    queue.put(result)


def run(sample: str, events: int) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_bench, args=(sample, events, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--qcd-events", type=int, default=None, help="events for qcd (default: --events)")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    results = []
    for sample in args.families:
        if sample == "lhe" and not LHE.exists():
            continue
        try:
            result = run(sample, args.qcd_events if sample == "qcd" and args.qcd_events else args.events)
        except Exception as err:  # noqa: BLE001 (report and go on with the other families)
            print(f"{sample}: failed: {err}")
            continue
        results.append(result)
        inter = result["interleaved"]
        ratio = f"pipeline/bare Pythia {inter['pipeline_ms'] / inter['bare_ms']:.2f} " \
                f"({inter['pipeline_ms']:.2f} vs {inter['bare_ms']:.2f} ms/ev)" if inter else ""
        print(f"{sample:12s} {result['events']:6d} ev  {result['events_per_s_per_core']:7.1f} ev/s/core  "
              f"{ratio}  peak RSS {result['peak_rss_mb']:6.0f} MB", flush=True)
        for wp, stats in result.get("four_tag", {}).items():
            print(f"    four-tag WP{wp}: {stats['n_pass']} events, Kish {stats['kish']:.1f} "
                  f"= {stats['kish_per_cpu_hour']:.0f} per CPU hour, four true b: {stats['frac_four_true_b']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
