"""pyhf HistFactory workspaces for the binned signal-region m_hh distribution.

One channel (`SR`) with
- signal sample(s), each scaled by a free normalisation factor (mu for the resonant and the
  mu-as-POI non-resonant fits; three factors 1, k, k^2 for kappa_lambda as POI, see kappa.py);
- one sample per background process;
- `staterror`: the MC statistical uncertainty of every bin from the sum of squared weights
  (hist's Weight-storage variances), one Barlow-Beeston-lite parameter per bin, Gaussian
  constrained and bounded to the range a Poisson mean can have at STATERROR_BOUND_SIGMAS given
  the bin's Kish-effective MC count N = 1 / (relative uncertainty)^2. Without the bounds a bin
  with little MC lets the fit explain any signal by a background far below what its MC sample
  allows, at a finite penalty, and the upper expected bands never cross 5% CLs;
- or, for a template with `shapes` (a smoothed background), its MC statistical uncertainty as
  correlated `histosys` nuisances instead of staterror;
- optional `normsys` normalisation uncertainties per sample (relative size, symmetric);
- optional `histosys` shape nuisances of a background from an ensemble of templates (the
  bootstrap retrainings of the data-driven background) and from one-sided variations
  (e.g. the control-region choice), see `ensemble_histosys` and `variation_histosys`.

The spec is validated against pyhf's JSON schema (`pyhf.Workspace`) before it is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2, norm

from hh4b.errors import ConfigError

CHANNEL = "SR"
MU_BOUNDS = (0.0, 100.0)
ENSEMBLE_VARIANCE_FRACTION = 0.95  # principal components kept: this much of the ensemble variance
ENSEMBLE_MAX_COMPONENTS = 5
STATERROR_BOUND_SIGMAS = 5.0  # staterror parameters within the 5 sigma Poisson range of the bin's MC


@dataclass(frozen=True)
class Template:
    """A binned yield with its per-bin MC variance (sum of squared weights); None: no MC error.

    shapes: (name, lo, hi) templates that carry the MC statistical uncertainty instead of the
    per-bin staterror, correlated across bins (a smoothed template's fit uncertainty,
    hh4b.stats.smoothing); the variances are then only reported.
    """

    yields: np.ndarray
    variances: np.ndarray | None = None
    shapes: tuple = ()

    def scaled(self, factor: float) -> Template:
        """Yields and shapes times `factor`; variances times factor^2 (the MC sample itself is unchanged)."""
        variances = None if self.variances is None else np.asarray(self.variances) * factor**2
        shapes = tuple((n, np.asarray(lo) * factor, np.asarray(hi) * factor) for n, lo, hi in self.shapes)
        return Template(np.asarray(self.yields) * factor, variances, shapes)


def staterror_bounds(nominal, sigma, n_sigmas: float = STATERROR_BOUND_SIGMAS) -> list[list[float]]:
    """Per-bin [low, high] of the staterror parameters: the central `n_sigmas` (one-sided p-value)
    confidence interval of a Poisson mean given N = (nominal / sigma)^2 effective MC events,
    divided by N; bins without MC uncertainty get pyhf's default [1e-10, 10]."""
    nominal, sigma = np.asarray(nominal, dtype=float), np.asarray(sigma, dtype=float)
    p = norm.sf(n_sigmas)
    bounds = []
    for y, e in zip(nominal, sigma):
        if not (y > 0 and e > 0):
            bounds.append([1e-10, 10.0])
            continue
        n = (y / e) ** 2
        bounds.append([max(float(chi2.ppf(p, 2 * n) / 2 / n), 1e-10), float(chi2.isf(p, 2 * n + 2) / 2 / n)])
    return bounds


def _as_list(values) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float)]


def check_background(edges, backgrounds: dict[str, Template], label: str = "") -> None:
    """Raise ConfigError naming the first signal-region bin whose total background is not positive."""
    total = np.sum([np.asarray(t.yields, dtype=float) for t in backgrounds.values()], axis=0)
    bad = np.flatnonzero(~(total > 0))
    if bad.size:
        i = int(bad[0])
        where = f" ({label})" if label else ""
        raise ConfigError(f"signal-region bin {i} (m_hh in [{edges[i]:g}, {edges[i + 1]:g}) GeV){where} has zero "
                          f"background ({total[i]:g} events); merge bins (limits --min-background, "
                          f"--max-mc-uncertainty) or add MC")


def ensemble_histosys(nominal, replicas, mode: str = "pca",
                      variance_fraction: float = ENSEMBLE_VARIANCE_FRACTION,
                      max_components: int = ENSEMBLE_MAX_COMPONENTS) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shape nuisances (lo, hi) from an ensemble of background templates, shape (n_replicas, n_bins).

    mode "pca": eigen-decomposition of the replicas' bin-to-bin covariance; each kept component
    (largest first, until `variance_fraction` of the total variance, at most `max_components`)
    becomes one independent nuisance nominal +- sqrt(lambda) v, so the correlated spread of the
    ensemble is reproduced by a few parameters. mode "envelope": one nuisance nominal +- the
    per-bin standard deviation (fully correlated across bins). Down variations are clipped at 0.
    """
    nominal = np.asarray(nominal, dtype=float)
    replicas = np.asarray(replicas, dtype=float)
    if replicas.ndim != 2 or replicas.shape[1] != nominal.size or replicas.shape[0] < 2:
        raise ConfigError(f"background ensemble must have shape (n_replicas >= 2, {nominal.size}), "
                          f"got {replicas.shape}")
    if mode == "envelope":
        shifts = [replicas.std(axis=0, ddof=1)]
    elif mode == "pca":
        eigval, eigvec = np.linalg.eigh(np.cov(replicas, rowvar=False, ddof=1).reshape(nominal.size, nominal.size))
        order = np.argsort(eigval)[::-1]
        eigval, eigvec = np.clip(eigval[order], 0.0, None), eigvec[:, order]
        if eigval.sum() <= 0:
            return []
        n_keep = int(np.searchsorted(np.cumsum(eigval) / eigval.sum(), variance_fraction) + 1)
        n_keep = min(n_keep, max_components, int(np.sum(eigval > 0)))
        shifts = [np.sqrt(eigval[k]) * eigvec[:, k] for k in range(n_keep)]
    else:
        raise ConfigError(f"unknown ensemble mode {mode!r}: use 'pca' or 'envelope'")
    return [(np.clip(nominal - d, 0.0, None), nominal + d) for d in shifts]


def variation_histosys(nominal, varied) -> tuple[np.ndarray, np.ndarray]:
    """Symmetrised shape nuisance from a one-sided variation: hi = varied, lo = 2 nominal - varied."""
    nominal, varied = np.asarray(nominal, dtype=float), np.asarray(varied, dtype=float)
    return np.clip(2 * nominal - varied, 0.0, None), varied


def _modifiers(name, template, normfactor, staterror, normsys, histosys) -> list[dict]:
    mods = [{"name": factor, "type": "normfactor", "data": None}
            for factor in ((normfactor,) if isinstance(normfactor, str) else normfactor or ())]
    if staterror and template.shapes:
        histosys = {**{n: (lo, hi) for n, lo, hi in template.shapes}, **(histosys or {})}
    elif staterror and template.variances is not None:
        mods.append({"name": f"staterror_{CHANNEL}", "type": "staterror",
                     "data": _as_list(np.sqrt(np.clip(template.variances, 0.0, None)))})
    for nuisance, rel in (normsys or {}).items():
        mods.append({"name": nuisance, "type": "normsys", "data": {"hi": 1.0 + rel, "lo": 1.0 - rel}})
    for nuisance, (lo, hi) in (histosys or {}).items():
        mods.append({"name": nuisance, "type": "histosys", "data": {"lo_data": _as_list(lo), "hi_data": _as_list(hi)}})
    return mods


def build_spec(edges, signals: dict[str, tuple[Template, str]], backgrounds: dict[str, Template], *,
               observed=None, normsys: dict[str, dict[str, float]] | None = None,
               ensembles: dict[str, np.ndarray] | None = None,
               variations: dict[str, dict[str, np.ndarray]] | None = None,
               ensemble_mode: str = "pca", staterror: bool = True, signal_staterror: bool = True,
               parameters: list[dict] | None = None, poi: str = "mu", label: str = "") -> dict:
    """A validated pyhf workspace spec (dict) for one signal-region m_hh channel.

    signals: sample name -> (template, normfactor name or a tuple of names); backgrounds: name -> template;
    observed: per-bin data counts (default: the background-only expectation, i.e. an Asimov set);
    normsys: sample -> {nuisance: relative uncertainty}; ensembles: background -> (n_replicas, n_bins)
    templates turned into shape nuisances `<bkg>_ensemble_<k>`; variations: background ->
    {nuisance: one-sided varied template}; parameters: extra measurement parameter settings.
    """
    edges = np.asarray(edges, dtype=float)
    n_bins = edges.size - 1
    for name, t in [*((n, t) for n, (t, _) in signals.items()), *backgrounds.items()]:
        if np.asarray(t.yields).shape != (n_bins,):
            raise ConfigError(f"sample {name!r} has {np.asarray(t.yields).shape} bins, expected ({n_bins},)")
    check_background(edges, backgrounds, label)
    normsys = normsys or {}
    samples = [{"name": name, "data": _as_list(t.yields),
                "modifiers": _modifiers(name, t, factor, staterror and signal_staterror, normsys.get(name), None)}
               for name, (t, factor) in signals.items()]
    for name, t in backgrounds.items():
        shapes = {}
        for k, lo_hi in enumerate(ensemble_histosys(t.yields, ensembles[name], ensemble_mode)
                                  if ensembles and name in ensembles else []):
            shapes[f"{name}_ensemble_{k}"] = lo_hi
        for nuisance, varied in ((variations or {}).get(name) or {}).items():
            shapes[nuisance] = variation_histosys(t.yields, varied)
        samples.append({"name": name, "data": _as_list(t.yields),
                        "modifiers": _modifiers(name, t, None, staterror, normsys.get(name), shapes)})
    unknown = set(normsys) - set(signals) - set(backgrounds)
    if unknown:
        raise ConfigError(f"normsys given for unknown sample(s) {sorted(unknown)}")
    if observed is None:
        observed = np.sum([t.yields for t in backgrounds.values()], axis=0)
    if parameters is None:
        parameters = [{"name": poi, "bounds": [list(MU_BOUNDS)]}]
    stat = [(np.asarray(smp["data"]), np.asarray(m["data"])) for smp in samples for m in smp["modifiers"]
            if m["type"] == "staterror"]
    if stat and not any(p["name"] == f"staterror_{CHANNEL}" for p in parameters):
        nominal = np.sum([y for y, _ in stat], axis=0)
        sigma = np.sqrt(np.sum([e * e for _, e in stat], axis=0))
        parameters = [*parameters, {"name": f"staterror_{CHANNEL}", "bounds": staterror_bounds(nominal, sigma)}]
    spec = {"channels": [{"name": CHANNEL, "samples": samples}],
            "observations": [{"name": CHANNEL, "data": _as_list(observed)}],
            "measurements": [{"name": "hh4b", "config": {"poi": poi, "parameters": parameters}}],
            "version": "1.0.0"}
    import pyhf

    pyhf.Workspace(spec)  # validates against pyhf's workspace schema
    return spec


def set_poi_bounds(spec: dict, bounds: tuple[float, float]) -> dict:
    """A copy of `spec` with the POI's bounds replaced (used to bracket a limit)."""
    config = spec["measurements"][0]["config"]
    params = [p for p in config["parameters"] if p["name"] != config["poi"]]
    lo, hi = float(bounds[0]), float(bounds[1])
    init = 1.0 if lo <= 1.0 <= hi else 0.5 * (lo + hi)
    params.append({"name": config["poi"], "bounds": [[lo, hi]], "inits": [init]})
    return {**spec, "measurements": [{"name": spec["measurements"][0]["name"],
                                      "config": {**config, "parameters": params}}]}


def model_and_data(spec: dict):
    """(pyhf model, data incl. auxiliary data) of a spec, with staterror/histosys defaults."""
    import pyhf

    workspace = pyhf.Workspace(spec)
    model = workspace.model(modifier_settings={"normsys": {"interpcode": "code4"},
                                               "histosys": {"interpcode": "code4p"}})
    return model, workspace.data(model)
