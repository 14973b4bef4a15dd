"""Truth tagging (hh4b.analysis.truthtag): exact category probabilities, conditional tag sampling, and the
processor option against drawn tags on a committed qcd4b file."""

from __future__ import annotations

import itertools
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from hh4b.analysis import truthtag as tt
from hh4b.analysis.events import make_jets
from hh4b.analysis.padding import padded_jets
from hh4b.analysis.processing import load_fileset, process_fileset
from hh4b.analysis.processor import HH4bProcessor
from hh4b.analysis.selection import four_candidates
from hh4b.config import AnalysisConfig
from hh4b.constants import BTAG_ETA_MAX
from hh4b.errors import InputFileError
from hh4b.generate.detector import tag_efficiency

ROOT = Path(__file__).resolve().parents[1]
WP = "70"

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

# hand-built events: b, c and light jets, a soft (pT < 40 GeV) and a forward (|eta| > 2.5) b jet,
# an event with only three quality jets and one with exactly four
EVENTS = [
    {"pt": [120, 95, 80, 66, 52, 35, 45], "eta": [0.1, -1.2, 2.0, 0.5, -0.3, 0.2, 2.7],
     "flavour": [5, 5, 4, 0, 5, 5, 5]},
    {"pt": [200, 150, 90, 70, 60], "eta": [1.0, -2.2, 0.0, 1.5, -0.7], "flavour": [0, 5, 5, 4, 0]},
    {"pt": [90, 80, 70, 30, 20], "eta": [0.0, 0.5, -0.5, 0.0, 1.0], "flavour": [5, 5, 5, 5, 5]},
    {"pt": [300, 100, 60, 41], "eta": [-2.4, 2.4, 0.0, 0.3], "flavour": [5, 5, 5, 5]},
]


def hand_jets(events=EVENTS, btag=False) -> ak.Array:
    pt = ak.Array([e["pt"] for e in events])
    eta = ak.Array([e["eta"] for e in events])
    phi = ak.Array([list(np.linspace(-3, 3, len(e["pt"]))) for e in events])
    flags = ak.Array([[btag] * len(e["pt"]) for e in events])
    return make_jets(pt, eta, phi, pt * 0 + 10.0, flags, ak.Array([e["flavour"] for e in events]))


def brute_force(event: dict) -> dict:
    """P(category) and P(pattern) by enumerating every tag pattern of every jet through the
    analysis' own candidate selection (hh4b.analysis.selection.four_candidates)."""
    eff = tag_efficiency(np.array(event["flavour"]), WP) * (np.abs(event["eta"]) < BTAG_ETA_MAX)
    patterns = np.array(list(itertools.product([False, True], repeat=len(eff))))
    prob = np.prod(np.where(patterns, eff, 1 - eff), axis=1)
    jets = padded_jets(hand_jets([event] * len(patterns)))
    jets["btag"] = patterns
    category = four_candidates(jets)["category"]
    return {"category": {k: prob[category == k].sum() for k in (0, 2, 3, 4)},
            "patterns": patterns, "pattern_prob": prob, "pattern_category": category}


def test_category_probabilities_equal_brute_force_and_sum_to_one():
    copies, prob, source = tt.expand(hand_jets(), WP, np.random.default_rng(1))
    for i, event in enumerate(EVENTS):
        exact = brute_force(event)["category"]
        got = dict(zip(tt.CATEGORIES, prob[source == i])) if (source == i).any() else {k: 0.0 for k in tt.CATEGORIES}
        for k in tt.CATEGORIES:
            assert got[k] == pytest.approx(exact[k], rel=1e-12, abs=1e-15)
        assert sum(got.values()) + exact[0] == pytest.approx(1.0, rel=1e-12)
    assert 2 not in source  # three quality jets: no category, no copies
    assert np.all(tt.capped_count_distribution(np.random.default_rng(2).random((50, 9))).sum(axis=1)
                  == pytest.approx(1.0, rel=1e-12))


def test_sampled_tags_have_the_conditional_frequencies():
    """Copies of event 0: per category, chi2 of the sampled tag patterns of its five quality jets
    against the brute-force P(pattern) / P(category); every copy's analysed category is its
    target and the two non-quality jets keep their drawn (here: untagged) flags."""
    event = EVENTS[0]
    exact = brute_force(event)
    quality = 5  # jets 5 (pT 35 GeV) and 6 (|eta| 2.7) cannot count
    n = 40000
    copies, prob, source = tt.expand(hand_jets([event] * n), WP, np.random.default_rng(3))
    jets = padded_jets(copies)
    category = four_candidates(jets)["category"]
    target = np.tile(tt.CATEGORIES, n)
    assert np.array_equal(category, target)
    assert not jets["btag"][:, quality:].any()
    weights = 1 << np.arange(quality)[::-1]
    codes = jets["btag"][:, :quality] @ weights
    exact_codes = exact["patterns"][:, :quality] @ weights
    for k in tt.CATEGORIES:
        in_k = exact["pattern_category"] == k
        expected = n * np.bincount(exact_codes[in_k], exact["pattern_prob"][in_k], 2**quality) / exact["category"][k]
        observed = np.bincount(codes[target == k], minlength=2**quality)
        assert observed[expected == 0].sum() == 0
        bins = expected > 5
        chi2 = np.sum((observed[bins] - expected[bins]) ** 2 / expected[bins])
        assert chi2 < bins.sum() + 5 * np.sqrt(2 * bins.sum()), (k, chi2, bins.sum())


def test_same_chunk_same_tags_other_chunk_other_tags():
    jets = hand_jets([EVENTS[0]] * 200)
    first = tt.expand(jets, WP, tt.chunk_rng("qcd4b", "/a/qcd4b_0.root", 0))[0].btag
    again = tt.expand(jets, WP, tt.chunk_rng("qcd4b", "/b/qcd4b_0.root", 0))[0].btag
    other = tt.expand(jets, WP, tt.chunk_rng("qcd4b", "/a/qcd4b_0.root", 200))[0].btag
    assert ak.all(first == again) and not ak.all(first == other)


def test_missing_flavour_is_named():
    jets = ak.zip({"pt": [[50.0] * 4], "eta": [[0.0] * 4], "phi": [[0.0] * 4], "mass": [[5.0] * 4],
                   "btag": [[True] * 4]})
    with pytest.raises(InputFileError, match="Jet_hadronFlavour"):
        tt.expand(jets, WP, np.random.default_rng(0), "x.root")
    with pytest.raises(InputFileError, match="x.root: branch Jet_hadronFlavour"):
        tt.four_tag_probability(jets, WP, filename="x.root")


def _entries(file: str) -> int:
    import uproot

    with uproot.open(ROOT / file) as fin:
        return fin["Events"].num_entries


@pytest.fixture(scope="module")
def qcd4b_outputs():
    """One committed qcd4b file with drawn tags and with truth tagging."""
    fileset = {"qcd4b": load_fileset(ROOT / "fileset.json")["qcd4b"]}
    fileset["qcd4b"]["files"] = dict(list(fileset["qcd4b"]["files"].items())[:1])
    config = AnalysisConfig(btag_wp=WP)
    return [process_fileset(fileset, HH4bProcessor(config, methods=("cut_mindr",), truth_tagging=tagging),
                            "iterative", chunksize=10000, progress=False) for tagging in ((), ("qcd4b",))]


def test_truth_tagged_yield_matches_drawn_tags(qcd4b_outputs):
    drawn, tagged = qcd4b_outputs
    assert tagged["bookkeeping"]["failed_chunks"] == []
    entries = _entries(next(iter(load_fileset(ROOT / "fileset.json")["qcd4b"]["files"])))
    assert tagged["bookkeeping"]["events_processed"] == drawn["bookkeeping"]["events_in"] == entries
    d, t = drawn["cutflow"]["qcd4b"], tagged["cutflow"]["qcd4b"]
    assert t["all"] == d["all"]  # each event counted once
    assert t["four_tag"][1] > 5 * d["four_tag"][1]  # many more events contribute to 4b
    for tags in ("2b", "3b", "4b"):  # after the Eq. (4) pT cuts, per category
        where = {"dataset": "qcd4b", "tags": tags, "method": "cut_mindr", "region": "presel"}
        a, b = (out["hists"]["mhh"][where].sum(flow=True) for out in (drawn, tagged))
        assert abs(b.value - a.value) < 3 * np.sqrt(a.variance + b.variance), tags
        assert b.variance < a.variance / 3 if tags == "4b" else True  # truth tagging: smaller error
    assert tagged["hists"]["mhh"][{"dataset": "qcd4b", "tags": "4b", "method": "cut_mindr", "region": "presel"}] \
        .sum(flow=True).value == pytest.approx(t["cut_mindr/pt_cuts"][0], rel=1e-9)


def test_processor_names_the_missing_flavour_branch(tmp_path):
    """A truth-tagged dataset without Jet_hadronFlavour fails its chunk with the branch named;
    bookkeeping still closes."""
    from toys import hh_events, write_tree

    jets = hh_events(50, 500, 4)["jets"]
    no_flavour = {k: ak.values_astype(jets[k], np.float32) for k in ("pt", "eta", "phi", "mass")}
    write_tree(tmp_path / "noflav.root", {"genWeight": np.ones(50, dtype=np.float32),
                                          "Jet": ak.zip(no_flavour | {"btagWP70": jets["btagWP70"]})})
    fileset = {"toy": {"files": {str(tmp_path / "noflav.root"): "Events"}, "metadata": {"process": "toy"}}}
    output = process_fileset(fileset, HH4bProcessor(truth_tagging=("toy",), retries=0), "iterative", progress=False)
    book = output["bookkeeping"]
    assert len(book["failed_chunks"]) == 1 and "Jet_hadronFlavour" in book["failed_chunks"][0]["error"]
    assert book["events_processed"] + book["events_failed"] == book["events_in"] == 50


def test_cli_truth_tagging_option(tmp_path, capsys):
    import json

    from hh4b.cli import main as cli_main

    entry = load_fileset(ROOT / "fileset.json")["qcd4b"]
    entry["files"] = dict(list(entry["files"].items())[:1])
    path = tmp_path / "fileset.json"
    path.write_text(json.dumps({"qcd4b": entry}))
    common = ["run", str(path), "--executor", "iterative", "--methods", "cut_mindr", "--no-progress", "--output"]
    assert cli_main([*common, str(tmp_path / "bad"), "--truth-tagging", "qcd"]) == 2
    assert "--truth-tagging 'qcd'" in capsys.readouterr().err
    assert cli_main([*common, str(tmp_path / "out"), "--truth-tagging", "qcd4b"]) == 0
    cutflow = json.loads((tmp_path / "out" / "summary.json").read_text())["cutflow"]["qcd4b"]
    entries = _entries(next(iter(entry["files"])))
    # the file holds only events with four quality jets (generator jet filter): each has a 4b copy
    assert cutflow["all"][1] == entries and cutflow["four_tag"][1] == entries


def test_four_tag_probability_with_and_without_mistags():
    """Event 3 has four b quality jets: P(4b) = eff_b^4 either way. Event 1 has two b, a c and two
    light jets: P(4b) from brute force with every flavour, zero when only b jets may be tagged."""
    eff_b = tag_efficiency(np.array([5]), WP)[0]
    every = tt.four_tag_probability(hand_jets(), WP)
    b_only = tt.four_tag_probability(hand_jets(), WP, (5,))
    assert every[3] == pytest.approx(eff_b**4, rel=1e-12) and b_only[3] == pytest.approx(eff_b**4, rel=1e-12)
    assert every[1] == pytest.approx(brute_force(EVENTS[1])["category"][4], rel=1e-12) and every[1] > 0
    assert b_only[1] == 0.0 and every[2] == 0.0  # event 2: three quality jets
    assert b_only[0] <= every[0]

