"""Early shower veto (hh4b.generate.shower_veto): the criterion on hand-built parton records, the
keep-and-reweight decision, and the bookkeeping that keeps the normalisation exact."""

import numpy as np
import pytest

pythia8mc = pytest.importorskip("pythia8mc")

from hh4b.errors import ConfigError
from hh4b.generate.shower_veto import ShowerVeto


@pytest.fixture(scope="module")
def particle_data():
    """Pythia's particle table (SlowJet's visible-particle selection reads it)."""
    from hh4b.generate.jets import quiet_stdout

    with quiet_stdout():
        pythia = pythia8mc.Pythia("", False)
    return pythia, pythia.particleData


@pytest.fixture
def partons(particle_data):
    """partons(*jets): a parton-level record of massless gluons given as (pT, y, phi)."""
    return lambda *jets: _partons(particle_data[1], jets)


def _partons(particle_data, jets):
    event = pythia8mc.Event()
    event.init("partons", particle_data)
    for pt, y, phi in jets:
        px, py, pz, e = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(y), pt * np.cosh(y)
        event.append(21, 23, 101, 102, px, py, pz, e, 0.0)
    return event


FOUR_HARD = [(80.0, 0.0, 0.0), (60.0, 1.0, 1.6), (50.0, -1.2, 3.2), (45.0, 2.0, 4.7)]


@pytest.mark.parametrize("jets, passes", [
    (FOUR_HARD, True),
    (FOUR_HARD + [(20.0, 0.5, 2.4)], True),
    (FOUR_HARD[:3], False),  # three jets
    (FOUR_HARD[:3] + [(25.0, 0.0, 4.7)], False),  # the fourth below pt_min = 30 GeV
    (FOUR_HARD[:3] + [(45.0, 3.0, 4.7)], False),  # the fourth beyond |y| = 2.7
    (FOUR_HARD[:3] + [(45.0, 0.1, 0.15)], False),  # the fourth inside the first jet's R = 0.4: merged
    (FOUR_HARD[:3] + [(20.0, 2.0, 4.7), (20.0, 2.05, 4.75)], True),  # two soft partons make one 40 GeV jet
])
def test_criterion_on_hand_built_events(partons, jets, passes):
    assert ShowerVeto(scale=10.0, pt_min=30.0, eta_max=2.7, n_jets=4).passes(partons(*jets)) is passes


def test_failing_events_are_kept_with_probability_keep_and_weight_one_over_keep(partons):
    veto = ShowerVeto(keep=0.25, seed=3)
    weights = np.random.default_rng(1).uniform(0.5, 1.5, 4000)
    three = partons(*FOUR_HARD[:3])
    factors = np.array([veto.decide(three, w) for w in weights])
    kept = factors > 0
    assert set(np.unique(factors)) == {0.0, 4.0}
    assert abs(kept.mean() - 0.25) < 4 * np.sqrt(0.25 * 0.75 / len(weights))
    assert veto.n_vetoed == (~kept).sum() and veto.n_kept_failing == kept.sum() and veto.n_checked == 4000
    assert veto.sumw_vetoed == pytest.approx(weights[~kept].sum())
    # unbiased: kept weights times their factor estimate the sum over all events
    error = np.sqrt(np.sum((weights * factors) ** 2) * 0.75)
    assert abs(np.sum(weights * factors) - weights.sum()) < 4 * error
    assert veto.decide(partons(*FOUR_HARD), 1.0) == 1.0 and veto.n_checked == 4001


def test_same_seed_same_decisions(partons):
    three = partons(*FOUR_HARD[:3])
    first, second, other = ShowerVeto(seed=9), ShowerVeto(seed=9), ShowerVeto(seed=10)
    decisions = [first.decide(three, 1.0) for _ in range(200)]
    assert decisions == [second.decide(three, 1.0) for _ in range(200)]
    assert decisions != [other.decide(three, 1.0) for _ in range(200)]


@pytest.mark.parametrize("options", [{"keep": 0.0}, {"keep": 1.5}, {"pt_min": -1.0}, {"n_jets": 0}])
def test_bad_settings_are_refused(options):
    with pytest.raises(ConfigError, match="shower veto"):
        ShowerVeto(**options)


def test_generate_file_refuses_the_veto_without_lhe_cross_section(tmp_path):
    from hh4b.generate import generate_file

    with pytest.raises(ConfigError, match="shower veto needs sample 'lhe'"):
        generate_file("qcd", tmp_path / "x.root", 10, 1, shower_veto=ShowerVeto())
