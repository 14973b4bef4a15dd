"""`hh4b limits --score-fit`: the fit in bins of the classifier score against the single threshold."""

import argparse
import json
import os

import numpy as np
import pytest
from coffea.util import save
from scipy.optimize import brentq
from scipy.stats import norm

os.environ.setdefault("TQDM_DISABLE", "1")

from hh4b import limits  # noqa: E402
from hh4b.analysis.histograms import make_histograms, score_histograms  # noqa: E402
from hh4b.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:jsonschema.RefResolver:DeprecationWarning")

N_BKG, N_SIG, W_BKG, W_SIG = 200000, 20000, 0.1, 0.01  # background MC: 10 events per expected one


def write_output(directory):
    """Resonant M500 signal at high score, qcd background at low score; both m_hh histograms filled."""
    rng = np.random.default_rng(3)
    hists = {"mhh": make_histograms()["mhh"], **score_histograms()}
    events = {}
    for dataset, a, b, n, w, mhh in (("resonant_M500", 5.0, 1.5, N_SIG, W_SIG, rng.normal(500.0, 35.0, N_SIG)),
                                     ("qcd", 1.5, 5.0, N_BKG, W_BKG, 200.0 + rng.exponential(180.0, N_BKG))):
        score = np.clip(rng.beta(a, b, n), 0.0, 1.0 - 1e-9)
        mhh = np.clip(mhh, 201.0, 2999.0)
        weight = np.full(n, w)
        hists["mhh"].fill(dataset=dataset, region="SR", tags="4b", method="spanet", mhh=mhh, weight=weight)
        hists["mhh_score"].fill(dataset=dataset, tags="4b", method="spanet", score=score, mhh=mhh, weight=weight)
        events[dataset] = weight
    meta = {"resonant_M500": {"process": "resonant", "mass": 500, "xsec_pb": 0.5, "br_forced": 1.0},
            "qcd": {"process": "qcd", "xsec_pb": 1e3}, "lumi_fb": 300.0, "sqrt_s": 13000.0}
    save({"hists": hists, "cutflow": {}, "truth": {}, "metadata": meta, "bookkeeping": {}},
         str(directory / "output.coffea"))
    return events


def run(directory, report, *options):
    parser = argparse.ArgumentParser()
    limits.add_arguments(parser)
    args = parser.parse_args([str(directory), "--report", str(report), "--lumi", "300", "--sqrt-s", "13000",
                              "--projections", "--no-staterror", *options])
    assert limits.main(args) == 0
    return {r["method"]: r for r in json.loads((report / "resonant_limits.json").read_text())}


def _signal(report, name):
    spec = json.loads((report / "workspaces" / f"{name}.json").read_text())
    return next(s["data"] for s in spec["channels"][0]["samples"] if s["name"] == "signal")


def test_binned_fit_is_at_least_as_strong_as_the_best_threshold(tmp_path):
    write_output(tmp_path)
    report = tmp_path / "both"
    rows = run(tmp_path, report, "--max-bins", "4", "--score-bins", "3")
    threshold, binned = rows["spanet"], rows["spanet (score bins)"]
    assert binned["expected"] <= threshold["expected"] * (1 + 2e-3)
    assert binned["expected"] < 0.98 * threshold["expected"]  # the signal below the threshold adds information
    edges = json.loads((report / "score_bin_edges.json").read_text())[0]["score_edges"].split()
    p_th = json.loads((report / "score_thresholds.json").read_text())[0]["p_th"]
    assert len(edges) == 4 and float(edges[-2]) == pytest.approx(p_th)
    top, full = _signal(report, "resonant_spanet_M500"), _signal(report, "resonant_spanet_score_bins_M500")
    assert len(full) > len(top)
    np.testing.assert_allclose(full[-len(top):], top)  # the top slice is the threshold selection, same bins


def test_one_score_bin_matches_the_asimov_counting_formula(tmp_path):
    events = write_output(tmp_path)
    rows = run(tmp_path, tmp_path / "one", "--max-bins", "1", "--score-bins", "1", "--score-fit", "bins")
    assert set(rows) == {"spanet (score bins)"}
    s, b = events["resonant_M500"].sum(), events["qcd"].sum()
    # median expected CLs (q~_mu, asymptotic) = 0.05 where q_mu,A = 2 (mu s - b ln(1 + mu s / b)) = Phi^-1(0.975)^2
    target = norm.ppf(0.975) ** 2
    mu = brentq(lambda m: 2 * (m * s - b * np.log1p(m * s / b)) - target, 1e-6, 1e3)
    assert rows["spanet (score bins)"]["mu_expected"] == pytest.approx(mu, rel=5e-3)


def test_score_bins_refuse_the_datadriven_background(tmp_path):
    write_output(tmp_path)
    with pytest.raises(ConfigError, match="--score-fit bins needs --background simulation"):
        run(tmp_path, tmp_path / "dd", "--score-fit", "bins", "--background", "datadriven")
