"""Four-tag selection, tag categories, cut-based cuts, X_Wt top veto and mass-plane regions."""

import itertools

import awkward as ak
import numpy as np
import pytest
import vector

from hh4b.analysis.cutbased import analyse
from hh4b.analysis.events import make_jets
from hh4b.analysis.padding import padded_jets
from hh4b.analysis.selection import (
    four_candidates,
    min_x_wt,
    pt_cuts,
    quality_mask,
    region_codes,
    x_hh,
    x_wt,
)
from hh4b.constants import M_T, M_W, XWT_MIN

from test_pairing import COLLIMATED

M_B = 4.8


def _jets(events):
    """Jet record from events given as lists of (pt, eta, phi, mass, btag)."""
    counts = np.array([len(e) for e in events], dtype=np.int64)
    flat = np.array([j for e in events for j in e], dtype=np.float64).reshape(-1, 5)
    cols = [ak.unflatten(flat[:, i], counts) for i in range(4)]
    return make_jets(*cols, ak.unflatten(flat[:, 4] > 0.5, counts))


def _top_event():
    """t -> b W -> b q q' at rest plus three other b jets: six jets, four tagged."""
    p_star = np.sqrt((M_T**2 - (M_W + M_B) ** 2) * (M_T**2 - (M_W - M_B) ** 2)) / (2 * M_T)
    b = np.array([-p_star, 0.0, 0.0, np.hypot(p_star, M_B)])
    w_energy = np.hypot(p_star, M_W)
    beta, gamma = p_star / w_energy, w_energy / M_W
    q_star = M_W / 2
    quarks = [np.array([gamma * beta * q_star, s * q_star, 0.0, gamma * q_star]) for s in (1.0, -1.0)]
    jets = []
    for p4, tag in ((b, 1), (quarks[0], 0), (quarks[1], 0)):
        p = vector.obj(px=p4[0], py=p4[1], pz=p4[2], E=p4[3])
        jets.append((p.pt, p.eta, p.phi, p.mass, tag))
    jets += [(100.0, 1.2, 2.0, 10.0, 1), (80.0, -1.0, -2.0, 10.0, 1), (60.0, 1.8, -1.0, 8.0, 1)]
    return sorted(jets, key=lambda j: -j[0])


def _brute_force_min_xwt(event, cand_index):
    """Loops over all W pairs and candidate b jets of one event: the reference for min_x_wt."""
    p4 = [np.array([(p := vector.obj(pt=j[0], eta=j[1], phi=j[2], mass=j[3])).px, p.py, p.pz, p.E])
          for j in event]
    quality = [j[0] > 40 and abs(j[1]) < 2.5 for j in event]
    best = np.inf
    for i, k in itertools.combinations(range(len(event)), 2):
        if not (quality[i] and quality[k]):
            continue
        w = p4[i] + p4[k]
        for b in cand_index:
            if b in (i, k):
                continue
            t = w + p4[b]
            m_w = np.sqrt(max(w[3] ** 2 - w[:3] @ w[:3], 0))
            m_t = np.sqrt(max(t[3] ** 2 - t[:3] @ t[:3], 0))
            best = min(best, x_wt(m_w, m_t))
    return best


def test_top_event_is_vetoed_and_hh_event_kept():
    top = _top_event()
    hh = [(*j, 1) for j in COLLIMATED]
    jets = _jets([top, hh])
    cands = four_candidates(padded_jets(jets))
    assert cands["category"].tolist() == [4, 4]
    xwt = min_x_wt(padded_jets(jets), cands)
    assert xwt[0] < 0.1 < XWT_MIN  # the true (b, q, q') triplet gives m_W = 80.4, m_t = 173
    assert xwt[1] > XWT_MIN
    for k, event in enumerate([top, hh]):
        assert xwt[k] == pytest.approx(_brute_force_min_xwt(event, cands["index"][k]), rel=1e-9)
    result = analyse(jets)
    assert np.isfinite(result["xwt"][1])
    for quantities in result["methods"].values():
        assert not quantities["veto_ok"][0]


def test_four_tag_and_categories():
    events = [
        [(200, 0.1, 0, 10, 1), (150, 0.2, 1, 10, 1), (120, 0.3, 2, 10, 1), (90, 0.4, 3, 10, 1), (60, 0.5, -1, 10, 1)],
        [(200, 0.1, 0, 10, 1), (150, 0.2, 1, 10, 0), (120, 0.3, 2, 10, 1), (90, 0.4, 3, 10, 0), (60, 0.5, -1, 10, 1)],
        [(200, 0.1, 0, 10, 0), (150, 0.2, 1, 10, 1), (120, 0.3, 2, 10, 0), (90, 0.4, 3, 10, 0), (60, 0.5, -1, 10, 1)],
        [(200, 0.1, 0, 10, 1), (150, 3.0, 1, 10, 1), (120, 0.3, 2, 10, 1), (35, 0.4, 3, 10, 1), (60, 0.5, -1, 10, 1)],
        [(200, 0.1, 0, 10, 1), (150, 0.2, 1, 10, 0), (120, 0.3, 2, 10, 0), (90, 0.4, 3, 10, 0)],
        [(200, 0.1, 0, 10, 1), (float("nan"), 0.2, 1, 10, 1), (120, 0.3, 2, 10, 1), (90, 0.4, 3, 10, 1)],
        [],
    ]
    cands = four_candidates(padded_jets(_jets(events)))
    assert cands["ntags"].tolist() == [5, 3, 2, 3, 1, 3, 0]
    assert cands["category"].tolist() == [4, 3, 2, 0, 0, 0, 0]
    assert cands["index"][0].tolist() == [0, 1, 2, 3]  # four leading tagged, pT-ordered
    assert cands["index"][1].tolist() == [0, 1, 2, 4]  # three tagged + leading untagged (150)
    assert cands["index"][2].tolist() == [0, 1, 2, 4]  # two tagged + the two leading untagged
    assert cands["btag"][2].tolist() == [False, True, False, True]
    assert cands["index"][3].tolist() == [-1] * 4
    assert np.isnan(cands["pt"][6]).all()


def test_quality_rejects_nan_soft_and_forward():
    jets = padded_jets(_jets([[(50, 0, 0, 5, 1), (39, 0, 0, 5, 1), (50, 2.6, 0, 5, 1), (float("nan"), 0, 0, 5, 1)]]))
    assert quality_mask(jets)[0].tolist() == [True, False, False, False]


def test_pt_cuts_eq4():
    m4j = np.array([500.0, 500.0, 500.0])
    # thresholds: lead > 147, subl > 92
    assert pt_cuts(np.array([150.0, 140.0, 150.0]), np.array([95.0, 95.0, 90.0]), m4j).tolist() == [True, False, False]


def test_regions():
    centre = (120.0, 110.0)
    m1 = np.array([120.0, 1.03 * 120 + 20, 1.05 * 120 + 40, 300.0])
    m2 = np.array([110.0, 1.03 * 110, 1.05 * 110, 300.0])
    assert x_hh(m1, m2, centre)[0] == pytest.approx(0.0)
    assert region_codes(m1, m2, centre).tolist() == [1, 2, 3, 0]
    atlas = region_codes(np.array([124.0]), np.array([117.0]), (124.0, 117.0))
    assert atlas.tolist() == [1]
    assert region_codes(np.array([124.0]), np.array([117.0]), centre).tolist() == [1]
    assert region_codes(np.array([135.0]), np.array([95.0]), centre).tolist() != [1]


def test_analyse_empty_and_pluggable_method():
    empty = analyse(_jets([]))
    assert len(empty["category"]) == 0
    jets = _jets([[(*j, 1) for j in COLLIMATED]])

    def fixed(jets, cands):
        return {"jet_idx": np.array([[[0, 2], [1, 3]]]), "valid": np.array([True]), "score": np.array([0.9])}

    result = analyse(jets, methods=("cut_mindr", "fixed"), pairers={"fixed": fixed})
    assert result["methods"]["cut_mindr"]["jet_idx"][0].tolist() == [[0, 1], [2, 3]]
    assert sorted(map(sorted, result["methods"]["fixed"]["jet_idx"][0].tolist())) == [[0, 2], [1, 3]]
    assert result["methods"]["fixed"]["score"][0] == 0.9
    with pytest.raises(ValueError, match="unknown method"):
        analyse(jets, methods=("nope",))


def test_plug_ins_see_only_selectable_events_once_per_chunk():
    """A network plug-in gets only the events with a tag category (here the second of three: the first
    has two jets, the third no tags), the same objects for every method, and its output lands on the
    right event."""
    jets = _jets([[(60, 0, 0, 10, 1), (50, 1, 2, 10, 1)], [(*j, 1) for j in COLLIMATED],
                  [(*j, 0) for j in COLLIMATED]])
    seen = []

    def network(jets, cands):
        seen.append((jets, len(jets)))
        n = len(jets)
        return {"jet_idx": np.tile([[0, 2], [1, 3]], (n, 1, 1)), "valid": np.ones(n, bool), "score": np.full(n, 0.7)}

    result = analyse(jets, methods=("cut_mindr", "a", "b"), pairers={"a": network, "b": network})
    assert [n for _, n in seen] == [1, 1] and seen[0][0] is seen[1][0]
    seen.clear()
    four_tag_only = analyse(jets, methods=("cut_mindr", "a"), pairers={"a": network}, plugin_categories=(4,))
    assert [n for _, n in seen] == [1]  # the second event has four tags: still scored
    assert four_tag_only["methods"]["a"]["valid"].tolist() == [False, True, False]
    seen.clear()
    two_three = analyse(jets, methods=("a",), pairers={"a": network}, plugin_categories=(2, 3))
    assert not two_three["methods"]["a"]["valid"].any()
    assert seen == []  # no event of those categories: the network is not called
    for name in ("a", "b"):
        quantities = result["methods"][name]
        assert quantities["valid"].tolist() == [False, True, False]
        assert quantities["score"].tolist() == [0.0, 0.7, 0.0]
