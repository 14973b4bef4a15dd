"""`python -m hh4b.limits` on a synthetic output.coffea built here by hand (docs/formats.md section 3)."""

import argparse
import json
import os
import subprocess
import sys

import hist
import numpy as np
import pyhf
import pytest
from coffea.util import save

os.environ.setdefault("TQDM_DISABLE", "1")

from hh4b import limits  # noqa: E402
from hh4b.errors import ConfigError, InputFileError  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:jsonschema.RefResolver:DeprecationWarning")

EDGES = np.concatenate([np.arange(200.0, 1000.0, 50.0), np.arange(1000.0, 2001.0, 250.0)])
LUMI_FB = 300.0


def _categories():
    return [hist.axis.StrCategory([], name="dataset", growth=True),
            hist.axis.StrCategory(["SR", "VR", "CR"], name="region"),
            hist.axis.StrCategory(["2b", "3b", "4b"], name="tags"),
            hist.axis.StrCategory([], name="method", growth=True)]


def _mhh(*extra):
    return hist.Hist(*_categories(), *extra, hist.axis.Variable(EDGES, name="mhh"), storage=hist.storage.Weight())


def write_output(directory, methods=("cut_mindr", "cut_dhh"), nonresonant=True, bkgmodel=False, drop=()):
    """A processor output with resonant (400, 800 GeV), optional non-resonant, qcd and ttbar datasets."""
    rng = np.random.default_rng(11)
    hists = {"mhh": _mhh()}
    if nonresonant:
        hists["mhh_kl_terms"] = _mhh(hist.axis.StrCategory(["a", "b", "c"], name="term"))
    if bkgmodel:
        hists["mhh_bkgmodel"] = _mhh(hist.axis.StrCategory([], name="variation", growth=True))
    meta = {"resonant_M400": {"process": "resonant", "mass": 400, "xsec_pb": 0.5, "br_forced": 0.58 ** 2},
            "resonant_M800": {"process": "resonant", "mass": 800, "xsec_pb": 0.5, "br_forced": 0.58 ** 2},
            "qcd": {"process": "qcd", "xsec_pb": 1e3}, "ttbar": {"process": "ttbar", "xsec_pb": 1e2}}
    if nonresonant:
        meta["nonresonant"] = {"process": "nonresonant", "kappa_lambda": 0.0, "xsec_pb": 0.0335 * 2.09 * 0.58 ** 2,
                               "br_forced": 0.58 ** 2}
    for i, method in enumerate(methods):
        eff = 1.0 - 0.1 * i
        qcd = 200.0 + rng.exponential(180.0, 40000)
        hists["mhh"].fill(dataset="qcd", region="SR", tags="4b", method=method, mhh=qcd, weight=np.full(qcd.size, 0.5))
        tt = 250.0 + rng.exponential(250.0, 5000)
        hists["mhh"].fill(dataset="ttbar", region="SR", tags="4b", method=method, mhh=tt, weight=np.full(tt.size, 0.2))
        for mass in (400, 800):
            sig = rng.normal(mass, 0.07 * mass, 4000)
            hists["mhh"].fill(dataset=f"resonant_M{mass}", region="SR", tags="4b", method=method, mhh=sig,
                              weight=np.full(sig.size, 0.02 * eff))
        if nonresonant:
            m = 260.0 + rng.gamma(3.0, 60.0, 20000)
            # |M|^2 / |M(k0=0)|^2 = 1 - 2 r k + 1.5 r k^2 ... with r larger at low m_hh (the triangle diagram)
            r = np.clip(1.2 * 300.0 / m, 0.3, 1.2)
            w = np.full(m.size, 0.002 * eff)
            for term, coeff in (("a", np.ones_like(m)), ("b", -1.2 * r), ("c", 0.55 * r ** 2 + 0.05)):
                hists["mhh_kl_terms"].fill(dataset="nonresonant", region="SR", tags="4b", method=method, term=term,
                                           mhh=m, weight=w * coeff)
        if bkgmodel:
            base = 200.0 + rng.exponential(180.0, 40000)
            for v in ["nominal", *(f"ensemble_{j}" for j in range(8))]:
                scale = 0.5 * (1.0 if v == "nominal" else 1.0 + 0.05 * rng.normal())
                hists["mhh_bkgmodel"].fill(dataset="qcd", region="SR", tags="2b", method=method, variation=v,
                                           mhh=base, weight=np.full(base.size, scale))
    for name in drop:
        hists.pop(name)
    meta.update(lumi_fb=LUMI_FB, sqrt_s=13000.0)
    save({"hists": hists, "cutflow": {}, "truth": {}, "metadata": meta, "bookkeeping": {}},
         str(directory / "output.coffea"))
    return directory


def parse(argv):
    parser = argparse.ArgumentParser()
    limits.add_arguments(parser)
    return parser.parse_args(argv)


def test_cli_writes_plots_tables_workspaces_and_summary(tmp_path):
    write_output(tmp_path)
    report = tmp_path / "report"
    args = parse([str(tmp_path), "--method", "cut_mindr", "--report", str(report), "--kappa-step", "2.5",
                  "--max-bins", "6", "--projections", "3000", "--no-staterror"])
    assert limits.main(args) == 0
    for name in ("resonant_limits.png", "resonant_limits.pdf", "resonant_limits.csv", "kappa_lambda_scan.png",
                 "kappa_lambda_scan.pdf", "kappa_lambda_xsec_limits.png", "kappa_lambda_intervals.csv",
                 "projections.json", "summary.md"):
        assert (report / name).is_file(), name
    rows = json.loads((report / "resonant_limits.json").read_text())
    assert [r["mass"] for r in rows] == [400.0, 800.0]
    assert all(r["expected_m2"] < r["expected"] < r["expected_p2"] for r in rows)
    kappa = json.loads((report / "kappa_lambda_intervals.json").read_text())[0]
    assert kappa["pl_lower"] < 1.0 < kappa["pl_upper"]
    assert kappa["mu_lower"] < 1.0 < kappa["mu_upper"]
    projection = json.loads((report / "projections.json").read_text())[0]
    assert projection["kappa_width"] < kappa["pl_width"]  # 10x luminosity: tighter interval
    assert projection["sigma_limit_fb_M400"] < rows[0]["expected"]
    workspaces = sorted((report / "workspaces").glob("*.json"))
    assert len(workspaces) == 4
    for path in workspaces:
        pyhf.Workspace(json.loads(path.read_text()))  # valid against pyhf's schema
    assert "Table VI" in (report / "summary.md").read_text()


def test_datadriven_background_brings_ensemble_nuisances(tmp_path):
    write_output(tmp_path, methods=("cut_mindr",), nonresonant=False, bkgmodel=True)
    report = tmp_path / "dd"
    args = parse([str(tmp_path), "--report", str(report), "--background", "datadriven", "--max-bins", "5",
                  "--projections", "--no-staterror"])
    assert limits.main(args) == 0
    spec = json.loads((report / "workspaces" / "resonant_cut_mindr_M400.json").read_text())
    samples = {s["name"]: s for s in spec["channels"][0]["samples"]}
    assert "multijet" in samples and "qcd" not in samples and "ttbar" in samples
    assert any(m["type"] == "histosys" and m["name"].startswith("multijet_ensemble_")
               for m in samples["multijet"]["modifiers"])


def test_unknown_method_is_named(tmp_path):
    write_output(tmp_path, nonresonant=False)
    with pytest.raises(ConfigError, match="spanet_typo.*available: cut_mindr, cut_dhh"):
        limits.main(parse([str(tmp_path), "--method", "spanet_typo"]))


def test_missing_histogram_is_named(tmp_path):
    write_output(tmp_path, nonresonant=False, drop=("mhh",))
    with pytest.raises(InputFileError, match="no histogram 'mhh'"):
        limits.main(parse([str(tmp_path)]))


def test_module_entry_point_help_and_missing_output(tmp_path):
    help_text = subprocess.run([sys.executable, "-m", "hh4b.limits", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0
    for option in ("--lumi", "--sqrt-s", "--method", "--report", "--toys", "--background", "--max-bins"):
        assert option in help_text.stdout
    missing = subprocess.run([sys.executable, "-m", "hh4b.limits", str(tmp_path / "nowhere")],
                             capture_output=True, text=True)
    assert missing.returncode == 2
    assert "output.coffea: not found" in missing.stderr and "Traceback" not in missing.stderr
