"""Truth tagging: tag categories weighted by their probability instead of drawn b-tags.

A simulated event with per-jet tag probabilities p_j (hh4b.generate.detector.tag_efficiency of
the jet's true hadron flavour at the working point; 0 for jets that are not quality jets, see
hh4b.analysis.selection.quality_mask, or lie outside the b-tag acceptance |eta| < BTAG_ETA_MAX) has a
Poisson-binomial number of tags. The analysis only sees the count capped at four, c in
{0, 1, 2, 3, >=4}, so a dynamic programme over the (padded) jets with five states gives its
distribution for all events at once. Tag category k in {2, 3, 4} (4 = at least four) needs at
least four quality jets, so

    P(category k) = [n_quality >= 4] * P(c = k),   P(no category) = 1 - sum_k P(category k).

`expand` turns each event with at least four quality jets into three copies, one per category,
weighted by P(category k) and carrying a tag configuration drawn from the tags' distribution
conditional on c = k (backward dynamic programme, then jet-by-jet sampling), so the candidate
choice and 2b/3b promotion of hh4b.analysis.selection run unchanged. Tags of the jets that cannot count
(non-quality jets) keep their drawn values. The expected yield of any selection is unchanged;
its statistical error shrinks because every event contributes to the four-tag category.
"""

from __future__ import annotations

import os
import zlib

import awkward as ak
import numpy as np

from hh4b.analysis.padding import padded_jets, to_padded
from hh4b.analysis.selection import quality_mask
from hh4b.constants import BTAG_ETA_MAX
from hh4b.errors import InputFileError
from hh4b.generate.detector import tag_efficiency

CATEGORIES = (2, 3, 4)
N_STATES = 5  # tag count capped at 4: 0, 1, 2, 3, >= 4


def _step(state: np.ndarray, p: np.ndarray) -> np.ndarray:
    """One jet of the forward programme: (n, 5) capped-count distribution after a jet tagged with p."""
    tagged = np.zeros_like(state)
    tagged[:, 1:] = state[:, :-1]
    tagged[:, -1] += state[:, -1]
    return state * (1.0 - p[:, None]) + tagged * p[:, None]


def capped_count_distribution(p: np.ndarray) -> np.ndarray:
    """(n, 5): P(0), P(1), P(2), P(3), P(>= 4) tags for (n, J) per-jet tag probabilities."""
    state = np.zeros((len(p), N_STATES))
    state[:, 0] = 1.0
    for column in np.asarray(p, dtype=np.float64).T:
        state = _step(state, column)
    return state


def category_probabilities(p: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """(n, 3): P(category 2b, 3b, 4b) given the per-jet probabilities and the quality mask."""
    enough = quality.sum(axis=1) >= 4
    return capped_count_distribution(p)[:, 2:] * enough[:, None]


def _reach(p: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(n, J + 1, 5): B[:, j, c] = P(final capped count = target | count c after jets < j)."""
    n, width = p.shape
    reach = np.zeros((n, width + 1, N_STATES))
    reach[np.arange(n), width, target] = 1.0
    up = np.minimum(np.arange(N_STATES) + 1, N_STATES - 1)
    for j in range(width - 1, -1, -1):
        after = reach[:, j + 1]
        reach[:, j] = p[:, j, None] * after[:, up] + (1.0 - p[:, j, None]) * after
    return reach


def sample_tags(p: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, J) tags drawn from the product of Bernoulli(p_j) conditional on capped count = target.

    Every event's target must have non-zero probability."""
    p = np.asarray(p, dtype=np.float64)
    n, width = p.shape
    reach = _reach(p, np.asarray(target))
    rows = np.arange(n)
    count = np.zeros(n, dtype=np.int64)
    tags = np.zeros((n, width), dtype=bool)
    u = rng.random((n, width))
    for j in range(width):
        up = np.minimum(count + 1, N_STATES - 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            chance = p[:, j] * reach[rows, j + 1, up] / reach[rows, j, count]
        tags[:, j] = u[:, j] < chance
        count = np.where(tags[:, j], up, count)
    return tags


def jet_probabilities(padded: dict, flavour: np.ndarray, working_point: str) -> np.ndarray:
    """(n, J) tag probability of each padded jet: its efficiency if it can count, else 0."""
    inside = np.abs(np.nan_to_num(padded["eta"], nan=np.inf)) < BTAG_ETA_MAX
    return np.where(quality_mask(padded) & inside, tag_efficiency(flavour, working_point), 0.0)


def _tag_inputs(jets: ak.Array, working_point: str, filename: str) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """(padded jets, padded true flavour, quality mask, per-jet tag probability) of a jet array."""
    if "flavour" not in ak.fields(jets):
        raise InputFileError(f"{filename}: branch Jet_hadronFlavour not found (truth tagging needs the "
                             f"true flavour of every jet)")
    padded = padded_jets(jets)
    flavour = to_padded(ak.values_astype(jets.flavour, np.int64), padded["pt"].shape[1], 0)
    return padded, flavour, quality_mask(padded), jet_probabilities(padded, flavour, working_point)


def four_tag_probability(jets: ak.Array, working_point: str, flavours: tuple[int, ...] | None = None,
                         filename: str = "<in-memory events>") -> np.ndarray:
    """P(tag category 4b) of each event; with `flavours`, only jets of those true hadron flavours
    can be tagged (e.g. (5,): the four-tag yield with four true b jets, no mistags)."""
    _, flavour, quality, p = _tag_inputs(jets, working_point, filename)
    if flavours is not None:
        p = np.where(np.isin(flavour, flavours), p, 0.0)
    return category_probabilities(p, quality)[:, CATEGORIES.index(4)]


def chunk_rng(dataset: str, filename: str, entry_start: int) -> np.random.Generator:
    """The chunk's generator, seeded from the dataset, the file's base name and the first entry."""
    keys = (zlib.crc32(str(dataset).encode()), zlib.crc32(os.path.basename(str(filename)).encode()))
    return np.random.default_rng([*keys, int(entry_start)])


def expand(jets: ak.Array, working_point: str, rng: np.random.Generator,
           filename: str = "<in-memory events>") -> tuple[ak.Array, np.ndarray, np.ndarray]:
    """Three category copies of each event with >= 4 quality jets.

    Returns (jets with resampled `btag`, P(category) per copy, source event index per copy);
    copies are ordered event by event, categories 2, 3, 4 within an event."""
    padded, _, quality, p = _tag_inputs(jets, working_point, filename)
    counts = ak.to_numpy(ak.num(jets.pt, axis=1))
    width = padded["pt"].shape[1]
    prob = category_probabilities(p, quality)
    source = np.repeat(np.flatnonzero(quality.sum(axis=1) >= 4), len(CATEGORIES))
    target = np.tile(np.array(CATEGORIES), len(source) // len(CATEGORIES))
    order = np.argsort(~quality[source], axis=1, kind="stable")  # quality jets first
    n_quality = int(quality.sum(axis=1).max(initial=0))
    slots = order[:, :n_quality]
    drawn = np.take_along_axis(p[source], slots, axis=1)
    tags = padded["btag"][source]
    resampled = sample_tags(drawn, target, rng)
    np.put_along_axis(tags, slots, np.where(np.take_along_axis(quality[source], slots, axis=1), resampled,
                                            np.take_along_axis(tags, slots, axis=1)), axis=1)
    valid = np.arange(width)[None, :] < counts[source][:, None]
    btag = ak.unflatten(tags[valid], counts[source])
    copies = ak.with_field(jets[source], btag, "btag")
    return copies, prob[source, target - 2], source
