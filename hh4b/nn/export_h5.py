"""`hh4b export-h5 FILESET --output FILE.h5 [--max-jets 10]`: SPA-NET training data from ROOT files.

For every dataset of a fileset (docs/formats.md sections 1-2) the events are read with coffea
NanoEvents through hh4b.analysis.events (hh4b, CMS NanoAOD and Delphes files), the four-tag cut of
paper II.B is applied (hh4b.analysis.selection), and the leading `max_jets` jets of the event (all
jets, tagged or not: paper III.B) are written in the layout of hh4b.nn.data; the jet arrays come from
hh4b.nn.inputs.jet_inputs, the function that builds the processor's SPA-NET inputs.

Truth matching (paper III.B, hh4b.analysis.truth): each Higgs b quark is matched to the jets within
dR < 0.4; events in which a quark matches two or more jets are dropped; a Higgs whose two b
quarks each match one distinct jet among the stored jets gets their indices, otherwise -1
(partially matched events are kept). Background processes get targets -1 and signal 0.

kappa_lambda input (non-resonant files, i.e. when any dataset has process `nonresonant`):
signal events get a kappa drawn from the AnalysisConfig's kappa_lambda_training points with the event weight
reweighted to it (weight(k) = w * (a + b k + c k^2) / (a + b k0 + c k0^2), docs/formats.md; for a
sample of the five-coupling mixture the denominator is its |M|^2_gen, docs/heft.md);
background events get a kappa drawn from the same list (notes 3.2.1; the notes record a bug
where all background kappas were 1). All draws use `--seed`.

Weights: xsec_pb * genWeight / sumw from the fileset metadata (genWeight alone without them).
Events are shuffled with the seed before writing, so contiguous blocks mix the samples.
Beside FILE.h5 an event-info YAML (FILE.yaml) lets the reference SPANet package train on it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import awkward as ak
import numpy as np
from tqdm.auto import tqdm

from hh4b import console
from hh4b.analysis.processing import load_fileset
from hh4b.config import DEFAULT, NONRESONANT, SIGNAL_PROCESSES, AnalysisConfig, add_config_argument, from_options
from hh4b.constants import SPANET_MAX_JETS, TRUTH_MATCH_DR
from hh4b.errors import ConfigError, InputFileError
from hh4b.kinematics import delta_r
from hh4b.nn.inputs import jet_inputs
from hh4b.nn.topology import HH_TOPOLOGY

log = logging.getLogger(__name__)

CHUNK_EVENTS = 200_000
METADATA_COLUMNS = ("mass", "dataset", "n_jets", "met_pt", "met_phi", "n_electron", "n_muon", "event")


def _open_events(path: str, tree: str, start: int, stop: int):
    from coffea.nanoevents import NanoEventsFactory

    from hh4b.analysis.events import NanoSchema

    return NanoEventsFactory.from_root({path: tree}, schemaclass=NanoSchema, mode="eager", entry_start=start,
                                       entry_stop=stop, metadata={"filename": path}).events()


def _n_entries(path: str, tree: str) -> int:
    import uproot

    try:
        with uproot.open(path) as handle:
            return int(handle[tree].num_entries)
    except (OSError, KeyError, ValueError) as err:
        raise InputFileError(f"{path}: cannot read tree {tree!r} ({err})") from err


def multi_matched(jets: ak.Array, quarks: ak.Array) -> np.ndarray:
    """(n,) True where some Higgs b quark lies within dR < 0.4 of two or more jets (paper III.B:
    such events are dropped, whatever else happens to the event's other quarks)."""
    pairs = ak.cartesian({"q": quarks, "j": jets}, axis=1, nested=True)
    close = delta_r(pairs.q.eta, pairs.q.phi, pairs.j.eta, pairs.j.phi) < TRUTH_MATCH_DR
    return ak.to_numpy(ak.any(ak.sum(close, axis=2) > 1, axis=1))


def truth_targets(jets: ak.Array, quarks, max_jets: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2, 2) jet indices (or -1) of each Higgs's b jets among the first `max_jets` jets,
    and (n,) keep flags (False: a quark matched to two or more jets)."""
    from hh4b.analysis import truth

    n = len(jets)
    if quarks is None:
        return np.full((n, 2, 2), -1, dtype=np.int64), np.ones(n, dtype=bool)
    match = truth.match_quarks(jets, quarks)
    keep = ~multi_matched(jets, quarks)
    parent = ak.to_numpy(ak.fill_none(ak.pad_none(match["jet_parent"], max_jets, axis=1, clip=True), -1))
    targets = np.full((n, 2, 2), -1, dtype=np.int64)
    slots = np.arange(max_jets)
    for k in (0, 1):
        mine = parent == k
        both = mine.sum(axis=1) == 2
        first_two = np.sort(np.where(mine, slots, max_jets), axis=1)[:, :2]
        targets[both, k] = first_two[both]
    return targets, keep


def event_columns(events) -> dict:
    """Missing pT and lepton counts (DNN inputs of paper Table IV, read by hh4b.analysis.columns), zeros when a
    file lacks them, and the event number (k-fold training, hh4b.nn.data.fold_split), -1 when it lacks it."""
    from hh4b.analysis.columns import event_columns as read_event_columns

    present, n = read_event_columns(events), len(events)
    dtypes = {"met_pt": np.float32, "met_phi": np.float32, "n_electron": np.int32, "n_muon": np.int32}
    out = {name: present[name].astype(dtype) if name in present else np.zeros(n, dtype)
           for name, dtype in dtypes.items()}
    out["event"] = present["event"].astype(np.int64) if "event" in present else np.full(n, -1, np.int64)
    return out


def _chunk_arrays(events, metadata: dict, max_jets: int, four_tag: bool, config: AnalysisConfig = DEFAULT) -> dict:
    """Jets, mask, targets, weights of the events of one chunk that pass the cuts, b-tagged at the
    configuration's working point for the dataset (AnalysisConfig.working_point)."""
    from hh4b.analysis.events import btag_options, gen_weight, higgs_b_quarks, read_jets
    from hh4b.analysis.padding import padded_jets
    from hh4b.analysis.selection import four_candidates

    jets = read_jets(events, config.working_point(metadata), btag_options(metadata))
    finite = np.isfinite(jets.pt) & np.isfinite(jets.eta) & np.isfinite(jets.phi) & np.isfinite(jets.mass)
    jets = jets[finite]
    jets = jets[ak.argsort(jets.pt, axis=1, ascending=False)]
    process = metadata.get("process", "")
    signal = process in SIGNAL_PROCESSES
    targets, keep = truth_targets(jets, higgs_b_quarks(events) if signal else None, max_jets)
    if four_tag:
        keep &= four_candidates(padded_jets(jets))["category"] == 4
    features, mask = jet_inputs(jets, max_jets)  # the processor's SPA-NET inputs for the same jets
    out = {"jets": features, "mask": mask,
           "targets": targets, "signal": np.full(len(jets), int(signal)), "gen_weight": gen_weight(events),
           "n_jets": ak.to_numpy(ak.num(jets.pt, axis=1))}
    out.update(event_columns(events))
    if "KappaLambda" in events.fields and set("abc") <= set(events.KappaLambda.fields):
        from hh4b.analysis.heft_histograms import generation_density

        for name in "abc":  # |M|^2 = a + b k + c k^2 (NanoEvents groups KappaLambda_{a,b,c})
            out[name] = ak.to_numpy(events.KappaLambda[name]).astype(np.float64)
        out["density"] = generation_density(events, out["a"], out["b"], out["c"], metadata)
    return {k: v[keep] for k, v in out.items()}


def read_dataset(name: str, entry: dict, max_jets: int, four_tag: bool, progress: bool,
                 config: AnalysisConfig = DEFAULT) -> dict:
    """Concatenated chunk arrays of every file of one dataset."""
    metadata = entry.get("metadata", {})
    pieces = []
    for path, tree in entry["files"].items():
        tree = tree if isinstance(tree, str) else tree.get("object_path", "Events")
        if not Path(path).is_file():
            raise InputFileError(f"{path}: file of dataset {name!r} not found (run `hh4b generate --fileset`)")
        total = _n_entries(path, tree)
        for start in tqdm(range(0, total, CHUNK_EVENTS), desc=f"export-h5 {name}", disable=not progress, leave=False):
            events = _open_events(path, tree, start, min(total, start + CHUNK_EVENTS))
            pieces.append(_chunk_arrays(events, metadata, max_jets, four_tag, config))
    if not pieces:
        raise InputFileError(f"dataset {name!r} lists no files")
    keys = set.intersection(*(set(p) for p in pieces))
    return {k: np.concatenate([p[k] for p in pieces]) for k in keys}


def assign_kappa(data: dict, metadata: dict, rng: np.random.Generator,
                 points=DEFAULT.kappa_lambda_training) -> tuple[np.ndarray, np.ndarray]:
    """Per-event kappa_lambda input drawn from `points` and the weight factor that goes with it (see
    module docstring)."""
    n = len(data["signal"])
    kappa = rng.choice(np.asarray(points), n)
    factor = np.ones(n)
    if metadata.get("process") == NONRESONANT:
        if all(c in data for c in "abc"):
            a, b, c = data["a"], data["b"], data["c"]
            denominator = data["density"]  # |M|^2_gen: a + b k0 + c k0^2, or the five-coupling mixture's
            factor = np.divide(a + b * kappa + c * kappa * kappa, denominator,
                               out=np.zeros(n), where=denominator != 0)
        elif "kappa_lambda" in metadata:
            kappa = np.full(n, float(metadata["kappa_lambda"]))
    return kappa.astype(np.float32), factor


def build(fileset: dict, max_jets: int = SPANET_MAX_JETS, seed: int = 0, four_tag: bool = True,
          progress: bool = True, config: AnalysisConfig = DEFAULT) -> dict:
    """All datasets' arrays, weights, kappas (non-resonant) and metadata, shuffled with `seed`; the
    working point and the kappa_lambda training points are the configuration's."""
    if not 4 <= max_jets <= 16:
        raise ConfigError(f"--max-jets {max_jets}: SPA-NET takes 4 to 16 jets")
    rng = np.random.default_rng(seed)
    with_kappa = any(e.get("metadata", {}).get("process") == NONRESONANT for e in fileset.values())
    parts, summary = [], {}
    for index, (name, entry) in enumerate(fileset.items()):
        metadata = entry.get("metadata", {})
        data = read_dataset(name, entry, max_jets, four_tag, progress, config)
        sumw, xsec = metadata.get("sumw"), metadata.get("xsec_pb")
        scale = float(xsec) / float(sumw) if xsec and sumw else 1.0
        data["weight"] = data["gen_weight"] * scale
        if with_kappa:
            data["kappa"], factor = assign_kappa(data, metadata, rng, config.kappa_lambda_training)
            data["weight"] = data["weight"] * factor
        data["mass"] = np.full(len(data["signal"]), float(metadata.get("mass", -1.0)))
        data["dataset"] = np.full(len(data["signal"]), index)
        matched = (data["targets"] >= 0).all(axis=-1).sum(axis=1)
        summary[name] = {"events": int(len(data["signal"])), "process": metadata.get("process"),
                         "2h": int((matched == 2).sum()), "1h": int((matched == 1).sum())}
        parts.append(data)
    keys = ["jets", "mask", "targets", "signal", "weight", *METADATA_COLUMNS] + (["kappa"] if with_kappa else [])
    merged = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    order = rng.permutation(len(merged["signal"]))
    return {"arrays": {k: v[order] for k, v in merged.items()}, "summary": summary, "with_kappa": with_kappa}


def write(result: dict, output, fileset_path: str = "") -> Path:
    """FILE.h5 in the SPANet layout plus FILE.yaml (reference event info)."""
    from hh4b.nn.data import write_spanet_h5

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    a = result["arrays"]
    write_spanet_h5(output, a["jets"], a["mask"], a["targets"], a["signal"], a["weight"], a.get("kappa"),
                    metadata={k: a[k] for k in METADATA_COLUMNS},
                    attrs={"hh4b_datasets": json.dumps(result["summary"]), "hh4b_fileset": str(fileset_path)})
    output.with_suffix(".yaml").write_text(HH_TOPOLOGY.event_info_yaml(result["with_kappa"]))
    return output


def add_arguments(parser) -> None:
    parser.add_argument("fileset", help="fileset.json (docs/formats.md section 2)")
    parser.add_argument("--output", required=True, help="HDF5 file to write")
    parser.add_argument("--max-jets", type=int, default=SPANET_MAX_JETS,
                        help="leading jets kept per event (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffle and kappa_lambda draws")
    parser.add_argument("--no-four-tag", action="store_true", help="keep events failing the four-tag cut")
    add_config_argument(parser, "working point, kappa_lambda training points")
    parser.add_argument("--btag-wp", default=None,
                        help="b-tag working point of every dataset (default: the --config file's, else each "
                             "dataset's fileset btag_wp)")


def main(args) -> int:
    config = from_options(args.config, btag_wp=args.btag_wp)
    result = build(load_fileset(args.fileset), args.max_jets, args.seed, not args.no_four_tag, config=config)
    path = write(result, args.output, args.fileset)
    for name, row in result["summary"].items():
        console.result(f"{name:<24} {row['process'] or '?':<12} events {row['events']:8d}  "
                       f"2h {row['2h']:8d}  1h {row['1h']:8d}")
    log.info("wrote %s (%d events) and %s", path, len(result["arrays"]["signal"]), path.with_suffix(".yaml"))
    return 0
