"""Validation of the data-driven multijet background: the talk's inverted and shifted regions.

Seed talk `talk_hh4b_background_modelling.txt` ("Invert every cut": 3 b-jets, |deta_hh| > 1.5,
"Shift the center (5x)"; tables of observed vs predicted yields, 1 - pred/obs, and shape chi2
per variable). Each row of `validation_table` compares observed events of some tag count with
reweighted two-tag events in a region the prediction was not trained on:

- `CR` (closure where the nominal model was trained; the yield closes by construction), `VR`,
  `SR_deta_reversed` (SR mass window with |deta_hh| > 1.5) and `SR` (the signal region itself,
  whose four-tag truth is known on simulation): the nominal model, with its ensemble spread;
- `3b_SR`, `3b_VR`: the same method trained 2b -> 3b in the CR, predicting three-tag events;
- `shift_<direction>`: SR, VR and CR rebuilt around the centre shifted by SHIFTED_CENTRE_OFFSET
  in each diagonal direction (hh4b.constants.SHIFTED_CENTRES), trained in the shifted CR,
  predicting four-tag events in the shifted SR (one training each; no ensemble).

Per row: observed and predicted yields with statistical errors (sum of squared weights),
non-closure 1 - predicted/observed in %, and chi2/ndf of the normalised shapes per variable
in 8 bins of equal observed+predicted population.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hh4b.background.datadriven import predicted_weights, region_mask, shifted_regions, train_model
from hh4b.config import MAINJOB_FIT_BINS
from hh4b.constants import SHIFTED_CENTRE_OFFSET, SHIFTED_CENTRES
from hh4b.errors import ConfigError
from hh4b.stats.outputs import geometric_edges

NOMINAL_REGIONS = ("CR", "VR", "SR_deta_reversed", "SR")
THREE_TAG_REGIONS = ("SR", "VR")
SHAPE_VARIABLES = ("mhh", "h1_pt", "h2_pt", "h1_eta", "h2_eta", "deta_hh", "hh_pt")
SHAPE_BINS = 8
TEMPLATE_STAT_GOAL = 0.05  # at most 5% statistical uncertainty of the template per SR m_hh bin


def shifted_centre(centre, direction: str) -> tuple[float, float]:
    s1, s2 = SHIFTED_CENTRES[direction]
    return centre[0] + s1 * SHIFTED_CENTRE_OFFSET, centre[1] + s2 * SHIFTED_CENTRE_OFFSET


def _shape_chi2(observed, obs_var, predicted, pred_var) -> tuple[float, int]:
    keep = (obs_var + pred_var) > 0
    diff = (observed / observed.sum() - predicted / predicted.sum())[keep]
    var = (obs_var / observed.sum() ** 2 + pred_var / predicted.sum() ** 2)[keep]
    return float(np.sum(diff**2 / var)), int(keep.sum() - 1)


def _shapes(columns: dict, obs_mask, w_obs, pred_mask, w_pred) -> dict:
    out = {}
    for var in SHAPE_VARIABLES:
        if obs_mask.sum() <= SHAPE_BINS:
            break
        edges = np.unique(np.quantile(np.concatenate([columns[var][obs_mask], columns[var][pred_mask]]),
                                      np.linspace(0, 1, SHAPE_BINS + 1)))
        if len(edges) < 3:
            continue
        o, _ = np.histogram(columns[var][obs_mask], edges, weights=w_obs)
        ov, _ = np.histogram(columns[var][obs_mask], edges, weights=w_obs**2)
        p, _ = np.histogram(columns[var][pred_mask], edges, weights=w_pred)
        pv, _ = np.histogram(columns[var][pred_mask], edges, weights=w_pred**2)
        if o.sum() > 0 and p.sum() > 0:
            chi2, ndf = _shape_chi2(o, ov, p, pv)
            out[f"chi2_{var}"] = f"{chi2:.1f}/{ndf}"
    return out


def compare(columns: dict, name: str, in_region, observed_tags: int, model, ensemble=(), note: str = "") -> dict:
    """One table row: observed `observed_tags` events vs reweighted two-tag events of a region."""
    obs_mask, pred_mask = in_region & (columns["tags"] == observed_tags), in_region & (columns["tags"] == 2)
    w_obs = columns["weight"][obs_mask]
    w_pred = predicted_weights(columns, model, pred_mask)
    spread = float(np.std([predicted_weights(columns, m, pred_mask).sum() for m in ensemble])) if ensemble else 0.0
    obs, pred = float(w_obs.sum()), float(w_pred.sum())
    obs_err, pred_stat = float(np.sqrt(np.sum(w_obs**2))), float(np.sqrt(np.sum(w_pred**2)))
    row = {"region": name, "tags": f"{observed_tags}b", "note": note, "observed": obs, "observed_err": obs_err,
           "predicted": pred, "predicted_stat": pred_stat, "predicted_ensemble": spread,
           "n_observed": int(obs_mask.sum()), "n_template": int(pred_mask.sum())}
    if obs > 0 and pred > 0:
        row["non_closure_pct"] = 100.0 * (1.0 - pred / obs)
        rel = np.sqrt((obs_err / obs) ** 2 + (pred_stat**2 + spread**2) / pred**2)
        row["non_closure_err_pct"] = 100.0 * pred / obs * rel
    else:
        row["non_closure_pct"] = row["non_closure_err_pct"] = float("nan")
    row.update(_shapes(columns, obs_mask, w_obs, pred_mask, w_pred))
    return row


def _untrainable(name: str, tags: int, err: ConfigError) -> dict:
    nan = float("nan")
    return {"region": name, "tags": f"{tags}b", "note": f"not trained: {err}", "observed": nan, "observed_err": nan,
            "predicted": nan, "predicted_stat": nan, "predicted_ensemble": nan, "n_observed": 0, "n_template": 0,
            "non_closure_pct": nan, "non_closure_err_pct": nan}


def validation_table(columns: dict, models: dict, config, seed: int, centre, extra: bool = True) -> list[dict]:
    """Rows of the talk's validation table: nominal regions, then (with `extra`) 3-tag and shifted centres."""
    ensemble = [m for k, m in models.items() if k.startswith("ensemble_")]
    rows = [compare(columns, region, region_mask(columns, region), 4, models["nominal"], ensemble,
                    "nominal model" + (" (trained here)" if region == "CR" else ""))
            for region in NOMINAL_REGIONS]
    if not extra:
        return rows
    try:
        model = train_model(columns, "CR", config, seed + 2000, target_tags=3)
        rows += [compare(columns, f"3b_{region}", region_mask(columns, region), 3, model, (), "2b -> 3b in CR")
                 for region in THREE_TAG_REGIONS]
    except ConfigError as err:
        rows += [_untrainable(f"3b_{region}", 3, err) for region in THREE_TAG_REGIONS]
    for i, direction in enumerate(SHIFTED_CENTRES):
        moved = shifted_centre(centre, direction)
        codes = shifted_regions(columns, moved)
        name, note = f"shift_{direction}", f"centre ({moved[0]:g}, {moved[1]:g}) GeV, trained in its CR"
        try:
            model = train_model(columns, "CR", config, seed + 3000 + i, codes=codes)
        except ConfigError as err:
            rows.append(_untrainable(name, 4, err))
            continue
        rows.append(compare(columns, name, region_mask(columns, "SR", codes), 4, model, (), note))
    return rows


def _bkg_slice(h, method: str, variation: str = "nominal", region: str = "SR"):
    sel = h[{"method": method, "region": region, "variation": variation, "tags": "2b"}]
    sel = sel[{"dataset": sum}] if "dataset" in sel.axes.name else sel
    return sel.axes[0].edges, sel.values(), sel.variances()


def check_processor_fill(h, reference, method: str) -> float:
    """Largest relative bin difference, over regions and variations, between the processor's
    `mhh_bkgmodel` and the torch computation on the saved columns."""
    worst = 0.0
    for variation in reference.axes["variation"]:
        for region in reference.axes["region"]:
            _, ref, _ = _bkg_slice(reference, method, variation, region)
            _, got, _ = _bkg_slice(h, method, variation, region)
            scale = np.maximum(np.abs(ref), 1e-12)
            worst = max(worst, float(np.max(np.abs(got - ref) / scale, initial=0.0)))
    return worst


def template_stat(h, method: str) -> dict:
    """Relative statistical uncertainty of the nominal SR template per m_hh bin (filled bins),
    on the histogram's binning and on the limits' geometric MAINJOB_FIT_BINS binning."""
    edges, values, variances = _bkg_slice(h, method)
    out = {}
    for name, new_edges in (("fine", edges), (f"limit_{MAINJOB_FIT_BINS}", geometric_edges(edges, MAINJOB_FIT_BINS))):
        idx = np.searchsorted(edges, new_edges)
        v, var = np.add.reduceat(values, idx[:-1]), np.add.reduceat(variances, idx[:-1])
        filled = v > 0
        out[name] = {"edges": [float(e) for e in new_edges], "yield": v.tolist(),
                     "rel_stat": np.where(filled, np.sqrt(var) / np.where(filled, v, 1.0), np.nan).tolist(),
                     "bins_over_goal": int(np.sum(filled & (np.sqrt(var) > TEMPLATE_STAT_GOAL * v))),
                     "filled_bins": int(filled.sum())}
    coarse = out[f"limit_{MAINJOB_FIT_BINS}"]
    rel = [r for r in coarse["rel_stat"] if np.isfinite(r)]
    out["summary"] = (f"{MAINJOB_FIT_BINS}-bin limit binning: {min(rel):.0%} to {max(rel):.0%} "
                      f"({coarse['bins_over_goal']} of {coarse['filled_bins']} filled bins above "
                      f"{TEMPLATE_STAT_GOAL:.0%}); "
                      f"total SR yield {values.sum():.4g} +- {np.sqrt(variances.sum()):.2g}") if rel else "empty"
    return out


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_report(directory: Path, method: str, rows: list[dict], stat: dict, deviation: float, timings: dict) -> None:
    """validation_<method>.json (rows), template_<method>.json and validation_<method>.md."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"validation_{method}.json").write_text(json.dumps(rows, indent=2) + "\n")
    (directory / f"template_{method}.json").write_text(json.dumps(
        {"stat": stat, "processor_vs_torch_max_rel_diff": deviation, "timings_s": timings}, indent=2) + "\n")
    keys = list(dict.fromkeys(k for r in rows for k in r if k not in ("n_observed", "n_template", "note")))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_cell(r.get(k, "")) for k in keys) + " |" for r in rows]
    notes = [f"- {r['region']}: {r['note']} ({r['n_observed']} observed, {r['n_template']} two-tag events)"
             for r in rows]
    fine = stat["fine"]
    bins = [f"| {lo:g}-{hi:g} | {y:.4g} | {r:.1%} |" for lo, hi, y, r in
            zip(fine["edges"][:-1], fine["edges"][1:], fine["yield"], fine["rel_stat"]) if y > 0]
    (directory / f"validation_{method}.md").write_text(
        f"# Data-driven background validation ({method})\n\nObserved vs reweighted two-tag yields "
        "(predicted_ensemble = spread of the bootstrap retrainings; non_closure_pct = 100 (1 - predicted / "
        "observed); chi2_<var> = shape chi2/ndf of the normalised distributions).\n\n" + "\n".join(lines)
        + "\n\n" + "\n".join(notes) + f"\n\n## SR template statistical uncertainty\n\n{stat['summary']}. "
        f"Goal: at most {TEMPLATE_STAT_GOAL:.0%} per bin.\n\n"
        "| m_hh bin [GeV] | yield | stat |\n|---|---|---|\n"
        + "\n".join(bins) + f"\n\nProcessor fill vs torch on the saved columns: largest relative bin "
        f"difference {deviation:.1e}.\n")
