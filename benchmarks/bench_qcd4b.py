"""Throughput of the LO p p -> b b~ b b~ generator (hh4b.generate.qcd4b) after the four-tag cut.

    python benchmarks/bench_qcd4b.py --events 3000 [--seed 1] [--pythia-qcd FILE.root] [--json out.json]

One job, one core: parton level (VEGAS map from the cache, cross section, unweighting, colour
flows, LHE) + Pythia shower/hadronisation/MPI + jets + detector + ROOT output. A warm-up job of
a few events first makes the one-time work (pyamplicol artifacts, VEGAS training) happen, so the
timed job measures the per-job cost. Reported: LO cross section with the generator cuts,
unweighting efficiency, CPU seconds and shares (matrix element, PDFs, phase space, shower, ...),
and the paper's four-tag cut (>= 4 b-tagged jets at the DL1r 77% point, pT > 40 GeV, |eta| < 2.5):
weighted Kish effective events (sum w)^2 / sum w^2 per CPU hour (goal >= 20,000; Pythia-only
b-enriched QCD ~350), fraction with four true b jets, and the same count if the processor used
truth tagging (each event weighted by its probability to have >= 4 tags among its taggable jets,
from the per-flavour efficiencies of the working point) instead of drawn tags. With --pythia-qcd, the m_4j shape of the
four leading tagged jets is compared with that Pythia-only QCD file (normalised histograms, chi2).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from hh4b import constants as C

MHH_EDGES = np.array([200, 300, 350, 400, 450, 500, 600, 700, 900, 1200, 3000.0])


def four_tag(path: str | Path) -> dict:
    """Four-tag events of a generated file: weights, m_4j of the four leading tagged jets, truth."""
    import awkward as ak
    import uproot

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
    all_weights = ak.to_numpy(arrays.genWeight).astype(float)
    return {"n_events": len(all_weights), "n_four_tag": int(len(weights)), "weights": weights, "m4j": m4j,
            "true_b_fraction": float(np.sum(weights * true_b) / np.sum(weights)) if len(weights) else float("nan"),
            "sumw_all": float(all_weights.sum())}


def probability_four_tags(path: str | Path, wp: str = C.BTAG_WP_NONRESONANT) -> tuple[np.ndarray, np.ndarray]:
    """(genWeight, P(>= 4 tags)) per event from per-jet tag efficiencies (truth tagging).

    Poisson-binomial probability over the taggable jets (pT > 40 GeV, |eta| < 2.5): a dynamic
    programme over the jet index (at most ~20 steps), vectorised over events.
    """
    import awkward as ak
    import uproot

    point = C.BTAG_WORKING_POINTS[wp]
    with uproot.open(path) as fin:
        arrays = fin["Events"].arrays(["genWeight", "Jet_pt", "Jet_eta", "Jet_hadronFlavour"])
    taggable = (arrays.Jet_pt > C.TAG_JET_PT_MIN) & (np.abs(arrays.Jet_eta) < C.TAG_JET_ETA_MAX)
    flavour = arrays.Jet_hadronFlavour[taggable]
    eff = ak.where(flavour == 5, point["eff_b"], ak.where(flavour == 4, 1 / point["rej_c"], 1 / point["rej_light"]))
    eff = ak.to_numpy(ak.fill_none(ak.pad_none(eff, max(int(ak.max(ak.num(eff))), 1), clip=True), 0.0))
    n_tags = np.zeros((len(eff), C.N_TAGS_REQUIRED + 1))  # P(k tags) for k < 4, last column: k >= 4
    n_tags[:, 0] = 1.0
    for column in eff.T:
        e = column[:, None]
        shifted = np.concatenate([np.zeros((len(e), 1)), n_tags[:, :-1]], 1)
        shifted[:, -1] += n_tags[:, -1]
        n_tags = n_tags * (1 - e) + shifted * e
    return ak.to_numpy(arrays.genWeight).astype(float), n_tags[:, -1]


def kish(weights: np.ndarray) -> float:
    return float(weights.sum() ** 2 / np.sum(weights**2)) if len(weights) else 0.0


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


def run(events: int, seed: int, pythia_qcd: str | None, bias_power: float = C.QCD4B_BIAS_POWER) -> dict:
    from hh4b.generate.qcd4b import generate_qcd4b

    with tempfile.TemporaryDirectory(prefix="bench-qcd4b-") as workdir:
        options = {"bias_power": bias_power}
        generate_qcd4b(Path(workdir) / "warm.root", 5, seed + 1000, progress=False, **options)  # artifacts + map
        path = Path(workdir) / "qcd4b.root"
        cpu, wall = time.process_time(), time.perf_counter()
        metadata = generate_qcd4b(path, events, seed, progress=False, **options)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        result = four_tag(path)
        gen_weight, p_four = probability_four_tags(path)
    info = metadata["qcd4b"]
    seconds = {k: round(v, 2) for k, v in info["seconds"].items()}
    effective = kish(result["weights"])
    report = {
        "events": events, "seed": seed, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1),
        "xsec_pb": round(info["xsec_pb"], 2), "xsec_err_pb": round(info["xsec_err_pb"], 2), "cuts": info["cuts"],
        "unweighting_efficiency": info["unweighting_efficiency"], "points_tried": info["n_tried"],
        "truncated_fraction": info["truncated_fraction"], "bias": info["bias"],
        "seconds": seconds, "shares": {k: round(v / sum(seconds.values()), 3) for k, v in seconds.items()},
        "n_four_tag": result["n_four_tag"], "four_tag_fraction": result["n_four_tag"] / result["n_events"],
        "four_tag_xsec_pb": info["xsec_pb"] * result["weights"].sum() / result["sumw_all"],
        "effective_four_tag": round(effective, 1),
        "effective_four_tag_per_cpu_hour": round(effective / cpu * 3600.0),
        "goal_per_cpu_hour": 20000, "pythia_only_per_cpu_hour": 350,
        "four_true_b_fraction": round(result["true_b_fraction"], 3),
        "four_tag_xsec_truth_tagged_pb": info["xsec_pb"] * np.sum(gen_weight * p_four) / gen_weight.sum(),
        "effective_four_tag_truth_tagged_per_cpu_hour": round(kish(gen_weight * p_four) / cpu * 3600.0),
    }
    if pythia_qcd:
        report["mhh_shape_vs_pythia_qcd"] = compare_shapes(result, four_tag(pythia_qcd))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pythia-qcd", help="Pythia-only QCD file (hh4b generate --sample qcd) for the m_4j shape")
    parser.add_argument("--bias-power", type=float, default=C.QCD4B_BIAS_POWER,
                        help="selection bias power on the softest b-quark pT (default: %(default)g)")
    parser.add_argument("--json", help="write the report here too")
    args = parser.parse_args()
    report = run(args.events, args.seed, args.pythia_qcd, args.bias_power)
    text = json.dumps(report, indent=1, default=float)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
