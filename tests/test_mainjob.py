"""`hh4b main`: the stage options it derives from the fileset."""

import json

from hh4b.mainjob import truth_tagging_option


def _fileset(tmp_path, processes):
    path = tmp_path / "fileset.json"
    path.write_text(json.dumps({f"d{i}": {"files": {f"f{i}.root": "Events"}, "metadata": {"process": p}}
                                for i, p in enumerate(processes)}))
    return path


def test_truth_tagging_applies_to_the_lo_four_b_background_only_when_present(tmp_path):
    fileset = _fileset(tmp_path, ["resonant", "qcd4b", "ttbar"])
    assert truth_tagging_option(fileset, False) == ["--truth-tagging", "qcd4b"]
    assert truth_tagging_option(_fileset(tmp_path, ["resonant", "qcd4b"]), True) == []
    assert truth_tagging_option(_fileset(tmp_path, ["resonant", "qcd"]), False) == []


def test_smoothed_limits_take_the_methods_without_a_classifier_score(tmp_path):
    import hist
    from coffea.util import load, save

    from hh4b.mainjob import cut_based_methods
    from hh4b.stats.scores import SCORE_HIST

    from test_limits_cli import write_output

    write_output(tmp_path, methods=("cut_mindr", "cut_spanet", "spanet"))
    assert cut_based_methods(tmp_path) == ["cut_mindr", "cut_spanet", "spanet"]  # no scores: all cut-based
    out = load(str(tmp_path / "output.coffea"))
    out["hists"][SCORE_HIST] = hist.Hist(hist.axis.StrCategory(["spanet"], name="method"),
                                         hist.axis.Regular(10, 0.0, 1.0, name="score"))
    save(out, str(tmp_path / "output.coffea"))
    assert cut_based_methods(tmp_path) == ["cut_mindr", "cut_spanet"]
