"""The background model in the processor: per-event columns for any centre, ONNX reweighters
applied per chunk equal the torch computation on the saved columns, bad model directories fail
at start-up, and `hh4b background` end to end."""

import json
import shutil

import numpy as np
import pytest

from hh4b.analysis.processing import load_fileset, process_fileset
from hh4b.analysis.processor import HH4bProcessor
from hh4b.analysis.selection import region_codes
from hh4b.background.datadriven import bkgmodel_histogram, gather_columns, save_models, train_models
from hh4b.background.model import HIST_NAME
from hh4b.background.reweighter import ReweightConfig
from hh4b.cli import main as cli_main
from hh4b.config import DEFAULT, AnalysisConfig
from hh4b.constants import ATLAS_HH_CENTRE, DHH_CENTRE
from hh4b.errors import ConfigError, InputFileError

from toys import hh_events, write_nanoaod

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
TINY = ReweightConfig(hidden=16, layers=2, epochs=3, patience=2)


@pytest.fixture(scope="module")
def multijet_fileset(tmp_path_factory):
    """A toy 'qcd4b' dataset: h -> bb pairs with tag inefficiency, so 2b, 3b and 4b events fill the
    mass-plane regions (3 files, 4000 events each)."""
    folder = tmp_path_factory.mktemp("multijet")
    files = {}
    for seed in (11, 12, 13):
        path = folder / f"mj{seed}.root"
        write_nanoaod(path, hh_events(4000, 300.0, seed))
        files[str(path)] = "Events"
    fileset = {"qcd4b": {"files": files, "metadata": {"process": "qcd4b", "xsec_pb": 2.0, "sumw": 12000.0,
                                                      "n_events": 12000, "btag_wp": "70", "sqrt_s": 14000}}}
    path = folder / "fileset.json"
    path.write_text(json.dumps(fileset))
    return path


def _run(fileset, config=DEFAULT, **options):
    proc = HH4bProcessor(config, methods=("cut_mindr",), **options)
    return process_fileset(load_fileset(fileset), proc, "iterative", chunksize=2500, progress=False)


@pytest.fixture(scope="module")
def exported(multijet_fileset, tmp_path_factory):
    """Torch models trained on the processor's columns and their ONNX export."""
    columns = gather_columns(_run(multijet_fileset, save_columns=True))
    models = train_models(columns, n_ensemble=2, config=TINY, seed=3)
    directory = tmp_path_factory.mktemp("bkg") / "models"
    save_models(models, directory, "cut_mindr", card={"process": "qcd4b", "trained_on": ["qcd4b"], "seed": 3,
                                                      "dhh_centre": list(DHH_CENTRE), "btag_wp": "70"})
    return columns, models, directory


@pytest.mark.parametrize("centre", [DHH_CENTRE, ATLAS_HH_CENTRE])
def test_columns_follow_the_processor_centre(multijet_fileset, centre):
    cols = gather_columns(_run(multijet_fileset, AnalysisConfig(dhh_centre=centre), save_columns=True))
    np.testing.assert_array_equal(cols["mass_region"], region_codes(cols["mh1"], cols["mh2"], centre))
    np.testing.assert_array_equal(cols["region"], np.where(cols["veto_ok"], cols["mass_region"], 0))
    assert (cols["region"] > 0).sum() > 50 and (~cols["veto_ok"]).any()
    other = ATLAS_HH_CENTRE if centre == DHH_CENTRE else DHH_CENTRE
    assert (cols["mass_region"] != region_codes(cols["mh1"], cols["mh2"], other)).any()


def test_processor_fill_equals_torch_on_the_columns(multijet_fileset, exported):
    columns, models, directory = exported
    h = _run(multijet_fileset, background_model=directory)["hists"][HIST_NAME]
    reference = bkgmodel_histogram(columns, models, "cut_mindr")
    assert list(h.axes["variation"]) == ["nominal", "cr_alt", "ensemble_0", "ensemble_1"]
    for variation in reference.axes["variation"]:
        for region in ("SR", "VR", "CR"):
            idx = {"method": "cut_mindr", "region": region, "variation": variation, "tags": "2b", "dataset": "qcd4b"}
            got, ref = h[idx], reference[idx]
            assert ref.values().sum() > 0
            np.testing.assert_allclose(got.values(), ref.values(), rtol=1e-5, atol=0)
            np.testing.assert_allclose(got.variances(), ref.variances(), rtol=2e-5, atol=0)
    # the CR normalisation: reweighted two-tag yield = four-tag yield where the model was trained
    cr4 = columns["weight"][(columns["region"] == 3) & (columns["tags"] == 4)].sum()
    nominal_cr = h[{"method": "cut_mindr", "region": "CR", "variation": "nominal", "tags": "2b", "dataset": sum}]
    assert nominal_cr.values().sum() == pytest.approx(cr4, rel=1e-5)


def test_bad_model_directories_fail_at_start_up(exported, tmp_path):
    _, _, directory = exported
    with pytest.raises(InputFileError, match="background model directory not found"):
        HH4bProcessor(methods=("cut_mindr",), background_model=tmp_path / "nothing")
    with pytest.raises(ConfigError, match="processor does not run"):
        HH4bProcessor(methods=("cut_dhh",), background_model=directory)
    with pytest.raises(ConfigError, match="centre"):
        HH4bProcessor(AnalysisConfig(dhh_centre=ATLAS_HH_CENTRE), methods=("cut_mindr",), background_model=directory)
    with pytest.raises(ConfigError, match="b-tag WP 70"):
        HH4bProcessor(AnalysisConfig(btag_wp="77"), methods=("cut_mindr",), background_model=directory)
    broken = tmp_path / "broken"
    shutil.copytree(directory, broken)
    (broken / "cut_mindr" / "nominal.onnx").unlink()
    with pytest.raises(InputFileError, match="no nominal.onnx"):
        HH4bProcessor(methods=("cut_mindr",), background_model=broken)
    card = broken / "cut_mindr" / "cr_alt.json"
    card.write_text(json.dumps({**json.loads(card.read_text()), "inputs": {"features": ["h1_pt", "mhh"]}}))
    with pytest.raises(ConfigError, match="not per-event reweighting columns"):
        HH4bProcessor(methods=("cut_mindr",), background_model=broken)


@pytest.mark.slow
def test_background_cli_trains_exports_and_fills_through_the_processor(multijet_fileset, tmp_path):
    from coffea.util import load

    from hh4b.stats.outputs import datadriven_background, load_output

    out = tmp_path / "run"
    assert cli_main(["run", str(multijet_fileset), "--executor", "iterative", "--methods", "cut_mindr", "--no-nn",
                     "--save-columns", "--no-progress", "--output", str(out)]) == 0
    assert cli_main(["background", str(out), "--ensemble", "2", "--epochs", "3", "--workers", "1"]) == 0
    cards = sorted(p.name for p in (out / "background" / "models" / "cut_mindr").glob("*.json"))
    assert cards == ["cr_alt.json", "ensemble_0.json", "ensemble_1.json", "nominal.json"]
    card = json.loads((out / "background" / "models" / "cut_mindr" / "nominal.json").read_text())
    assert card["process"] == "qcd4b" and card["outputs"] == ["log_ratio"] and card["norm"] > 0
    h = load(out / "output.coffea")["hists"][HIST_NAME]
    assert list(h.axes["variation"]) == ["nominal", "cr_alt", "ensemble_0", "ensemble_1"]
    template = json.loads((out / "background" / "template_cut_mindr.json").read_text())
    assert template["processor_vs_torch_max_rel_diff"] < 1e-5
    rows = {r["region"]: r for r in json.loads((out / "background" / "validation_cut_mindr.json").read_text())}
    assert {"CR", "VR", "SR_deta_reversed", "SR", "3b_SR", "3b_VR", "shift_lower_left"} <= set(rows)
    assert rows["CR"]["predicted"] == pytest.approx(rows["CR"]["observed"], rel=1e-5)
    edges, nominal, ensemble, others, replaced = datadriven_background(load_output(out), "cut_mindr")
    assert nominal.yields.sum() > 0 and ensemble.shape[0] == 2 and "cr_alt" in others and replaced == ["qcd4b"]
