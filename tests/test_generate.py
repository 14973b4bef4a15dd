"""hh4b generate: physics of the generated samples, detector, reproducibility, file format, errors."""

from __future__ import annotations

import gzip
import importlib.util
import json
import warnings
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hh4b.cli import main as cli_main
from hh4b.constants import BTAG_WORKING_POINTS, JET_ETA_MAX, JET_PT_MIN
from hh4b.errors import ConfigError
from hh4b.generate import detector, fileset, writer
from hh4b.generate.pythia_driver import generate_file

LHE_FILE = Path(__file__).resolve().parents[1] / ".." / "shared" / "testdata" / "mg5_pp_to_jj.lhe.gz"


def read_events(path):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    return NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=NanoAODSchema, mode="eager").events()


def peak(values, bin_width):
    """Peak position: mode of a Gaussian kernel density estimate (robust to the low-mass tail of
    b jets that lose neutrinos and out-of-cone radiation); `bin_width` sets the scan step."""
    from scipy.stats import gaussian_kde

    values = np.asarray(values, dtype=float)
    grid = np.arange(values.min(), values.max() + bin_width, bin_width / 10.0)
    return float(grid[np.argmax(gaussian_kde(values)(grid))])


def matched_resonant_jets(events):
    """Jets matched (dR < 0.4, one-to-one) to the four b quarks from h; (events, 4) by b order."""
    gen = events.GenPart
    bq = gen[(abs(gen.pdgId) == 5) & (gen.genPartIdxMother >= 0)]
    pairs = ak.cartesian({"b": bq, "j": events.Jet}, nested=True)
    dr = pairs.b.delta_r(pairs.j)
    best = ak.argmin(dr, axis=2)
    ok = (ak.num(bq) == 4) & ak.fill_none(ak.all(ak.min(dr, axis=2) < 0.4, axis=1), False)
    unique = ak.num(best) == ak.num(ak.run_lengths(ak.sort(best, axis=1)))
    ok = ok & ak.fill_none(unique & ak.all(ak.run_lengths(ak.sort(best, axis=1)) == 1, axis=1), False)
    return events.Jet[best][ok], bq.genPartIdxMother[ok]


@pytest.fixture(scope="module")
def resonant500(resonant_file):
    return read_events(resonant_file(500.0))


def test_nanoaod_schema_reads_without_warnings(resonant_file):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        events = NanoEventsFactory.from_root({str(resonant_file(500.0)): "Events"}, schemaclass=NanoAODSchema).events()
        assert {"Jet", "GenPart", "Electron", "Muon", "MET", "genWeight"} <= set(events.fields)


def test_resonant_mass_peaks(resonant500):
    jets, mothers = matched_resonant_jets(resonant500)
    assert len(jets) > 400
    m4j = (jets[:, 0] + jets[:, 1] + jets[:, 2] + jets[:, 3]).mass
    assert abs(peak(ak.to_numpy(m4j), 20.0) - 500.0) < 50.0
    first = mothers[:, 0]
    same = mothers == first
    for group in (same, ~same):
        pair = jets[group]
        assert ak.all(ak.num(pair) == 2)
        mjj = ak.to_numpy((pair[:, 0] + pair[:, 1]).mass)
        assert 100.0 <= peak(mjj, 8.0) <= 130.0


def test_resonant_truth_record(resonant500):
    gen = resonant500.GenPart
    for pdg, n in ((35, 1), (25, 2)):
        assert ak.all(ak.sum(gen.pdgId == pdg, axis=1) == n)
    bq = gen[abs(gen.pdgId) == 5]
    assert ak.all(ak.num(bq) == 4)
    assert ak.all(bq.parent.pdgId == 25)
    assert ak.all(gen[gen.pdgId == 25].parent.pdgId == 35)
    assert ak.all((bq.statusFlags >> 13) & 1 == 1) and ak.all((bq.statusFlags >> 7) & 1 == 1)
    assert abs(ak.mean(gen[gen.pdgId == 25].mass) - 125.0) < 0.5


def test_jets_cuts_and_order(resonant500):
    jets = resonant500.Jet
    assert ak.all(jets.pt >= JET_PT_MIN) and ak.all(abs(jets.eta) < JET_ETA_MAX)
    assert ak.all(jets.pt[:, 1:] <= jets.pt[:, :-1])
    assert 4.0 < ak.mean(ak.num(jets)) < 9.0


def test_btag_efficiency_synthetic_jets():
    rng = np.random.default_rng(7)
    n = 300_000
    flavour = np.repeat([5, 4, 0], n)
    tags = detector.btag(flavour, rng.uniform(-2.4, 2.4, 3 * n), rng)
    for wp, spec in BTAG_WORKING_POINTS.items():
        for f, eff in ((5, spec["eff_b"]), (4, 1 / spec["rej_c"]), (0, 1 / spec["rej_light"])):
            measured = tags[wp][flavour == f].mean()
            assert abs(measured - eff) < 3 * np.sqrt(eff * (1 - eff) / n), (wp, f, measured, eff)
    assert not np.any(tags["70"] & ~tags["77"])  # nested: a WP70 tag is always a WP77 tag
    forward = detector.btag(np.full(1000, 5), np.full(1000, 3.0), rng)
    assert not forward["77"].any()


def test_btag_efficiency_generated_b_jets(resonant500):
    jets = resonant500.Jet
    central = jets[abs(jets.eta) < 2.5]
    for wp, spec in BTAG_WORKING_POINTS.items():
        tagged = ak.to_numpy(ak.flatten(central[f"btagWP{wp}"][central.hadronFlavour == 5]))
        eff = spec["eff_b"]
        assert abs(tagged.mean() - eff) < 3 * np.sqrt(eff * (1 - eff) / len(tagged))


def test_jet_resolution_is_applied():
    rng = np.random.default_rng(3)
    e = np.full(20000, 100.0)
    jets = ak.unflatten(ak.zip({"px": e * 0.6, "py": e * 0.0, "pz": e * 0.8, "e": e}), np.ones(20000, dtype=int))
    smeared, _ = detector.smear_jets(jets, rng)
    energy_ratio = ak.to_numpy(ak.flatten(smeared.pt)) / 60.0
    assert abs(energy_ratio.std() - detector.jet_resolution(100.0)) < 0.005
    assert abs(energy_ratio.mean() - 1.0) < 0.005


def test_ttbar_leptons_met_and_truth(sample_file, resonant500):
    events = read_events(sample_file("ttbar"))
    gen = events.GenPart
    assert ak.all(ak.sum(abs(gen.pdgId) == 6, axis=1) == 2) and ak.all(ak.sum(abs(gen.pdgId) == 24, axis=1) == 2)
    b_quarks = gen[(abs(gen.pdgId) == 5) & (gen.genPartIdxMother >= 0)]
    from_top = abs(b_quarks.distinctParent.pdgId) == 6
    per_event = ak.sum(from_top, axis=1)  # the hard-process b of each top decay, mother = the top
    assert ak.all(per_event <= 2) and ak.mean(per_event == 2) > 0.97  # t -> W s or W d: |V_tb|^2 ~ 0.998
    w_daughters = gen[(gen.genPartIdxMother >= 0) & (abs(gen.distinctParent.pdgId) == 24) & (abs(gen.pdgId) != 24)]
    leptonic = ak.sum(np.isin(abs(w_daughters.pdgId), (11, 13, 15)), axis=1)
    assert ak.all(leptonic <= 1) and ak.any(leptonic == 1)  # dileptonic vetoed, semileptonic kept
    with_lepton = ak.mean((ak.num(events.Electron) + ak.num(events.Muon)) > 0)
    assert 0.15 < with_lepton < 0.6
    assert ak.mean((ak.num(resonant500.Electron) + ak.num(resonant500.Muon)) > 0) < 0.05
    one_lepton = (ak.num(events.Electron) + ak.num(events.Muon)) == 1  # semileptonic: a neutrino
    assert ak.mean(events.MET.pt[one_lepton]) > 1.5 * ak.mean(resonant500.MET.pt)


def test_metadata_runs_and_weights(sample_file, resonant_file):
    qcd = sample_file("qcd")
    with uproot.open(qcd) as f:
        weights = f["Events/genWeight"].array(library="np")
        runs = f["Runs"].arrays(library="np")
    md = writer.read_metadata(qcd)
    assert np.std(weights) > 0  # biased sampling: weighted events
    assert md["sumw"] == pytest.approx(weights.astype(np.float64).sum(), rel=1e-6)
    assert runs["genEventSumw"][0] == pytest.approx(md["sumw"], rel=1e-6) and runs["genEventCount"][0] == len(weights)
    res = writer.read_metadata(resonant_file(500.0))
    assert res["xsec_pb"] == pytest.approx(res["sigma_hard_pb"] * res["br_forced"])
    assert res["mass"] == 500.0 and res["seed"] == 1 and res["n_events"] == 1000


def _arrays(path):
    with uproot.open(path) as f:
        return f["Events"].arrays(library="np")


def test_same_seed_bit_identical(tmp_path, sample_file):
    first = sample_file("ttbar", events=120, seed=5)
    again = tmp_path / "again.root"
    other = tmp_path / "other.root"
    generate_file("ttbar", again, 120, 5, progress=False)
    generate_file("ttbar", other, 120, 6, progress=False)
    a, b, c = _arrays(first), _arrays(again), _arrays(other)
    assert a.keys() == b.keys()
    for key in a:
        assert all(np.array_equal(x, y) for x, y in zip(a[key], b[key])) if a[key].dtype == object \
            else np.array_equal(a[key], b[key]), key
    assert not np.array_equal(np.concatenate(a["Jet_pt"]), np.concatenate(c["Jet_pt"]))


@pytest.mark.skipif(not LHE_FILE.exists(), reason="../shared/testdata is absent")
def test_lhe_madgraph_file_gives_jets(sample_file):
    events = read_events(sample_file("lhe", events=150, lhe=str(LHE_FILE)))
    assert len(events) == 150
    # MadGraph cut ptj > 20 GeV on partons: showered, hadronised and smeared, most events keep a jet
    assert ak.mean(ak.num(events.Jet) >= 1) > 0.5 and ak.mean(ak.num(events.Jet) >= 2) > 0.15
    assert ak.mean(events.Jet.pt[:, :1]) > 25.0
    assert writer.read_metadata(sample_file("lhe", events=150, lhe=str(LHE_FILE)))["xsec_pb"] > 0


def _cli_error(capsys, argv):
    status = cli_main(["generate", *argv, "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert status != 0
    assert len(err.splitlines()) == 1, err
    return err


def test_bad_inputs_fail_with_one_line(tmp_path, capsys):
    out = tmp_path / "out.root"
    unknown = _cli_error(capsys, ["--sample", "higgsino", "--output", str(out)])
    assert "unknown sample 'higgsino'" in unknown and "qcd4b" in unknown
    assert "--mass 100" in _cli_error(capsys, ["--sample", "resonant", "--mass", "100", "--output", str(out)])
    bad_lhe = tmp_path / "bad.lhe.gz"
    bad_lhe.write_bytes(gzip.compress(b"not a les houches file"))
    assert "bad.lhe.gz" in _cli_error(capsys, ["--lhe", str(bad_lhe), "--output", str(out)])
    assert "missing.lhe" in _cli_error(capsys, ["--lhe", str(tmp_path / "missing.lhe"), "--output", str(out)])
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    unwritable = blocker / "out.root"
    assert str(unwritable) in _cli_error(capsys, ["--sample", "resonant", "--mass", "500", "--output", str(unwritable)])
    assert list(tmp_path.iterdir()) == [bad_lhe, blocker] or set(tmp_path.iterdir()) == {bad_lhe, blocker}


def test_writer_leaves_no_partial_file(tmp_path):
    target = tmp_path / "broken.root"
    bad = {"genWeight": np.ones(3), "run": np.ones(3, np.uint32), "MET_pt": np.ones(5)}  # lengths differ
    with pytest.raises(ValueError):
        writer.write_events(target, bad, {})
    assert list(tmp_path.iterdir()) == []


def test_fileset_validation_and_jobs(tmp_path):
    path = tmp_path / "fs.json"
    path.write_text(json.dumps({"sig": {"files": {"a.root": "Events"}, "metadata": {"process": "unicorn"}}}))
    with pytest.raises(Exception, match="metadata.process"):
        fileset.load_fileset(path)
    gen = {"sample": "resonant", "mass": 500, "events": 10, "seed": 7}
    path.write_text(json.dumps({"sig": {"files": {"a.root": "Events", "b.root": "Events"},
                                        "metadata": {"process": "resonant", "generate": gen}}}))
    (tmp_path / "a.root").write_text("exists")
    jobs = fileset.missing_jobs(path, fileset.load_fileset(path))
    assert [(Path(j["output"]).name, j["seed"], j["mass"]) for j in jobs] == [("b.root", 8, 500)]
    # the shower veto is a qcd4b option: it travels to the qcd4b job; named on another sample it is
    # refused, naming the dataset
    qcd4b = {"files": {"c.root": "Events"},
             "metadata": {"process": "qcd4b", "generate": {"sample": "qcd4b", "events": 10, "seed": 1,
                                                           "shower_veto": False}}}
    path.write_text(json.dumps({"bkg": qcd4b}))
    assert [j["shower_veto"] for j in fileset.missing_jobs(path, fileset.load_fileset(path))] == [False]
    wrong = {"files": {"b.root": "Events"},
             "metadata": {"process": "resonant", "generate": {**gen, "shower_veto": False}}}
    path.write_text(json.dumps({"bkg": qcd4b, "sig": wrong}))
    with pytest.raises(ConfigError, match="dataset 'sig': generate option shower_veto applies to sample qcd4b"):
        fileset.missing_jobs(path, fileset.load_fileset(path))


def test_fileset_materialise_with_dask(tmp_path):
    path = tmp_path / "fs.json"
    gen = {"sample": "resonant", "mass": 400, "events": 60, "seed": 11}
    path.write_text(json.dumps({"sig": {"files": {"gen/sig.root": "Events"},
                                        "metadata": {"process": "resonant", "xsec_pb": None, "generate": gen}}}))
    made = fileset.materialise(path, workers=1, progress=False)
    assert made == [str(tmp_path / "gen" / "sig.root")]
    md = json.loads(path.read_text())["sig"]["metadata"]
    assert md["xsec_pb"] > 0 and md["sumw"] == 60 and md["n_events"] == 60
    assert fileset.materialise(path, workers=1, progress=False) == []  # nothing missing any more


def test_default_fileset_is_valid():
    root = Path(__file__).resolve().parents[1]
    fs = fileset.load_fileset(root / "fileset.json")
    processes = {d["metadata"]["process"] for d in fs.values()}
    assert {"resonant", "nonresonant", "qcd", "ttbar"} <= processes
    # the default files are committed under data/ (<= 50 MB, seeds in each generate block), so the
    # main job needs no generation; `hh4b generate --fileset` remakes any that are deleted
    files = [root / f for d in fs.values() for f in d["files"]]
    assert all(str(f.relative_to(root)).startswith("data/") for f in files)
    assert all("generate" in d["metadata"] and "seed" in d["metadata"]["generate"] for d in fs.values())
    present = [f for f in files if f.exists()]
    assert sum(f.stat().st_size for f in present) <= 50e6


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("hh4b.generate.nonresonant") is None, reason="no nonresonant process yet")
def test_nonresonant_reweighting_reproduces_direct_sample(tmp_path):
    from scipy import stats

    k0, k1, n = 0.0, 5.0, 2500
    base = tmp_path / "kl0.root"
    direct = tmp_path / "kl5.root"
    generate_file("nonresonant", base, n, 21, kappa_lambda=k0, progress=False)
    generate_file("nonresonant", direct, n, 22, kappa_lambda=k1, progress=False)

    def mhh(path):
        ev = read_events(path)
        h = ev.GenPart[ev.GenPart.pdgId == 25]
        return ak.to_numpy((h[:, 0] + h[:, 1]).mass), ev

    m0, ev0 = mhh(base)
    m1, _ = mhh(direct)
    a, b, c = (ak.to_numpy(ev0.KappaLambda[x]) for x in "abc")
    w = (a + b * k1 + c * k1**2) / (a + b * k0 + c * k0**2)
    edges = np.quantile(m1, np.linspace(0, 1, 11))
    edges[0], edges[-1] = 0, 1e5
    h0, _ = np.histogram(m0, edges, weights=w)
    s0, _ = np.histogram(m0, edges, weights=w**2)
    h1, _ = np.histogram(m1, edges)
    p0, p1 = h0 / h0.sum(), h1 / h1.sum()
    var = s0 / h0.sum() ** 2 + h1 / h1.sum() ** 2
    chi2 = np.sum((p0 - p1) ** 2 / var)
    assert stats.chi2.sf(chi2, len(h1) - 1) > 0.001, chi2
    # and the reweighting is not trivially true: the unweighted k=0 spectrum differs from k=5
    p_raw = np.histogram(m0, edges)[0] / len(m0)
    chi2_raw = np.sum((p_raw - p1) ** 2 / (p_raw / len(m0) + h1 / h1.sum() ** 2))
    assert stats.chi2.sf(chi2_raw, len(h1) - 1) < 1e-4, chi2_raw


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("hh4b.generate.nonresonant") is None, reason="no nonresonant process yet")
def test_nonresonant_cross_section_matches_xsec(tmp_path):
    from hh4b.constants import BR_H_BB
    from hh4b.theory.xsec import sigma_gghh

    md = generate_file("nonresonant", tmp_path / "kl0.root", 1500, 31, kappa_lambda=0.0, progress=False)
    expected_pb = sigma_gghh(0.0) * 1e-3 * BR_H_BB**2
    assert md["xsec_pb"] == pytest.approx(expected_pb, rel=0.05)


@pytest.mark.skipif(importlib.util.find_spec("hh4b.generate.nonresonant") is None, reason="no nonresonant process yet")
def test_nonresonant_file_has_kl_coefficients(sample_file):
    path = sample_file("nonresonant", events=100, kappa_lambda=0.0)
    events = read_events(path)
    gen = events.GenPart
    assert ak.all(ak.sum(gen.pdgId == 25, axis=1) == 2) and ak.all(ak.sum(abs(gen.pdgId) == 5, axis=1) == 4)
    a, b, c = (ak.to_numpy(events.KappaLambda[x]) for x in "abc")  # NanoAODSchema: KappaLambda_a -> .a
    assert np.all(a > 0) and np.all(c > 0)
    md = writer.read_metadata(path)
    assert md["generation_kappa_lambda"] == 0.0 and md["xsec_pb"] > 0


@pytest.mark.skipif(importlib.util.find_spec("hh4b.generate.nonresonant") is None, reason="no nonresonant process yet")
def test_nonresonant_msq_positive_for_every_kappa_lambda(sample_file):
    events = read_events(sample_file("nonresonant", events=100, kappa_lambda=0.0))
    a, b, c = (ak.to_numpy(events.KappaLambda[x]) for x in "abc")
    # |M|^2 = |k A + B|^2 + |G|^2 >= 0 for every k: the discriminant b^2 - 4ac cannot be positive
    assert np.all(b**2 <= 4 * a * c * (1 + 1e-3))
