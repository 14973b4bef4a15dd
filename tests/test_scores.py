"""NN selections in the limits: threshold from histograms equals the per-event scan; templates above it."""

from types import SimpleNamespace

import hist
import numpy as np
import pytest

from hh4b.stats.scores import nested_edges, optimise, score_mhh, template_above
from hh4b.stats.thresholds import scan_threshold


def _out(n=20000, seed=0):
    rng = np.random.default_rng(seed)
    h = hist.Hist(hist.axis.StrCategory(["sig", "bkg"], name="dataset"), hist.axis.StrCategory(["4b"], name="tags"),
                  hist.axis.StrCategory(["spanet"], name="method"), hist.axis.Regular(100, 0, 1, name="score"),
                  hist.axis.Variable([200, 400, 600, 1000], name="mhh"), storage=hist.storage.Weight())
    events = {}
    for d, a, b, w in (("sig", 5, 1.5, 0.01), ("bkg", 1.5, 5, 1.0)):
        s = (np.floor(rng.beta(a, b, n) * 100) + 0.5) / 100  # bin centres: the scan sees the same scores
        m = rng.uniform(200, 1000, n)
        h.fill(dataset=d, tags="4b", method="spanet", score=s, mhh=m, weight=np.full(n, w))
        events[d] = (s, np.full(n, w), m)
    return SimpleNamespace(hist=lambda name: h, hists={"mhh_score": h}, path="test"), events


def test_threshold_from_histograms_equals_per_event_scan():
    out, events = _out()
    edges, _, sig, sig_var = score_mhh(out, ["sig"], "spanet")
    _, _, bkg, _ = score_mhh(out, ["bkg"], "spanet")
    from_hist = optimise(sig.sum(axis=1), bkg.sum(axis=1), edges)
    per_event = scan_threshold(events["sig"][0], events["sig"][1], events["bkg"][0], events["bkg"][1])
    assert from_hist.threshold == pytest.approx(per_event.threshold)
    assert from_hist.as_dict()["S_over_sqrtB"] == pytest.approx(per_event.as_dict()["S_over_sqrtB"], rel=1e-9)
    assert 0.3 < from_hist.threshold < 1.0


def test_template_above_threshold_counts_the_right_events():
    out, events = _out()
    edges, mhh_edges, sig, var = score_mhh(out, ["sig"], "spanet")
    t = template_above(edges, sig, var, 0.62)
    s, w, m = events["sig"]
    expected = np.histogram(m[s >= 0.62], mhh_edges, weights=w[s >= 0.62])[0]
    np.testing.assert_allclose(t.yields, expected)
    np.testing.assert_allclose(t.variances, expected * 0.01)
    between = template_above(edges, sig, var, 0.3, 0.62)
    inside = (s >= 0.3) & (s < 0.62)
    np.testing.assert_allclose(between.yields, np.histogram(m[inside], mhh_edges, weights=w[inside])[0])


def test_nested_score_edges_start_from_the_threshold_and_descend():
    out, _ = _out()
    edges, _, sig, _ = score_mhh(out, ["sig"], "spanet")
    _, _, bkg, _ = score_mhh(out, ["bkg"], "spanet")
    s, b = sig.sum(axis=1), bkg.sum(axis=1)
    nested = nested_edges(s, b, edges, 4)
    assert nested[0] == 0.0 and nested[-1] == 1.0 and len(nested) == 5 and np.all(np.diff(nested) > 0)
    assert nested[-2] == pytest.approx(optimise(s, b, edges).threshold)  # top slice = the threshold selection
    below = edges[:-1] < nested[-2] - 1e-9  # the next edge is the best threshold of what is left
    assert nested[-3] == pytest.approx(optimise(np.where(below, s, 0), np.where(below, b, 0), edges).threshold)
    np.testing.assert_array_equal(nested_edges(s, b, edges, 1), [0.0, 1.0])


def test_slice_without_background_is_left_out():
    edges = np.linspace(0.0, 1.0, 101)
    signal, background = np.zeros(100), np.full(100, 0.001)
    signal[90:], background[90:] = 1.0, 10.0  # below 0.9: 0.09 background events, no signal
    np.testing.assert_allclose(nested_edges(signal, background, edges, 3, min_background=1.0), [0.9, 1.0])
    np.testing.assert_allclose(nested_edges(signal, background, edges, 3), [0.0, 0.9, 1.0])


def test_threshold_keeps_more_background_than_the_minimum():
    from hh4b.stats.scores import optimise

    edges = np.linspace(0.0, 1.0, 101)
    signal = np.zeros(100)
    background = np.full(100, 10.0)
    signal[99], background[99] = 5.0, 0.5  # the purest slice holds only half a background event
    signal[90] = 5.0
    assert optimise(signal, background, edges).threshold == pytest.approx(0.99)
    scan = optimise(signal, background, edges, min_background=1.0)
    assert scan.threshold < 0.99 and scan.background[scan.best] > 1.0
