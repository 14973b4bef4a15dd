"""What each fit of the limits stage contained, read from its workspace, for the summary.

Every fit (one method, one signal hypothesis) is recorded with the uncertainties its pyhf
workspace holds (staterror, normsys, histosys: read from the spec itself, so the summary cannot
claim what the model lacks), its bins with their background yield, MC relative uncertainty and
Kish count, and the factor by which the MC statistical uncertainties weaken the result (expected
limit, or kappa_lambda interval width, with and without them). A result is "limited by MC
statistics" when that factor exceeds constants.MC_LIMITED_FACTOR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hh4b.constants import MC_LIMITED_FACTOR


def uncertainties(spec: dict) -> str:
    """The systematic and MC-statistical modifiers of a workspace, in words."""
    kinds: dict[str, set] = {"staterror": set(), "normsys": set(), "histosys": set()}
    for channel in spec["channels"]:
        for sample in channel["samples"]:
            for mod in sample["modifiers"]:
                if mod["type"] in kinds:
                    kinds[mod["type"]].add(sample["name"] if mod["type"] == "staterror" else mod["name"])
    parts = []
    if kinds["staterror"]:
        parts.append(f"MC stat. per bin ({', '.join(sorted(kinds['staterror']))})")
    if kinds["normsys"]:
        parts.append(f"normalisation: {', '.join(sorted(kinds['normsys']))}")
    if kinds["histosys"]:
        parts.append(f"shape: {', '.join(sorted(kinds['histosys']))}")
    return "; ".join(parts) or "none (Poisson only)"


def weakening(with_mc: float, without_mc: float) -> float:
    """with / without the MC uncertainties (limits or widths); inf when only the first is open."""
    if not np.isfinite(with_mc):
        return float("inf") if np.isfinite(without_mc) else float("nan")
    return float(with_mc / without_mc) if without_mc > 0 else float("nan")


@dataclass
class FitRecord:
    method: str
    hypothesis: str
    uncertainties: str
    bins: list[dict]
    mc_factor: float | None  # None: fitted without the MC uncertainties

    @property
    def mc_limited(self) -> bool | None:
        if self.mc_factor is None or np.isnan(self.mc_factor):
            return None
        return bool(self.mc_factor > MC_LIMITED_FACTOR)

    def row(self) -> dict:
        rel = [b["mc_rel_uncertainty"] for b in self.bins]
        kish = [b["kish"] for b in self.bins]
        limited = {None: "not determined", True: "yes", False: "no"}[self.mc_limited]
        return {"method": self.method, "hypothesis": self.hypothesis, "uncertainties": self.uncertainties,
                "bins": len(self.bins), "max_mc_rel_uncertainty": max(rel), "min_kish": min(kish),
                "mc_weakening": self.mc_factor, "mc_limited": limited}

    def bin_rows(self) -> list[dict]:
        return [{"method": self.method, "hypothesis": self.hypothesis, **b} for b in self.bins]
