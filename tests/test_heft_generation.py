"""Non-resonant samples generated at the five-coupling mixture (`hh4b generate --heft-mixture`):
the metadata that records it, reweighting from its density to the SM against a sample generated at
the SM (cross section and m_hh), the processor's normalisation, and the option checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import chi2

from hh4b import cli, constants, weights
from hh4b.errors import ConfigError, InputFileError
from hh4b.theory import gghh, heft

from test_heft import _chi2_weighted_unweighted

EVENTS = 400
MHH_EDGES = np.array([250, 300, 350, 400, 450, 500, 600, 800, 3000.0])


@pytest.fixture(scope="module")
def mixture_file(tmp_path_factory):
    """400 events at the mixture, made through the command line."""
    path = tmp_path_factory.mktemp("heft_generation") / "nonresonant_mixture.root"
    assert cli.main(["generate", "--sample", "nonresonant", "--heft-mixture", "--events", str(EVENTS), "--seed", "3",
                     "--output", str(path), "--no-progress"]) == 0
    return path


def _events(path):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    return NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=NanoAODSchema, mode="eager").events()


def _sm_weights(path, metadata):
    """Truth m_hh and the per-event factor to the SM of a non-resonant file (hh4b.analysis.heft_histograms)."""
    from hh4b.analysis.heft_histograms import generation_density, truth_higgs_pairs

    events = _events(path)
    a, b, c = (np.asarray(events.KappaLambda[x], dtype=float) for x in "abc")
    density = generation_density(events, a, b, c, metadata)
    m_hh, _ = heft.mhh_cos_theta_cs(**truth_higgs_pairs(events))
    return m_hh, weights.density_ratio(weights.kl_polynomial(a, b, c, 1.0), density), (a, b, c)


def test_mixture_metadata_round_trips(mixture_file, tmp_path):
    from hh4b.generate.fileset import refresh_metadata
    from hh4b.generate.writer import read_metadata

    metadata = read_metadata(mixture_file)
    record = metadata["heft_generation"]
    assert record["mixture"] == constants.HEFT_GENERATION_MIXTURE and record["sqrt_s"] == constants.SQRT_S
    assert record["terms"] == list(heft.TERM_NAMES)
    for name, couplings in record["couplings"].items():
        assert tuple(couplings) == heft.benchmark(name).couplings()
    np.testing.assert_allclose(record["vector"], heft.default_generation(), rtol=1e-12)
    np.testing.assert_array_equal(heft.file_generation(metadata), record["vector"])
    assert metadata["kappa_lambda"] is None and metadata["generation_kappa_lambda"] is None
    # `hh4b generate --fileset` copies it into the dataset's metadata, where the processor reads it
    fileset = {"mixture": {"files": {str(mixture_file): "Events"}, "metadata": {"process": "nonresonant"}}}
    assert refresh_metadata(tmp_path / "fileset.json", fileset)["mixture"]["metadata"]["heft_generation"] == record
    # a kappa_lambda file's generation vector is its polynomial, as before
    np.testing.assert_array_equal(heft.file_generation({"generation_kappa_lambda": 0.0}),
                                  heft.kappa_lambda_generation(0.0))
    with pytest.raises(InputFileError, match="heft_generation needs 'vector'"):
        heft.file_generation({"heft_generation": {"vector": [1.0, 2.0]}})


def test_mixture_reweighted_to_sm_matches_an_sm_sample(mixture_file, sample_file):
    """sigma and the truth m_hh of the mixture reweighted by |M|^2_SM / |M|^2_mixture against a
    sample generated at the SM; the kappa_lambda = 0 denominator (the file read as a kappa_lambda one) fails."""
    from hh4b.generate.writer import read_metadata

    sm_file = sample_file("nonresonant", events=EVENTS, seed=4, kappa_lambda=1.0)
    mixture, sm = read_metadata(mixture_file), read_metadata(sm_file)
    m_mix, w, (a, b, c) = _sm_weights(mixture_file, mixture)
    m_sm, w_sm, _ = _sm_weights(sm_file, sm)
    np.testing.assert_allclose(w_sm, 1.0, rtol=1e-12)  # an SM file to the SM
    assert weights.effective_entries(w) > 0.45 * EVENTS  # the mixture's Kish fraction at the SM
    # sigma: both from Pythia's estimate, the reweighted one with the weights' spread
    sigma = mixture["xsec_pb"] * w.mean()
    error = np.hypot(sigma * mixture["pythia_sigma_err_pb"] / mixture["xsec_pb"],
                     mixture["xsec_pb"] * w.std() / np.sqrt(w.size))
    assert abs(sigma - sm["xsec_pb"]) < 3.0 * np.hypot(error, sm["pythia_sigma_err_pb"])
    lo = heft.sigma(constants.HEFT_SM) * sm["br_forced"] / 1000.0
    assert sigma == pytest.approx(lo, rel=0.15) and sm["xsec_pb"] == pytest.approx(lo, rel=0.15)
    value, ndf = _chi2_weighted_unweighted(m_mix, w, m_sm, MHH_EDGES)
    assert chi2.sf(value, ndf) > 1e-3, (value, ndf)
    # the test has power: the mixture unweighted, or divided by the kappa_lambda = 0 polynomial, fails
    for wrong in (np.ones_like(w), weights.kl_ratio(a, b, c, 1.0, 0.0)):
        value, ndf = _chi2_weighted_unweighted(m_mix, wrong, m_sm, MHH_EDGES)
        assert chi2.sf(value, ndf) < 1e-6
    assert mixture["xsec_pb"] * weights.kl_ratio(a, b, c, 1.0, 0.0).mean() > 2.0 * sm["xsec_pb"]


def test_processor_reweights_from_the_mixture_density(tmp_path):
    """On a toy file with physical terms: reweighting to the generation mixture itself gives back the
    unweighted histogram, mhh_kl equals the five-coupling terms at (k, 1, 0, 0, 0), and the same file
    without the metadata is read as generated at kappa_lambda = 0 (as before)."""
    from hh4b.analysis.processing import load_fileset, process_fileset
    from hh4b.analysis.processor import HH4bProcessor
    from hh4b.generate.nonresonant import heft_mixture_generation, matrix_element_grid

    from toys import hh_events, write_nanoaod

    rng = np.random.default_rng(25)
    n = 1500
    s = rng.uniform(260.0, 900.0, n) ** 2
    terms = np.array(matrix_element_grid(five_couplings=True).coefficients_array(
        s, gghh.t_from_cos_theta(s, rng.uniform(-1.0, 1.0, n))))
    branches = {f"KappaLambda_{x}": terms[k] for x, k in zip("abc", heft.KL_TERMS, strict=True)}
    branches.update({f"HEFT_{name}": terms[k].astype(np.float32) for k, name in enumerate(heft.TERM_NAMES)
                     if k not in heft.KL_TERMS})
    write_nanoaod(tmp_path / "mixture.root", hh_events(n, 400, 8), extra=branches)
    generation, record = heft_mixture_generation("nonresonant", None)
    base = {"process": "nonresonant", "xsec_pb": 1.0, "sumw": float(n), "n_events": n, "btag_wp": "70",
            "sqrt_s": 13000}
    fileset = {"mixture": {"files": {str(tmp_path / "mixture.root"): "Events"},
                           "metadata": {**base, "heft_generation": record}},
               "as_kl0": {"files": {str(tmp_path / "mixture.root"): "Events"},
                          "metadata": {**base, "generation_kappa_lambda": 0.0}}}
    (tmp_path / "fileset.json").write_text(json.dumps(fileset))
    output = process_fileset(load_fileset(tmp_path / "fileset.json"), HH4bProcessor(), "iterative",
                             chunksize=1000, progress=False)
    assert output["bookkeeping"]["failed_chunks"] == []
    hists = output["hists"]

    def read(dataset):
        where = {"dataset": dataset, "region": "SR", "tags": "4b", "method": "cut_mindr"}
        raw = hists["mhh"][where].values()
        term_hists = np.array([hists["mhh_heft_terms"][{**where, "term": t}].values() for t in heft.TERM_NAMES])
        kl = {k: hists["mhh_kl"][{**where, "kappa_lambda": f"{k:g}"}].values() for k in constants.KAPPA_LAMBDA_TRAINING}
        return raw, term_hists, kl, hists["mhh_heft"][{**where, "point": "SM"}].values()

    raw, term_hists, kl, sm = read("mixture")
    assert raw.sum() > 0
    np.testing.assert_allclose(np.tensordot(generation, term_hists, axes=(0, 0)), raw, rtol=1e-9, atol=1e-12)
    for k, values in kl.items():
        np.testing.assert_allclose(values, heft.msq(term_hists, (k, 1.0, 0.0, 0.0, 0.0)), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sm, kl[1.0], rtol=1e-9)
    raw_kl0, terms_kl0, kl0, _ = read("as_kl0")
    np.testing.assert_array_equal(raw_kl0, raw)
    np.testing.assert_allclose(np.tensordot(heft.kappa_lambda_generation(0.0), terms_kl0, axes=(0, 0)), raw, rtol=1e-9)
    assert not np.allclose(kl0[1.0], kl[1.0], rtol=0.05)


def test_mixture_file_without_heft_branches_is_an_input_error():
    from hh4b.analysis.heft_histograms import generation_density

    class NoHeft:
        fields = ("Jet",)

        def __len__(self):
            return 2

    one = np.ones(2)
    with pytest.raises(InputFileError, match="x.root: generated at a five-coupling mixture"):
        generation_density(NoHeft(), one, one, one, {"heft_generation": {"vector": [1.0] * 15}, "filename": "x.root"})


@pytest.mark.parametrize("argv, option", [
    (["--sample", "resonant", "--mass", "500", "--heft-mixture"], "--heft-mixture goes with --sample nonresonant"),
    (["--sample", "qcd4b", "--heft-mixture"], "--heft-mixture goes with --sample nonresonant, not 'qcd4b'"),
    (["--sample", "nonresonant", "--kappa-lambda", "1", "--heft-mixture"], "--heft-mixture and --kappa-lambda"),
])
def test_bad_heft_mixture_options_are_one_line_errors(tmp_path, capsys, argv, option):
    output = tmp_path / "x.root"
    assert cli.main(["generate", *argv, "--events", "10", "--output", str(output), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert option in err and len(err.splitlines()) == 1
    assert not output.exists()


def test_heft_mixture_in_library_and_fileset_checks(tmp_path, capsys):
    from hh4b.generate import generate_file
    from hh4b.generate.fileset import missing_jobs

    with pytest.raises(ConfigError, match="--heft-mixture goes with --sample nonresonant, not 'ttbar'"):
        generate_file("ttbar", tmp_path / "x.root", 10, 1, heft_mixture=True)

    def dataset(**generate):
        return {"d": {"files": {"d.root": "Events"},
                      "metadata": {"process": "nonresonant", "generate": {"events": 10, "seed": 1, **generate}}}}

    jobs = missing_jobs(tmp_path / "fileset.json", dataset(sample="nonresonant", heft_mixture=True))
    assert jobs[0]["heft_mixture"] is True
    bad = (({"sample": "resonant", "mass": 500.0, "heft_mixture": True}, "applies to sample nonresonant only"),
           ({"sample": "nonresonant", "kappa_lambda": 0.0, "heft_mixture": True}, "and kappa_lambda"),
           ({"sample": "nonresonant", "heft_mixture": "yes"}, "must be true or false"))
    for generate, message in bad:
        with pytest.raises(ConfigError, match=f"dataset 'd': generate option heft_mixture.*{message}"):
            missing_jobs(tmp_path / "fileset.json", dataset(**generate))
    with pytest.raises(SystemExit):
        cli.main(["generate", "--help"])
    assert "--heft-mixture" in capsys.readouterr().out


def test_limits_predict_cross_sections_from_the_mixture(tmp_path):
    """The limits stage's sigma predictions scale the file's cross section by sigma_LO(point) / sigma_LO(g)."""
    from hh4b.config import AnalysisConfig
    from hh4b.generate.nonresonant import heft_mixture_generation
    from hh4b.stats import projections
    from hh4b.stats.heft import heft_results
    from hh4b.stats.inputs import FitOptions
    from hh4b.stats.results import generation_sigma_ratio

    from test_heft import _synthetic_output

    generation, record = heft_mixture_generation("nonresonant", None)
    lo = heft.sigma_terms()
    sigma_sm = heft.sigma(constants.HEFT_SM)
    assert generation_sigma_ratio({"heft_generation": record}, constants.SQRT_S) == pytest.approx(
        float(generation @ lo) / sigma_sm, rel=1e-12)
    assert generation_sigma_ratio({"generation_kappa_lambda": 0.0}, constants.SQRT_S) == projections.sigma_hh_ratio(0.0)
    out, inputs = _synthetic_output(tmp_path, 300.0)
    meta = out.metadata["nonres"]
    meta.pop("generation_kappa_lambda")
    meta.update(heft_generation=record, xsec_pb=float(generation @ lo) * meta["br_forced"] / 1000.0)
    result = heft_results(out, inputs, tmp_path / "report", FitOptions(AnalysisConfig(sqrt_s=constants.SQRT_S)),
                          kl_grid=np.array([0.0, 1.0, 2.0]), c2_grid=np.array([0.0, 0.5]), c2_scan=np.array([0.0, 0.5]),
                          points=[heft.benchmark(n) for n in ("SM", "4")])
    for row in result["benchmarks"]:
        assert row["sigma_pred_fb"] == pytest.approx(heft.sigma(row["couplings"]), rel=1e-9)


def test_export_h5_reweights_mixture_events_from_their_density(mixture_file):
    """`hh4b export-h5` divides the kappa_lambda weights of mixture events by the mixture's density."""
    import uproot

    from hh4b.generate.writer import read_metadata
    from hh4b.nn.export_h5 import assign_kappa, read_dataset

    metadata = read_metadata(mixture_file)
    data = read_dataset("mixture", {"files": {str(mixture_file): "Events"}, "metadata": metadata}, 10, False, False)
    kappa, factor = assign_kappa(data, metadata, np.random.default_rng(1))
    a, b, c = data["a"], data["b"], data["c"]
    expected = weights.kl_polynomial(a, b, c, kappa.astype(float)) / data["density"]
    np.testing.assert_allclose(factor, expected, rtol=1e-12)
    branches = uproot.open(mixture_file)["Events"].arrays(library="np")
    terms = np.array([branches[f"KappaLambda_{'abc'[heft.KL_TERMS.index(k)]}"] if k in heft.KL_TERMS
                      else branches[f"HEFT_{name}"] for k, name in enumerate(heft.TERM_NAMES)], dtype=float)
    density = np.tensordot(heft.default_generation(), terms, axes=(0, 0))
    assert data["density"].size > 0.9 * EVENTS
    assert np.isin(data["density"], density).all()  # each kept event's sum_k g_k T_k, computed from the branches
    assert not np.allclose(data["density"], a, rtol=0.05)  # not the kappa_lambda = 0 polynomial
