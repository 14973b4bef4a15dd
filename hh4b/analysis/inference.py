"""ONNX inference for the processor: one onnxruntime session per worker process.

An `OnnxModel` is cheap to pickle (path, card and options only): coffea ships the processor to
Dask workers, and each worker process creates its own session the first time it scores a chunk.
Sessions are kept per process (keyed by the file's path, size and modification time and the
session options): coffea unpickles the processor for every chunk, and a new session per chunk
and model would cost more CPU than the inference itself.
The card (`NAME.json` beside `NAME.onnx`, hh4b.nn.card) is read and checked against the graph when
the model object is created, so a wrong or mismatched file fails at start-up, not in the middle of a run.

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

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        """Run in batches along the first axis; returns {output name: array} for all events."""
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


class DNNScorer:
    """The dense baseline: a feature matrix in the card's order -> signal probability."""

    def __init__(self, path, threads: int = 1):
        self.model = OnnxModel(path, threads=threads, kind="dnn")
        self.feature_names = tuple(self.model.card["inputs"]["features"])

    def __call__(self, columns: dict) -> np.ndarray:
        from hh4b.analysis.features import feature_matrix

        try:
            matrix = feature_matrix(columns, self.feature_names)
        except KeyError as err:
            raise ConfigError(f"{self.model.path}: {err.args[0]}") from err
        return self.model.run({"features": matrix}, ["signal_probability"])["signal_probability"]


class DeepSetsScorer:
    """The Deep Sets classifier (hh4b.nn.deepsets): the SPA-NET jet inputs (and kappa_lambda for a
    non-resonant model) -> signal probability; it assigns no jets."""

    def __init__(self, path, threads: int = 1, kappa_lambda: float = 1.0, inputs=None):
        from hh4b.nn.inputs import jet_inputs

        self.model = OnnxModel(path, threads=threads, kind="deepsets")
        self.inputs = inputs or jet_inputs  # a LastJetInputs shared with SPA-NET builds them once per chunk
        self.n_globals = int(self.model.card.get("n_globals", 0))
        self.kappa_lambda = float(kappa_lambda)

    def __call__(self, jets) -> np.ndarray:
        features, mask = self.inputs(jets)
        feeds = {"jets": features, "mask": mask}
        if self.n_globals:
            feeds["globals"] = np.full((len(features), self.n_globals), self.kappa_lambda, dtype=np.float32)
        return self.model.run(feeds, ["signal_probability"])["signal_probability"].reshape(-1)
