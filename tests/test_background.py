"""Data-driven background: closure of the 2b -> 4b reweighting on events with a known answer."""

import numpy as np
import pytest

from hh4b.analysis.selection import region_codes
from hh4b.background.datadriven import (
    REWEIGHT_FEATURES,
    bkgmodel_histogram,
    multijet_columns,
    region_mask,
    shifted_regions,
    train_models,
)
from hh4b.background.reweighter import ReweightConfig
from hh4b.background.validation import shifted_centre, validation_table
from hh4b.constants import DHH_CENTRE, SHIFTED_CENTRES
from hh4b.errors import ConfigError

FAST = ReweightConfig(hidden=32, layers=2, epochs=25, patience=4, learning_rate=3e-3)


def _events(n, seed):
    """2b, 3b and 4b multijet-like events: the 4b/2b density ratio is exp(0.01 (h1_pt - 150)) and the
    3b/2b one exp(-0.01 (h1_pt - 80)), the same everywhere in the mass plane; the candidate masses
    are uniform around the SR, independent of the kinematics (a closure-friendly world)."""
    rng = np.random.default_rng(seed)
    tags = rng.choice([2, 3, 4], n, p=[0.4, 0.2, 0.4])
    h1_pt = rng.exponential(60.0, n) + 80.0
    keep = ((tags == 2) | ((tags == 4) & (rng.random(n) < np.exp(0.01 * (h1_pt - 150.0)) / np.exp(0.01 * 250.0)))
            | ((tags == 3) & (rng.random(n) < np.exp(-0.01 * (h1_pt - 80.0)))))
    cols = {name: rng.normal(size=n).astype(np.float32) for name in REWEIGHT_FEATURES}
    cols.update(h1_pt=h1_pt, tags=tags, weight=np.ones(n), mhh=h1_pt * 2.5 + rng.normal(0, 20, n),
                mh1=rng.uniform(60.0, 190.0, n), mh2=rng.uniform(50.0, 180.0, n), dataset=np.full(n, "qcd4b_a"),
                method=np.full(n, "cut_mindr"))
    cols["mass_region"] = region_codes(cols["mh1"], cols["mh2"])
    cols["pt_ok"] = np.ones(n, bool)
    cols["deta_ok"] = rng.random(n) < 0.7
    cols["veto_ok"] = cols["deta_ok"]
    cols["region"] = np.where(cols["veto_ok"], cols["mass_region"], 0)
    return {k: np.asarray(v)[keep] for k, v in cols.items()}


@pytest.fixture(scope="module")
def trained():
    columns = _events(40000, 1)
    models = train_models(columns, n_ensemble=3, config=FAST, seed=0)
    return columns, models, validation_table(columns, models, FAST, 0, DHH_CENTRE)


def test_reweighted_two_tag_closes_on_four_tag(trained):
    columns, models, table = trained
    rows = {r["region"]: r for r in table}
    regions = ("CR", "VR", "SR_deta_reversed", "SR", "3b_SR", "3b_VR", *(f"shift_{d}" for d in SHIFTED_CENTRES))
    assert list(rows) == list(regions)
    for region in regions:
        r = rows[region]
        total_err = np.hypot(r["observed_err"], np.hypot(r["predicted_stat"], r["predicted_ensemble"]))
        assert abs(r["observed"] - r["predicted"]) < 3 * total_err, r
        assert r["non_closure_pct"] == pytest.approx(100 * (1 - r["predicted"] / r["observed"]))
        assert abs(r["non_closure_pct"]) < 3 * r["non_closure_err_pct"]
    # the shape in h1_pt, which differs by a factor ~e^3 between 2b and 4b, is recovered in the VR
    chi2, ndf = map(float, rows["VR"]["chi2_h1_pt"].split("/"))
    assert chi2 / ndf < 3.0
    # the 3b row is a separate 2b -> 3b training: the 4b model would predict the wrong 3b shape
    chi2, ndf = map(float, rows["3b_VR"]["chi2_h1_pt"].split("/"))
    assert chi2 / ndf < 3.0 and rows["3b_VR"]["tags"] == "3b"


def test_shifted_rows_use_regions_around_the_moved_centre(trained):
    columns, _, table = trained
    rows = {r["region"]: r for r in table}
    for direction, (s1, s2) in SHIFTED_CENTRES.items():
        centre = shifted_centre(DHH_CENTRE, direction)
        assert np.sign(centre[0] - DHH_CENTRE[0]) == s1 and np.sign(centre[1] - DHH_CENTRE[1]) == s2
        codes = shifted_regions(columns, centre)
        observed = ((codes == 1) & (columns["tags"] == 4)).sum()
        assert rows[f"shift_{direction}"]["n_observed"] == observed > 0
        overlap = ((codes == 1) & (columns["region"] == 1)).sum() / (codes == 1).sum()
        assert overlap < 0.1  # the shifted SR lies outside the nominal SR


def test_unweighted_template_would_fail_the_same_check(trained):
    columns, _, _ = trained
    vr = region_mask(columns, "VR")
    obs = np.histogram(columns["h1_pt"][vr & (columns["tags"] == 4)], np.linspace(80, 400, 9))[0]
    raw = np.histogram(columns["h1_pt"][vr & (columns["tags"] == 2)], np.linspace(80, 400, 9))[0]
    frac_obs, frac_raw = obs / obs.sum(), raw / raw.sum()
    assert frac_raw[0] > 1.5 * frac_obs[0]  # without reweighting the soft end is badly overpredicted


def test_bkgmodel_histogram_has_variations_and_ensemble_spread(trained):
    columns, models, _ = trained
    h = bkgmodel_histogram(columns, models, "cut_mindr")
    assert list(h.axes["variation"]) == ["nominal", "cr_alt", "ensemble_0", "ensemble_1", "ensemble_2"]
    sr = [h[{"region": "SR", "variation": v, "dataset": "qcd4b_a", "method": "cut_mindr", "tags": "2b"}].values().sum()
          for v in ("ensemble_0", "ensemble_1", "ensemble_2")]
    assert np.std(sr) > 0  # retrainings differ
    nominal = h[{"region": "SR", "variation": "nominal", "dataset": "qcd4b_a", "method": "cut_mindr", "tags": "2b"}]
    four_tag_sr = columns["weight"][(columns["region"] == 1) & (columns["tags"] == 4)].sum()
    assert nominal.values().sum() == pytest.approx(four_tag_sr, rel=0.1)


def test_missing_multijet_samples_and_empty_regions_are_named():
    columns = _events(2000, 2)
    with pytest.raises(ConfigError, match="no multijet datasets"):
        multijet_columns(columns, {"ttbar_a": {"process": "ttbar"}}, "cut_mindr")
    tiny = {k: v[:30] for k, v in columns.items()}
    with pytest.raises(ConfigError, match="too few events to train in CR"):
        train_models(tiny, 1, FAST, 0)


def test_template_stat_is_the_relative_error_of_the_sr_template(trained):
    from hh4b.background.datadriven import predicted_weights
    from hh4b.background.validation import template_stat

    columns, models, _ = trained
    stat = template_stat(bkgmodel_histogram(columns, models, "cut_mindr"), "cut_mindr")
    sr = (columns["tags"] == 2) & (columns["region"] == 1)
    w = predicted_weights(columns, models["nominal"], sr)
    edges = np.asarray(stat["limit_6"]["edges"])
    inside = (columns["mhh"][sr] >= edges[0]) & (columns["mhh"][sr] < edges[-1])
    total, _ = np.histogram(columns["mhh"][sr][inside], edges, weights=w[inside])
    sumw2, _ = np.histogram(columns["mhh"][sr][inside], edges, weights=w[inside] ** 2)
    np.testing.assert_allclose(stat["limit_6"]["yield"], total, rtol=1e-6)
    filled = total > 0
    np.testing.assert_allclose(np.asarray(stat["limit_6"]["rel_stat"])[filled], np.sqrt(sumw2[filled]) / total[filled],
                               rtol=1e-6)
    assert stat["limit_6"]["bins_over_goal"] == int(np.sum(np.sqrt(sumw2) > 0.05 * total))


def test_trainings_do_not_depend_on_the_order_of_the_chunks():
    """A parallel executor returns the chunks in any order: the gathered columns, and so the trained
    models, are the same for every order."""
    from hh4b.background.datadriven import gather_columns

    columns = _events(12000, 2)
    n = len(columns["tags"])
    chunks = np.array_split(np.arange(n), 5)
    outputs = [{"columns": {k: [v[c] for c in order] for k, v in columns.items()}}
               for order in (chunks, chunks[::-1], [chunks[i] for i in (2, 0, 4, 1, 3)])]
    gathered = [gather_columns(o) for o in outputs]
    for other in gathered[1:]:
        assert all(np.array_equal(gathered[0][k], other[k]) for k in columns)
    config = ReweightConfig(hidden=8, layers=1, epochs=3, patience=2)
    norms = [train_models(g, n_ensemble=0, config=config, seed=0)["nominal"].norm for g in gathered[:2]]
    assert norms[0] == norms[1]
    shuffled = {k: np.concatenate([v[c] for c in chunks[::-1]]) for k, v in columns.items()}
    assert train_models(shuffled, n_ensemble=0, config=config, seed=0)["nominal"].norm != norms[0]  # order mattered
