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
