"""Event weights: normalisation to a luminosity and non-resonant kappa_lambda reweighting.

Normalisation (docs/formats.md section 3): weight = xsec_pb * 1000 * lumi_fb * genWeight / sumw,
so that histograms count events expected at `lumi_fb` (1 pb = 1000 fb). Without xsec_pb or
sumw (real data, foreign files) the weight is genWeight itself.

Non-resonant samples store, per event, the coefficients of |M|^2 = a + b k + c k^2 for their
kinematics. Reweighting the sample generated at k0 to k multiplies the weight by
(a + b k + c k^2) / (a + b k0 + c k0^2); the `term` weights {a, b, c} / (a + b k0 + c k0^2)
let any k be rebuilt later from three histograms. The denominator is the density the events were
sampled from, |M|^2_gen: a + b k0 + c k0^2 for a kappa_lambda sample, sum_k g_k T_k for a sample of
the five-coupling mixture (metadata `heft_generation`, hh4b.analysis.heft_histograms.generation_density);
`density_ratio` and `kl_term_factors` take it per event.

Statistical power of weighted events: `effective_entries` (Kish), (sum w)^2 / sum w^2.
"""

from __future__ import annotations

import numpy as np

from hh4b.config import DATA
from hh4b.constants import NONRESONANT_GENERATION_KL

FB_PER_PB = 1000.0


def effective_entries(weights: np.ndarray) -> float:
    """Kish's effective number of events (sum w)^2 / sum w^2; 0 when every weight is 0 or there are none."""
    weights = np.asarray(weights, dtype=np.float64)
    sumw2 = float(np.sum(weights**2))
    return float(weights.sum() ** 2 / sumw2) if sumw2 > 0 else 0.0


def generation_kappa_lambda(metadata: dict) -> float:
    """The kappa_lambda a non-resonant sample was generated at: `generation_kappa_lambda`, else
    `kappa_lambda`, else the default generation point (hh4b.constants)."""
    return float(metadata.get("generation_kappa_lambda", metadata.get("kappa_lambda", NONRESONANT_GENERATION_KL)))


def normalisation(metadata: dict, lumi_fb: float) -> float:
    """xsec_pb * 1000 * lumi_fb / sumw for a dataset, or 1 when xsec or sumw is missing."""
    xsec, sumw = metadata.get("xsec_pb"), metadata.get("sumw")
    if xsec is None or not sumw:
        return 1.0
    return float(xsec) * FB_PER_PB * float(lumi_fb) / float(sumw)


def event_weight(gen_weight: np.ndarray, metadata: dict, lumi_fb: float) -> np.ndarray:
    """Per-event weight at `lumi_fb`; data (process == 'data') always weighs 1."""
    gen_weight = np.asarray(gen_weight, dtype=np.float64)
    if metadata.get("process") == DATA:
        return np.ones_like(gen_weight)
    return gen_weight * normalisation(metadata, lumi_fb)


def kl_polynomial(a, b, c, kappa_lambda) -> np.ndarray:
    """|M|^2 = a + b k + c k^2 at k = kappa_lambda."""
    return a + b * kappa_lambda + c * kappa_lambda * kappa_lambda


def density_ratio(msq, density) -> np.ndarray:
    """Per-event msq / density: the reweighting factor to a point with |M|^2 = msq of events sampled
    from |M|^2_gen = density; 0 where the density vanishes."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = msq / density
    return np.where(density > 0, ratio, 0.0)


def kl_ratio(a, b, c, kappa_lambda: float, generation_kl: float) -> np.ndarray:
    """Per-event reweighting factor from the generation point k0 to kappa_lambda."""
    return density_ratio(kl_polynomial(a, b, c, kappa_lambda), kl_polynomial(a, b, c, generation_kl))


def kl_term_factors(a, b, c, density) -> dict[str, np.ndarray]:
    """{a, b, c} / density (per event: a + b k0 + c k0^2 for a kappa_lambda sample, the mixture's
    |M|^2_gen for a five-coupling one): multiply the event weight to fill the `term` axis."""
    return {name: density_ratio(coef, density) for name, coef in (("a", a), ("b", b), ("c", c))}
