"""SPA-NET ONNX export: dynamic batch and jet axes, torch agreement, card, CLI round trip."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from hh4b.cli import main as cli_main
from hh4b.nn.export_onnx import OUTPUTS, example_inputs, export_spanet, input_names
from hh4b.nn.spanet import SPANET_PRESETS, Spanet, load_checkpoint, save_checkpoint


def _model(n_globals: int, seed: int = 0) -> Spanet:
    torch.manual_seed(seed)
    model = Spanet(SPANET_PRESETS["tiny"].with_(n_globals=n_globals)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p += 0.05 * torch.randn_like(p)
    model.jet_mean[0], model.jet_scale[0] = 4.0, 0.7
    return model


@pytest.fixture(scope="module", params=[1, 0], ids=["globals", "no-globals"])
def exported(request, tmp_path_factory):
    model = _model(request.param)
    path = tmp_path_factory.mktemp("onnx") / "spanet.onnx"
    card = export_spanet(model, path, {"preset": "tiny"})
    return model, path, card


@pytest.mark.parametrize("n_jets", [4, 7, 10, 16])
@pytest.mark.parametrize("n_batch", [1, 1000])
def test_onnx_matches_torch(exported, n_jets, n_batch):
    model, path, _ = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = example_inputs(model, n_batch, n_jets, seed=n_jets * 7 + n_batch)
    out = dict(zip(OUTPUTS, session.run(list(OUTPUTS), feeds)))
    with torch.no_grad():
        ref = dict(zip(OUTPUTS, (t.numpy() for t in model(*(torch.as_tensor(feeds[n]) for n in input_names(model))))))
    assert out["pair_log_prob"].shape == (n_batch, 2, n_jets, n_jets)
    real = ref["pair_log_prob"] > -1e8
    np.testing.assert_allclose(out["pair_log_prob"][real], ref["pair_log_prob"][real], atol=1e-5, rtol=0)
    assert (out["pair_log_prob"][~real] < -1e8).all()
    np.testing.assert_allclose(out["signal_probability"], ref["signal_probability"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["embedding"], ref["embedding"], atol=1e-5, rtol=0)
    assert out["assignment"].dtype == np.int64 and np.array_equal(out["assignment"], ref["assignment"])
    chosen = np.take_along_axis(feeds["mask"], out["assignment"].reshape(n_batch, 4), axis=1)
    assert chosen.all()


def test_graph_signature_and_card(exported):
    model, path, card = exported
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == input_names(model)
    assert [o.name for o in graph.output] == list(OUTPUTS)
    jets_dims = graph.input[0].type.tensor_type.shape.dim
    assert jets_dims[0].dim_param and jets_dims[1].dim_param and jets_dims[2].dim_value == 5
    assert max(o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx")) >= 17
    on_disk = json.loads(path.with_suffix(".json").read_text())
    assert on_disk["inputs"]["jets"] == ["pt", "eta", "phi", "mass", "btag"]
    assert ("globals" in on_disk["inputs"]) == bool(model.config.n_globals)
    assert on_disk["jet_range"] == [4, 16] and on_disk["preset"] == "tiny"
    assert on_disk["verification"]["16"]["assignment"] == 0 and card["verification"][16]["pair_log_prob"] < 1e-5


def test_export_cli_round_trip(tmp_path):
    model = _model(1, seed=4)
    save_checkpoint(tmp_path / "best.pt", model, preset="tiny", data="toy.h5", seed=4, epoch=0, metrics={})
    out = tmp_path / "models" / "spanet_test.onnx"
    assert cli_main(["export-onnx", str(tmp_path / "best.pt"), "--output", str(out)]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training_data"] == "toy.h5" and card["command"].startswith("hh4b")
    reloaded, _ = load_checkpoint(tmp_path / "best.pt")
    assert torch.equal(reloaded.jet_scale, model.jet_scale)


def test_export_cli_bad_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    assert cli_main(["export-onnx", str(bad), "--output", str(tmp_path / "x.onnx")]) == 2
    assert "bad.pt" in capsys.readouterr().err
