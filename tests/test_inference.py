"""ONNX inference as the processor uses it: parity with torch, pickling, start-up checks."""

import pickle

import numpy as np
import pytest
import torch

from hh4b.analysis.features import RESONANT_FEATURES
from hh4b.analysis.inference import DNNScorer, OnnxModel
from hh4b.errors import ConfigError, InputFileError
from hh4b.nn.dnn import DenseClassifier, export_onnx


@pytest.fixture(scope="module")
def dnn_file(tmp_path_factory):
    torch.manual_seed(0)
    model = DenseClassifier(len(RESONANT_FEATURES), hidden=16, layers=2)
    rng = np.random.default_rng(0)
    model.set_standardisation(rng.normal(100, 30, size=(500, len(RESONANT_FEATURES))))
    path = tmp_path_factory.mktemp("models") / "dnn_test.onnx"
    export_onnx(model, RESONANT_FEATURES, path, card={"preset": "test"})
    return model, path


def _columns(n, seed=1):
    rng = np.random.default_rng(seed)
    return {name: rng.normal(100, 30, n).astype(np.float32) for name in RESONANT_FEATURES}


def test_scores_match_torch_across_batches(dnn_file):
    model, path = dnn_file
    scorer = DNNScorer(path)
    scorer.model.batch_size = 300  # several batches, last one partial
    columns = _columns(1000)
    onnx_scores = scorer(columns)
    x = torch.as_tensor(np.stack([columns[n] for n in RESONANT_FEATURES], axis=1))
    with torch.no_grad():
        torch_scores = model(x).numpy()
    np.testing.assert_allclose(onnx_scores, torch_scores, atol=1e-5)
    assert scorer({n: v[:0] for n, v in columns.items()}).shape == (0,)


def test_model_pickles_without_its_session(dnn_file):
    _, path = dnn_file
    scorer = DNNScorer(path)
    first = scorer(_columns(10))
    assert scorer.model._session is not None
    clone = pickle.loads(pickle.dumps(scorer))
    assert clone.model._session is None  # each worker makes its own
    np.testing.assert_array_equal(clone(_columns(10)), first)


def test_card_with_wrong_feature_count_fails_at_start(dnn_file, tmp_path):
    _, path = dnn_file
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(path.read_bytes())
    bad.with_suffix(".json").write_text('{"inputs": {"features": ["h1_pt", "h2_pt"]}}')
    with pytest.raises(ConfigError, match="expects 16 features, card names 2"):
        DNNScorer(bad)


def test_missing_card_and_damaged_file_are_named(dnn_file, tmp_path):
    _, path = dnn_file
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(path.read_bytes())
    with pytest.raises(InputFileError, match="lonely.json not found"):
        OnnxModel(lonely)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    broken.with_suffix(".json").write_text("{}")
    with pytest.raises(InputFileError, match="broken.onnx: not a readable ONNX model"):
        OnnxModel(broken)


def test_model_used_for_the_wrong_job_fails_at_start(dnn_file):
    _, path = dnn_file
    with pytest.raises(ConfigError, match="missing inputs \\['jets', 'mask'\\]"):
        OnnxModel(path).require(("jets", "mask"), ("signal_probability",))
