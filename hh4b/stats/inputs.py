"""The binned, luminosity-scaled templates a limit fit needs, and the options that make them.

`FitOptions` holds every choice of the fits (the AnalysisConfig's luminosity, energy and fit bins,
the background model, the MC-uncertainty treatment, the score fits); `MethodInputs` builds the
templates of one method of a processor output from them, and `ScoreBinnedInputs` those of a fit
in slices of a classifier score. `hh4b limits` builds FitOptions from its command line; a notebook
builds them directly:

    options = FitOptions(AnalysisConfig(lumi_fb=3000.0), background="smoothed")
    inputs = MethodInputs(outputs.load_output("outputs/resonant"), "cut_mindr", options)
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from hh4b.config import DEFAULT, MULTIJET_PROCESSES, AnalysisConfig
from hh4b.constants import FIT_MAX_MC_UNCERTAINTY, FIT_MIN_KISH
from hh4b.errors import ConfigError
from hh4b.stats import binning, kappa as kl, outputs, projections, scores, smoothing
from hh4b.stats.model import Template, build_spec

BACKGROUND_MODELS = ("simulation", "smoothed", "datadriven")
MULTIJET_CHOICES = ("auto", "qcd", "qcd4b")
ENSEMBLE_MODES = ("pca", "envelope")
SCORE_FITS = ("threshold", "bins", "both")
HEFT_METHODS = ("cut_mindr",)  # methods given the HEFT results by default (they cost ~1.5 min each)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FitOptions:
    """How the limits are fitted.

    config: luminosity, energy, kappa_lambda grid, fit bins and projections (hh4b.config);
    background: the multijet model, one of BACKGROUND_MODELS; multijet: the simulated multijet sample;
    ensemble_mode: how a data-driven ensemble becomes nuisances; normsys: NAME:SAMPLE:REL entries;
    staterror: keep the per-bin MC statistical uncertainties; min_background, max_mc_uncertainty:
    the merging of fit bins; min_kish: the Kish count kept above a score threshold; max_bins: fit
    bins before merging (None: the config's for the background model); score_fit, score_bins,
    score_slice_bins: the fits of classifier-score methods; toys, seed: pseudo-experiments of the
    resonant limits (0: asymptotic); progress: progress bars; heft_methods: methods given the HEFT results;
    region, tags: the histogram slice fitted (the analysis fits SR, 4b; a notebook may look elsewhere).
    """

    config: AnalysisConfig = DEFAULT
    background: str = "simulation"
    multijet: str = "auto"
    ensemble_mode: str = "pca"
    normsys: tuple[str, ...] = ()
    staterror: bool = True
    min_background: float = 1.0
    max_mc_uncertainty: float = FIT_MAX_MC_UNCERTAINTY
    min_kish: float = FIT_MIN_KISH
    max_bins: int | None = None
    score_fit: str = "both"
    score_bins: int = 3
    score_slice_bins: int = 2
    toys: int = 0
    seed: int = 0
    progress: bool = True
    heft_methods: tuple[str, ...] = HEFT_METHODS
    region: str = "SR"
    tags: str = "4b"

    def __post_init__(self):
        for name, choices in (("background", BACKGROUND_MODELS), ("multijet", MULTIJET_CHOICES),
                              ("ensemble_mode", ENSEMBLE_MODES), ("score_fit", SCORE_FITS)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"{name} {getattr(self, name)!r}: choose from {', '.join(choices)}")
        if not 0.0 < self.max_mc_uncertainty:
            raise ConfigError(f"--max-mc-uncertainty {self.max_mc_uncertainty:g}: must be positive")
        if self.min_kish < 0.0:
            raise ConfigError(f"--min-kish {self.min_kish:g}: must not be negative")
        if self.score_slice_bins < 1:
            raise ConfigError(f"--score-slice-bins {self.score_slice_bins}: need at least one m_hh bin per slice")
        parse_normsys(self.normsys)

    @property
    def fit_bins(self) -> int:
        """m_hh fit bins before merging: max_bins, else the config's for the background model."""
        if self.max_bins is not None:
            return self.max_bins
        return self.config.smooth_fit_bins if self.background == "smoothed" else self.config.fit_max_bins




def parse_normsys(items) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    for item in items:
        parts = item.split(":")
        try:
            name, sample, rel = parts[0], parts[1], float(parts[2])
        except (IndexError, ValueError) as err:
            raise ConfigError(f"--normsys {item!r}: expected NAME:SAMPLE:REL, e.g. qcd_xsec:qcd:0.1") from err
        result.setdefault(sample, {})[name] = rel
    return result


def branching_ratio(out: outputs.ProcessorOutput, dataset: str) -> float:
    """The branching ratio included in a signal dataset's xsec_pb (metadata br_forced: a number, or
    a dict/list of factors); ConfigError naming the dataset when it is missing or not in (0, 1]."""
    br = out.metadata[dataset].get("br_forced")
    if br is None:
        raise ConfigError(f"signal dataset {dataset!r} in {out.path} has no metadata 'br_forced': give the branching "
                          f"ratio its xsec_pb includes (1 if xsec_pb is the full cross section)")
    try:
        value = float(np.prod(list(br.values()) if isinstance(br, dict) else br))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"signal dataset {dataset!r}: metadata br_forced {br!r} is not a number") from err
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"signal dataset {dataset!r}: metadata br_forced {value:g} is not in (0, 1]")
    return value


class MethodInputs:
    """Binned, luminosity-scaled templates of one method, on bins with background everywhere."""

    def __init__(self, out: outputs.ProcessorOutput, method: str, options):
        self.out, self.method, self.options = out, method, options
        self._slice = {"region": options.region, "tags": options.tags}
        self.scale = projections.lumi_factor(options.config.lumi_fb, out.lumi_fb)
        self.ensembles, self.variations, self.smooth_fits = {}, {}, {}
        if options.background == "datadriven":
            edges, backgrounds = self._datadriven()
        else:
            edges, backgrounds = outputs.simulated_backgrounds(out, method, options.multijet, **self._slice)
        if options.background == "smoothed":
            backgrounds = self._smoothed(edges, backgrounds)
        self.native_edges = edges
        coarse = outputs.geometric_edges(edges, options.fit_bins)
        # a smoothed template's uncertainty is correlated across bins: merging does not reduce it
        total = outputs.total(t if not t.shapes else Template(t.yields) for t in backgrounds.values())
        total = outputs.rebin(total, edges, coarse).scaled(self.scale)
        self.edges = binning.mc_merged_edges(coarse, total.yields, total.variances, options.max_mc_uncertainty,
                                             options.min_background, label=f"method {method}")
        self.backgrounds = {n: self.rebin(t).scaled(self.scale) for n, t in backgrounds.items()}
        self.ensembles = {n: self._rebin_rows(e) * self.scale for n, e in self.ensembles.items()}
        self.variations = {n: {k: self.rebin(Template(v)).yields * self.scale for k, v in d.items()}
                           for n, d in self.variations.items()}
        self.observed = self._observed()

    def _datadriven(self):
        edges, nominal, ensemble, others, replaced = outputs.datadriven_background(self.out, self.method)
        _, sim = outputs.simulated_backgrounds(self.out, self.method, self.options.multijet, **self._slice)
        backgrounds = {n: t for n, t in sim.items() if n not in replaced and n not in MULTIJET_PROCESSES}
        backgrounds["multijet"] = nominal
        if ensemble is not None:
            self.ensembles["multijet"] = ensemble
        if others:
            self.variations["multijet"] = others
        return edges, backgrounds

    def _smoothed(self, edges, backgrounds: dict[str, Template]) -> dict[str, Template]:
        """The multijet templates replaced by their smooth fits (hh4b.stats.smoothing); a sample too
        scarce to fit keeps its binned template, with a warning."""
        result = dict(backgrounds)
        for name in MULTIJET_PROCESSES:
            if name not in result or not result[name].yields.sum() > 0:
                continue
            try:
                result[name], fit = smoothing.smoothed_template(edges, result[name], name,
                                                                label=f"method {self.method}, {name}")
            except ConfigError as err:
                log.warning("%s; keeping its binned template", err)
                continue
            self.smooth_fits[name] = fit
        return result

    def smooth_rows(self) -> list[dict]:
        """One row per smoothed background: the fitted degree and the goodness of fit."""
        return [{"method": self.method, "background": name, **fit.as_dict()} for name, fit in self.smooth_fits.items()]

    def rebin(self, template: Template) -> Template:
        return outputs.rebin(template, self.native_edges, self.edges)

    def signal(self, datasets) -> Template:
        """The summed SR template of `datasets` on the fit bins, at --lumi."""
        return self.rebin(outputs.template(self.out, datasets, self.method, **self._slice)[1]).scaled(self.scale)

    def kappa_terms(self, datasets) -> kl.KappaTerms:
        """The non-resonant (a, b, c) terms of `datasets` on the fit bins, at --lumi."""
        edges, terms = outputs.kappa_terms(self.out, datasets, self.method, **self._slice)
        idx = np.searchsorted(edges, self.edges[:-1])
        return kl.KappaTerms(*(np.add.reduceat(np.asarray(x, float), idx) * self.scale
                               for x in (terms.a, terms.b, terms.c)))

    def _rebin_rows(self, rows):
        idx = np.searchsorted(self.native_edges, self.edges[:-1])
        return np.add.reduceat(np.asarray(rows, float), idx, axis=1)

    def _observed(self):
        data = self.out.datasets("data")
        if not data:
            return None
        if not (np.isclose(self.scale, 1.0) and np.isclose(self.options.config.sqrt_s, self.out.sqrt_s)):
            return None  # observed data exist only at the output's own luminosity and energy
        return self.rebin(outputs.template(self.out, data, self.method, **self._slice)[1]).yields

    def bin_rows(self) -> list[dict]:
        """The fit bins with their total background at --lumi, MC relative uncertainty and Kish count."""
        total = outputs.total(self.backgrounds.values())
        return binning.bin_rows(self.edges, total.yields, total.variances)

    def spec(self, signals: dict, scale: float = 1.0, staterror: bool | None = None, **kwargs) -> dict:
        """Workspace with luminosity `scale` relative to --lumi (projections); staterror None: as
        --no-staterror says."""
        normsys = parse_normsys(self.options.normsys)
        bkgs = {n: t.scaled(scale) for n, t in self.backgrounds.items()}
        return build_spec(self.edges, signals, bkgs, normsys=normsys or None,
                          ensembles={n: e * scale for n, e in self.ensembles.items()} or None,
                          variations={n: {k: v * scale for k, v in d.items()} for n, d in self.variations.items()}
                          or None, ensemble_mode=self.options.ensemble_mode,
                          staterror=self.options.staterror if staterror is None else staterror,
                          label=f"method {self.method}", **kwargs)

    def kappa_spec(self, terms: kl.KappaTerms, scale: float = 1.0, staterror: bool | None = None,
                   **kwargs) -> dict:
        """The kappa_lambda-as-POI workspace (hh4b.stats.kappa.kappa_spec) at luminosity `scale`."""
        bkgs = {n: t.scaled(scale) for n, t in self.backgrounds.items()}
        return kl.kappa_spec(self.edges, terms.scaled(scale), bkgs, normsys=parse_normsys(self.options.normsys) or None,
                             staterror=self.options.staterror if staterror is None else staterror,
                             label=f"method {self.method}", **kwargs)


class ScoreBinnedInputs(MethodInputs):
    """The fit in bins of the classifier score: one MethodInputs per score slice [lo, hi) of `score_edges`
    (each on its own merged m_hh bins: --max-bins in the top slice, as in the threshold fit,
    --score-slice-bins below it), concatenated into the bins of one channel."""

    def __init__(self, out: outputs.ProcessorOutput, method: str, options, score_edges):
        self.out, self.options, self.score_edges = out, options, np.asarray(score_edges, float)
        self.method = f"{method}{scores.SCORE_BINS_SUFFIX}"
        lower = dataclasses.replace(options, max_bins=min(options.score_slice_bins, options.fit_bins))
        self.slices = [MethodInputs(scores.thresholded_output(out, method, lo, hi if hi < 1.0 else np.inf), method,
                                    options if hi >= 1.0 else lower)
                       for lo, hi in zip(self.score_edges[:-1], self.score_edges[1:])]
        self.scale = self.slices[0].scale
        self.edges = np.arange(sum(s.edges.size - 1 for s in self.slices) + 1.0)  # fit-bin index
        self.backgrounds = {n: self._join([s.backgrounds[n] for s in self.slices]) for n in self.slices[0].backgrounds}
        self.ensembles = {n: np.concatenate([s.ensembles[n] for s in self.slices], axis=1)
                          for n in self.slices[0].ensembles}
        self.variations = {n: {k: np.concatenate([s.variations[n][k] for s in self.slices]) for k in d}
                           for n, d in self.slices[0].variations.items()}
        observed = [s.observed for s in self.slices]
        self.observed = None if any(o is None for o in observed) else np.concatenate(observed)

    def bin_rows(self) -> list[dict]:
        rows = []
        for lo, hi, part in zip(self.score_edges[:-1], self.score_edges[1:], self.slices):
            rows += [{**r, "bin": len(rows) + i, "score": f"[{lo:g}, {hi:g})"} for i, r in enumerate(part.bin_rows())]
        return rows

    @staticmethod
    def _join(templates) -> Template:
        """The slices' templates side by side; each slice's shape nuisances (its own smooth fit)
        become nuisances `<name>_slice<k>` that leave the other slices at their nominal."""
        variances = [t.variances for t in templates]
        shapes = []
        for k, t in enumerate(templates):
            for name, lo, hi in t.shapes:
                shapes.append((f"{name}_slice{k}",
                               *(np.concatenate([x if j == k else u.yields for j, u in enumerate(templates)])
                                 for x in (lo, hi))))
        return Template(np.concatenate([t.yields for t in templates]),
                        None if any(v is None for v in variances) else np.concatenate(variances), tuple(shapes))

    def smooth_rows(self) -> list[dict]:
        return [{**r, "method": self.method, "score": f"[{lo:g}, {hi:g})"}
                for lo, hi, part in zip(self.score_edges[:-1], self.score_edges[1:], self.slices)
                for r in part.smooth_rows()]

    def signal(self, datasets) -> Template:
        return self._join([s.signal(datasets) for s in self.slices])

    def kappa_terms(self, datasets) -> kl.KappaTerms:
        parts = [s.kappa_terms(datasets) for s in self.slices]
        return kl.KappaTerms(*(np.concatenate([getattr(p, t) for p in parts]) for t in "abc"))
