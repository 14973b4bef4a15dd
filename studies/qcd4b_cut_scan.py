"""Does the qcd4b analysis yield depend on the generator cuts? (issue 5: "show the analysis yield
does not change when they are loosened further").

    python studies/qcd4b_cut_scan.py --cuts 25,2.7,0.2 15,3.2,0.1 --events 30000 --seed 1 --json out.json
    python studies/qcd4b_cut_scan.py --files a.root b.root        # measure files already made
    python studies/qcd4b_cut_scan.py --scheme 4fs --cuts 0,inf,0 --events 10000 \
        --subsets 20,3,0.15 15,3.2,0.1 10,4,0.05 5,5,0              # 4fs: which cuts lose nothing

For each generator cut point "pt_min,eta_max,dr_min" it generates `--events` showered qcd4b
events (hh4b.generate.qcd4b, one core) and measures, with truth tagging at both working
points (hh4b.analysis.truthtag probabilities, no drawn tags), the cross section of

  four_tag     >= 4 tagged quality jets (pT > 40 GeV, |eta| < 2.5)
  four_true_b  the same with only true b jets allowed to be tagged (the four b's of the process)
  pt_cuts      four-tag events passing the Eq. (4) pT cuts of the min-dR pairing (cut_mindr)
  signal_region  four-tag events in the cut-based signal region (cut_mindr: |d-eta_hh|, X_Wt, X_hh)

with the statistical error from the weights, plus the CPU seconds per effective four-tag event.
Yields that agree between two loose points (within errors) mean the cuts are converged.

Edges: when the parton-level Les Houches file sits beside a ROOT file (generated points keep it;
for --files, FILE.lhe next to FILE.root), the four-tag yield in a band just inside each generator
cut (EDGE_BANDS) gives the yield density at that cut, and so, by linear extrapolation, the share
of the yield that moving each cut to --looser would add: which cut the yield is still sensitive
to, from one sample and without generating the looser point.

Subsets: a sample made with looser cuts than a cut point (the 4fs sample has none at all)
contains that point exactly, so the share of its four-tag yield that passes the point's cuts at
parton level says what those cuts would lose, with no extrapolation.
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

EDGE_BANDS = {"pt_min": 5.0, "eta_max": 0.2, "dr_min": 0.1}  # GeV, |eta|, dR inside each generator cut
BRANCHES = ["genWeight", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_hadronFlavour"]


def parse_cuts(text: str):
    from hh4b.generate.qcd4b.phasespace import Cuts

    pt_min, eta_max, dr_min = (float(x) for x in text.split(","))
    return Cuts(pt_min=pt_min, eta_max=eta_max, dr_min=dr_min)


def yields(path: str | Path, looser=None, subsets=()) -> dict:
    """Truth-tagged cross sections at the resonant and non-resonant working points (with the
    edge extrapolation towards the `looser` cuts and the shares inside the `subsets` cut points
    when the file's Les Houches file is beside it)."""
    lhe = Path(path).with_suffix(".lhe")
    observables = parton_observables(lhe) if looser is not None and lhe.is_file() else None
    return {f"wp{wp}": yields_at(path, wp, observables, looser, subsets)
            for wp in (C.BTAG_WP_RESONANT, C.BTAG_WP_NONRESONANT)}


def parton_observables(lhe_path: str | Path) -> dict:
    """Per event: softest b-quark pT, largest |eta| and smallest dR of a b-quark pair (the cut variables)."""
    import awkward as ak
    import pylhe

    from hh4b.generate.qcd4b.phasespace import cut_variables

    events = pylhe.to_awkward(pylhe.LHEFile.fromfile(str(lhe_path)).events)
    vector = events.particles.vector[events.particles.status == 1]
    final = np.stack([ak.to_numpy(getattr(vector, c)) for c in ("e", "px", "py", "pz")], -1)
    momenta = np.concatenate([np.zeros((len(final), 2, 4)), final], 1)  # (N, 6, 4): beams left empty
    return cut_variables(momenta)


def edge_gains(weights: np.ndarray, observables: dict, cuts: dict, looser) -> dict:
    """Yield share per unit of each cut variable just inside the cut, and the share gained by moving
    that cut to `looser` if the density stays flat beyond it (linear extrapolation)."""
    total, out = weights.sum(), {}
    for name, width in EDGE_BANDS.items():
        cut, value = cuts[name], observables[name]
        band = (value > cut - width) if name == "eta_max" else (value < cut + width)
        density = weights[band].sum() / total / width
        error = np.sqrt(np.sum(weights[band] ** 2)) / total / width
        step = abs(getattr(looser, name) - cut)
        out[name] = {"density": float(density), "density_err": float(error), "gain": float(density * step),
                     "gain_err": float(error * step)}
    out["total_gain"] = sum(v["gain"] for v in out.values())
    out["total_gain_err"] = float(np.sqrt(sum(v["gain_err"] ** 2 for k, v in out.items() if k != "total_gain")))
    return out


def subset_shares(weights: np.ndarray, observables: dict, subsets) -> dict:
    """Share s of the yield inside each (tighter) cut point, with its error
    sqrt((1 - s)^2 sum_in w^2 + s^2 sum_out w^2) / sum w."""
    total, out = weights.sum(), {}
    for cuts in subsets:
        inside = ((observables["pt_min"] > cuts.pt_min) & (observables["eta_max"] < cuts.eta_max)
                  & (observables["dr_min"] > cuts.dr_min))
        share = weights[inside].sum() / total
        variance = (1 - share) ** 2 * np.sum(weights[inside] ** 2) + share**2 * np.sum(weights[~inside] ** 2)
        out[f"{cuts.pt_min:g},{cuts.eta_max:g},{cuts.dr_min:g}"] = {"share": float(share),
                                                                    "share_err": float(np.sqrt(variance) / total)}
    return out


def yields_at(path: str | Path, wp: str, observables: dict | None = None, looser=None, subsets=()) -> dict:
    """Truth-tagged cross sections (pb) with errors of one generated qcd4b file."""
    import uproot

    from hh4b.analysis import truthtag
    from hh4b.analysis.cutbased import analyse
    from hh4b.analysis.events import make_jets
    from hh4b.generate import writer

    metadata = writer.read_metadata(path)
    xsec = metadata["xsec_pb"]
    with uproot.open(path) as fin:
        arrays = fin["Events"].arrays(BRANCHES + [f"Jet_btagWP{wp}"])
    jets = make_jets(arrays.Jet_pt, arrays.Jet_eta, arrays.Jet_phi, arrays.Jet_mass, arrays[f"Jet_btagWP{wp}"],
                     arrays.Jet_hadronFlavour)
    genweight = np.asarray(arrays.genWeight, dtype=np.float64)
    scale = xsec / metadata["sumw"]  # sumw counts the events the shower veto dropped
    four, four_b = (truthtag.four_tag_probability(jets, wp, flavours, str(path)) for flavours in (None, (5,)))
    copies, probability, source = truthtag.expand(jets, wp, truthtag.chunk_rng("qcd4b", str(path), 0), str(path))
    result = analyse(copies, ("cut_mindr",))
    in_four = result["category"] == 4
    method = result["methods"]["cut_mindr"]
    copy_weight = genweight[source] * probability
    weights = {"four_tag": genweight * four, "four_true_b": genweight * four_b,
               "pt_cuts": copy_weight[in_four & method["pt_ok"]],
               "signal_region": copy_weight[in_four & method["sr"].astype(bool)]}
    out = {name: {"xsec_pb": float(scale * w.sum()), "err_pb": float(scale * np.sqrt(np.sum(w**2))),
                  "effective": effective_entries(w)}
           for name, w in weights.items()}
    out = {**out, "generator_xsec_pb": float(xsec), "n_events": len(genweight)}
    if observables is not None:
        if len(observables["pt_min"]) != len(genweight):
            raise ValueError(f"{path}: {len(genweight)} events but {len(observables['pt_min'])} in its "
                             "Les Houches file")
        cuts = metadata["qcd4b"]["cuts"]
        if cuts["pt_min"] > looser.pt_min and cuts["eta_max"] < looser.eta_max and cuts["dr_min"] > looser.dr_min:
            out["edges"] = edge_gains(weights["four_tag"], observables, cuts, looser)
        out["subsets"] = {name: subset_shares(weights[name], observables, subsets)
                          for name in ("four_tag", "four_true_b")}
    return out


def generate_point(cuts, events: int, seed: int, workdir: Path, scheme: str = "5fs") -> tuple[Path, dict]:
    from hh4b.generate.qcd4b import generate_qcd4b

    generate_qcd4b(workdir / "warm.root", 5, seed + 1000, cuts=cuts, progress=False, scheme=scheme)  # caches
    path = workdir / f"qcd4b_{scheme}_pt{cuts.pt_min:g}_eta{cuts.eta_max:g}_dr{cuts.dr_min:g}_s{seed}.root"
    cpu = time.process_time()
    metadata = generate_qcd4b(path, events, seed, cuts=cuts, progress=True, lhe_output=path.with_suffix(".lhe"),
                              scheme=scheme)
    return path, {"cpu_s": time.process_time() - cpu, "unweighting_efficiency":
                  metadata["qcd4b"]["unweighting_efficiency"], "cuts": metadata["qcd4b"]["cuts"],
                  "generator_xsec_err_pb": metadata["qcd4b"]["xsec_err_pb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuts", nargs="*", default=[], help="pt_min,eta_max,dr_min per point")
    parser.add_argument("--files", nargs="*", default=[], help="measure these qcd4b files instead")
    parser.add_argument("--events", type=int, default=30000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", help="directory to keep the generated files in")
    parser.add_argument("--looser", default="15,3.2,0.1", help="cut point the edge extrapolation aims at")
    parser.add_argument("--subsets", nargs="*", default=[], help="tighter cut points pt_min,eta_max,dr_min whose "
                        "share of the yield to report (needs the Les Houches file)")
    parser.add_argument("--scheme", choices=("5fs", "4fs"), default="5fs", help="flavour scheme of generated points")
    parser.add_argument("--json", help="write the report here too")
    args = parser.parse_args()
    rows, looser, subsets = [], parse_cuts(args.looser), [parse_cuts(text) for text in args.subsets]
    for path in args.files:
        rows.append({"file": path, **yields(path, looser, subsets)})
    with tempfile.TemporaryDirectory(prefix="qcd4b-scan-") as tmp:
        workdir = Path(args.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for text in args.cuts:
            path, info = generate_point(parse_cuts(text), args.events, args.seed, workdir, args.scheme)
            row = {"file": str(path), "seed": args.seed, **info, **yields(path, looser, subsets)}
            effective = row[f"wp{C.BTAG_WP_NONRESONANT}"]["four_tag"]["effective"]
            row["cpu_s_per_effective_four_tag"] = row["cpu_s"] / max(effective, 1e-9)
            rows.append(row)
            print(json.dumps(row, default=float), flush=True)
    text = json.dumps(rows, indent=1, default=float)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
