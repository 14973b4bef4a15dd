"""ONNX inference for the processor: one onnxruntime session per worker process.

An `OnnxModel` is cheap to pickle (path, card and options only): coffea ships the processor to
Dask workers, and each worker process creates its own session the first time it scores a chunk.
The card (`NAME.json` beside `NAME.onnx`) is read and checked against the graph when the model
object is created, so a wrong or mismatched file fails at start-up, not in the middle of a run.

Providers: CUDA first when onnxruntime-gpu is installed and sees a device, else CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hh4b.errors import ConfigError, InputFileError

PREFERRED_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
DEFAULT_BATCH_SIZE = 65536


def available_providers(preferred=PREFERRED_PROVIDERS) -> list[str]:
    """The preferred providers this onnxruntime build offers, in order of preference."""
    import onnxruntime as ort

    offered = set(ort.get_available_providers())
    return [p for p in preferred if p in offered] or ["CPUExecutionProvider"]


def read_card(onnx_path: Path) -> dict:
    """The JSON card beside a model file; a missing or unreadable card is an error."""
    card_path = onnx_path.with_suffix(".json")
    if not card_path.is_file():
        raise InputFileError(f"{onnx_path}: model card {card_path.name} not found beside the model")
    try:
        return json.loads(card_path.read_text())
    except json.JSONDecodeError as err:
        raise InputFileError(f"{card_path}: model card is not valid JSON ({err})") from err


class OnnxModel:
    """A model file, its card and session options; the session is made lazily per process."""

    def __init__(self, path, threads: int = 1, batch_size: int = DEFAULT_BATCH_SIZE,
                 providers: tuple[str, ...] = PREFERRED_PROVIDERS):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputFileError(f"{self.path}: model file not found")
        self.card = read_card(self.path)
        self.threads = threads
        self.batch_size = batch_size
        self.providers = tuple(providers)
        self._session = None
        self.input_names, self.output_names = self._graph_signature()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_session"] = None
        return state

    def _graph_signature(self) -> tuple[list[str], list[str]]:
        import onnx

        try:
            graph = onnx.load(str(self.path), load_external_data=False).graph
        except Exception as err:  # onnx raises several unrelated types for a damaged file
            raise InputFileError(f"{self.path}: not a readable ONNX model ({err})") from err
        initialisers = {init.name for init in graph.initializer}
        inputs = [i.name for i in graph.input if i.name not in initialisers]
        return inputs, [o.name for o in graph.output]

    def input_width(self, name: str) -> int | None:
        """The fixed size of the last axis of an input, or None when it is dynamic."""
        import onnx

        graph = onnx.load(str(self.path), load_external_data=False).graph
        for tensor in graph.input:
            if tensor.name == name:
                last = tensor.type.tensor_type.shape.dim[-1]
                return last.dim_value if last.HasField("dim_value") else None
        raise ConfigError(f"{self.path}: the graph has no input named {name!r}")

    def require(self, inputs: tuple[str, ...], outputs: tuple[str, ...] = ()) -> None:
        """Fail now, naming the file, if the graph lacks an input or output the caller needs."""
        missing_in = [n for n in inputs if n not in self.input_names]
        missing_out = [n for n in outputs if n not in self.output_names]
        if missing_in or missing_out:
            raise ConfigError(
                f"{self.path}: model does not match its use: missing inputs {missing_in or '-'}, "
                f"missing outputs {missing_out or '-'} (graph inputs {self.input_names}, outputs {self.output_names})")

    @property
    def session(self):
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(str(self.path), options,
                                                 providers=available_providers(self.providers))
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
        self.model = OnnxModel(path, threads=threads)
        self.model.require(("features",), ("signal_probability",))
        self.feature_names = tuple(self.model.card.get("inputs", {}).get("features", ()))
        if not self.feature_names:
            raise ConfigError(f"{self.model.path}: card lists no input feature names")
        width = self.model.input_width("features")
        if width is not None and width != len(self.feature_names):
            raise ConfigError(f"{self.model.path}: graph expects {width} features, "
                              f"card names {len(self.feature_names)}")

    def __call__(self, columns: dict) -> np.ndarray:
        from hh4b.analysis.features import feature_matrix

        try:
            matrix = feature_matrix(columns, self.feature_names)
        except KeyError as err:
            raise ConfigError(f"{self.model.path}: {err.args[0]}") from err
        return self.model.run({"features": matrix}, ["signal_probability"])["signal_probability"]
