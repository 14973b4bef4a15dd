"""ONNX inference for the processor: one onnxruntime session per worker process.

An `OnnxModel` is cheap to pickle (path, card and options only): coffea ships the processor to
Dask workers, and each worker process creates its own session the first time it scores a chunk.
Sessions are kept per process (keyed by the file's path, size and modification time and the
session options): coffea unpickles the processor for every chunk, and a new session per chunk
and model would cost more CPU than the inference itself.
The card (`NAME.json` beside `NAME.onnx`, hh4b.nn.card) is read and checked against the graph when
the model object is created, so a wrong or mismatched file fails at start-up, not in the middle of a run.

A k-fold set (hh4b.nn.card: NAME.fold<k>.onnx, k = 0..K-1) opens as a `KFoldModel`: model k scores the
events whose event number modulo K is k, so no event is scored by a model that trained on it;
`open_model` opens either from the single file's name.

Providers: CUDA first when onnxruntime-gpu is installed and sees a device, else CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hh4b.errors import ConfigError, InputFileError
from hh4b.nn.card import load_card

PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
DEFAULT_BATCH_SIZE = 65536
_SESSIONS: dict = {}  # this process's onnxruntime sessions, see OnnxModel.session


def available_providers(preferred=PREFERRED_PROVIDERS) -> list[str]:
    """The preferred providers this onnxruntime build offers, in order of preference."""
    import onnxruntime as ort

    offered = set(ort.get_available_providers())
    return [p for p in preferred if p in offered] or ["CPUExecutionProvider"]


class OnnxModel:
    """A model file, its card and session options; the session is made lazily per process."""

    def __init__(self, path, threads: int = 1, batch_size: int = DEFAULT_BATCH_SIZE,
                 providers: tuple[str, ...] = PREFERRED_PROVIDERS, kind: str | None = None,
                 allowed_features=None):
        """kind, allowed_features: the use the card is checked for (hh4b.nn.card.check_card)."""
        self.path = Path(path)
        if not self.path.is_file():
            raise InputFileError(f"{self.path}: model file not found")
        self.card, self.graph = load_card(self.path, kind, allowed_features)
        self.threads = threads
        self.batch_size = batch_size
        self.providers = tuple(providers)
        self._session = None
        self.input_names, self.output_names = list(self.graph.inputs), list(self.graph.outputs)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_session"] = None
        return state

    def input_width(self, name: str) -> int | None:
        """The fixed size of the last axis of an input, or None when it is dynamic."""
        return self.graph.input_width(name)

    def require(self, inputs: tuple[str, ...], outputs: tuple[str, ...] = ()) -> None:
        """Fail now, naming the file, if the graph lacks an input or output the caller needs."""
        self.graph.require(inputs, outputs)

    @property
    def session(self):
        """The onnxruntime session, shared by every copy of this model in the process (same file,
        unchanged since, same options)."""
        if self._session is None:
            stat = self.path.stat()
            key = (str(self.path.resolve()), stat.st_size, stat.st_mtime_ns, self.threads, self.providers)
            if key not in _SESSIONS:
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                _SESSIONS[key] = ort.InferenceSession(str(self.path), options,
                                                      providers=available_providers(self.providers))
            self._session = _SESSIONS[key]
        return self._session

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str] | None = None,
            event: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Run in batches along the first axis; returns {output name: array} for all events.
        `event` (the events' numbers) is what a KFoldModel needs; one model ignores it."""
        outputs = list(outputs or self.output_names)
        n = len(next(iter(feeds.values())))
        if n == 0:
            return {name: np.zeros((0,), dtype=np.float32) for name in outputs}
        pieces: dict[str, list[np.ndarray]] = {name: [] for name in outputs}
        for start in range(0, n, self.batch_size):
            batch = {k: v[start:start + self.batch_size] for k, v in feeds.items()}
            for name, value in zip(outputs, self.session.run(outputs, batch)):
                pieces[name].append(value)
        return {name: np.concatenate(values) for name, values in pieces.items()}


class KFoldModel:
    """K trainings of one network (hh4b.nn.card, field `kfold`): model k scores the events whose
    event number modulo K is k. The card, graph and options are the first fold's; every fold is
    checked when the set is opened."""

    def __init__(self, paths, **options):
        from hh4b.nn.card import check_kfold

        self.folds = [OnnxModel(p, **options) for p in paths]
        check_kfold([m.card for m in self.folds], [m.path for m in self.folds])
        first = self.folds[0]
        for m in self.folds[1:]:
            if (m.input_names, m.output_names) != (first.input_names, first.output_names):
                raise ConfigError(f"{m.path}: inputs or outputs differ from {first.path.name}'s")
        self.path, self.card, self.graph = first.path, first.card, first.graph
        self.input_names, self.output_names = first.input_names, first.output_names

    def input_width(self, name: str) -> int | None:
        return self.folds[0].input_width(name)

    def require(self, inputs: tuple[str, ...], outputs: tuple[str, ...] = ()) -> None:
        for m in self.folds:
            m.require(inputs, outputs)

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str] | None = None,
            event: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """As OnnxModel.run, each event by the model of its fold (event number modulo K)."""
        n = len(next(iter(feeds.values())))
        if event is None or len(event) != n:
            raise ConfigError(f"{self.path}: a k-fold model needs the event number of every event "
                              f"(branch `event`); the input has none")
        fold = np.asarray(event).astype(np.uint64) % np.uint64(len(self.folds))
        result: dict[str, np.ndarray] = {}
        for k, model in enumerate(self.folds):
            rows = np.flatnonzero(fold == k)
            part = model.run({name: value[rows] for name, value in feeds.items()}, outputs)
            for name, value in part.items():
                if name not in result:
                    result[name] = np.zeros((n, *value.shape[1:]), dtype=value.dtype)
                result[name][rows] = value
        return result


def open_model(path, **options) -> OnnxModel | KFoldModel:
    """The model file `path`, or the k-fold set NAME.fold<k>.onnx when NAME.onnx does not exist."""
    from hh4b.nn.card import fold_paths

    path = Path(path)
    folds = [] if path.is_file() else fold_paths(path)
    if folds:
        return KFoldModel(folds, **options)
    model = OnnxModel(path, **options)
    if "kfold" in model.card:
        raise ConfigError(f"{path}: fold {model.card['kfold'].get('fold')} of a k-fold set; give the set's name "
                          f"(without .fold<k>) so that every event gets the model of its fold")
    return model


class DNNScorer:
    """The dense baseline: a feature matrix in the card's order -> signal probability."""

    def __init__(self, path, threads: int = 1):
        self.model = open_model(path, threads=threads, kind="dnn")
        self.feature_names = tuple(self.model.card["inputs"]["features"])

    def __call__(self, columns: dict, event: np.ndarray | None = None) -> np.ndarray:
        from hh4b.analysis.features import feature_matrix

        try:
            matrix = feature_matrix(columns, self.feature_names)
        except KeyError as err:
            raise ConfigError(f"{self.model.path}: {err.args[0]}") from err
        return self.model.run({"features": matrix}, ["signal_probability"], event)["signal_probability"]


class DeepSetsScorer:
    """The Deep Sets classifier (hh4b.nn.deepsets): the SPA-NET jet inputs (and kappa_lambda for a
    non-resonant model) -> signal probability; it assigns no jets."""

    def __init__(self, path, threads: int = 1, kappa_lambda: float = 1.0, inputs=None):
        from hh4b.nn.inputs import jet_inputs

        self.model = open_model(path, threads=threads, kind="deepsets")
        self.inputs = inputs or jet_inputs  # a LastJetInputs shared with SPA-NET builds them once per chunk
        self.n_globals = int(self.model.card.get("n_globals", 0))
        self.kappa_lambda = float(kappa_lambda)

    def __call__(self, jets, event: np.ndarray | None = None) -> np.ndarray:
        features, mask = self.inputs(jets)
        feeds = {"jets": features, "mask": mask}
        if self.n_globals:
            feeds["globals"] = np.full((len(features), self.n_globals), self.kappa_lambda, dtype=np.float32)
        return self.model.run(feeds, ["signal_probability"], event)["signal_probability"].reshape(-1)
