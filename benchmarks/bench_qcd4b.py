"""Throughput of the LO p p -> b b~ b b~ generator (hh4b.generate.qcd4b) after the four-tag cut.

    python benchmarks/bench_qcd4b.py --events 3000 [--seed 1] [--scheme 4fs] [--no-shower-veto] [--pythia-qcd FILE.root]
        [--json out.json]
    python benchmarks/bench_qcd4b.py --files data/qcd4b_*.root [--json out.json]

One job, one core: parton level (VEGAS map from the cache, cross section, unweighting, colour
flows, LHE) + Pythia shower/hadronisation/MPI (with the early shower veto of
hh4b.generate.shower_veto unless --no-shower-veto) + jets + detector + ROOT output. A warm-up job of
a few events first makes the one-time work (pyamplicol artifacts, VEGAS training) happen, so the
timed job measures the per-job cost. Reported: LO cross section with the generator cuts,
unweighting efficiency, CPU seconds and shares (matrix element, PDFs, phase space, shower, ...),
and the paper's four-tag cut (>= 4 b-tagged jets at the DL1r 77% point, pT > 40 GeV, |eta| < 2.5):
weighted Kish effective events (sum w)^2 / sum w^2 per CPU hour (goal >= 20,000; Pythia-only
b-enriched QCD ~350), fraction with four true b jets, and the same count with the processor's
truth tagging (hh4b.analysis.truthtag: every event enters the 4b category with its probability from the
per-flavour efficiencies of the working point, with a tag configuration drawn given that category).
With --pythia-qcd, the m_4j shape of the four leading tagged jets is compared with that
Pythia-only QCD file (normalised histograms, chi2).

--files measures already generated files instead (e.g. the committed data/qcd4b_*.root): the
CPU cost is --cpu-seconds when given (the measured CPU time of the jobs that made the files), else
the sum of the seconds per stage in each file's metadata (wall clock: an upper bound when jobs
shared cores), the yields come from the analysis chain (hh4b.analysis.cutbased: four-tag cut,
then the Eq. (4) pT cuts with the min-dR pairing) at both working points, with drawn tags and with truth tagging.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from hh4b import constants as C
from hh4b.weights import effective_entries

MHH_EDGES = np.array([200, 300, 350, 400, 450, 500, 600, 700, 900, 1200, 3000.0])


def four_tag(path: str | Path) -> dict:
    """Four-tag events of a generated file: weights, m_4j of the four leading tagged jets, truth."""
    import awkward as ak
    import uproot

    from hh4b.generate import writer

    metadata = writer.read_metadata(path)
    with uproot.open(path) as fin:
        arrays = fin["Events"].arrays(["genWeight", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_btagWP77",
                                       "Jet_hadronFlavour"])
    tagged = (arrays.Jet_pt > C.TAG_JET_PT_MIN) & (np.abs(arrays.Jet_eta) < C.TAG_JET_ETA_MAX) & arrays.Jet_btagWP77
    selected = ak.sum(tagged, axis=1) >= C.N_TAGS_REQUIRED
    jets = arrays[selected]
    lead = tagged[selected]
    pt, eta, phi, mass = (jets[f"Jet_{v}"][lead][:, :4] for v in ("pt", "eta", "phi", "mass"))
    px, py = ak.sum(pt * np.cos(phi), 1), ak.sum(pt * np.sin(phi), 1)
    pz, energy = ak.sum(pt * np.sinh(eta), 1), ak.sum(np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2), 1)
    m4j = np.sqrt(np.maximum(ak.to_numpy(energy**2 - px**2 - py**2 - pz**2), 0))
    true_b = ak.to_numpy(ak.sum(jets.Jet_hadronFlavour[lead][:, :4] == 5, 1) == 4)
    weights = ak.to_numpy(jets.genWeight).astype(float)
    return {"n_events": metadata.get("n_generated", len(arrays)), "n_four_tag": int(len(weights)),
            "weights": weights, "m4j": m4j,
            "true_b_fraction": float(np.sum(weights * true_b) / np.sum(weights)) if len(weights) else float("nan"),
            "sumw_all": float(metadata["sumw"])}


def analysis_weights(path: str | Path, wp: str, truth_tagging: bool, method: str = "cut_mindr") -> dict:
    """Per-row weights (genWeight, times P(4b) with truth tagging) of the 4b events of a file after
    the four-tag cut and after the Eq. (4) pT cuts, from the analysis chain itself."""
    import uproot

    from hh4b.analysis import truthtag
    from hh4b.analysis.cutbased import analyse
    from hh4b.analysis.events import make_jets
    from hh4b.generate import writer

    with uproot.open(path) as fin:
        arrays = fin["Events"].arrays(["genWeight", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", f"Jet_btagWP{wp}",
                                       "Jet_hadronFlavour"])
    jets = make_jets(arrays.Jet_pt, arrays.Jet_eta, arrays.Jet_phi, arrays.Jet_mass, arrays[f"Jet_btagWP{wp}"],
                     arrays.Jet_hadronFlavour)
    weight = np.asarray(arrays.genWeight, dtype=np.float64)
    sumw = writer.read_metadata(path)["sumw"]  # counts the events the shower veto dropped
    if truth_tagging:
        jets, probability, source = truthtag.expand(jets, wp, truthtag.chunk_rng("qcd4b", str(path), 0), str(path))
        weight = weight[source] * probability
    result = analyse(jets, (method,))
    four = result["category"] == 4
    return {"four_tag": weight[four], "pt_cuts": weight[four & result["methods"][method]["pt_ok"]], "sumw": sumw,
            "n_events": len(arrays)}


def compare_shapes(ours: dict, pythia: dict) -> dict:
    """Normalised m_4j shapes of four-tag events: chi2 / bins with both weighted errors."""
    def shape(sample):
        counts = np.histogram(sample["m4j"], MHH_EDGES, weights=sample["weights"])[0]
        sumw2 = np.histogram(sample["m4j"], MHH_EDGES, weights=sample["weights"] ** 2)[0]
        total = counts.sum()
        return counts / total, np.sqrt(sumw2) / total

    (a, da), (b, db) = shape(ours), shape(pythia)
    keep = (da > 0) & (db > 0)
    chi2 = float(np.sum((a - b)[keep] ** 2 / (da**2 + db**2)[keep]))
    return {"edges": MHH_EDGES.tolist(), "qcd4b": a.round(4).tolist(), "pythia_qcd": b.round(4).tolist(),
            "chi2": chi2, "bins": int(keep.sum()), "n_four_tag_pythia": pythia["n_four_tag"]}


def run(events: int, seed: int, pythia_qcd: str | None, bias_powers: tuple | None = None, scheme: str = "5fs",
        shower_veto: bool = True) -> dict:
    from hh4b.generate.qcd4b import generate_qcd4b

    with tempfile.TemporaryDirectory(prefix="bench-qcd4b-") as workdir:
        options = {"scheme": scheme, "bias_powers": tuple(bias_powers) if bias_powers else None,
                   "shower_veto": shower_veto}
        generate_qcd4b(Path(workdir) / "warm.root", 5, seed + 1000, progress=False, **options)  # artifacts + map
        path = Path(workdir) / "qcd4b.root"
        cpu, wall = time.process_time(), time.perf_counter()
        metadata = generate_qcd4b(path, events, seed, progress=False, **options)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        result = four_tag(path)
        tagged = analysis_weights(path, C.BTAG_WP_NONRESONANT, truth_tagging=True)
    info = metadata["qcd4b"]
    seconds = {k: round(v, 2) for k, v in info["seconds"].items()}
    effective = effective_entries(result["weights"])
    report = {
        "events": events, "seed": seed, "scheme": scheme, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1),
        "xsec_pb": round(info["xsec_pb"], 2), "xsec_err_pb": round(info["xsec_err_pb"], 2), "cuts": info["cuts"],
        "unweighting_efficiency": info["unweighting_efficiency"], "points_tried": info["n_tried"],
        "overweight_fraction": info["overweight_fraction"], "bias": info["bias"],
        "shower_veto": metadata.get("shower_veto"),
        "seconds": seconds, "shares": {k: round(v / sum(seconds.values()), 3) for k, v in seconds.items()},
        "n_four_tag": result["n_four_tag"], "four_tag_fraction": result["n_four_tag"] / result["n_events"],
        "four_tag_xsec_pb": info["xsec_pb"] * result["weights"].sum() / result["sumw_all"],
        "effective_four_tag": round(effective, 1),
        "effective_four_tag_per_cpu_hour": round(effective / cpu * 3600.0),
        "goal_per_cpu_hour": 20000, "pythia_only_per_cpu_hour": 350,
        "four_true_b_fraction": round(result["true_b_fraction"], 3),
        "four_tag_xsec_truth_tagged_pb": info["xsec_pb"] * tagged["four_tag"].sum() / tagged["sumw"],
        "effective_four_tag_truth_tagged_per_cpu_hour": round(effective_entries(tagged["four_tag"]) / cpu * 3600.0),
    }
    if pythia_qcd:
        report["mhh_shape_vs_pythia_qcd"] = compare_shapes(result, four_tag(pythia_qcd))
    return report


def measure_files(paths: list[str], cpu_seconds: float | None = None) -> dict:
    """Effective 4b events per CPU hour of generated files, drawn tags vs truth tagging, at both
    working points, after the four-tag cut and after the pT cuts (weights normalised per file to
    its cross section, so files of one sample combine)."""
    from hh4b.generate import writer

    metas = [writer.read_metadata(p) for p in paths]
    wall = sum(sum(m["qcd4b"]["seconds"].values()) for m in metas)
    cpu = cpu_seconds or wall
    report = {"files": [str(p) for p in paths], "events": sum(m.get("n_generated", m["n_events"]) for m in metas),
              "stage_seconds_from_metadata": round(wall, 1), "cpu_s": round(cpu, 1), "goal_per_cpu_hour": 20000,
              "pythia_only_per_cpu_hour": 350}
    for wp in (C.BTAG_WP_RESONANT, C.BTAG_WP_NONRESONANT):
        for tagging in (False, True):
            parts = [analysis_weights(p, wp, tagging) for p in paths]
            label = f"wp{wp}_{'truth_tagged' if tagging else 'drawn'}"
            for cut in ("four_tag", "pt_cuts"):
                w = np.concatenate([part[cut] * m["xsec_pb"] / part["sumw"] for part, m in zip(parts, metas)])
                report[f"{label}_{cut}"] = {
                    "xsec_fb": round(1000 * w.sum() / len(paths), 2),
                    "xsec_err_fb": round(1000 * np.sqrt(np.sum(w**2)) / len(paths), 2),
                    "rows": int(len(w)), "effective": round(effective_entries(w), 1),
                    "effective_per_cpu_hour": round(effective_entries(w) / cpu * 3600.0)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pythia-qcd", help="Pythia-only QCD file (hh4b generate --sample qcd) for the m_4j shape")
    parser.add_argument("--bias-powers", type=float, nargs=2, metavar=("P4", "P3"),
                        help="selection bias powers of the softest and second-softest b-quark pT "
                             "(default: the scheme's)")
    parser.add_argument("--scheme", choices=("5fs", "4fs"), default="5fs", help="flavour scheme (default: %(default)s)")
    parser.add_argument("--no-shower-veto", action="store_true", help="shower every event fully")
    parser.add_argument("--files", nargs="+", help="measure these generated qcd4b files instead of generating")
    parser.add_argument("--cpu-seconds", type=float, help="with --files: their measured generation CPU seconds")
    parser.add_argument("--json", help="write the report here too")
    args = parser.parse_args()
    if args.files:
        report = measure_files(args.files, args.cpu_seconds)
    else:
        report = run(args.events, args.seed, args.pythia_qcd, args.bias_powers, args.scheme, not args.no_shower_veto)
    text = json.dumps(report, indent=1, default=float)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
