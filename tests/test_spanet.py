"""SPA-NET: symmetries, exact decoding, losses, HDF5 streaming and a real learning test.

The learning test uses toy events (written here, no generator needed): a heavy scalar of
mass 300-500 GeV decays to h h -> b b b b, boosted along z, with 10% pT smearing, b-tagging at
85% / 1% and extra ISR jets. At these masses the b jets of one Higgs are far apart, so min-dR
pairs poorly and a network that learns m_bb ~ 125 GeV must beat it.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

from hh4b.nn.data import SpanetH5, split, write_spanet_h5
from hh4b.nn.decoding import decode_assignment, decode_assignment_table, pair_of_pairs_table
from hh4b.nn.evaluate import all_metrics, higgs_correct, mindr_assignment, run_model
from hh4b.nn.losses import assignment_loss, total_loss
from hh4b.nn.spanet import SPANET_PRESETS, Spanet, SparseDropout, load_checkpoint
from hh4b.nn.train_spanet import train_spanet, warmup_cosine

M_H, M_B = 125.0, 4.8


def _boost(p4, beta):
    """Boost (..., 4) four-vectors (E, px, py, pz) by velocity beta (..., 3)."""
    b2 = np.sum(beta**2, axis=-1, keepdims=True)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p4[..., 1:], axis=-1, keepdims=True)
    factor = np.where(b2 > 0, (gamma - 1.0) * bp / np.where(b2 > 0, b2, 1.0), 0.0)
    energy = gamma * (p4[..., :1] + bp)
    return np.concatenate([energy, p4[..., 1:] + factor * beta + gamma * beta * p4[..., :1]], axis=-1)


def _two_body(parent, m_daughter, rng):
    """Isotropic decay of (n, 4) parents into two equal-mass daughters: (n, 2, 4) in the lab."""
    mass = np.sqrt(np.maximum(parent[:, 0] ** 2 - np.sum(parent[:, 1:] ** 2, axis=1), 0))
    p = np.sqrt(np.maximum(mass**2 / 4 - m_daughter**2, 0))
    cos, phi = rng.uniform(-1, 1, len(mass)), rng.uniform(-np.pi, np.pi, len(mass))
    sin = np.sqrt(1 - cos**2)
    d = np.stack([p * sin * np.cos(phi), p * sin * np.sin(phi), p * cos], axis=1)
    e = np.sqrt(p**2 + m_daughter**2)[:, None]
    rest = np.stack([np.concatenate([e, d], 1), np.concatenate([e, -d], 1)], axis=1)
    beta = parent[:, 1:] / parent[:, :1]
    return _boost(rest, beta[:, None, :])


def _collider(p4):
    px, py, pz = p4[..., 1], p4[..., 2], p4[..., 3]
    pt = np.hypot(px, py)
    return pt, np.arcsinh(pz / np.maximum(pt, 1e-9)), np.arctan2(py, px)


def toy_events(n: int, seed: int, masses=(300.0, 400.0, 500.0), max_jets: int = 10, signal: bool = True) -> dict:
    """Toy resonant signal (or background: random jets) with truth targets, as SPA-NET arrays."""
    rng = np.random.default_rng(seed)
    mass = rng.choice(masses, n)
    if signal:
        rap = rng.normal(0, 0.8, n)
        pt_x = rng.exponential(30.0, n)
        phi_x = rng.uniform(-np.pi, np.pi, n)
        mt = np.sqrt(mass**2 + pt_x**2)
        parent = np.stack([mt * np.cosh(rap), pt_x * np.cos(phi_x), pt_x * np.sin(phi_x), mt * np.sinh(rap)], 1)
        higgs = _two_body(parent, M_H, rng)
        quarks = np.concatenate([_two_body(higgs[:, 0], M_B, rng), _two_body(higgs[:, 1], M_B, rng)], axis=1)
        pt, eta, phi = _collider(quarks)  # (n, 4)
        pt = pt * rng.normal(1.0, 0.1, pt.shape)
        eta, phi = eta + rng.normal(0, 0.03, eta.shape), phi + rng.normal(0, 0.03, phi.shape)
        jmass = np.abs(rng.normal(10.0, 3.0, pt.shape))
        btag = rng.random(pt.shape) < 0.85
        parent_id = np.tile([0, 0, 1, 1], (n, 1))
    else:
        pt = eta = phi = jmass = btag = np.zeros((n, 0))
        parent_id = np.zeros((n, 0), dtype=int)
    n_extra = max_jets + 2 - pt.shape[1]
    extra_pt = 20.0 + rng.exponential(40.0 if signal else 80.0, (n, n_extra))
    count = rng.poisson(1.5, n) if signal else 4 + rng.poisson(1.5, n)
    present = np.arange(n_extra)[None, :] < count[:, None]
    pt = np.concatenate([pt, np.where(present, extra_pt, 0.0)], 1)
    eta = np.concatenate([eta, rng.uniform(-2.5, 2.5, (n, n_extra))], 1)
    phi = np.concatenate([phi, rng.uniform(-np.pi, np.pi, (n, n_extra))], 1)
    jmass = np.concatenate([jmass, np.abs(rng.normal(8.0, 4.0, (n, n_extra)))], 1)
    extra_tag = rng.random((n, n_extra)) < (0.01 if signal else 0.5)
    btag = np.concatenate([btag, extra_tag], 1)
    parent_id = np.concatenate([parent_id, np.full((n, n_extra), -1)], 1)
    keep = (pt > 20.0) & (np.abs(eta) < 2.5)
    order = np.argsort(np.where(keep, -pt, np.inf), axis=1, kind="stable")[:, :max_jets]
    take = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
    mask = take(keep)
    jets = np.stack([take(pt), take(eta), take(phi), take(jmass), take(btag).astype(float)], -1) * mask[..., None]
    pid = np.where(mask, take(parent_id), -1)
    targets = np.full((n, 2, 2), -1, dtype=np.int64)
    for k in (0, 1):
        found = pid == k
        both = found.sum(1) == 2
        idx = np.argsort(~found, axis=1, kind="stable")[:, :2]
        targets[both, k] = np.sort(idx[both], axis=1)
    return {"jets": jets.astype(np.float32), "mask": mask, "targets": targets,
            "signal": np.full(n, int(signal)), "weight": np.ones(n, np.float32), "mass": np.where(signal, mass, -1.0)}


def write_toy(path, n_signal: int, n_background: int, seed: int) -> None:
    parts = [toy_events(n_signal, seed, signal=True)]
    if n_background:
        parts.append(toy_events(n_background, seed + 1, signal=False))
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.random.default_rng(seed).permutation(len(data["signal"]))
    data = {k: v[order] for k, v in data.items()}
    write_spanet_h5(path, data["jets"], data["mask"], data["targets"], data["signal"], data["weight"],
                    metadata={"mass": data["mass"], "n_jets": data["mask"].sum(1)})


def _random_inputs(n, n_jets, seed, n_globals=0):
    g = torch.Generator().manual_seed(seed)
    jets = torch.rand(n, n_jets, 5, generator=g) * torch.tensor([300.0, 5.0, 6.28, 30.0, 1.0])
    jets[..., 2] -= 3.14
    jets[..., 4] = (jets[..., 4] > 0.5).float()
    mask = torch.rand(n, n_jets, generator=g) > 0.3
    mask[:, :4] = True
    return jets, mask, torch.randn(n, n_globals, generator=g) if n_globals else None


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(3)
    model = Spanet(SPANET_PRESETS["tiny"].with_(n_globals=1)).eval()
    for p in model.parameters():  # break the zero-initialised token's symmetry for sharper tests
        p.data += 0.05 * torch.randn_like(p)
    return model


def test_jet_permutation_equivariance(tiny_model):
    jets, mask, g = _random_inputs(16, 9, seed=1, n_globals=1)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        a = tiny_model.outputs(jets, mask, g)
        b = tiny_model.outputs(jets[:, perm], mask[:, perm], g)
    permuted = a["pair_log_prob"][:, :, perm][:, :, :, perm]
    real = (mask[:, perm].unsqueeze(2) & mask[:, perm].unsqueeze(1)).unsqueeze(1).expand_as(permuted)
    assert torch.allclose(permuted[real], b["pair_log_prob"][real], atol=1e-5)
    assert torch.allclose(torch.sigmoid(a["class_logit"]), torch.sigmoid(b["class_logit"]), atol=1e-5)
    assert torch.allclose(a["embedding"], b["embedding"], atol=1e-5)
    assert not torch.allclose(a["pair_log_prob"][real], b["pair_log_prob"][real], atol=1e-3)  # really permuted


def test_padding_does_not_change_real_jets(tiny_model):
    jets, mask, g = _random_inputs(8, 6, seed=2, n_globals=1)
    mask[:] = True
    padded = torch.cat([jets, torch.rand(8, 3, 5) * 100], 1)
    pmask = torch.cat([mask, torch.zeros(8, 3, dtype=torch.bool)], 1)
    with torch.no_grad():
        a = tiny_model.outputs(jets, mask, g)
        b = tiny_model.outputs(padded, pmask, g)
    assert torch.allclose(a["pair_log_prob"], b["pair_log_prob"][:, :, :6, :6], atol=1e-5)
    assert torch.allclose(a["class_logit"], b["class_logit"], atol=1e-5)
    assert (b["pair_log_prob"][:, :, 6:, :] < -1e8).all()


def test_b1_b2_symmetry_exact_and_masking(tiny_model):
    jets, mask, g = _random_inputs(32, 10, seed=3, n_globals=1)
    with torch.no_grad():
        lp = tiny_model.outputs(jets, mask, g)["pair_log_prob"]
    assert torch.equal(lp, lp.transpose(2, 3))
    assert (torch.diagonal(lp, dim1=2, dim2=3) < -1e8).all()
    probs = lp.exp().flatten(2).sum(-1)
    assert torch.allclose(probs, torch.ones_like(probs), atol=1e-5)


def test_h1_h2_target_swap_leaves_loss_unchanged(tiny_model):
    jets, mask, g = _random_inputs(64, 8, seed=4, n_globals=1)
    with torch.no_grad():
        lp = tiny_model.outputs(jets, mask, g)["pair_log_prob"]
    targets = torch.tensor([[[0, 1], [2, 3]], [[3, 0], [1, 2]], [[0, 2], [-1, -1]]]).repeat(22, 1, 1)[:64]
    swapped = targets.flip(1)
    b_swapped = targets.flip(2)
    assert float(assignment_loss(lp, targets)) == pytest.approx(float(assignment_loss(lp, swapped)), abs=0)
    assert float(assignment_loss(lp, targets)) == pytest.approx(float(assignment_loss(lp, b_swapped)), abs=0)
    other = torch.tensor([[[0, 4], [2, 3]]]).repeat(64, 1, 1)
    assert float(assignment_loss(lp, targets)) != pytest.approx(float(assignment_loss(lp, other)), rel=1e-4)


def test_partial_and_background_events_in_assignment_loss():
    lp = torch.log_softmax(torch.randn(3, 2, 5, 5).flatten(2), -1).view(3, 2, 5, 5)
    lp = 0.5 * (lp + lp.transpose(2, 3))
    partial = torch.tensor([[[0, 1], [-1, 3]]])
    expected = -(torch.maximum(lp[0, 0, 0, 1], lp[0, 1, 0, 1]) + np.log(2))
    assert float(assignment_loss(lp[:1], partial)) == pytest.approx(float(expected), rel=1e-6)
    background = torch.full((1, 2, 2), -1)
    assert float(assignment_loss(lp[:1], background)) == 0.0


def test_assignment_scale_zero_trains_classifier_only(tiny_model):
    jets, mask, g = _random_inputs(16, 6, seed=6, n_globals=1)
    out = tiny_model.outputs(jets, mask, g)
    batch = {"targets": torch.tensor([[[0, 1], [2, 3]]]).repeat(16, 1, 1), "signal": torch.ones(16),
             "weight": torch.ones(16)}
    loss, parts = total_loss(out, batch, assignment_scale=0.0, classification_scale=1.0)
    assert float(loss.detach()) == pytest.approx(parts["classification"], rel=1e-6) and parts["assignment"] > 0
    tiny_model.zero_grad()
    loss.backward()
    assert tiny_model.attention[0].weight.grad is None or float(tiny_model.attention[0].weight.grad.abs().max()) == 0
    tiny_model.zero_grad()


@pytest.mark.parametrize("n_jets", [4, 5, 7, 10, 16])
def test_pair_table_counts(n_jets):
    table = pair_of_pairs_table(n_jets).numpy()
    pairs = n_jets * (n_jets - 1) // 2
    assert len(table) == pairs * (n_jets - 2) * (n_jets - 3) // 2
    assert all(len(set(r)) == 4 for r in table)


@pytest.mark.parametrize("n_jets", [4, 6, 9])
def test_exact_decoding_equals_brute_force(n_jets):
    lp = torch.randn(50, 2, n_jets, n_jets, generator=torch.Generator().manual_seed(n_jets))
    lp = 0.5 * (lp + lp.transpose(2, 3))
    decoded = decode_assignment(lp).numpy()
    for event in range(50):
        best, best_idx = -np.inf, None
        for a, b, c, d in itertools.permutations(range(n_jets), 4):
            if a < b and c < d:
                s = float(lp[event, 0, a, b] + lp[event, 1, c, d])
                if s > best:
                    best, best_idx = s, (a, b, c, d)
        assert tuple(decoded[event].ravel()) == best_idx
        assert len(set(decoded[event].ravel())) == 4


@pytest.mark.parametrize("n_jets", [4, 5, 7, 10, 16])
def test_broadcast_decoding_equals_table_search(n_jets):
    """Same result as the search over pair_of_pairs_table, ties and padded jets included."""
    gen = torch.Generator().manual_seed(n_jets)
    random = torch.randn(200, 2, n_jets, n_jets, generator=gen)
    ties = torch.randint(0, 2, (200, 2, n_jets, n_jets), generator=gen).float()
    padded = random.clone()
    padded[:, :, 4:], padded[:, :, :, 4:] = -1e9, -1e9
    for lp in (random, ties, padded, torch.zeros(3, 2, n_jets, n_jets)):
        lp = 0.5 * (lp + lp.transpose(2, 3))
        assert torch.equal(decode_assignment(lp), decode_assignment_table(lp))


def test_decoding_skips_padded_jets(tiny_model):
    jets, mask, g = _random_inputs(200, 10, seed=8, n_globals=1)
    with torch.no_grad():
        _, assignment, prob, _ = tiny_model(jets, mask, g)
    chosen = torch.gather(mask, 1, assignment.flatten(1))
    assert chosen.all() and prob.shape == (200,)
    assert all(len(set(r.tolist())) == 4 for r in assignment.flatten(1))


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 100, 10) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10) == pytest.approx(0.5, abs=0.02)
    assert warmup_cosine(100, 100, 10) == pytest.approx(0.0, abs=1e-9)


def test_h5_streaming_reads_every_event_once(tmp_path):
    path = tmp_path / "toy.h5"
    write_toy(path, 700, 300, seed=1)
    train, valid = split(path, 0.1)
    assert len(train) == 900 and len(valid) == 100
    seen = np.concatenate([b["jets"][:, 0, 0].numpy() for b in train.batches(64, shuffle=True, seed=2)])
    direct = train.read(0, len(train))["jets"][:, 0, 0]
    assert len(seen) == 900 and np.array_equal(np.sort(seen), np.sort(direct)) and not np.array_equal(seen, direct)
    again = np.concatenate([b["jets"][:, 0, 0].numpy() for b in train.batches(64, shuffle=True, seed=2)])
    assert np.array_equal(seen, again)
    factors = train.class_weight_factors()
    w = np.concatenate([b["weight"].numpy() for b in train.batches(128, factors=factors)])
    s = np.concatenate([b["signal"].numpy() for b in train.batches(128)])
    assert w[s > 0].sum() == pytest.approx(w[s == 0].sum(), rel=1e-5)


def test_mindr_baseline_on_toy_events():
    data = toy_events(2000, seed=5)
    pred, valid = mindr_assignment(data["jets"], data["mask"])
    correct, matched = higgs_correct(pred, data["targets"])
    use = valid & matched.all(1)
    eff = correct.all(1)[use].mean()
    assert 0.2 < eff < 0.9  # poor at low mass but far better than random (1/3 of the right jets)
    assert (np.take_along_axis(data["jets"][..., 4], pred.reshape(len(pred), 4), 1)[valid] == 1).all()


def test_short_training_beats_mindr(tmp_path, n_background=600):
    """A real learning test (~15 s of one core): joint training on signal and background; held-out
    pairing efficiency above min-dR's on the same events, and real signal/background separation."""
    torch.set_num_threads(1)
    path = tmp_path / "toy.h5"
    write_toy(path, 6000, n_background, seed=11)
    config = SPANET_PRESETS["tiny"].with_(epochs=6, batch_size=128, learning_rate=3e-3)
    model, summary = train_spanet(path, tmp_path / "run", config, seed=1, valid_fraction=0.1, progress=False)
    assert (tmp_path / "run" / "best.pt").is_file() and (tmp_path / "run" / "metrics.csv").is_file()
    held_out = tmp_path / "test.h5"
    write_toy(held_out, 2000, n_background // 3, seed=99)
    metrics = all_metrics(run_model(model, SpanetH5(held_out), progress=False))
    pairing = metrics["pairing"]["rows"]["all"]
    assert pairing["spanet"] > pairing["mindr"] + 0.10, pairing  # measured: 0.85 vs 0.64
    assert metrics["classification"]["auc"] > 0.9
    reloaded, _ = load_checkpoint(tmp_path / "run" / "best.pt")
    jets, mask, _ = _random_inputs(4, 7, seed=1)
    with torch.no_grad():
        assert torch.equal(model(jets, mask)[1], reloaded(jets, mask)[1])


def test_train_evaluate_cli(tmp_path, capsys):
    """`hh4b train spanet|dnn` and `hh4b evaluate spanet` on a small toy file, end to end."""
    from hh4b.cli import main as cli_main

    data = tmp_path / "toy.h5"
    write_toy(data, 1200, 600, seed=21)
    run = tmp_path / "run"
    assert cli_main(["train", "spanet", "--data", str(data), "--preset", "tiny", "--output", str(run),
                     "--epochs", "1", "--seed", "2", "--no-progress", "--assignment-scale", "0"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["config"]["assignment_scale"] == 0 and summary["preset"] == "tiny"
    assert cli_main(["evaluate", "spanet", str(run / "best.pt"), "--data", str(data),
                     "--output", str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert set(metrics["assignment"]["by_n_jets"]) == {"= 4", "= 5", ">= 6", "total"}
    assert set(metrics["assignment"]["by_category"]) == {"2h", "1h"} and metrics["pairing"]["parameter"] == "mass"
    assert "300" in metrics["pairing"]["rows"] and 0.5 < metrics["classification"]["auc"] <= 1.0
    assert cli_main(["train", "dnn", "--data", str(data), "--preset", "tiny", "--output", str(run),
                     "--epochs", "2", "--no-progress"]) == 0
    assert (run / "dnn_mindr_tiny.onnx").is_file() and (run / "dnn_mindr_tiny.json").is_file()
    assert cli_main(["train", "spanet", "--data", str(data), "--preset", "huge", "--output", str(run)]) == 2
    assert "--preset" in capsys.readouterr().err


def test_efficiency_tables_by_hand():
    """Two 2h events (one right, one with h2 wrong), one 1h event (right), one background event."""
    from hh4b.nn.evaluate import assignment_tables, pairing_vs_parameter

    targets = np.array([[[0, 1], [2, 3]], [[0, 2], [1, 3]], [[1, 0], [-1, 3]], [[-1, -1], [-1, -1]]])
    result = {"assignment": np.array([[[2, 3], [0, 1]], [[0, 2], [1, 4]], [[0, 1], [2, 3]], [[0, 1], [2, 3]]]),
              "targets": targets, "n_jets": np.array([4, 5, 7, 6]), "signal": np.array([1, 1, 1, 0]),
              "mindr": np.array([[[0, 2], [1, 3]]] * 4), "mindr_valid": np.array([True, True, True, True]),
              "mass": np.full(4, -1.0), "kappa": np.array([1.0, 5.0, 1.0, 3.0])}
    tables = assignment_tables(result)
    assert tables["by_n_jets"]["total"]["events"] == 3
    assert tables["by_n_jets"]["total"]["event_efficiency"] == pytest.approx(2 / 3)
    assert tables["by_n_jets"]["total"]["higgs_efficiency"] == pytest.approx(4 / 5)
    assert tables["by_n_jets"]["= 5"]["event_efficiency"] == 0.0
    assert tables["by_category"]["1h"]["event_efficiency"] == 1.0
    pairing = pairing_vs_parameter(result)
    assert pairing["parameter"] == "kappa_lambda"
    assert pairing["rows"]["1"] == {"events": 1, "spanet": 1.0, "mindr": 0.0}
    assert pairing["rows"]["5"] == {"events": 1, "spanet": 0.0, "mindr": 1.0}


def test_same_seed_same_model(tmp_path):
    torch.set_num_threads(1)
    path = tmp_path / "toy.h5"
    write_toy(path, 600, 200, seed=4)
    config = SPANET_PRESETS["tiny"].with_(epochs=1, batch_size=64, dropout=0.1)
    states = [train_spanet(path, tmp_path / f"run{i}", config, seed=s, progress=False)[0].state_dict()
              for i, s in enumerate((7, 7, 8))]
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(torch.equal(states[0][k], states[2][k]) for k in states[0])


def test_topology_event_info_yaml():
    yaml = pytest.importorskip("yaml")
    from hh4b.nn.topology import HH_TOPOLOGY

    info = yaml.safe_load(HH_TOPOLOGY.event_info_yaml(with_globals=True))
    assert info["EVENT"] == {"h1": ["b1", "b2"], "h2": ["b1", "b2"]}
    assert info["PERMUTATIONS"]["EVENT"] == [["h1", "h2"]] and info["PERMUTATIONS"]["h2"] == [["b1", "b2"]]
    assert info["INPUTS"]["GLOBAL"] == {"Kappa": {"kappa": "normalize"}}
    assert yaml.safe_load(HH_TOPOLOGY.event_info_yaml(with_globals=False))["INPUTS"]["GLOBAL"] is None
    assert HH_TOPOLOGY.target_paths()[0] == "TARGETS/h1/b1"


# --- SparseDropout: the law of nn.Dropout at a fraction of the random draws -------------------------
@pytest.mark.parametrize("p", [0.0059, 0.061, 0.3])
def test_sparse_dropout_zeroes_each_element_with_probability_p(p):
    torch.manual_seed(11)
    n_draws, shape = 40, (256, 11, 64)
    x = torch.rand(shape) + 0.5
    zeroed = torch.zeros(shape)
    for _ in range(n_draws):
        y = SparseDropout(p).train()(x)
        kept = y != 0
        torch.testing.assert_close(y[kept], x[kept] / (1 - p))  # survivors scaled by 1/(1-p)
        zeroed += (~kept).float()
    total = n_draws * x.numel()
    sigma = math.sqrt(total * p * (1 - p))
    assert abs(zeroed.sum().item() - total * p) < 5 * sigma
    # uniform over the tensor: first and last element blocks and every position within the last axis
    for block in (zeroed[:8], zeroed[-8:], zeroed[..., 0], zeroed[..., -1]):
        m = block.numel() * n_draws
        assert abs(block.sum().item() - m * p) < 5 * math.sqrt(m * p * (1 - p))
    # independent draws: the number zeroed twice at the same place is what independence predicts
    pairs = (zeroed * (zeroed - 1) / 2).sum().item()
    expected_pairs = x.numel() * n_draws * (n_draws - 1) / 2 * p**2
    assert abs(pairs - expected_pairs) < 5 * math.sqrt(expected_pairs) + 1


def test_sparse_dropout_is_identity_in_eval_and_blocks_gradients_where_it_drops():
    x = torch.randn(64, 9, 32, requires_grad=True)
    assert SparseDropout(0.2).eval()(x) is x
    torch.manual_seed(3)
    y = SparseDropout(0.2).train()(x)
    y.sum().backward()
    expected = torch.where(y == 0, 0.0, 1.0 / 0.8)
    torch.testing.assert_close(x.grad, expected)
    with pytest.raises(ValueError, match="dropout probability"):
        SparseDropout(1.0)
