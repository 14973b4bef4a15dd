"""The smoothed background template: it recovers a known density from weighted MC with heavy
weights, its uncertainty covers the truth, it enters pyhf as correlated shapes, and with it a
limit on scarce MC improves with luminosity like one on ample MC."""

import numpy as np
import pytest
from scipy.stats import lognorm

from hh4b.errors import ConfigError
from hh4b.stats.model import Template, build_spec
from hh4b.stats.smoothing import fit_smooth, smoothed_template

EDGES = np.concatenate([np.arange(250.0, 800.0, 25.0), np.arange(800.0, 1601.0, 100.0)])
SHAPE, SCALE = 0.35, 400.0  # log-normal m_hh density: ln m Gaussian, i.e. degree 2 in ln m


def _truth(total):
    cdf = lognorm.cdf(EDGES, SHAPE, scale=SCALE)
    return total * np.diff(cdf) / (cdf[-1] - cdf[0])


def _weighted_sample(rng, n, total):
    """n MC events of the log-normal with weights of a heavy-tailed (Pareto-like) spread whose
    mean makes the expected sum `total`; (yields, variances) per bin."""
    m = lognorm.rvs(SHAPE, scale=SCALE, size=4 * n, random_state=rng)
    m = m[(m >= EDGES[0]) & (m < EDGES[-1])][:n]
    w = rng.pareto(3.0, m.size) + 1.0  # mean 1.5, variance 0.75
    w *= total / (1.5 * m.size)
    y, _ = np.histogram(m, EDGES, weights=w)
    v, _ = np.histogram(m, EDGES, weights=w * w)
    return y, v


def test_fit_recovers_the_density_and_keeps_the_total():
    rng = np.random.default_rng(11)
    y, v = _weighted_sample(rng, 4000, 1e4)
    fit = fit_smooth(EDGES, y, v)
    assert fit.yields().sum() == pytest.approx(y.sum(), rel=1e-6)  # the Poisson fit keeps the MC total
    truth = _truth(y.sum())
    bulk = truth > 0.02 * truth.max()
    sigma = np.sqrt(fit.variances())
    pulls = (fit.yields() - truth)[bulk] / sigma[bulk]
    assert np.max(np.abs(pulls)) < 3.5
    assert fit.degree == 2 or fit.p_value > 0.01  # the log-normal needs no more than degree 2


def test_fit_uncertainty_covers_the_truth_over_toys():
    """Pulls of the fitted yield at m_hh 350, 550 and 800-900 GeV over 150 toys with heavy-tailed
    weights: mean ~0, width ~1, about 68% within one sigma (a covariance wrong by 1.5x fails)."""
    rng = np.random.default_rng(12)
    truth = _truth(1.0)
    pulls = {4: [], 12: [], 22: []}
    for _ in range(150):
        y, v = _weighted_sample(rng, 800, 800.0)
        fit = fit_smooth(EDGES, y, v)
        sigma = np.sqrt(fit.variances())
        for b in pulls:
            pulls[b].append((fit.yields()[b] - 800.0 * truth[b]) / sigma[b])
    for b, p in pulls.items():
        p = np.asarray(p)
        assert abs(np.mean(p)) < 0.3, b
        assert 0.65 < np.std(p) < 1.3, b
        assert 0.58 < np.mean(np.abs(p) < 1.0) < 0.9, b


def test_smoothed_template_enters_pyhf_as_correlated_shapes_without_staterror():
    rng = np.random.default_rng(13)
    y, v = _weighted_sample(rng, 600, 5e3)
    template, fit = smoothed_template(EDGES, Template(y, v), "qcd4b")
    names = [n for n, _, _ in template.shapes]
    assert names[-1] == "qcd4b_smooth_function" and len(names) == fit.degree + 2
    for _, lo, hi in template.shapes:
        assert lo.shape == hi.shape == y.shape
    signal = Template(np.where(np.abs(EDGES[:-1] - 500.0) < 60.0, 10.0, 0.0))
    spec = build_spec(EDGES, {"signal": (signal, "mu")}, {"qcd4b": template})
    bkg = next(s for s in spec["channels"][0]["samples"] if s["name"] == "qcd4b")
    types = [m["type"] for m in bkg["modifiers"]]
    assert "staterror" not in types and types.count("histosys") == len(names)
    spec = build_spec(EDGES, {"signal": (signal, "mu")}, {"qcd4b": template}, staterror=False)
    bkg = next(s for s in spec["channels"][0]["samples"] if s["name"] == "qcd4b")
    assert bkg["modifiers"] == []  # without MC uncertainties the shapes go too


def test_too_few_populated_bins_is_an_error_naming_the_sample():
    y = np.zeros(EDGES.size - 1)
    y[3] = 5.0
    with pytest.raises(ConfigError, match=r"smoothed background \(method cut_mindr, qcd4b\): 1 populated"):
        fit_smooth(EDGES, y, y, label="method cut_mindr, qcd4b")
