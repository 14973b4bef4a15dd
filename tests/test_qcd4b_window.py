"""Importance sampling of the LO four-b generator toward the mass-plane regions
(hh4b.generate.qcd4b.window): the factor on hand-built quark configurations, and unbiasedness of
the two-step unweighting against the plain one on the same VEGAS map."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from hh4b import constants as C
from hh4b.generate.qcd4b import integrate, matrix_elements as me, phasespace as ps
from hh4b.generate.qcd4b.window import HiggsWindow


def _quark(pt, eta, phi, mass=0.0):
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return [np.sqrt(px**2 + py**2 + pz**2 + mass**2), px, py, pz]


def _decay(mass, pt, eta, phi, opening):
    """Two massless quarks from a particle of `mass` moving with (pt, eta, phi), split transverse to its
    direction in its rest frame (opening: azimuth of the split), as lab-frame four-vectors."""
    energy = np.sqrt(mass**2 + (pt * np.cosh(eta)) ** 2)
    p = np.array([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)])
    axis = np.cross(p / np.linalg.norm(p), [np.cos(opening), np.sin(opening), 0.3])
    k = 0.5 * mass * axis / np.linalg.norm(axis)
    beta = p / energy
    gamma = energy / mass
    out = []
    for sign in (1, -1):
        q = sign * k
        bq = beta @ q
        e_lab = gamma * (0.5 * mass + bq)
        q_lab = q + ((gamma - 1) * bq / (beta @ beta) + gamma * 0.5 * mass) * beta
        out.append([e_lab, *q_lab])
    return out


def _event(quarks):
    beams = [[1000.0, 0, 0, 1000.0], [1000.0, 0, 0, -1000.0]]
    return np.array([beams + quarks])


def test_higgs_like_quarks_are_kept_and_soft_pairs_thinned():
    window = HiggsWindow()
    higgs = _event(_decay(C.M_H, 150.0, 0.3, 0.0, 0.4) + _decay(C.M_H, 140.0, -0.4, np.pi, 1.1))
    assert window(higgs)[0] == pytest.approx(1.0)
    # two 40 GeV pairs (g -> b b~ splittings) close to each other: every pairing far below the CR
    soft = _event(_decay(40.0, 60.0, 0.3, 0.0, 0.4) + _decay(40.0, 50.0, -0.1, 0.8, 1.1))
    assert window(soft)[0] == pytest.approx(C.QCD4B_WINDOW_FLOOR)
    # Higgs-like, but the candidates 3 units apart in eta (the analysis cuts |deta_hh| < 1.5)
    apart = _event(_decay(C.M_H, 150.0, 1.5, 0.0, 0.4) + _decay(C.M_H, 140.0, -1.5, np.pi, 1.1))
    assert window(apart)[0] == pytest.approx(C.QCD4B_WINDOW_FLOOR)
    # in the CR but outside the SR: masses 30% above m_h map to jet masses ~ (156, 143) GeV
    control = _event(_decay(1.3 * C.M_H, 150.0, 0.3, 0.0, 0.4) + _decay(1.3 * C.M_H, 140.0, -0.4, np.pi, 1.1))
    assert C.QCD4B_WINDOW_CONTROL <= window(control)[0] < 0.9


def test_window_is_between_floor_and_one_and_sees_forward_quarks():
    window = HiggsWindow()
    rng = np.random.default_rng(3)
    momenta = np.concatenate([np.broadcast_to([[1000.0, 0, 0, 1000.0], [1000.0, 0, 0, -1000.0]], (2000, 2, 4)),
                              ps.rambo_momenta(rng, rng.uniform(200.0, 800.0, 2000))], 1)
    g = window(momenta)
    assert np.all((g >= C.QCD4B_WINDOW_FLOOR) & (g <= 1.0)) and 0.01 < np.mean(g > 0.99) < 0.9
    quarks = _decay(C.M_H, 150.0, 0.3, 0.0, 0.4) + _decay(C.M_H, 140.0, -0.4, np.pi, 1.1)
    quarks[3] = _quark(np.hypot(quarks[3][1], quarks[3][2]), 2.8, np.arctan2(quarks[3][2], quarks[3][1]))
    assert window(_event(quarks))[0] <= C.QCD4B_WINDOW_FORWARD + 1e-12


@pytest.fixture(scope="module")
def sampler():
    from hh4b.theory.pdf import parton_density

    matrix, pdf = me.MatrixElements("full"), parton_density()
    integrand = integrate.Integrand(matrix, pdf, 13000.0)
    cuts = ps.default_cuts("5fs")
    trained = integrate.trained_sampler(integrand, cuts, 6, 10000, me.cache_dir(), pdf.pset, matrix.artifact.name,
                                        progress=False)
    return integrand, trained


def _observables(momenta):
    """Jet-mapped candidate masses of the min-dR pairing of the quarks, and m_4b."""
    from hh4b.analysis import pairing

    quarks = momenta[:, 2:]
    pt, eta, phi = ps.kinematics(momenta)
    mass = np.sqrt(np.maximum(quarks[..., 0] ** 2 - np.sum(quarks[..., 1:] ** 2, -1), 0.0))
    pairings = pairing.all_pairings(pt, eta, phi, mass)
    chosen = pairing.chosen_candidates(pairings, pairing.choose_mindr(pairings))
    return {"m_h1": chosen["h1"]["mass"], "m_h2": chosen["h2"]["mass"], "m_4b": chosen["mhh"]}


def test_window_unweighting_is_unbiased_and_enriches_the_window(sampler):
    """Same map, same number of events: the Higgs-window sample's weighted m_h1, m_h2 (min-dR pairing of
    the quarks) and m_4b histograms and cross section agree with the plain sample's (chi2 of the
    difference over its errors), while it holds several times the events with g = 1."""
    integrand, trained = sampler
    samples = {}
    for name, bias in (("plain", integrate.Bias()), ("window", integrate.Bias(window=HiggsWindow()))):
        rng = np.random.default_rng(41)
        _, biased, _, window = integrate.cross_section(trained, integrand, rng, 40000, bias=bias)[1:]
        w_max = integrate.max_weight(biased, C.QCD4B_UNWEIGHT_OVERWEIGHT, window)
        events = integrate.unweight(trained, integrand, rng, 3000, w_max, progress=False, bias=bias)
        samples[name] = events
    edges = {"m_h1": [0, 40, 80, 110, 140, 180, 250, 1e5], "m_h2": [0, 30, 60, 90, 120, 160, 1e5],
             "m_4b": [0, 150, 250, 350, 500, 800, 1e5]}
    plain, window = samples["plain"], samples["window"]
    for name, bins in edges.items():
        hists = []
        for events in (plain, window):
            x, w = _observables(events.points.momenta)[name], events.weight / events.weight.sum()
            hists.append((np.histogram(x, bins, weights=w)[0], np.histogram(x, bins, weights=w**2)[0]))
        (a, va), (b, vb) = hists
        value = np.sum((a - b) ** 2 / (va + vb))
        assert chi2.sf(value, len(bins) - 2) > 1e-3, (name, a, b)
    sigma = [integrate.pooled_cross_section(np.zeros(0), events)[:2] for events in (plain, window)]
    assert abs(sigma[0][0] - sigma[1][0]) < 4 * np.hypot(sigma[0][1], sigma[1][1])
    inside = [np.mean(HiggsWindow()(events.points.momenta) > 0.99) for events in (plain, window)]
    assert inside[1] > 3 * inside[0]
