"""The model contract: the file names of the processor's networks and the JSON card beside every ONNX model.

Every ONNX model hh4b writes has a card, `NAME.json` beside `NAME.onnx`. Fields every card has:

    model    the kind: "spanet", "dnn", "deepsets" or "reweighter" (`SCHEMAS`)
    inputs   {graph input: names along its last axis}, e.g. {"features": ["h1_pt", ...]}
    outputs  the graph outputs, in order

and per kind:

    spanet      inputs jets (batch, jets, 5) float32, the raw `hh4b.nn.topology.JET_FEATURES` of the
                pT-ordered jets (`hh4b.nn.inputs.jet_inputs` builds them for training and serving),
                mask (batch, jets) bool, globals (batch, n_globals) float32 when `n_globals` > 0
                (kappa_lambda); outputs pair_log_prob, assignment, signal_probability, embedding
    dnn         inputs.features: the feature names in column order (hh4b.analysis.features);
                output signal_probability; `pairing` (mindr or spanet), `preset`
    deepsets    inputs jets, mask and globals as SPA-NET's (hh4b.nn.deepsets); outputs
                signal_probability and logit; `pooling` (sum or mean, POOLINGS) and `n_globals`
                required; `preset`, `metrics`, `training_data`, `command` from `hh4b train deepsets`
    reweighter  inputs.features: per-event columns; output log_ratio; method, variation, norm,
                process (hh4b.background.model)

`analysis` (resonant or nonresonant), when a card has it, names the analysis the model serves;
`card_analysis` falls back on the DNN preset and then on the file name for cards without it.

`write_card` writes a card after checking it against the graph just exported; `read_card` reads
one and `check_card` checks it against the graph's inputs and outputs (`read_graph`) for a use.
Errors are one line naming the file and the field.

The processor's networks are found by name in a models directory: `model_filename(kind,
analysis)`, e.g. spanet_resonant.onnx, dnn_mindr_nonresonant.onnx; `parse_model_filename` is its
inverse. Networks trained but not (yet) read by the processor (deepsets) are named the same way.

k-fold sets: K trainings of one network, `fold_filename(kind, analysis, k)` =
`<kind>_<analysis>.fold<k>.onnx` for k = 0..K-1, each card with `kfold` = {"fold": k, "folds": K,
"variable": "event"}: model k trained on the events whose event number modulo K is not k, and is
applied to those where it is k (`check_kfold`; hh4b.analysis.inference.KFoldModel).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from glob import escape as glob_escape
from pathlib import Path

from hh4b.config import ANALYSES
from hh4b.errors import ConfigError, InputFileError

# the processor's networks, by the method that needs them
MODEL_FILES = ("spanet", "dnn_mindr", "dnn_spanet", "deepsets")
POOLINGS = ("sum", "mean")  # the Deep Sets pooling over real jets (hh4b.nn.deepsets)
CARD_SUFFIX = ".json"
_KINDS = "|".join(sorted(MODEL_FILES, key=len, reverse=True))
_FILENAME = re.compile(rf"^({_KINDS})_([A-Za-z0-9-]+)(?:\.fold\d+)?\.onnx$")  # model_filename, fold_filename
KFOLD_VARIABLE = "event"  # the branch whose value modulo K picks an event's fold


def model_filename(kind: str, analysis: str) -> str:
    """The file name of a network: `<kind>_<analysis>.onnx`, kind one of MODEL_FILES (the processor's
    spanet, dnn_mindr, dnn_spanet, and deepsets), analysis resonant, nonresonant or a preset name."""
    if kind not in MODEL_FILES:
        raise ConfigError(f"model kind {kind!r}: choose from {', '.join(MODEL_FILES)}")
    if not re.fullmatch(r"[A-Za-z0-9-]+", str(analysis)):
        raise ConfigError(f"model analysis {analysis!r}: letters, digits and '-' only")
    return f"{kind}_{analysis}.onnx"


def fold_filename(kind: str, analysis: str, fold: int) -> str:
    """Fold `fold` of a k-fold set: `<kind>_<analysis>.fold<fold>.onnx`."""
    return model_filename(kind, analysis)[:-len(".onnx")] + f".fold{int(fold)}.onnx"


def fold_paths(path) -> list[Path]:
    """The files of a k-fold set named like `path` (NAME.onnx -> NAME.fold<k>.onnx), in fold order."""
    path = Path(path)
    found = [(p, re.fullmatch(rf"{re.escape(path.stem)}\.fold(\d+)\.onnx", p.name))
             for p in path.parent.glob(f"{glob_escape(path.stem)}.fold*.onnx")] if path.parent.is_dir() else []
    return [p for p, m in sorted((x for x in found if x[1]), key=lambda x: int(x[1].group(1)))]


def model_exists(path) -> bool:
    """A single model file or a k-fold set of that name."""
    return Path(path).is_file() or bool(fold_paths(path))


def kfold_card(fold: int, folds: int) -> dict:
    """The `kfold` field of fold `fold` of `folds`."""
    if not 0 <= fold < folds or folds < 2:
        raise ConfigError(f"k-fold: fold {fold} of {folds}: need 2 <= K and 0 <= k < K")
    return {"fold": int(fold), "folds": int(folds), "variable": KFOLD_VARIABLE}


def check_kfold(cards: list[dict], paths: list[Path]) -> None:
    """The cards of a k-fold set, in file order, must be folds 0..K-1 of one K (one line naming the file)."""
    for k, (card, path) in enumerate(zip(cards, paths)):
        kfold = card.get("kfold")
        if not isinstance(kfold, dict) or kfold.get("fold") != k or \
                kfold.get("variable", KFOLD_VARIABLE) != KFOLD_VARIABLE:
            raise ConfigError(f"{path}: field 'kfold' is {kfold!r}, expected fold {k} (the file's name)")
        if kfold.get("folds") != len(paths):
            raise ConfigError(f"{path}: fold {k} of {kfold.get('folds')}, but the set has {len(paths)} files "
                              f"({', '.join(p.name for p in paths)})")
    kinds = {model_key(card) for card in cards}
    if len(kinds) > 1:
        raise ConfigError(f"{paths[0].parent}: the folds of {paths[0].name} serve different methods {sorted(kinds)}")


def parse_model_filename(name) -> tuple[str, str] | None:
    """(kind, analysis) of a name written by `model_filename` (a path or its `.json` card too), else None."""
    name = Path(name).name
    if name.endswith(CARD_SUFFIX):
        name = name[:-len(CARD_SUFFIX)] + ".onnx"
    match = _FILENAME.match(name)
    return (match.group(1), match.group(2)) if match else None


def card_path(onnx_path) -> Path:
    """The card beside a model file."""
    return Path(onnx_path).with_suffix(CARD_SUFFIX)


@dataclass(frozen=True)
class CardSchema:
    """What a reader of one kind of model needs from the graph and the card."""

    model: str
    inputs: tuple[str, ...]  # graph inputs the readers feed
    outputs: tuple[str, ...]  # graph outputs the readers use
    fields: tuple[str, ...] = ()  # card fields a card of this kind must have (the kind is then required too)
    named_input: str | None = None  # the input whose last axis the card's `inputs[named_input]` names
    globals_input: bool = False  # the graph takes a `globals` input exactly when the card's `n_globals` > 0


SCHEMAS = {
    "spanet": CardSchema("spanet", ("jets", "mask"), ("assignment", "signal_probability"), globals_input=True),
    "dnn": CardSchema("dnn", ("features",), ("signal_probability",), named_input="features"),
    "deepsets": CardSchema("deepsets", ("jets", "mask"), ("signal_probability",), ("pooling", "n_globals"),
                           named_input="jets", globals_input=True),
    "reweighter": CardSchema("reweighter", ("features",), ("log_ratio",), ("method", "variation", "norm", "process"),
                             named_input="features"),
}


@dataclass(frozen=True)
class Graph:
    """An ONNX graph's signature: {name: shape} of its inputs (initialisers left out) and outputs,
    a dimension an int when fixed, else None."""

    path: Path
    inputs: dict[str, tuple] = field(default_factory=dict)
    outputs: dict[str, tuple] = field(default_factory=dict)

    def input_width(self, name: str) -> int | None:
        """The fixed size of the last axis of an input, or None when it is dynamic."""
        if name not in self.inputs:
            raise ConfigError(f"{self.path}: the graph has no input named {name!r}")
        shape = self.inputs[name]
        return shape[-1] if shape else None

    def require(self, inputs=(), outputs=()) -> None:
        """Fail now, naming the file, if the graph lacks an input or output the caller needs."""
        missing_in = [n for n in inputs if n not in self.inputs]
        missing_out = [n for n in outputs if n not in self.outputs]
        if missing_in or missing_out:
            raise ConfigError(
                f"{self.path}: model does not match its use: missing inputs {missing_in or '-'}, "
                f"missing outputs {missing_out or '-'} "
                f"(graph inputs {list(self.inputs)}, outputs {list(self.outputs)})")


def read_graph(onnx_path) -> Graph:
    """The signature of an ONNX file (weights not loaded); an unreadable file is an InputFileError."""
    import onnx

    path = Path(onnx_path)
    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as err:  # onnx raises several unrelated types for a damaged file
        raise InputFileError(f"{path}: not a readable ONNX model ({err})") from err

    def shape(tensor) -> tuple:
        return tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.type.tensor_type.shape.dim)

    initialisers = {init.name for init in graph.initializer}
    return Graph(path, {i.name: shape(i) for i in graph.input if i.name not in initialisers},
                 {o.name: shape(o) for o in graph.output})


def read_card(onnx_path) -> dict:
    """The JSON card beside a model file; a missing or unreadable card is an error."""
    onnx_path = Path(onnx_path)
    path = card_path(onnx_path)
    if not path.is_file():
        raise InputFileError(f"{onnx_path}: model card {path.name} not found beside the model")
    return read_card_file(path)


def read_card_file(path) -> dict:
    """A card read from its own path (no model file needed: the report reads metrics only)."""
    path = Path(path)
    try:
        card = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputFileError(f"{path}: model card is not valid JSON ({err})") from err
    if not isinstance(card, dict):
        raise InputFileError(f"{path}: model card is not a JSON object")
    return card


def _field_names(card: dict, name: str, path: Path) -> tuple[str, ...]:
    names = card.get("inputs", {}).get(name, ())
    if not isinstance(names, (list, tuple)):
        raise ConfigError(f"{path}: field 'inputs.{name}' is not a list of names")
    return tuple(names)


def check_card(card: dict, graph: Graph, kind: str | None = None,
               allowed_features: tuple[str, tuple[str, ...]] | None = None) -> None:
    """Check a card against its graph, and for `kind` (a key of SCHEMAS) against that use.

    allowed_features: (what they are, names) the card's feature names must be taken from.
    Always: `inputs` names graph inputs and `outputs` graph outputs. For a kind: the graph has the
    inputs and outputs the readers use; the card's `model` is the kind (required when the kind
    has required fields, which must then be present too); the named input's feature names are
    given, allowed and as many as the graph's last axis; SPA-NET's and Deep Sets' `n_globals` matches
    the graph; Deep Sets' `pooling` is one of POOLINGS.
    """
    path = card_path(graph.path)
    schema = SCHEMAS.get(kind) if kind else None
    if kind and schema is None:
        raise ConfigError(f"model kind {kind!r}: choose from {', '.join(SCHEMAS)}")
    if schema and schema.fields:
        missing = [f for f in schema.fields if f not in card]
        wrong_kind = card.get("model") != schema.model
        if wrong_kind or missing:
            what = (f"field 'model' is {card.get('model')!r}" if wrong_kind
                    else f"missing field{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")
            raise InputFileError(f"{path}: not a {schema.model} card ({what}; needs model = {schema.model!r} "
                                 f"and {', '.join(schema.fields)})")
    if schema:
        graph.require(schema.inputs, schema.outputs)
        if "model" in card and card["model"] != schema.model:
            raise ConfigError(f"{path}: field 'model' is {card['model']!r}, this use needs a {schema.model!r} model")
    if schema and schema.named_input:
        names = _field_names(card, schema.named_input, path)
        if allowed_features is not None:
            what, allowed = allowed_features
            if not names or any(n not in allowed for n in names):
                raise ConfigError(f"{graph.path}: card features {list(names)} are not {what} ({', '.join(allowed)})")
        if not names:
            raise ConfigError(f"{graph.path}: card lists no input feature names")
        width = graph.input_width(schema.named_input)
        if width is not None and width != len(names):
            raise ConfigError(f"{graph.path}: graph expects {width} features, card names {len(names)}")
    if schema and schema.model == "deepsets" and card["pooling"] not in POOLINGS:
        raise ConfigError(f"{path}: field 'pooling' is {card['pooling']!r}: choose from {', '.join(POOLINGS)}")
    if schema and schema.globals_input:
        n_globals = card.get("n_globals", 0)
        if not isinstance(n_globals, int) or n_globals < 0:
            raise ConfigError(f"{path}: field 'n_globals' is {n_globals!r}, not a count")
        if n_globals and "globals" not in graph.inputs:
            raise ConfigError(f"{graph.path}: card declares {n_globals} global inputs, graph has none")
        if not n_globals and "globals" in graph.inputs:
            raise ConfigError(f"{path}: field 'n_globals' is 0 but the graph takes a 'globals' input")
        if n_globals and graph.input_width("globals") not in (None, n_globals):
            raise ConfigError(f"{path}: field 'n_globals' is {n_globals}, the graph's globals input has "
                              f"{graph.input_width('globals')}")
    for key, kind, names, verb in (("inputs", dict, graph.inputs, "take"), ("outputs", list, graph.outputs, "give")):
        declared = card.get(key, kind())
        if not isinstance(declared, kind):
            raise ConfigError(f"{path}: field {key!r} is not {'an object' if kind is dict else 'a list'} of graph "
                              f"{key[:-1]} names")
        unknown = [n for n in declared if n not in names]
        if unknown:
            raise ConfigError(f"{path}: field {key!r} names {unknown}, which the graph does not {verb} "
                              f"(graph {key} {list(names)})")


def load_card(onnx_path, kind: str | None = None, allowed_features=None) -> tuple[dict, Graph]:
    """The card of a model file and its graph, checked (`check_card`) for `kind`."""
    card = read_card(onnx_path)
    graph = read_graph(onnx_path)
    check_card(card, graph, kind, allowed_features)
    return card, graph


def write_card(onnx_path, card: dict, default=None) -> dict:
    """Write `card` beside the exported `onnx_path` (JSON, indent 2), after checking it against the
    graph for its own `model` kind; returns the card. `default`: json.dumps's fallback for values
    JSON cannot hold."""
    path = card_path(onnx_path)
    kind = card.get("model")
    if kind not in SCHEMAS:
        raise ConfigError(f"{path}: field 'model' is {kind!r}: choose from {', '.join(SCHEMAS)}")
    for name, type_ in (("inputs", dict), ("outputs", list)):
        if not isinstance(card.get(name), type_):
            raise ConfigError(f"{path}: field {name!r} missing or not a JSON {type_.__name__}")
    check_card(card, read_graph(onnx_path), kind)
    path.write_text(json.dumps(card, indent=2, default=default) + "\n")
    return card


def model_key(card: dict) -> str | None:
    """The method a card's network serves: spanet, dnn_<pairing> (DNN cards; pairing mindr when
    absent) or the card's kind."""
    return f"dnn_{card.get('pairing', 'mindr')}" if card.get("model") == "dnn" else card.get("model")


def card_analysis(card: dict, path=None) -> str:
    """The analysis a model serves: the card's `analysis`, else its `preset` when that names an
    analysis, else the analysis in a `model_filename` name, else resonant unless the name
    contains "nonres"."""
    for value in (card.get("analysis"), card.get("preset")):
        if value in ANALYSES:
            return value
    parsed = parse_model_filename(path) if path is not None else None
    if parsed and parsed[1] in ANALYSES:
        return parsed[1]
    return "nonresonant" if path is not None and "nonres" in Path(path).stem else "resonant"
