"""2b -> 4b reweighting: recovers a density ratio known in closed form; closure; ensemble spread."""

from dataclasses import replace

import numpy as np
import pytest

from hh4b.background.reweighter import (
    ReweightConfig,
    control_region_normalisation,
    density_ratio,
    train_ensemble,
    train_reweighter,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Small networks train as fast on one thread, and do not stall on a loaded machine (the
    results are the same: the trainings here gave identical numbers on one and two threads)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


CONFIG = ReweightConfig(hidden=32, layers=2, epochs=30, learning_rate=5e-3, batch_size=512)


def _gauss_pdf(x, mean, sigma):
    return np.exp(-0.5 * ((x - mean) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))


def _samples(n, seed):
    """'2b': N(0, 1); '4b': N(0.5, 0.8), both in the first feature, a spectator second feature."""
    rng = np.random.default_rng(seed)
    x2 = np.column_stack([rng.normal(0.0, 1.0, n), rng.normal(size=n)]).astype(np.float32)
    x4 = np.column_stack([rng.normal(0.5, 0.8, n), rng.normal(size=n)]).astype(np.float32)
    return x2, np.ones(n), x4, np.ones(n)


def test_recovers_closed_form_density_ratio():
    x2, w2, x4, w4 = _samples(20000, seed=1)
    model = train_reweighter(x2, w2, x4, w4, CONFIG, seed=0)
    grid = np.column_stack([np.linspace(-1.5, 2.0, 50), np.zeros(50)]).astype(np.float32)
    truth = _gauss_pdf(grid[:, 0], 0.5, 0.8) / _gauss_pdf(grid[:, 0], 0.0, 1.0)
    learned = density_ratio(model, grid)
    mean_abs_error = np.mean(np.abs(learned - truth))
    # true ratio spans 0.2 .. 2.0 over the grid; the fit recovers it to a few percent
    assert mean_abs_error < 0.1, mean_abs_error
    assert np.corrcoef(learned, truth)[0, 1] > 0.98


def test_control_region_closure_within_statistics():
    """Closure of the ratio averaged over five trainings of 60 epochs with a cosine learning-rate
    decay and no early stop (the best validation epoch is kept).

    One training's closure swings with its initialisation and batch order, and those swing with
    the machine (thread count, instruction set: one early-stopped training gave mean pull^2 2.0
    with AVX2 and 7.3 with ATEN_CPU_CAPABILITY=default); early stopping on the noisy validation
    loss also leaves a bias in the tail. The average of log w over such trainings has neither:
    mean pull^2 2.1 to 3.0 for three sets of five seeds with the AVX2, AVX-512 and default kernels
    (these seeds: 2.46, 2.46, 2.09), about the exact ratio's 2.45 (the 2b sample's own fluctuation
    enters the pulls, so ~2 is expected)."""
    x2, w2, x4, w4 = _samples(20000, seed=2)
    w4 = 0.01 * w4  # four-tag yield is 1% of the two-tag one
    config = replace(CONFIG, epochs=60, patience=60, cosine_decay=True)
    models = [train_reweighter(x2, w2, x4, w4, config, seed=seed) for seed in range(5)]
    ratio = np.exp(np.mean([np.log(density_ratio(m, x2)) for m in models], axis=0))
    predicted = w2 * ratio * (w4.sum() / np.sum(w2 * ratio))
    norm = control_region_normalisation(models[0], x2, w2, w4)
    assert (norm * w2 * density_ratio(models[0], x2)).sum() == pytest.approx(w4.sum(), rel=1e-6)
    # shape closure in bins of the reweighted feature, within Poisson errors of the 4b sample
    edges = np.linspace(-2, 3, 11)
    pred_h, _ = np.histogram(x2[:, 0], edges, weights=predicted)
    obs_h, _ = np.histogram(x4[:, 0], edges, weights=w4)
    obs_err = 0.01 * np.sqrt(np.histogram(x4[:, 0], edges)[0])
    pull = (pred_h - obs_h) / np.maximum(obs_err, 1e-9)
    assert np.mean(pull**2) < 4.0, pull


def test_ensemble_members_differ_and_spread_is_small():
    x2, w2, x4, w4 = _samples(4000, seed=3)
    cfg = ReweightConfig(hidden=16, layers=2, epochs=8, learning_rate=5e-3, batch_size=512)
    models = train_ensemble(x2, w2, x4, w4, n_models=3, config=cfg, seed=0)
    probe = np.array([[0.5, 0.0]], dtype=np.float32)
    ratios = np.array([density_ratio(m, probe)[0] for m in models])
    assert np.ptp(ratios) > 0  # bootstrap replicas are genuinely different
    assert np.std(ratios) / np.mean(ratios) < 0.2
