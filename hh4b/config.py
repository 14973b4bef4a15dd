"""One analysis configuration: the run-level choices every stage shares.

An `AnalysisConfig` is built once (from the command line, a JSON file or a notebook) and passed to
the processor (`HH4bProcessor(config=...)`), the data-driven background, the limits
(`hh4b.stats.inputs.FitOptions.config`) and the training export; no stage keeps a default of its
own for these choices. The physics numbers it starts from, with their sources, are in
`hh4b.constants`. The process vocabulary (the `process` names of fileset metadata) is here too.

    from hh4b.config import AnalysisConfig
    config = AnalysisConfig(analysis="resonant", lumi_fb=3000.0)
    config.working_point()              # "70": the analysis's b-tag working point
    config.replace(dhh_centre=(124.0, 117.0))
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from hh4b.constants import (
    ATLAS_HH_CENTRE,
    BTAG_WP_NONRESONANT,
    BTAG_WP_RESONANT,
    DHH_CENTRE,
    FIT_MAX_BINS,
    KAPPA_LAMBDA_RANGE,
    KAPPA_LAMBDA_TRAINING,
    LUMI_DEFAULT_FB,
    LUMI_PROJECTIONS_FB,
    SMOOTH_FIT_BINS,
    SQRT_S_LIMITS,
)
from hh4b.errors import ConfigError

# --- Process vocabulary: the `process` of a dataset's fileset metadata ----------------------
RESONANT, NONRESONANT = "resonant", "nonresonant"
QCD, QCD4B, TTBAR, DATA = "qcd", "qcd4b", "ttbar", "data"
SIGNAL_PROCESSES = (RESONANT, NONRESONANT)
MULTIJET_PROCESSES = (QCD4B, QCD)  # in order of preference when both exist
BACKGROUND_PROCESSES = (QCD, QCD4B, TTBAR)
PROCESSES = (*SIGNAL_PROCESSES, QCD, QCD4B, TTBAR, DATA)
TRUTH_TAGGED_PROCESSES = (QCD4B,)  # the main job's truth-tagged backgrounds (hh4b.analysis.truthtag)

# --- Analyses: each is one signal process at its b-tag working point (paper section II.A) ---
ANALYSES = SIGNAL_PROCESSES
WORKING_POINTS = {RESONANT: BTAG_WP_RESONANT, NONRESONANT: BTAG_WP_NONRESONANT}
CENTRES = {"paper": DHH_CENTRE, "atlas": ATLAS_HH_CENTRE}
MAINJOB_FIT_BINS = 6  # m_hh bins of the main job's binned-template fits (fast enough for every method)
MAINJOB_KAPPA_STEP = 1.0  # kappa_lambda step of the main job's mu-as-POI scan (the profile scan takes half)


@dataclass(frozen=True)
class AnalysisConfig:
    """Run-level choices of one analysis.

    analysis: "resonant", "nonresonant" or None (every dataset at its own working point);
    btag_wp: the b-tag working point, None for the analysis's (else each dataset's metadata);
    dhh_centre: the (m_h1, m_h2) centre of X_hh, D_hh and the mass-plane regions, GeV;
    lumi_fb, sqrt_s: luminosity of the histograms and limits, and the limits' energy (GeV);
    kappa_lambda_range, kappa_lambda_training: the scanned range and the networks' training points;
    kappa_step: step of the mu-as-POI kappa_lambda grid (the profile scan takes half of it);
    fit_max_bins, smooth_fit_bins: m_hh fit bins with binned and with smoothed multijet templates;
    projections_fb: the luminosities of the projection tables.
    """

    analysis: str | None = None
    btag_wp: str | None = None
    dhh_centre: tuple[float, float] = DHH_CENTRE
    lumi_fb: float = LUMI_DEFAULT_FB
    sqrt_s: float = SQRT_S_LIMITS
    kappa_lambda_range: tuple[float, float] = KAPPA_LAMBDA_RANGE
    kappa_lambda_training: tuple[float, ...] = KAPPA_LAMBDA_TRAINING
    kappa_step: float = 0.5
    fit_max_bins: int = FIT_MAX_BINS
    smooth_fit_bins: int = SMOOTH_FIT_BINS
    projections_fb: tuple[float, ...] = LUMI_PROJECTIONS_FB

    def __post_init__(self):
        if self.analysis not in (None, *ANALYSES):
            raise ConfigError(f"analysis {self.analysis!r}: choose from {', '.join(ANALYSES)} (or none)")
        if self.btag_wp is not None:
            object.__setattr__(self, "btag_wp", str(self.btag_wp))
        for name in ("dhh_centre", "kappa_lambda_range", "kappa_lambda_training", "projections_fb"):
            object.__setattr__(self, name, tuple(float(x) for x in getattr(self, name)))
        if len(self.dhh_centre) != 2 or not all(0 < c < math.inf for c in self.dhh_centre):
            raise ConfigError(f"dhh_centre {self.dhh_centre}: give two positive masses in GeV")
        for name in ("lumi_fb", "sqrt_s", "kappa_step"):
            value = getattr(self, name)
            if not 0 < value < math.inf:
                raise ConfigError(f"{name} {value!r}: must be a positive number")
        low, high = self.kappa_lambda_range
        if not low < high:
            raise ConfigError(f"kappa_lambda_range {self.kappa_lambda_range}: the lower end must be below the upper")
        for name in ("fit_max_bins", "smooth_fit_bins"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} {getattr(self, name)!r}: must be >= 1")

    @property
    def fixed_working_point(self) -> str | None:
        """The working point of every dataset (btag_wp, else the analysis's); None: each dataset's own."""
        return self.btag_wp if self.btag_wp is not None else WORKING_POINTS.get(self.analysis)

    def working_point(self, metadata: dict | None = None) -> str:
        """The b-tag working point of a dataset: btag_wp, else the analysis's, else the dataset's
        metadata btag_wp, else that of its process's analysis."""
        metadata = metadata or {}
        if self.fixed_working_point is not None:
            return self.fixed_working_point
        if "btag_wp" in metadata:
            return str(metadata["btag_wp"])
        return WORKING_POINTS[NONRESONANT if metadata.get("process") == NONRESONANT else RESONANT]

    def replace(self, **changes) -> AnalysisConfig:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, values: dict, source: str = "configuration") -> AnalysisConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown analysis option {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return cls(**values)

    @classmethod
    def from_file(cls, path) -> AnalysisConfig:
        """A JSON file of AnalysisConfig fields (any subset; the rest keep their defaults)."""
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path}: cannot read an analysis configuration ({err})") from err
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: an analysis configuration is a JSON object of options")
        return cls.from_dict(values, str(path))


def add_config_argument(parser, used: str) -> None:
    """The commands' `--config FILE` option; `used`: which of the configuration's choices the command uses."""
    parser.add_argument("--config", default=None, metavar="FILE",
                        help=f"analysis configuration: a JSON object of hh4b.config.AnalysisConfig fields ({used}); "
                             f"the command's own options override it (default: none)")


def from_options(path=None, **options) -> AnalysisConfig:
    """The configuration of a command: the --config file's (else the defaults), with the options
    given on the command line (those not None) over it."""
    base = AnalysisConfig.from_file(path) if path else DEFAULT
    given = {k: v for k, v in options.items() if v is not None}
    return base.replace(**given) if given else base


def other_analysis(analysis: str) -> str:
    """The signal process an analysis leaves out."""
    return NONRESONANT if analysis == RESONANT else RESONANT


DEFAULT = AnalysisConfig()  # every choice at its default (frozen, so safe to share)
