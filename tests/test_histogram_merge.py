"""Chunk outputs' histograms (HistogramSet) add to exactly what boost-histogram's own addition gives."""

import pickle

import hist
import numpy as np
import pytest
from coffea.processor import accumulate

from hh4b.analysis.histograms import HistogramSet, combine
from hh4b.analysis.processor import finalise


def chunk_hist(rng, dataset, methods, n=300):
    """A histogram like the processor's: growing dataset and method axes, a fixed region axis with its
    overflow bin, a regular axis with under- and overflow, all filled."""
    h = hist.Hist(hist.axis.StrCategory([], name="dataset", growth=True),
                  hist.axis.StrCategory(["SR", "CR"], name="region"),
                  hist.axis.StrCategory([], name="method", growth=True),
                  hist.axis.Regular(6, 0.0, 1.0, name="x"), storage=hist.storage.Weight())
    h.fill(dataset=dataset, region=rng.choice(["SR", "CR", "other"], n), method=rng.choice(methods, n),
           x=rng.normal(0.5, 0.6, n), weight=rng.exponential(1.0, n))
    return h


def boost_sum(parts):
    total = parts[0].copy()
    for h in parts[1:]:
        total += h
    return total


def assert_same(h, reference):
    assert [list(a) if isinstance(a, hist.axis.StrCategory) else a for a in h.axes] == \
        [list(a) if isinstance(a, hist.axis.StrCategory) else a for a in reference.axes]
    for field in ("value", "variance"):
        np.testing.assert_allclose(h.view(flow=True)[field], reference.view(flow=True)[field], rtol=1e-12)


@pytest.fixture
def parts():
    rng = np.random.default_rng(7)
    # other datasets, a method missing from one chunk, methods in another order, a dataset seen again
    return [chunk_hist(rng, "A", ["m1", "m2"]), chunk_hist(rng, "B", ["m2", "m3"]),
            chunk_hist(rng, "A", ["m3"]), chunk_hist(rng, "C", ["m1", "m2"]), chunk_hist(rng, "B", ["m2", "m3"])]


def test_combine_equals_boost_histogram_sum(parts):
    assert_same(combine(parts), boost_sum(parts))


def test_coffea_accumulation_of_sets_equals_plain_dicts(parts):
    sets = accumulate([{"hists": HistogramSet({"h": h.copy(), f"only{k}": h.copy()})} for k, h in enumerate(parts)])
    plain = accumulate([{"hists": {"h": h.copy(), f"only{k}": h.copy()}} for k, h in enumerate(parts)])
    assert isinstance(sets["hists"], HistogramSet)
    assert sorted(sets["hists"]) == sorted(plain["hists"])
    for name in plain["hists"]:
        assert_same(sets["hists"][name], plain["hists"][name])
    # the inputs are left as they were
    assert_same(parts[0], boost_sum(parts[:1]))


def test_set_pickles_and_finalises_to_plain_histograms(parts):
    total = HistogramSet({"h": parts[0].copy()})
    for h in parts[1:]:
        total += HistogramSet({"h": h})
    restored = pickle.loads(pickle.dumps(total))
    out = finalise({"hists": restored})
    assert type(out["hists"]) is dict and isinstance(out["hists"]["h"], hist.Hist)
    assert_same(out["hists"]["h"], boost_sum(parts))


def test_combine_refuses_histograms_with_other_fixed_axes():
    a = hist.Hist(hist.axis.StrCategory([], name="dataset", growth=True), hist.axis.Regular(4, 0, 1, name="x"))
    b = hist.Hist(hist.axis.StrCategory([], name="dataset", growth=True), hist.axis.Regular(5, 0, 1, name="x"))
    a.fill(dataset="A", x=[0.5])
    b.fill(dataset="B", x=[0.5])
    with pytest.raises(ValueError, match="axis 1 .'x'. differs"):
        combine([a, b])
