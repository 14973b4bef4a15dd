"""Phi-rotation / eta-reflection augmentation: invariants kept, jets moved together, padding left
alone, reproducible draws, and the trainings feeding augmented batches (never validation)."""

import json
from dataclasses import replace
from itertools import combinations

import numpy as np
import pytest
import torch

from hh4b.analysis.features import NONRESONANT_FEATURES, RESONANT_FEATURES
from hh4b.nn.augment import augment_features, augment_jets, augment_rng, feature_columns
from hh4b.nn.data import write_spanet_h5
from hh4b.nn.dnn import DNN_PRESETS, DenseClassifier
from hh4b.nn.spanet import SPANET_PRESETS, Spanet
from hh4b.nn.topology import JET_FEATURES
from hh4b.nn.train_dnn import train_dnn
from hh4b.nn.train_spanet import train_spanet

PT, ETA, PHI, MASS, BTAG = (JET_FEATURES.index(n) for n in ("pt", "eta", "phi", "mass", "btag"))
RTOL = 1e-5

# three hand-built events, pT-ordered, padded to 6 jets; jets near phi = +-pi cross the wrap
HAND_JETS = np.array([
    [[250.0, 0.3, 3.10, 15.0, 1], [180.0, -1.2, -3.05, 12.0, 1], [90.0, 2.1, 0.5, 8.0, 0],
     [60.0, -0.4, 1.9, 6.0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
    [[400.0, -2.3, -0.2, 30.0, 1], [310.0, 1.7, 2.8, 25.0, 1], [120.0, 0.0, -1.6, 11.0, 1],
     [75.0, 0.9, 0.9, 7.0, 1], [41.0, -1.5, -2.6, 5.0, 0], [0, 0, 0, 0, 0]],
    [[95.0, 0.1, 1.0, 9.0, 0], [88.0, 0.8, -1.0, 10.0, 1], [70.0, -2.4, -3.1, 8.0, 1],
     [52.0, 1.4, 3.0, 6.0, 1], [33.0, -0.7, 2.2, 4.0, 1], [25.0, 2.45, -0.3, 3.0, 0]],
], dtype=np.float32)
HAND_MASK = (HAND_JETS[..., PT] > 0)


def random_events(n, n_jets=8, seed=0):
    """Jets with distinct pT, at least dR = 0.4 apart (like anti-kT R = 0.4 jets), 4 to n_jets real."""
    rng = np.random.default_rng(seed)
    jets = np.zeros((n, n_jets, 5), dtype=np.float32)
    count = rng.integers(4, n_jets + 1, n)
    for i, k in enumerate(count):
        while True:
            eta, phi = rng.uniform(-2.5, 2.5, k), rng.uniform(-np.pi, np.pi, k)
            if min(_dr(eta[a], phi[a], eta[b], phi[b]) for a, b in combinations(range(k), 2)) > 0.4:
                break
        jets[i, :k] = np.stack([np.sort(rng.uniform(40, 400, k))[::-1], eta, phi, rng.uniform(4, 30, k),
                                rng.random(k) < 0.7], axis=-1)
    return jets, np.arange(n_jets)[None, :] < count[:, None]


def _dr(eta1, phi1, eta2, phi2):
    dphi = (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def _mass(jets, idx):
    """Invariant mass of the jets `idx` of each event, from Cartesian components (float64)."""
    x = jets[:, idx].astype(np.float64)
    pt, eta, phi, m = x[..., PT], x[..., ETA], x[..., PHI], x[..., MASS]
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    return np.sqrt(np.maximum(e.sum(1) ** 2 - px.sum(1) ** 2 - py.sum(1) ** 2 - pz.sum(1) ** 2, 0.0))


def _invariants(jets, mask):
    """Every real-jet pair mass and dR and the four-leading-jet mass, per event (lists)."""
    out = []
    for event, real in zip(jets, mask):
        n = int(real.sum())
        e = event[None]
        pairs = list(combinations(range(n), 2))
        out.append((np.array([_mass(e, list(p))[0] for p in pairs]),
                    np.array([_dr(event[a, ETA], event[a, PHI], event[b, ETA], event[b, PHI]) for a, b in pairs]),
                    _mass(e, [0, 1, 2, 3])[0]))
    return out


def _draws(before, after, mask):
    """Per event: the phi shifts of its real jets (wrapped) and the eta ratio of its non-zero etas."""
    shifts = [((a[m, PHI].astype(np.float64) - b[m, PHI] + np.pi) % (2 * np.pi)) - np.pi
              for b, a, m in zip(before, after, mask)]
    signs = [a[m, ETA][b[m, ETA] != 0] / b[m, ETA][b[m, ETA] != 0] for b, a, m in zip(before, after, mask)]
    return shifts, signs


@pytest.mark.parametrize("source", ["hand", "random"])
def test_invariant_masses_and_delta_r_unchanged(source):
    jets, mask = (HAND_JETS, HAND_MASK) if source == "hand" else random_events(200, seed=3)
    want = _invariants(jets, mask)
    for seed in range(8 if source == "hand" else 2):
        out = augment_jets(jets, mask, augment_rng(seed))
        assert out.dtype == np.float32 and out.shape == jets.shape
        for (m_w, dr_w, m4_w), (m_g, dr_g, m4_g) in zip(want, _invariants(out, mask)):
            np.testing.assert_allclose(m_g, m_w, rtol=RTOL)
            np.testing.assert_allclose(dr_g, dr_w, rtol=RTOL)
            assert m4_g == pytest.approx(m4_w, rel=RTOL)


def test_jets_move_together_and_padding_is_untouched():
    jets, mask = random_events(300, seed=5)
    out = augment_jets(jets, mask, augment_rng(11))
    for name in (PT, MASS, BTAG):
        assert np.array_equal(out[..., name], jets[..., name])
    assert np.array_equal(out[~mask], jets[~mask]) and not out[~mask].any()
    assert np.all((out[..., PHI] >= -np.pi - 1e-6) & (out[..., PHI] <= np.pi + 1e-6))
    shifts, signs = _draws(jets, out, mask)
    first_shift = np.array([s[0] for s in shifts])
    for s in shifts:  # one rotation per event, the same for all its jets (mod 2 pi)
        assert np.abs(((s - s[0] + np.pi) % (2 * np.pi)) - np.pi).max() < 1e-5
    for r in signs:  # all etas flipped together or none
        assert np.all(r == 1.0) or np.all(r == -1.0)
    flipped = np.array([r[0] == -1.0 for r in signs])
    assert 0.35 < flipped.mean() < 0.65  # both reflections, about equally often
    assert np.histogram(first_shift, bins=4, range=(-np.pi, np.pi))[0].min() > 40  # rotations spread over [-pi, pi)


def test_torch_and_numpy_inputs_agree():
    jets, mask = random_events(50, seed=7)
    got = augment_jets(torch.from_numpy(jets), torch.from_numpy(mask), augment_rng(2))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    assert np.array_equal(got.numpy(), augment_jets(jets, mask, augment_rng(2)))


def test_same_seed_same_output_other_seed_different():
    jets, mask = random_events(40, seed=9)
    a, b, c = (augment_jets(jets, mask, augment_rng(s)) for s in (4, 4, 5))
    assert np.array_equal(a, b)
    assert not np.array_equal(a[..., PHI], c[..., PHI])
    x = np.random.default_rng(0).normal(size=(40, len(RESONANT_FEATURES))).astype(np.float32)
    fa, fb, fc = (augment_features(x, RESONANT_FEATURES, augment_rng(s)) for s in (4, 4, 5))
    assert np.array_equal(fa, fb) and not np.array_equal(fa, fc)


def test_feature_columns_of_tables_ii_and_iv():
    names = NONRESONANT_FEATURES
    eta, phi = feature_columns(names)
    assert [names[i] for i in eta] == ["h1_eta", "h2_eta"]
    assert [names[i] for i in phi] == ["h1_phi", "h2_phi", "met_phi"]


def _dnn_inputs(jets, mask, met_phi):
    from hh4b.nn.train_cli import dnn_features

    n = len(jets)
    data = {"jets": jets, "mask": mask, "globals": np.ones((n, 1), np.float32),
            "meta_met_pt": np.linspace(10, 90, n), "meta_met_phi": met_phi,
            "meta_n_electron": np.zeros(n), "meta_n_muon": np.ones(n)}
    return dnn_features(data, NONRESONANT_FEATURES)


def test_dnn_features_of_the_transformed_event():
    """augment_features on the Table IV features = the features rebuilt from the transformed jets
    and MET (min-dR pairing), with the same draws."""
    jets, mask = random_events(300, seed=13)
    jets[..., BTAG] = 1.0
    met_phi = np.random.default_rng(1).uniform(-np.pi, np.pi, len(jets))
    x, valid = _dnn_inputs(jets, mask, met_phi)
    assert valid.sum() > 200
    moved = augment_jets(jets, mask, augment_rng(21))
    delta = ((moved[:, 0, PHI].astype(np.float64) - jets[:, 0, PHI]) + np.pi) % (2 * np.pi) - np.pi
    x_moved, valid_moved = _dnn_inputs(moved, mask, (met_phi + delta + np.pi) % (2 * np.pi) - np.pi)
    assert np.array_equal(valid, valid_moved) and valid.all()
    got = augment_features(x, NONRESONANT_FEATURES, augment_rng(21))
    eta, phi = feature_columns(NONRESONANT_FEATURES)
    rest = [i for i in range(len(NONRESONANT_FEATURES)) if i not in eta + phi]
    np.testing.assert_allclose(got[:, rest], x_moved[:, rest], rtol=RTOL, atol=1e-3)
    np.testing.assert_array_equal(got[:, rest], x[:, rest])
    np.testing.assert_allclose(got[:, eta], x_moved[:, eta], rtol=RTOL, atol=1e-5)
    dphi = ((got[:, phi].astype(np.float64) - x_moved[:, phi]) + np.pi) % (2 * np.pi) - np.pi
    assert np.abs(dphi).max() < 1e-5
    assert np.abs(got[:, phi] - x[:, phi]).max() > 1.0


def _toy_file(path, n=320, seed=17):
    jets, mask = random_events(n, seed=seed)
    signal = np.arange(n) % 2
    targets = np.where(signal[:, None, None] == 1, np.array([[0, 1], [2, 3]]), -1)
    write_spanet_h5(path, jets, mask, targets, signal, np.ones(n, np.float32))
    return jets, mask


def _matched(seen, originals):
    """Index of each seen event among the originals, by its (unchanged) pT row."""
    index = {row.tobytes(): i for i, row in enumerate(originals[..., PT])}
    return np.array([index[row.tobytes()] for row in seen[..., PT]])


@pytest.mark.parametrize("augment", [True, False])
def test_spanet_training_sees_augmented_batches_validation_does_not(tmp_path, monkeypatch, augment):
    torch.set_num_threads(1)
    jets, mask = _toy_file(tmp_path / "toy.h5")
    calls, original = [], Spanet.outputs

    def recording(self, jets_, mask_, globals_=None):
        calls.append((self.training, jets_.numpy().copy()))
        return original(self, jets_, mask_, globals_)

    monkeypatch.setattr(Spanet, "outputs", recording)
    config = SPANET_PRESETS["tiny"].with_(epochs=2, batch_size=64)
    _, summary = train_spanet(tmp_path / "toy.h5", tmp_path / "run", config, seed=3, valid_fraction=0.25,
                              progress=False, augment=augment)
    assert summary["augment"] is augment
    assert torch.load(tmp_path / "run" / "best.pt", weights_only=False)["augment"] is augment
    cut = 240
    seen = np.concatenate([j for training, j in calls if training])
    valid_seen = [j for training, j in calls if not training]
    assert len(seen) == 2 * cut and len(valid_seen) == 2
    for v in valid_seen:  # validation: the file's last events, as stored
        assert np.array_equal(v, jets[cut:])
    idx = _matched(seen, jets)
    assert np.all(idx < cut)
    before = jets[idx]
    if not augment:
        assert np.array_equal(seen, before)
        return
    for name in (PT, MASS, BTAG):
        assert np.array_equal(seen[..., name], before[..., name])
    shifts, signs = _draws(before, seen, mask[idx])
    assert np.mean([abs(s[0]) > 1e-3 for s in shifts]) > 0.95
    assert 0.3 < np.mean([r[0] < 0 for r in signs]) < 0.7
    first_epoch, second_epoch = seen[:cut], seen[cut:]  # fresh draws each epoch
    order = np.argsort(idx[cut:])
    assert not np.array_equal(first_epoch[np.argsort(idx[:cut])][..., PHI], second_epoch[order][..., PHI])
    for (m_w, dr_w, m4_w), (m_g, dr_g, m4_g) in zip(_invariants(before, mask[idx]), _invariants(seen, mask[idx])):
        np.testing.assert_allclose(m_g, m_w, rtol=RTOL)
        np.testing.assert_allclose(dr_g, dr_w, rtol=RTOL)
        assert m4_g == pytest.approx(m4_w, rel=RTOL)


@pytest.mark.parametrize("augment", [True, False])
def test_dnn_training_sees_augmented_batches_validation_does_not(monkeypatch, augment):
    rng = np.random.default_rng(4)
    names = NONRESONANT_FEATURES
    x = rng.normal(size=(600, len(names))).astype(np.float32)
    x[:, names.index("h1_pt")] = rng.permutation(600) + 0.5  # distinct key to find each row again
    x_tr, x_va = x[:400], x[400:]
    y = (np.arange(600) % 2).astype(np.int64)
    calls, original = [], DenseClassifier.logits

    def recording(self, features):
        calls.append((self.training, features.numpy().copy()))
        return original(self, features)

    monkeypatch.setattr(DenseClassifier, "logits", recording)
    config = replace(DNN_PRESETS["tiny"], epochs=2)
    _, metrics = train_dnn((x_tr, y[:400], None), (x_va, y[400:], None), config, seed=1, progress=False,
                           feature_names=names, augment=augment)
    assert metrics["augment"] is augment
    seen = np.concatenate([f for training, f in calls if training])
    assert len(seen) == 800
    assert all(np.array_equal(f, x_va) for training, f in calls if not training)
    key = {v: i for i, v in enumerate(x_tr[:, names.index("h1_pt")])}
    before = x_tr[[key[v] for v in seen[:, names.index("h1_pt")]]]
    eta, phi = feature_columns(names)
    rest = [i for i in range(len(names)) if i not in eta + phi]
    assert np.array_equal(seen[:, rest], before[:, rest])
    if not augment:
        assert np.array_equal(seen, before)
        return
    ratio = seen[:, eta] / before[:, eta]
    np.testing.assert_allclose(ratio[:, 0], ratio[:, 1], rtol=1e-6)
    assert 0.4 < np.mean(ratio[:, 0] < 0) < 0.6
    shift = ((seen[:, phi].astype(np.float64) - before[:, phi]) + np.pi) % (2 * np.pi) - np.pi
    assert np.abs(((shift - shift[:, :1] + np.pi) % (2 * np.pi)) - np.pi).max() < 1e-5
    assert np.mean(np.abs(shift[:, 0]) > 1e-3) > 0.95


def test_dnn_without_feature_names_is_not_augmented():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 3)).astype(np.float32), (np.arange(200) % 2).astype(np.int64)
    _, metrics = train_dnn((x, y, None), (x, y, None), DNN_PRESETS["tiny"], seed=0, progress=False)
    assert metrics["augment"] is False


def test_cli_no_augment(tmp_path):
    from hh4b.cli import main as cli_main

    torch.set_num_threads(1)
    _toy_file(tmp_path / "toy.h5", n=200)
    for flag, want in (([], True), (["--no-augment"], False)):
        out = tmp_path / f"run{want}"
        common = ["--data", str(tmp_path / "toy.h5"), "--preset", "tiny", "--output", str(out), "--epochs", "1",
                  "--no-progress", "--valid-fraction", "0.25", *flag]
        assert cli_main(["train", "spanet", *common]) == 0
        assert json.loads((out / "summary.json").read_text())["augment"] is want
        assert cli_main(["export-onnx", str(out / "best.pt"), "--output", str(out / "spanet.onnx")]) == 0
        assert json.loads((out / "spanet.json").read_text())["augment"] is want
        assert cli_main(["train", "dnn", *common]) == 0
        assert json.loads((out / "dnn_mindr_tiny.json").read_text())["augment"] is want
