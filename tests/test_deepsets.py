"""Deep Sets classifier: invariance under jet order and padding, ONNX parity with dynamic axes, the
card contract, learning on a toy with a known signal, and the `hh4b train deepsets` round trip."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from hh4b.cli import main as cli_main
from hh4b.errors import ConfigError, InputFileError
from hh4b.nn.card import check_card, load_card, model_filename, parse_model_filename, read_card, read_graph
from hh4b.nn.data import SpanetH5, write_spanet_h5
from hh4b.nn.deepsets import DEEPSETS_PRESETS, OUTPUTS, DeepSetsClassifier, DeepSetsConfig, export_onnx
from hh4b.nn.export_onnx import example_inputs, input_names
from hh4b.nn.train_deepsets import train_deepsets

TOLERANCE = 1e-5


def _model(pooling: str, n_globals: int, seed: int = 0) -> DeepSetsClassifier:
    """A tiny model with weights and input statistics away from their initial values."""
    torch.manual_seed(seed)
    model = DeepSetsClassifier(DEEPSETS_PRESETS["tiny"].with_(pooling=pooling, n_globals=n_globals)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p += 0.1 * torch.randn_like(p)
    feeds = example_inputs(model, 500, 10, seed=seed + 100)
    model.set_normalisation(feeds["jets"], feeds["mask"], feeds.get("globals"))
    return model


def _logits(model, feeds: dict) -> np.ndarray:
    with torch.no_grad():
        return model(*(torch.as_tensor(feeds[n]) for n in input_names(model))).numpy()


MODELS = [("sum", 0), ("mean", 0), ("sum", 1), ("mean", 1)]
IDS = [f"{p}-{'kappa' if g else 'no-kappa'}" for p, g in MODELS]


@pytest.mark.parametrize(("pooling", "n_globals"), MODELS, ids=IDS)
def test_jet_order_does_not_matter(pooling, n_globals):
    model = _model(pooling, n_globals)
    feeds = example_inputs(model, 300, 10, seed=1)
    rng = np.random.default_rng(2)
    order = np.argsort(rng.random(feeds["mask"].shape), axis=1)  # a different shuffle per event, padding moved too
    shuffled = {**feeds, "jets": np.take_along_axis(feeds["jets"], order[..., None], axis=1),
                "mask": np.take_along_axis(feeds["mask"], order, axis=1)}
    assert (shuffled["mask"] != feeds["mask"]).any()  # padding now sits between real jets
    before, after = _logits(model, feeds), _logits(model, shuffled)
    assert np.std(before) > 100 * TOLERANCE  # the outputs depend on the event
    assert np.max(np.abs(before - after)) < TOLERANCE


@pytest.mark.parametrize(("pooling", "n_globals"), MODELS, ids=IDS)
def test_masked_jets_do_not_matter_whatever_they_hold(pooling, n_globals):
    model = _model(pooling, n_globals)
    feeds = example_inputs(model, 300, 7, seed=3)
    want = _logits(model, feeds)
    rng = np.random.default_rng(4)
    garbage = rng.normal(0, 1e4, (300, 9, 5)).astype(np.float32)
    garbage[:, 0], garbage[:, 1, 0], garbage[:, 2, 3] = np.nan, np.inf, -np.inf
    jets = feeds["jets"].copy()
    jets[~feeds["mask"]] = rng.normal(0, 1e3, (int((~feeds["mask"]).sum()), 5))  # the original padding too
    for extra in (np.zeros_like(garbage), garbage):
        padded = {**feeds, "jets": np.concatenate([jets, extra], axis=1),
                  "mask": np.concatenate([feeds["mask"], np.zeros((300, 9), dtype=bool)], axis=1)}
        got = _logits(model, padded)
        assert np.isfinite(got).all() and np.max(np.abs(got - want)) < TOLERANCE
    changed = {**feeds, "mask": feeds["mask"].copy()}
    changed["mask"][:, 3] = False  # dropping a real jet does change the output
    assert np.max(np.abs(_logits(model, changed) - want)) > 1e-3


@pytest.fixture(scope="module", params=[("sum", 1), ("mean", 0)], ids=["sum-kappa", "mean-no-kappa"])
def exported(request, tmp_path_factory):
    model = _model(*request.param, seed=5)
    path = tmp_path_factory.mktemp("deepsets") / model_filename("deepsets", "resonant")
    card = export_onnx(model, path, {"analysis": "resonant", "preset": "tiny"})
    return model, path, card


@pytest.mark.parametrize("n_jets", [4, 7, 10, 16])
@pytest.mark.parametrize("n_batch", [1, 1000])
def test_onnx_matches_torch(exported, n_jets, n_batch):
    model, path, _ = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = example_inputs(model, n_batch, n_jets, seed=n_jets * 7 + n_batch)
    probability, logit = session.run(list(OUTPUTS), feeds)
    want = _logits(model, feeds)
    assert logit.shape == probability.shape == (n_batch,)
    np.testing.assert_allclose(logit, want, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(probability, 1 / (1 + np.exp(-want.astype(np.float64))), atol=TOLERANCE, rtol=0)


def test_graph_signature(exported):
    model, path, _ = exported
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == input_names(model) and [o.name for o in graph.output] == list(OUTPUTS)
    jets = graph.input[0].type.tensor_type.shape.dim
    assert jets[0].dim_param and jets[1].dim_param and jets[2].dim_value == 5


def test_card_round_trip_and_its_checks(exported, tmp_path):
    model, path, card = exported
    on_disk = read_card(path)
    assert on_disk == json.loads(json.dumps(card))
    assert (on_disk["model"], on_disk["pooling"], on_disk["n_globals"]) == \
        ("deepsets", model.config.pooling, model.config.n_globals)
    assert on_disk["inputs"]["jets"] == ["pt", "eta", "phi", "mass", "btag"]
    assert DeepSetsConfig(**on_disk["config"]) == model.config
    load_card(path, "deepsets")
    assert parse_model_filename(path) == ("deepsets", "resonant")
    graph = read_graph(path)
    name = path.with_suffix(".json").name
    with pytest.raises(ConfigError, match=rf"^\S*{name}: field 'pooling' is 'max': choose from sum, mean$"):
        check_card({**on_disk, "pooling": "max"}, graph, "deepsets")
    wrong = 1 - model.config.n_globals
    with pytest.raises(ConfigError, match=rf"{name}: field 'n_globals' is 0 but|onnx: card declares 1 global input"):
        check_card({**on_disk, "n_globals": wrong}, graph, "deepsets")
    with pytest.raises(InputFileError, match=rf"{name}: not a deepsets card \(missing field 'pooling'"):
        check_card({k: v for k, v in on_disk.items() if k != "pooling"}, graph, "deepsets")
    with pytest.raises(ConfigError, match="graph expects 5 features, card names 4"):
        check_card({**on_disk, "inputs": {**on_disk["inputs"], "jets": ["pt", "eta", "phi", "mass"]}}, graph,
                   "deepsets")
    with pytest.raises(ConfigError, match=r"model does not match its use: missing inputs -, missing outputs \['assign"):
        check_card(on_disk, graph, "spanet")  # a Deep Sets model is not taken for SPA-NET


def _pairs(rng, mass: np.ndarray) -> np.ndarray:
    """(n, 2, 3) (pt, eta, phi) of two massless jets of invariant mass `mass`, both with 20 < pT < 400 GeV."""
    out = np.zeros((len(mass), 2, 3))
    todo = np.arange(len(mass))
    while len(todo):
        pt1 = 30 + rng.exponential(60, len(todo))
        eta, phi = rng.uniform(-2.5, 2.5, (len(todo), 2)), rng.uniform(-np.pi, np.pi, (len(todo), 2))
        pt2 = mass[todo] ** 2 / (2 * pt1 * (np.cosh(eta[:, 0] - eta[:, 1]) - np.cos(phi[:, 0] - phi[:, 1])))
        ok = (pt2 > 20) & (pt2 < 400)
        out[todo[ok]] = np.stack([np.stack([pt1, eta[:, 0], phi[:, 0]], -1),
                                  np.stack([pt2, eta[:, 1], phi[:, 1]], -1)], 1)[ok]
        todo = todo[~ok]
    return out


def _toy_file(path, n: int, seed: int, width: int = 8, kappa: bool = False):
    """Events of two jet pairs, at 125 GeV for signal and flat in 30-400 GeV for background, plus
    0-4 extra jets drawn alike for both; pT-ordered, zero-padded to `width`."""
    rng = np.random.default_rng(seed)
    signal = np.arange(n) % 2
    pairs = [_pairs(rng, np.where(signal == 1, 125.0, rng.uniform(30, 400, n))) for _ in range(2)]
    extra = np.stack([20 + rng.exponential(30, (n, width - 4)), rng.uniform(-2.5, 2.5, (n, width - 4)),
                      rng.uniform(-np.pi, np.pi, (n, width - 4))], -1)
    kinematics = np.concatenate([*pairs, extra], axis=1)
    real = np.arange(width) < 4 + rng.integers(0, width - 3, (n, 1))
    btag = rng.random((n, width)) < np.where(np.arange(width) < 4, 0.8, 0.2)
    jets = np.concatenate([kinematics, rng.uniform(2, 15, (n, width, 1)), btag[..., None]], axis=-1) * real[..., None]
    order = np.argsort(-jets[..., 0], axis=1, kind="stable")
    kappa_lambda = rng.choice([-2.0, 1.0, 5.0], n) if kappa else None
    write_spanet_h5(path, np.take_along_axis(jets, order[..., None], 1), np.take_along_axis(real, order, 1),
                    np.full((n, 2, 2), -1), signal, np.ones(n), kappa=kappa_lambda)
    return path


def test_training_separates_the_toy_signal(tmp_path):
    """Chance gives AUC 0.5 +- 0.01 on 4000 validation events; the tiny preset reaches about 0.71."""
    torch.set_num_threads(1)
    train, valid = (SpanetH5(_toy_file(tmp_path / f"{name}.h5", n, seed)) for name, n, seed in
                    (("train", 8000, 11), ("valid", 4000, 12)))
    model, metrics = train_deepsets(train, valid, DEEPSETS_PRESETS["tiny"], seed=1, progress=False)
    assert metrics["auc"] > 0.65 and metrics["accuracy"] > 0.6
    assert metrics["history"][metrics["best_epoch"]]["valid_loss"] == metrics["valid_loss"] < np.log(2)
    again, _ = train_deepsets(train, valid, DEEPSETS_PRESETS["tiny"].with_(epochs=2), seed=1, progress=False)
    first, _ = train_deepsets(train, valid, DEEPSETS_PRESETS["tiny"].with_(epochs=2), seed=1, progress=False)
    for a, b in zip(again.state_dict().values(), first.state_dict().values()):
        assert torch.equal(a, b)  # same seed, same model


def test_train_cli_writes_a_checked_model_and_card(tmp_path, capsys):
    data = _toy_file(tmp_path / "toy.h5", 1200, 13, kappa=True)
    out = tmp_path / "models"
    argv = ["train", "deepsets", "--data", str(data), "--preset", "tiny", "--output", str(out), "--epochs", "2",
            "--valid-fraction", "0.25", "--no-progress", "--threads", "1"]
    assert cli_main(argv) == 0
    path = out / model_filename("deepsets", "tiny")
    card, graph = load_card(path, "deepsets")
    assert card["n_globals"] == 1 and "globals" in graph.inputs and card["inputs"]["globals"] == ["kappa_lambda"]
    assert card["preset"] == "tiny" and card["training_data"] == str(data) and card["command"].startswith("hh4b")
    assert 0 <= card["metrics"]["auc"] <= 1 and "analysis" not in card
    assert cli_main([*argv[:5], "huge", *argv[6:]]) == 2
    assert "--preset 'huge': choose from resonant, nonresonant, tiny" in capsys.readouterr().err
