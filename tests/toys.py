"""Hand-built toy events for the processor tests and benchmarks (no Pythia needed).

Exact two-body decays (vectorised numpy boosts) give parton four-vectors; jets are the
partons with a Gaussian pT response, pT >= 20 GeV, pT-ordered, tagged with the 70% / 77%
working-point efficiencies of constants.BTAG_WORKING_POINTS. Files follow docs/formats.md
section 1 (the branches the processor reads).
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from hh4b.constants import BTAG_WORKING_POINTS, M_H, M_T, M_W

M_B = 4.8


def two_body(parent: np.ndarray, m1: float, m2: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic decay of parents (n, 4) = (px, py, pz, E) into masses m1, m2, in the lab."""
    n = len(parent)
    mass = np.sqrt(np.maximum(parent[:, 3] ** 2 - (parent[:, :3] ** 2).sum(axis=1), 0.0))
    p = np.sqrt((mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2)) / (2 * mass)
    cos = rng.uniform(-1, 1, n)
    sin = np.sqrt(1 - cos**2)
    phi = rng.uniform(0, 2 * np.pi, n)
    direction = np.stack([sin * np.cos(phi), sin * np.sin(phi), cos], axis=1)
    out = []
    for sign, m in ((1.0, m1), (-1.0, m2)):
        mom = sign * p[:, None] * direction
        energy = np.sqrt(p**2 + m**2)
        out.append(boost(np.column_stack([mom, energy]), parent[:, :3] / parent[:, 3:4]))
    return out[0], out[1]


def boost(p4: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz boost of (n, 4) four-vectors by velocities (n, 3)."""
    b2 = (beta**2).sum(axis=1)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = (beta * p4[:, :3]).sum(axis=1)
    factor = np.where(b2 > 0, (gamma - 1.0) / np.where(b2 > 0, b2, 1.0), 0.0)
    mom = p4[:, :3] + (factor * bp + gamma * p4[:, 3])[:, None] * beta
    return np.column_stack([mom, gamma * (p4[:, 3] + bp)])


def collider(p4: np.ndarray) -> tuple:
    pt = np.hypot(p4[..., 0], p4[..., 1])
    eta = np.arcsinh(p4[..., 2] / pt)
    phi = np.arctan2(p4[..., 1], p4[..., 0])
    mass = np.sqrt(np.maximum(p4[..., 3] ** 2 - (p4[..., :3] ** 2).sum(axis=-1), 0.0))
    return pt, eta, phi, mass


def _parent(n: int, mass: float, rng, pt_scale: float = 30.0) -> np.ndarray:
    """Heavy objects with a small transverse kick and a rapidity spread."""
    pt = rng.exponential(pt_scale, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    y = rng.normal(0, 0.8, n)
    mt = np.sqrt(mass**2 + pt**2)
    return np.column_stack([pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y), mt * np.cosh(y)])


def hh_partons(n: int, mass: float, rng) -> dict:
    """gg -> H -> hh -> 4b: b quarks (n, 4, 4) and the two Higgs (n, 2, 4)."""
    heavy = _parent(n, mass, rng)
    h1, h2 = two_body(heavy, M_H, M_H, rng)
    b = [*two_body(h1, M_B, M_B, rng), *two_body(h2, M_B, M_B, rng)]
    return {"heavy": heavy, "higgs": np.stack([h1, h2], axis=1), "b": np.stack(b, axis=1)}


def ttbar_partons(n: int, rng) -> dict:
    """tt -> (b q q') (b q q'): b quarks (n, 2, 4) and light quarks (n, 4, 4)."""
    pair = _parent(n, 2 * M_T + 60.0, rng)
    tops = two_body(pair, M_T, M_T, rng)
    b, q = [], []
    for top in tops:
        bq, w = two_body(top, M_B, M_W, rng)
        b.append(bq)
        q.extend(two_body(w, 0.0, 0.0, rng))
    return {"b": np.stack(b, axis=1), "q": np.stack(q, axis=1)}


def jets_from_partons(partons: np.ndarray, flavour: np.ndarray, rng, wp: str = "70") -> dict:
    """Jagged jets from (n, k, 4) partons: 10% pT response, pT >= 20 GeV, |eta| < 4.9, pT-ordered."""
    pt, eta, phi, mass = collider(partons)
    pt = pt * rng.normal(1.0, 0.1, pt.shape)
    eff = BTAG_WORKING_POINTS[wp]
    prob = np.where(flavour == 5, eff["eff_b"], np.where(flavour == 4, 1 / eff["rej_c"], 1 / eff["rej_light"]))
    tag = rng.uniform(size=pt.shape) < prob
    order = np.argsort(-pt, axis=1)
    rows = np.arange(len(pt))[:, None]
    cols = {"pt": pt, "eta": eta, "phi": phi, "mass": mass, "hadronFlavour": flavour, "btagWP70": tag,
            "btagWP77": tag}
    cols = {k: np.broadcast_to(v, pt.shape)[rows, order] for k, v in cols.items()}
    keep = (cols["pt"] >= 20.0) & (np.abs(cols["eta"]) < 4.9)
    counts = keep.sum(axis=1)
    return {k: ak.unflatten(v[keep], counts) for k, v in cols.items()}


def hh_events(n: int, mass: float, seed: int) -> dict:
    """Branches of a toy resonant file: jets, GenPart (H, h, h, 4 b) and genWeight."""
    rng = np.random.default_rng(seed)
    partons = hh_partons(n, mass, rng)
    jets = jets_from_partons(partons["b"], np.full((n, 4), 5), rng)
    gen = np.concatenate([partons["heavy"][:, None], partons["higgs"], partons["b"]], axis=1)
    pt, eta, phi, gmass = collider(gen)
    pdg = np.broadcast_to(np.array([35, 25, 25, 5, -5, 5, -5]), (n, 7))
    mother = np.broadcast_to(np.array([-1, 0, 0, 1, 1, 2, 2]), (n, 7))
    flags = np.full((n, 7), (1 << 13) | (1 << 7))
    genpart = {"pt": pt, "eta": eta, "phi": phi, "mass": gmass, "pdgId": pdg, "genPartIdxMother": mother,
               "statusFlags": flags, "status": np.full((n, 7), 22)}
    return {"jets": jets, "genpart": {k: ak.from_regular(ak.Array(np.asarray(v))) for k, v in genpart.items()},
            "genWeight": np.ones(n, dtype=np.float32)}


def ttbar_events(n: int, seed: int) -> dict:
    """Branches of a toy ttbar file (no Higgs truth)."""
    rng = np.random.default_rng(seed)
    partons = ttbar_partons(n, rng)
    allp = np.concatenate([partons["b"], partons["q"]], axis=1)
    flavour = np.concatenate([np.full((n, 2), 5), np.zeros((n, 4), dtype=int)], axis=1)
    return {"jets": jets_from_partons(allp, flavour, rng), "genpart": None,
            "genWeight": np.ones(n, dtype=np.float32)}


def write_nanoaod(path, events: dict, extra: dict | None = None) -> int:
    """Write toy branches as a NanoAOD-style `Events` tree; returns the number of events."""

    jets = events["jets"]
    n = len(jets["pt"])
    tree = {
        "run": np.ones(n, dtype=np.uint32), "luminosityBlock": np.ones(n, dtype=np.uint32),
        "event": np.arange(n, dtype=np.uint64), "genWeight": np.asarray(events["genWeight"], dtype=np.float32),
        "Jet": ak.zip({"pt": ak.values_astype(jets["pt"], np.float32), "eta": ak.values_astype(jets["eta"], np.float32),
                       "phi": ak.values_astype(jets["phi"], np.float32),
                       "mass": ak.values_astype(jets["mass"], np.float32),
                       "hadronFlavour": ak.values_astype(jets["hadronFlavour"], np.int32),
                       "btagWP70": jets["btagWP70"], "btagWP77": jets["btagWP77"]}),
    }
    if events.get("genpart") is not None:
        g = events["genpart"]
        tree["GenPart"] = ak.zip({k: ak.values_astype(v, np.float32 if k in ("pt", "eta", "phi", "mass") else np.int32)
                                  for k, v in g.items()})
    tree.update(extra or {})
    write_tree(path, tree)
    return n


def write_tree(path, branches: dict) -> None:
    """A TTree `Events` (not an RNTuple) from numpy arrays and jagged awkward records;
    records become NanoAOD-style `Name_field` branches with an `nName` counter."""
    import uproot

    types = {k: (v.type if isinstance(v, ak.Array) else np.asarray(v).dtype) for k, v in branches.items()}
    with uproot.recreate(path) as handle:
        handle.mktree("Events", types)
        handle["Events"].extend(branches)


def write_delphes(path, jets: dict, weights) -> None:
    """A Delphes-shaped tree `Delphes` (branches `Jet/Jet.PT`, ..., `Jet_size`, `Event/Event.Weight`)
    that coffea's DelphesSchema reads as real Delphes output. `jets`: {PT, Eta, Phi, Mass, BTag,
    Flavor?} jagged lists; `weights`: one per event."""
    import uproot

    n = len(weights)
    branches = {f"Jet/Jet.{k}": ak.values_astype(ak.Array(v), np.uint32 if k == "BTag" else
                                                 (np.int32 if k == "Flavor" else np.float32))
                for k, v in jets.items()}
    branches["Jet_size"] = np.asarray(ak.num(ak.Array(jets["PT"])), dtype=np.int32)
    branches["Event/Event.Weight"] = ak.Array(np.asarray(weights, dtype=np.float32)[:, None].tolist())
    branches["Event_size"] = np.ones(n, dtype=np.int32)
    with uproot.recreate(path) as handle:
        handle.mktree("Delphes", {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in branches.items()},
                      counter_name=lambda name: name.split("/")[0] + "_size")
        handle["Delphes"].extend(branches)


def assert_same_outputs(first: dict, second: dict, rtol: float = 1e-12, also: tuple[str, ...] = ("truth",)) -> None:
    """Two processor outputs agree: every histogram per dataset (category order may differ) in values
    and variances, every cutflow's cuts and counts, its weights, to `rtol` (0: bit for bit), and
    the entries named in `also` exactly."""
    assert set(first["hists"]) == set(second["hists"])
    for name, h1 in first["hists"].items():
        h2 = second["hists"][name]
        assert sorted(h1.axes["dataset"]) == sorted(h2.axes["dataset"])
        for dataset in h1.axes["dataset"]:
            a, b = h1[{"dataset": dataset}], h2[{"dataset": dataset}]
            discrete = [[list(ax) for ax in h.axes if ax.traits.discrete] for h in (a, b)]
            assert discrete[0] == discrete[1]
            np.testing.assert_allclose(a.values(flow=True), b.values(flow=True), rtol=rtol, atol=0, err_msg=name)
            np.testing.assert_allclose(a.variances(flow=True), b.variances(flow=True), rtol=rtol, atol=0, err_msg=name)
    assert set(first["cutflow"]) == set(second["cutflow"])
    for dataset, cuts in first["cutflow"].items():
        assert list(cuts) == list(second["cutflow"][dataset])
        for cut, (weight, count) in cuts.items():
            assert count == second["cutflow"][dataset][cut][1]
            assert weight == pytest.approx(second["cutflow"][dataset][cut][0], rel=rtol, abs=0)
    for key in also:
        assert first[key] == second[key], key
