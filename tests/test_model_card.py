"""The model contract (hh4b.nn.card, hh4b.nn.inputs): one file-name function, one card writer and
checker, and one SPA-NET input builder shared by the training export and the processor."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from hh4b.analysis.events import btag_options, higgs_b_quarks, read_jets
from hh4b.analysis.features import RESONANT_FEATURES
from hh4b.analysis.inference import DeepSetsScorer, DNNScorer, OnnxModel
from hh4b.analysis.methods import SpanetModel
from hh4b.analysis.processing import load_fileset
from hh4b.constants import SPANET_MAX_JETS
from hh4b.errors import ConfigError, InputFileError
from hh4b.nn import export_h5
from hh4b.nn.card import (
    MODEL_FILES,
    card_analysis,
    check_card,
    model_filename,
    parse_model_filename,
    read_card,
    read_graph,
    write_card,
)
from hh4b.nn.dnn import DenseClassifier, export_onnx
from hh4b.nn.export_onnx import export_spanet
from hh4b.nn.spanet import SPANET_PRESETS, Spanet

SHIPPED = Path(__file__).resolve().parents[1] / "models"


@pytest.fixture(scope="module")
def spanet_file(tmp_path_factory):
    torch.manual_seed(2)
    path = tmp_path_factory.mktemp("card") / model_filename("spanet", "resonant")
    export_spanet(Spanet(SPANET_PRESETS["tiny"]).eval(), path, {"analysis": "resonant"})
    return path


@pytest.fixture(scope="module")
def dnn_file(tmp_path_factory):
    torch.manual_seed(3)
    path = tmp_path_factory.mktemp("card") / model_filename("dnn_mindr", "resonant")
    export_onnx(DenseClassifier(len(RESONANT_FEATURES), hidden=8, layers=1).eval(), RESONANT_FEATURES, path,
                {"preset": "resonant", "pairing": "mindr"})
    return path


def test_model_filename_and_its_inverse():
    assert model_filename("spanet", "resonant") == "spanet_resonant.onnx"
    assert model_filename("dnn_mindr", "nonresonant") == "dnn_mindr_nonresonant.onnx"
    for kind in MODEL_FILES:
        for analysis in ("resonant", "nonresonant", "tiny"):
            assert parse_model_filename(Path("models") / model_filename(kind, analysis)) == (kind, analysis)
    assert parse_model_filename("models/dnn_spanet_resonant.json") == ("dnn_spanet", "resonant")
    assert parse_model_filename("dnn.onnx") is None and parse_model_filename("bdt_resonant.onnx") is None
    with pytest.raises(ConfigError, match="model kind 'bdt'"):
        model_filename("bdt", "resonant")


def test_the_shipped_models_load_unchanged():
    for kind in MODEL_FILES:
        for analysis in ("resonant", "nonresonant"):
            path = SHIPPED / model_filename(kind, analysis)
            card = read_card(path)
            assert card_analysis(card, path) == analysis
            if kind in ("spanet", "deepsets"):
                model = SpanetModel(path) if kind == "spanet" else DeepSetsScorer(path)
                assert model.n_globals == (analysis == "nonresonant")
            else:
                assert DNNScorer(path).feature_names == tuple(card["inputs"]["features"])


def test_card_analysis_prefers_the_card_over_the_file_name(tmp_path):
    assert card_analysis({"analysis": "nonresonant"}, tmp_path / "spanet_resonant.json") == "nonresonant"
    assert card_analysis({"model": "dnn", "preset": "resonant"}, tmp_path / "dnn_mindr_nonres.json") == "resonant"
    assert card_analysis({"model": "spanet", "preset": "compact"}, tmp_path / "spanet_nonresonant.json") == \
        "nonresonant"
    assert card_analysis({"model": "spanet"}, tmp_path / "other.json") == "resonant"


def test_written_cards_carry_the_contract(spanet_file, dnn_file):
    spanet, dnn = read_card(spanet_file), read_card(dnn_file)
    assert (spanet["model"], spanet["analysis"], spanet["n_globals"]) == ("spanet", "resonant", 0)
    assert list(spanet["inputs"]) == ["jets", "mask"] == list(read_graph(spanet_file).inputs)
    assert (dnn["model"], dnn["inputs"]["features"], dnn["outputs"]) == \
        ("dnn", list(RESONANT_FEATURES), ["signal_probability"])
    assert card_analysis(dnn, dnn_file) == "resonant"


def _copy(path: Path, folder: Path, card: dict) -> Path:
    target = folder / path.name
    shutil.copy(path, target)
    target.with_suffix(".json").write_text(json.dumps(card))
    return target


def test_a_card_that_does_not_match_its_graph_names_file_and_field(spanet_file, dnn_file, tmp_path):
    card = read_card(spanet_file)
    bad = _copy(spanet_file, tmp_path, {**card, "outputs": [*card["outputs"], "logits"]})
    with pytest.raises(ConfigError, match=r"spanet_resonant.json: field 'outputs' names \['logits'\]"):
        OnnxModel(bad)
    bad = _copy(spanet_file, tmp_path, {**card, "n_globals": 1})
    with pytest.raises(ConfigError, match="card declares 1 global inputs, graph has none"):
        SpanetModel(bad)
    bad = _copy(dnn_file, tmp_path, {**read_card(dnn_file), "model": "reweighter"})
    with pytest.raises(ConfigError, match="dnn_mindr_resonant.json: field 'model' is 'reweighter'"):
        DNNScorer(bad)
    with pytest.raises(InputFileError, match=r"dnn_mindr_resonant.json: not a reweighter card .*'method'"):
        check_card({**read_card(dnn_file), "model": "reweighter"}, read_graph(dnn_file), "reweighter")
    with pytest.raises(ConfigError, match="graph expects 16 features, card names 1"):
        write_card(tmp_path / dnn_file.name, {**read_card(dnn_file), "inputs": {"features": ["h1_pt"]}})


@pytest.mark.parametrize("dataset", ["resonant_M500", "qcd", "ttbar"])
def test_training_export_and_serving_build_the_same_spanet_inputs(small_fileset, spanet_file, dataset):
    """The arrays `hh4b export-h5` writes for SPA-NET training equal the ones the processor feeds
    the SPA-NET ONNX model, event by event, for the same events of the fixture files."""
    entry = load_fileset(small_fileset)[dataset]
    metadata = entry["metadata"]
    path, tree = next(iter(entry["files"].items()))
    events = export_h5._open_events(path, tree, 0, export_h5._n_entries(path, tree))
    exported = export_h5._chunk_arrays(events, metadata, SPANET_MAX_JETS, four_tag=False)

    spanet = SpanetModel(spanet_file)
    fed, run = [], spanet.model.run
    spanet.model.run = lambda feeds, outputs=None, event=None: (fed.append(feeds), run(feeds, outputs, event))[1]
    spanet(read_jets(events, metadata["btag_wp"], btag_options(metadata)))  # as HH4bProcessor.process_chunk
    served = fed[0]

    kept = np.ones(len(events), dtype=bool)  # export-h5 drops signal events with a multiply matched quark
    if metadata["process"] in export_h5.SIGNAL_PROCESSES:
        jets = read_jets(events, metadata["btag_wp"], btag_options(metadata))
        kept = ~export_h5.multi_matched(jets, higgs_b_quarks(events))
    assert 0 < kept.sum() == len(exported["jets"])
    for name in ("jets", "mask"):
        assert exported[name].dtype == served[name].dtype
        np.testing.assert_array_equal(exported[name], served[name][kept])
