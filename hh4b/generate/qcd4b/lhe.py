"""Les Houches Event files of unweighted p p -> b b~ b b~ events, with leading-colour flows.

Colour flow (what Pythia's shower and string fragmentation start from): for each event the
leading-colour (LC) flows of its subprocess are evaluated with pyamplicol's LC artifact
(`Runtime.evaluate(..., color_flows=[flow])`, the colour-ordered |A_flow|^2) and one flow is
drawn with probability |A_flow|^2 / sum |A|^2, the MadGraph prescription. A pyamplicol flow is a
word of particle labels in the all-outgoing convention (1, 2 the beams): strings that start at
a quark, run through gluons and end at an antiquark. Adjacent labels a, b in a string share a
colour line (colour of a = anticolour of b, outgoing convention); incoming particles then swap
colour and anticolour (crossing).

The file follows the LHEF standard (hep-ph/0609017): IDWTUP = 3 (events of unit weight,
accepted as they come; XWGTUP = sigma / N) when all weights are equal, IDWTUP = 4 (weighted
events, XWGTUP_i = sigma w_i / sum w in pb, Pythia passes them on as event weights) with a
selection bias or overweight events; one
process, SCALUP = mu_F = H_T/2 (the shower starts at the factorisation scale, as MadGraph's LO
default), AQCDUP = alpha_s(mu_R). Each parton's mass column is its mass as in the matrix element:
in the 5-flavour scheme the quarks are massless and Pythia gives c and b their masses, reshuffling
the momenta on reading (`LesHouches:setQuarkMass`, on by default); in the 4-flavour scheme the b
quarks carry MB = 4.7 GeV and are kept as they are.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from hh4b.generate.qcd4b import matrix_elements as me
from hh4b.generate.qcd4b.integrate import CHANNELS, Unweighted
from hh4b.generate.qcd4b.phasespace import FINAL_IDS

FIRST_TAG = 501
ALPHA_EM = 1.0 / 128.0  # AQEDUP, not used by the QCD process
PROCESS_ID = 1


def _is_quark(label: int, ids: tuple[int, ...]) -> bool:
    """Quark in the all-outgoing convention: an outgoing quark or an incoming antiquark."""
    pid = ids[label - 1]
    return pid != 21 and ((pid > 0) == (label > 2))


def flow_tags(word: tuple[int, ...], ids: tuple[int, ...]) -> np.ndarray:
    """(col, acol) LHE tags of the six particles (process order) for one LC flow word."""
    tags = np.zeros((len(ids), 2), dtype=np.int64)
    tag = FIRST_TAG
    previous = None
    for label in word:
        if previous is not None and not _is_quark(label, ids):
            tags[previous - 1, 0] = tag  # outgoing-convention colour of the previous parton
            tags[label - 1, 1] = tag  # ... is this parton's anticolour
            tag += 1
        previous = label if ids[label - 1] == 21 or _is_quark(label, ids) else None
    tags[:2] = tags[:2, ::-1]  # crossing: an incoming colour is an outgoing anticolour
    return tags


class ColourFlows:
    """Draws LC colour flows for unweighted events from pyamplicol's leading-colour artifact."""

    def __init__(self, cache: Path | None = None, scheme: str = "5fs"):
        artifact = me.ensure_artifact(me.PROCESSES, "lc", cache, scheme)
        self.runtimes = {process: me.load_runtime(artifact, process) for process in me.PROCESSES}
        self.flows = {}
        for process, runtime in self.runtimes.items():
            ids = tuple(p.pdg_id for p in runtime.physics.external_particles)
            self.flows[process] = (ids, [(f.id, tuple(f.word)) for f in runtime.physics.color_flows])

    def draw(self, momenta: np.ndarray, channel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(col, acol) tags per event and particle in event order, shape (N, 6, 2)."""
        tags = np.zeros(momenta.shape[:2] + (2,), dtype=np.int64)
        beam1 = np.array([CHANNELS[c][0] for c in channel])
        groups = ((me.GG, beam1 == 21, [0, 1]), (me.QQBAR, (beam1 != 21) & (beam1 > 0), [0, 1]),
                  (me.QQBAR, (beam1 != 21) & (beam1 < 0), [1, 0]))
        for process, mask, beams in groups:
            if not mask.any():
                continue
            order = beams + [2, 3, 4, 5]  # event particle k is process label order[k] + 1
            ids, flows = self.flows[process]
            values = np.column_stack([me.evaluate(self.runtimes[process], momenta[mask][:, order], color_flows=[fid])
                                      for fid, _ in flows])
            cumulative = np.cumsum(values, 1)
            pick = rng.random(len(values))[:, None] * cumulative[:, -1:]
            chosen = np.minimum((cumulative < pick).sum(1), len(flows) - 1)
            table = np.stack([flow_tags(word, ids) for _, word in flows])  # (n_flows, 6, 2)
            tags[mask] = table[chosen][:, order]
        return tags


def _event_block(ids, tags, momenta, masses, scale, alpha_s, weight) -> str:
    lines = [f"{len(ids)} {PROCESS_ID} {weight:+.10e} {scale:.10e} {ALPHA_EM:.10e} {alpha_s:.10e}"]
    for k, (pid, (col, acol), p, mass) in enumerate(zip(ids, tags, momenta, masses)):
        status, mothers = (-1, (0, 0)) if k < 2 else (1, (1, 2))
        lines.append(f"{pid:d} {status:d} {mothers[0]} {mothers[1]} {col} {acol} {p[1]:+.12e} {p[2]:+.12e} "
                     f"{p[3]:+.12e} {p[0]:.12e} {mass:.12e} 0. 9.")
    return "<event>\n" + "\n".join(lines) + "\n</event>\n"


def write_lhe(path: str | os.PathLike, events: Unweighted, tags: np.ndarray, xsec_pb: float, xsec_err_pb: float,
              sqrt_s: float, pdf_set: int, b_mass: float = 0.0, comment: str = "") -> Path:
    """Write the unweighted events as an LHEF 3.0 file (gzip when the name ends in .gz); the b quarks'
    mass column is `b_mass` (that of the matrix element's model), the beams' 0."""
    path = Path(path)
    n = len(events.channel)
    weights = xsec_pb * events.weight / max(events.weight.sum(), 1e-300)
    strategy = 3 if np.allclose(events.weight, events.weight[:1]) else 4
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as out:
        out.write('<LesHouchesEvents version="3.0">\n<header>\n<!-- hh4b qcd4b: LO p p -> b b~ b b~, pyamplicol '
                  f"full-colour |M|^2, Pythia PDF:pSet = {pdf_set}, mu = H_T/2. {comment} -->\n</header>\n")
        out.write(f"<init>\n2212 2212 {sqrt_s / 2:.6e} {sqrt_s / 2:.6e} 0 0 0 0 {strategy} 1\n"
                  f"{xsec_pb:.10e} {xsec_err_pb:.10e} {weights.max(initial=0.0):.10e} {PROCESS_ID}\n</init>\n")
        scales = np.sqrt(events.mu2)
        masses = (0.0, 0.0) + (b_mass,) * len(FINAL_IDS)
        for i in range(n):  # text formatting only; all physics above is columnar
            ids = CHANNELS[events.channel[i]] + FINAL_IDS
            out.write(_event_block(ids, tags[i], events.points.momenta[i], masses, scales[i], events.alpha_s[i],
                                   weights[i]))
        out.write("</LesHouchesEvents>\n")
    return path
