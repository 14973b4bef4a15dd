"""Event weights and kappa_lambda reweighting factors (hh4b.weights)."""

import numpy as np
import pytest

from hh4b.constants import NONRESONANT_GENERATION_KL
from hh4b.weights import (
    effective_entries,
    event_weight,
    generation_kappa_lambda,
    kl_polynomial,
    kl_ratio,
    kl_term_factors,
)


def test_generation_kappa_lambda_prefers_the_explicit_key():
    assert generation_kappa_lambda({"generation_kappa_lambda": 2.0, "kappa_lambda": 5.0}) == 2.0
    assert generation_kappa_lambda({"kappa_lambda": 5.0}) == 5.0
    assert generation_kappa_lambda({}) == NONRESONANT_GENERATION_KL


def test_kl_ratio_and_terms_rebuild_any_kappa():
    rng = np.random.default_rng(1)
    a, b, c = rng.uniform(1, 2, 50), rng.uniform(-1, 0, 50), rng.uniform(0.1, 0.3, 50)
    k0, k = 1.0, 4.5
    factors = kl_term_factors(a, b, c, kl_polynomial(a, b, c, k0))
    rebuilt = factors["a"] + factors["b"] * k + factors["c"] * k * k
    np.testing.assert_allclose(rebuilt, kl_ratio(a, b, c, k, k0), rtol=1e-12)
    np.testing.assert_allclose(kl_ratio(a, b, c, k0, k0), 1.0, rtol=1e-12)


def test_event_weight_normalises_to_luminosity_and_data_weighs_one():
    meta = {"xsec_pb": 2.0, "sumw": 4.0}
    np.testing.assert_allclose(event_weight(np.array([1.0, 3.0]), meta, 10.0), [5000.0, 15000.0])
    np.testing.assert_allclose(event_weight(np.array([7.0]), {**meta, "process": "data"}, 10.0), [1.0])


def test_effective_entries_of_weighted_events():
    """Kish: n equal weights count n; one weight of 3 among three of 1 counts 36 / 12 = 3; none count 0."""
    assert effective_entries(np.full(7, 0.2)) == pytest.approx(7.0, rel=1e-12)
    assert effective_entries(np.array([1.0, 1.0, 1.0, 3.0])) == 3.0
    assert effective_entries(np.array([])) == 0.0 and effective_entries(np.zeros(3)) == 0.0
