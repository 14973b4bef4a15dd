"""`hh4b train {spanet,dnn,deepsets} --data FILE.h5 --preset NAME --output DIR [--epochs N] [--seed S]`.

spanet: hh4b.nn.train_spanet on the HDF5 file (presets: paper Table VIII, plus `tiny`);
writes DIR/best.pt, last.pt, metrics.csv/json and summary.json.
dnn: the dense baseline of hh4b.nn.train_dnn (lead's module) on the same HDF5 file, with the
Table II/IV features computed from the min-dR pairing of the four tagged jets (events without
four tagged jets are skipped), or from a SPA-NET model's pairing (--spanet-model); writes
DIR/dnn_<pairing>_<preset>.onnx with its card (hh4b.nn.card.model_filename: the names `hh4b run --models`
looks for).
deepsets: the Deep Sets classifier of hh4b.nn.deepsets (hh4b.nn.train_deepsets) on the jets of the
same HDF5 file (kappa_lambda too when the file has it); writes DIR/deepsets_<preset>.onnx with its
card and DIR/deepsets_metrics.json (with --kfold: DIR/<network>_metrics.fold<k>.json).
--seeds K: K trainings (seeds S..S+K-1) with ACC/AUC mean and spread (`metrics_over_seeds`,
hh4b.nn.seeds): dnn and deepsets put it in their card; spanet trains into DIR/seed<S>/ and writes
DIR/metrics_over_seeds.json; --update-card also writes the block into an existing card.
--kfold K: K trainings, fold k on the events whose event number modulo K is not k
(hh4b.nn.data.fold_split); dnn and deepsets write the set NAME.fold<k>.onnx (hh4b.nn.card.fold_filename),
spanet trains into DIR/fold<k>/ (export each with `hh4b export-onnx DIR/fold<k>/best.pt --output
models/spanet_<analysis>.fold<k>.onnx`); `hh4b run` scores each event with the model of its fold.
--optuna N (dnn): N trials over learning rate, width and depth (hh4b.nn.train_dnn.optuna_search) on
an inner split of the training events, the validation events kept for the final model's metrics;
the card gets `config` (the values trained) and `hyperparameter_search`.
--no-augment: train without the random phi rotation and eta reflection of the training events
(hh4b.nn.augment; on by default for both networks, recorded as `augment` in the summary or card).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np

from hh4b import console
from hh4b.errors import ConfigError

log = logging.getLogger(__name__)
TUNING_FRACTION = 0.2  # of the training events: the Optuna objective's events (the validation set stays unseen)


def add_arguments(parser) -> None:
    parser.add_argument("model", choices=["spanet", "dnn", "deepsets"], help="which network to train")
    parser.add_argument("--data", required=True, help="HDF5 file from `hh4b export-h5`")
    parser.add_argument("--preset", default="resonant", help="resonant, nonresonant or tiny (default: %(default)s)")
    parser.add_argument("--output", required=True, help="output directory")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs")
    parser.add_argument("--batch-size", type=int, help="override the preset's batch size")
    parser.add_argument("--learning-rate", type=float, help="override the preset's learning rate")
    parser.add_argument("--assignment-scale", type=float, help="SPA-NET assignment loss scale (0: classifier only)")
    parser.add_argument("--classification-scale", type=float, help="SPA-NET classification loss scale")
    parser.add_argument("--valid-fraction", type=float, default=0.05,
                        help="fraction of the events held out for validation (default: %(default)s)")
    parser.add_argument("--patience", type=int, default=5,
                        help="early-stopping patience in epochs (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="training seed: weight initialisation and batch shuffles (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--seeds", type=int, default=1,
                        help="train this many seeds (--seed, --seed+1, ...) on the same data; ACC/AUC mean and std "
                             "go to metrics_over_seeds (dnn: its card, the first seed exported; spanet: "
                             "DIR/seed<S>/ and DIR/metrics_over_seeds.json) (default: 1)")
    parser.add_argument("--update-card", default=None, metavar="CARD",
                        help="with --seeds: also write metrics_over_seeds into this existing card (its .onnx is "
                             "left alone); refused unless --seed reproduces the card's metrics")
    parser.add_argument("--spanet-model", default=None,
                        help="dnn: build the features on this SPA-NET ONNX model's pairing (method dnn_spanet) "
                             "instead of min-dR")
    parser.add_argument("--kfold", type=int, default=None, metavar="K",
                        help="train K models, model k without the events whose event number modulo K is k; "
                             "`hh4b run` then scores each event with the model that did not train on it")
    parser.add_argument("--optuna", type=int, default=0, metavar="N",
                        help="dnn: search learning rate, width and depth with N Optuna trials (the preset first) on "
                             f"the AUC of the last {TUNING_FRACTION * 100:.0f}%% of the training events, then train "
                             "the best on all of them; the search goes into the card (paper: 100 trials)")
    parser.add_argument("--no-augment", action="store_true",
                        help="do not rotate the training events in phi and reflect them in eta (hh4b.nn.augment)")


def _spanet_seeds(args, config, info) -> int:
    """--seeds K for spanet: one training per seed under DIR/seed<S>/, the spread of the validation
    ACC/AUC in DIR/metrics_over_seeds.json (and --update-card)."""
    from hh4b.nn.seeds import metrics_over_seeds, update_card
    from hh4b.nn.train_spanet import train_spanet

    runs = []
    for seed in range(args.seed, args.seed + args.seeds):
        _, summary = train_spanet(args.data, Path(args.output) / f"seed{seed}", config, seed=seed,
                                  valid_fraction=args.valid_fraction, patience=args.patience,
                                  progress=not args.no_progress, info=info, augment=not args.no_augment)
        runs.append({"seed": seed, **summary["metrics"]["classification"]})
        console.result(f"seed {seed}: ACC {runs[-1]['accuracy']:.4f} AUC {runs[-1]['auc']:.4f}")
    spread = metrics_over_seeds(runs, info["command"])
    (Path(args.output) / "metrics_over_seeds.json").write_text(json.dumps(spread, indent=2) + "\n")
    console.result(_spread_line(spread))
    if args.update_card:
        log.info("wrote metrics_over_seeds into %s", update_card(args.update_card, spread, runs[0]))
    return 0


def _spread_line(spread: dict) -> str:
    return (f"over seeds {spread['seeds']}: ACC {spread['accuracy']['mean']:.4f} +- {spread['accuracy']['std']:.4f}, "
            f"AUC {spread['auc']['mean']:.4f} +- {spread['auc']['std']:.4f}")


def _spanet(args) -> int:
    from hh4b.nn.card import fold_filename
    from hh4b.nn.spanet import SPANET_PRESETS
    from hh4b.nn.train_spanet import train_spanet

    if args.preset not in SPANET_PRESETS:
        raise ConfigError(f"--preset {args.preset!r}: choose from {', '.join(SPANET_PRESETS)}")
    config = SPANET_PRESETS[args.preset].with_(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        assignment_scale=args.assignment_scale, classification_scale=args.classification_scale)
    info = {"preset": args.preset, "command": "hh4b " + " ".join(sys.argv[1:])}
    if args.seeds > 1:
        return _spanet_seeds(args, config, info)
    if args.kfold:
        for k in range(args.kfold):
            output = Path(args.output) / f"fold{k}"
            _, summary = train_spanet(args.data, output, config, seed=args.seed, valid_fraction=args.valid_fraction,
                                      patience=args.patience, progress=not args.no_progress, info=info,
                                      augment=not args.no_augment, fold=(k, args.kfold))
            console.result(f"fold {k}/{args.kfold}: AUC {summary['metrics']['classification']['auc']:.3f}; export with "
                           f"`hh4b export-onnx {output / 'best.pt'} --output models/"
                           f"{fold_filename('spanet', args.preset, k)}`")
        return 0
    _, summary = train_spanet(args.data, args.output, config, seed=args.seed, valid_fraction=args.valid_fraction,
                              patience=args.patience, progress=not args.no_progress, info=info,
                              augment=not args.no_augment)
    total = summary["metrics"]["assignment"]["by_n_jets"]["total"]
    pairing = summary["metrics"]["pairing"]["rows"]["all"]
    console.result(f"best epoch {summary['best_epoch'] + 1}: event efficiency {total['event_efficiency']:.3f}, "
                   f"pairing {pairing['spanet']:.3f} (min-dR {pairing['mindr']:.3f}), "
                   f"AUC {summary['metrics']['classification']['auc']:.3f}")
    log.info("wrote %s", Path(args.output) / "best.pt")
    return 0


def spanet_assignment(data: dict, model_path) -> tuple[np.ndarray, np.ndarray]:
    """Decoded jet pairs (n, 2, 2) of a SPA-NET ONNX model and the events with >= 4 jets."""
    from hh4b.analysis.inference import OnnxModel

    model = OnnxModel(model_path, kind="spanet")
    feeds = {"jets": data["jets"].astype(np.float32), "mask": data["mask"].astype(bool)}
    if "globals" in model.input_names:
        feeds["globals"] = data["globals"].astype(np.float32)
    jet_idx = model.run(feeds, ["assignment"])["assignment"].astype(np.int64)
    return jet_idx, data["mask"].sum(axis=1) >= 4


def dnn_features(data: dict, feature_names: tuple[str, ...], spanet_model=None) -> tuple[np.ndarray, np.ndarray]:
    """Table II/IV feature matrix on the min-dR (or SPA-NET) pairing of `SpanetH5.read` arrays, and the
    events used."""
    from hh4b.analysis.features import feature_matrix, higgs_features
    from hh4b.analysis.pairing import higgs_candidates
    from hh4b.nn.evaluate import mindr_assignment

    if spanet_model:
        jet_idx, valid = spanet_assignment(data, spanet_model)
    else:
        jet_idx, valid = mindr_assignment(data["jets"], data["mask"])
    jets = data["jets"][valid].astype(np.float64)
    hh = higgs_candidates(jets[..., 0], jets[..., 1], jets[..., 2], jets[..., 3], jet_idx[valid])
    tags = np.take_along_axis(jets[..., 4], hh["jet_idx"].reshape(len(jets), 4), axis=1)
    event = {name: data[f"meta_{name}"][valid] for name in ("met_pt", "met_phi", "n_electron", "n_muon")
             if f"meta_{name}" in data}
    if data["globals"].shape[1]:
        event["kappa_lambda"] = data["globals"][valid, 0]
    columns = higgs_features(hh["h1"], hh["h2"], (hh["h1"]["dr"], hh["h2"]["dr"]), tuple(tags.T), event)
    return feature_matrix(columns, feature_names), valid


def _splits(args):
    """[(fold or None, training set, validation set)]: one split, or the K folds of --kfold."""
    from hh4b.nn.data import fold_split, split

    if not args.kfold:
        return [(None, *split(args.data, args.valid_fraction))]
    return [(k, *fold_split(args.data, k, args.kfold, args.valid_fraction)) for k in range(args.kfold)]


def _model_path(output: Path, kind: str, preset: str, fold) -> Path:
    from hh4b.nn.card import fold_filename, model_filename

    return output / (model_filename(kind, preset) if fold is None else fold_filename(kind, preset, fold))


def _metrics_name(network: str, fold) -> str:
    return f"{network}_metrics.json" if fold is None else f"{network}_metrics.fold{fold}.json"


def _fold_label(args, fold) -> str:
    return "" if fold is None else f", fold {fold} of {args.kfold}"


def _kfold_field(args, fold) -> dict:
    from hh4b.nn.card import kfold_card

    return {} if fold is None else {"kfold": kfold_card(fold, args.kfold)}


def _dnn(args) -> int:
    from hh4b.analysis.features import FEATURE_SETS
    from hh4b.config import ANALYSES
    from hh4b.nn.dnn import DNN_PRESETS, export_onnx
    from hh4b.nn.seeds import metrics_over_seeds
    from hh4b.nn.train_dnn import train_dnn

    if args.preset not in DNN_PRESETS:
        raise ConfigError(f"--preset {args.preset!r}: choose from {', '.join(DNN_PRESETS)}")
    config = DNN_PRESETS[args.preset]
    changes = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                 ("learning_rate", args.learning_rate)) if v is not None}
    config = type(config)(**{**config.to_dict(), **changes})
    names = FEATURE_SETS["nonresonant" if args.preset == "nonresonant" else "resonant"]
    command = "hh4b " + " ".join(sys.argv[1:])
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    pairing = "spanet" if args.spanet_model else "mindr"
    for fold, *datasets in _splits(args):
        parts = []
        for dataset in datasets:
            data = dataset.read(0, len(dataset))
            try:
                x, valid = dnn_features(data, names, args.spanet_model)
            except KeyError as err:
                raise ConfigError(f"{args.data}: cannot build DNN features for preset {args.preset}: {err}") from err
            parts.append((x, data["signal"][valid].astype(np.int64), data["weight"][valid]))
        search = None
        if args.optuna:
            config, search = _search_dnn(args, parts[0], config, names)
        runs = [train_dnn(parts[0], parts[1], config, seed=args.seed + i, patience=args.patience,
                          progress=not args.no_progress, feature_names=names, augment=not args.no_augment)
                for i in range(args.seeds)]
        model, metrics = runs[0]
        spread = metrics_over_seeds([m for _, m in runs], command) if args.seeds > 1 else None
        path = _model_path(output, f"dnn_{pairing}", args.preset, fold)
        export_onnx(model, names, path, {**({"analysis": args.preset} if args.preset in ANALYSES else {}),
                                         "preset": args.preset, "pairing": pairing, "training_data": str(args.data),
                                         "spanet_model": args.spanet_model, "augment": metrics["augment"],
                                         "metrics": {k: metrics[k] for k in ("accuracy", "auc", "valid_loss")},
                                         "command": command, "config": config.to_dict(),
                                         **_kfold_field(args, fold),
                                         **({"hyperparameter_search": search} if search else {}),
                                         **({"metrics_over_seeds": spread} if spread else {})})
        _finish(args, output / _metrics_name("dnn", fold), metrics, spread, path,
                f"DNN ({pairing} pairing{_fold_label(args, fold)})")
    return 0


def _search_dnn(args, train: tuple, base, names) -> tuple:
    """--optuna: the search on the last TUNING_FRACTION of the training events (pre-shuffled), trained on the rest."""
    from hh4b.nn.train_dnn import optuna_search

    n = len(train[1])
    cut = n - max(1, int(round(TUNING_FRACTION * n)))
    if cut < 1:
        raise ConfigError(f"--optuna: {args.data} has {n} training events, too few to tune on")
    fit, tune = (tuple(a[:cut] for a in train), tuple(a[cut:] for a in train))
    config, search = optuna_search(fit, tune, base, n_trials=args.optuna, seed=args.seed, feature_names=names,
                                   augment=not args.no_augment, progress=not args.no_progress)
    search.update(tuning_events=n - cut, fit_events=cut)
    best = search["best"]
    console.result(f"Optuna, {args.optuna} trials: best learning rate {best['learning_rate']:.3g}, hidden "
                   f"{best['hidden']}, layers {best['layers']}: tuning AUC {best['auc']:.4f} (preset "
                   f"{search['start']['auc']:.4f})")
    return config, search


def _deepsets(args) -> int:
    from hh4b.config import ANALYSES
    from hh4b.nn.deepsets import DEEPSETS_PRESETS, export_onnx
    from hh4b.nn.seeds import metrics_over_seeds
    from hh4b.nn.train_deepsets import train_deepsets

    if args.preset not in DEEPSETS_PRESETS:
        raise ConfigError(f"--preset {args.preset!r}: choose from {', '.join(DEEPSETS_PRESETS)}")
    config = DEEPSETS_PRESETS[args.preset].with_(epochs=args.epochs, batch_size=args.batch_size,
                                                 learning_rate=args.learning_rate)
    command = "hh4b " + " ".join(sys.argv[1:])
    output = Path(args.output)
    for fold, train, valid in _splits(args):
        runs = [train_deepsets(train, valid, config, seed=args.seed + i, patience=args.patience,
                               progress=not args.no_progress, augment=not args.no_augment)
                for i in range(args.seeds)]
        model, metrics = runs[0]
        spread = metrics_over_seeds([m for _, m in runs], command) if args.seeds > 1 else None
        path = _model_path(output, "deepsets", args.preset, fold)
        export_onnx(model, path, {**({"analysis": args.preset} if args.preset in ANALYSES else {}),
                                  "preset": args.preset, "training_data": str(args.data), "seed": args.seed,
                                  "augment": metrics["augment"], "best_epoch": metrics["best_epoch"],
                                  "metrics": {k: metrics[k] for k in ("accuracy", "auc", "valid_loss")},
                                  "command": command, **_kfold_field(args, fold),
                                  **({"metrics_over_seeds": spread} if spread else {})})
        _finish(args, output / _metrics_name("deepsets", fold), metrics, spread, path,
                f"Deep Sets ({model.config.pooling} pooling{_fold_label(args, fold)})")
    return 0


def _finish(args, metrics_path: Path, metrics: dict, spread, path: Path, label: str) -> int:
    """The classifiers' last steps: metrics JSON, result lines, --update-card."""
    from hh4b.nn.seeds import update_card

    metrics_path.write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    console.result(f"{label}: ACC {metrics['accuracy']:.3f} AUC {metrics['auc']:.3f}")
    log.info("wrote %s", path)
    if spread:
        console.result(_spread_line(spread))
    if args.update_card:
        log.info("wrote metrics_over_seeds into %s", update_card(args.update_card, spread, metrics))
    return 0


def main(args) -> int:
    if args.seeds < 1 or (args.update_card and args.seeds < 2):
        raise ConfigError(f"--seeds {args.seeds}: need >= 1 (>= 2 with --update-card)")
    if args.optuna < 0 or (args.optuna and args.model != "dnn"):
        raise ConfigError(f"--optuna {args.optuna}: a number of trials >= 1, for `hh4b train dnn`")
    if args.kfold is not None and (args.kfold < 2 or args.seeds > 1):
        raise ConfigError(f"--kfold {args.kfold}: need K >= 2, and one seed (not with --seeds)")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    return {"spanet": _spanet, "dnn": _dnn, "deepsets": _deepsets}[args.model](args)
