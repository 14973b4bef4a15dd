"""The limits stage with MC statistical uncertainties: labels, convergence, plain-pyhf refits,
luminosity scaling with ample and scarce MC, binning within the MC bound, clear errors."""

import argparse
import json
import os

import hist
import numpy as np
import pyhf
import pytest
from coffea.util import save

os.environ.setdefault("TQDM_DISABLE", "1")

from hh4b import limits  # noqa: E402
from hh4b.constants import BR_HH_4B, FIT_MAX_MC_UNCERTAINTY  # noqa: E402
from hh4b.errors import ConfigError, HH4bError  # noqa: E402
from hh4b.stats import results  # noqa: E402
from hh4b.stats.binning import mc_merged_edges, relative_mc_uncertainty  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:jsonschema.RefResolver:DeprecationWarning")

EDGES = np.concatenate([np.arange(200.0, 1000.0, 50.0), np.arange(1000.0, 2001.0, 250.0)])
LUMI_FB = 300.0
XSEC_PB = 0.5


def _mhh():
    return hist.Hist(hist.axis.StrCategory([], name="dataset", growth=True),
                     hist.axis.StrCategory(["SR", "VR", "CR"], name="region"),
                     hist.axis.StrCategory(["2b", "3b", "4b"], name="tags"),
                     hist.axis.StrCategory([], name="method", growth=True),
                     hist.axis.Variable(EDGES, name="mhh"), storage=hist.storage.Weight())


def write_output(directory, background, signal, mass=500, br=BR_HH_4B):
    """An output.coffea with one resonant signal and one qcd4b background, each given as
    (m_hh values, weights) of its MC events in the SR four-tag category of method cut_mindr."""
    h = _mhh()
    for dataset, (m, w) in (("qcd4b", background), (f"resonant_M{mass}", signal)):
        h.fill(dataset=dataset, region="SR", tags="4b", method="cut_mindr", mhh=m, weight=w)
    meta = {f"resonant_M{mass}": {"process": "resonant", "mass": mass, "xsec_pb": XSEC_PB, "br_forced": br},
            "qcd4b": {"process": "qcd4b", "xsec_pb": 1e3}, "lumi_fb": LUMI_FB, "sqrt_s": 13000.0}
    directory.mkdir(parents=True, exist_ok=True)
    save({"hists": {"mhh": h}, "cutflow": {}, "truth": {}, "metadata": meta, "bookkeeping": {}},
         str(directory / "output.coffea"))
    return directory


def run(directory, *options):
    parser = argparse.ArgumentParser()
    limits.add_arguments(parser)
    report = directory / "limits"
    args = parser.parse_args([str(directory), "--report", str(report), "--lumi", str(LUMI_FB), "--sqrt-s", "13000",
                              "--no-progress", *options])
    assert limits.main(args) == 0
    return report


def _rows(report, name="resonant_limits"):
    return json.loads((report / f"{name}.json").read_text())


def _falling(n, seed, weight):
    rng = np.random.default_rng(seed)
    m = np.clip(250.0 + rng.exponential(200.0, n), 201.0, 1999.0)
    return m, np.full(n, weight)


def _peak(n, mass, weight, seed=1):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(mass, 0.06 * mass, n), 201.0, 1999.0), np.full(n, weight)


def test_sigma_limit_times_br_is_the_sigma_br_limit_and_the_event_count_limit(tmp_path):
    signal = _peak(4000, 500, 0.01)  # 40 selected events at the generated sigma x BR
    report = run(write_output(tmp_path, _falling(200000, 2, 0.05), signal), "--projections")
    row = _rows(report)[0]
    assert row["br_4b"] == pytest.approx(BR_HH_4B)
    assert row["sigma_assumed_fb"] == pytest.approx(XSEC_PB * 1000.0 / BR_HH_4B)
    assert row["expected"] * BR_HH_4B == pytest.approx(row["expected_sigma_br_fb"], rel=1e-12)
    efficiency = signal[1].sum() / (XSEC_PB * 1000.0 * LUMI_FB)  # selected / produced sigma x BR events
    event_limit = row["mu_expected"] * signal[1].sum()
    assert row["expected"] * BR_HH_4B * LUMI_FB * efficiency == pytest.approx(event_limit, rel=1e-9)


def _heavy_weight_background():
    """Four regions of a weighted background, a few heavy-weight MC events in each: yields
    (921, 5622, 1491, 240) with MC uncertainties (37, 19, 31, 58)%: the binned background of the
    default sample at m_H = 1000 on which scipy's SLSQP stopped with staterror kept."""
    centres, yields, counts = (300.0, 500.0, 800.0, 1100.0), (921.0, 5622.0, 1491.0, 240.0), (7, 28, 10, 3)
    m = np.concatenate([np.full(n, c) for c, n in zip(centres, counts)])
    w = np.concatenate([np.full(n, y / n) for y, n in zip(yields, counts)])
    return m, w


def test_heavy_weight_background_converges_and_plain_pyhf_refits_the_saved_workspace(tmp_path):
    signal = _peak(3000, 1000, 0.24 / 3000, seed=3)  # 0.24 events at mu = 1: the limit is far above 100
    report = run(write_output(tmp_path, _heavy_weight_background(), signal, mass=1000), "--projections")
    row = _rows(report)[0]
    assert row["staterror"] and np.isfinite(row["expected"]) and row["mu_expected"] > 100.0
    bins = _rows(report, "fit_bins")
    assert all(b["mc_rel_uncertainty"] <= FIT_MAX_MC_UNCERTAINTY + 1e-12 for b in bins)
    spec = json.loads((report / "workspaces" / "resonant_cut_mindr_M1000.json").read_text())
    assert any(m["type"] == "staterror" for s in spec["channels"][0]["samples"] for m in s["modifiers"])
    pyhf.set_backend("numpy")  # plain pyhf, its default optimiser
    workspace = pyhf.Workspace(spec)
    model = workspace.model()
    _, expected = pyhf.infer.intervals.upper_limits.upper_limit(workspace.data(model), model)
    # the saved observations are the background sum, so pyhf's expected median is the Asimov one
    assert float(expected[2]) == pytest.approx(row["mu_expected"], rel=1e-3)


def test_plain_pyhf_upper_limits_runs_on_every_saved_workspace(tmp_path):
    from test_limits_cli import write_output as write_full_output

    report = run(write_full_output(tmp_path, methods=("cut_mindr",)), "--projections", "--kappa-step", "2.5",
                 "--max-bins", "4")
    paths = sorted((report / "workspaces").glob("*.json"))
    assert [p.stem for p in paths] == ["nonresonant_kappa_cut_mindr", "nonresonant_mu_cut_mindr_k1",
                                       "resonant_cut_mindr_M400", "resonant_cut_mindr_M800"]
    pyhf.set_backend("numpy")
    for path in paths:
        workspace = pyhf.Workspace(json.loads(path.read_text()))
        model = workspace.model()
        observed, expected = pyhf.infer.intervals.upper_limits.upper_limit(workspace.data(model), model)
        high = model.config.suggested_bounds()[model.config.poi_index][1]
        assert 0.0 < float(expected[0]) <= float(expected[4]) < high, path.name
        assert np.isfinite(float(observed)), path.name


def _projection_limits(report):
    rows = {r["lumi_fb"]: r for r in _rows(report, "projections")}
    return np.array([rows[lumi]["sigma_limit_fb_M500"] for lumi in (139.0, 300.0, 3000.0)])


def test_limits_scale_as_one_over_sqrt_lumi_with_ample_mc_and_stop_with_scarce_mc(tmp_path):
    signal = _peak(20000, 500, 0.002)
    # the same expected background (1e4 events at 300 fb^-1), from 2e6 or from 2e3 MC events
    options = ("--projections", "139", "300", "3000", "--max-bins", "4")
    ample = run(write_output(tmp_path / "ample", _falling(2_000_000, 4, 0.005), signal), *options)
    scarce = run(write_output(tmp_path / "scarce", _falling(2_000, 4, 5.0), signal), *options)
    lumis = np.array([139.0, 300.0, 3000.0])
    ample_limits = _projection_limits(ample)
    np.testing.assert_allclose(ample_limits * np.sqrt(lumis), ample_limits[1] * np.sqrt(300.0), rtol=0.05)
    scarce_limits = _projection_limits(scarce)
    assert scarce_limits[2] > 0.6 * scarce_limits[1]  # 10x the luminosity gains far less than sqrt(10)
    assert _rows(ample)[0]["mc_limited"] is False and _rows(scarce)[0]["mc_limited"] is True
    summary = (scarce / "summary.md").read_text()
    assert "| cut_mindr | m_H = 500 GeV |" in summary and "| yes |" in summary
    assert "| yes |" not in (ample / "summary.md").read_text()


def test_binning_keeps_every_bin_within_the_mc_bound():
    edges = np.arange(11.0)
    yields = np.array([0.5, 2.0, 10.0, 30.0, 50.0, 40.0, 20.0, 5.0, 1.0, 0.2])
    variances = np.array([0.5, 2.0, 9.0, 20.0, 30.0, 20.0, 40.0, 5.0, 1.0, 0.2])  # tails with few MC events
    assert np.any(relative_mc_uncertainty(yields, variances) > 0.3)
    merged = mc_merged_edges(edges, yields, variances, 0.3)
    idx = np.searchsorted(edges, merged[:-1])
    rel = relative_mc_uncertainty(np.add.reduceat(yields, idx), np.add.reduceat(variances, idx))
    assert np.all(rel <= 0.3) and merged[0] == 0.0 and merged[-1] == 10.0
    assert set(merged) <= set(edges) and merged.size >= 4  # the well-known central bins stay apart
    with pytest.raises(ConfigError, match="whole signal region.*more MC is needed"):
        mc_merged_edges(edges, yields, yields * yields, 0.3)  # one MC event per bin: 32% in total


def test_fit_that_does_not_converge_is_an_error_naming_method_hypothesis_and_bin(tmp_path, monkeypatch):
    write_output(tmp_path, _falling(20000, 5, 0.5), _peak(2000, 500, 0.02))

    def fail(*args, **kwargs):
        raise pyhf.exceptions.FailedMinimization(type("R", (), {"message": "Inequality constraints incompatible"}))

    monkeypatch.setattr(results, "upper_limit", fail)
    with pytest.raises(HH4bError, match=r"cut_mindr, m_H = 500 GeV: the fit did not converge .*least well known "
                                        r"bin \d+ \(m_hh \["):
        run(tmp_path, "--projections")


def test_signal_without_branching_ratio_is_refused_naming_the_dataset(tmp_path):
    write_output(tmp_path, _falling(2000, 6, 0.5), _peak(200, 500, 0.02), br=None)
    with pytest.raises(ConfigError, match="signal dataset 'resonant_M500' .* no metadata 'br_forced'"):
        run(tmp_path)


def test_smoothed_background_on_scarce_mc_improves_with_luminosity_like_ample_mc(tmp_path):
    """2,000 MC events for 1e4 expected: binned, the MC uncertainty stops the limit; smoothed, its
    few shape nuisances are constrained by the data and the limit falls nearly as 1/sqrt(lumi),
    at 3000 fb^-1 far below the binned one and within 1.5x of the ample-MC limit (the MC sample
    is 5x smaller than the data it stands for), and the summary gives the fit's degree and quality."""
    signal = _peak(20000, 500, 0.002)
    options = ("--projections", "139", "300", "3000", "--max-bins", "12")  # the same bins for both
    ample = run(write_output(tmp_path / "ample", _falling(2_000_000, 4, 0.005), signal), *options)
    smoothed = run(write_output(tmp_path / "smoothed", _falling(2_000, 4, 5.0), signal), *options,
                   "--background", "smoothed")
    binned = run(write_output(tmp_path / "binned", _falling(2_000, 4, 5.0), signal), *options)
    limits_ = _projection_limits(smoothed)
    assert limits_[1] / limits_[2] > 2.5
    assert limits_[2] < 0.5 * _projection_limits(binned)[2]
    assert limits_[1] < 1.5 * _projection_limits(ample)[1]
    spec = json.loads((smoothed / "workspaces" / "resonant_cut_mindr_M500.json").read_text())
    bkg = next(s for s in spec["channels"][0]["samples"] if s["name"] == "qcd4b")
    assert {m["type"] for m in bkg["modifiers"]} == {"histosys"}
    summary = (smoothed / "summary.md").read_text()
    assert "Smoothed backgrounds" in summary and "| cut_mindr | qcd4b |" in summary
