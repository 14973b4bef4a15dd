"""Four-momenta, invariant masses and Delta R (hh4b.kinematics) against hand computations on
hand-built events and against scikit-hep `vector`; the padding helpers (hh4b.analysis.padding)."""

import awkward as ak
import numpy as np
import pytest
import vector

from hh4b.analysis.padding import padded_columns, to_padded
from hh4b.analysis.pairing import higgs_candidates
from hh4b.analysis.truth import match_quarks
from hh4b.kinematics import FourMomenta, cartesian, delta_r, invariant_mass, momenta

M_H, M_B = 125.0, 4.8
P_STAR = np.sqrt(M_H**2 / 4 - M_B**2)  # b momentum in H -> bb at rest


def _two_higgs_at_rest():
    """Two Higgs bosons at rest, one decaying along x, the other along y: (n=1, 4) jet columns."""
    pt = np.full((1, 4), P_STAR)
    eta = np.zeros((1, 4))
    phi = np.array([[0.0, np.pi, np.pi / 2, -np.pi / 2]])
    return pt, eta, phi, np.full((1, 4), M_B)


def test_higgs_candidates_by_hand():
    hh = higgs_candidates(*_two_higgs_at_rest(), np.array([[[0, 1], [2, 3]]]))
    for h in (hh["h1"], hh["h2"]):
        assert h["mass"][0] == pytest.approx(M_H, rel=1e-12)
        assert h["pt"][0] == pytest.approx(0.0, abs=1e-9)
        assert h["eta"][0] == 0.0  # no transverse momentum: eta 0 by convention
        assert h["dr"][0] == pytest.approx(np.pi, rel=1e-12)  # back to back in phi
    assert hh["mhh"][0] == pytest.approx(2 * M_H, rel=1e-12)
    # the wrong pairing: b(phi 0) + b(phi pi/2), m^2 = 2 (m_b^2 + E^2) with E = m_H / 2
    wrong = higgs_candidates(*_two_higgs_at_rest(), np.array([[[0, 2], [1, 3]]]))
    assert wrong["h1"]["mass"][0] == pytest.approx(np.sqrt(2 * (M_B**2 + (M_H / 2) ** 2)), rel=1e-12)
    assert wrong["h1"]["dr"][0] == pytest.approx(np.pi / 2, rel=1e-12)


def test_massless_pair_masses_by_hand():
    """Two massless jets of equal pT at eta = +-y, same phi: m = 2 pT sinh(y); back to back: m = 2 pT."""
    pt, y = 100.0, np.array([0.3, 1.0, 2.0])
    a = FourMomenta.from_collider(np.full(3, pt), y, np.zeros(3), np.zeros(3))
    b = FourMomenta.from_collider(np.full(3, pt), -y, np.zeros(3), np.zeros(3))
    np.testing.assert_allclose((a + b).mass, 2 * pt * np.sinh(y), rtol=1e-12)
    np.testing.assert_allclose((a + b).eta, 0.0, atol=1e-12)
    c = momenta(np.array([pt]), np.array([0.0]), np.array([0.0]), np.array([0.0]))
    d = momenta(np.array([pt]), np.array([0.0]), np.array([np.pi]), np.array([0.0]))
    assert invariant_mass(c + d)[0] == pytest.approx(2 * pt, rel=1e-12)
    # collinear massless jets: rounding may make the sum space-like; the mass is 0, never NaN
    assert invariant_mass(c + c)[0] == pytest.approx(0.0, abs=1e-5)
    single = FourMomenta.from_collider(*(np.array([v]) for v in (pt, 1.3, 0.4, 0.0)))
    assert (single + single).mass[0] == pytest.approx(0.0, abs=1e-5)


def test_delta_r_by_hand_and_vector():
    # across the phi = +-pi boundary: dphi = 2 pi - 6
    assert delta_r(0.5, 3.0, -0.5, -3.0) == pytest.approx(np.hypot(1.0, 2 * np.pi - 6.0), rel=1e-14)
    assert delta_r(1.0, 0.2, 1.0, 0.2) == 0.0
    rng = np.random.default_rng(4)
    eta1, eta2 = rng.uniform(-3, 3, (2, 500))
    phi1, phi2 = rng.uniform(-7, 7, (2, 500))  # not wrapped: delta_r wraps the difference
    ones = np.ones(500)
    reference = vector.array({"pt": ones, "eta": eta1, "phi": phi1}).deltaR(
        vector.array({"pt": ones, "eta": eta2, "phi": phi2}))
    np.testing.assert_allclose(delta_r(eta1, phi1, eta2, phi2), reference, rtol=1e-14, atol=1e-15)
    jagged = ak.unflatten(eta1, [200, 300])  # awkward inputs broadcast like numpy
    dr = delta_r(jagged, ak.unflatten(phi1, [200, 300]), jagged, ak.unflatten(phi2, [200, 300]))
    np.testing.assert_allclose(ak.to_numpy(ak.flatten(dr)), delta_r(eta1, phi1, eta1, phi2), rtol=0)


def test_four_momenta_agree_with_vector():
    rng = np.random.default_rng(7)
    cols = [rng.uniform(20, 300, (50, 4)), rng.uniform(-2.5, 2.5, (50, 4)), rng.uniform(-np.pi, np.pi, (50, 4)),
            rng.uniform(0, 20, (50, 4))]
    fast = FourMomenta.from_collider(*cols)
    total = fast[:, 0] + fast[:, 1] + fast[:, 2] + fast[:, 3]
    objects = [[vector.obj(pt=cols[0][i, j], eta=cols[1][i, j], phi=cols[2][i, j], mass=cols[3][i, j])
                for j in range(4)] for i in range(50)]
    sums = [e[0] + e[1] + e[2] + e[3] for e in objects]
    for name in ("pt", "eta", "phi", "mass"):
        np.testing.assert_allclose(getattr(total, name), [getattr(s, name) for s in sums], rtol=1e-10)
    p4 = momenta(*cols)
    np.testing.assert_allclose(invariant_mass(p4[:, 0] + p4[:, 1] + p4[:, 2] + p4[:, 3]), [s.mass for s in sums],
                               rtol=1e-10)
    back = cartesian(total.px, total.py, total.pz, total.E)
    np.testing.assert_allclose(back.eta, total.eta, rtol=1e-12)


def test_truth_matching_uses_the_same_delta_r():
    jets = ak.zip({"pt": [[50.0, 40.0, 30.0, 20.0]], "eta": [[0.0, 1.0, -1.0, 2.0]],
                   "phi": [[3.1, 0.0, 1.0, -2.0]], "mass": [[5.0] * 4]})
    quarks = ak.zip({"pt": [[50.0, 40.0, 30.0, 20.0]], "eta": [[0.1, 1.0, -1.0, 2.0]],
                     "phi": [[-3.1, 0.0, 1.0, -2.0]], "parent": [[2, 2, 3, 3]]})  # quark 0 across phi = pi
    assert match_quarks(jets, quarks)["jet_parent"].tolist() == [[0, 0, 1, 1]]


def test_padding_clips_and_fills():
    record = ak.zip({"pt": [[3.0, 2.0, 1.0], [], [5.0]], "eta": [[0.1, 0.2, 0.3], [], [0.5]]})
    assert to_padded(record.pt, 2, -1.0).tolist() == [[3.0, 2.0], [-1.0, -1.0], [5.0, -1.0]]
    cols = padded_columns(record, ("pt", "eta"))
    assert cols["pt"].shape == (3, 3) and cols["pt"].dtype == np.float64
    assert np.isnan(cols["eta"][1]).all() and cols["eta"][0].tolist() == [0.1, 0.2, 0.3]
