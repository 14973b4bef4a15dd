"""`hh4b export-onnx CHECKPOINT --output models/NAME.onnx`: SPA-NET to ONNX with a JSON card.

The graph has dynamic batch AND jet axes (4 to 16 jets; decoding builds its index table from
the runtime jet count) and contains the input normalisation and the exact decoding, so
inference needs only the .onnx file and its card. Inputs:
    jets     float32 (batch, jets, 5): raw pt [GeV], eta, phi, mass [GeV], btag (0/1), pT-ordered
    mask     bool    (batch, jets): real jets (True) vs padding
    globals  float32 (batch, G): kappa_lambda for the non-resonant model (absent when G = 0)
Outputs:
    pair_log_prob       (batch, 2, jets, jets): log P per ordered jet pair of each Higgs branch;
                        symmetric, so P(unordered {i, j}) = 2 exp(pair_log_prob[i, j])
    assignment          int64 (batch, 2, 2): decoded jet indices of the two Higgs candidates
    signal_probability  (batch,), embedding (batch, hidden)
The card (`NAME.json` beside the model, hh4b.nn.card) records all of this plus the analysis
(--analysis, else the one in a `model_filename` output name), preset, training data, metrics and
the command; export fails if onnxruntime and torch disagree beyond 1e-5.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from hh4b.config import ANALYSES
from hh4b.errors import ConfigError
from hh4b.nn import card as card_module
from hh4b.nn.spanet import Spanet, load_checkpoint
from hh4b.nn.topology import JET_FEATURES

log = logging.getLogger(__name__)

OPSET = 17
JET_RANGE = (4, 16)
OUTPUTS = ("pair_log_prob", "assignment", "signal_probability", "embedding")
TOLERANCE = 1e-5


class _NoGlobals(torch.nn.Module):
    """Graph signature without the globals input for models trained without global inputs."""

    def __init__(self, model: Spanet):
        super().__init__()
        self.model = model

    def forward(self, jets, mask):
        return self.model(jets, mask)


def input_names(model: Spanet) -> list[str]:
    return ["jets", "mask"] + (["globals"] if model.config.n_globals else [])


def example_inputs(model: Spanet, n_batch: int, n_jets: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random but physical-looking inputs (pT-ordered, at least four real jets) for checks."""
    rng = np.random.default_rng(seed)
    pt = -np.sort(-rng.exponential(60.0, (n_batch, n_jets)) - 20.0, axis=1)
    jets = np.stack([pt, rng.uniform(-2.5, 2.5, pt.shape), rng.uniform(-np.pi, np.pi, pt.shape),
                     rng.uniform(2.0, 30.0, pt.shape), rng.random(pt.shape) < 0.5], -1).astype(np.float32)
    mask = np.arange(n_jets)[None, :] < rng.integers(4, n_jets + 1, (n_batch, 1))
    feeds = {"jets": jets * mask[..., None], "mask": mask}
    if model.config.n_globals:
        feeds["globals"] = rng.choice([-5.0, 1.0, 5.0, 12.0], (n_batch, model.config.n_globals)).astype(np.float32)
    return feeds


def export_graph(model: Spanet, path, opset: int = OPSET) -> None:
    """torch.onnx.export (TorchScript exporter) with dynamic batch and jet axes."""
    if opset < 17:
        raise ConfigError(f"--opset {opset}: SPA-NET export needs opset >= 17")
    model.eval()
    # the exporter restores this mode recursively
    module = model if model.config.n_globals else _NoGlobals(model).train(model.training)
    names = input_names(model)
    feeds = example_inputs(model, 2, 6)
    axes = {"jets": {0: "batch", 1: "jets"}, "mask": {0: "batch", 1: "jets"}, "globals": {0: "batch"},
            "pair_log_prob": {0: "batch", 2: "jets", 3: "jets"}, "assignment": {0: "batch"},
            "signal_probability": {0: "batch"}, "embedding": {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        torch.onnx.export(module, tuple(torch.as_tensor(feeds[n]) for n in names), str(path),
                          input_names=names, output_names=list(OUTPUTS), opset_version=opset,
                          dynamic_axes={k: v for k, v in axes.items() if k in names or k in OUTPUTS},
                          dynamo=False)


def max_difference(model: Spanet, path, n_batch: int, n_jets: int, seed: int = 0) -> dict[str, float]:
    """Largest |onnxruntime - torch| per output on random inputs (decoded indices: count differing)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = example_inputs(model, n_batch, n_jets, seed)
    onnx_out = session.run(list(OUTPUTS), feeds)
    with torch.no_grad():
        torch_out = model(*(torch.as_tensor(feeds[n]) for n in input_names(model)))
    diffs = {}
    for name, a, b in zip(OUTPUTS, onnx_out, torch_out):
        b = b.numpy()
        if name == "assignment":
            diffs[name] = float(np.sum(a != b))
        else:
            finite = b > -1e8  # masked pair entries are -1e9 in both, compared relatively
            diffs[name] = float(np.max(np.abs(a[finite] - b[finite]), initial=0.0))
            diffs[name + "_masked_rel"] = float(np.max(np.abs(a[~finite] / b[~finite] - 1), initial=0.0))
    return diffs


def write_card(model: Spanet, path, extra: dict) -> dict:
    """The JSON card beside the model: inputs, outputs, shapes, feature order, config and `extra`."""
    config = model.config
    card = {
        "model": "spanet",
        "inputs": {"jets": list(JET_FEATURES), "mask": ["real_jet"],
                   **({"globals": ["kappa_lambda"]} if config.n_globals else {})},
        "input_shapes": {"jets": ["batch", "jets", len(JET_FEATURES)], "mask": ["batch", "jets"],
                         **({"globals": ["batch", config.n_globals]} if config.n_globals else {})},
        "input_dtypes": {"jets": "float32", "mask": "bool", **({"globals": "float32"} if config.n_globals else {})},
        "units": {"pt": "GeV", "mass": "GeV", "btag": "0 or 1"},
        "jet_range": list(JET_RANGE),
        "outputs": list(OUTPUTS),
        "output_shapes": {"pair_log_prob": ["batch", 2, "jets", "jets"], "assignment": ["batch", 2, 2],
                          "signal_probability": ["batch"], "embedding": ["batch", config.hidden]},
        "notes": "pair_log_prob is symmetric; P(unordered pair) = 2 exp(value); masked entries are -1e9. "
                 "assignment: [[a, b], [c, d]] jet indices, a < b, c < d, jointly best disjoint pairs.",
        "n_globals": config.n_globals,
        "config": config.to_dict(),
        "opset": OPSET,
        **extra,
    }
    return card_module.write_card(path, card, default=str)


def export_spanet(model: Spanet, path, extra: dict | None = None, opset: int = OPSET) -> dict:
    """Export, verify against torch for 4, 10 and 16 jets, and write the card; returns the card."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    export_graph(model, path, opset)
    checks = {n: max_difference(model, path, 64, n, seed=n) for n in (JET_RANGE[0], 10, JET_RANGE[1])}
    worst = max(v for c in checks.values() for k, v in c.items() if k != "assignment")
    if worst > TOLERANCE or any(c["assignment"] for c in checks.values()):
        raise ConfigError(f"{path}: onnxruntime and torch disagree after export: {checks}")
    return write_card(model, path, {"verification": checks, **(extra or {})})


def add_arguments(parser) -> None:
    parser.add_argument("checkpoint", help="SPA-NET checkpoint (.pt) from `hh4b train spanet`")
    parser.add_argument("--output", required=True,
                        help="where to write the model, e.g. "
                             f"models/{card_module.model_filename('spanet', 'resonant')}")
    parser.add_argument("--analysis", choices=ANALYSES, default=None,
                        help="the analysis the model serves, recorded in the card (default: the one in the "
                             "--output name, if any)")
    parser.add_argument("--opset", type=int, default=OPSET, help="ONNX opset, at least 17 (default: %(default)s)")
    parser.add_argument("--metrics", nargs="*", default=[],
                        help="metrics JSON files of `hh4b evaluate spanet` to record in the card")


def main(args) -> int:
    model, checkpoint = load_checkpoint(args.checkpoint)
    extra = {"checkpoint": str(args.checkpoint), "preset": checkpoint.get("preset"),
             "training_data": checkpoint.get("data"), "seed": checkpoint.get("seed"),
             "training_command": checkpoint.get("command"), "epoch": checkpoint.get("epoch"),
             "metrics": _summary_metrics(checkpoint.get("metrics") or {}),
             **{k: checkpoint[k] for k in ("augment", "kfold") if k in checkpoint},
             "command": "hh4b " + " ".join(sys.argv[1:])}
    extra["evaluations"] = [_read_metrics(path) for path in args.metrics]
    analysis = args.analysis or (card_module.parse_model_filename(args.output) or (None, None))[1]
    if analysis in ANALYSES:
        extra["analysis"] = analysis
    export_spanet(model, args.output, extra, args.opset)
    log.info("wrote %s and %s", args.output, card_module.card_path(args.output))
    return 0


def _read_metrics(path) -> dict:
    from hh4b.errors import InputFileError

    try:
        metrics = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputFileError(f"{path}: cannot read metrics JSON ({err})") from err
    return {"file": str(path), **metrics}


def _summary_metrics(metrics: dict) -> dict:
    """The headline validation numbers of a checkpoint for the card."""
    if not metrics:
        return {}
    total = metrics["assignment"]["by_n_jets"]["total"]
    return {"valid_event_efficiency": total["event_efficiency"], "valid_higgs_efficiency": total["higgs_efficiency"],
            "valid_pairing": metrics["pairing"], "valid_classification": metrics["classification"],
            "valid_assignment_tables": metrics["assignment"]}
