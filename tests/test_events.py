"""Readers: hh4b files, CMS NanoAOD, Delphes -> one jet record; clear errors for missing branches."""

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from coffea.nanoevents import DelphesSchema, NanoEventsFactory

from hh4b.analysis.events import (
    NanoSchema,
    btag_config,
    btag_options,
    gen_weight,
    higgs_b_quark_columns,
    higgs_b_quarks,
    read_jets,
)
from hh4b.analysis.truth import MATCHED, NO_TRUTH, correct_pairing, match_quarks
from hh4b.constants import CMS_BTAG_THRESHOLDS
from hh4b.errors import ConfigError, InputFileError

from toys import hh_events, write_delphes, write_nanoaod, write_tree

TESTDATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "testdata"


def _ids(n):
    return {"run": np.ones(n, dtype=np.uint32), "luminosityBlock": np.ones(n, dtype=np.uint32),
            "event": np.arange(n, dtype=np.uint64)}


def _events(path):
    return NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=NanoSchema, mode="eager",
                                       metadata={"filename": str(path)}).events()


@pytest.fixture(scope="module")
def toy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("events") / "hh.root"
    write_nanoaod(path, hh_events(400, 500, 5))
    return path


def test_hh4b_file_jets(toy_file):
    jets = read_jets(_events(toy_file), "70")
    assert set(jets.fields) == {"pt", "eta", "phi", "mass", "btag", "flavour"}
    assert ak.all(jets.flavour == 5)
    assert ak.to_numpy(ak.flatten(jets.btag)).dtype == np.bool_
    assert ak.all(ak.num(jets) <= 4)
    raw = uproot.open(toy_file)["Events"]["Jet_btagWP70"].array()
    assert ak.sum(jets.btag) == ak.sum(raw)


def test_vector_behaviour(toy_file):
    import vector

    vector.register_awkward()
    jets = read_jets(_events(toy_file))[:10]
    pair = jets[:, 0] + jets[:, 1]
    assert np.all(np.asarray(pair.mass) >= 0)


def test_missing_tag_branch_names_file_and_branch(tmp_path):
    events = hh_events(20, 500, 1)
    path = tmp_path / "notag.root"
    jets = events["jets"]
    write_tree(path, {**_ids(20), "genWeight": np.ones(20, dtype=np.float32),
                      "Jet": ak.zip({k: jets[k] for k in ("pt", "eta", "phi", "mass")})})
    with pytest.raises(InputFileError, match=r"notag\.root.*Jet_btagWP70"):
        read_jets(_events(path), "70")


def test_missing_kinematics_branch(tmp_path):
    path = tmp_path / "nopt.root"
    jets = hh_events(20, 500, 1)["jets"]
    write_tree(path, {**_ids(20), "Jet": ak.zip({k: jets[k] for k in ("eta", "phi", "mass", "btagWP70")})})
    with pytest.raises(InputFileError, match=r"nopt\.root.*Jet_pt"):
        read_jets(_events(path))


def test_no_jets_at_all(tmp_path):
    path = tmp_path / "nojets.root"
    write_tree(path, {**_ids(5), "genWeight": np.ones(5, dtype=np.float32)})
    with pytest.raises(InputFileError, match="nojets.root"):
        read_jets(_events(path))


def test_cms_deepjet_threshold():
    path = TESTDATA / "nano_tt_v12.root"
    if not path.is_file():
        pytest.skip("shared test data absent")
    events = _events(path)
    loose = read_jets(events, "L", {"thresholds": {"L": 0.05}})
    tight = read_jets(events, "T", {"thresholds": {"T": 0.7}})
    score = events.Jet.btagDeepFlavB
    assert ak.sum(tight.btag) == ak.sum(score > 0.7) < ak.sum(loose.btag)
    assert "flavour" in loose.fields
    # tagged jets are mostly true b jets in ttbar
    assert ak.mean(tight.flavour[tight.btag] == 5) > 0.7


def test_cms_working_points_differ_and_follow_the_btv_table():
    path = TESTDATA / "nano_tt_v12.root"
    if not path.is_file():
        pytest.skip("shared test data absent")
    events = _events(path)
    raw = uproot.open(path)["Events"].arrays(["Jet_btagDeepFlavB", "Jet_btagPNetB"])
    counts = {}
    for wp in ("L", "M", "T"):
        jets = read_jets(events, wp)
        threshold = CMS_BTAG_THRESHOLDS["DeepJet"]["2018UL"][wp]
        assert jets.btag.tolist() == (raw["Jet_btagDeepFlavB"] > threshold).tolist()
        counts[wp] = ak.sum(jets.btag)
    assert counts["L"] > counts["M"] > counts["T"] > 0
    pnet = read_jets(events, "M", {"tagger": "ParticleNet", "era": "2022postEE"})
    assert pnet.btag.tolist() == (raw["Jet_btagPNetB"] > 0.2605).tolist()
    for wp in ("70", "77", "85"):
        with pytest.raises(ConfigError, match=rf"nano_tt_v12\.root.*working point '{wp}' not known for DeepJet 2018UL"):
            read_jets(events, wp)
    with pytest.raises(ConfigError, match="era '2031' unknown for DeepJet"):
        read_jets(events, "M", {"era": "2031"})


def _cms_file(path, n=30, taggers=("btagUParTAK4B",), seed=4):
    """A CMS-NanoAOD-like file (no hh4b tag flags) with the given tagger score branches."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 6, n)
    total = int(counts.sum())
    jets = {"pt": rng.uniform(20, 200, total), "eta": rng.uniform(-2.4, 2.4, total),
            "phi": rng.uniform(-3, 3, total), "mass": rng.uniform(2, 20, total),
            "hadronFlavour": rng.choice([0, 4, 5], total).astype(np.int32)}
    jets.update({t: rng.uniform(0, 1, total) for t in taggers})
    write_tree(path, {**_ids(n), "genWeight": np.ones(n, dtype=np.float32),
                      "Jet": ak.zip({k: ak.unflatten(v, counts) for k, v in jets.items()})})
    return path


def test_uparT_only_file_is_tagged_by_working_point(tmp_path):
    """A NanoAOD v15-like file with only Jet_btagUParTAK4B: the tagger is found, the 2024 BTV
    thresholds apply, a missing requested tagger and an unknown working point are one-line errors."""
    path = _cms_file(tmp_path / "v15.root")
    events = _events(path)
    score = uproot.open(path)["Events"]["Jet_btagUParTAK4B"].array()
    medium = read_jets(events, "M")
    assert medium.btag.tolist() == (score > 0.1272).tolist()
    assert ak.sum(read_jets(events, "T").btag) < ak.sum(medium.btag) < ak.sum(read_jets(events, "L").btag)
    custom = read_jets(events, "70", {"thresholds": {"70": 0.5}})
    assert custom.btag.tolist() == (score > 0.5).tolist()
    missing = r"^\S*v15\.root: branch Jet_btagDeepFlavB not found \(b-tagger DeepJet\)$"
    with pytest.raises(InputFileError, match=missing):
        read_jets(events, "M", {"tagger": "DeepJet"})
    with pytest.raises(ConfigError, match=r"v15\.root: b-tag working point '85' not known for UParT 2024"):
        read_jets(events, "85")
    rule = btag_config("nanoaod", ["pt", "btagUParTAK4B"], "M")
    assert rule == {"format": "cms", "wp": "M", "branch": "Jet_btagUParTAK4B", "tagger": "UParT", "era": "2024",
                    "threshold": 0.1272}


def test_btag_options_cli_over_metadata():
    meta = {"btag_tagger": "DeepJet", "btag_thresholds": {"M": 0.3, "T": 0.8}, "delphes_btag_bits": {"70": 0}}
    options = btag_options(meta, {"tagger": "UParT", "era": None, "thresholds": {"T": 0.9}})
    assert options == {"tagger": "UParT", "thresholds": {"M": 0.3, "T": 0.9}, "delphes_bits": {"70": 0}}


def test_delphes_mapping():
    events = ak.Array({
        "Jet": ak.zip({"PT": [[100.0, 50.0], [30.0]], "Eta": [[0.1, -0.2], [1.0]], "Phi": [[0.0, 1.0], [2.0]],
                       "Mass": [[10.0, 5.0], [3.0]], "BTag": ak.values_astype([[1, 2], [3]], np.uint32),
                       "Flavor": [[5, 0], [4]]}),
        "Particle": ak.zip({"PT": [[0.0, 60.0, 40.0]], "Eta": [[0.0, 0.1, 0.2]], "Phi": [[0.0, 0.0, 1.0]],
                            "PID": [[25, 5, -5]], "M1": [[-1, 0, 0]]}) [[0, 0]],
    })
    bits = {"delphes_bits": {"70": 0, "77": 1}}
    jets = read_jets(events, "70", bits)
    assert jets.pt.tolist() == [[100.0, 50.0], [30.0]]
    assert jets.btag.tolist() == [[True, False], [True]]
    assert read_jets(events, "77", bits).btag.tolist() == [[False, True], [True]]
    with pytest.raises(ConfigError, match="Delphes b-tag working point '85' has no bit of Jet.BTag"):
        read_jets(events, "85", bits)
    quarks = higgs_b_quarks(events)
    assert ak.num(quarks).tolist() == [2, 2]


def _delphes_events(path):
    return NanoEventsFactory.from_root({str(path): "Delphes"}, schemaclass=DelphesSchema, mode="eager",
                                       metadata={"filename": str(path)}).events()


def test_written_delphes_file_jets_tags_and_weights(tmp_path):
    """A Delphes-shaped file written here: Event.Weight comes back flat, one weight per event."""
    path = tmp_path / "delphes_toy.root"
    write_delphes(path, {"PT": [[100.0, 50.0], [30.0], []], "Eta": [[0.1, -0.2], [1.0], []],
                         "Phi": [[0.0, 1.0], [2.0], []], "Mass": [[10.0, 5.0], [3.0], []],
                         "BTag": [[1, 2], [3], []], "Flavor": [[5, 0], [4], []]}, [2.0, 3.0, 4.0])
    events = _delphes_events(path)
    jets = read_jets(events, "77", {"delphes_bits": {"70": 0, "77": 1}})
    assert jets.pt.tolist() == [[100.0, 50.0], [30.0], []]
    assert jets.btag.tolist() == [[False, True], [True], []]
    assert jets.flavour.tolist() == [[5, 0], [4], []]
    assert gen_weight(events).tolist() == [2.0, 3.0, 4.0]


def test_real_delphes_file_matches_uproot():
    path = TESTDATA / "delphes.root"
    if not path.is_file():
        pytest.skip("shared test data absent")
    events = _delphes_events(path)
    raw = uproot.open(path)["Delphes"].arrays(["Jet.PT", "Jet.Eta", "Jet.BTag", "Event.Weight"])
    for bit in (0, 1):
        jets = read_jets(events, "wp", {"delphes_bits": {"wp": bit}})
        assert jets.pt.tolist() == ak.values_astype(raw["Jet.PT"], np.float64).tolist()
        assert jets.eta.tolist() == ak.values_astype(raw["Jet.Eta"], np.float64).tolist()
        assert jets.btag.tolist() == ((raw["Jet.BTag"] & (1 << bit)) > 0).tolist()
    assert ak.sum(read_jets(events, "wp", {"delphes_bits": {"wp": 0}}).btag) > 0
    np.testing.assert_array_equal(gen_weight(events), ak.to_numpy(ak.flatten(raw["Event.Weight"], axis=None)))


def test_truth_matching_and_correct_pairing(toy_file):
    events = _events(toy_file)
    jets = read_jets(events)
    quarks = higgs_b_quarks(events)
    assert ak.all(ak.num(quarks) == 4)
    matching = match_quarks(jets, quarks)
    full = (matching["status"] == MATCHED) & (ak.to_numpy(ak.num(jets)) == 4)
    assert full.mean() > 0.5
    # the truth pairing (jets grouped by parent) is always correct, a swapped one never
    parent = ak.to_numpy(ak.fill_none(ak.pad_none(matching["jet_parent"], 4, clip=True), -1))
    rows = np.flatnonzero(full)
    truth_idx = np.stack([np.argsort(parent[r], kind="stable").reshape(2, 2) for r in rows])
    assert correct_pairing(matching["jet_parent"][rows], truth_idx).all()
    wrong = truth_idx.copy()
    wrong[:, 0, 1], wrong[:, 1, 0] = truth_idx[:, 1, 0], truth_idx[:, 0, 1]
    assert not correct_pairing(matching["jet_parent"][rows], wrong).any()
    assert (match_quarks(jets, None)["status"] == NO_TRUTH).all()


def test_truth_flags_double_and_missing_matches():
    jets = ak.zip({"pt": [[50.0, 50.0, 50.0, 50.0, 50.0]], "eta": [[0.0, 0.1, 1.0, 2.0, -1.0]],
                   "phi": [[0.0, 0.0, 1.0, 2.0, -2.0]]})
    quarks = ak.zip({"pt": [[50.0] * 4], "eta": [[0.05, 1.0, 2.0, -1.0]], "phi": [[0.0, 1.0, 2.0, -2.0]],
                     "parent": [[1, 1, 2, 2]]})
    from hh4b.analysis.truth import MULTI_MATCHED_QUARK, UNMATCHED_QUARK

    assert match_quarks(jets, quarks)["status"].tolist() == [MULTI_MATCHED_QUARK]
    far = ak.zip({"pt": [[50.0] * 4], "eta": [[0.05, 1.0, 2.0, 3.0]], "phi": [[0.0, 1.0, 2.0, 0.5]],
                  "parent": [[1, 1, 2, 2]]})
    assert match_quarks(jets[:, 2:], far)["status"].tolist() == [UNMATCHED_QUARK]


def _same_quark_columns(events):
    from hh4b.analysis.truth import quark_columns

    fast, slow = higgs_b_quark_columns(events), quark_columns(higgs_b_quarks(events))
    assert set(fast) == set(slow)
    for key in slow:
        assert fast[key].dtype == slow[key].dtype, key
        np.testing.assert_array_equal(fast[key], slow[key], err_msg=key)


def test_quark_columns_equal_the_jagged_quarks(toy_file):
    """The processor's flat-numpy Higgs b quarks are the awkward ones of higgs_b_quarks, padded."""
    _same_quark_columns(_events(toy_file))
    delphes = ak.Array({"Particle": ak.zip({"PT": [[0.0, 60.0, 40.0], [], [1.0, 2.0]],
                                            "Eta": [[0.0, 0.1, 0.2], [], [0.5, 0.6]],
                                            "Phi": [[0.0, 0.0, 1.0], [], [1.0, 2.0]],
                                            "PID": [[25, 5, -5], [], [5, 25]], "M1": [[-1, 0, 0], [], [1, 7]]})})
    _same_quark_columns(delphes)
    assert higgs_b_quark_columns(ak.Array({"Jet": ak.zip({"pt": [[1.0]]})})) is None


def test_padded_matching_equals_jagged_matching(toy_file):
    from hh4b.analysis.padding import padded_columns
    from hh4b.analysis.truth import match_padded

    events = _events(toy_file)
    jets = read_jets(events)
    slow = match_quarks(jets, higgs_b_quarks(events))
    padded = padded_columns(jets, ("eta", "phi"))
    status, parent = match_padded(padded["eta"], padded["phi"], higgs_b_quark_columns(events))
    np.testing.assert_array_equal(status, slow["status"])
    n_jets = ak.to_numpy(ak.num(jets.pt, axis=1))
    assert ak.unflatten(parent[np.arange(parent.shape[1]) < n_jets[:, None]], n_jets).tolist() == \
        slow["jet_parent"].tolist()
    idx = np.tile(np.array([[0, 1], [2, 3]]), (len(jets), 1, 1))
    np.testing.assert_array_equal(correct_pairing(parent, idx), correct_pairing(slow["jet_parent"], idx))
