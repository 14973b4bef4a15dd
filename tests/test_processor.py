"""The coffea processor and `hh4b run` on hand-built NanoAOD-style files (tests/toys.py)."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import uproot

from hh4b.analysis.events import nanoaod_branches
from hh4b.analysis.processing import census, load_fileset, process_fileset
from hh4b.analysis.processor import HH4bProcessor
from hh4b.cli import main as cli_main
from hh4b.config import AnalysisConfig

from toys import assert_same_outputs, hh_events, ttbar_events, write_nanoaod

TESTDATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "testdata"
MASSES = (300, 500, 1000)

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _dataset(path, process, n_events, **meta):
    return {"files": {str(path): "Events"},
            "metadata": {"process": process, "xsec_pb": 1.0, "sumw": float(n_events), "n_events": n_events,
                         "btag_wp": "70", "sqrt_s": 13000, **meta}}


@pytest.fixture(scope="module")
def toy_fileset(tmp_path_factory):
    """Three resonant masses and a ttbar sample, 1500 events each, written once per module."""
    folder = tmp_path_factory.mktemp("toys")
    fileset = {}
    for seed, mass in enumerate(MASSES, start=1):
        n = write_nanoaod(folder / f"hh{mass}.root", hh_events(1500, mass, seed))
        fileset[f"resonant_M{mass}"] = _dataset(folder / f"hh{mass}.root", "resonant", n, mass=mass)
    n = write_nanoaod(folder / "ttbar.root", ttbar_events(1500, 7))
    fileset["ttbar"] = _dataset(folder / "ttbar.root", "ttbar", n)
    path = folder / "fileset.json"
    path.write_text(json.dumps(fileset))
    return path


@pytest.fixture(scope="module")
def iterative_output(toy_fileset):
    return process_fileset(load_fileset(toy_fileset), HH4bProcessor(), "iterative", chunksize=400, progress=False)


def _assert_same_histograms(first: dict, second: dict):
    """Same histograms per dataset (category order may differ), same cutflows and truth counts."""
    assert_same_outputs(first, second, rtol=1e-12, also=("truth",))


def test_bookkeeping_closes(iterative_output):
    book = iterative_output["bookkeeping"]
    assert book["events_in"] == 4 * 1500
    assert book["events_processed"] + book["events_failed"] == book["events_in"]
    assert book["failed_chunks"] == []


def test_cutflow_monotonic(iterative_output):
    proc = HH4bProcessor()
    for dataset, cuts in iterative_output["cutflow"].items():
        assert list(cuts) == proc.cut_names()
        assert cuts["all"][1] == 1500
        for method in proc.methods:
            chain = ["all", "four_jets_2tags", "four_tag", *(f"{method}/{c}" for c in
                                                            ("pairing", "pt_cuts", "deta_hh", "top_veto", "SR"))]
            counts = [cuts[c][1] for c in chain]
            weights = [cuts[c][0] for c in chain]
            assert counts == sorted(counts, reverse=True), (dataset, method, counts)
            assert weights == sorted(weights, reverse=True)


def test_weights_normalise_to_luminosity(iterative_output):
    # xsec 1 pb, 300 fb^-1: 300000 events expected in total for every sample
    for cuts in iterative_output["cutflow"].values():
        assert cuts["all"][0] == pytest.approx(300_000.0)


def test_signal_region_mhh_peaks_near_resonance(iterative_output):
    mhh = iterative_output["hists"]["mhh"]
    for mass in MASSES:
        h = mhh[{"dataset": f"resonant_M{mass}", "region": "SR", "tags": "4b", "method": "cut_dhh"}]
        assert h.values().sum() > 0
        peak = h.axes[0].centers[np.argmax(h.values() / h.axes[0].widths)]
        assert abs(peak - mass) < 0.15 * mass, (mass, peak)


def test_mindr_pairing_efficiency_rises_with_mass(iterative_output):
    eff = []
    for mass in MASSES:
        counts = iterative_output["truth"][f"resonant_M{mass}"]["cut_mindr"]
        assert counts["matched"] > 20
        eff.append(counts["correct"] / counts["matched"])
    assert eff[0] < eff[1] <= eff[2] + 0.02, eff
    assert iterative_output["truth"]["ttbar"]["cut_mindr"]["matched"] == 0


def test_tag_categories_filled(iterative_output):
    mhh = iterative_output["hists"]["mhh"]
    ttbar = mhh[{"dataset": "ttbar", "region": "presel", "method": "cut_mindr"}]
    # two true b jets: the ttbar toy lands in 2b, rarely 3b/4b
    values = {tag: ttbar[{"tags": tag}].sum(flow=True).value for tag in ("2b", "3b", "4b")}
    assert values["2b"] > values["3b"] >= values["4b"]


@pytest.fixture(scope="module")
def generated_output(small_fileset):
    return process_fileset(load_fileset(small_fileset), HH4bProcessor(), "iterative", chunksize=150, progress=False)


def test_generated_fileset_runs(generated_output):
    book = generated_output["bookkeeping"]
    assert book["failed_chunks"] == [] and book["events_processed"] == book["events_in"] > 0
    for dataset, cuts in generated_output["cutflow"].items():
        for method in ("cut_mindr", "cut_dhh"):
            chain = ["all", "four_jets_2tags", "four_tag", *(f"{method}/{c}" for c in
                                                            ("pairing", "pt_cuts", "deta_hh", "top_veto", "SR"))]
            counts = [cuts[c][1] for c in chain]
            assert counts == sorted(counts, reverse=True), (dataset, counts)
    assert generated_output["truth"]["resonant_M500"]["cut_mindr"]["matched"] > 0
    assert generated_output["truth"]["qcd"]["cut_mindr"]["matched"] == 0
    # weights: sum over all events = xsec * lumi (unweighted Pythia samples)
    meta = generated_output["metadata"]["resonant_M500"]
    total = generated_output["cutflow"]["resonant_M500"]["all"][0]
    assert total == pytest.approx(meta["xsec_pb"] * 1000 * 300.0, rel=1e-6)


def test_executors_give_identical_histograms(small_fileset, generated_output):
    """Iterative, futures and Dask LocalCluster (2 workers) on the same generated fileset."""
    fileset = load_fileset(small_fileset)
    futures = process_fileset(fileset, HH4bProcessor(), "futures", workers=2, chunksize=150, progress=False)
    _assert_same_histograms(generated_output, futures)
    dask = process_fileset(fileset, HH4bProcessor(), "dask", workers=2, chunksize=150, progress=False)
    _assert_same_histograms(generated_output, dask)
    assert dask["bookkeeping"] == generated_output["bookkeeping"]


@pytest.mark.slow
def test_generated_resonant_peaks_and_pairing_efficiency(resonant_file):
    """Paper Fig. 3 shape on Pythia samples: min-dR efficiency rises with m_H; SR m_hh near m_H."""
    fileset = {}
    for mass in MASSES:
        path = resonant_file(mass, events=4000, seed=2)
        fileset[f"M{mass}"] = {"files": {str(path): "Events"}, "metadata": {"process": "resonant", "btag_wp": "70"}}
    output = process_fileset(fileset, HH4bProcessor(), "iterative", chunksize=2000, progress=False)
    eff = [output["truth"][f"M{m}"]["cut_mindr"]["correct"] / output["truth"][f"M{m}"]["cut_mindr"]["matched"]
           for m in MASSES]
    assert eff[0] < eff[1] < eff[2] + 0.03, eff
    mhh = output["hists"]["mhh"]
    for mass in MASSES[1:]:
        h = mhh[{"dataset": f"M{mass}", "region": "SR", "tags": "4b", "method": "cut_dhh"}]
        peak = h.axes[0].centers[np.argmax(h.values() / h.axes[0].widths)]
        assert abs(peak - mass) < 0.15 * mass, (mass, peak)


def test_cli_run_writes_outputs(toy_fileset, tmp_path):
    status = cli_main(["run", str(toy_fileset), "--executor", "iterative", "--chunksize", "1000",
                       "--output", str(tmp_path / "out"), "--no-progress"])
    assert status == 0
    from coffea.util import load

    output = load(str(tmp_path / "out" / "output.coffea"))
    assert {"hists", "cutflow", "truth", "metadata", "bookkeeping", "lumi_fb", "sqrt_s"} <= set(output)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["bookkeeping"]["events_in"] == 6000
    assert 0 < summary["pairing_efficiency"]["resonant_M1000"]["cut_mindr"] <= 1


def test_bad_files_are_listed_never_lost(toy_fileset, tmp_path):
    good = load_fileset(toy_fileset)["resonant_M500"]
    source = Path(next(iter(good["files"])))
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    empty = tmp_path / "empty.root"
    empty.write_bytes(b"")
    zero = tmp_path / "zero.root"
    write_nanoaod(zero, hh_events(0, 500, 3))
    fileset = {"good": good,
               "truncated": _dataset(truncated, "resonant", 1500),
               "empty": _dataset(empty, "resonant", 10),
               "zero": _dataset(zero, "resonant", 0)}
    output = process_fileset(fileset, HH4bProcessor(), "iterative", chunksize=500, progress=False)
    book = output["bookkeeping"]
    failed_files = {Path(f["file"]).name for f in book["failed_chunks"]}
    assert {"truncated.root", "empty.root"} <= failed_files
    assert "good" not in {f["dataset"] for f in book["failed_chunks"]}
    assert all(f["error"] for f in book["failed_chunks"])
    assert book["events_processed"] + book["events_failed"] == book["events_in"]
    assert book["events_processed"] >= 1500


def test_cli_exit_status_and_message_on_failed_chunks(tmp_path, capsys):
    empty = tmp_path / "empty.root"
    empty.write_bytes(b"")
    fileset = tmp_path / "fileset.json"
    fileset.write_text(json.dumps({"empty": _dataset(empty, "resonant", 10)}))
    status = cli_main(["run", str(fileset), "--executor", "iterative", "--output", str(tmp_path / "o"),
                       "--no-progress"])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAILED" in out and "empty.root" in out
    assert cli_main(["run", str(tmp_path / "missing.json")]) == 2


def test_few_jets_and_nan_kinematics(tmp_path):
    events = hh_events(300, 500, 11)
    jets = events["jets"]
    import awkward as ak

    # first 100 events: keep two jets only; next 100: NaN pT everywhere
    idx = np.arange(300)
    count = ak.num(jets["pt"])
    keep = ak.local_index(jets["pt"]) < ak.where(idx < 100, np.minimum(count, 2), count)
    jets = {k: v[keep] for k, v in jets.items()}
    jets["pt"] = ak.where((idx >= 100) & (idx < 200), jets["pt"] * np.nan, jets["pt"])
    events["jets"] = jets
    write_nanoaod(tmp_path / "odd.root", events)
    output = process_fileset({"odd": _dataset(tmp_path / "odd.root", "resonant", 300)}, HH4bProcessor(),
                             "iterative", chunksize=1000, progress=False)
    assert output["bookkeeping"]["failed_chunks"] == []
    assert output["bookkeeping"]["events_processed"] == 300
    cut = output["cutflow"]["odd"]
    assert cut["all"][1] == 300
    assert cut["four_jets_2tags"][1] <= 100  # only the last 100 events can pass
    for h in output["hists"].values():
        assert np.all(np.isfinite(h.values(flow=True)))


def test_zero_event_chunk_gives_empty_output(tmp_path):
    from coffea.nanoevents import NanoEventsFactory

    from hh4b.analysis.events import NanoSchema

    write_nanoaod(tmp_path / "zero.root", hh_events(0, 500, 3))
    events = NanoEventsFactory.from_root({str(tmp_path / "zero.root"): "Events"}, schemaclass=NanoSchema,
                                         mode="eager", metadata={"dataset": "zero"}).events()
    out = HH4bProcessor().process(events)
    assert out["bookkeeping"]["events_processed"] == 0 and out["bookkeeping"]["failed_chunks"] == []
    assert all(v[1] == 0 for v in out["cutflow"]["zero"].values())
    assert all(h.sum(flow=True).value == 0 for h in out["hists"].values())


def test_census_counts_entries(toy_fileset):
    entries, unreadable, jets = census(load_fileset(toy_fileset))
    assert sum(entries.values()) == 6000 and unreadable == []
    assert {fmt for fmt, _ in jets.values()} == {"nanoaod"}
    assert all({"pt", "btagWP70", "btagWP77"} <= set(fields) for _, fields in jets.values())


@pytest.mark.parametrize("name,some_tagged", [("nano_tt_v12.root", True),
                                               ("nanoAOD_2015_CMS_Open_Data_ttbar.root", False)])
def test_real_cms_nanoaod(name, some_tagged):
    """Both real files run through; v12 has DeepJet scores, the 2015 file only placeholders."""
    path = TESTDATA / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    n = uproot.open(path)["Events"].num_entries
    fileset = {"cms": {"files": {str(path): "Events"}, "metadata": {"process": "ttbar", "btag_wp": "M"}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        output = process_fileset(fileset, HH4bProcessor(), "iterative", chunksize=100, progress=False)
    book = output["bookkeeping"]
    assert book["failed_chunks"] == [], book["failed_chunks"]
    assert book["events_processed"] == n == book["events_in"]
    cuts = output["cutflow"]["cms"]
    assert cuts["all"][1] == n
    assert (cuts["four_jets_2tags"][1] > 0) == some_tagged  # ttbar has two b jets
    assert output["truth"]["cms"]["cut_mindr"]["matched"] == 0  # no Higgs in ttbar


def test_branch_filter_names_what_the_readers_use():
    keep = ("run", "luminosityBlock", "event", "genWeight", "nJet", "Jet_pt", "Jet_btagDeepFlavB", "Jet_hadronFlavour",
            "nGenPart", "GenPart_statusFlags", "MET_pt", "MET_phi", "nElectron", "Electron_charge", "nMuon",
            "Muon_mass", "KappaLambda_a", "HEFT_A2")
    drop = ("FatJet_pt", "nPhoton", "Photon_pt", "Electron_dxy", "Muon_pfRelIso04_all", "LHEWeight_originalXWGTUP",
            "MET_sumEt", "JetX_pt", "HLT_PFHT1050", "nTau")
    assert all(nanoaod_branches(name) for name in keep)
    assert not any(nanoaod_branches(name) for name in drop)


def test_branch_filter_changes_no_output(toy_fileset):
    """Building the events from the readers' branches only gives what every branch gives, on hh4b's files
    and on a real CMS NanoAOD file (~650 branches) when present."""
    fileset = load_fileset(toy_fileset)
    cms = TESTDATA / "nano_tt_v12.root"
    if cms.is_file():
        fileset["cms"] = {"files": {str(cms): "Events"}, "metadata": {"process": "ttbar", "btag_wp": "M"}}
    outputs = []
    for branches in (nanoaod_branches, None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outputs.append(process_fileset(fileset, HH4bProcessor(branch_filter=branches), "iterative",
                                           chunksize=1000, progress=False))
    assert outputs[0]["bookkeeping"]["failed_chunks"] == []
    assert outputs[0]["bookkeeping"] == outputs[1]["bookkeeping"]
    assert_same_outputs(outputs[0], outputs[1], rtol=0)


class _FailingChunk(HH4bProcessor):
    """Fails the chunk starting at entry 500; with `transient`, only on the first attempt."""

    def __init__(self, transient=False, **kwargs):
        super().__init__(**kwargs)
        self.transient = transient
        self.attempts = 0

    def process_chunk(self, events):
        if events.metadata["entrystart"] == 500:
            self.attempts += 1
            if not self.transient or self.attempts == 1:
                raise RuntimeError("simulated basket corruption")
        return super().process_chunk(events)


def test_failed_chunk_listed_with_range_and_retries(toy_fileset):
    fileset = {"resonant_M500": load_fileset(toy_fileset)["resonant_M500"]}
    output = process_fileset(fileset, _FailingChunk(retries=2), "iterative", chunksize=500, progress=False)
    book = output["bookkeeping"]
    assert len(book["failed_chunks"]) == 1
    chunk = book["failed_chunks"][0]
    assert (chunk["entry_start"], chunk["entry_stop"]) == (500, 1000)
    assert chunk["file"].endswith("hh500.root") and "simulated basket corruption" in chunk["error"]
    assert book["events_failed"] == 500 and book["events_processed"] == 1000
    assert output["cutflow"]["resonant_M500"]["all"][1] == 1000
    recovered = process_fileset(fileset, _FailingChunk(transient=True, retries=1), "iterative", chunksize=500,
                                progress=False)
    assert recovered["bookkeeping"]["failed_chunks"] == []
    assert recovered["bookkeeping"]["events_processed"] == 1500


def test_nonresonant_kappa_lambda_histograms(tmp_path):
    """mhh_kl at k equals the a/b/c term histograms combined as a + b k + c k^2; k0 gives mhh."""
    rng = np.random.default_rng(4)
    n = 1500
    coef = {"KappaLambda_a": np.full(n, 2.0), "KappaLambda_b": rng.uniform(-1.0, 0.0, n),
            "KappaLambda_c": rng.uniform(0.2, 0.5, n)}
    write_nanoaod(tmp_path / "nonres.root", hh_events(n, 400, 8), extra=coef)
    fileset = {"nonres": _dataset(tmp_path / "nonres.root", "nonresonant", n, generation_kappa_lambda=1.0)}
    proc = HH4bProcessor(AnalysisConfig(kappa_lambda_training=(1.0, -2.0, 5.0)))
    output = process_fileset(fileset, proc, "iterative", chunksize=1000, progress=False)
    assert output["bookkeeping"]["failed_chunks"] == []
    hists = output["hists"]
    where = {"dataset": "nonres", "region": "presel", "tags": "4b", "method": "cut_mindr"}
    terms = {t: hists["mhh_kl_terms"][{**where, "term": t}].values() for t in "abc"}
    reference = hists["mhh"][where].values()
    assert reference.sum() > 0
    np.testing.assert_allclose(hists["mhh_kl"][{**where, "kappa_lambda": "1"}].values(), reference, rtol=1e-10)
    for k in (-2.0, 5.0):
        rebuilt = terms["a"] + k * terms["b"] + k * k * terms["c"]
        np.testing.assert_allclose(hists["mhh_kl"][{**where, "kappa_lambda": f"{k:g}"}].values(), rebuilt,
                                   rtol=1e-10, atol=1e-9)
    assert "mhh_kl" not in process_fileset(
        {"res": _dataset(tmp_path / "nonres.root", "resonant", n)}, proc, "iterative", progress=False)["hists"]
