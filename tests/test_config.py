"""One AnalysisConfig reaches every stage: the working point, the luminosity and the X_hh centre
changed in the configuration object change the processor's output, the limits' templates, the
background's processor pass and the training export; a configuration file and command-line
options combine as documented; bad values give one-line errors naming the option."""

import argparse
import json
import os

import numpy as np
import pytest

os.environ.setdefault("TQDM_DISABLE", "1")

from hh4b import limits  # noqa: E402
from hh4b.analysis.processing import load_fileset, process_fileset  # noqa: E402
from hh4b.analysis.processor import HH4bProcessor  # noqa: E402
from hh4b.background.datadriven import run_config  # noqa: E402
from hh4b.config import DEFAULT, AnalysisConfig, from_options  # noqa: E402
from hh4b.constants import ATLAS_HH_CENTRE, BTAG_WP_NONRESONANT, BTAG_WP_RESONANT, DHH_CENTRE  # noqa: E402
from hh4b.errors import ConfigError  # noqa: E402
from hh4b.stats.inputs import FitOptions, MethodInputs  # noqa: E402
from hh4b.stats.outputs import load_output  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:jsonschema.RefResolver:DeprecationWarning")


def test_working_point_follows_the_analysis_then_the_metadata():
    assert AnalysisConfig(analysis="resonant").working_point({"btag_wp": "77"}) == BTAG_WP_RESONANT
    assert AnalysisConfig(analysis="nonresonant").working_point({}) == BTAG_WP_NONRESONANT
    assert AnalysisConfig(analysis="nonresonant", btag_wp="70").working_point({}) == "70"
    assert DEFAULT.working_point({"btag_wp": "77", "process": "resonant"}) == "77"
    assert DEFAULT.working_point({"process": "nonresonant"}) == BTAG_WP_NONRESONANT
    assert DEFAULT.fixed_working_point is None


@pytest.mark.parametrize("changes, message", [
    ({"analysis": "both"}, "analysis 'both'"), ({"lumi_fb": 0.0}, "lumi_fb 0.0"),
    ({"dhh_centre": (120.0,)}, "dhh_centre"), ({"kappa_lambda_range": (5.0, -5.0)}, "kappa_lambda_range"),
    ({"fit_max_bins": 0}, "fit_max_bins 0")])
def test_bad_values_are_named(changes, message):
    with pytest.raises(ConfigError, match=message):
        AnalysisConfig(**changes)


def test_file_and_options_combine(tmp_path):
    path = tmp_path / "analysis.json"
    path.write_text(json.dumps({"lumi_fb": 3000.0, "dhh_centre": list(ATLAS_HH_CENTRE), "kappa_step": 0.25}))
    config = from_options(path, lumi_fb=None, btag_wp="77")
    assert (config.lumi_fb, config.dhh_centre, config.kappa_step, config.btag_wp) == (3000.0, ATLAS_HH_CENTRE,
                                                                                       0.25, "77")
    assert from_options(path, lumi_fb=139.0).lumi_fb == 139.0  # the command line wins
    assert AnalysisConfig.from_dict(config.as_dict()) == config
    path.write_text(json.dumps({"lumi": 300}))
    with pytest.raises(ConfigError, match=r"analysis\.json: unknown analysis option 'lumi'"):
        from_options(path)
    parser = argparse.ArgumentParser()
    limits.add_arguments(parser)
    path.write_text(json.dumps({"lumi_fb": 3000.0, "sqrt_s": 13000.0, "projections_fb": [300.0]}))
    options = limits.fit_options(parser.parse_args(["out", "--config", str(path), "--sqrt-s", "14000"]))
    assert (options.config.lumi_fb, options.config.sqrt_s, options.config.projections_fb) == (3000.0, 14000.0,
                                                                                              (300.0,))


@pytest.fixture(scope="module")
def processed(small_fileset):
    """The resonant sample processed with the default configuration and with each choice changed."""
    fileset = {d: e for d, e in load_fileset(small_fileset).items() if d == "resonant_M500"}
    base = AnalysisConfig(analysis="resonant")
    configs = {"base": base, "wp": base.replace(btag_wp=BTAG_WP_NONRESONANT), "lumi": base.replace(lumi_fb=600.0),
               "centre": base.replace(dhh_centre=ATLAS_HH_CENTRE)}
    return configs, {name: process_fileset(fileset, HH4bProcessor(c, methods=("cut_mindr",), save_columns=True),
                                           "iterative", progress=False) for name, c in configs.items()}


def _total(output, name="mhh"):
    return output["hists"][name].sum(flow=True).value


def test_processor_follows_the_configuration(processed):
    configs, out = processed
    assert out["base"]["btag"]["resonant_M500"]["wp"] == BTAG_WP_RESONANT
    assert out["wp"]["btag"]["resonant_M500"]["wp"] == BTAG_WP_NONRESONANT
    four_tag = {k: out[k]["cutflow"]["resonant_M500"]["four_tag"][1] for k in ("base", "wp")}
    assert four_tag["wp"] > four_tag["base"] > 0  # the looser working point tags more events
    assert out["lumi"]["lumi_fb"] == 600.0 and out["base"]["lumi_fb"] == DEFAULT.lumi_fb
    assert _total(out["lumi"]) == pytest.approx(2.0 * _total(out["base"]), rel=1e-9)
    sr = {k: out[k]["hists"]["mhh"][{"region": "SR", "tags": "4b"}].sum(flow=True).value for k in ("base", "centre")}
    assert sr["centre"] != pytest.approx(sr["base"], rel=1e-6)  # the SR moved with the centre
    assert configs["centre"].dhh_centre == ATLAS_HH_CENTRE != DHH_CENTRE


def test_background_pass_rebuilds_the_run_configuration(processed, tmp_path):
    from hh4b.run import add_arguments, run_options

    configs, _ = processed
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    fileset = tmp_path / "fileset.json"
    fileset.write_text("{}")
    args = parser.parse_args([str(fileset)])
    for name, config in configs.items():
        proc = HH4bProcessor(config, methods=("cut_mindr",))
        assert run_config(run_options(args, proc, "id")) == config, name
    older = {"btag_wp": "77", "dhh_centre": list(ATLAS_HH_CENTRE), "lumi_fb": 139.0}  # before the config object
    assert run_config(older) == AnalysisConfig(btag_wp="77", dhh_centre=ATLAS_HH_CENTRE, lumi_fb=139.0)


def test_limits_follow_the_configuration(tmp_path):
    from test_limits_mcstat import LUMI_FB, write_output

    rng = np.random.default_rng(3)
    background = (rng.uniform(250.0, 1500.0, 4000), np.full(4000, 2.5))
    signal = (rng.normal(500.0, 30.0, 2000), np.full(2000, 0.05))
    directory = write_output(tmp_path / "out", background, signal)
    out = load_output(directory)
    inputs = {lumi: MethodInputs(out, "cut_mindr", FitOptions(AnalysisConfig(lumi_fb=lumi)))
              for lumi in (300.0, 3000.0)}
    assert LUMI_FB == 300.0
    for lumi, x in inputs.items():
        assert x.backgrounds["qcd4b"].yields.sum() == pytest.approx(lumi / LUMI_FB * 4000 * 2.5, rel=1e-9)
    few = MethodInputs(out, "cut_mindr", FitOptions(AnalysisConfig(fit_max_bins=3), max_mc_uncertainty=1.0))
    assert few.edges.size - 1 <= 3 < inputs[300.0].edges.size - 1
    reports = {}
    for lumi in (300.0, 3000.0):
        reports[lumi] = tmp_path / f"limits_{lumi:g}"
        options = FitOptions(AnalysisConfig(lumi_fb=lumi, sqrt_s=13000.0, projections_fb=()), staterror=False,
                             progress=False)
        assert limits.run_limits(directory, options, report=reports[lumi]) == 0
    rows = {lumi: json.loads((r / "resonant_limits.json").read_text())[0] for lumi, r in reports.items()}
    assert rows[300.0]["lumi_fb"] == 300.0 and rows[3000.0]["lumi_fb"] == 3000.0
    # background-dominated without MC uncertainties: the limit falls as 1 / sqrt(luminosity)
    assert rows[300.0]["expected"] / rows[3000.0]["expected"] == pytest.approx(np.sqrt(10.0), rel=0.08)


def test_training_export_follows_the_configuration(small_fileset):
    from hh4b.nn.export_h5 import assign_kappa, build

    fileset = {d: e for d, e in load_fileset(small_fileset).items() if d == "resonant_M500"}
    events = {wp: build(fileset, progress=False, config=AnalysisConfig(btag_wp=wp))["summary"]["resonant_M500"]
              ["events"] for wp in (BTAG_WP_RESONANT, BTAG_WP_NONRESONANT)}
    assert events[BTAG_WP_NONRESONANT] > events[BTAG_WP_RESONANT] > 0  # four-tag events at each working point
    data = {"signal": np.ones(200)}
    kappa, factor = assign_kappa(data, {"process": "resonant"}, np.random.default_rng(0), points=(2.0, 7.0))
    assert set(np.unique(kappa)) == {2.0, 7.0} and np.all(factor == 1.0)
