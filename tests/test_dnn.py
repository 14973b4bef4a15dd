"""Dense-network baseline: features, AUC, learning on a problem with a known answer, ONNX parity."""

import json
from math import erf

import numpy as np
import onnxruntime as ort
import pytest
import torch

from hh4b.analysis.features import NONRESONANT_FEATURES, RESONANT_FEATURES, feature_matrix, higgs_features
from hh4b.nn.dnn import DNN_PRESETS, DenseClassifier, export_onnx
from hh4b.nn.train_dnn import accuracy_and_auc, train_dnn


def test_feature_counts_follow_paper_tables():
    assert len(RESONANT_FEATURES) == 16  # Table II
    assert len(NONRESONANT_FEATURES) == 21  # Table IV


def test_dihiggs_mass_of_back_to_back_higgs_bosons():
    # two 125 GeV Higgs bosons back to back with pT = 200 GeV at eta = 0: m_hh = 2 sqrt(125^2 + 200^2)
    h1 = {"pt": [200.0], "eta": [0.0], "phi": [0.0], "mass": [125.0]}
    h2 = {"pt": [200.0], "eta": [0.0], "phi": [np.pi], "mass": [125.0]}
    cols = higgs_features(h1, h2, dr=([0.8], [0.9]), btags=([1], [1], [0], [1]))
    assert cols["hh_mass"][0] == pytest.approx(2 * np.hypot(125.0, 200.0), rel=1e-5)
    assert cols["hh_pt"][0] == pytest.approx(0.0, abs=1e-3)
    x = feature_matrix(cols, RESONANT_FEATURES)
    assert x.shape == (1, 16) and x[0, RESONANT_FEATURES.index("j3_btag")] == 0.0
    with pytest.raises(KeyError, match="kappa_lambda"):
        feature_matrix(cols, NONRESONANT_FEATURES)


def test_auc_matches_pairwise_definition():
    rng = np.random.default_rng(3)
    scores = np.round(rng.random(300), 2)  # ties on purpose
    labels = rng.random(300) < 0.4
    weights = rng.random(300) + 0.5
    _, auc = accuracy_and_auc(scores, labels, weights)
    s, b = labels, ~labels
    diff = scores[s][:, None] - scores[b][None, :]
    pair_w = weights[s][:, None] * weights[b][None, :]
    brute = np.sum(pair_w * ((diff > 0) + 0.5 * (diff == 0))) / pair_w.sum()
    assert auc == pytest.approx(brute, rel=1e-12)


def _gaussians(n, separation, seed):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.int64)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    x[:, 0] += separation * y
    return x, y, np.ones(n)


def test_dnn_reaches_the_bayes_optimal_auc():
    separation = 1.5  # two unit Gaussians: optimal AUC = Phi(d / sqrt 2)
    train, valid = _gaussians(6000, separation, 1), _gaussians(4000, separation, 2)
    model, metrics = train_dnn(train, valid, DNN_PRESETS["tiny"], seed=0, progress=False)
    optimal = 0.5 * (1 + erf(separation / 2))
    assert metrics["auc"] == pytest.approx(optimal, abs=0.02)
    assert metrics["auc"] > 0.8


def test_same_seed_same_model():
    train, valid = _gaussians(1000, 1.0, 1), _gaussians(500, 1.0, 2)
    config = DNN_PRESETS["tiny"]
    m1, _ = train_dnn(train, valid, config, seed=5, progress=False)
    m2, _ = train_dnn(train, valid, config, seed=5, progress=False)
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("batch", [1, 1000])
def test_onnx_export_matches_torch(tmp_path, batch):
    names = RESONANT_FEATURES
    model = DenseClassifier(len(names), hidden=16, layers=2)
    x = np.random.default_rng(0).normal(50, 30, size=(batch, len(names))).astype(np.float32)
    model.set_standardisation(x if batch > 1 else np.vstack([x, x + 1]))
    export_onnx(model, names, tmp_path / "dnn.onnx", {"preset": "test"})
    session = ort.InferenceSession(str(tmp_path / "dnn.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"features": x})[0]
    with torch.no_grad():
        want = model(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    card = json.loads((tmp_path / "dnn.json").read_text())
    assert card["inputs"]["features"] == list(names)


def test_optuna_search_starts_from_the_preset_and_keeps_the_best_trial():
    from hh4b.nn.train_dnn import SEARCH_SPACE, optuna_search

    base = DNN_PRESETS["tiny"].__class__(**{**DNN_PRESETS["tiny"].to_dict(), "epochs": 2})
    config, search = optuna_search(_gaussians(600, 1.0, 1), _gaussians(400, 1.0, 2), base, n_trials=4, seed=3,
                                   progress=False)
    assert search["trials"] == len(search["values"]) == 4
    assert {k: search["values"][0][k] for k in ("learning_rate", "hidden", "layers")} == \
        {"learning_rate": base.learning_rate, "hidden": base.hidden, "layers": base.layers}
    best = max(search["values"], key=lambda v: v["auc"])
    assert search["best"] == best and (config.learning_rate, config.hidden, config.layers) == \
        (best["learning_rate"], best["hidden"], best["layers"])
    assert config.epochs == 2 and config.batch_size == base.batch_size  # only the searched values change
    lo, hi = SEARCH_SPACE["learning_rate"]
    assert all(lo <= v["learning_rate"] <= hi and v["hidden"] in SEARCH_SPACE["hidden"] for v in search["values"])
    assert 0.6 < best["auc"] < 0.85  # two unit Gaussians 1 apart: Bayes-optimal AUC 0.76


def test_train_cli_optuna_records_the_search_and_trains_its_choice(tmp_path):
    from hh4b.cli import main as cli_main
    from hh4b.nn.card import load_card, model_filename

    from test_kfold import _toy_h5

    data = _toy_h5(tmp_path / "toy.h5", 300, 8)
    argv = ["train", "dnn", "--data", str(data), "--preset", "tiny", "--output", str(tmp_path), "--epochs", "1",
            "--optuna", "2", "--no-progress", "--threads", "1"]
    assert cli_main(argv) == 0
    card, _ = load_card(tmp_path / model_filename("dnn_mindr", "tiny"), "dnn")
    search = card["hyperparameter_search"]
    total = search["tuning_events"] + search["fit_events"]  # the training events with four tagged jets
    assert search["trials"] == 2 and search["tuning_events"] == round(0.2 * total) and 100 < total < 0.95 * 300
    assert {k: card["config"][k] for k in ("learning_rate", "hidden", "layers")} == \
        {k: search["best"][k] for k in ("learning_rate", "hidden", "layers")}
    assert cli_main(["train", "deepsets", *argv[2:]]) == 2  # the search is the DNN's
