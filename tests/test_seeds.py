"""`hh4b train dnn --seeds K`: ACC/AUC mean and spread over trainings in the model card."""

import json

import numpy as np
import pytest

from hh4b.cli import main as cli_main
from hh4b.nn.seeds import metrics_over_seeds

from test_spanet import write_toy


def test_mean_and_sample_spread():
    block = metrics_over_seeds([{"seed": 1, "accuracy": 0.8, "auc": 0.9}, {"seed": 2, "accuracy": 0.7, "auc": 0.8},
                                {"seed": 3, "accuracy": 0.9, "auc": 0.85}])
    assert block["seeds"] == [1, 2, 3] and block["n"] == 3
    assert block["accuracy"]["mean"] == pytest.approx(0.8) and block["accuracy"]["std"] == pytest.approx(0.1)
    assert block["auc"]["std"] == pytest.approx(np.std([0.9, 0.8, 0.85], ddof=1))


def test_seeds_in_the_card_and_update_of_an_existing_card(tmp_path, capsys):
    data = tmp_path / "toy.h5"
    write_toy(data, 1500, 1500, seed=5)
    run = tmp_path / "run"
    base = ["train", "dnn", "--data", str(data), "--preset", "tiny", "--epochs", "2", "--no-progress", "--seed", "4",
            "--valid-fraction", "0.3"]
    assert cli_main([*base, "--output", str(run), "--seeds", "3"]) == 0
    card = json.loads((run / "dnn_mindr_tiny.json").read_text())
    block = card["metrics_over_seeds"]
    assert block["seeds"] == [4, 5, 6] and len(set(block["auc"]["values"])) == 3  # the trainings differ
    assert block["auc"]["values"][0] == card["metrics"]["auc"]  # the exported model is the first seed
    assert block["auc"]["std"] > 0 and block["command"].startswith("hh4b ")
    shipped = tmp_path / "shipped.json"
    shipped.write_text(json.dumps({k: v for k, v in card.items() if k != "metrics_over_seeds"}))
    assert cli_main([*base, "--output", str(tmp_path / "again"), "--seeds", "2", "--update-card", str(shipped)]) == 0
    written = json.loads(shipped.read_text())["metrics_over_seeds"]
    assert written["seeds"] == [4, 5] and written["shipped_model_included"]
    other = json.loads(shipped.read_text())
    other["metrics"]["auc"] = 0.5
    shipped.write_text(json.dumps(other))
    assert cli_main([*base, "--output", str(tmp_path / "third"), "--seeds", "2", "--update-card", str(shipped)]) == 2
    assert "retrain with the card's data" in capsys.readouterr().err


def test_spanet_seeds_write_their_spread_and_update_a_spanet_card(tmp_path):
    data = tmp_path / "toy.h5"
    write_toy(data, 400, 200, seed=6)
    run = tmp_path / "sp"
    base = ["train", "spanet", "--data", str(data), "--preset", "tiny", "--epochs", "1", "--no-progress", "--seed", "3",
            "--seeds", "2", "--valid-fraction", "0.3"]
    assert cli_main([*base, "--output", str(run)]) == 0
    block = json.loads((run / "metrics_over_seeds.json").read_text())
    first = json.loads((run / "seed3" / "summary.json").read_text())["metrics"]["classification"]
    assert block["seeds"] == [3, 4] and (run / "seed4" / "best.pt").is_file()
    assert block["auc"]["values"][0] == first["auc"]
    card = tmp_path / "spanet.json"
    card.write_text(json.dumps({"model": "spanet", "metrics": {"valid_classification": first}}))
    assert cli_main([*base, "--output", str(tmp_path / "sp2"), "--update-card", str(card)]) == 0
    assert json.loads(card.read_text())["metrics_over_seeds"]["auc"]["values"] == block["auc"]["values"]
