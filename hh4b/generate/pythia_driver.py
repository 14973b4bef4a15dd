"""Pythia 8 set-up per sample family, and `generate_file`: Pythia -> jets -> detector -> ROOT.

Families (settings in docs/generation.md):
- resonant: gg -> H (35, forced width RESONANT_WIDTH) -> hh -> bbbb. Pythia's sigmaGen already
  contains its own open-channel fractions (tiny BR(H -> hh) of its default couplings and its
  BR(h -> bb)); xsec_pb = sigma(gg -> H) * BR(H -> hh) * BR_H_BB^2 with BR(H -> hh) = 1 (the
  limits are on sigma(gg -> H -> hh)) and BR_H_BB from constants.
- nonresonant: gg -> hh with the full-m_t LO matrix element (hh4b.generate.nonresonant), h -> bb
  forced; per event (a, b, c) of |M|^2 = a + b k + c k^2 from the event's s-hat and t-hat.
  Pythia's sigmaGen of this semi-internal process is sigma(gg -> hh) without the h -> bb open
  fraction (measured: 35.6 fb at k = 0 against 34.9 fb from `hh4b xsec`), so xsec_pb =
  sigmaGen * BR_H_BB^2.
- qcd: b-enriched QCD multijets, `HardQCD:all` above QCD_PTHAT_MIN with bias2Selection and
  enhanced g -> bb splittings in the final-state shower; the event weights go to genWeight.
- ttbar: gg/qqbar -> ttbar; dileptonic events are vetoed at process level (hadronic and
  semileptonic only), which Pythia's sigmaGen accounts for.
- lhe: shower an external Les Houches file (`Beams:frameType = 4`).
MPI and hadronisation are on for all families. The hard process uses the reference PDF
(`PDF:pHardSet` = PYTHIA_PDF_SET, NNPDF3.1 NLO); showers and MPI keep Pythia's default LO PDF
(NNPDF2.3 QCD+QED LO), the one its Monash tune was made with (and the paper's Pythia set-up).
With the NLO set everywhere Pythia runs ~2x faster but with an untuned, softer underlying event.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np
import pythia8mc
from tqdm import tqdm

from hh4b import constants as C
from hh4b.errors import ConfigError, InputFileError
from hh4b.generate import detector, truth, writer
from hh4b.generate.jets import JetHook, quiet_stdout

FAMILIES = ("resonant", "nonresonant", "qcd", "ttbar", "lhe")
PROCESS_OF = {"resonant": "resonant", "nonresonant": "nonresonant", "qcd": "qcd", "ttbar": "ttbar", "lhe": "qcd"}
MB_TO_PB = 1e9
MAX_SEED = 900_000_000  # Pythia's Random:seed range
BATCH_SIZE = 500


def family_settings(sample: str, mass: float | None = None) -> list[str]:
    """Pythia settings strings that define a sample family (not beams, seed or output)."""
    if sample == "resonant":
        return ["Higgs:useBSM = on", "HiggsBSM:gg2H2 = on", f"35:m0 = {mass:g}", f"35:mWidth = {C.RESONANT_WIDTH:g}",
                "35:doForceWidth = on", "35:onMode = off", "35:onIfMatch = 25 25", "25:onMode = off",
                "25:onIfMatch = 5 -5"]
    if sample == "qcd":
        return ["HardQCD:all = on", f"PhaseSpace:pTHatMin = {C.QCD_PTHAT_MIN:g}", "PhaseSpace:bias2Selection = on",
                f"PhaseSpace:bias2SelectionPow = {C.QCD_BIAS_POW:g}",
                f"PhaseSpace:bias2SelectionRef = {C.QCD_BIAS_REF:g}",
                "Enhancements:doEnhance = on", f"EnhancedSplittings:List = {{fsr:G2BB={C.QCD_G2BB_ENHANCE:g}}}"]
    if sample == "ttbar":
        return ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on"]
    if sample in ("nonresonant", "lhe"):
        return []
    raise ConfigError(f"unknown sample {sample!r}: choose one of {', '.join(FAMILIES)}")


class DileptonVetoJetHook(JetHook):
    """The jet hook plus a veto of ttbar events where both Ws decay leptonically.

    One hook object, because Pythia's UserHooksVector does not forward onEndHadronLevel.
    The veto reads the process record (~20 entries) and Pythia's sigmaGen accounts for it.
    """

    def canVetoResonanceDecays(self) -> bool:  # noqa: N802 (Pythia's name)
        return True

    def doVetoResonanceDecays(self, process) -> bool:  # noqa: N802
        leptonic = 0
        for i in range(process.size()):
            particle = process[i]
            if abs(particle.id()) in (11, 13, 15) and abs(process[particle.mother1()].id()) == 24:
                leptonic += 1
        return leptonic >= 2


def _validate(sample, events, seed, sqrt_s, mass, lhe) -> None:
    family_settings(sample, mass if mass is not None else 0.0)
    if not isinstance(events, (int, np.integer)) or events < 1:
        raise ConfigError(f"--events must be a positive integer, got {events!r}")
    if not 1 <= int(seed) <= MAX_SEED:
        raise ConfigError(f"--seed must be in [1, {MAX_SEED}], got {seed}")
    if not sqrt_s > 0:
        raise ConfigError(f"--sqrt-s must be positive, got {sqrt_s}")
    if sample == "resonant":
        low, high = C.RESONANT_MASS_RANGE
        if mass is None or not low <= mass <= high:
            raise ConfigError(f"--mass {mass} GeV is outside the allowed range [{low:g}, {high:g}] GeV")
    if sample == "lhe" and lhe is None:
        raise ConfigError("sample 'lhe' needs an input file (--lhe FILE)")


def _open_lhe(lhe: str | os.PathLike, workdir: Path) -> Path:
    """A plain-text copy of the LHE file Pythia can read (decompresses .gz); checks it is LHE."""
    path = Path(lhe)
    try:
        opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
        with opener(path, "rb") as fin:
            text = fin.read()
    except (OSError, EOFError) as err:
        raise InputFileError(f"cannot read LHE file {path}: {getattr(err, 'strerror', None) or err}") from None
    if b"<LesHouchesEvents" not in text[:10000] or b"<init>" not in text:
        raise InputFileError(f"LHE file {path} is not a Les Houches event file (no <LesHouchesEvents>/<init> block)")
    plain = workdir / "input.lhe"
    plain.write_bytes(text)
    return plain


def make_pythia(sample: str, seed: int, sqrt_s: float, mass: float | None, kappa_lambda: float | None,
                lhe_plain: Path | None, shower_veto=None,
                generation=None) -> tuple[pythia8mc.Pythia, JetHook, list[str], object]:
    """A configured, initialised Pythia with the jet hook (and the shower veto, when given; `generation`:
    a non-resonant five-coupling generation vector); returns (pythia, hook, settings, keep-alive)."""
    settings = ["Next:numberCount = 0", "Print:quiet = on", "Random:setSeed = on", f"Random:seed = {int(seed)}",
                "PDF:useHard = on", f"PDF:pHardSet = {C.PYTHIA_PDF_SET}", f"25:m0 = {C.M_H:g}", f"6:m0 = {C.M_T:g}"]
    if sample == "lhe":
        settings += ["Beams:frameType = 4", f"Beams:LHEF = {lhe_plain}"]
    else:
        settings += [f"Beams:eCM = {sqrt_s:g}"]
    settings += family_settings(sample, mass)
    with quiet_stdout():
        pythia = pythia8mc.Pythia("", False)
    for line in settings:
        if not pythia.readString(line):
            raise ConfigError(f"Pythia rejected the setting {line!r}")
    keep_alive = None
    if sample == "nonresonant":
        keep_alive = _configure_nonresonant(pythia, kappa_lambda, generation)
    hook = DileptonVetoJetHook(veto=shower_veto) if sample == "ttbar" else JetHook(veto=shower_veto)
    hook.info = pythia.infoPython()
    pythia.setUserHooksPtr(hook)
    with quiet_stdout():
        ok = pythia.init()
    if not ok and sample == "lhe":
        raise InputFileError(f"Pythia could not initialise from the LHE file {lhe_plain}")
    if not ok:
        raise ConfigError(f"Pythia initialisation failed for sample {sample} (settings: {'; '.join(settings)})")
    return pythia, hook, settings, keep_alive


def _configure_nonresonant(pythia, kappa_lambda, generation=None):
    try:
        from hh4b.generate.nonresonant import configure_nonresonant
    except ImportError as err:
        raise ConfigError(f"sample 'nonresonant' is not available yet ({err})") from None
    return configure_nonresonant(pythia, C.NONRESONANT_GENERATION_KL if kappa_lambda is None else kappa_lambda,
                                 generation=generation)


def _kl_coefficients(process_object, info: ak.Array) -> dict[str, np.ndarray]:
    """(a, b, c) of |M|^2 = a + b k + c k^2 from each event's s-hat and t-hat, and the other twelve
    five-coupling terms (HEFT_A<k>, hh4b.theory.heft)."""
    from hh4b.generate import nonresonant
    from hh4b.theory import gghh

    coefficients_for = (getattr(process_object, "coefficients_for", None)
                        or getattr(nonresonant, "coefficients_for", None) or gghh.me_coefficients)
    s_hat, t_hat = ak.to_numpy(info.sHat), ak.to_numpy(info.tHat)
    try:
        a, b, c = coefficients_for(s_hat, t_hat)
    except (TypeError, ValueError):  # a scalar-only implementation: per event (spline look-ups, ~30 us)
        a, b, c = np.array([coefficients_for(float(s), float(t)) for s, t in zip(s_hat, t_hat)]).T
    return {"KappaLambda_a": np.asarray(a, np.float64), "KappaLambda_b": np.asarray(b, np.float64),
            "KappaLambda_c": np.asarray(c, np.float64), **nonresonant.heft_branches(s_hat, t_hat)}


def reconstruct(particles: ak.Array, particle_jets: ak.Array, rng: np.random.Generator) -> dict:
    """Detector-level and truth columns of one batch (docs/formats.md names)."""
    rec = truth.flatten_record(particles)
    eta, phi = rec.eta, rec.phi
    smeared, (dpx, dpy) = detector.smear_jets(particle_jets, rng)
    jets = detector.select_jets(smeared)

    def hadrons(flavour):
        mask = truth.heavy_flavour_hadrons(rec, flavour, C.HADRON_LABEL_PT_MIN)
        return {"eta": eta[mask], "phi": phi[mask], "event": rec.event[mask]}

    flavour = detector.hadron_flavour(jets, hadrons(5), hadrons(4))
    counts = ak.num(jets)
    tags = detector.btag(ak.to_numpy(ak.flatten(flavour)), ak.to_numpy(ak.flatten(jets.eta)), rng)
    jet_columns = {f: ak.values_astype(jets[f], np.float32) for f in ("pt", "eta", "phi", "mass")}
    jet_columns["hadronFlavour"] = flavour
    jet_columns.update({f"btagWP{wp}": ak.unflatten(tag, counts) for wp, tag in tags.items()})

    visible = truth.visible_final(rec, C.JET_ETA_MAX)
    n_events = len(rec.counts)
    vis_px = np.bincount(rec.event[visible], weights=rec.px[visible], minlength=n_events)
    vis_py = np.bincount(rec.event[visible], weights=rec.py[visible], minlength=n_events)
    met_pt, met_phi = detector.missing_pt(vis_px, vis_py, dpx, dpy)
    pt = rec.pt
    lepton = (rec.status > 0) & np.isin(np.abs(rec.pid), (11, 13)) & (pt > C.LEPTON_PT_MIN)
    candidates = {"pt": pt[lepton], "eta": eta[lepton], "phi": phi[lepton], "mass": rec.m[lepton],
                  "pid": rec.pid[lepton], "event": rec.event[lepton]}
    iso = detector.isolation(candidates["event"], candidates["eta"], candidates["phi"], rec.event[visible],
                             pt[visible], eta[visible], phi[visible], n_events)
    return {
        "Jet": ak.zip(jet_columns),
        "GenPart": truth.genparts(rec),
        "Electron": detector.isolated_leptons(candidates, iso, 11, n_events),
        "Muon": detector.isolated_leptons(candidates, iso, 13, n_events),
        "MET_pt": met_pt.astype(np.float32),
        "MET_phi": met_phi.astype(np.float32),
    }


def _cross_section_pb(pythia, sample: str) -> tuple[float, float]:
    """(xsec_pb written to the metadata, forced branching ratio included in it)."""
    sigma_pb = pythia.infoPython().sigmaGen() * MB_TO_PB
    if sample == "resonant":
        br = C.BR_H_BB**2
        return sigma_pb / pythia.particleData.resOpenFrac(35, 0, 0) * br, br
    if sample == "nonresonant":  # measured: for a Python Sigma2Process sigmaGen has no open fraction
        br = C.BR_H_BB**2
        return sigma_pb * br, br
    return sigma_pb, 1.0


def _run_batches(pythia, hook, events, rng, sample, keep_alive, progress, label):
    """Generate `events` events (accepted plus vetoed by the shower veto) in batches; returns the
    list of per-batch column dicts ("weight_before_veto": the event weight without the veto factor)."""
    batches, done, failures = [], 0, 0
    with tqdm(total=events, desc=label, unit="ev", disable=not progress, leave=False) as bar:
        while done + hook.n_vetoed < events:
            batch = pythia.nextBatch(min(BATCH_SIZE, events - done - hook.n_vetoed))
            if len(batch) == 0:
                failures += 1
                if sample == "lhe" or failures > 10:
                    break  # end of the LHE file, or Pythia keeps failing
                continue
            jets, factors = hook.take(batch.prt)
            columns = reconstruct(batch.prt, jets, rng)
            columns["weight_before_veto"] = ak.to_numpy(batch.info.weights[:, 0]).astype(np.float64)
            columns["genWeight"] = (columns["weight_before_veto"] * factors).astype(np.float32)
            if sample == "nonresonant":
                columns.update(_kl_coefficients(keep_alive, batch.info))
            batches.append(columns)
            done += len(batch)
            bar.update(done + hook.n_vetoed - bar.n)
    return batches


def _concatenate(batches: list[dict]) -> dict:
    return {key: (ak.concatenate([b[key] for b in batches]) if isinstance(batches[0][key], ak.Array)
                  else np.concatenate([b[key] for b in batches])) for key in batches[0]}


def generate_file(sample: str, output: str | os.PathLike, events: int, seed: int, *, sqrt_s: float = C.SQRT_S,
                  mass: float | None = None, kappa_lambda: float | None = None, lhe: str | os.PathLike | None = None,
                  xsec_pb: float | None = None, process: str | None = None, progress: bool = True,
                  shower_veto=None, min_quality_jets: int = 0, heft_mixture: bool = False) -> dict:
    """Generate one NanoAOD-style ROOT file and return its metadata dict (docs/formats.md).

    sample: resonant (needs mass), nonresonant (kappa_lambda, default the generation point),
    qcd, ttbar or lhe (needs lhe=PATH; xsec_pb overrides Pythia's LHE cross section and
    process names the physics process, default 'qcd'). Same seed -> bit-identical file content.
    shower_veto (a hh4b.generate.shower_veto.ShowerVeto; sample lhe with xsec_pb only) drops
    events early in the shower that cannot give four quality jets: the file then holds the
    accepted events, and sumw, sumw2 and n_generated count the vetoed ones too.
    min_quality_jets: a generator-level filter, as NanoAOD's: events with fewer jets of pT > TAG_JET_PT_MIN
    and |eta| < TAG_JET_ETA_MAX (as stored, `filter_quality_jets`) are not written, since no tag
    category can hold them; sumw, sumw2 and n_generated count them, metadata "jet_filter" says how many.
    heft_mixture (nonresonant, without kappa_lambda): sample the five-coupling mixture
    constants.HEFT_GENERATION_MIXTURE instead of a kappa_lambda point; metadata "heft_generation" records it.
    """
    _validate(sample, events, seed, sqrt_s, mass, lhe)
    generation = heft_generation = None
    if heft_mixture:
        from hh4b.generate.nonresonant import heft_mixture_generation

        generation, heft_generation = heft_mixture_generation(sample, kappa_lambda, sqrt_s)
    if shower_veto is not None and (sample != "lhe" or xsec_pb is None):
        raise ConfigError("the shower veto needs sample 'lhe' and its cross section (xsec_pb): "
                          "Pythia's own cross section would count the vetoed events as rejected")
    path = writer.check_writable(output)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hh4b-gen-") as workdir:
        lhe_plain = _open_lhe(lhe, Path(workdir)) if sample == "lhe" else None
        try:
            pythia, hook, settings, keep_alive = make_pythia(sample, seed, sqrt_s, mass, kappa_lambda, lhe_plain,
                                                             shower_veto, generation)
        except InputFileError:
            raise InputFileError(f"Pythia could not initialise from the LHE file {lhe}") from None
        rng = np.random.default_rng([int(seed), 20240611])
        batches = _run_batches(pythia, hook, int(events), rng, sample, keep_alive, progress, f"{sample} {path.name}")
        if not batches:
            raise InputFileError(f"no events generated for {sample}" + (f" from LHE file {lhe}" if lhe else ""))
        xsec, br = _cross_section_pb(pythia, sample)
        sigma_err_pb = pythia.infoPython().sigmaErr() * MB_TO_PB
        e_cm = pythia.infoPython().eCM()  # for LHE input: the file's beams
    columns = _concatenate(batches)
    columns, jet_filter = filter_quality_jets(columns, min_quality_jets)
    n = len(columns["genWeight"])
    columns = {"run": np.full(n, int(seed), np.uint32), "luminosityBlock": np.ones(n, np.uint32),
               "event": np.arange(1, n + 1, dtype=np.uint64), **columns}
    weights = columns.pop("weight_before_veto")
    if sample == "lhe":  # NanoAOD's name; genWeight / it = the shower veto's factor (1 or 1 / keep)
        columns["LHEWeight_originalXWGTUP"] = weights.astype(np.float32)
    veto = shower_veto.summary() if shower_veto is not None else {"n_vetoed": 0, "sumw_vetoed": 0.0,
                                                                   "sumw2_vetoed": 0.0}
    generation_kl = None
    if sample == "nonresonant" and generation is None:
        generation_kl = C.NONRESONANT_GENERATION_KL if kappa_lambda is None else float(kappa_lambda)
    dropped = {"n": veto["n_vetoed"] + jet_filter.get("n_filtered", 0),
               "sumw": veto["sumw_vetoed"] + jet_filter.get("sumw_filtered", 0.0),
               "sumw2": veto["sumw2_vetoed"] + jet_filter.get("sumw2_filtered", 0.0)}
    metadata = {
        "sample": sample, "process": process or PROCESS_OF[sample],
        "xsec_pb": float(xsec_pb) if xsec_pb is not None else xsec, "sigma_hard_pb": xsec / br,
        "pythia_sigma_err_pb": sigma_err_pb, "br_forced": br, "sumw": float(weights.sum() + dropped["sumw"]),
        "sumw2": float((weights**2).sum() + dropped["sumw2"]), "n_events": n,
        "n_generated": n + dropped["n"], "seed": int(seed), "sqrt_s": round(float(e_cm), 6),
        "mass": mass, "kappa_lambda": generation_kl, "generation_kappa_lambda": generation_kl,
        "lhe": str(lhe) if lhe else None, "pythia_settings": settings, "hh4b_version": _version(),
        "cpu_seconds": time.perf_counter() - start,
    }
    if shower_veto is not None:
        metadata["shower_veto"] = veto
    if min_quality_jets:
        metadata["jet_filter"] = jet_filter
    if heft_generation is not None:
        metadata["heft_generation"] = heft_generation
    writer.write_events(path, columns, metadata)
    return metadata


def filter_quality_jets(columns: dict, minimum: int) -> tuple[dict, dict]:
    """(columns of the events with at least `minimum` quality jets (hh4b.analysis.selection.quality_mask) as the
    file stores them (writer.reduce_precision); what was dropped: n_filtered, sumw_filtered, sumw2_filtered)."""
    from hh4b.analysis.selection import quality_mask

    if not minimum:
        return columns, {}
    stored = writer.reduce_precision({"Jet": columns["Jet"]})["Jet"]
    keep = ak.to_numpy(ak.sum(quality_mask(stored), axis=1)) >= minimum
    dropped = columns["weight_before_veto"][~keep]  # as the shower veto's, the weights before its factor
    summary = {"min_quality_jets": int(minimum), "n_filtered": int((~keep).sum()),
               "sumw_filtered": float(np.sum(dropped)), "sumw2_filtered": float(np.sum(dropped**2))}
    return {k: v[keep] for k, v in columns.items()}, summary


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("hh4b")
    except Exception:  # noqa: BLE001 (not installed: running from a checkout)
        return "unknown"
