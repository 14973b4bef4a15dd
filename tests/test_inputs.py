"""`hh4b run` on real and bad inputs: Delphes and CMS NanoAOD files, b-tag configuration, fileset
metadata, a Dask cluster without workers, output directories, and the small promises of the CLI."""

import json
import time
import warnings
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hh4b.analysis.processing import load_fileset, prepare_output, process_fileset, save
from hh4b.analysis.processor import HH4bProcessor
from hh4b.cli import main as cli_main
from hh4b.config import AnalysisConfig
from hh4b.errors import ConfigError, HH4bError

from toys import hh_events, write_delphes, write_nanoaod, write_tree

TESTDATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "testdata"

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _shared(name: str) -> Path:
    path = TESTDATA / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    return path


def _dataset(path, tree="Events", **meta):
    return {"files": {str(path): tree}, "metadata": {"process": "ttbar", **meta}}


def _write_fileset(tmp_path, fileset: dict) -> Path:
    path = tmp_path / "fileset.json"
    path.write_text(json.dumps(fileset))
    return path


def _run(argv, capsys):
    status = cli_main(["run", *argv, "--executor", "iterative", "--no-progress"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err.strip()


def _one_line_error(argv, capsys) -> str:
    status, _out, err = _run(argv, capsys)
    assert status == 2, err
    assert len(err.splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def hh_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("inputs") / "hh.root"
    write_nanoaod(path, hh_events(400, 500, 21))
    return path


# --- Delphes -------------------------------------------------------------------------------------

def test_real_delphes_file_runs_through_the_processor():
    path = _shared("delphes.root")
    raw = uproot.open(path)["Delphes"].arrays(["Jet.PT", "Jet.Eta", "Jet.BTag", "Event.Weight"])
    fileset = {"delphes": _dataset(path, "Delphes", btag_wp="70", delphes_btag_bits={"70": 0})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        output = process_fileset(fileset, HH4bProcessor(), "iterative", chunksize=10, progress=False)
    book = output["bookkeeping"]
    assert book["failed_chunks"] == [], book["failed_chunks"]
    assert book["events_processed"] == book["events_in"] == 25
    cuts = output["cutflow"]["delphes"]
    assert cuts["all"][1] == 25
    assert cuts["all"][0] == pytest.approx(float(ak.sum(raw["Event.Weight"])), rel=1e-6)
    assert output["btag"]["delphes"] == {"format": "delphes", "wp": "70", "branch": "Jet.BTag", "bit": 0}
    # events with >= 4 quality jets, >= 2 of them tagged at bit 0, recounted from the raw branches
    quality = (raw["Jet.PT"] > 40) & (abs(raw["Jet.Eta"]) < 2.5)
    tagged = quality & ((raw["Jet.BTag"] & 1) > 0)
    expected = int(np.sum((ak.sum(quality, axis=1) >= 4) & (ak.sum(tagged, axis=1) >= 2)))
    assert cuts["four_jets_2tags"][1] == expected


def test_written_delphes_file_runs_and_bits_follow_the_working_point(tmp_path):
    rng = np.random.default_rng(3)
    n = 200
    counts = rng.integers(3, 7, n)
    total = int(counts.sum())
    jets = {"PT": rng.uniform(45, 200, total), "Eta": rng.uniform(-2, 2, total), "Phi": rng.uniform(-3, 3, total),
            "Mass": rng.uniform(5, 15, total), "BTag": rng.integers(0, 4, total)}
    jets = {k: ak.unflatten(v, counts).tolist() for k, v in jets.items()}
    weights = rng.uniform(0.5, 2.0, n)
    path = tmp_path / "toy_delphes.root"
    write_delphes(path, jets, weights)
    outputs = {}
    for wp, bit in (("70", 0), ("77", 1)):
        fileset = {"toy": _dataset(path, "Delphes", delphes_btag_bits={"70": 0, "77": 1})}
        outputs[wp] = process_fileset(fileset, HH4bProcessor(AnalysisConfig(btag_wp=wp)), "iterative", progress=False)
        assert outputs[wp]["bookkeeping"]["failed_chunks"] == []
        assert outputs[wp]["btag"]["toy"]["bit"] == bit
        btag = (ak.Array(jets["BTag"]) & (1 << bit)) > 0
        four_tag = int(np.sum((ak.num(btag) >= 4) & (ak.sum(btag, axis=1) >= 4)))
        assert outputs[wp]["cutflow"]["toy"]["four_tag"][1] == four_tag
    assert outputs["70"]["cutflow"]["toy"]["all"][0] == pytest.approx(np.sum(weights.astype(np.float32)), rel=1e-6)
    assert outputs["70"]["cutflow"]["toy"]["four_tag"] != outputs["77"]["cutflow"]["toy"]["four_tag"]
    with pytest.raises(ConfigError, match=r"dataset 'toy' .*toy_delphes\.root.*working point '85' has no bit"):
        process_fileset({"toy": _dataset(path, "Delphes", delphes_btag_bits={"70": 0})},
                        HH4bProcessor(AnalysisConfig(btag_wp="85")), "iterative", progress=False)


def test_nanoaod_and_delphes_in_one_fileset_give_each_format_s_own_result(tmp_path):
    """Two schemas are two coffea Runner calls, each finalised by the processor's postprocess; their
    merged output holds each dataset's cutflow once, as [sum of weights, raw count]."""
    rng = np.random.default_rng(5)
    counts = rng.integers(4, 7, 150)
    total = int(counts.sum())
    jets = {"PT": rng.uniform(45, 200, total), "Eta": rng.uniform(-2, 2, total), "Phi": rng.uniform(-3, 3, total),
            "Mass": rng.uniform(5, 15, total), "BTag": rng.integers(0, 2, total)}
    write_delphes(tmp_path / "d.root", {k: ak.unflatten(v, counts).tolist() for k, v in jets.items()},
                  rng.uniform(0.5, 2.0, 150))
    write_nanoaod(tmp_path / "n.root", hh_events(300, 500.0, 7))
    datasets = {"delphes": _dataset(tmp_path / "d.root", "Delphes", btag_wp="70", delphes_btag_bits={"70": 0}),
                "nano": _dataset(tmp_path / "n.root", btag_wp="70")}
    alone = {d: process_fileset({d: e}, HH4bProcessor(), "iterative", progress=False) for d, e in datasets.items()}
    both = process_fileset(datasets, HH4bProcessor(), "iterative", progress=False)
    for dataset in datasets:
        cuts = both["cutflow"][dataset]
        assert cuts == alone[dataset]["cutflow"][dataset]
        assert all(len(v) == 2 and isinstance(v[0], float) and isinstance(v[1], int) for v in cuts.values())
    assert both["bookkeeping"]["events_processed"] == 450


def test_bad_delphes_file_is_a_one_line_failure_naming_it(tmp_path, capsys):
    path = _shared("bad_delphes.root")
    fileset = _write_fileset(tmp_path, {"bad": _dataset(path, "Delphes", n_events=10, delphes_btag_bits={"70": 0})})
    status, out, _err = _run([str(fileset), "--output", str(tmp_path / "out")], capsys)
    assert status == 1
    failed = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "bad_delphes.root" in failed[0] and "KeyInFileError" in failed[0]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["bookkeeping"]["events_failed"] == 10 == summary["bookkeeping"]["events_in"]
    assert summary["btag"] == {}  # nothing readable, no rule


# --- CMS NanoAOD b-tagging -------------------------------------------------------------------------

def test_real_nanoaod_working_points_change_the_result(tmp_path, capsys):
    path = _shared("nano_tt_v12.root")
    fileset = _write_fileset(tmp_path, {"cms": _dataset(path)})
    cutflows = {}
    for wp in ("L", "M", "T"):
        out = tmp_path / wp
        status, _out, err = _run([str(fileset), "--btag-wp", wp, "--output", str(out)], capsys)
        assert status == 0, err
        from coffea.util import load

        output = load(str(out / "output.coffea"))
        assert output["run_options"]["btag_wp"] == wp
        assert output["btag"]["cms"]["wp"] == wp and output["btag"]["cms"]["tagger"] == "DeepJet"
        cutflows[wp] = output["cutflow"]["cms"]["four_jets_2tags"][1]
    assert cutflows["L"] > cutflows["M"] > cutflows["T"]
    for wp in ("70", "77", "85"):
        err = _one_line_error([str(fileset), "--btag-wp", wp, "--output", str(tmp_path / "x")], capsys)
        assert f"'{wp}' not known for DeepJet 2018UL" in err and "nano_tt_v12.root" in err
    assert not (tmp_path / "x" / "output.coffea").exists()


def test_written_uparT_file_tagger_and_thresholds_from_metadata_and_cli(tmp_path, capsys):
    """NanoAOD v15-like: Jet_btagUParTAK4B only; metadata threshold, CLI threshold, wrong tagger."""
    rng = np.random.default_rng(8)
    n = 300
    counts = rng.integers(4, 7, n)
    total = int(counts.sum())
    score = rng.uniform(0, 1, total)
    jets = {"pt": rng.uniform(45, 200, total), "eta": rng.uniform(-2, 2, total), "phi": rng.uniform(-3, 3, total),
            "mass": rng.uniform(5, 15, total), "btagUParTAK4B": score}
    ids = {"run": np.ones(n, dtype=np.uint32), "luminosityBlock": np.ones(n, dtype=np.uint32),
           "event": np.arange(n, dtype=np.uint64)}
    path = tmp_path / "v15.root"
    write_tree(path, {**ids, "genWeight": np.ones(n, dtype=np.float32),
                      "Jet": ak.zip({k: ak.unflatten(v, counts) for k, v in jets.items()})})
    tags = ak.unflatten(score, counts)

    def four_tag(threshold):
        return int(np.sum(ak.sum(tags > threshold, axis=1) >= 4))

    fileset = {"v15": _dataset(path, btag_wp="M")}
    output = process_fileset(fileset, HH4bProcessor(), "iterative", progress=False)
    assert output["btag"]["v15"] == {"format": "cms", "wp": "M", "branch": "Jet_btagUParTAK4B", "tagger": "UParT",
                                     "era": "2024", "threshold": 0.1272}
    assert output["cutflow"]["v15"]["four_tag"][1] == four_tag(0.1272)
    meta = _dataset(path, btag_wp="70", btag_thresholds={"70": 0.3})
    output = process_fileset({"v15": meta}, HH4bProcessor(), "iterative", progress=False)
    assert output["cutflow"]["v15"]["four_tag"][1] == four_tag(0.3)
    path_json = _write_fileset(tmp_path, {"v15": meta})
    status, _out, err = _run([str(path_json), "--btag-threshold", "70=0.2", "--output", str(tmp_path / "o")], capsys)
    assert status == 0, err
    from coffea.util import load

    output = load(str(tmp_path / "o" / "output.coffea"))
    assert output["btag"]["v15"]["threshold"] == 0.2
    assert output["cutflow"]["v15"]["four_tag"][1] == four_tag(0.2)
    assert output["run_options"]["btag_options"] == {"thresholds": {"70": 0.2}}
    status, out, _err = _run([str(path_json), "--btag-tagger", "DeepJet", "--output", str(tmp_path / "p")], capsys)
    (failed,) = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert status == 1 and "v15.root" in failed and "branch Jet_btagDeepFlavB not found (b-tagger DeepJet)" in failed
    err = _one_line_error([str(path_json), "--btag-threshold", "70", "--output", str(tmp_path / "p")], capsys)
    assert "--btag-threshold '70'" in err


# --- fileset metadata ------------------------------------------------------------------------------

@pytest.mark.parametrize("metadata,key", [
    (None, "'metadata'"), ({}, "'process'"), ({"process": ""}, "'process'"),
    ({"process": "ttbar", "xsec_pb": -1.0, "sumw": 10.0}, "'xsec_pb' must be > 0"),
    ({"process": "ttbar", "xsec_pb": 1.0, "sumw": 0.0}, "'sumw' must be > 0"),
    ({"process": "ttbar", "xsec_pb": "12 pb", "sumw": 10.0}, "'xsec_pb' must be a number"),
    ({"process": "ttbar", "xsec_pb": 1.0, "sumw": float("nan")}, "'sumw' must be a number"),
])
def test_bad_metadata_is_refused_before_processing(tmp_path, capsys, hh_file, metadata, key):
    entry = {"files": {str(hh_file): "Events"}}
    if metadata is not None:
        entry["metadata"] = metadata
    good = {"files": {str(hh_file): "Events"}, "metadata": {"process": "resonant", "btag_wp": "70"}}
    fileset = _write_fileset(tmp_path, {"good": good, "broken": entry})
    err = _one_line_error([str(fileset), "--output", str(tmp_path / "out")], capsys)
    assert "dataset 'broken'" in err and key in err and "fileset.json" in err
    assert not (tmp_path / "out" / "output.coffea").exists()


def test_every_dataset_is_processed_or_announced(tmp_path, capsys, caplog, hh_file):
    meta = {"btag_wp": "70", "xsec_pb": 1.0, "sumw": 400.0}
    files = {str(hh_file): "Events"}
    fileset = _write_fileset(tmp_path, {"res": {"files": files, "metadata": {"process": "resonant", **meta}},
                                        "tt": {"files": files, "metadata": {"process": "ttbar", **meta}}})
    status, _out, err = _run([str(fileset), "--output", str(tmp_path / "all")], capsys)
    assert status == 0, err
    from coffea.util import load

    assert set(load(str(tmp_path / "all" / "output.coffea"))["cutflow"]) == {"res", "tt"}
    with caplog.at_level("WARNING", logger="hh4b.run"):
        status, _out, err = _run([str(fileset), "--analysis", "nonresonant", "--no-nn",
                                  "--output", str(tmp_path / "n")], capsys)
    assert status == 0, err
    assert set(load(str(tmp_path / "n" / "output.coffea"))["cutflow"]) == {"tt"}
    assert "--analysis nonresonant leaves out the resonant datasets res" in caplog.text


# --- Dask without workers --------------------------------------------------------------------------

def test_dask_without_workers_fails_within_the_timeout(hh_file):
    from distributed import LocalCluster

    fileset = {"res": _dataset(hh_file, process="resonant", btag_wp="70")}
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        start = time.monotonic()
        with pytest.raises(HH4bError, match=r"dask: no worker left for 2 s"):
            process_fileset(fileset, HH4bProcessor(), "dask", scheduler=cluster.scheduler_address, progress=False,
                            worker_timeout=2.0)
        assert time.monotonic() - start < 60
    with pytest.raises(HH4bError, match=r"--scheduler tcp://127.0.0.1:9: cannot connect"):
        process_fileset(fileset, HH4bProcessor(), "dask", scheduler="tcp://127.0.0.1:9", progress=False,
                        worker_timeout=2.0)


# --- output directory --------------------------------------------------------------------------------

def test_unwritable_output_is_refused_before_processing(tmp_path, capsys, hh_file):
    fileset = _write_fileset(tmp_path, {"res": _dataset(hh_file, process="resonant", btag_wp="70")})
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    start = time.monotonic()
    err = _one_line_error([str(fileset), "--output", str(blocker / "out")], capsys)
    assert f"--output {blocker / 'out'}: cannot write there" in err
    assert time.monotonic() - start < 5


def test_previous_output_is_removed_and_saves_are_atomic(tmp_path, capsys, caplog, monkeypatch, hh_file):
    out = tmp_path / "out"
    out.mkdir()
    (out / "output.coffea").write_bytes(b"an old run")
    (out / "summary.json").write_text("{}")
    prepare_output(out)
    assert not (out / "output.coffea").exists() and not (out / "summary.json").exists()

    fileset = _write_fileset(tmp_path, {"res": _dataset(hh_file, process="resonant", btag_wp="70")})
    with caplog.at_level("INFO", logger="hh4b.run"):
        status, _out, err = _run([str(fileset), "--output", str(out)], capsys)
    assert status == 0, err
    from coffea.util import load

    first = load(str(out / "output.coffea"))
    options = first["run_options"]
    assert options["fileset"] == str(fileset.resolve())
    assert len(options["fileset_sha256"]) == 64 and f"(run {options['run_id']})" in caplog.text
    status, _out, err = _run([str(fileset), "--output", str(out)], capsys)
    assert load(str(out / "output.coffea"))["run_options"]["run_id"] != options["run_id"]

    import coffea.util

    def interrupted(obj, path):
        Path(path).write_bytes(b"trunc")
        raise KeyboardInterrupt

    before = (out / "output.coffea").read_bytes()
    monkeypatch.setattr(coffea.util, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(first, out)
    assert (out / "output.coffea").read_bytes() == before  # the old file, never a truncated one
    assert sorted(p.name for p in out.iterdir()) == ["output.coffea", "summary.json"]


# --- smaller promises ----------------------------------------------------------------------------------

def test_no_progress_silences_coffea_bars(tmp_path, capsys, hh_file):
    fileset = _write_fileset(tmp_path, {"res": _dataset(hh_file, process="resonant", btag_wp="70")})
    status = cli_main(["run", str(fileset), "--executor", "futures", "--workers", "1", "--no-progress",
                       "--output", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert status == 0
    assert "Processing" not in captured.out + captured.err and "Preprocessing" not in captured.out + captured.err


def test_missing_models_directory_is_an_error(tmp_path, capsys, hh_file):
    fileset = _write_fileset(tmp_path, {"res": _dataset(hh_file, process="resonant", btag_wp="70")})
    err = _one_line_error([str(fileset), "--analysis", "resonant", "--models", str(tmp_path / "nowhere"),
                           "--output", str(tmp_path / "out")], capsys)
    assert f"--models {tmp_path / 'nowhere'}: no such directory" in err


def test_nonfinite_jets_are_counted(tmp_path):
    events = hh_events(300, 500, 11)
    jets = events["jets"]
    idx = np.arange(300)
    bad = (idx >= 100) & (idx < 150)
    jets["pt"] = ak.where(bad, jets["pt"] * np.nan, jets["pt"])
    jets["eta"] = ak.where(idx >= 290, jets["eta"] * np.inf, jets["eta"])
    write_nanoaod(tmp_path / "odd.root", events)
    expected = int(ak.sum(ak.num(jets["pt"])[bad | (idx >= 290)]))
    output = process_fileset({"odd": _dataset(tmp_path / "odd.root", process="resonant", btag_wp="70")},
                             HH4bProcessor(), "iterative", chunksize=120, progress=False)
    assert output["bookkeeping"]["nonfinite_jets"] == {"odd": expected} and expected > 0


def test_truncated_file_error_is_one_line(tmp_path, hh_file):
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(hh_file.read_bytes()[: hh_file.stat().st_size // 2])
    output = process_fileset({"t": _dataset(truncated, process="resonant", btag_wp="70", n_events=400)},
                             HH4bProcessor(), "iterative", progress=False)
    (failed,) = output["bookkeeping"]["failed_chunks"]
    assert "\n" not in failed["error"] and "truncated.root" in failed["error"]


def test_file_without_tag_branch_is_counted_as_failed(tmp_path, hh_file):
    jets = hh_events(50, 500, 2)["jets"]
    ids = {"run": np.ones(50, dtype=np.uint32), "luminosityBlock": np.ones(50, dtype=np.uint32),
           "event": np.arange(50, dtype=np.uint64)}
    write_tree(tmp_path / "notag.root", {**ids, "genWeight": np.ones(50, dtype=np.float32),
                                         "Jet": ak.zip({k: jets[k] for k in ("pt", "eta", "phi", "mass")})})
    fileset = {"good": _dataset(hh_file, process="resonant", btag_wp="70"),
               "notag": _dataset(tmp_path / "notag.root", process="resonant", btag_wp="70")}
    output = process_fileset(fileset, HH4bProcessor(), "iterative", progress=False)
    book = output["bookkeeping"]
    (failed,) = book["failed_chunks"]
    assert failed["dataset"] == "notag" and (failed["entry_start"], failed["entry_stop"]) == (0, 50)
    assert "notag.root" in failed["error"] and "Jet_btagWP70 not found" in failed["error"]
    assert book["events_in"] == 450 == book["events_processed"] + book["events_failed"]
    assert set(output["btag"]) == {"good"}


def test_load_fileset_keeps_metadata(tmp_path, hh_file):
    path = _write_fileset(tmp_path, {"res": _dataset(hh_file, process="resonant", btag_wp="70")})
    assert load_fileset(path)["res"]["metadata"] == {"process": "resonant", "btag_wp": "70"}
