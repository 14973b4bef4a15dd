"""`hh4b export-h5`: SPANet layout, truth matching rules, kappa_lambda inputs, determinism.

Inputs are toy NanoAOD files (tests/toys.py: H -> hh -> 4b and ttbar with GenPart truth), plus
one run on the Pythia-generated small fileset of tests/conftest.py.
"""

from __future__ import annotations

import json

import awkward as ak
import h5py
import numpy as np
import pytest

from hh4b.analysis.processing import load_fileset
from hh4b.cli import main as cli_main
from hh4b.constants import KAPPA_LAMBDA_TRAINING
from hh4b.nn.data import SpanetH5
from hh4b.nn.export_h5 import build, multi_matched, write
from hh4b.nn.topology import HH_TOPOLOGY

from toys import hh_events, ttbar_events, write_nanoaod

N_EVENTS = 600


def _pair_mass(jets, idx):
    """Invariant mass of jets idx (n, 2) from (n, J, 5) raw features."""
    rows = np.arange(len(jets))[:, None]
    pt, eta, phi, m = (jets[rows, idx, i].astype(np.float64) for i in range(4))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    return np.sqrt(np.maximum(e.sum(1) ** 2 - px.sum(1) ** 2 - py.sum(1) ** 2 - pz.sum(1) ** 2, 0))


def _with_duplicate_jet(events, every: int = 2):
    """Add, in every `every`-th event, a soft jet 0.1 away from the first b quark (a double match)."""
    jets, gen = events["jets"], events["genpart"]
    n = len(jets["pt"])
    add = (np.arange(n) % every) == 0
    q_eta, q_phi = ak.to_numpy(gen["eta"][:, 3]), ak.to_numpy(gen["phi"][:, 3])
    extra = {"pt": np.full(n, 25.0), "eta": q_eta + 0.1, "phi": q_phi, "mass": np.full(n, 3.0),
             "hadronFlavour": np.zeros(n, dtype=int), "btagWP70": np.zeros(n, bool), "btagWP77": np.zeros(n, bool)}
    counts = add.astype(int)
    new = {k: ak.concatenate([jets[k], ak.unflatten(np.asarray(v)[add], counts)], axis=1) for k, v in extra.items()}
    order = ak.argsort(new["pt"], axis=1, ascending=False)
    return {**events, "jets": {k: v[order] for k, v in new.items()}}, add


@pytest.fixture(scope="module")
def toy_fileset(tmp_path_factory):
    base = tmp_path_factory.mktemp("exporth5")
    coefficients = {"KappaLambda_a": np.full(N_EVENTS, 2.0), "KappaLambda_b": np.full(N_EVENTS, -1.0),
                    "KappaLambda_c": np.full(N_EVENTS, 0.3)}
    write_nanoaod(base / "hh.root", hh_events(N_EVENTS, 400, 1))
    write_nanoaod(base / "nonres.root", hh_events(N_EVENTS, 300, 2), extra=coefficients)
    write_nanoaod(base / "tt.root", ttbar_events(N_EVENTS, 3))
    duplicated, added = _with_duplicate_jet(hh_events(N_EVENTS, 400, 4))
    write_nanoaod(base / "dup.root", duplicated)

    def entry(name, process, **md):
        return {"files": {str(base / f"{name}.root"): "Events"},
                "metadata": {"process": process, "btag_wp": "70", "xsec_pb": 1.0, "sumw": float(N_EVENTS), **md}}

    resonant = {"resonant_M400": entry("hh", "resonant", mass=400), "ttbar": entry("tt", "ttbar")}
    nonresonant = {"nonres": entry("nonres", "nonresonant", kappa_lambda=0.0), "ttbar": entry("tt", "ttbar")}
    dup = {"dup": entry("dup", "resonant", mass=400)}
    paths = {}
    for name, fs in (("resonant", resonant), ("nonresonant", nonresonant), ("dup", dup)):
        paths[name] = base / f"{name}.json"
        paths[name].write_text(json.dumps(fs))
    paths["added"] = added
    return paths


def test_layout_and_truth_targets(toy_fileset, tmp_path):
    out = tmp_path / "res.h5"
    assert cli_main(["export-h5", str(toy_fileset["resonant"]), "--output", str(out), "--no-four-tag"]) == 0
    with h5py.File(out, "r") as f:
        for name in ("MASK", "pt", "eta", "phi", "mass", "btag"):
            assert f[f"INPUTS/Source/{name}"].shape[1] == 10
        assert f["INPUTS/Source/MASK"].dtype == bool
        assert all(p in f for p in HH_TOPOLOGY.target_paths())
        assert "CLASSIFICATIONS/EVENT/signal" in f and "WEIGHTS/weight" in f
        assert "INPUTS/Kappa" not in f  # resonant file: no global inputs
        summary = json.loads(f.attrs["hh4b_datasets"])
    assert out.with_suffix(".yaml").read_text().startswith("INPUTS:")
    data = SpanetH5(out).read(0, 10**6)
    sig = data["signal"] > 0
    assert 0 < sig.sum() < len(sig) and summary["ttbar"]["events"] == (~sig).sum()
    assert (data["targets"][~sig] == -1).all()
    t = data["targets"]
    full = sig & (t >= 0).all(axis=(1, 2))
    assert full.mean() > 0.6 * sig.mean()
    assert (t[full] < data["mask"].sum(1)[full, None, None]).all()
    assert all(len(set(r)) == 4 for r in t[full].reshape(-1, 4))
    masses = np.concatenate([_pair_mass(data["jets"][full], t[full, k]) for k in (0, 1)])
    assert np.median(np.abs(masses - 125.0)) < 15.0  # target pairs are Higgs candidates
    # a wrong pairing of the same four jets is not
    wrong = np.stack([t[full, 0, 0], t[full, 1, 0]], 1)
    assert np.median(np.abs(_pair_mass(data["jets"][full], wrong) - 125.0)) > 30.0
    assert (data["meta_mass"][sig] == 400).all() and (data["meta_mass"][~sig] == -1).all()
    for dataset in np.unique(data["meta_dataset"]):  # the input's event numbers (the toy's 0..n-1), once each
        numbers = data["meta_event"][data["meta_dataset"] == dataset]
        assert numbers.min() >= 0 and len(np.unique(numbers)) == len(numbers)


def test_four_tag_cut(toy_fileset):
    fs = load_fileset(toy_fileset["resonant"])
    tagged = build(fs, progress=False)["arrays"]
    everything = build(fs, four_tag=False, progress=False)["arrays"]
    jets = tagged["jets"]
    good = (jets[..., 4] > 0) & (jets[..., 0] > 40.0) & (np.abs(jets[..., 1]) < 2.5) & tagged["mask"]
    assert (good.sum(1) >= 4).all() and 0 < len(jets) < 0.5 * len(everything["jets"])
    assert (tagged["signal"] == 1).all()  # toy ttbar has two b jets only: none pass


def test_double_matched_quarks_dropped_partial_kept(toy_fileset, tmp_path):
    result = build(load_fileset(toy_fileset["dup"]), four_tag=False, progress=False)
    n_kept = len(result["arrays"]["signal"])
    added = toy_fileset["added"]
    # events with the duplicated jet are gone (unless the quark's own jet fell below 20 GeV)
    assert n_kept <= N_EVENTS - 0.95 * added.sum()
    assert n_kept > 0.8 * (N_EVENTS - added.sum())
    matched = (result["arrays"]["targets"] >= 0).all(-1).sum(1)
    assert (matched == 1).sum() > 0 and (matched == 2).sum() > 0  # partially matched events are kept
    assert result["summary"]["dup"]["1h"] == (matched == 1).sum()


def test_multi_matched_quark_flag():
    jets = ak.zip({"pt": [[50.0, 30.0, 40.0], [50.0, 30.0]], "eta": [[0.0, 0.2, 2.0], [0.0, 1.0]],
                   "phi": [[0.0, 0.1, 1.0], [0.0, 1.0]]})
    quarks = ak.zip({"pt": [[45.0], [45.0]], "eta": [[0.05], [0.05]], "phi": [[0.0], [0.0]]})
    assert multi_matched(jets, quarks).tolist() == [True, False]


def test_background_kappa_is_drawn_not_one(toy_fileset, tmp_path):
    out = tmp_path / "nonres.h5"
    result = build(load_fileset(toy_fileset["nonresonant"]), seed=5, four_tag=False, progress=False)
    write(result, out)
    data = SpanetH5(out).read(0, 10**6)
    kappa, sig = data["globals"][:, 0], data["signal"] > 0
    assert set(np.unique(kappa)) <= set(KAPPA_LAMBDA_TRAINING)
    background = kappa[~sig]
    assert not np.all(background == 1.0) and len(np.unique(background)) >= 5
    assert len(np.unique(kappa[sig])) >= 5
    # signal weights follow |M|^2 = a + b k + c k^2 relative to k0 = 0 (toy a, b, c = 2, -1, 0.3)
    k = kappa[sig]
    expected = (2.0 - k + 0.3 * k * k) / 2.0 * (1.0 / N_EVENTS)
    np.testing.assert_allclose(data["weight"][sig], expected, rtol=1e-5)
    assert "Kappa:" in out.with_suffix(".yaml").read_text()


def test_same_seed_same_file(toy_fileset, tmp_path):
    fs = load_fileset(toy_fileset["nonresonant"])
    a, b, c = (build(fs, seed=s, four_tag=False, progress=False)["arrays"] for s in (3, 3, 4))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["kappa"], c["kappa"])


def test_errors_name_the_file(tmp_path, capsys):
    assert cli_main(["export-h5", str(tmp_path / "none.json"), "--output", str(tmp_path / "x.h5")]) == 2
    assert "none.json" in capsys.readouterr().err
    fs = tmp_path / "fs.json"
    fs.write_text(json.dumps({"x": {"files": {str(tmp_path / "missing.root"): "Events"},
                                    "metadata": {"process": "resonant"}}}))
    assert cli_main(["export-h5", str(fs), "--output", str(tmp_path / "x.h5")]) == 2
    assert "missing.root" in capsys.readouterr().err


def test_generated_fileset(small_fileset, tmp_path):
    """Pythia-generated resonant M500 + qcd + ttbar files through the exporter."""
    result = build(load_fileset(small_fileset), progress=False)
    summary = result["summary"]
    assert summary["resonant_M500"]["events"] > 0
    assert summary["resonant_M500"]["2h"] > 0.4 * summary["resonant_M500"]["events"]
    assert (result["arrays"]["targets"][result["arrays"]["signal"] == 0] == -1).all()
