"""k-fold training and inference: model k trains without the events whose event number modulo K
is k and scores exactly those, so no event is scored by a model that saw it."""

import json

import numpy as np
import pytest
import torch

from hh4b.analysis.features import RESONANT_FEATURES
from hh4b.analysis.inference import DNNScorer, KFoldModel, open_model
from hh4b.cli import main as cli_main
from hh4b.errors import ConfigError, InputFileError
from hh4b.nn.card import fold_filename, fold_paths, kfold_card, load_card, model_exists, model_filename
from hh4b.nn.data import EVENT, SpanetH5, fold_split, split, write_spanet_h5
from hh4b.nn.dnn import DenseClassifier, export_onnx

K = 3
CONSTANTS = (0.155, 0.505, 0.855)  # what fold k's toy model answers, whatever the event (mid-bin)


def _toy_h5(path, n: int, seed: int, event=None):
    """Random events of 4-6 jets, half signal, with shuffled event numbers (or `event`)."""
    rng = np.random.default_rng(seed)
    width = 6
    real = np.arange(width) < rng.integers(4, width + 1, (n, 1))
    jets = np.stack([np.sort(rng.uniform(40, 300, (n, width)), axis=1)[:, ::-1], rng.uniform(-2.4, 2.4, (n, width)),
                     rng.uniform(-np.pi, np.pi, (n, width)), rng.uniform(5, 20, (n, width)),
                     (rng.random((n, width)) < 0.9).astype(float)], -1) * real[..., None]
    event = rng.permutation(np.arange(1000, 1000 + n)) if event is None else event
    write_spanet_h5(path, jets, real, np.full((n, 2, 2), -1), np.arange(n) % 2, np.ones(n),
                    metadata={"event": np.asarray(event, dtype=np.int64)})
    return path


def _event_numbers(dataset: SpanetH5) -> np.ndarray:
    return dataset.read(0, len(dataset))["meta_event"]


def test_fold_split_leaves_out_exactly_its_fold(tmp_path):
    path = _toy_h5(tmp_path / "toy.h5", 300, 1)
    every = _event_numbers(SpanetH5(path))
    for k in range(K):
        train, valid = fold_split(path, k, K, valid_fraction=0.2)
        seen = np.concatenate([_event_numbers(train), _event_numbers(valid)])
        assert not np.any(seen % K == k)
        assert sorted(seen) == sorted(every[every % K != k])  # every other event, once
        assert len(valid) == round(0.2 * len(seen)) and not set(_event_numbers(train)) & set(_event_numbers(valid))
        batch = next(train.batches(16))  # rows read in one contiguous block, then selected
        assert batch["jets"].shape == (16, 6, 5) and not np.any(batch["meta_event"].numpy() % K == k)
        assert set(train.class_weight_factors()) == {0, 1}
    assert len(split(path)[0]) + len(split(path)[1]) == 300  # the plain split is unchanged


def test_fold_split_needs_event_numbers(tmp_path):
    path = _toy_h5(tmp_path / "unnumbered.h5", 50, 2, event=np.r_[np.arange(40), np.full(10, -1)])
    with pytest.raises(InputFileError, match=r"unnumbered.h5: 10 events have no event number"):
        fold_split(path, 0, K)
    with pytest.raises(ConfigError, match=r"fold 3 of 3"):
        fold_split(path, 3, K)
    old = tmp_path / "old.h5"
    write_spanet_h5(old, np.zeros((8, 4, 5)), np.ones((8, 4), bool), np.full((8, 2, 2), -1), np.arange(8) % 2,
                    np.ones(8))
    with pytest.raises(InputFileError, match=f"old.h5: no {EVENT}"):
        fold_split(old, 0, K)


def _constant_dnn(value: float) -> DenseClassifier:
    """A DNN that answers `value` for every input: its last layer is a bias only."""
    model = DenseClassifier(len(RESONANT_FEATURES), hidden=4, layers=1).eval()
    with torch.no_grad():
        last = model.network[-1]
        last.weight.zero_()
        last.bias.fill_(float(np.log(value / (1 - value))))
    return model


@pytest.fixture()
def kfold_dnn(tmp_path):
    """A k-fold set dnn_mindr_resonant.fold<k>.onnx whose fold k answers CONSTANTS[k]."""
    for k, value in enumerate(CONSTANTS):
        export_onnx(_constant_dnn(value), RESONANT_FEATURES, tmp_path / fold_filename("dnn_mindr", "resonant", k),
                    {"analysis": "resonant", "pairing": "mindr", "kfold": kfold_card(k, K)})
    return tmp_path / model_filename("dnn_mindr", "resonant")


def test_every_event_is_scored_by_the_model_that_did_not_train_on_it(tmp_path, kfold_dnn):
    path = _toy_h5(tmp_path / "toy.h5", 300, 3)
    events = _event_numbers(SpanetH5(path))
    trained_on = {k: set(np.concatenate([_event_numbers(d) for d in fold_split(path, k, K)])) for k in range(K)}
    scorer = DNNScorer(kfold_dnn)
    assert isinstance(scorer.model, KFoldModel) and model_exists(kfold_dnn) and not kfold_dnn.exists()
    features = np.random.default_rng(4).normal(100, 30, (len(events), len(RESONANT_FEATURES)))
    scores = scorer(dict(zip(RESONANT_FEATURES, features.T)), event=events.astype(np.uint64))
    scored_by = np.abs(scores[:, None] - np.array(CONSTANTS)[None]).argmin(axis=1)
    np.testing.assert_allclose(scores, np.array(CONSTANTS)[scored_by], atol=1e-6)
    assert all(event not in trained_on[k] for event, k in zip(events, scored_by))
    assert np.bincount(scored_by, minlength=K).min() == 100  # every fold scores its third
    with pytest.raises(ConfigError, match=r"dnn_mindr_resonant.fold0.onnx: a k-fold model needs the event number"):
        scorer(dict(zip(RESONANT_FEATURES, features.T)))


def test_an_incomplete_or_single_fold_is_refused(kfold_dnn):
    folder = kfold_dnn.parent
    with pytest.raises(ConfigError, match=r"fold 1 of a k-fold set; give the set's name"):
        open_model(folder / fold_filename("dnn_mindr", "resonant", 1), kind="dnn")
    (folder / fold_filename("dnn_mindr", "resonant", 2)).unlink()
    with pytest.raises(ConfigError, match=r"fold0.onnx: fold 0 of 3, but the set has 2 files \(dnn_mindr_resonant"):
        open_model(kfold_dnn, kind="dnn")
    assert [p.name for p in fold_paths(kfold_dnn)] == ["dnn_mindr_resonant.fold0.onnx", "dnn_mindr_resonant.fold1.onnx"]


def test_the_processor_finds_the_set_and_gives_each_model_the_file_event_numbers(kfold_dnn, tmp_path, monkeypatch):
    """The events' numbers come from the file (not the row in the chunk): chunks of 200 entries,
    K = 3, so a chunk-local index would put rows of every chunk but the first in the wrong fold."""
    from hh4b.analysis.processing import load_fileset, neural_methods, process_fileset
    from hh4b.analysis.processor import HH4bProcessor

    from toys import hh_events, write_nanoaod

    n = write_nanoaod(tmp_path / "signal.root", hh_events(800, 500.0, 5))
    fileset = {"resonant_M500": {"files": {str(tmp_path / "signal.root"): "Events"},
                                 "metadata": {"process": "resonant", "mass": 500, "xsec_pb": 1.0, "sumw": float(n),
                                              "btag_wp": "70"}}}
    (tmp_path / "fileset.json").write_text(json.dumps(fileset))
    methods = neural_methods(kfold_dnn.parent, "resonant", 1.0)
    assert list(methods) == ["dnn_mindr"] and isinstance(methods["dnn_mindr"].dnn.model, KFoldModel)
    seen = []
    original = KFoldModel.run
    monkeypatch.setattr(KFoldModel, "run", lambda self, feeds, outputs=None, event=None:
                        seen.append(np.asarray(event)) or original(self, feeds, outputs, event))
    out = process_fileset(load_fileset(tmp_path / "fileset.json"), HH4bProcessor(methods=("cut_mindr", *methods),
                          models=methods), "iterative", chunksize=200, progress=False)
    events = np.concatenate(seen)
    assert len(seen) == 4 and len(np.unique(events)) == len(events) and events.max() >= 600  # file numbers, once each
    scores = out["hists"]["mhh_score"][{"dataset": "resonant_M500", "method": "dnn_mindr", "tags": "4b"}]
    per_score = scores.project("score").values()
    filled = np.array([per_score[int(c * 100)] for c in CONSTANTS])
    assert filled.sum() == pytest.approx(per_score.sum())  # no other score
    expected = np.array([np.count_nonzero(events % K == k) for k in range(K)])  # the four-tag events, all paired
    np.testing.assert_allclose(filled / filled.sum(), expected / expected.sum(), rtol=1e-9)  # equal event weights


def test_train_cli_kfold_writes_the_set_the_processor_opens(tmp_path):
    data = _toy_h5(tmp_path / "toy.h5", 400, 6)
    out = tmp_path / "models"
    argv = ["train", "dnn", "--data", str(data), "--preset", "tiny", "--output", str(out), "--epochs", "1",
            "--kfold", str(K), "--no-progress", "--threads", "1"]
    assert cli_main(argv) == 0
    paths = fold_paths(out / model_filename("dnn_mindr", "tiny"))
    assert [p.name for p in paths] == [fold_filename("dnn_mindr", "tiny", k) for k in range(K)]
    for k, p in enumerate(paths):
        card, _ = load_card(p, "dnn")
        assert card["kfold"] == {"fold": k, "folds": K, "variable": "event"} and card["training_data"] == str(data)
        assert (out / f"dnn_metrics.fold{k}.json").is_file()
    assert isinstance(open_model(out / model_filename("dnn_mindr", "tiny"), kind="dnn"), KFoldModel)
    assert cli_main([*argv, "--seeds", "2"]) == 2


def test_spanet_kfold_trains_each_fold_and_the_export_keeps_it(tmp_path):
    data = _toy_h5(tmp_path / "toy.h5", 200, 7)
    out = tmp_path / "spanet"
    assert cli_main(["train", "spanet", "--data", str(data), "--preset", "tiny", "--output", str(out), "--epochs", "1",
                     "--kfold", "2", "--no-progress", "--threads", "1"]) == 0
    models = tmp_path / "models"
    models.mkdir()
    for k in range(2):
        target = models / fold_filename("spanet", "resonant", k)
        assert cli_main(["export-onnx", str(out / f"fold{k}" / "best.pt"), "--output", str(target)]) == 0
        card, _ = load_card(target, "spanet")
        assert card["kfold"] == kfold_card(k, 2) and card["analysis"] == "resonant"
    assert isinstance(open_model(models / model_filename("spanet", "resonant"), kind="spanet"), KFoldModel)
