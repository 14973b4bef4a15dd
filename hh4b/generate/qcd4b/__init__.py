"""LO p p -> b b~ b b~ on pyamplicol full-colour matrix elements, showered by Pythia 8.

`generate_qcd4b(output, events, seed)` integrates the cross section with the generator cuts of
the flavour scheme (`scheme`: "5fs", massless b with the cuts constants.QCD4B_*; "4fs", b quarks
of mass MB = 4.7 GeV with no generator cuts, as MadGraph's default; phasespace.default_cuts)
(VEGAS, integrate.py), unweights `events` parton-level events, draws their
leading-colour flows, writes them as a Les Houches file (lhe.py) and hands it to the generation
chain's LHE path (`hh4b.generate.generate_file("lhe", ...)`: shower, hadronisation, MPI, jets,
detector), with process = "qcd4b" and xsec_pb = the LO cross section with cuts (the mean weight
over the sigma sample and every point the unweighting tried, `xsec_points` in all). The file's
metadata gains a "qcd4b" block: cross-section error, unweighting efficiency, points tried,
maximum weight, overweight fraction, cuts, scheme, b mass, scale choice and seconds per stage.

Same seed -> same events: the VEGAS map is trained with a fixed seed (and cached), the cross
section, unweighting and colour flows use numpy generators seeded from `seed`, Pythia its seed.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from hh4b import constants as C
from hh4b.errors import ConfigError

DEFAULTS = {"train_iterations": 10, "train_points": 20000, "sigma_points": 100000,
            "bias_powers": None,  # None: the scheme's, SCHEME_DEFAULTS
            "overweight": C.QCD4B_UNWEIGHT_OVERWEIGHT, "higgs_window": True,
            "window_floor": C.QCD4B_WINDOW_FLOOR}
SCHEME_DEFAULTS = {"5fs": {"bias_powers": (C.QCD4B_BIAS_POWER, C.QCD4B_BIAS_PT3_POWER)},
                   "4fs": {"bias_powers": C.QCD4B_4FS_BIAS_POWERS}}


def parton_level(events: int, seed: int, sqrt_s: float = C.SQRT_S, cuts=None, cache: Path | None = None,
                 progress: bool = True, scheme: str = "5fs", **options):
    """Unweighted parton-level events: (Unweighted, info dict, Integrand)."""
    from hh4b.generate.qcd4b import integrate, matrix_elements, phasespace
    from hh4b.generate.qcd4b.window import HiggsWindow
    from hh4b.theory.pdf import parton_density

    if scheme not in SCHEME_DEFAULTS:
        raise ConfigError(f"qcd4b: flavour scheme {scheme!r} not in {tuple(SCHEME_DEFAULTS)}")
    settings = {**DEFAULTS, **options}
    defaults = dict(SCHEME_DEFAULTS[scheme])
    if settings["higgs_window"] and scheme == "5fs":
        defaults["bias_powers"] = C.QCD4B_WINDOW_BIAS_POWERS
    settings.update({k: v for k, v in defaults.items() if settings[k] is None})
    cuts = cuts or phasespace.default_cuts(scheme)
    bias = integrate.Bias(*settings["bias_powers"], window=HiggsWindow(floor=float(settings["window_floor"]))
                          if settings["higgs_window"] else None)
    timers = integrate.Timers()
    start = time.perf_counter()
    matrix = matrix_elements.MatrixElements("full", cache, scheme)
    phasespace.check_cuts(cuts, matrix.b_mass)
    pdf = parton_density()
    timers.add("setup", start)
    integrand = integrate.Integrand(matrix, pdf, sqrt_s, timers)
    cache_root = Path(cache) if cache is not None else matrix_elements.cache_dir()
    sampler = integrate.trained_sampler(integrand, cuts, settings["train_iterations"], settings["train_points"],
                                        cache_root, pdf.pset, matrix.artifact.name, progress, bias, matrix.b_mass)
    rng = np.random.default_rng([int(seed), 4])
    xsec, _, biased, weights, window = integrate.cross_section(sampler, integrand, rng, settings["sigma_points"],
                                                               progress, bias)
    if xsec <= 0:
        raise ConfigError(f"qcd4b: zero cross section with cuts {cuts} at sqrt(s) = {sqrt_s:g} GeV")
    w_max = integrate.max_weight(biased, settings["overweight"], window)
    unweighted = integrate.unweight(sampler, integrand, rng, int(events), w_max, progress, bias)
    xsec, xsec_err, xsec_points = integrate.pooled_cross_section(weights, unweighted)
    info = {"xsec_pb": xsec, "xsec_err_pb": xsec_err, "xsec_points": xsec_points, "w_max_pb": w_max,
            "n_tried": unweighted.n_tried,
            "unweighting_efficiency": float(np.mean(biased * window) / w_max),
            "bias": bias.describe(),
            "overweight_fraction": unweighted.overweight_fraction,
            "cuts": {"pt_min": cuts.pt_min, "eta_max": cuts.eta_max, "dr_min": cuts.dr_min},
            "scheme": scheme, "b_mass": matrix.b_mass,
            "scale": f"mu_R = mu_F = {C.QCD4B_SCALE_FACTOR:g} * H_T (scalar sum of b-quark transverse masses)",
            "pdf_set": pdf.pset, "matrix_elements": f"pyamplicol full colour, {matrix.artifact.name}",
            "seconds": timers.seconds, **{k: settings[k] for k in DEFAULTS}}
    return unweighted, info, integrand


def write_parton_lhe(path: str | os.PathLike, events: int, seed: int, sqrt_s: float = C.SQRT_S, cuts=None,
                     cache: Path | None = None, progress: bool = True, scheme: str = "5fs", **options) -> dict:
    """Unweighted events with LC colour flows in a Les Houches file; returns the info dict."""
    from hh4b.generate.qcd4b.lhe import ColourFlows, write_lhe

    unweighted, info, integrand = parton_level(events, seed, sqrt_s, cuts, cache, progress, scheme, **options)
    start = time.perf_counter()
    tags = ColourFlows(cache, scheme).draw(unweighted.points.momenta, unweighted.channel,
                                   np.random.default_rng([int(seed), 5]))
    integrand.timers.add("colour_flows", start)
    start = time.perf_counter()
    write_lhe(path, unweighted, tags, info["xsec_pb"], info["xsec_err_pb"], sqrt_s, info["pdf_set"], info["b_mass"])
    integrand.timers.add("lhe_write", start)
    info["seconds"] = dict(integrand.timers.seconds)
    return info


def generate_qcd4b(output: str | os.PathLike, events: int, seed: int, sqrt_s: float = C.SQRT_S, *, cuts=None,
                   cache: str | os.PathLike | None = None, lhe_output: str | os.PathLike | None = None,
                   progress: bool = True, shower_veto: bool = True, jet_filter: bool = True, **options) -> dict:
    """Shower `events` parton-level qcd4b events into a NanoAOD-style ROOT file; returns its metadata.

    shower_veto: stop early in the shower the events that cannot give four quality jets
    (hh4b.generate.shower_veto, constants SHOWER_VETO_*; unbiased: a failing event is kept with
    probability SHOWER_VETO_KEEP and weight 1 / keep): the file holds the accepted events, its
    sumw and n_generated count all `events`. jet_filter: do not write the events with fewer than
    N_TAGS_REQUIRED quality jets (no tag category can hold them; counted in sumw and n_generated,
    hh4b.generate.pythia_driver.filter_quality_jets).

    options: scheme ("5fs" or "4fs"), train_iterations, train_points (VEGAS training), sigma_points
    (cross section and w_max), bias_powers (powers of the softest and second-softest b pT in
    the selection bias; (0, 0): unit-weight events), overweight (share of the biased sigma sample
    above w_max: larger is more robust against one outlier weight setting w_max, at some Kish cost);
    bias_powers defaults to the scheme's (SCHEME_DEFAULTS; 5fs with the Higgs window:
    QCD4B_WINDOW_BIAS_POWERS); higgs_window (default True): importance sampling toward the mass-plane
    regions (window.py); window_floor: the window's smallest keep factor (QCD4B_WINDOW_FLOOR).
    lhe_output keeps the parton-level Les Houches file.
    """
    from hh4b.generate import generate_file, writer
    from hh4b.generate.shower_veto import ShowerVeto

    if int(events) <= 0:
        raise ConfigError(f"--events must be positive, not {events}")
    cache = Path(cache) if cache is not None else None
    with tempfile.TemporaryDirectory(prefix="hh4b-qcd4b-") as workdir:
        lhe_path = Path(lhe_output) if lhe_output else Path(workdir) / "qcd4b.lhe"
        info = write_parton_lhe(lhe_path, events, seed, sqrt_s, cuts, cache, progress, **options)
        start = time.perf_counter()
        metadata = generate_file("lhe", output, int(events), int(seed), sqrt_s=sqrt_s, lhe=lhe_path,
                                 xsec_pb=info["xsec_pb"], process="qcd4b", progress=progress,
                                 shower_veto=ShowerVeto(seed=int(seed)) if shower_veto else None,
                                 min_quality_jets=C.N_TAGS_REQUIRED if jet_filter else 0)
        info["seconds"]["shower"] = time.perf_counter() - start
    metadata["sample"] = "qcd4b"
    metadata["lhe"] = str(lhe_output) if lhe_output else None
    metadata["qcd4b"] = info
    _replace_metadata(output, metadata)
    writer.read_metadata(output)  # the file reads back
    return metadata


def _replace_metadata(path: str | os.PathLike, metadata: dict) -> None:
    """Overwrite the `hh4b_metadata` string of a generated file (uproot update mode)."""
    import uproot

    from hh4b.generate.writer import METADATA_KEY

    with uproot.update(path) as fout:
        del fout[METADATA_KEY]
        fout[METADATA_KEY] = json.dumps(metadata, sort_keys=True, default=float)
