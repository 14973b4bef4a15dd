"""Does the qcd4b analysis yield depend on the generator cuts? (issue 5: "show the analysis yield
does not change when they are loosened further").

    python benchmarks/qcd4b_cut_scan.py --cuts 25,2.7,0.2 15,3.2,0.1 --events 30000 --seed 1 --json out.json
    python benchmarks/qcd4b_cut_scan.py --files a.root b.root        # measure files already made

For each generator cut point "pt_min,eta_max,dr_min" it generates `--events` showered qcd4b
events (hh4b.generate.qcd4b, one core) and measures, with truth tagging at both working
points (hh4b.truthtag probabilities, no drawn tags), the cross section of

  four_tag     >= 4 tagged quality jets (pT > 40 GeV, |eta| < 2.5)
  four_true_b  the same with only true b jets allowed to be tagged (the four b's of the process)
  pt_cuts      four-tag events passing the Eq. (4) pT cuts of the min-dR pairing (cut_mindr)
  signal_region  four-tag events in the cut-based signal region (cut_mindr: |d-eta_hh|, X_Wt, X_hh)

with the statistical error from the weights, plus the CPU seconds per effective four-tag event.
Yields that agree between two loose points (within errors) mean the cuts are converged.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from hh4b import constants as C

BRANCHES = ["genWeight", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_hadronFlavour"]


def parse_cuts(text: str):
    from hh4b.generate.qcd4b.phasespace import Cuts

    pt_min, eta_max, dr_min = (float(x) for x in text.split(","))
    return Cuts(pt_min=pt_min, eta_max=eta_max, dr_min=dr_min)


def yields(path: str | Path) -> dict:
    """Truth-tagged cross sections at the resonant and non-resonant working points."""
    return {f"wp{wp}": yields_at(path, wp) for wp in (C.BTAG_WP_RESONANT, C.BTAG_WP_NONRESONANT)}


def yields_at(path: str | Path, wp: str) -> dict:
    """Truth-tagged cross sections (pb) with errors of one generated qcd4b file."""
    import uproot

    from hh4b import truthtag
    from hh4b.cutbased import analyse
    from hh4b.events import make_jets
    from hh4b.generate import writer

    xsec = writer.read_metadata(path)["xsec_pb"]
    with uproot.open(path) as fin:
        arrays = fin["Events"].arrays(BRANCHES + [f"Jet_btagWP{wp}"])
    jets = make_jets(arrays.Jet_pt, arrays.Jet_eta, arrays.Jet_phi, arrays.Jet_mass, arrays[f"Jet_btagWP{wp}"],
                     arrays.Jet_hadronFlavour)
    genweight = np.asarray(arrays.genWeight, dtype=np.float64)
    scale = xsec / genweight.sum()
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
                  "effective": float(w.sum() ** 2 / np.sum(w**2)) if np.any(w) else 0.0}
           for name, w in weights.items()}
    return {**out, "generator_xsec_pb": float(xsec), "n_events": len(genweight)}


def generate_point(cuts, events: int, seed: int, workdir: Path) -> tuple[Path, dict]:
    from hh4b.generate.qcd4b import generate_qcd4b

    generate_qcd4b(workdir / "warm.root", 5, seed + 1000, cuts=cuts, progress=False)  # map + artifacts cached
    path = workdir / f"qcd4b_pt{cuts.pt_min:g}_eta{cuts.eta_max:g}_dr{cuts.dr_min:g}_s{seed}.root"
    cpu = time.process_time()
    metadata = generate_qcd4b(path, events, seed, cuts=cuts, progress=True)
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
    parser.add_argument("--json", help="write the report here too")
    args = parser.parse_args()
    rows = []
    for path in args.files:
        rows.append({"file": path, **yields(path)})
    with tempfile.TemporaryDirectory(prefix="qcd4b-scan-") as tmp:
        workdir = Path(args.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for text in args.cuts:
            path, info = generate_point(parse_cuts(text), args.events, args.seed, workdir)
            row = {"file": str(path), "seed": args.seed, **info, **yields(path)}
            row["cpu_s_per_effective_four_tag"] = row["cpu_s"] / max(row[f"wp{C.BTAG_WP_NONRESONANT}"]["four_tag"]["effective"], 1e-9)
            rows.append(row)
            print(json.dumps(row, default=float), flush=True)
    text = json.dumps(rows, indent=1, default=float)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
