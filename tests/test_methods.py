"""Neural selections as processor plug-ins: ONNX inside the chain equals torch on the same events."""

import pickle

import awkward as ak
import numpy as np
import pytest
import torch

from hh4b.analysis.cutbased import analyse
from hh4b.analysis.events import make_jets
from hh4b.analysis.features import NONRESONANT_FEATURES, RESONANT_FEATURES
from hh4b.analysis.methods import NeuralMethod, SpanetModel, build_methods, padded_inputs
from hh4b.errors import ConfigError
from hh4b.nn.dnn import DenseClassifier, export_onnx
from hh4b.nn.export_onnx import export_spanet
from hh4b.nn.spanet import SPANET_PRESETS, Spanet

from toys import hh_events


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    torch.manual_seed(1)
    spanet = Spanet(SPANET_PRESETS["tiny"]).eval()
    export_spanet(spanet, directory / "spanet.onnx", {"analysis": "resonant"})
    dnn = DenseClassifier(len(RESONANT_FEATURES), hidden=16, layers=2).eval()
    export_onnx(dnn, RESONANT_FEATURES, directory / "dnn.onnx", card={})
    return spanet, dnn, directory


@pytest.fixture(scope="module")
def jets():
    toy = hh_events(400, 500.0, seed=3)["jets"]
    return make_jets(toy.pt if hasattr(toy, "pt") else toy["pt"], toy["eta"], toy["phi"], toy["mass"],
                     toy["btagWP70"], toy["hadronFlavour"])


def test_spanet_scores_and_pairs_equal_torch(models, jets):
    spanet, _, directory = models
    result = SpanetModel(directory / "spanet.onnx")(jets)
    x, mask = padded_inputs(jets)
    with torch.no_grad():
        _, assignment, prob, _ = spanet(torch.as_tensor(x), torch.as_tensor(mask))
    enough = mask.sum(axis=1) >= 4
    np.testing.assert_allclose(result["score"], prob.numpy(), atol=1e-5)
    np.testing.assert_array_equal(result["jet_idx"][enough], assignment.numpy()[enough])
    assert (result["jet_idx"][~enough] == -1).all()


def test_dnn_on_mindr_pairing_inside_the_chain_equals_torch(models, jets):
    _, dnn, directory = models
    methods = build_methods(["cut_mindr", "dnn_mindr"], dnn_paths={"dnn_mindr": directory / "dnn.onnx"})
    result = analyse(jets, ("cut_mindr", "dnn_mindr"), pairers=methods)["methods"]
    cut, net = result["cut_mindr"], result["dnn_mindr"]
    np.testing.assert_array_equal(net["jet_idx"][net["valid"]], cut["jet_idx"][cut["valid"]])  # same pairing
    h1, h2 = net["h1"], net["h2"]
    rows = np.flatnonzero(net["valid"])
    features = {f"h{i}_{v}": h[v] for i, h in ((1, h1), (2, h2)) for v in ("pt", "eta", "phi", "mass")}
    features.update(h1_dr=h1["dr"], h2_dr=h2["dr"])
    btag = ak.to_numpy(ak.fill_none(ak.pad_none(jets.btag, 16, clip=True), False)).astype(np.float32)
    for k in range(4):
        features[f"j{k + 1}_btag"] = btag[np.arange(len(btag)), net["jet_idx"].reshape(-1, 4)[:, k].clip(0)]
    px = h1["pt"] * np.cos(h1["phi"]) + h2["pt"] * np.cos(h2["phi"])
    py = h1["pt"] * np.sin(h1["phi"]) + h2["pt"] * np.sin(h2["phi"])
    features["hh_pt"], features["hh_mass"] = np.hypot(px, py), net["mhh"]
    x = np.stack([features[n] for n in RESONANT_FEATURES], axis=1)[rows].astype(np.float32)
    with torch.no_grad():
        expected = dnn(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(net["score"][rows], expected, atol=1e-5)


def test_deepsets_inside_the_chain_equals_torch_on_the_mindr_pairing(jets, tmp_path):
    from hh4b.nn.deepsets import DEEPSETS_PRESETS, DeepSetsClassifier, export_onnx as export_deepsets

    torch.manual_seed(2)
    model = DeepSetsClassifier(DEEPSETS_PRESETS["tiny"]).eval()
    export_deepsets(model, tmp_path / "deepsets.onnx", {"analysis": "resonant"})
    methods = build_methods(["cut_mindr", "deepsets"], deepsets_path=tmp_path / "deepsets.onnx")
    result = analyse(jets, ("cut_mindr", "deepsets"), pairers=methods)["methods"]
    cut, net = result["cut_mindr"], result["deepsets"]
    np.testing.assert_array_equal(net["valid"], cut["valid"])
    np.testing.assert_array_equal(net["jet_idx"][net["valid"]], cut["jet_idx"][cut["valid"]])  # min-dR pairing
    x, mask = padded_inputs(jets)
    with torch.no_grad():
        expected = model.probabilities(torch.as_tensor(x), torch.as_tensor(mask)).numpy()
    rows = net["valid"]
    assert rows.sum() > 100 and np.ptp(expected[rows]) > 1e-3  # the scores vary: the comparison can fail
    np.testing.assert_allclose(net["score"][rows], expected[rows], atol=1e-5)
    assert (net["score"][~rows] == 0).all()
    with pytest.raises(ConfigError, match="needs a Deep Sets model"):
        NeuralMethod("deepsets")


def test_spanet_and_deepsets_share_one_build_of_the_jet_inputs_per_chunk(models, jets, tmp_path, monkeypatch):
    import hh4b.nn.inputs as inputs
    from hh4b.nn.deepsets import DEEPSETS_PRESETS, DeepSetsClassifier, export_onnx as export_deepsets

    _, _, directory = models
    export_deepsets(DeepSetsClassifier(DEEPSETS_PRESETS["tiny"]).eval(), tmp_path / "deepsets.onnx",
                    {"analysis": "resonant"})
    names = ("cut_mindr", "spanet", "cut_spanet", "deepsets")
    methods = build_methods(names, directory / "spanet.onnx", deepsets_path=tmp_path / "deepsets.onnx")
    builds = []
    monkeypatch.setattr(inputs, "jet_inputs", lambda j, *a: builds.append(j) or padded_inputs(j, *a))
    first = analyse(jets, names, pairers=methods)["methods"]
    assert len(builds) == 1  # three neural methods, one build
    other = jets[::-1]
    analyse(other, names, pairers=methods)
    assert len(builds) == 2 and builds[1] is not builds[0]  # a new chunk is built anew, not served the old one
    again = analyse(jets, names, pairers=pickle.loads(pickle.dumps(methods)))["methods"]
    for name in ("spanet", "deepsets"):
        np.testing.assert_array_equal(again[name]["score"], first[name]["score"])


def test_methods_need_their_models_and_matching_inputs(models):
    _, _, directory = models
    with pytest.raises(ConfigError, match="needs a SPA-NET model"):
        NeuralMethod("spanet")
    with pytest.raises(ConfigError, match="unknown neural method"):
        NeuralMethod("bdt")
    with pytest.raises(ConfigError, match="missing inputs"):
        SpanetModel(directory / "dnn.onnx")  # a DNN file where SPA-NET is expected


def test_nonresonant_dnn_without_event_columns_is_named(models, jets, tmp_path):
    dnn = DenseClassifier(len(NONRESONANT_FEATURES), hidden=8, layers=1).eval()
    export_onnx(dnn, NONRESONANT_FEATURES, tmp_path / "dnn_nonres.onnx", card={})
    method = build_methods(["dnn_mindr"], dnn_paths={"dnn_mindr": tmp_path / "dnn_nonres.onnx"})["dnn_mindr"]
    with pytest.raises(ConfigError, match="met_pt"):
        analyse(jets, ("dnn_mindr",), pairers={"dnn_mindr": method})


@pytest.fixture(scope="module")
def toy_fileset(tmp_path_factory):
    import json

    from toys import ttbar_events, write_nanoaod

    folder = tmp_path_factory.mktemp("nn_toys")
    fileset = {}
    for name, events, meta in (("resonant_M500", hh_events(800, 500.0, 11), {"mass": 500, "br_forced": 1.0}),
                               ("ttbar", ttbar_events(800, 12), {}),
                               ("qcd", hh_events(800, 350.0, 13), {})):  # a broad stand-in multijet shape
        n = write_nanoaod(folder / f"{name}.root", events)
        fileset[name] = {"files": {str(folder / f"{name}.root"): "Events"},
                         "metadata": {"process": name.split("_")[0], "xsec_pb": 1.0, "sumw": float(n),
                                      "btag_wp": "70", **meta}}
    (folder / "fileset.json").write_text(json.dumps(fileset))
    return folder / "fileset.json"


def test_processor_with_inference_same_on_iterative_and_dask(models, toy_fileset):
    from hh4b.analysis.processing import load_fileset, process_fileset
    from hh4b.analysis.processor import HH4bProcessor

    from test_processor import _assert_same_histograms

    _, _, directory = models
    nn = build_methods(["spanet", "cut_spanet", "dnn_mindr", "dnn_spanet"], directory / "spanet.onnx",
                       {"dnn_mindr": directory / "dnn.onnx", "dnn_spanet": directory / "dnn.onnx"})
    proc = HH4bProcessor(methods=("cut_mindr", *nn), models=nn, save_columns=True)
    fileset = load_fileset(toy_fileset)
    first = process_fileset(fileset, proc, "iterative", chunksize=300, progress=False)
    second = process_fileset(fileset, proc, "dask", workers=2, chunksize=300, progress=False)
    second.pop("columns"), first.pop("columns")
    _assert_same_histograms(first, second)
    scores = first["hists"]["mhh_score"]
    assert sorted(scores.axes["method"]) == ["dnn_mindr", "dnn_spanet", "spanet"]  # cut_spanet has no score
    filled = scores[{"dataset": "resonant_M500", "method": "spanet", "tags": "4b"}].values().sum()
    cutflow = first["cutflow"]["resonant_M500"]["spanet/pairing"][0]
    assert filled == pytest.approx(cutflow)  # every four-tag event with a SPA-NET pairing has a score
    assert first["truth"]["resonant_M500"]["cut_spanet"]["matched"] > 0


def test_networks_score_four_tag_events_unless_asked_for_more(models, toy_fileset):
    """By default the networks see the four-tag events only: the neural methods' four-tag results
    are those of a run that scores every category, their two-tag histograms are empty, and a
    background model of a neural method on such an output is refused with the rerun to make."""
    from hh4b.analysis.processing import load_fileset, process_fileset
    from hh4b.analysis.processor import HH4bProcessor
    from hh4b.background.datadriven import check_scored_two_tag

    _, _, directory = models
    nn = build_methods(["spanet", "dnn_mindr"], directory / "spanet.onnx", {"dnn_mindr": directory / "dnn.onnx"})
    fileset = load_fileset(toy_fileset)
    runs = {tags: process_fileset(fileset, HH4bProcessor(methods=("cut_mindr", *nn), models=nn, network_tags=tags),
                                  "iterative", chunksize=1000, progress=False) for tags in ((4,), (2, 3, 4))}
    four, every = runs[(4,)], runs[(2, 3, 4)]
    assert four["cutflow"] == every["cutflow"]
    mhh = {k: r["hists"]["mhh"] for k, r in runs.items()}
    for method in ("cut_mindr", "spanet", "dnn_mindr"):
        sr = {k: h[{"method": method, "tags": "4b"}].values(flow=True) for k, h in mhh.items()}
        assert np.array_equal(sr[(4,)], sr[(2, 3, 4)])
    two_tag = {k: h[{"method": "spanet", "tags": "2b"}].values(flow=True).sum() for k, h in mhh.items()}
    assert two_tag[(4,)] == 0 < two_tag[(2, 3, 4)]
    refused = r"method spanet: its network scored only the 4b events .*--network-tags 2,3,4"
    with pytest.raises(ConfigError, match=refused):
        check_scored_two_tag({"network_tags": [4]}, ["cut_mindr", "spanet"])
    check_scored_two_tag({"network_tags": [4]}, ["cut_mindr"])
    check_scored_two_tag({"network_tags": [2, 3, 4]}, ["spanet"])
    with pytest.raises(ConfigError, match=r"network_tags \(5,\)"):
        HH4bProcessor(network_tags=(5,))


def test_columns_for_the_background_model(models, toy_fileset):
    from hh4b.analysis.processing import load_fileset, process_fileset
    from hh4b.analysis.processor import HH4bProcessor
    from hh4b.background.datadriven import gather_columns

    out = process_fileset(load_fileset(toy_fileset), HH4bProcessor(save_columns=True), "iterative",
                          chunksize=300, progress=False)
    columns = gather_columns(out)
    four_tag = (columns["tags"] == 4) & (columns["method"] == "cut_mindr") & (columns["dataset"] == "ttbar")
    assert four_tag.sum() == out["cutflow"]["ttbar"]["cut_mindr/pairing"][1]
    assert set(np.unique(columns["tags"])) <= {2, 3, 4} and np.all(columns["jet4_pt"] > 40)


def test_limits_for_neural_selections_use_optimised_thresholds(models, toy_fileset, tmp_path):
    import json

    from hh4b.analysis.processing import load_fileset, process_fileset, save
    from hh4b.analysis.processor import HH4bProcessor
    from hh4b.cli import main as cli_main

    _, _, directory = models
    nn = build_methods(["spanet", "dnn_mindr"], directory / "spanet.onnx", {"dnn_mindr": directory / "dnn.onnx"})
    output = process_fileset(load_fileset(toy_fileset), HH4bProcessor(methods=("cut_mindr", *nn), models=nn),
                             "iterative", chunksize=1000, progress=False)
    save(output, tmp_path)
    from coffea.util import load
    assert load(tmp_path / "output.coffea")["lumi_fb"] == 300.0
    assert cli_main(["limits", str(tmp_path), "--method", "cut_mindr", "spanet", "dnn_mindr", "--projections",
                     "--no-staterror", "--max-bins", "4", "--min-background", "0.1",
                     "--max-mc-uncertainty", "1", "--min-kish", "2"]) == 0  # a toy with few MC events
    thresholds = json.loads((tmp_path / "limits" / "score_thresholds.json").read_text())
    assert {t["method"] for t in thresholds} == {"spanet", "dnn_mindr"}
    assert all(0.0 <= t["p_th"] <= 1.0 and t["S"] > 0 for t in thresholds)
    limits = {r["method"]: r for r in json.loads((tmp_path / "limits" / "resonant_limits.json").read_text())}
    assert set(limits) == {"cut_mindr", "spanet", "dnn_mindr", "spanet (score bins)", "dnn_mindr (score bins)"}
    assert all(np.isfinite(r["expected"]) and r["expected"] > 0 for r in limits.values())
    for method in ("spanet", "dnn_mindr"):  # the score-bins fit contains the threshold selection
        assert limits[f"{method} (score bins)"]["expected"] <= limits[method]["expected"] * (1 + 2e-3)
