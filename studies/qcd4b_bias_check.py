"""How far the qcd4b selection bias is from the best one, measured on generated files.

    hh4b generate --sample qcd4b --events 25000 --seed 801 --output q_801.root   (and more seeds)
    python studies/qcd4b_bias_check.py q_8*.root

(files made since GenPart holds the hard-process b quarks and LHEWeight_originalXWGTUP is written;
the committed data/qcd4b_*.root are older).

The generator keeps a parton-level event with probability b(x) and weight 1/b (hh4b.generate.qcd4b,
QCD4B_BIAS_*). For a sample with the same parton-level points, the variance of the truth-tagged
four-tag yield goes with sum q/(b0 b) and the CPU time with sum c b/b0 + parton-level time, where
q = E[(P(4b) x veto factor)^2] and c = shower cost of each event; the product is smallest for
b ~ sqrt(q/c) (b0: the bias the files were made with). This script

1. splits the Kish count of the four-tag weights into the loss from the spread of P(4b) (what a
   perfect bias could not remove at this number of showered events) and the loss from the 1/b weights;
2. fits log q and log c (Poisson regression, weights 1/b0) as log-linear in features of the four
   hard-process b quarks (GenPart, after FSR: a proxy of the parton-level momenta), on all files but
   one, and predicts on the left-out file the gain in effective four-tag events per CPU second of
   b = min(1, k sqrt(q/c)) over the bias of the files (k chosen on the training files).

The gain on one left-out file is dominated by its few largest four-tag weights: read it against
the spread over files. Measured (stop 17, four 25k-event files of `hh4b generate --sample qcd4b`,
seeds 801-804): every family gives 0.77-0.93 on average (single files 0.43-1.08), i.e. no
refit beats the default powers (2, 3); without the 1/b factors the same events would have a
Kish count 1.2-1.4x larger, a bound on what any bias could recover at this many showered events.

Events the shower veto dropped are represented by the failing events it kept (weight factor 1/keep);
the shower seconds of each file's metadata are split over its events, a vetoed event costing
VETOED_COST_RATIO of a full shower; the parton-level seconds are the same for every bias (same points).
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.optimize import minimize

from hh4b import constants as C
from hh4b.weights import effective_entries

VETOED_COST_RATIO = 0.15  # CPU of an event the shower veto stops / a full shower (stop 16: 1-2 ms / 13-14 ms)
FEATURES = {  # name: (column, reference); log-linear terms min(0, log(x / reference)), or x itself
    "pt4,pt3 (the files' family)": (("pt4", 40.0), ("pt3", 50.0)),
    "pt4,pt3 saturating higher": (("pt4", 60.0), ("pt3", 80.0)),
    "+ forward b count": (("pt4", 60.0), ("pt3", 80.0), ("n_forward", None)),
    "+ forward b count, min dR": (("pt4", 60.0), ("pt3", 80.0), ("n_forward", None), ("dr_min", 0.6)),
    "+ pt2, forward b count, min dR": (("pt4", 60.0), ("pt3", 80.0), ("pt2", 120.0), ("n_forward", None),
                                       ("dr_min", 0.6)),
}


def read(path: str) -> dict:
    """Per event: hard b-quark features, P(4b) (WP 77, truth tagged), bias b0, veto factor, costs."""
    import awkward as ak
    import uproot

    from hh4b.analysis import truthtag
    from hh4b.analysis.events import make_jets
    from hh4b.generate import writer

    metadata = writer.read_metadata(path)
    with uproot.open(path) as fin:
        if "LHEWeight_originalXWGTUP" not in fin["Events"]:
            raise SystemExit(f"{path}: no branch LHEWeight_originalXWGTUP (made before it was written)")
        a = fin["Events"].arrays(["genWeight", "LHEWeight_originalXWGTUP", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass",
                                  "Jet_btagWP77", "Jet_hadronFlavour", "GenPart_pt", "GenPart_eta", "GenPart_phi",
                                  "GenPart_pdgId"])
    jets = make_jets(a.Jet_pt, a.Jet_eta, a.Jet_phi, a.Jet_mass, a.Jet_btagWP77, a.Jet_hadronFlavour)
    b = abs(a.GenPart_pdgId) == 5
    if not ak.all(ak.sum(b, axis=1) == 4):
        raise SystemExit(f"{path}: GenPart lacks the four hard-process b quarks (made before they were stored)")
    order = ak.argsort(a.GenPart_pt[b], axis=1, ascending=False)  # pT-ordered
    pt, eta, phi = (ak.to_numpy(a[f"GenPart_{v}"][b][order]).astype(float) for v in ("pt", "eta", "phi"))
    dphi = (phi[:, :, None] - phi[:, None, :] + np.pi) % (2 * np.pi) - np.pi
    dr = np.hypot(eta[:, :, None] - eta[:, None, :], dphi) + 99 * np.eye(4)
    weight = np.asarray(a.genWeight, dtype=float)
    lhe_weight = np.asarray(a.LHEWeight_originalXWGTUP, dtype=float)  # sigma/N x max(1, w b / w_max) / b
    factor = np.round(weight / lhe_weight, 3)  # the shower veto's: 1 or 1 / keep
    veto = metadata.get("shower_veto") or {"keep": 1.0, "n_vetoed": 0}
    keep = veto["keep"]
    seconds = metadata["qcd4b"]["seconds"]
    full = seconds["shower"] / (len(weight) + VETOED_COST_RATIO * veto["n_vetoed"])  # s per full shower
    p4 = truthtag.four_tag_probability(jets, "77")
    return {"pt4": pt[:, 3], "pt3": pt[:, 2], "pt2": pt[:, 1], "n_forward": (np.abs(eta) > C.TAG_JET_ETA_MAX).sum(1),
            "dr_min": dr.min(axis=(1, 2)), "b0": lhe_weight.min() / lhe_weight, "m": factor,
            "p4": p4, "q": factor * p4**2, "y": weight * p4,
            "c": full * np.where(factor > 1, keep + (1 - keep) * VETOED_COST_RATIO, 1.0),
            "parton_s": sum(v for k, v in seconds.items() if k != "shower")}


def design(events: dict, spec) -> np.ndarray:
    columns = [np.ones(len(events["b0"]))]
    for name, reference in spec:
        x = events[name].astype(float)
        columns.append(x if reference is None else np.minimum(0.0, np.log(x / reference)))
    return np.stack(columns, axis=1)


def poisson_fit(x: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """theta maximising the weighted Poisson likelihood of E[target] = exp(x theta)."""
    weight = weight / weight.sum()

    def loss(theta):
        eta = x @ theta
        mu = np.exp(eta)
        return np.sum(weight * (mu - target * eta)), x.T @ (weight * (mu - target))

    start = np.zeros(x.shape[1])
    start[0] = np.log(max(np.sum(weight * target), 1e-300))
    return minimize(loss, start, jac=True, method="L-BFGS-B").x


def merit(events: dict, b1: np.ndarray, parton_s: float) -> float:
    """1 / (variance x CPU) of the four-tag yield with bias b1 and the files' parton-level points."""
    m, q, c, b0 = events["m"], events["q"], events["c"], events["b0"]
    return 1.0 / (np.sum(m * q / (b0 * b1)) * (np.sum(m * c * b1 / b0) + parton_s))


def best_bias(train: dict, parton_s: float, spec):
    """(theta, scale) of b = min(1, scale exp(x theta)), theta = (theta_q - theta_c) / 2."""
    x, weight = design(train, spec), train["m"] / train["b0"]
    theta = 0.5 * (poisson_fit(x, train["q"], weight) - poisson_fit(x, train["c"], weight))
    shape = np.exp(x @ theta)
    scales = np.logspace(-3, 3, 121) / shape.max()
    scale = max(scales, key=lambda k: merit(train, np.minimum(1.0, k * shape), parton_s))
    return theta, scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="qcd4b files (at least two: fit on all but one, test on it)")
    args = parser.parse_args()
    files = [read(p) for p in args.files]
    for path, f in zip(args.files, files):
        actual, unbiased = effective_entries(f["y"]), effective_entries(f["p4"] * f["m"])
        print(f"{path}: {len(f['b0'])} events; Kish of the four-tag weights {actual:.0f}, without the 1/b factors "
              f"{unbiased:.0f} (the 1/b weights keep {actual / unbiased:.2f} of it)")
    for name, spec in FEATURES.items():
        gains = []
        for test, held in enumerate(files):
            train = {k: np.concatenate([f[k] for i, f in enumerate(files) if i != test])
                     for k in ("b0", "m", "q", "c", "pt4", "pt3", "pt2", "n_forward", "dr_min")}
            parton_s = sum(f["parton_s"] for i, f in enumerate(files) if i != test)
            theta, scale = best_bias(train, parton_s, spec)
            b1 = np.minimum(1.0, scale * np.exp(design(held, spec) @ theta))
            gains.append(merit(held, b1, held["parton_s"]) / merit(held, held["b0"], held["parton_s"]))
        terms = ", ".join(f"{n}^{t:.2f}" if r is not None else f"exp({t:.2f} {n})"
                          for (n, r), t in zip(spec, theta[1:]))
        print(f"{name:32s} gain on left-out files {np.mean(gains):.2f} +- {np.std(gains) / np.sqrt(len(gains)):.2f} "
              f"({' '.join(f'{g:.2f}' for g in gains)}); last fit: {terms}")


if __name__ == "__main__":
    main()
