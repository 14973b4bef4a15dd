"""Readers: every supported input format -> one awkward jet record per event.

The record has fields pt, eta, phi, mass (GeV), btag (bool at the chosen working point) and
flavour (true hadron flavour 5/4/0, when the file has it), named "Momentum4D" so that
`vector` behaviours apply after `vector.register_awkward()`.

Supported inputs (all read through coffea NanoEvents):
- hh4b's own NanoAOD-style files: b-tag = the `Jet_btagWP70` / `Jet_btagWP77` flag of the
  requested working point (docs/formats.md section 1);
- CMS NanoAOD: no tag flag, so b-tag = the tagger's score (`Jet_btagDeepFlavB`,
  `Jet_btagPNetB` or `Jet_btagUParTAK4B`) > the working point's threshold, from the options'
  `thresholds` or the BTV table of constants.CMS_BTAG_THRESHOLDS (working points L, M, T per
  era); flavour from `Jet_hadronFlavour`;
- Delphes (DelphesSchema): `Jet.PT/Eta/Phi/Mass`, b-tag = the bit of `Jet.BTag` that the
  options' `delphes_bits` give for the working point, flavour from `Jet.Flavor`; truth from
  `Particle`; event weight from `Event.Weight`.

`btag_config` turns a working point and the options (keys `tagger`, `era`, `thresholds`,
`delphes_bits`; docs/formats.md section 2) into the tag rule for a file's jet fields; a working
point that the input does not know is a ConfigError. A file lacking a needed branch raises
InputFileError naming the file and the branch.

`nanoaod_branches` names the NanoAOD branches these readers (and hh4b.analysis.columns) can use;
the processor reads only those (HH4bProcessor.branch_filter), so that building a chunk's events
costs nothing for the hundreds of other branches of a CMS NanoAOD file (or for the empty
cross-referenced collections of hh4b's own).
"""

from __future__ import annotations

import re

import awkward as ak
import numpy as np
from coffea.nanoevents import NanoAODSchema

from hh4b.constants import CMS_BTAG_DEFAULT_ERA, CMS_BTAG_TAGGERS, CMS_BTAG_THRESHOLDS
from hh4b.errors import ConfigError, InputFileError


class NanoSchema(NanoAODSchema):
    """NanoAODSchema without warnings for cross-references to collections a file does not
    have (hh4b files carry only Jet, GenPart, Electron, Muon, MET), and accepting files
    without the run/luminosityBlock/event identifiers (a warning instead of an error)."""

    warn_missing_crossrefs = False
    error_missing_event_ids = False


DELPHES_TREE = "Delphes"

# what the readers use: event identifiers (the k-fold event number), the generator weight, every Jet and
# GenPart field, MET pt and phi, the electron and muon counts (with the fields coffea's behaviours of
# those collections require), and the non-resonant terms KappaLambda_* and HEFT_*
_NANOAOD_BRANCHES = re.compile(r"(run|luminosityBlock|event|genWeight|n?(Jet|GenPart|KappaLambda|HEFT)(_\w+)?"
                               r"|MET_(pt|phi)|n(Electron|Muon)|(Electron|Muon)_(pt|eta|phi|mass|charge))")


def nanoaod_branches(name: str) -> bool:
    """Whether the readers can use NanoAOD branch `name` (uproot's filter_name)."""
    return _NANOAOD_BRANCHES.fullmatch(name) is not None


def _filename(events) -> str:
    return str(getattr(events, "metadata", {}).get("filename", "<in-memory events>"))


def collection_fields(events, name: str) -> list[str]:
    """Raw field names of a collection, read from the form so that no behaviour (which may
    need the very fields that are missing) is built and nothing is read."""
    if name not in events.fields:
        return []
    form = _record_form(events.layout.form)
    sub = _record_form(form.content(name)) if form is not None else None
    return list(sub.fields) if sub is not None else []


def _record_form(form):
    """The first RecordForm inside list/indexed/option wrappers, or None."""
    while not isinstance(form, ak.forms.RecordForm):
        if not hasattr(form, "content"):
            return None
        form = form.content
    return form


def _require(name: str, fields: tuple[str, ...], events, prefix: str) -> None:
    present = collection_fields(events, name)
    missing = [f for f in fields if f not in present]
    if missing:
        raise InputFileError(f"{_filename(events)}: branch {prefix}{missing[0]} not found "
                             f"(needed to build jets; missing: {', '.join(prefix + m for m in missing)})")


def detect_format(events) -> str:
    """'delphes' when the jets carry Delphes field names, else 'nanoaod'."""
    if "Jet" not in events.fields:
        raise InputFileError(f"{_filename(events)}: no Jet collection (branches Jet_* or Jet.*) found")
    return "delphes" if "PT" in collection_fields(events, "Jet") else "nanoaod"


def make_jets(pt, eta, phi, mass, btag, flavour=None) -> ak.Array:
    """Zip jagged columns into the jet record; the kinematics as float64 for stable sums."""
    fields = {"pt": pt, "eta": eta, "phi": phi, "mass": mass}
    fields = {k: ak.values_astype(v, np.float64) for k, v in fields.items()}
    fields["btag"] = ak.values_astype(btag, bool)
    if flavour is not None:
        fields["flavour"] = ak.values_astype(flavour, np.int32)
    return ak.zip(fields, with_name="Momentum4D")


def btag_config(fmt: str, jet_fields, wp: str, options: dict | None = None, source: str = "input") -> dict:
    """The b-tag rule for working point `wp` on jets with these (raw) field names.

    Returns {"format", "wp", "branch"} plus "threshold" and "tagger"/"era" (CMS NanoAOD) or
    "bit" (Delphes). `source` names the file or dataset in errors."""
    options = dict(options or {})
    wp = str(wp)
    fields = set(jet_fields)
    if fmt == "delphes":
        bits = {str(k): v for k, v in (options.get("delphes_bits") or {}).items()}
        if wp not in bits:
            raise ConfigError(f"{source}: Delphes b-tag working point {wp!r} has no bit of Jet.BTag "
                              f"(known: {', '.join(sorted(bits)) or 'none'}; give metadata delphes_btag_bits "
                              f"{{\"{wp}\": BIT}} or --delphes-btag-bit {wp}=BIT)")
        bit = bits[wp]
        if isinstance(bit, bool) or not isinstance(bit, int) or not 0 <= bit < 32:
            raise ConfigError(f"{source}: Delphes b-tag bit for working point {wp!r} must be an integer "
                              f"0-31, not {bit!r}")
        return {"format": "delphes", "wp": wp, "branch": "Jet.BTag", "bit": bit}
    if f"btagWP{wp}" in fields:
        return {"format": "hh4b", "wp": wp, "branch": f"Jet_btagWP{wp}"}
    flags = sorted(f[len("btagWP"):] for f in fields if f.startswith("btagWP"))
    if flags:
        raise ConfigError(f"{source}: b-tag working point {wp!r} not known for this input "
                          f"(branch Jet_btagWP{wp} not found; its working points: {', '.join(flags)})")
    tagger = options.get("tagger")
    if tagger is not None and tagger not in CMS_BTAG_TAGGERS:
        raise ConfigError(f"{source}: b-tagger {tagger!r} unknown (choose from {', '.join(CMS_BTAG_TAGGERS)})")
    if tagger is None:
        tagger = next((t for t, branch in CMS_BTAG_TAGGERS.items() if branch in fields), None)
        if tagger is None:
            raise InputFileError(f"{source}: branch Jet_btagWP{wp} not found (nor any tagger score: "
                                 f"{', '.join('Jet_' + b for b in CMS_BTAG_TAGGERS.values())})")
    branch = CMS_BTAG_TAGGERS[tagger]
    if branch not in fields:
        raise InputFileError(f"{source}: branch Jet_{branch} not found (b-tagger {tagger})")
    thresholds = {str(k): v for k, v in (options.get("thresholds") or {}).items()}
    era = options.get("era") or CMS_BTAG_DEFAULT_ERA[tagger]
    if wp in thresholds:
        threshold, era = thresholds[wp], None
    else:
        table = CMS_BTAG_THRESHOLDS[tagger]
        if era not in table:
            raise ConfigError(f"{source}: b-tag era {era!r} unknown for {tagger} (known: {', '.join(table)})")
        if wp not in table[era]:
            raise ConfigError(f"{source}: b-tag working point {wp!r} not known for {tagger} {era} "
                              f"(known: {', '.join(table[era])}; or give a threshold: metadata btag_thresholds "
                              f"{{\"{wp}\": X}} or --btag-threshold {wp}=X)")
        threshold = table[era][wp]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not np.isfinite(threshold):
        raise ConfigError(f"{source}: b-tag threshold for working point {wp!r} must be a number, not {threshold!r}")
    return {"format": "cms", "wp": wp, "branch": f"Jet_{branch}", "tagger": tagger, "era": era,
            "threshold": float(threshold)}


BTAG_METADATA_KEYS = {"tagger": "btag_tagger", "era": "btag_era", "thresholds": "btag_thresholds",
                      "delphes_bits": "delphes_btag_bits"}


def btag_options(metadata: dict, overrides: dict | None = None) -> dict:
    """The b-tag options of a dataset: its metadata keys (BTAG_METADATA_KEYS), each overridden by
    a non-empty entry of `overrides` (the command line); threshold and bit maps merge per point."""
    out = {}
    for key, meta_key in BTAG_METADATA_KEYS.items():
        value, override = metadata.get(meta_key), (overrides or {}).get(key)
        if key in ("thresholds", "delphes_bits"):
            value = {**(value or {}), **(override or {})} or None
        elif override:
            value = override
        if value is not None:
            out[key] = value
    return out


def read_jets(events, btag_wp: str = "70", options: dict | None = None) -> ak.Array:
    """The jet record of any supported format, detected from the field names; b-tags by
    `btag_config(format, Jet fields, btag_wp, options)`."""
    fmt = detect_format(events)
    if fmt == "delphes":
        _require("Jet", ("PT", "Eta", "Phi", "Mass", "BTag"), events, "Jet.")
    else:
        _require("Jet", ("pt", "eta", "phi", "mass"), events, "Jet_")
    config = btag_config(fmt, collection_fields(events, "Jet"), btag_wp, options, _filename(events))
    jet = events.Jet
    if fmt == "delphes":
        btag = (jet.BTag & (1 << config["bit"])) > 0
        flavour = jet.Flavor if "Flavor" in jet.fields else None
        return make_jets(jet.PT, jet.Eta, jet.Phi, jet.Mass, btag, flavour)
    if config["format"] == "hh4b":
        btag = jet[f"btagWP{config['wp']}"]
    else:
        btag = jet[config["branch"][len("Jet_"):]] > config["threshold"]
    flavour = jet.hadronFlavour if "hadronFlavour" in jet.fields else None
    return make_jets(jet.pt, jet.eta, jet.phi, jet.mass, btag, flavour)


def gen_weight(events) -> np.ndarray:
    """Generator weights: `genWeight` (NanoAOD), `Event.Weight` (Delphes, one value per event),
    1 when the file has none (e.g. data)."""
    if "genWeight" in events.fields:
        return ak.to_numpy(events.genWeight).astype(np.float64)
    if "Event" in events.fields and "Weight" in collection_fields(events, "Event"):
        weight = events.Event.Weight
        if weight.ndim > 1:  # one Event record per entry as a list of one (hand-built Delphes-like arrays)
            weight = ak.firsts(weight)
        return ak.to_numpy(weight).astype(np.float64)
    return np.ones(len(events), dtype=np.float64)


def higgs_b_quarks(events) -> ak.Array | None:
    """b quarks from Higgs decays as records (pt, eta, phi, parent), or None without truth.

    NanoAOD GenPart: |pdgId| == 5, mother pdgId 25, last copy (statusFlags bit 13). Delphes
    Particle: |PID| == 5 with mother PID 25. `parent` is the mother's index in the collection.
    """
    if "GenPart" in events.fields:
        _require("GenPart", ("pt", "eta", "phi", "pdgId", "genPartIdxMother", "statusFlags"), events, "GenPart_")
        gen = events.GenPart
        mother = gen.genPartIdxMother
        mother_id = _mother_ids(gen.pdgId, mother)
        last = (gen.statusFlags & (1 << 13)) > 0
        keep = (abs(gen.pdgId) == 5) & (mother_id == 25) & last
        return ak.zip({"pt": gen.pt[keep], "eta": gen.eta[keep], "phi": gen.phi[keep],
                       "parent": mother[keep]})
    if "Particle" in events.fields:
        _require("Particle", ("PT", "Eta", "Phi", "PID", "M1"), events, "Particle.")
        part = events.Particle
        mother_id = _mother_ids(part.PID, part.M1)
        keep = (abs(part.PID) == 5) & (mother_id == 25)
        return ak.zip({"pt": part.PT[keep], "eta": part.Eta[keep], "phi": part.Phi[keep],
                       "parent": part.M1[keep]})
    return None


def higgs_b_quark_columns(events, width: int = 4) -> dict | None:
    """`higgs_b_quarks` as padded numpy columns, computed on the flat particle arrays (no jagged
    awkward operations): {"n": (n,) quarks per event, "eta"/"phi": (n, width) float64 NaN-padded,
    "parent": (n, width) int64 -1-padded} in the particles' order (hh4b.analysis.truth.quark_columns
    of `higgs_b_quarks`), or None without truth."""
    if "GenPart" in events.fields:
        _require("GenPart", ("pt", "eta", "phi", "pdgId", "genPartIdxMother", "statusFlags"), events, "GenPart_")
        gen = events.GenPart
        pdg_id, mother, eta, phi = gen.pdgId, gen.genPartIdxMother, gen.eta, gen.phi
        flags = _flat(gen.statusFlags)
        last = (flags & (1 << 13)) > 0
    elif "Particle" in events.fields:
        _require("Particle", ("PT", "Eta", "Phi", "PID", "M1"), events, "Particle.")
        part = events.Particle
        pdg_id, mother, eta, phi = part.PID, part.M1, part.Eta, part.Phi
        last = True
    else:
        return None
    counts = ak.to_numpy(ak.num(pdg_id, axis=1)).astype(np.int64)
    pdg_id, mother = _flat(pdg_id), _flat(mother)
    row = np.repeat(np.arange(len(counts)), counts)
    valid = (mother >= 0) & (mother < counts[row])
    starts = np.cumsum(counts) - counts
    mother_id = np.where(valid, pdg_id[starts[row] + np.where(valid, mother, 0)], 0)
    keep = np.flatnonzero((np.abs(pdg_id) == 5) & (mother_id == 25) & last)
    n_quarks = np.bincount(row[keep], minlength=len(counts))
    slot = np.arange(len(keep)) - (np.cumsum(n_quarks) - n_quarks)[row[keep]]
    fits = slot < width
    where = (row[keep][fits], slot[fits])
    keep = keep[fits]
    out = {"n": n_quarks}
    for name, values in (("eta", eta), ("phi", phi)):
        out[name] = np.full((len(counts), width), np.nan)
        out[name][where] = _flat(values)[keep]
    out["parent"] = np.full((len(counts), width), -1, dtype=np.int64)
    out["parent"][where] = mother[keep]
    return out


def _flat(array) -> np.ndarray:
    """The flat numpy content of a jagged (n, var) array."""
    return ak.to_numpy(ak.flatten(array, axis=1))


def _mother_ids(pdg_id: ak.Array, mother: ak.Array) -> ak.Array:
    """pdgId of each particle's mother (0 for none), vectorised over the jagged record."""
    valid = (mother >= 0) & (mother < ak.num(pdg_id, axis=1)[:, np.newaxis])
    safe = ak.where(valid, mother, 0)
    ids = pdg_id[safe]
    return ak.where(valid, ids, 0)
