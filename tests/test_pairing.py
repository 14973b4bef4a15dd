"""Pairing methods on hand-built events with known kinematics (paper section III.A)."""

import numpy as np
import pytest
import vector

from hh4b.analysis.pairing import (
    PAIRINGS,
    all_pairings,
    choose,
    chosen_candidates,
    d_hh,
    dr_window_allowed,
    higgs_candidates,
)


def _cols(*events):
    """(n, 4) pt, eta, phi, mass columns from events given as lists of (pt, eta, phi, mass)."""
    arr = np.array(events, dtype=np.float64)
    return arr[..., 0], arr[..., 1], arr[..., 2], arr[..., 3]


# H(320) -> hh -> 4b made with exact two-body decays; truth pairs (0, 1) and (2, 3).
# Pairings 0 and 1 pass the dR windows, 2 does not; D_hh picks 0 (right), min-dR picks 1.
TWO_ALLOWED = [(46.8, 0.682, -2.117, 4.8), (90.2, 0.191, 1.795, 4.8),
               (86.1, -0.388, -1.302, 4.8), (73.4, -0.42, 0.499, 4.8)]
# two collimated pairs: (0, 1) and (2, 3) with small dR, back to back
COLLIMATED = [(300.0, 0.0, 0.0, 5.0), (250.0, 0.3, 0.2, 5.0),
              (200.0, 0.5, 3.0, 5.0), (150.0, 0.2, 2.7, 5.0)]
# four jets at right angles with m_4j = 1200 GeV: every pairing has dR = pi/2 or pi, outside Eq. (2)
CROSS = [(300.0, 0.0, 0.0, 0.0), (300.0, 0.0, np.pi / 2, 0.0),
         (300.0, 0.0, np.pi, 0.0), (300.0, 0.0, -np.pi / 2, 0.0)]


def test_pairings_constant_shape_and_coverage():
    assert PAIRINGS.shape == (3, 2, 2)
    for pairing in PAIRINGS:
        assert sorted(pairing.ravel().tolist()) == [0, 1, 2, 3]
    partitions = {frozenset(frozenset(p) for p in pairing.tolist()) for pairing in PAIRINGS}
    assert len(partitions) == 3


def test_pair_kinematics_match_vector():
    pairings = all_pairings(*_cols(TWO_ALLOWED))
    jets = [vector.obj(pt=p, eta=e, phi=f, mass=m) for p, e, f, m in TWO_ALLOWED]
    total = jets[0] + jets[1] + jets[2] + jets[3]
    assert pairings["m4j"][0] == pytest.approx(total.mass, rel=1e-9)
    for k, ((a, b), (c, d)) in enumerate(PAIRINGS):
        masses = sorted([(jets[a] + jets[b]).mass, (jets[c] + jets[d]).mass])
        got = sorted([pairings["lead_mass"][0, k], pairings["subl_mass"][0, k]])
        assert got == pytest.approx(masses, rel=1e-9)


def test_mindr_picks_collimated_pairs():
    choice, valid = choose(all_pairings(*_cols(COLLIMATED)), "mindr")
    assert valid[0] and choice[0] == 0


def test_dhh_picks_right_one_of_two_allowed_pairings():
    pairings = all_pairings(*_cols(TWO_ALLOWED))
    assert dr_window_allowed(pairings)[0].tolist() == [True, True, False]
    dist = d_hh(pairings["lead_mass"][0], pairings["subl_mass"][0])
    assert dist[0] < dist[1]
    choice, valid = choose(pairings, "dhh")
    assert valid[0] and choice[0] == 0
    # min-dR disagrees on this event: it is the pairing 1
    assert choose(pairings, "mindr")[0][0] == 1


def test_dr_windows_reject_event_but_mindr_keeps_it():
    pairings = all_pairings(*_cols(CROSS))
    assert pairings["m4j"][0] == pytest.approx(1200.0)
    assert not dr_window_allowed(pairings)[0].any()
    assert not choose(pairings, "dhh")[1][0]
    assert choose(pairings, "mindr")[1][0]


def test_vectorised_over_many_events():
    events = [TWO_ALLOWED, CROSS, COLLIMATED] * 1000
    pairings = all_pairings(*_cols(*events))
    choice, valid = choose(pairings, "dhh")
    assert valid.tolist() == [True, False, True] * 1000
    assert choice[::3].tolist() == [0] * 1000


def test_dhh_is_distance_to_the_line():
    centre = (120.0, 110.0)
    assert d_hh(120.0, 110.0, centre) == pytest.approx(0.0)
    assert d_hh(240.0, 220.0, centre) == pytest.approx(0.0)
    # the point (120, 0) is 120 * sin(angle) away from the line through (120, 110)
    assert d_hh(120.0, 0.0, centre) == pytest.approx(120.0 * 110.0 / np.hypot(120.0, 110.0))


def test_candidates_ordered_by_scalar_pt_sum():
    cols = _cols(COLLIMATED)
    # ask for pairing 0 with the low-pT pair listed first
    idx = np.array([[[2, 3], [0, 1]]])
    hh = higgs_candidates(*cols, idx)
    assert hh["h1"]["ht"][0] == pytest.approx(550.0)
    assert hh["h2"]["ht"][0] == pytest.approx(350.0)
    assert hh["jet_idx"][0].tolist() == [[0, 1], [2, 3]]
    same = chosen_candidates(all_pairings(*cols), np.array([0]))
    assert same["mhh"][0] == pytest.approx(hh["mhh"][0])
    assert same["h1"]["mass"][0] == pytest.approx(hh["h1"]["mass"][0])


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match="unknown pairing method"):
        choose(all_pairings(*_cols(CROSS)), "nearest")
