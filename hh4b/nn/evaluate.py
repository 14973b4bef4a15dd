"""SPA-NET metrics (`hh4b evaluate spanet`): assignment efficiencies, pairing vs min-dR, ACC/AUC.

Definitions (notes sections 2-3 and 16, paper Figs. 3 and 9):
- a truth Higgs is *matched* when both its b jets are among the stored jets (targets >= 0);
  events are 2h (both matched) or 1h (one matched);
- a matched Higgs is *correct* when its unordered jet pair is one of the two decoded pairs
  (the Higgs labels are interchangeable); an event is correct when all its matched Higgs are;
- event efficiency = correct events / events with >= 1 matched Higgs, Higgs efficiency =
  correct Higgs / matched Higgs, split by the number of jets (= 4, = 5, >= 6) and by 2h / 1h;
- pairing efficiency = correct 2h signal events / 2h signal events with four tagged jets, for
  SPA-NET and for min-dR on the same events (min-dR pairs the four highest-pT b-tagged jets
  with pT > 40 GeV, |eta| < 2.5: paper III.A), per resonance mass or kappa_lambda;
- classification ACC (threshold 0.5) and AUC with class-balanced weights.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from hh4b import console
from hh4b.analysis.pairing import all_pairings, choose_mindr, pairing_jet_indices
from hh4b.constants import TAG_JET_ETA_MAX, TAG_JET_PT_MIN
from hh4b.nn.data import SpanetH5
from hh4b.nn.decoding import decode_assignment
from hh4b.nn.losses import total_loss
from hh4b.nn.train_dnn import accuracy_and_auc

log = logging.getLogger(__name__)

JET_CATEGORIES = (("= 4", 4, 4), ("= 5", 5, 5), (">= 6", 6, 10**6))


def mindr_assignment(jets: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """min-dR (N,2,2) jet indices into the stored jets, and (N,) whether 4 tagged jets exist."""
    pt, eta, btag = jets[..., 0], jets[..., 1], jets[..., 4]
    tagged = mask & (btag > 0.5) & (pt > TAG_JET_PT_MIN) & (np.abs(eta) < TAG_JET_ETA_MAX)
    key = np.where(tagged, 1e9 + pt, -1.0)
    first4 = np.sort(np.argsort(-key, axis=1, kind="stable")[:, :4], axis=1)  # pT order = index order
    valid = tagged.sum(axis=1) >= 4
    rows = np.arange(len(jets))[:, None]
    cols = [np.where(valid[:, None], jets[rows, first4, i], 1.0 + np.arange(4)) for i in range(4)]
    choice = choose_mindr(all_pairings(*(c.astype(np.float64) for c in cols)))
    slots = pairing_jet_indices(choice)  # (N, 2, 2) into first4
    return first4[np.arange(len(jets))[:, None, None], slots], valid


def higgs_correct(pred: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,2) correct and (N,2) matched flags of each truth Higgs for (N,2,2) predicted pairs."""
    matched = (targets >= 0).all(axis=-1)
    t, p = np.sort(targets, axis=-1), np.sort(pred, axis=-1)
    same = (t[:, :, None, :] == p[:, None, :, :]).all(axis=-1)  # (N, truth k, predicted m)
    return same.any(axis=-1) & matched, matched


def run_model(model, dataset: SpanetH5, batch_size: int = 4096, config=None, progress: bool = True) -> dict:
    """Stream a data set through the model; numpy predictions, min-dR, truth and (optionally) losses."""
    keys = ("assignment", "signal_probability", "mindr", "mindr_valid", "targets", "signal", "weight",
            "n_jets", "kappa", "mass")
    out = {k: [] for k in keys}
    losses = []
    factors = dataset.class_weight_factors()
    model.eval()
    with torch.no_grad():
        for batch in tqdm(dataset.batches(batch_size, factors=factors), total=-(-len(dataset) // batch_size),
                          desc="evaluate", disable=not progress, leave=False):
            g = batch["globals"] if batch["globals"].shape[1] else None
            raw = model.outputs(batch["jets"], batch["mask"], g)
            if config is not None:
                _, parts = total_loss(raw, batch, config.assignment_scale, config.classification_scale)
                losses.append((len(batch["signal"]), parts))
            jets, mask = batch["jets"].numpy(), batch["mask"].numpy()
            mindr, valid = mindr_assignment(jets, mask)
            values = {"assignment": decode_assignment(raw["pair_log_prob"]).numpy(),
                      "signal_probability": torch.sigmoid(raw["class_logit"]).numpy(), "mindr": mindr,
                      "mindr_valid": valid, "targets": batch["targets"].numpy(), "signal": batch["signal"].numpy(),
                      "weight": batch["weight"].numpy(), "n_jets": mask.sum(axis=1),
                      "kappa": batch["globals"][:, 0].numpy() if batch["globals"].shape[1] else np.zeros(len(mask)),
                      "mass": batch["meta_mass"].numpy() if "meta_mass" in batch else np.full(len(mask), -1.0)}
            for k in keys:
                out[k].append(values[k])
    result = {k: np.concatenate(v) if v else np.zeros(0) for k, v in out.items()}
    if losses:
        n = sum(c for c, _ in losses)
        result["losses"] = {k: sum(c * p[k] for c, p in losses) / n for k in losses[0][1]}
    return result


def _efficiency_row(correct, matched, select) -> dict:
    has = matched.any(axis=1) & select
    return {"events": int(has.sum()),
            "event_efficiency": float((correct == matched).all(axis=1)[has].mean()) if has.any() else float("nan"),
            "higgs_efficiency": float(correct[select].sum() / max(matched[select].sum(), 1))}


def assignment_tables(result: dict) -> dict:
    """Event / Higgs efficiency by number of jets and by matched category."""
    correct, matched = higgs_correct(result["assignment"], result["targets"])
    n_jets, n_matched = result["n_jets"], matched.sum(axis=1)
    total = max(int((n_matched > 0).sum()), 1)
    by_jets = {}
    for name, lo, hi in JET_CATEGORIES:
        row = _efficiency_row(correct, matched, (n_jets >= lo) & (n_jets <= hi))
        by_jets[name] = {"event_fraction": row["events"] / total, **row}
    by_jets["total"] = {"event_fraction": 1.0, **_efficiency_row(correct, matched, np.ones(len(n_jets), bool))}
    by_category = {f"{k}h": _efficiency_row(correct, matched, n_matched == k) for k in (2, 1)}
    return {"by_n_jets": by_jets, "by_category": by_category}


def pairing_vs_parameter(result: dict) -> dict:
    """SPA-NET and min-dR pairing efficiency on the same 2h signal events, per mass or kappa.

    Efficiencies are weighted by the event weights, so for non-resonant signal reweighted from
    its generation point to a drawn kappa_lambda (export_h5) each row follows that kappa's
    kinematics; `events` is the raw count.
    """
    spanet, matched = higgs_correct(result["assignment"], result["targets"])
    mindr, _ = higgs_correct(result["mindr"], result["targets"])
    use = matched.all(axis=1) & result["mindr_valid"] & (result["signal"] > 0)
    weight = np.abs(result["weight"]) if "weight" in result else np.ones(len(use))
    has_mass = (result["mass"] > 0).any()
    name = "mass" if has_mass else "kappa_lambda"
    parameter = result["mass"] if has_mass else result["kappa"]

    def row(sel):
        w = weight[sel]
        total = w.sum()
        if not sel.any() or total <= 0:
            return {"events": int(sel.sum()), "spanet": float("nan"), "mindr": float("nan")}
        return {"events": int(sel.sum()), "spanet": float(np.sum(w * spanet.all(axis=1)[sel]) / total),
                "mindr": float(np.sum(w * mindr.all(axis=1)[sel]) / total)}

    rows = {f"{value:g}": row(use & (parameter == value)) for value in np.unique(parameter[use])}
    rows["all"] = row(use)
    return {"parameter": name, "rows": rows}


def classification_metrics(result: dict) -> dict:
    """ACC and AUC with class-balanced weights; NaN when the sample has one class only."""
    signal = result["signal"] > 0
    if signal.all() or not signal.any():
        return {"accuracy": float("nan"), "auc": float("nan")}
    acc, auc = accuracy_and_auc(result["signal_probability"], signal, result["weight"])
    return {"accuracy": acc, "auc": auc}


def all_metrics(result: dict) -> dict:
    return {"assignment": assignment_tables(result), "pairing": pairing_vs_parameter(result),
            "classification": classification_metrics(result),
            **({"losses": result["losses"]} if "losses" in result else {})}


def format_tables(metrics: dict) -> str:
    """The notes' tables as plain text."""
    lines = ["N_jet   fraction  events  event_eff  higgs_eff"]
    for name, row in metrics["assignment"]["by_n_jets"].items():
        lines.append(f"{name:<7} {row['event_fraction']:8.3f} {row['events']:7d} {row['event_efficiency']:10.3f} "
                     f"{row['higgs_efficiency']:10.3f}")
    lines.append("category events  event_eff  higgs_eff")
    for name, row in metrics["assignment"]["by_category"].items():
        lines.append(f"{name:<8} {row['events']:6d} {row['event_efficiency']:10.3f} {row['higgs_efficiency']:10.3f}")
    pairing = metrics["pairing"]
    lines.append(f"{pairing['parameter']:<12} events  spanet  min-dR")
    for value, row in pairing["rows"].items():
        lines.append(f"{value:<12} {row['events']:6d} {row['spanet']:7.3f} {row['mindr']:7.3f}")
    c = metrics["classification"]
    lines.append(f"classification ACC {c['accuracy']:.3f}  AUC {c['auc']:.3f}")
    return "\n".join(lines)


def add_arguments(parser) -> None:
    parser.add_argument("model", choices=["spanet"], help="which network to evaluate")
    parser.add_argument("checkpoint", help="SPA-NET checkpoint (.pt) written by `hh4b train spanet`")
    parser.add_argument("--data", required=True, help="HDF5 file written by `hh4b export-h5`")
    parser.add_argument("--output", help="write the metrics JSON here (default: beside the checkpoint)")
    parser.add_argument("--batch-size", type=int, default=4096,
                        help="events per inference batch (default: %(default)s)")


def main(args) -> int:
    from hh4b.nn.spanet import load_checkpoint

    model, _ = load_checkpoint(args.checkpoint)
    metrics = all_metrics(run_model(model, SpanetH5(args.data), args.batch_size))
    console.result(format_tables(metrics))
    output = Path(args.output) if args.output else Path(args.checkpoint).with_suffix(".metrics.json")
    record = {"data": str(args.data), "checkpoint": str(args.checkpoint), **metrics}
    output.write_text(json.dumps(record, indent=2) + "\n")
    log.info("wrote %s", output)
    return 0
