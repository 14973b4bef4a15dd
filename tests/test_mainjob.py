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


def test_smoothed_limits_take_the_cut_based_methods_of_the_output(tmp_path):
    from hh4b.mainjob import cut_based_methods

    from test_limits_cli import write_output

    write_output(tmp_path, methods=("cut_mindr", "cut_dhh", "spanet"))
    assert cut_based_methods(tmp_path) == ["cut_mindr", "cut_dhh"]
