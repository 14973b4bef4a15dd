"""`hh4b report`: reads the stages' files, puts the paper beside them, names what is missing."""

import json

import pytest
from coffea.util import save

from hh4b.cli import main as cli_main
from hh4b.report import pairing_efficiencies


def _output(tmp_path):
    output = {
        "truth": {"res_M300": {"cut_mindr": {"matched": 200, "correct": 100}},
                  "res_M1000": {"cut_mindr": {"matched": 100, "correct": 90}},
                  "qcd": {"cut_mindr": {"matched": 0, "correct": 0}}},
        "metadata": {"res_M300": {"process": "resonant", "mass": 300},
                     "res_M1000": {"process": "resonant", "mass": 1000}, "qcd": {"process": "qcd"}},
        "hists": {}, "cutflow": {},
    }
    save(output, tmp_path / "output.coffea")
    return output


def test_pairing_efficiency_is_correct_over_matched(tmp_path):
    rows = {r["dataset"]: r for r in pairing_efficiencies(_output(tmp_path))}
    assert set(rows) == {"res_M300", "res_M1000"}  # backgrounds have no truth pairing
    assert rows["res_M300"]["efficiency"] == pytest.approx(0.5)
    assert rows["res_M1000"]["error"] == pytest.approx((0.9 * 0.1 / 100) ** 0.5)


def test_report_puts_paper_numbers_beside_ours(tmp_path, capsys):
    _output(tmp_path)
    limits = tmp_path / "limits"
    limits.mkdir()
    (limits / "kappa_lambda_intervals.json").write_text(json.dumps(
        [{"method": "cut_mindr", "mu_lower": -4.0, "mu_upper": 11.0, "mu_width": 15.0,
          "pl_lower": -3.9, "pl_upper": 10.9, "pl_width": 14.8}]))
    assert cli_main(["report", str(tmp_path), "--models", str(tmp_path / "nomodels")]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| res_M300 | 300 | cut_mindr | 200 | 0.5 |" in text
    assert "| cut_mindr | -4 | 11 | 15 | 13.7 |" in text  # paper Table VI width 13.68 beside ours
    assert "No resonant limits" in text and "No model cards" in text
    assert (tmp_path / "report" / "pairing_efficiency.png").stat().st_size > 1000


def test_missing_output_is_a_clear_error(tmp_path, capsys):
    assert cli_main(["report", str(tmp_path / "nowhere")]) == 2
    assert "output.coffea: not found" in capsys.readouterr().err


def test_report_shows_seed_spread_score_bins_and_goals(tmp_path):
    _output(tmp_path)
    models, limits = tmp_path / "models", tmp_path / "limits"
    models.mkdir()
    limits.mkdir()
    seeds = {"n": 5, "accuracy": {"mean": 0.75, "std": 0.02}, "auc": {"mean": 0.84, "std": 0.012}}
    (models / "dnn_mindr_resonant.json").write_text(json.dumps(
        {"model": "dnn", "pairing": "mindr", "preset": "resonant", "metrics": {"accuracy": 0.77, "auc": 0.85},
         "metrics_over_seeds": seeds}))
    (models / "dnn_spanet_resonant.json").write_text(json.dumps(
        {"model": "dnn", "pairing": "spanet", "preset": "resonant", "metrics": {"accuracy": 0.8, "auc": 0.9}}))
    (models / "spanet_resonant.json").write_text(json.dumps(
        {"model": "spanet", "preset": "compact", "metrics": {"valid_classification": {"accuracy": 0.96, "auc": 0.99}},
         "metrics_dnn_validation": {"accuracy": 0.5, "auc": 0.95}}))
    rows = [{"method": m, "mass": 300.0, "expected": e} for m, e in
            (("spanet", 80.0), ("spanet (score bins)", 60.0), ("dnn_mindr", 100.0), ("dnn_mindr (score bins)", 90.0))]
    (limits / "resonant_limits.json").write_text(json.dumps(rows))
    (limits / "kappa_lambda_intervals.json").write_text(json.dumps(
        [{"method": "spanet", "pl_width": 9.0, "mu_width": 9.5}, {"method": "spanet (score bins)", "pl_width": 8.1,
                                                                  "mu_width": 9.0},
         {"method": "dnn_mindr", "pl_width": 10.0, "mu_width": 10.0}]))
    (limits / "kappa_lambda_mu_scan.json").write_text(json.dumps(
        [{"method": m, "kappa_lambda": k, "mu95": u} for m, k, u in
         (("spanet", 0.0, 30.0), ("spanet", 1.0, 40.0), ("spanet (score bins)", 1.0, 36.0))]))
    assert cli_main(["report", str(tmp_path), "--models", str(models)]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "| spanet | mu_95 at kappa_lambda=1 | 40 | 36 | 0.9 |" in text
    assert "| dnn_mindr_resonant | resonant | 5 | 0.750 ± 0.020 | 0.840 ± 0.012 | 0.850 | 0.865 ± 0.001 |" in text
    assert "| spanet | M300 sigma_95 [fb] | 80 | 60 | 0.75 |" in text  # threshold beside score bins
    assert "| spanet | kappa_lambda width (profile) | 9 | 8.1 | 0.9 |" in text
    goals = text.split("## Paper goals")[1]
    assert "spanet 0.950 / dnn_spanet 0.900 / dnn_mindr 0.840 ± 0.012 | yes |" in goals  # same-events SPA-NET AUC
    assert "M300: spanet limit >= 10% below dnn_mindr | 80 vs 100 fb (+20%) | yes |" in goals
    assert "spanet (score bins) limit >= 10% below dnn_mindr (score bins) | 60 vs 90 fb (+33%) | yes |" in goals
    assert "kappa_lambda (profile): spanet >= 15% narrower than dnn_mindr | 9 vs 10 (+10%) | no |" in goals


def test_background_comparison_pairs_limits_by_method_and_mass():
    from hh4b.report import background_comparison_rows

    simulated = [{"method": "cut_mindr", "mass": 500.0, "expected": 20.0},
                 {"method": "cut_mindr", "mass": 1000.0, "expected": 3.0},
                 {"method": "spanet", "mass": 500.0, "expected": 9.0}]
    datadriven = [{"method": "cut_mindr", "mass": 500.0, "expected": 25.0},
                  {"method": "cut_mindr", "mass": 300.0, "expected": 700.0}]
    rows = background_comparison_rows(simulated, datadriven)
    assert rows == [{"method": "cut_mindr", "mass": 500.0, "simulated": 20.0, "data-driven": 25.0,
                     "data-driven / simulated": 1.25}]


def test_goal_is_not_comparable_when_either_fit_is_limited_by_mc_statistics():
    from hh4b.report import goal_rows

    resonant = [{"method": "spanet", "mass": 300.0, "expected": 50.0, "mc_limited": True},
                {"method": "dnn_mindr", "mass": 300.0, "expected": 100.0, "mc_limited": False}]
    kappas = [{"method": "spanet", "pl_width": 4.0, "mc_limited": False},
              {"method": "dnn_mindr", "pl_width": 6.0, "mc_limited": True}]
    rows = goal_rows([], resonant, kappas)
    assert [r["holds"] for r in rows] == ["not comparable", "not comparable"]
    assert "spanet" in rows[0]["measured"] and "dnn_mindr" in rows[1]["measured"]
    fine = goal_rows([], [dict(r, mc_limited=False) for r in resonant], [dict(k, mc_limited=False) for k in kappas])
    assert [r["holds"] for r in fine] == ["yes", "yes"]  # 50% stronger, 33% narrower


def test_report_shows_the_heft_tables_of_the_limits_stage(tmp_path):
    from hh4b.report import _heft_section

    assert "No HEFT results" in _heft_section(tmp_path)
    (tmp_path / "heft_cut_mindr.md").write_text("| point | ... |\n| SM | 1 |\n")
    text = _heft_section(tmp_path)
    assert "### cut_mindr" in text and "| SM | 1 |" in text and "heft_kl_c2_cut_mindr.png" in text


def test_smoothed_background_rows_sit_beside_the_binned_ones_and_the_paper():
    from hh4b.report import background_comparison_rows, smoothed_kappa_rows

    binned = [{"method": "cut_mindr", "mass": 500.0, "expected": 260.0}]
    rows = background_comparison_rows(binned, [{"method": "cut_mindr", "mass": 500.0, "expected": 52.0}], "smoothed")
    assert rows == [{"method": "cut_mindr", "mass": 500.0, "simulated": 260.0, "smoothed": 52.0,
                     "smoothed / simulated": 0.2}]
    kappas = smoothed_kappa_rows([{"method": "cut_mindr", "pl_lower": float("-inf"), "pl_upper": float("inf")}],
                                 [{"method": "cut_mindr", "pl_lower": -5.8, "pl_upper": 11.0}])
    assert kappas == [{"method": "cut_mindr", "binned": "[-inf, inf]", "smoothed": "[-5.8, 11]",
                       "paper": "[-3.27, 10.3]"}]
