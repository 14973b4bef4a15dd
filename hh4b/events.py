"""Readers: every supported input format -> one awkward jet record per event.

The record has fields pt, eta, phi, mass (GeV), btag (bool at the chosen working point) and
flavour (true hadron flavour 5/4/0, when the file has it), named "Momentum4D" so that
`vector` behaviours apply after `vector.register_awkward()`.

Supported inputs (all read through coffea NanoEvents):
- hh4b's own NanoAOD-style files: b-tag = the `Jet_btagWP70` / `Jet_btagWP77` flag of the
  requested working point (docs/formats.md section 1);
- CMS NanoAOD: no tag flag, so b-tag = `Jet_btagDeepFlavB` > threshold (default: DeepJet
  medium, constants.DEEPFLAV_B_THRESHOLD); flavour from `Jet_hadronFlavour`;
- Delphes (DelphesSchema): `Jet.PT/Eta/Phi/Mass`, b-tag = bit `wp_bit` of `Jet.BTag`,
  flavour from `Jet.Flavor`; truth from `Particle`.

A file lacking a needed branch raises InputFileError naming the file and the branch.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hh4b.constants import DEEPFLAV_B_THRESHOLD
from hh4b.errors import InputFileError

from coffea.nanoevents import NanoAODSchema

JET_FIELDS = ("pt", "eta", "phi", "mass", "btag", "flavour")


class NanoSchema(NanoAODSchema):
    """NanoAODSchema without warnings for cross-references to collections a file does not
    have (hh4b files carry only Jet, GenPart, Electron, Muon, MET), and accepting files
    without the run/luminosityBlock/event identifiers (a warning instead of an error)."""

    warn_missing_crossrefs = False
    error_missing_event_ids = False
DELPHES_TREE = "Delphes"


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


def nanoaod_jets(events, btag_wp: str = "70", deepflav_threshold: float = DEEPFLAV_B_THRESHOLD) -> ak.Array:
    """Jets of hh4b or CMS NanoAOD files; the hh4b tag flag wins over the DeepJet score."""
    _require("Jet", ("pt", "eta", "phi", "mass"), events, "Jet_")
    jet = events.Jet
    flag = f"btagWP{btag_wp}"
    if flag in jet.fields:
        btag = jet[flag]
    elif "btagDeepFlavB" in jet.fields:
        btag = jet.btagDeepFlavB > deepflav_threshold
    else:
        raise InputFileError(f"{_filename(events)}: branch Jet_{flag} not found "
                             f"(nor Jet_btagDeepFlavB to tag jets with)")
    flavour = jet.hadronFlavour if "hadronFlavour" in jet.fields else None
    return make_jets(jet.pt, jet.eta, jet.phi, jet.mass, btag, flavour)


def delphes_jets(events, wp_bit: int = 0) -> ak.Array:
    """Jets of Delphes files: b-tag from bit `wp_bit` of Jet.BTag."""
    _require("Jet", ("PT", "Eta", "Phi", "Mass", "BTag"), events, "Jet.")
    jet = events.Jet
    btag = (jet.BTag & (1 << wp_bit)) > 0
    flavour = jet.Flavor if "Flavor" in jet.fields else None
    return make_jets(jet.PT, jet.Eta, jet.Phi, jet.Mass, btag, flavour)


def read_jets(events, btag_wp: str = "70", deepflav_threshold: float = DEEPFLAV_B_THRESHOLD,
              delphes_bit: int = 0) -> ak.Array:
    """The jet record of any supported format, detected from the field names."""
    if detect_format(events) == "delphes":
        return delphes_jets(events, delphes_bit)
    return nanoaod_jets(events, btag_wp, deepflav_threshold)


def gen_weight(events) -> np.ndarray:
    """Generator weights (1 when the file has none, e.g. data or Delphes without Event.Weight)."""
    if "genWeight" in events.fields:
        return ak.to_numpy(events.genWeight).astype(np.float64)
    if "Event" in events.fields and "Weight" in events.Event.fields:
        return ak.to_numpy(ak.firsts(events.Event.Weight)).astype(np.float64)
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


def _mother_ids(pdg_id: ak.Array, mother: ak.Array) -> ak.Array:
    """pdgId of each particle's mother (0 for none), vectorised over the jagged record."""
    valid = (mother >= 0) & (mother < ak.num(pdg_id, axis=1)[:, np.newaxis])
    safe = ak.where(valid, mother, 0)
    ids = pdg_id[safe]
    return ak.where(valid, ids, 0)
